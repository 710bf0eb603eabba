/**
 * smtpd_resolve - address classes and client lists for smtpd (Postfix
 * smtpd/smtpd_resolve.c over global/resolve_clnt.c, global/namadr_list.c,
 * global/domain_list.c, util/match_list.c, global/own_inet_addr.c).
 *
 * The adapter classifies a recipient domain the way trivial-rewrite's
 * resolve service does (local, virtual alias, virtual mailbox, relay,
 * default) from the same parameters, so smtpd can be tested on its own;
 * it is the single place to switch to src/global/resolve_clnt.ts.
 */

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { MailConfig } from '../global/mail_conf.js';
import { splitList } from '../global/mail_conf.js';
import { Maps, openTable } from './smtpd_tables.js';

export const RESOLVE = {
  FLAG_FINAL: 1,
  FLAG_ROUTED: 2,
  FLAG_ERROR: 4,
  FLAG_FAIL: 8,
  CLASS_LOCAL: 256,
  CLASS_ALIAS: 512,
  CLASS_VIRTUAL: 1024,
  CLASS_RELAY: 2048,
  CLASS_DEFAULT: 4096,
  CLASS_MASK: 256 | 512 | 1024 | 2048 | 4096,
  CLASS_FINAL: 256 | 512 | 1024,
} as const;

export interface ResolveReply {
  transport: string;
  nexthop: string;
  recipient: string;
  flags: number;
}

/** DomainList - domain_list semantics: names, parent-domain matching, type:table, !negation. */
export class DomainList {
  private readonly items: string[];
  constructor(
    value: string,
    private readonly parentMatches: boolean,
  ) {
    this.items = splitList(value);
  }
  get empty(): boolean {
    return this.items.length === 0;
  }
  async match(domain: string): Promise<boolean> {
    const d = domain.toLowerCase();
    for (let item of this.items) {
      let negate = false;
      while (item.startsWith('!')) {
        negate = !negate;
        item = item.slice(1);
      }
      let hit = false;
      if (item.includes(':') && !item.startsWith('[')) {
        const table = openTable(item);
        // a table matches the domain and (with parent matching) its parents
        for (let name = d; name; ) {
          if ((await table.lookup(name)) !== undefined) {
            hit = true;
            break;
          }
          if (!this.parentMatches) break;
          const dot = name.indexOf('.');
          if (dot < 0) break;
          name = name.slice(dot + 1);
        }
      } else {
        const pat = item.toLowerCase();
        if (pat.startsWith('.')) hit = d.endsWith(pat);
        else hit = d === pat || (this.parentMatches && d.endsWith('.' + pat));
      }
      if (hit) return !negate;
    }
    return false;
  }
}

/** parseNetwork - "1.2.3.0/24", "[::1]/128", "1.2.3.4", "[::1]". */
function addNetwork(list: BlockList, item: string): boolean {
  let text = item;
  let prefix: string | undefined;
  const slash = text.lastIndexOf('/');
  if (slash > 0) {
    prefix = text.slice(slash + 1);
    text = text.slice(0, slash);
  }
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const type = isIPv4(text) ? 'ipv4' : isIPv6(text) ? 'ipv6' : null;
  if (!type) return false;
  if (prefix !== undefined) {
    if (!/^\d+$/.test(prefix)) return false;
    list.addSubnet(text, Number(prefix), type);
  } else {
    list.addAddress(text, type);
  }
  return true;
}

/** NamadrList - namadr_list: client names (domain style) and addresses/networks, with !negation and tables. */
export class NamadrList {
  private readonly items: string[];
  constructor(
    value: string,
    private readonly parentMatches: boolean,
  ) {
    this.items = splitList(value);
  }
  get empty(): boolean {
    return this.items.length === 0;
  }
  async match(name: string, addr: string): Promise<boolean> {
    const plainAddr = addr.toLowerCase().startsWith('ipv6:') ? addr.slice(5) : addr;
    const type = isIPv4(plainAddr) ? 'ipv4' : 'ipv6';
    for (let item of this.items) {
      let negate = false;
      while (item.startsWith('!')) {
        negate = !negate;
        item = item.slice(1);
      }
      let hit = false;
      if (/^[a-z0-9]+:/i.test(item) && !isIPv6(item)) {
        const table = openTable(item);
        if ((await table.lookup(plainAddr)) !== undefined) hit = true;
        else if (name !== 'unknown' && (await table.lookup(name)) !== undefined) hit = true;
      } else {
        const bl = new BlockList();
        if (addNetwork(bl, item)) {
          if (isIPv4(plainAddr) || isIPv6(plainAddr)) hit = bl.check(plainAddr, type);
        } else if (name && name !== 'unknown') {
          const pat = item.toLowerCase();
          const n = name.toLowerCase();
          if (pat.startsWith('.')) hit = n.endsWith(pat);
          else hit = n === pat || (this.parentMatches && n.endsWith('.' + pat));
        }
      }
      if (hit) return !negate;
    }
    return false;
  }
}

/** ownAddresses - the addresses of inet_interfaces/proxy_interfaces (own_inet_addr.c). */
export function ownAddresses(config: MailConfig): Set<string> {
  const out = new Set<string>();
  const items = [...splitList(config.str('inet_interfaces')), ...splitList(config.str('proxy_interfaces'))];
  const all = () => {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) out.add(a.address.toLowerCase());
    }
  };
  for (const item of items) {
    const i = item.toLowerCase();
    if (i === 'all') all();
    else if (i === 'loopback-only') {
      out.add('127.0.0.1');
      out.add('::1');
    } else if (i === 'localhost') {
      out.add('127.0.0.1');
      out.add('::1');
    } else out.add(i.replace(/^\[|\]$/g, ''));
  }
  return out;
}

/** Resolver - classify addresses like trivial-rewrite's resolve request. */
export class Resolver {
  private readonly mydest: DomainList;
  private readonly valias: DomainList;
  private readonly vmailbox: DomainList;
  private readonly relay: DomainList;
  private readonly own: Set<string>;
  private readonly myorigin: string;

  constructor(private readonly config: MailConfig) {
    const parent = splitList(config.str('parent_domain_matches_subdomains'));
    this.mydest = new DomainList(config.str('mydestination'), parent.includes('mydestination'));
    this.valias = new DomainList(config.str('virtual_alias_domains'), parent.includes('virtual_alias_domains'));
    this.vmailbox = new DomainList(config.str('virtual_mailbox_domains'), parent.includes('virtual_mailbox_domains'));
    this.relay = new DomainList(config.str('relay_domains'), parent.includes('relay_domains'));
    this.own = ownAddresses(config);
    this.myorigin = config.str('myorigin');
  }

  /** isLocalDomain - mydestination or an address literal of this host. */
  async isLocalDomain(domain: string): Promise<boolean> {
    if (domain.startsWith('[') && domain.endsWith(']')) {
      let inner = domain.slice(1, -1).toLowerCase();
      if (inner.startsWith('ipv6:')) inner = inner.slice(5);
      return this.own.has(inner);
    }
    return this.mydest.match(domain.replace(/\.$/, ''));
  }

  /**
   * resolve - the address class of an address (resolve.c): a local domain is
   * stripped and the rest resolved again when it still holds a route
   * (user@host, user%host with allow_percent_hack, host!user with
   * swap_bangpath); such addresses are flagged ROUTED.
   */
  async resolve(_sender: string, address: string): Promise<ResolveReply> {
    const percentHack = this.config.bool('allow_percent_hack');
    const bangPath = this.config.bool('swap_bangpath');
    let addr = address;
    let flags = 0;
    for (let loop = 0; loop < 100; loop++) {
      let at = addr.lastIndexOf('@');
      if (at < 0) {
        let local = addr;
        if (bangPath && local.includes('!') && !local.startsWith('!')) {
          const bang = local.indexOf('!');
          local = local.slice(bang + 1) + '@' + local.slice(0, bang);
          flags |= RESOLVE.FLAG_ROUTED;
          addr = local;
          continue;
        }
        if (percentHack && local.includes('%')) {
          const pct = local.lastIndexOf('%');
          addr = local.slice(0, pct) + '@' + local.slice(pct + 1);
          flags |= RESOLVE.FLAG_ROUTED;
          continue;
        }
        addr = `${local}@${this.myorigin}`;
        at = addr.lastIndexOf('@');
      }
      const local = addr.slice(0, at);
      let domain = addr.slice(at + 1);
      if (domain === '') {
        return { transport: 'error', nexthop: '5.1.3 bad address syntax', recipient: addr, flags: flags | RESOLVE.FLAG_ERROR };
      }
      domain = domain.replace(/\.$/, '');
      if (domain === '' || domain.startsWith('.') || domain.includes('..')) {
        return { transport: 'error', nexthop: '5.1.3 bad address syntax', recipient: addr, flags: flags | RESOLVE.FLAG_ERROR };
      }
      const recipient = `${local}@${domain}`;
      if (await this.isLocalDomain(domain)) {
        if (local.includes('@') || (percentHack && local.includes('%')) || (bangPath && local.includes('!'))) {
          addr = local;
          flags |= RESOLVE.FLAG_ROUTED;
          continue;
        }
        return { transport: 'local', nexthop: this.config.str('myhostname'), recipient, flags: flags | RESOLVE.CLASS_LOCAL };
      }
      if (local.includes('@') || local.includes('%') || local.includes('!')) flags |= RESOLVE.FLAG_ROUTED;
      if (await this.valias.match(domain)) {
        return { transport: 'error', nexthop: '5.1.1 User unknown in virtual alias table', recipient, flags: flags | RESOLVE.CLASS_ALIAS };
      }
      if (await this.vmailbox.match(domain)) {
        return { transport: 'virtual', nexthop: domain, recipient, flags: flags | RESOLVE.CLASS_VIRTUAL };
      }
      if (await this.relay.match(domain)) {
        return { transport: 'relay', nexthop: domain, recipient, flags: flags | RESOLVE.CLASS_RELAY };
      }
      return { transport: 'smtp', nexthop: domain, recipient, flags: flags | RESOLVE.CLASS_DEFAULT };
    }
    return { transport: 'error', nexthop: '5.4.6 mail routing loop', recipient: addr, flags: flags | RESOLVE.FLAG_ERROR };
  }
}

export { Maps };

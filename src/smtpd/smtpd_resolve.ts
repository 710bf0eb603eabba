/**
 * smtpd_resolve - address classes and client lists for smtpd (Postfix
 * smtpd/smtpd_resolve.c over global/resolve_clnt.c, global/namadr_list.c,
 * global/domain_list.c, util/match_list.c, global/own_inet_addr.c).
 *
 * Address classes come from the trivial-rewrite service over IPC
 * (src/global/rewrite_clnt.ts, resolve_clnt.ts), exactly as in Postfix.
 */

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { msg } from '../util/msg.js';
import { RewriteClient, trivialClient } from '../global/rewrite_clnt.js';
import { ResolveClient } from '../global/resolve_clnt.js';
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
  /** parsed network patterns, built once per list item (null: not a network) */
  private readonly networks = new Map<string, BlockList | null>();
  private networkOf(item: string): BlockList | null {
    let bl = this.networks.get(item);
    if (bl === undefined) {
      const b = new BlockList();
      bl = addNetwork(b, item) ? b : null;
      this.networks.set(item, bl);
    }
    return bl;
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
        const bl = this.networkOf(item);
        if (bl) {
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

/** shared NamadrList objects by (value, parent matching): they are immutable once built */
const namadrLists = new Map<string, NamadrList>();

/** namadrList - a NamadrList for a parameter value, built once per process (per-connection checks). */
export function namadrList(value: string, parentMatches: boolean): NamadrList {
  const key = (parentMatches ? '1' : '0') + value;
  let l = namadrLists.get(key);
  if (!l) {
    l = new NamadrList(value, parentMatches);
    if (namadrLists.size >= 64) namadrLists.delete(namadrLists.keys().next().value as string);
    namadrLists.set(key, l);
  }
  return l;
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

/**
 * dnsStrerror - the resolver's h_errno text Postfix prints for a failed DNS
 * lookup (dns_strerror): SERVFAIL and time-outs are TRY_AGAIN; REFUSED,
 * FORMERR and NOTIMP are NO_RECOVERY.
 */
export function dnsStrerror(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'NXDOMAIN') return 'Host not found';
  if (code === 'ENODATA') return 'No address associated with hostname';
  if (code === 'EREFUSED' || code === 'EFORMERR' || code === 'ENOTIMP') return 'Non-recoverable error';
  return 'Host not found, try again';
}

/**
 * Resolver - smtpd_resolve_addr(): rewrite the address in the "remote"
 * context, ask the trivial-rewrite resolve service, case-fold the
 * resolved recipient, and cache the last answers. A resolve service that
 * cannot be reached gives the FAIL flag (a temporary lookup failure).
 */
export class Resolver {
  private readonly rewriteClient: RewriteClient;
  private readonly resolveClient: ResolveClient;
  private readonly cache = new Map<string, ResolveReply>();

  constructor(config: MailConfig) {
    const trivial = trivialClient(config);
    this.rewriteClient = new RewriteClient(trivial);
    this.resolveClient = new ResolveClient(trivial);
  }

  async resolve(sender: string, address: string): Promise<ResolveReply> {
    const key = `${sender}\0${address}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let reply: ResolveReply;
    try {
      const rewritten = await this.rewriteClient.rewriteInternal('remote', address);
      const r = await this.resolveClient.resolve(sender, rewritten);
      reply = { ...r, recipient: r.recipient.toLowerCase() };
    } catch (e) {
      msg.warn(`problem talking to service rewrite: ${(e as Error).message}`);
      return { transport: '', nexthop: '', recipient: address, flags: RESOLVE.FLAG_FAIL };
    }
    if (this.cache.size >= 100) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, reply);
    return reply;
  }
}

export { Maps };

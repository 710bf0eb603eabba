/**
 * resolve - resolve an address to (transport, nexthop, recipient, flags)
 * (Postfix trivial-rewrite/resolve.c, transport.c, global/resolve_local.c).
 *
 * The address class decides the transport: local ($mydestination, our own
 * [ip] literals), virtual alias (error:5.1.1), virtual mailbox
 * ($virtual_transport), relay ($relay_transport) or default
 * ($default_transport, sender_dependent_default_transport_maps). relayhost or
 * sender_dependent_relayhost_maps override the nexthop of relay and default
 * mail; transport_maps override everything except the virtual alias class;
 * relocated_maps turn an address into an error. The "verify" context uses
 * the address_verify_* variants of these parameters.
 */

import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { MailConfig } from '../global/mail_conf.js';
import { quote822Local } from '../global/quote_822_local.js';
import { tok822Internalize, tok822Rfind, tok822Scan, tok822ScanAddr, type Tok822 } from '../global/tok822.js';
import { msg } from '../util/msg.js';
import { openMaps, mailAddrFind, type MapsLike } from '../cleanup/maps_adapter.js';
import { MA_FIND_DOMAIN, MA_FIND_FULL, MA_FIND_NOEXT, MA_FIND_PDDMDS, MA_FIND_PDMS } from '../global/mail_addr_find.js';
import { MatchList } from './match_list.js';
import { rewriteTree, type RewriteContext, type RewriteParams } from './rewrite.js';

export const RESOLVE_FLAG = { FINAL: 1, ROUTED: 2, ERROR: 4, FAIL: 8 } as const;
export const RESOLVE_CLASS = { LOCAL: 256, ALIAS: 512, VIRTUAL: 1024, RELAY: 2048, DEFAULT: 4096 } as const;

export interface ResolveReply {
  transport: string;
  nexthop: string;
  recipient: string;
  flags: number;
}

/** Parameters of one resolver context (regular or verify). */
export interface ResolveContext {
  localTransport: [string, string];
  virtTransport: [string, string];
  relayTransport: [string, string];
  defTransport: [string, string];
  relayhost: string;
  transportMaps: MapsLike | null;
  transportMapsName: string;
  sndRelayMaps: MapsLike | null;
  sndRelayMapsName: string;
  sndDefXportMaps: MapsLike | null;
  sndDefXportMapsName: string;
}

/** Shared state: lists, tables, and the rewrite rules used while resolving. */
export class Resolver {
  myhostname = '';
  emptyAddr = 'MAILER-DAEMON';
  resolveDequoted = true;
  resolveNulldom = false;
  resolveNumDom = false;
  allowMinUser = false;
  showUnkRcptTable = true;
  nullRelayKey = '<>';
  nullDefXportKey = '<>';
  rcptDelim = '';
  transportParentStyle = false;
  mydest!: MatchList;
  virtAliasDoms!: MatchList;
  virtMailboxDoms!: MatchList;
  relayDomains!: MatchList;
  relocatedMaps: MapsLike | null = null;
  ownAddrs = new Set<string>();
  proxyAddrs = new Set<string>();
  rewriteParams!: RewriteParams;
  localContext!: RewriteContext;
  regular!: ResolveContext;
  verify!: ResolveContext;

  /** init - read the configuration and open the lists and tables (trivial-rewrite pre_jail_init). */
  static async create(config: MailConfig): Promise<Resolver> {
    const r = new Resolver();
    const parentList = config.list('parent_domain_matches_subdomains').map((s) => s.toLowerCase());
    r.myhostname = config.str('myhostname');
    r.emptyAddr = config.str('empty_address_recipient') || 'MAILER-DAEMON';
    r.resolveDequoted = config.bool('resolve_dequoted_address');
    r.resolveNulldom = config.bool('resolve_null_domain');
    r.resolveNumDom = config.bool('resolve_numeric_domain');
    r.allowMinUser = config.bool('allow_min_user');
    r.showUnkRcptTable = config.bool('show_user_unknown_table_name');
    r.nullRelayKey = config.str('empty_address_relayhost_maps_lookup_key');
    r.nullDefXportKey = config.str('empty_address_default_transport_maps_lookup_key');
    r.rcptDelim = config.str('recipient_delimiter');
    r.transportParentStyle = parentList.includes('transport_maps');
    r.mydest = await MatchList.create('mydestination', config.str('mydestination'));
    r.virtAliasDoms = await MatchList.create('virtual_alias_domains', config.str('virtual_alias_domains'));
    r.virtMailboxDoms = await MatchList.create('virtual_mailbox_domains', config.str('virtual_mailbox_domains'));
    r.relayDomains = await MatchList.create(
      'relay_domains',
      config.str('relay_domains'),
      true,
      parentList.includes('relay_domains'),
    );
    r.relocatedMaps = await openMaps('relocated_maps', config.str('relocated_maps'));
    r.ownAddrs = await interfaceAddrs(config.list('inet_interfaces'));
    r.proxyAddrs = await interfaceAddrs(config.list('proxy_interfaces'), false);
    r.rewriteParams = rewriteParamsFrom(config);
    r.localContext = { origin: config.str('myorigin'), domain: config.str('mydomain') };
    r.regular = await contextFrom(config, '');
    r.verify = await contextFrom(config, 'address_verify_');
    return r;
  }

  /** resolveLocal - 1 if the domain is local, 0 if not; throws on a table error. */
  async resolveLocal(domain: string): Promise<number> {
    let d = domain;
    if (d.length === 0) return 0;
    if (d.endsWith('.')) d = d.slice(0, -1);
    if (d.length === 0 || d.endsWith('.')) return 0;
    if (await this.mydest.match(d)) return 1;
    if (d.startsWith('[') && d.endsWith(']')) {
      let a = d.slice(1, -1);
      if (/^ipv6:/i.test(a)) a = a.slice(5);
      if (isIP(a) && (this.ownAddrs.has(normIp(a)) || this.proxyAddrs.has(normIp(a)))) return 1;
    }
    return 0;
  }

  /** resolveAddr - the resolver proper. */
  async resolveAddr(rp: ResolveContext, sender: string, addr: string): Promise<ResolveReply> {
    const fail = (flags: number): ResolveReply => ({
      transport: 'CHANNEL NOT UPDATED',
      nexthop: 'NEXTHOP NOT UPDATED',
      recipient: 'NEXTRCPT NOT UPDATED',
      flags: flags | RESOLVE_FLAG.FAIL,
    });
    try {
      return await this.resolveInner(rp, sender, addr);
    } catch (e) {
      msg.warn(`${(e as Error).message}`);
      return fail(0);
    }
  }

  private async resolveInner(rp: ResolveContext, sender: string, addr: string): Promise<ResolveReply> {
    let flags = 0;
    let tree: Tok822[] = tok822ScanAddr(quote822Local(addr));
    let savedDomain: Tok822[] | null = null;
    let remoteDomain = false;
    const loopMax = addr.length + 100;
    for (let loop = 0; ; loop++) {
      if (loop > loopMax) {
        msg.warn(`resolve_addr: <${addr}>: giving up after ${loop} iterations`);
        return { transport: 'CHANNEL NOT UPDATED', nexthop: 'NEXTHOP NOT UPDATED', recipient: 'NEXTRCPT NOT UPDATED', flags: RESOLVE_FLAG.FAIL };
      }
      const n = tree.length;
      // Strip trailing dot at the end of the domain, but not dot-dot or @-dot.
      if (n > 1 && tree[n - 1].type === '.' && tok822Rfind(tree, '@') >= 0 && tree[n - 2].type !== '.' && tree[n - 2].type !== '@') {
        tree = tree.slice(0, -1);
      }
      // Strip trailing @.
      if (this.resolveNulldom && tree.length > 0 && tree[tree.length - 1].type === '@') tree = tree.slice(0, -1);
      // Strip a local domain and see what is left.
      const at = tok822Rfind(tree, '@');
      if (at >= 0) {
        if (at + 1 < tree.length) {
          const rc = await this.resolveLocal(tok822Internalize(tree.slice(at + 1)));
          if (rc <= 0) {
            remoteDomain = true;
            break;
          }
        }
        savedDomain = tree.slice(at);
        tree = tree.slice(0, at);
      }
      // After stripping the local domain, more rewriting may be needed.
      if (
        tok822Rfind(tree, '@') >= 0 ||
        (this.rewriteParams.swapBangpath && tok822Rfind(tree, '!') >= 0) ||
        (this.rewriteParams.percentHack && tok822Rfind(tree, '%') >= 0)
      ) {
        tree = rewriteTree(this.rewriteParams, this.localContext, tree);
        continue;
      }
      // A quoted local part with @ (or % or !) inside.
      if (this.resolveDequoted && tree.length === 1 && tree[0].type === 'qstring') {
        const local = tree[0].text;
        let oper = local.lastIndexOf('@');
        if (oper < 0 && this.rewriteParams.percentHack) oper = local.lastIndexOf('%');
        if (oper < 0 && this.rewriteParams.swapBangpath) oper = local.lastIndexOf('!');
        if (oper >= 0) {
          let text = local;
          if (text[oper] === '%') text = text.slice(0, oper) + '@' + text.slice(oper + 1);
          if (text[oper] === '@') text = quote822Local(text);
          tree = rewriteTree(this.rewriteParams, this.localContext, tok822Scan(text));
          continue;
        }
      }
      // An empty local part becomes the empty_address_recipient.
      if (tree.length === 1 && tree[0].type === 'qstring' && tree[0].text === '') tree = [];
      if (tree.length === 0) {
        tree = tok822Scan(this.emptyAddr);
        continue;
      }
      if (savedDomain === null) {
        tree = [...tree, { type: '@', text: '' }, ...tok822Scan(this.myhostname)];
        continue;
      }
      break;
    }
    if (!remoteDomain) {
      tree = savedDomain ? [...tree, ...savedDomain] : [...tree, { type: '@', text: '' }, ...tok822Scan(this.myhostname)];
    }
    let nextrcpt = tok822Internalize(tree);
    const ratIdx = nextrcpt.lastIndexOf('@');
    if (ratIdx < 0) throw new Error(`no @ in address: "${nextrcpt}"`);
    let rcptDomain = nextrcpt.slice(ratIdx + 1);
    if (rcptDomain.startsWith('[')) {
      if (!validMailhostLiteral(rcptDomain)) flags |= RESOLVE_FLAG.ERROR;
    } else if (!validHostname(rcptDomain)) {
      if (this.resolveNumDom && isIP(rcptDomain)) {
        nextrcpt = nextrcpt.slice(0, ratIdx + 1) + '[' + rcptDomain + ']';
        rcptDomain = '[' + rcptDomain + ']';
        if ((await this.resolveLocal(rcptDomain)) > 0) remoteDomain = false;
      } else {
        flags |= RESOLVE_FLAG.ERROR;
      }
    }
    const reply = (transport: string, nexthop: string): ResolveReply => ({ transport, nexthop, recipient: nextrcpt, flags });
    if (flags & RESOLVE_FLAG.ERROR) {
      flags |= RESOLVE_CLASS.DEFAULT;
      return reply('CHANNEL NOT UPDATED', 'NEXTHOP NOT UPDATED');
    }
    // Routed: the local part itself contains an address.
    const firstOp = nextrcpt.search(/[@!%]/);
    if (nextrcpt.slice(firstOp + 1) !== rcptDomain) flags |= RESOLVE_FLAG.ROUTED;

    let channel: string;
    let nexthop: string;
    let blame: string;
    if (remoteDomain) {
      if (await this.virtAliasDoms.match(rcptDomain)) {
        channel = 'error';
        nexthop = `5.1.1 User unknown${this.showUnkRcptTable ? ' in virtual alias table' : ''}`;
        blame = 'virtual_alias_domains';
        flags |= RESOLVE_CLASS.ALIAS;
      } else if (await this.virtMailboxDoms.match(rcptDomain)) {
        channel = rp.virtTransport[1];
        nexthop = rcptDomain;
        blame = rp.virtTransport[0];
        flags |= RESOLVE_CLASS.VIRTUAL;
      } else {
        if (await this.relayDomains.match(rcptDomain)) {
          channel = rp.relayTransport[1];
          blame = rp.relayTransport[0];
          flags |= RESOLVE_CLASS.RELAY;
        } else {
          let xport: string | null = null;
          if (rp.sndDefXportMaps) {
            const key = sender || this.nullDefXportKey;
            xport = await mailAddrFind(rp.sndDefXportMaps, key, this.addrFindOpts());
            if (xport === '') {
              msg.warn(`${rp.sndDefXportMapsName}: ignoring null lookup result for ${key}`);
              xport = 'DUNNO';
            }
          }
          if (xport !== null) {
            channel = xport.toUpperCase() === 'DUNNO' ? rp.defTransport[1] : xport;
            blame = rp.sndDefXportMapsName;
          } else {
            channel = rp.defTransport[1];
            blame = rp.defTransport[0];
          }
          flags |= RESOLVE_CLASS.DEFAULT;
        }
        let relay: string | null = null;
        if (rp.sndRelayMaps) {
          const key = sender || this.nullRelayKey;
          relay = await mailAddrFind(rp.sndRelayMaps, key, this.addrFindOpts());
          if (relay === '') {
            msg.warn(`${rp.sndRelayMapsName}: ignoring null lookup result for ${key}`);
            relay = null;
          } else if (relay !== null && relay.toUpperCase() === 'DUNNO') relay = null;
        }
        nexthop = relay ?? (rp.relayhost || rcptDomain);
      }
    } else {
      channel = rp.localTransport[1];
      nexthop = rcptDomain;
      blame = rp.localTransport[0];
      flags |= RESOLVE_CLASS.LOCAL;
    }
    // transport:nexthop in a transport parameter.
    const colon = channel.indexOf(':');
    if (colon >= 0) {
      const dest = channel.slice(colon + 1);
      channel = channel.slice(0, colon);
      if (dest) nexthop = dest;
    }
    if (channel === '') {
      msg.warn(`file ${this.configDir}/main.cf: parameter ${blame}: null transport is not allowed`);
      flags |= RESOLVE_FLAG.FAIL;
      return reply('CHANNEL NOT UPDATED', 'NEXTHOP NOT UPDATED');
    }
    // Transport table override (not for the virtual alias class).
    if (rp.transportMaps && !(flags & RESOLVE_CLASS.ALIAS)) {
      const hit = await this.transportLookup(rp.transportMaps, nextrcpt);
      if (hit) [channel, nexthop] = updateEntry(hit, rcptDomain, channel, nexthop);
    }
    // Relocated users.
    if (this.relocatedMaps) {
      const newloc = await mailAddrFind(this.relocatedMaps, nextrcpt, { ...this.addrFindOpts(), myorigin: this.localContext.origin, isLocalDomain: async (d) => (await this.resolveLocal(d)) > 0 });
      if (newloc !== null) {
        channel = 'error';
        nexthop = `5.1.6 User has moved to ${newloc}`;
      }
    }
    if (!this.allowMinUser && nextrcpt.startsWith('-')) {
      flags |= RESOLVE_FLAG.ERROR;
      return reply(channel, nexthop);
    }
    return reply(channel, nexthop);
  }

  configDir = '/etc/postfix';

  private addrFindOpts() {
    return { delimiter: this.rcptDelim };
  }

  /** transportLookup - user+ext@domain, user@domain, domain, parent domains, then "*" (transport(5)). */
  private async transportLookup(maps: MapsLike, addr: string): Promise<string | null> {
    if (!addr) {
      msg.warn('transport_lookup: null address - skipping table lookup');
      return null;
    }
    const strategy =
      MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_DOMAIN | (this.transportParentStyle ? MA_FIND_PDMS : MA_FIND_PDDMDS);
    const v = await mailAddrFind(maps, addr, { delimiter: this.rcptDelim, strategy });
    if (v !== null) return v;
    return maps.lookup('*');
  }
}

/** updateEntry - apply a transport table value "transport:nexthop" (transport.c update_entry). */
export function updateEntry(value: string, rcptDomain: string, channel: string, nexthop: string): [string, string] {
  const colon = value.indexOf(':');
  const newChannel = colon >= 0 ? value.slice(0, colon) : value;
  const newNexthop = colon >= 0 ? value.slice(colon + 1) : '';
  if (newChannel === '') return [channel, newNexthop || nexthop];
  if (newNexthop) return [newChannel, newNexthop];
  if (newChannel !== 'error' && newChannel !== 'retry') return [newChannel, rcptDomain];
  return [newChannel, 'Address is undeliverable'];
}

function rewriteParamsFrom(config: MailConfig): RewriteParams {
  return {
    swapBangpath: config.bool('swap_bangpath'),
    percentHack: config.bool('allow_percent_hack'),
    appendAtMyorigin: config.bool('append_at_myorigin'),
    appendDotMydomain: config.bool('append_dot_mydomain'),
  };
}

export { rewriteParamsFrom };

async function contextFrom(config: MailConfig, prefix: string): Promise<ResolveContext> {
  const p = (name: string): [string, string] => [prefix + name, config.str(prefix + name)];
  const tm = prefix + 'transport_maps';
  const sr = prefix + 'sender_dependent_relayhost_maps';
  const sd = prefix + 'sender_dependent_default_transport_maps';
  return {
    localTransport: p('local_transport'),
    virtTransport: p('virtual_transport'),
    relayTransport: p('relay_transport'),
    defTransport: p('default_transport'),
    relayhost: config.str(prefix + 'relayhost'),
    transportMaps: await openMaps(tm, config.str(tm)),
    transportMapsName: tm,
    sndRelayMaps: await openMaps(sr, config.str(sr)),
    sndRelayMapsName: sr,
    sndDefXportMaps: await openMaps(sd, config.str(sd)),
    sndDefXportMapsName: sd,
  };
}

function normIp(a: string): string {
  return a.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
}

/**
 * interfaceAddrs - the addresses behind $inet_interfaces ("all" = every
 * local interface, "loopback-only") or $proxy_interfaces; host names are
 * looked up (a name that does not resolve is skipped with a warning).
 */
export async function interfaceAddrs(list: string[], allowAll = true): Promise<Set<string>> {
  const out = new Set<string>();
  for (const raw of list) {
    const item = raw.toLowerCase().replace(/^\[|\]$/g, '');
    if (allowAll && item === 'all') {
      for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) out.add(normIp(a.address));
    } else if (allowAll && item === 'loopback-only') {
      out.add('127.0.0.1');
      out.add('::1');
    } else if (isIP(item)) {
      out.add(normIp(item));
    } else {
      try {
        for (const a of await lookup(item, { all: true })) out.add(normIp(a.address));
      } catch (e) {
        msg.warn(`${item}: host not found: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
  }
  return out;
}

/** validHostname - Postfix valid_hostname(): letters, digits, '-', '_', dots; not all-numeric. */
export function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const labels = name.split('.');
  let nonNumeric = false;
  for (const label of labels) {
    if (label.length === 0 || label.length > 63) return false;
    if (!/^[A-Za-z0-9_\u0080-\uffff-]+$/.test(label)) return false;
    if (label.startsWith('-') || label.endsWith('-')) return false;
    if (!/^\d+$/.test(label)) nonNumeric = true;
  }
  return nonNumeric;
}

/** validMailhostLiteral - "[1.2.3.4]" or "[IPv6:...]". */
export function validMailhostLiteral(lit: string): boolean {
  if (!lit.startsWith('[') || !lit.endsWith(']')) return false;
  const inner = lit.slice(1, -1);
  if (/^ipv6:/i.test(inner)) return isIP(inner.slice(5)) === 6;
  return isIP(inner) === 4;
}

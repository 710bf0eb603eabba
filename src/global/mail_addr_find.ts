/**
 * mail_addr_find - address lookup orders over Maps (Postfix
 * global/mail_addr_find.c, strip_addr.c, quote_822_local.c, and the key
 * orders of smtpd_check.c check_mail_access / check_domain_access /
 * check_addr_access).
 *
 * mailAddrFind() implements the virtual(5)/canonical(5)/relocated(5) order:
 * user+ext@domain, user@domain, then (only when the domain is $myorigin or
 * local) user+ext and user, then @domain. The first lookup may use every
 * table; the later ones only fixed-key tables (not regexp/pcre). The
 * unmatched extension is returned so that callers can apply
 * propagate_unmatched_extensions. Table errors propagate as MapsError.
 *
 * accessKeys()/findAccess() give the access(5) orders that smtpd uses.
 */

import { MAPS_FULL, MAPS_PARTIAL, type Maps } from './maps.js';
import { splitList, type MailConfig } from './mail_conf.js';

export const MA_FIND_FULL = 1 << 0; // localpart+ext@domain
export const MA_FIND_NOEXT = 1 << 1; // localpart@domain
export const MA_FIND_LOCALPART_IF_LOCAL = 1 << 2; // localpart (maybe localpart+ext)
export const MA_FIND_LOCALPART_AT_IF_LOCAL = 1 << 3; // ditto, with @ at end
export const MA_FIND_AT_DOMAIN = 1 << 4; // @domain
export const MA_FIND_DOMAIN = 1 << 5; // domain
export const MA_FIND_PDMS = 1 << 6; // parent matches subdomain
export const MA_FIND_PDDMDS = 1 << 7; // parent matches dot-subdomain
export const MA_FIND_LOCALPART_AT = 1 << 8; // localpart@ (maybe localpart+ext@)
export const MA_FIND_DEFAULT = MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_LOCALPART_IF_LOCAL | MA_FIND_AT_DOMAIN;

export interface AddrFindOptions {
  /** recipient_delimiter: a set of characters; empty = no extensions */
  delimiter: string;
  /** $myorigin */
  myorigin: string;
  /** is the domain local ($mydestination, [$inet_interfaces], [$proxy_interfaces])? */
  isLocal?: (domain: string) => boolean | Promise<boolean>;
  strategy?: number;
  /** query with the quoted (external) form first, then the unquoted form (Postfix 3.x default) */
  quoteForm?: 'external-first' | 'internal';
}

export interface AddrFindResult {
  value: string;
  /** the extension (with its delimiter) when the match was on the address without it */
  extension?: string;
}

/**
 * splitAddrExtension - Postfix strip_addr_internal(): "user+ext@domain" to
 * { bare: "user@domain", ext: "+ext" } using the first delimiter character
 * found in the local part; with "-" as delimiter, "owner-x" and "x-request"
 * are left alone.
 */
export function splitAddrExtension(addr: string, delimiters: string): { bare: string; ext: string } | undefined {
  if (!delimiters) return undefined;
  const at = addr.lastIndexOf('@');
  const local = at >= 0 ? addr.slice(0, at) : addr;
  const domain = at >= 0 ? addr.slice(at) : '';
  if (local === '' || local === 'MAILER-DAEMON') return undefined;
  let pos = -1;
  for (let i = 0; i < local.length; i++) {
    if (delimiters.includes(local[i])) {
      pos = i;
      break;
    }
  }
  if (pos <= 0) return undefined;
  if (local[pos] === '-') {
    if (/^owner-/i.test(local) || /-request$/i.test(local)) return undefined;
  }
  return { bare: local.slice(0, pos) + domain, ext: local.slice(pos) };
}

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;

/** quote822Local - Postfix quote_822_local(): quote the local part when RFC 822 requires it. */
export function quote822Local(addr: string, bareLocalpart = false): string {
  const at = bareLocalpart ? -1 : addr.lastIndexOf('@');
  const local = at >= 0 ? addr.slice(0, at) : addr;
  const rest = at >= 0 ? addr.slice(at) : '';
  if (local === '' || ATEXT.test(local) || /[\x80-\uffff]/.test(local)) return addr;
  return `"${local.replace(/(["\\])/g, '\\$1')}"${rest}`;
}

async function findAddr(maps: Maps, address: string, flags: number, withDomain: boolean, form: string): Promise<string | null> {
  if (form === 'internal') return maps.find(address, flags);
  const ext = quote822Local(address, !withDomain);
  const r = await maps.find(ext, flags);
  if (r !== null || ext === address) return r;
  return maps.find(address, flags);
}

/** mailAddrFind - see the file header. Returns null when nothing matched; throws MapsError on table errors. */
export async function mailAddrFind(maps: Maps, address: string, opts: AddrFindOptions): Promise<AddrFindResult | null> {
  const strategy = opts.strategy ?? MA_FIND_DEFAULT;
  const form = opts.quoteForm ?? 'external-first';
  const full = address;
  const split = strategy & MA_FIND_NOEXT ? splitAddrExtension(full, opts.delimiter) : undefined;
  const bare = split?.bare;

  if (strategy & MA_FIND_FULL) {
    const r = await findAddr(maps, full, MAPS_FULL, true, form);
    if (r !== null) return { value: r };
  }
  if (bare !== undefined) {
    const r = await findAddr(maps, bare, MAPS_PARTIAL, true, form);
    if (r !== null) return { value: r, extension: split!.ext };
  }
  const at = full.lastIndexOf('@');
  const findLocal = async (withAt: boolean): Promise<AddrFindResult | null> => {
    const cut = (a: string): string => {
      const i = a.lastIndexOf('@');
      return withAt ? a.slice(0, i + 1) : a.slice(0, i);
    };
    const r = await findAddr(maps, cut(full), MAPS_PARTIAL, withAt, form);
    if (r !== null) return { value: r };
    if (bare !== undefined) {
      const r2 = await findAddr(maps, cut(bare), MAPS_PARTIAL, withAt, form);
      if (r2 !== null) return { value: r2, extension: split!.ext };
    }
    return null;
  };
  if (at >= 0 && strategy & (MA_FIND_LOCALPART_IF_LOCAL | MA_FIND_LOCALPART_AT_IF_LOCAL)) {
    const domain = full.slice(at + 1);
    const local = domain.toLowerCase() === opts.myorigin.toLowerCase() || (opts.isLocal ? await opts.isLocal(domain) : false);
    if (local) {
      if (strategy & MA_FIND_LOCALPART_IF_LOCAL) {
        const r = await findLocal(false);
        if (r) return r;
      }
      if (strategy & MA_FIND_LOCALPART_AT_IF_LOCAL) {
        const r = await findLocal(true);
        if (r) return r;
      }
    }
  }
  if (at >= 0 && strategy & MA_FIND_AT_DOMAIN) {
    const r = await maps.find(full.slice(at), MAPS_PARTIAL);
    if (r !== null) return { value: r };
  }
  if (at >= 0 && strategy & MA_FIND_DOMAIN) {
    for (const name of parentDomains(full.slice(at + 1), strategy & MA_FIND_PDMS ? 'plain' : strategy & MA_FIND_PDDMDS ? 'dot' : 'none')) {
      const r = await maps.find(name, MAPS_PARTIAL);
      if (r !== null) return { value: r };
    }
  }
  if (at >= 0 && strategy & MA_FIND_LOCALPART_AT) {
    const r = await findLocal(true);
    if (r) return r;
  }
  return null;
}

/**
 * parentDomains - "sub.example.com" then its parents: "example.com", "com"
 * (plain, parent_domain_matches_subdomains) or ".example.com", ".com" (dot),
 * or only the name itself (none).
 */
export function parentDomains(domain: string, style: 'plain' | 'dot' | 'none'): string[] {
  const out: string[] = [];
  let name = domain;
  while (name !== '') {
    out.push(name);
    if (style === 'none') break;
    const dot = name.indexOf('.', 1);
    if (dot < 0) break;
    name = style === 'plain' ? name.slice(dot + 1) : name.slice(dot);
  }
  return out;
}

/**
 * mailAccessKeys - the access(5) query order for check_sender_access and
 * check_recipient_access (smtpd_check.c check_mail_access): user+ext@domain,
 * user@domain, domain and its parents, user+ext@, user@. The null address
 * is looked up as "<>" (smtpd_null_access_lookup_key). Each key says whether
 * it is the full address (every table) or a partial key (fixed tables only).
 */
export function mailAccessKeys(
  address: string,
  opts: { delimiter: string; parentStyle: 'plain' | 'dot'; nullKey?: string },
): Array<{ key: string; partial: boolean }> {
  if (address === '') return [{ key: opts.nullKey ?? '<>', partial: false }];
  const keys: Array<{ key: string; partial: boolean }> = [];
  const at = address.lastIndexOf('@');
  const split = splitAddrExtension(address, opts.delimiter);
  keys.push({ key: address, partial: false });
  if (split) keys.push({ key: split.bare, partial: true });
  if (at >= 0) {
    for (const d of parentDomains(address.slice(at + 1), opts.parentStyle)) keys.push({ key: d, partial: true });
    keys.push({ key: address.slice(0, at + 1), partial: true });
    if (split) keys.push({ key: split.bare.slice(0, split.bare.lastIndexOf('@') + 1), partial: true });
  }
  return keys;
}

/** hostAccessKeys - check_helo_access / client hostname: the name and its parent domains. */
export function hostAccessKeys(name: string, parentStyle: 'plain' | 'dot'): Array<{ key: string; partial: boolean }> {
  return parentDomains(name, parentStyle).map((key, i) => ({ key, partial: i > 0 }));
}

/** addrAccessKeys - check_client_access by address: 1.2.3.4, 1.2.3, 1.2, 1 (IPv6: drop ":"-groups). */
export function addrAccessKeys(addr: string): Array<{ key: string; partial: boolean }> {
  const delim = addr.includes(':') ? ':' : '.';
  const keys: Array<{ key: string; partial: boolean }> = [];
  let a = addr.toLowerCase();
  for (;;) {
    keys.push({ key: a, partial: keys.length > 0 });
    const i = a.lastIndexOf(delim);
    if (i <= 0) break;
    a = a.slice(0, i);
    while (a.endsWith(delim)) a = a.slice(0, -1);
    if (a === '') break;
  }
  return keys;
}

/** findAccess - the first key (of one of the orders above) that has a value in the maps. */
export async function findAccess(
  maps: Maps,
  keys: Array<{ key: string; partial: boolean }>,
): Promise<{ key: string; value: string } | null> {
  for (const { key, partial } of keys) {
    const v = await maps.find(key, partial ? MAPS_PARTIAL : MAPS_FULL);
    if (v !== null) return { key, value: v };
  }
  return null;
}

/**
 * parentStyle - how parent domains are written for a feature:
 * 'plain' (example.com matches subdomains) when the name is listed in
 * $parent_domain_matches_subdomains, otherwise 'dot' (.example.com).
 */
export function parentStyle(config: MailConfig, feature: string): 'plain' | 'dot' {
  return splitList(config.str('parent_domain_matches_subdomains')).includes(feature) ? 'plain' : 'dot';
}

/**
 * maps_adapter - how cleanup and trivial-rewrite use lookup tables: a thin
 * layer over the shared table code (src/global/maps.ts, mail_addr_find.ts)
 * that returns null for an empty table list and applies
 * propagate_unmatched_extensions to address lookups.
 */

import type { Maps } from '../global/maps.js';
import { splitList } from '../global/mail_conf.js';

/**
 * The table layer (src/global/maps.ts and with it the native lmdb and sqlite
 * modules, ~4 MiB per process) is loaded when the first non-empty table list
 * is opened: a cleanup with the default settings never needs it.
 */
type TableModules = [typeof import('../global/maps.js'), typeof import('../global/mail_addr_find.js')];
let tableModules: Promise<TableModules> | undefined;
export function loadTableModules(): Promise<TableModules> {
  tableModules ??= Promise.all([import('../global/maps.js'), import('../global/mail_addr_find.js')]);
  return tableModules;
}

export interface MapsLike {
  readonly title: string;
  readonly maps: Maps;
  /** lookup - full-key lookup in every table (regexp/pcre included). */
  lookup(key: string): Promise<string | null>;
  /** lookupPartial - lookup in fixed-key tables only (partial address keys). */
  lookupPartial(key: string): Promise<string | null>;
}

/** openMaps - open a list of tables as one Maps, or null when the list is empty. */
export async function openMaps(title: string, specList: string): Promise<MapsLike | null> {
  if (splitList(specList).length === 0) return null;
  const [{ Maps, MAPS_FULL, MAPS_PARTIAL }] = await loadTableModules();
  const maps = Maps.create(title, specList);
  return {
    title,
    maps,
    lookup: (key) => maps.find(key, MAPS_FULL),
    lookupPartial: (key) => maps.find(key, MAPS_PARTIAL),
  };
}

export interface AddrFindOptions {
  /** recipient_delimiter characters ("" = none) */
  delimiter: string;
  /** $myorigin */
  myorigin?: string;
  /** is the domain local ($mydestination, interfaces)? */
  isLocalDomain?(domain: string): boolean | Promise<boolean>;
  /** propagate an unmatched extension into the result (propagate_unmatched_extensions) */
  propagate?: boolean;
  /** MA_FIND_* strategy (default: virtual(5)/canonical(5) order) */
  strategy?: number;
}

/** splitExtension - "user+ext" to ["user", "+ext"] using the first delimiter character found. */
export function splitExtension(local: string, delimiters: string): [string, string] {
  if (!delimiters) return [local, ''];
  for (let i = 1; i < local.length; i++) {
    if (delimiters.includes(local[i])) return [local.slice(0, i), local.slice(i)];
  }
  return [local, ''];
}

/**
 * mailAddrFind - look up an internal-form address in Postfix order
 * (user+ext@domain, user@domain, user+ext and user for local domains,
 * @domain); an unmatched extension is put back into a single-address
 * result when opts.propagate is set.
 */
export async function mailAddrFind(m: MapsLike, address: string, opts: AddrFindOptions): Promise<string | null> {
  const [, { mailAddrFind: mailAddrFindCore, MA_FIND_DEFAULT }] = await loadTableModules();
  const r = await mailAddrFindCore(m.maps, address, {
    delimiter: opts.delimiter,
    myorigin: opts.myorigin ?? '',
    isLocal: opts.isLocalDomain,
    strategy: opts.strategy ?? MA_FIND_DEFAULT,
  });
  if (r === null) return null;
  if (!r.extension || !opts.propagate || /[,\s]/.test(r.value.trim())) return r.value;
  const v = r.value;
  const at = v.lastIndexOf('@');
  return at >= 0 ? v.slice(0, at) + r.extension + v.slice(at) : v + r.extension;
}

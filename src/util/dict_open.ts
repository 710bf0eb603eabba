/**
 * dict_open - the table-type registry and opener (Postfix util/dict_open.c,
 * global/mail_dict.c, util/dict_surrogate.c).
 *
 * dictOpen("type:name", openFlags, dictFlags) opens one table or throws
 * DictOpenError with Postfix's wording ("unsupported dictionary type: x",
 * "open dictionary: expecting "type:name" form instead of "x""). dictOpenShared
 * is the per-process open-table cache that daemons use (one handle per
 * type:name and flags, reference counted). dictSurrogate is what daemons get
 * instead of a table that cannot be opened: every access is a table error, so
 * mail is deferred rather than mis-routed (Postfix 3.x behaviour).
 */

import { msg } from './msg.js';
import { DICT_FLAG, DictBase, DictError, DictOpenError, type Dict, type UpdateResult } from './dict.js';
import { DictLmdb } from './dict_lmdb.js';
import { DictThash } from './dict_thash.js';
import { DictInline } from './dict_inline.js';
import { DictStatic } from './dict_static.js';
import { DictFail } from './dict_fail.js';
import { DictEnviron } from './dict_environ.js';
import { DictInternal } from './dict_internal.js';
import { DictUnix } from './dict_unix.js';
import { DictRandmap } from './dict_randmap.js';
import { DictPipemap } from './dict_pipemap.js';
import { DictUnionmap } from './dict_unionmap.js';
import { DictRegexp } from './dict_regexp.js';
import { DictCidr } from './dict_cidr.js';
import { DictSqlite } from './dict_sqlite.js';
import { DictProxy } from './dict_proxy.js';
import { DictTcp } from './dict_tcp.js';
import { DictSocketmap } from './dict_socketmap.js';

export type DictOpener = (name: string, openFlags: number, dictFlags: number) => Dict;

interface DictTypeInfo {
  open: DictOpener;
  /** can postmap/postalias build it from a source file (bulk mode)? */
  bulk: boolean;
  /** does the name need to be non-empty (most types) */
  needsName: boolean;
}

/** The registry, in `postconf -m` order (sorted). Openers are called lazily, so import cycles are harmless. */
const registry = new Map<string, DictTypeInfo>([
  ['btree', { open: (n, o, f) => new DictLmdb('btree', n, o, f), bulk: true, needsName: true }],
  ['cidr', { open: (n, o, f) => new DictCidr(n, o, f), bulk: false, needsName: true }],
  ['environ', { open: (n, o, f) => new DictEnviron(n, o, f), bulk: false, needsName: true }],
  ['fail', { open: (n, o, f) => new DictFail(n, o, f), bulk: false, needsName: true }],
  ['hash', { open: (n, o, f) => new DictLmdb('hash', n, o, f), bulk: true, needsName: true }],
  ['inline', { open: (n, o, f) => new DictInline(n, o, f), bulk: false, needsName: true }],
  ['internal', { open: (n, o, f) => new DictInternal(n, o, f), bulk: false, needsName: true }],
  ['lmdb', { open: (n, o, f) => new DictLmdb('lmdb', n, o, f), bulk: true, needsName: true }],
  ['pcre', { open: (n, o, f) => new DictRegexp('pcre', n, o, f), bulk: false, needsName: true }],
  ['pipemap', { open: (n, o, f) => new DictPipemap(n, o, f), bulk: false, needsName: true }],
  ['proxy', { open: (n, o, f) => new DictProxy(n, o, f), bulk: false, needsName: true }],
  ['randmap', { open: (n, o, f) => new DictRandmap(n, o, f), bulk: false, needsName: true }],
  ['regexp', { open: (n, o, f) => new DictRegexp('regexp', n, o, f), bulk: false, needsName: true }],
  ['socketmap', { open: (n, o, f) => new DictSocketmap(n, o, f), bulk: false, needsName: true }],
  ['sqlite', { open: (n, o, f) => new DictSqlite(n, o, f), bulk: false, needsName: true }],
  ['static', { open: (n, o, f) => new DictStatic(n, o, f), bulk: false, needsName: true }],
  ['tcp', { open: (n, o, f) => new DictTcp(n, o, f), bulk: false, needsName: true }],
  ['texthash', { open: (n, o, f) => new DictThash(n, o, f), bulk: false, needsName: true }],
  ['unionmap', { open: (n, o, f) => new DictUnionmap(n, o, f), bulk: false, needsName: true }],
  ['unix', { open: (n, o, f) => new DictUnix(n, o, f), bulk: false, needsName: true }],
]);

/** dictTypes - the supported types, sorted (postconf -m). */
export function dictTypes(): string[] {
  return [...registry.keys()].sort();
}

/** dictRegister - add a table type (plug-ins, tests). */
export function dictRegister(type: string, open: DictOpener, bulk = false): void {
  registry.set(type, { open, bulk, needsName: true });
}

/** dictIsBulkType - postmap/postalias can create this type from a source file. */
export function dictIsBulkType(type: string): boolean {
  return registry.get(type)?.bulk ?? false;
}

/** dictSplit - "type:name" into its parts; undefined when there is no type or no name. */
export function dictSplit(spec: string): { type: string; name: string } | undefined {
  const colon = spec.indexOf(':');
  if (colon <= 0 || colon === spec.length - 1) return undefined;
  return { type: spec.slice(0, colon), name: spec.slice(colon + 1) };
}

/** dictOpen - open "type:name"; throws DictOpenError. */
export function dictOpen(spec: string, openFlags: number, dictFlags: number): Dict {
  const parts = dictSplit(spec);
  if (!parts) throw new DictOpenError(`open dictionary: expecting "type:name" form instead of "${spec}"`);
  return dictOpen3(parts.type, parts.name, openFlags, dictFlags);
}

/** dictOpen3 - open a table given its type and name separately. */
export function dictOpen3(type: string, name: string, openFlags: number, dictFlags: number): Dict {
  const info = registry.get(type);
  if (!info) throw new DictOpenError(`unsupported dictionary type: ${type}`);
  if (name === '') throw new DictOpenError(`open dictionary: expecting "type:name" form instead of "${type}:"`);
  return info.open(name, openFlags, dictFlags);
}

/** DictSurrogate - stands in for a table that could not be opened; every access is an error. */
export class DictSurrogate extends DictBase {
  constructor(
    type: string,
    name: string,
    flags: number,
    readonly reason: string,
  ) {
    super(type, name, flags);
  }

  private fail(): never {
    msg.warn(`${this.type}:${this.name} is unavailable. ${this.reason}`);
    throw new DictError(`${this.type}:${this.name} is unavailable. ${this.reason}`, 'config');
  }

  async lookup(_key: string): Promise<string | null> {
    return this.fail();
  }

  override async update(_k: string, _v: string): Promise<UpdateResult> {
    return this.fail();
  }

  override async delete(_k: string): Promise<boolean> {
    return this.fail();
  }

  override async *sequence(): AsyncIterable<[string, string]> {
    this.fail();
  }
}

interface CacheEntry {
  dict: Dict;
  refs: number;
}

const cache = new Map<string, CacheEntry>();

/**
 * dictOpenShared - the per-process open-table cache (Postfix dict_handle /
 * dict_register): the same type:name with the same flags is opened once.
 * A table that cannot be opened becomes a surrogate (and a warning is
 * logged by the caller that gets `surrogate: true`).
 */
export function dictOpenShared(spec: string, openFlags: number, dictFlags: number): Dict {
  const key = `${spec}\0${openFlags}\0${dictFlags}`;
  const hit = cache.get(key);
  if (hit) {
    hit.refs++;
    return hit.dict;
  }
  let dict: Dict;
  try {
    dict = dictOpen(spec, openFlags, dictFlags);
  } catch (e) {
    if (!(e instanceof DictOpenError)) throw e;
    const parts = dictSplit(spec) ?? { type: spec, name: '' };
    // Postfix dict_surrogate(): log at once, then fail every access.
    msg.error(e.message);
    dict = new DictSurrogate(parts.type, parts.name, dictFlags | DICT_FLAG.PATTERN, e.message);
  }
  const entry: CacheEntry = { dict, refs: 1 };
  cache.set(key, entry);
  const realClose = dict.close.bind(dict);
  dict.close = async () => {
    if (--entry.refs > 0) return;
    cache.delete(key);
    await realClose();
  };
  return dict;
}

/** dictChanged - the name of the first cached table whose file changed, else undefined (Postfix dict_changed_name). */
export function dictChanged(): string | undefined {
  for (const { dict } of cache.values()) {
    if (dict.changed()) return `${dict.type}:${dict.name}`;
  }
  return undefined;
}

/** dictCloseAll - close every cached table (process exit, tests). */
export async function dictCloseAll(): Promise<void> {
  const entries = [...cache.values()];
  cache.clear();
  for (const e of entries) {
    e.refs = 1;
    await e.dict.close();
  }
}

export { DICT_FLAG };

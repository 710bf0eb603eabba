/**
 * dict - the lookup-table interface (Postfix util/dict.h, dict.c, dict_alloc.c).
 *
 * Every `type:name` table implements Dict: lookup, update, delete, sequence,
 * close and changed. A lookup has three outcomes that must never be mixed up:
 * a string (found), null (not found), or a thrown DictError (the table is
 * broken or unreachable; callers defer mail instead of treating the key as
 * unknown). Key folding and the trailing-NUL conventions of indexed files are
 * applied here, in the same places Postfix applies them.
 */

import { statSync } from 'node:fs';

/** Open flags (a subset of open(2), as Postfix passes O_RDONLY / O_RDWR|O_CREAT|O_TRUNC to dict_open). */
export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_TRUNC = 0o1000;

/** Dictionary flags, named and valued as Postfix util/dict.h. */
export const DICT_FLAG = {
  NONE: 0,
  DUP_WARN: 1 << 0, // warn about duplicates
  DUP_IGNORE: 1 << 1, // ignore duplicates
  TRY0NULL: 1 << 2, // do not append 0 to key/value
  TRY1NULL: 1 << 3, // append 0 to key/value
  FIXED: 1 << 4, // fixed key map
  PATTERN: 1 << 5, // keys are patterns
  LOCK: 1 << 6, // use temp lock before access
  DUP_REPLACE: 1 << 7, // replace dups if supported
  SYNC_UPDATE: 1 << 8, // sync updates if supported
  DEBUG: 1 << 9, // log access
  NO_REGSUB: 1 << 11, // disallow regexp substitution
  NO_PROXY: 1 << 12, // disallow proxy mapping
  NO_UNAUTH: 1 << 13, // disallow unauthenticated data
  FOLD_FIX: 1 << 14, // case-fold key with fixed-case map
  FOLD_MUL: 1 << 15, // case-fold key with multi-case map
  OPEN_LOCK: 1 << 16, // perm lock if not multi-writer safe
  BULK_UPDATE: 1 << 17, // optimize for bulk updates
  MULTI_WRITER: 1 << 18, // multi-writer safe
  UTF8_REQUEST: 1 << 19, // activate UTF-8 if possible
  UTF8_ACTIVE: 1 << 20, // UTF-8 proxy layer is present
  SRC_RHS_IS_FILE: 1 << 21, // Map source RHS is a file
} as const;

export const DICT_FLAG_FOLD_ANY = DICT_FLAG.FOLD_FIX | DICT_FLAG.FOLD_MUL;
/** The flags that maps_create() (global/maps.c) passes by default. */
export const DICT_FLAG_DEFAULT_MAPS = DICT_FLAG.LOCK | DICT_FLAG.FOLD_FIX | DICT_FLAG.UTF8_REQUEST;

/** A table error: lookup/update/delete/sequence could not be completed (Postfix dict->error != 0). */
export class DictError extends Error {
  /** 'retry' = DICT_ERR_RETRY (temporary), 'config' = DICT_ERR_CONFIG (configuration error) */
  constructor(
    message: string,
    readonly kind: 'retry' | 'config' = 'retry',
  ) {
    super(message);
    this.name = 'DictError';
  }
}

/** An operation the table type does not implement (Postfix dict_alloc.c defaults; fatal in Postfix). */
export class DictUnsupportedError extends DictError {
  constructor(type: string, name: string, op: 'update' | 'delete' | 'sequence') {
    super(`table ${type}:${name}: ${op} operation is not supported`, 'config');
    this.name = 'DictUnsupportedError';
  }
}

/** A table could not be opened; postmap makes this fatal, daemons turn it into a surrogate table. */
export class DictOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DictOpenError';
  }
}

/** The result of an update: stored, or a duplicate that was ignored (DUP_IGNORE / DUP_WARN). */
export type UpdateResult = 'stored' | 'duplicate';

export interface Dict {
  readonly type: string;
  readonly name: string;
  /** dictionary flags in effect (may change, e.g. TRY0NULL/TRY1NULL after the first lookup) */
  flags: number;
  /** lookup - the value, null when not found; throws DictError on a table error. */
  lookup(key: string): Promise<string | null>;
  /** update - store a value (honours the DUP_* flags); throws DictError when it cannot. */
  update(key: string, value: string): Promise<UpdateResult>;
  /** delete - true when the key was removed, false when it was not there. */
  delete(key: string): Promise<boolean>;
  /** sequence - every (key, value) pair, in the table's natural order. */
  sequence(): AsyncIterable<[string, string]>;
  close(): Promise<void>;
  /** changed - the backing file was replaced or modified since open ("table X has changed -- restarting"). */
  changed(): boolean;
  /** the indexed file whose changes are watched, if any */
  readonly path?: string;
}

/**
 * foldKey - Postfix dict key folding when the given fold flag is set:
 * UTF-8 case folding when UTF-8 is active (smtputf8_enable), else ASCII only.
 */
export function foldKey(key: string, flags: number, which: number = DICT_FLAG.FOLD_FIX): string {
  if (!(flags & which)) return key;
  if (flags & DICT_FLAG.UTF8_ACTIVE) return key.toLowerCase();
  return key.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * The main.cf parameters, for tables whose configuration may live there
 * (Postfix cfg_parser: `sqlite:name` without a leading / or . reads
 * `name_dbpath`, `name_query`, ... from main.cf). Set by programs after they
 * load their configuration.
 */
let mainConfigLookup: ((name: string) => string | undefined) | undefined;

export function setDictMainConfig(lookup: ((name: string) => string | undefined) | undefined): void {
  mainConfigLookup = lookup;
}

export function dictMainConfig(name: string): string | undefined {
  return mainConfigLookup?.(name);
}

/** fileStamp - mtime and inode of a file, or undefined when it does not exist. */
export function fileStamp(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return undefined;
  }
}

/**
 * DictBase - common behaviour: name/type, folding, mtime-based change
 * detection, and the Postfix "unsupported" answers for read-only tables.
 */
export abstract class DictBase implements Dict {
  flags: number;
  readonly path?: string;
  private readonly stamp?: string;

  constructor(
    readonly type: string,
    readonly name: string,
    flags: number,
    path?: string,
  ) {
    this.flags = flags;
    this.path = path;
    if (path) this.stamp = fileStamp(path);
  }

  abstract lookup(key: string): Promise<string | null>;

  /** fold - apply the fixed-case key folding of this table. */
  protected fold(key: string): string {
    return foldKey(key, this.flags, DICT_FLAG.FOLD_FIX);
  }

  async update(_key: string, _value: string): Promise<UpdateResult> {
    throw new DictUnsupportedError(this.type, this.name, 'update');
  }

  async delete(_key: string): Promise<boolean> {
    throw new DictUnsupportedError(this.type, this.name, 'delete');
  }

  // eslint-disable-next-line require-yield
  async *sequence(): AsyncIterable<[string, string]> {
    throw new DictUnsupportedError(this.type, this.name, 'sequence');
  }

  async close(): Promise<void> {}

  /**
   * changed - Postfix dict_changed_name(): only indexed files are watched.
   * A multi-writer table (lmdb) counts as changed only when its file was
   * replaced or removed (updates in place are seen live); others also when
   * the file was modified.
   */
  changed(): boolean {
    if (!this.path || !this.stamp) return false;
    const now = fileStamp(this.path);
    if (now === undefined) return true;
    if (this.flags & DICT_FLAG.MULTI_WRITER) return now.split(':')[0] !== this.stamp.split(':')[0];
    return now !== this.stamp;
  }
}

/** dupAction - what an update does when the key already exists, from the DUP_* flags. */
export function dupAction(flags: number): 'replace' | 'ignore' | 'warn' | 'fatal' {
  if (flags & DICT_FLAG.DUP_REPLACE) return 'replace';
  if (flags & DICT_FLAG.DUP_IGNORE) return 'ignore';
  if (flags & DICT_FLAG.DUP_WARN) return 'warn';
  return 'fatal';
}

/** isUtf8 - the bytes are valid UTF-8 (Postfix valid_utf8_string). */
export function isValidUtf8(buf: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

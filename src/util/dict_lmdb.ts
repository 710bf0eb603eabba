/**
 * dict_lmdb - indexed tables in LMDB files (Postfix util/dict_lmdb.c,
 * slmdb.c), also used for `hash:` and `btree:`.
 *
 * `lmdb:/path` lives in `/path.lmdb`; `hash:/path` and `btree:/path` live in
 * `/path.db` but hold LMDB data (there is no maintained Berkeley DB binding
 * for Node): admins' scripts that test for `aliases.db` or compare its mtime
 * with `aliases` keep working. Files are written through the `lmdb` package
 * with raw binary keys and values, keys and values NUL-terminated by default
 * as Postfix does (TRY1NULL/TRY0NULL), so the contents are byte-compatible
 * with Postfix's; the page format, however, is LMDB data format 2, which the
 * liblmdb 0.9 in C Postfix cannot read (and format 1 files made by C
 * Postfix are refused here with a clear error instead of crashing).
 *
 * Bulk creation (postmap without -i) collects the entries, writes them into a
 * temporary file in one transaction and renames it over the old file, so
 * readers see either the old or the new table, never a half-built one.
 */

import { strerror } from './msg_logwriter.js';
import { chmodSync, chownSync, closeSync, existsSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { open as lmdbOpen, type RootDatabase } from 'lmdb';
import { msg } from './msg.js';
import { Lmdb1Reader, lmdbFormatVersion } from './dict_lmdb1.js';
import {
  DICT_FLAG,
  DictBase,
  DictError,
  DictOpenError,
  O_CREAT,
  O_TRUNC,
  O_RDWR,
  dupAction,
  type UpdateResult,
} from './dict.js';

/** file suffix per type */
export function lmdbSuffix(type: string): string {
  return type === 'lmdb' ? '.lmdb' : '.db';
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && err.code) return strerror(err);
  const text = err instanceof Error ? err.message : String(e);
  return text.replace(/: Attempting to .*$/, '');
}

/**
 * checkFormat - the LMDB data format of an existing file: 2 (the lmdb
 * package), 1 (liblmdb 0.9, e.g. C Postfix; read with Lmdb1Reader), 0 for an
 * empty file; anything else is refused before the binding can crash on it.
 */
function checkFormat(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, 64, 0);
    if (n === 0) return 0;
    const version = lmdbFormatVersion(head.subarray(0, n));
    if (version === 1 || version === 2) return version;
    if (version !== undefined) throw new DictOpenError(`open database ${path}: MDB_VERSION_MISMATCH: Database environment version mismatch`);
    throw new DictOpenError(`open database ${path}: MDB_INVALID: File is not an LMDB file`);
  } finally {
    closeSync(fd);
  }
}

/**
 * The environments open in this process, one per file (path and inode):
 * LMDB must not open the same file twice in one process, so every DictLmdb
 * of that file shares one handle (reference counted). A rebuilt file (new
 * inode) gets a new environment; handles on the old one keep working.
 */
const envs = new Map<string, { db: RootDatabase<Buffer, Buffer>; refs: number; key: string }>();

function acquireEnv(file: string, writable: boolean): RootDatabase<Buffer, Buffer> {
  let ino = 'new';
  try {
    const st = statSync(file);
    ino = `${st.dev}:${st.ino}`;
  } catch {
    /* created below */
  }
  const key = `${file}\0${ino}`;
  const hit = envs.get(key);
  if (hit) {
    hit.refs++;
    return hit.db;
  }
  const options = { path: file, noSubdir: true, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, cache: false } as const;
  let db: RootDatabase<Buffer, Buffer>;
  try {
    // Writable when permitted, so that a later writer in this process can share it.
    db = lmdbOpen<Buffer, Buffer>({ ...options, readOnly: false });
  } catch (e) {
    if (writable) throw e;
    db = lmdbOpen<Buffer, Buffer>({ ...options, readOnly: true });
  }
  if (ino === 'new') {
    const st = statSync(file);
    ino = `${st.dev}:${st.ino}`;
  }
  const realKey = `${file}\0${ino}`;
  envs.set(realKey, { db, refs: 1, key: realKey });
  return db;
}

async function releaseEnv(db: RootDatabase<Buffer, Buffer>): Promise<void> {
  for (const [key, e] of envs) {
    if (e.db !== db) continue;
    if (--e.refs > 0) return;
    envs.delete(key);
    await db.close();
    return;
  }
  await db.close();
}

/** Temporary files of unfinished bulk builds, removed if the process exits before close(). */
const pendingTemp = new Set<string>();
let exitHook = false;
function trackTemp(path: string): void {
  pendingTemp.add(path);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const p of pendingTemp) {
      rmSync(p, { force: true });
      rmSync(p + '-lock', { force: true });
    }
  });
}

const enc = (s: string, nul: boolean): Buffer => (nul ? Buffer.from(s + '\0', 'utf8') : Buffer.from(s, 'utf8'));

/** dec - bytes to string, cut at the first NUL as C Postfix sees it. */
function dec(buf: Uint8Array): string {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const z = b.indexOf(0);
  return (z >= 0 ? b.subarray(0, z) : b).toString('utf8');
}

export class DictLmdb extends DictBase {
  private db?: RootDatabase<Buffer, Buffer>;
  /** bulk mode: entries collected until close() */
  private bulk?: Map<string, { key: Buffer; value: Buffer; text: string }>;
  private readonly file: string;
  private readonly tmp?: string;
  private createMode?: { mode: number; uid?: number; gid?: number };
  /** a format-1 file (C Postfix) opened read-only */
  private v1?: Lmdb1Reader;

  constructor(type: string, name: string, openFlags: number, dictFlags: number) {
    const file = name + lmdbSuffix(type);
    super(type, name, dictFlags | DICT_FLAG.FIXED | DICT_FLAG.MULTI_WRITER, file);
    this.file = file;
    if ((this.flags & (DICT_FLAG.TRY0NULL | DICT_FLAG.TRY1NULL)) === 0) {
      this.flags |= DICT_FLAG.TRY0NULL | DICT_FLAG.TRY1NULL;
    }
    if (openFlags & O_TRUNC) {
      // Bulk create: build into a temporary file, rename at close.
      this.tmp = `${file}.${process.pid}.tmp`;
      this.bulk = new Map();
      // Fail now, with Postfix's text, when the directory is not writable.
      try {
        closeSync(openSync(this.tmp, 'w', 0o600));
        trackTemp(this.tmp);
      } catch (e) {
        throw new DictOpenError(`open database ${file}: ${errText(e)}`);
      }
      return;
    }
    const writable = (openFlags & (O_RDWR | O_CREAT)) !== 0;
    if (!existsSync(file)) {
      // liblmdb creates a missing file whenever it may write; Berkeley DB (hash:, btree:) needs O_CREAT.
      const creates = (openFlags & O_CREAT) !== 0 || (type === 'lmdb' && writable);
      if (!creates) throw new DictOpenError(`open database ${file}: No such file or directory`);
    } else if (checkFormat(file) === 1) {
      if (!writable) {
        try {
          this.v1 = new Lmdb1Reader(file);
        } catch (e) {
          throw new DictOpenError(`open database ${file}: ${errText(e)}`);
        }
        return;
      }
      this.upgrade(file);
    }
    try {
      this.db = acquireEnv(file, writable);
    } catch (e) {
      throw new DictOpenError(`open database ${file}: ${errText(e)}`);
    }
  }

  /**
   * upgrade - a format-1 file opened for writing (postmap -i/-d on a table
   * built by C Postfix) is rewritten in format 2, same bytes, same owner and
   * mode, and renamed into place.
   */
  private upgrade(file: string): void {
    msg.warn(`${this.type}:${this.name}: converting ${file} from LMDB data format 1 to format 2`);
    const tmp = `${file}.${process.pid}.tmp`;
    let reader: Lmdb1Reader | undefined;
    let db: RootDatabase<Buffer, Buffer> | undefined;
    try {
      reader = new Lmdb1Reader(file);
      const st = statSync(file);
      rmSync(tmp, { force: true });
      db = lmdbOpen<Buffer, Buffer>({ path: tmp, noSubdir: true, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, cache: false });
      const entries = [...reader.entries()];
      db.transactionSync(() => {
        for (const [k, v] of entries) db!.putSync(k, v);
      });
      void db.close();
      db = undefined;
      chmodSync(tmp, st.mode & 0o7777);
      if (process.getuid?.() === 0) chownSync(tmp, st.uid, st.gid);
      renameSync(tmp, file);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new DictOpenError(`open database ${file}: ${errText(e)}`);
    } finally {
      reader?.close();
      rmSync(tmp + '-lock', { force: true });
    }
  }

  private nulForWrite(): boolean {
    if ((this.flags & DICT_FLAG.TRY1NULL) && (this.flags & DICT_FLAG.TRY0NULL)) {
      this.flags &= ~DICT_FLAG.TRY0NULL;
    }
    return (this.flags & DICT_FLAG.TRY1NULL) !== 0;
  }

  async lookup(key: string): Promise<string | null> {
    const k = this.fold(key);
    if (this.bulk) {
      const hit = this.bulk.get(k);
      return hit ? hit.text : null;
    }
    const get = (b: Buffer): Uint8Array | undefined => (this.v1 ? this.v1.get(b) : this.db!.getBinary(b));
    try {
      if (this.flags & DICT_FLAG.TRY1NULL) {
        const v = get(enc(k, true));
        if (v !== undefined) {
          this.flags &= ~DICT_FLAG.TRY0NULL;
          return dec(v);
        }
      }
      if (this.flags & DICT_FLAG.TRY0NULL) {
        const v = get(enc(k, false));
        if (v !== undefined) {
          this.flags &= ~DICT_FLAG.TRY1NULL;
          return dec(v);
        }
      }
    } catch (e) {
      throw new DictError(`error reading ${this.file}: ${errText(e)}`);
    }
    return null;
  }

  override async update(key: string, value: string): Promise<UpdateResult> {
    const k = this.fold(key);
    const nul = this.nulForWrite();
    const kb = enc(k, nul);
    const vb = enc(value, nul);
    const action = dupAction(this.flags);
    if (this.bulk) {
      if (this.bulk.has(k) && action !== 'replace') return this.duplicate(key, action);
      this.bulk.set(k, { key: kb, value: vb, text: value });
      return 'stored';
    }
    const db = this.db!;
    try {
      if (action !== 'replace' && db.getBinary(kb) !== undefined) return this.duplicate(key, action);
      db.putSync(kb, vb);
    } catch (e) {
      if (e instanceof DictError) throw e;
      throw new DictError(`error writing ${this.file}: ${errText(e)}`);
    }
    return 'stored';
  }

  private duplicate(key: string, action: string): UpdateResult {
    if (action === 'warn') msg.warn(`${this.type}:${this.name}: duplicate entry: "${key}"`);
    else if (action === 'fatal') throw new DictError(`${this.type}:${this.name}: duplicate entry: "${key}"`, 'config');
    return 'duplicate';
  }

  override async delete(key: string): Promise<boolean> {
    const k = this.fold(key);
    if (this.bulk) return this.bulk.delete(k);
    const db = this.db!;
    try {
      if (this.flags & DICT_FLAG.TRY1NULL) {
        if (db.getBinary(enc(k, true)) !== undefined) {
          db.removeSync(enc(k, true));
          this.flags &= ~DICT_FLAG.TRY0NULL;
          return true;
        }
      }
      if (this.flags & DICT_FLAG.TRY0NULL) {
        if (db.getBinary(enc(k, false)) !== undefined) {
          db.removeSync(enc(k, false));
          this.flags &= ~DICT_FLAG.TRY1NULL;
          return true;
        }
      }
    } catch (e) {
      throw new DictError(`error writing ${this.file}: ${errText(e)}`);
    }
    return false;
  }

  override async *sequence(): AsyncIterable<[string, string]> {
    if (this.bulk) {
      for (const [k, e] of this.bulk) yield [k, e.text];
      return;
    }
    let entries: Array<[string, string]>;
    if (this.v1) {
      try {
        entries = [...this.v1.entries()].map(([k, v]) => [dec(k), dec(v)]);
      } catch (e) {
        throw new DictError(`error reading ${this.file}: ${errText(e)}`);
      }
      yield* entries;
      return;
    }
    try {
      entries = [];
      for (const { key, value } of this.db!.getRange({ snapshot: true })) {
        entries.push([dec(key as Buffer), dec(value as Buffer)]);
      }
    } catch (e) {
      throw new DictError(`error reading ${this.file}: ${errText(e)}`);
    }
    yield* entries;
  }

  override async close(): Promise<void> {
    if (this.bulk) {
      const tmp = this.tmp!;
      rmSync(tmp + '-lock', { force: true });
      let db: RootDatabase<Buffer, Buffer> | undefined;
      try {
        db = lmdbOpen<Buffer, Buffer>({
          path: tmp,
          noSubdir: true,
          encoding: 'binary',
          keyEncoding: 'binary',
          overlappingSync: false,
          cache: false,
        });
        const entries = [...this.bulk.values()].sort((a, b) => Buffer.compare(a.key, b.key));
        db.transactionSync(() => {
          for (const e of entries) db!.putSync(e.key, e.value);
        });
        await db.close();
        db = undefined;
        this.bulk = undefined;
        if (this.createMode) {
          chmodSync(tmp, this.createMode.mode);
          if (this.createMode.uid !== undefined && this.createMode.gid !== undefined) {
            chownSync(tmp, this.createMode.uid, this.createMode.gid);
          }
        }
        renameSync(tmp, this.file);
        pendingTemp.delete(tmp);
      } catch (e) {
        if (db) await db.close().catch(() => undefined);
        rmSync(tmp, { force: true });
        throw new DictError(`error writing ${this.file}: ${errText(e)}`);
      } finally {
        rmSync(tmp + '-lock', { force: true });
      }
      return;
    }
    this.v1?.close();
    this.v1 = undefined;
    if (this.db) {
      const db = this.db;
      this.db = undefined;
      await releaseEnv(db);
    }
  }

  /** setCreateMode - mode and owner the bulk-built file gets before it is renamed into place (postmap -p/-o). */
  setCreateMode(mode: number, uid?: number, gid?: number): void {
    this.createMode = { mode, uid, gid };
  }
}

/**
 * dict_lmdb - indexed tables in LMDB files (Postfix util/dict_lmdb.c,
 * slmdb.c), also used for `hash:` and `btree:`.
 *
 * `lmdb:/path` lives in `/path.lmdb`; `hash:/path` and `btree:/path` live in
 * `/path.db` but hold LMDB data (there is no maintained Berkeley DB binding
 * for Node): admins' scripts that test for `aliases.db` or compare its mtime
 * with `aliases` keep working. Keys and values are raw bytes, NUL-terminated
 * by default as Postfix does (TRY1NULL/TRY0NULL).
 *
 * Two on-disk formats, chosen so that C Postfix and this system can share
 * tables:
 * - Tables built in bulk (postmap, postalias, newaliases) are written in LMDB
 *   data format 1, the format of liblmdb 0.9 that C Postfix uses
 *   (dict_lmdb1.ts), into a temporary file renamed over the old one, so
 *   readers see the old or the new table, never a half-built one. They are
 *   read with the TypeScript reader, without a lock file, like Postfix's
 *   MDB_NOLOCK. Opened for writing (postmap -i/-d), a format-1 table is
 *   loaded, edited in memory under an edit lock and rewritten at close.
 * - Tables that processes create and update on the fly (caches such as
 *   verify(8)'s) are LMDB data format 2 through the `lmdb` package, which
 *   gives concurrent readers and writers; C Postfix cannot read those.
 */

import { strerror } from './msg_logwriter.js';
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { RootDatabase, RootDatabaseOptionsWithPath } from 'lmdb';
import { msg } from './msg.js';
import { Lmdb1Reader, buildLmdb1, lmdbFormatVersion } from './dict_lmdb1.js';
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

/** The lmdb binding is loaded on first use: format-1 tables and most commands never need it. */
let lmdbModule: typeof import('lmdb') | undefined;
function lmdbOpen(options: RootDatabaseOptionsWithPath): RootDatabase<Buffer, Buffer> {
  lmdbModule ??= createRequire(import.meta.url)('lmdb') as typeof import('lmdb');
  return lmdbModule.open<Buffer, Buffer>(options);
}

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
    if (n >= 16) {
      const magic = head.readUInt32LE(12);
      const swapped = head.readUInt32BE(12);
      if ([0x061561, 0x053162].includes(magic) || [0x061561, 0x053162].includes(swapped)) {
        throw new DictOpenError(
          `open database ${path}: Berkeley DB file (made by C Postfix); rebuild it from its source with postmap or postalias`,
        );
      }
    }
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
    db = lmdbOpen({ ...options, readOnly: false });
  } catch (e) {
    if (writable) throw e;
    db = lmdbOpen({ ...options, readOnly: true });
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

/** The lock that serialises rewrites of one format-1 table (postmap -i/-d). */
function editLock(file: string): () => void {
  const lock = `${file}.editlock`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      trackTemp(lock); // removed on exit if the process dies before close()
      return () => {
        rmSync(lock, { force: true });
        pendingTemp.delete(lock);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { force: true }); // stale
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`cannot lock ${file}: ${lock} exists`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}

type Entry = { key: Buffer; value: Buffer };

export class DictLmdb extends DictBase {
  private db?: RootDatabase<Buffer, Buffer>;
  /** bulk build or format-1 rewrite: the entries by raw key bytes, written at close() */
  private mem?: Map<string, Entry>;
  /** a format-1 file opened read-only */
  private v1?: Lmdb1Reader;
  private unlock?: () => void;
  private readonly file: string;
  private tmp?: string;
  private createMode?: { mode: number; uid?: number; gid?: number };

  constructor(type: string, name: string, openFlags: number, dictFlags: number) {
    const file = name + lmdbSuffix(type);
    super(type, name, dictFlags | DICT_FLAG.FIXED | (type === 'lmdb' ? DICT_FLAG.MULTI_WRITER : 0), file);
    this.file = file;
    if ((this.flags & (DICT_FLAG.TRY0NULL | DICT_FLAG.TRY1NULL)) === 0) {
      this.flags |= DICT_FLAG.TRY0NULL | DICT_FLAG.TRY1NULL;
    }
    if (openFlags & O_TRUNC) {
      this.mem = new Map();
      this.prepareTemp();
      return;
    }
    const writable = (openFlags & (O_RDWR | O_CREAT)) !== 0;
    if (!existsSync(file)) {
      // liblmdb creates a missing file whenever it may write; Berkeley DB (hash:, btree:) needs O_CREAT.
      const creates = (openFlags & O_CREAT) !== 0 || (type === 'lmdb' && writable);
      if (!creates) throw new DictOpenError(`open database ${file}: No such file or directory`);
    } else if (checkFormat(file) === 1) {
      try {
        if (!writable) {
          this.v1 = new Lmdb1Reader(file);
          return;
        }
        this.unlock = editLock(file);
        const reader = new Lmdb1Reader(file);
        try {
          this.mem = new Map();
          for (const [key, value] of reader.entries()) this.mem.set(key.toString('latin1'), { key, value });
        } finally {
          reader.close();
        }
        const st = statSync(file);
        this.createMode = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
        this.prepareTemp();
      } catch (e) {
        this.unlock?.();
        if (e instanceof DictOpenError) throw e;
        throw new DictOpenError(`open database ${file}: ${errText(e)}`);
      }
      return;
    }
    try {
      this.db = acquireEnv(file, writable);
    } catch (e) {
      throw new DictOpenError(`open database ${file}: ${errText(e)}`);
    }
  }

  /** prepareTemp - create the temporary file now, so that an unwritable directory fails with Postfix's text. */
  private prepareTemp(): void {
    this.tmp = `${this.file}.${process.pid}.tmp`;
    try {
      closeSync(openSync(this.tmp, 'w', 0o600));
      trackTemp(this.tmp);
    } catch (e) {
      this.unlock?.();
      throw new DictOpenError(`open database ${this.file}: ${errText(e)}`);
    }
  }

  private nulForWrite(): boolean {
    if ((this.flags & DICT_FLAG.TRY1NULL) && (this.flags & DICT_FLAG.TRY0NULL)) {
      this.flags &= ~DICT_FLAG.TRY0NULL;
    }
    return (this.flags & DICT_FLAG.TRY1NULL) !== 0;
  }

  /** get - raw lookup in whichever store this table uses. */
  private get(key: Buffer): Uint8Array | undefined {
    if (this.mem) return this.mem.get(key.toString('latin1'))?.value;
    if (this.v1) return this.v1.get(key);
    return this.db!.getBinary(key);
  }

  async lookup(key: string): Promise<string | null> {
    const k = this.fold(key);
    try {
      if (this.flags & DICT_FLAG.TRY1NULL) {
        const v = this.get(enc(k, true));
        if (v !== undefined) {
          this.flags &= ~DICT_FLAG.TRY0NULL;
          return dec(v);
        }
      }
      if (this.flags & DICT_FLAG.TRY0NULL) {
        const v = this.get(enc(k, false));
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
    if (this.v1) throw new DictError(`error writing ${this.file}: table is open read-only`);
    try {
      if (action !== 'replace' && this.get(kb) !== undefined) return this.duplicate(key, action);
      if (this.mem) this.mem.set(kb.toString('latin1'), { key: kb, value: vb });
      else this.db!.putSync(kb, vb);
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
    if (this.v1) throw new DictError(`error writing ${this.file}: table is open read-only`);
    const remove = (b: Buffer): void => {
      if (this.mem) this.mem.delete(b.toString('latin1'));
      else this.db!.removeSync(b);
    };
    try {
      if (this.flags & DICT_FLAG.TRY1NULL && this.get(enc(k, true)) !== undefined) {
        remove(enc(k, true));
        this.flags &= ~DICT_FLAG.TRY0NULL;
        return true;
      }
      if (this.flags & DICT_FLAG.TRY0NULL && this.get(enc(k, false)) !== undefined) {
        remove(enc(k, false));
        this.flags &= ~DICT_FLAG.TRY1NULL;
        return true;
      }
    } catch (e) {
      throw new DictError(`error writing ${this.file}: ${errText(e)}`);
    }
    return false;
  }

  override async *sequence(): AsyncIterable<[string, string]> {
    let entries: Array<[string, string]>;
    try {
      if (this.mem) {
        entries = [...this.mem.values()].sort((a, b) => Buffer.compare(a.key, b.key)).map((e) => [dec(e.key), dec(e.value)]);
      } else if (this.v1) {
        entries = [...this.v1.entries()].map(([k, v]) => [dec(k), dec(v)]);
      } else {
        entries = [];
        for (const { key, value } of this.db!.getRange({ snapshot: true })) entries.push([dec(key as Buffer), dec(value as Buffer)]);
      }
    } catch (e) {
      throw new DictError(`error reading ${this.file}: ${errText(e)}`);
    }
    yield* entries;
  }

  override async close(): Promise<void> {
    if (this.mem) {
      const tmp = this.tmp!;
      const mem = this.mem;
      this.mem = undefined;
      try {
        const data = buildLmdb1([...mem.values()].map((e) => [e.key, e.value]));
        const fd = openSync(tmp, 'w', 0o600);
        try {
          writeSync(fd, data);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        if (this.createMode) {
          chmodSync(tmp, this.createMode.mode);
          if (this.createMode.uid !== undefined && this.createMode.gid !== undefined && process.getuid?.() === 0) {
            chownSync(tmp, this.createMode.uid, this.createMode.gid);
          }
        }
        renameSync(tmp, this.file);
        pendingTemp.delete(tmp);
      } catch (e) {
        rmSync(tmp, { force: true });
        pendingTemp.delete(tmp);
        throw new DictError(`error writing ${this.file}: ${errText(e)}`);
      } finally {
        this.unlock?.();
        this.unlock = undefined;
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

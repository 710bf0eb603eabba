/**
 * dict_lmdb1 - a read-only reader for LMDB data format 1 files, the format
 * of liblmdb 0.9 that C Postfix writes (`postmap lmdb:file` of real
 * Postfix). The `lmdb` package only handles format 2 and crashes on format 1,
 * so tables built by C Postfix are read here, in plain TypeScript, without
 * a lock file (like Postfix's MDB_NOLOCK). Every offset read from the file is
 * bounds-checked; a malformed file is a table error, never a crash or a loop.
 *
 * Layout (64-bit liblmdb): 16-byte page header {pgno u64, pad u16, flags
 * u16, lower u16, upper u16}; meta pages 0 and 1 (the one with the larger
 * txnid wins) hold {magic, version, address, mapsize, dbs[FREE, MAIN] (48
 * bytes each: pad(psize for FREE) u32, flags u16, depth u16, branch, leaf,
 * overflow, entries, root u64), last_pg, txnid}; nodes {lo u16, hi u16,
 * flags u16, ksize u16, key, data}; F_BIGDATA values live on overflow pages.
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const PAGEHDRSZ = 16;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
const MAGIC = 0xbeefc0de;
const P_INVALID = 0xffffffffffffffffn;
const MAX_DEPTH = 32;

export class Lmdb1FormatError extends Error {}

export class Lmdb1Reader {
  private fd: number;
  private readonly fileSize: number;
  private readonly psize: number;
  private readonly root: bigint;
  private readonly depth: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.fileSize = fstatSync(this.fd).size;
      const metas = [0, 1].map((n) => this.readMeta(n));
      const meta = metas.filter((m) => m !== undefined).sort((a, b) => (a!.txnid > b!.txnid ? -1 : 1))[0];
      if (!meta) throw new Lmdb1FormatError('no valid meta page');
      this.psize = meta.psize;
      this.root = meta.root;
      this.depth = meta.depth;
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  private readMeta(n: number): { psize: number; root: bigint; depth: number; txnid: bigint } | undefined {
    // The page size is in the first meta page; meta page 1 starts at psize.
    const head = Buffer.alloc(PAGEHDRSZ + 136);
    let offset = 0;
    if (n === 1) {
      const m0 = this.readAt(0, PAGEHDRSZ + 136);
      const ps = m0.readUInt32LE(PAGEHDRSZ + 24);
      if (ps < 512 || ps > 65536 || ps & (ps - 1)) return undefined;
      offset = ps;
    }
    if (offset + head.length > this.fileSize) return undefined;
    const b = this.readAt(offset, head.length);
    if (b.readUInt32LE(PAGEHDRSZ) !== MAGIC || b.readUInt32LE(PAGEHDRSZ + 4) !== 1) return undefined;
    const psize = b.readUInt32LE(PAGEHDRSZ + 24);
    if (psize < 512 || psize > 65536 || psize & (psize - 1)) return undefined;
    const main = PAGEHDRSZ + 72;
    return {
      psize,
      depth: b.readUInt16LE(main + 6),
      root: b.readBigUInt64LE(main + 40),
      txnid: b.readBigUInt64LE(PAGEHDRSZ + 128),
    };
  }

  private readAt(offset: number, length: number): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.fileSize) throw new Lmdb1FormatError('page beyond end of file');
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n <= 0) throw new Lmdb1FormatError('short read');
      done += n;
    }
    return buf;
  }

  private page(pgno: bigint): Buffer {
    if (pgno >= BigInt(Math.floor(this.fileSize / this.psize))) throw new Lmdb1FormatError(`bad page number ${pgno}`);
    return this.readAt(Number(pgno) * this.psize, this.psize);
  }

  /** nodes - the node offsets of a branch or leaf page, checked. */
  private nodes(p: Buffer): number[] {
    const lower = p.readUInt16LE(12);
    const upper = p.readUInt16LE(14);
    if (lower < PAGEHDRSZ || lower > upper || upper > this.psize) throw new Lmdb1FormatError('bad page bounds');
    const n = (lower - PAGEHDRSZ) >> 1;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const off = p.readUInt16LE(PAGEHDRSZ + 2 * i);
      if (off < upper || off + 8 > this.psize) throw new Lmdb1FormatError('bad node offset');
      const ksize = p.readUInt16LE(off + 6);
      if (off + 8 + ksize > this.psize) throw new Lmdb1FormatError('bad key size');
      out.push(off);
    }
    return out;
  }

  private key(p: Buffer, off: number): Buffer {
    return p.subarray(off + 8, off + 8 + p.readUInt16LE(off + 6));
  }

  private value(p: Buffer, off: number): Buffer {
    const flags = p.readUInt16LE(off + 4);
    const size = p.readUInt16LE(off) | (p.readUInt16LE(off + 2) << 16);
    const start = off + 8 + p.readUInt16LE(off + 6);
    if (flags & (F_SUBDATA | F_DUPDATA)) throw new Lmdb1FormatError('sub-databases are not supported');
    if (flags & F_BIGDATA) {
      if (start + 8 > this.psize) throw new Lmdb1FormatError('bad overflow pointer');
      const pgno = p.readBigUInt64LE(start);
      const first = this.page(pgno);
      if (!(first.readUInt16LE(10) & P_OVERFLOW)) throw new Lmdb1FormatError('not an overflow page');
      const offset = Number(pgno) * this.psize + PAGEHDRSZ;
      return this.readAt(offset, size >>> 0);
    }
    if (start + size > this.psize) throw new Lmdb1FormatError('bad value size');
    return Buffer.from(p.subarray(start, start + size));
  }

  /** get - the value stored under the exact key bytes, or undefined. */
  get(key: Buffer): Buffer | undefined {
    if (this.root === P_INVALID) return undefined;
    let pgno = this.root;
    for (let level = 0; level <= MAX_DEPTH; level++) {
      const p = this.page(pgno);
      const flags = p.readUInt16LE(10);
      const nodes = this.nodes(p);
      if (flags & P_LEAF) {
        for (const off of nodes) if (cmp(this.key(p, off), key) === 0) return this.value(p, off);
        return undefined;
      }
      if (!(flags & P_BRANCH) || nodes.length === 0) throw new Lmdb1FormatError('bad page type');
      // the last child whose key <= search key; node 0 has an implicit lowest key
      let child = 0;
      for (let i = 1; i < nodes.length; i++) {
        if (cmp(this.key(p, nodes[i]), key) <= 0) child = i;
        else break;
      }
      pgno = this.childPgno(p, nodes[child]);
    }
    throw new Lmdb1FormatError('tree too deep');
  }

  private childPgno(p: Buffer, off: number): bigint {
    return BigInt(p.readUInt16LE(off)) | (BigInt(p.readUInt16LE(off + 2)) << 16n) | (BigInt(p.readUInt16LE(off + 4)) << 32n);
  }

  /** entries - every (key, value) pair in key order. */
  *entries(): Generator<[Buffer, Buffer]> {
    if (this.root === P_INVALID) return;
    const walk = function* (this: Lmdb1Reader, pgno: bigint, level: number): Generator<[Buffer, Buffer]> {
      if (level > MAX_DEPTH || level > this.depth + 1) throw new Lmdb1FormatError('tree too deep');
      const p = this.page(pgno);
      const flags = p.readUInt16LE(10);
      const nodes = this.nodes(p);
      if (flags & P_LEAF) {
        for (const off of nodes) yield [Buffer.from(this.key(p, off)), this.value(p, off)];
        return;
      }
      if (!(flags & P_BRANCH)) throw new Lmdb1FormatError('bad page type');
      for (const off of nodes) yield* walk.call(this, this.childPgno(p, off), level + 1);
    };
    yield* walk.call(this, this.root, 1);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** cmp - LMDB's default key order (mdb_cmp_memn): bytes, then length. */
function cmp(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  const c = Buffer.compare(a.subarray(0, n), b.subarray(0, n));
  return c !== 0 ? c : a.length - b.length;
}

/** lmdbFormatVersion - 1 or 2 for LMDB files, undefined for anything else (or an empty file). */
export function lmdbFormatVersion(head: Buffer): number | undefined {
  if (head.length >= 24 && head.readUInt32LE(16) === MAGIC) return head.readUInt32LE(20);
  if (head.length >= 32 && head.readUInt32LE(24) === MAGIC) return head.readUInt32LE(28);
  return undefined;
}

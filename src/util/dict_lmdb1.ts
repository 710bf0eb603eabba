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
const WHOLE_FILE_LIMIT = 64 * 1024 * 1024;

export class Lmdb1FormatError extends Error {}

export class Lmdb1Reader {
  private fd: number;
  private fileSize = 0;
  private psize = 0;
  private root = P_INVALID;
  private depth = 0;
  private stamp = '';
  private checked = false;
  /** the whole file, for tables up to WHOLE_FILE_LIMIT bytes */
  private whole?: Buffer;
  /** recently read pages; dropped whenever the file's size or mtime changes */
  private readonly cache = new Map<bigint, Buffer>();

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.refresh();
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  /** refresh - (re)read the meta pages when the file changed (C Postfix may update it in place). */
  private refresh(): void {
    // At most one fstat per event-loop turn: a burst of lookups shares it.
    if (this.checked) return;
    this.checked = true;
    setImmediate(() => {
      this.checked = false;
    }).unref();
    const st = fstatSync(this.fd);
    const stamp = `${st.size}:${st.mtimeMs}`;
    if (stamp === this.stamp) return;
    this.cache.clear();
    this.whole = undefined;
    this.fileSize = st.size;
    // Small tables (the usual case) are read whole: lookups then touch memory only.
    if (st.size <= WHOLE_FILE_LIMIT) this.whole = this.readAt(0, st.size);
    const metas = [0, 1].map((n) => this.readMeta(n));
    const meta = metas.filter((m) => m !== undefined).sort((a, b) => (a!.txnid > b!.txnid ? -1 : 1))[0];
    if (!meta) throw new Lmdb1FormatError('no valid meta page');
    this.psize = meta.psize;
    this.root = meta.root;
    this.depth = meta.depth;
    this.stamp = stamp;
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
    if (this.whole) return this.whole.subarray(offset, offset + length);
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
    if (pgno < 2n || pgno >= BigInt(Math.floor(this.fileSize / this.psize))) throw new Lmdb1FormatError(`bad page number ${pgno}`);
    if (this.whole) {
      const at = Number(pgno) * this.psize;
      return this.whole.subarray(at, at + this.psize);
    }
    const hit = this.cache.get(pgno);
    if (hit) return hit;
    const p = this.readAt(Number(pgno) * this.psize, this.psize);
    if (this.cache.size >= 256) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(pgno, p);
    return p;
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

  /** nodeAt - the checked offset of node i of a page with n nodes. */
  private nodeAt(p: Buffer, i: number, upper: number): number {
    const off = p.readUInt16LE(PAGEHDRSZ + 2 * i);
    if (off < upper || off + 8 > this.psize || off + 8 + p.readUInt16LE(off + 6) > this.psize) {
      throw new Lmdb1FormatError('bad node offset');
    }
    return off;
  }

  /** get - the value stored under the exact key bytes, or undefined (binary search per page). */
  get(key: Buffer): Buffer | undefined {
    this.refresh();
    if (this.root === P_INVALID) return undefined;
    let pgno = this.root;
    for (let level = 0; level <= MAX_DEPTH; level++) {
      const p = this.page(pgno);
      const flags = p.readUInt16LE(10);
      const lower = p.readUInt16LE(12);
      const upper = p.readUInt16LE(14);
      if (lower < PAGEHDRSZ || lower > upper || upper > this.psize) throw new Lmdb1FormatError('bad page bounds');
      const n = (lower - PAGEHDRSZ) >> 1;
      if (flags & P_LEAF) {
        let lo = 0;
        let hi = n - 1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          const off = this.nodeAt(p, mid, upper);
          const c = cmpAt(p, off + 8, p.readUInt16LE(off + 6), key);
          if (c === 0) return this.value(p, off);
          if (c < 0) lo = mid + 1;
          else hi = mid - 1;
        }
        return undefined;
      }
      if (!(flags & P_BRANCH) || n === 0) throw new Lmdb1FormatError('bad page type');
      // the last child whose key <= search key; node 0 has an implicit lowest key
      let lo = 1;
      let hi = n - 1;
      let child = 0;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const off = this.nodeAt(p, mid, upper);
        if (cmpAt(p, off + 8, p.readUInt16LE(off + 6), key) <= 0) {
          child = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      pgno = this.childPgno(p, this.nodeAt(p, child, upper));
    }
    throw new Lmdb1FormatError('tree too deep');
  }

  private childPgno(p: Buffer, off: number): bigint {
    return BigInt(p.readUInt16LE(off)) | (BigInt(p.readUInt16LE(off + 2)) << 16n) | (BigInt(p.readUInt16LE(off + 4)) << 32n);
  }

  /** entries - every (key, value) pair in key order. */
  *entries(): Generator<[Buffer, Buffer]> {
    this.refresh();
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

/** cmpAt - compare the key stored at p[start, start+len) with key, in LMDB order. */
function cmpAt(p: Buffer, start: number, len: number, key: Buffer): number {
  const n = len < key.length ? len : key.length;
  for (let i = 0; i < n; i++) {
    const d = p[start + i] - key[i];
    if (d !== 0) return d;
  }
  return len - key.length;
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

const P_META = 0x08;
const NODESIZE = 8;
/** liblmdb 0.9 defaults for 4096-byte pages */
export const LMDB1_PAGE_SIZE = 4096;
export const LMDB1_MAX_KEY = 511;
const NODEMAX = (((LMDB1_PAGE_SIZE - PAGEHDRSZ) / 2) & -2) - 2;
const even = (n: number): number => n + (n & 1);

/**
 * buildLmdb1 - the bytes of an LMDB data format 1 file holding the given
 * entries (any order; sorted here), as liblmdb 0.9 would lay them out:
 * two meta pages, leaf pages filled in key order, overflow pages for large
 * values, branch levels up to one root. C Postfix reads the result.
 */
export function buildLmdb1(input: Array<[Buffer, Buffer]>, mapSize = 16 * 1024 * 1024): Buffer {
  const psize = LMDB1_PAGE_SIZE;
  const entries = [...input].sort((a, b) => cmp(a[0], b[0]));
  for (let i = 1; i < entries.length; i++) {
    if (cmp(entries[i - 1][0], entries[i][0]) === 0) throw new Lmdb1FormatError('duplicate key');
  }
  const pages: Buffer[] = [Buffer.alloc(psize), Buffer.alloc(psize)];
  const newPage = (flags: number): { pgno: number; buf: Buffer; lower: number; upper: number } => {
    const buf = Buffer.alloc(psize);
    const pgno = pages.length;
    pages.push(buf);
    buf.writeBigUInt64LE(BigInt(pgno), 0);
    buf.writeUInt16LE(flags, 10);
    return { pgno, buf, lower: PAGEHDRSZ, upper: psize };
  };
  type Open = ReturnType<typeof newPage>;
  const close = (p: Open): void => {
    p.buf.writeUInt16LE(p.lower, 12);
    p.buf.writeUInt16LE(p.upper, 14);
  };
  const addNode = (p: Open, size: number): number => {
    const off = p.upper - size;
    p.buf.writeUInt16LE(off, p.lower);
    p.lower += 2;
    p.upper = off;
    return off;
  };
  let leafPages = 0;
  let overflowPages = 0;
  let branchPages = 0;
  // Leaves: (first key, pgno) of each.
  let level: Array<{ key: Buffer; pgno: number }> = [];
  let leaf: Open | undefined;
  for (const [key, value] of entries) {
    if (key.length > LMDB1_MAX_KEY || key.length === 0) {
      throw new Lmdb1FormatError('MDB_BAD_VALSIZE: Unsupported size of key/DB name/data, or wrong DUPFIXED size');
    }
    const big = NODESIZE + key.length + value.length > NODEMAX;
    const nodeSize = even(NODESIZE + key.length + (big ? 8 : value.length));
    if (!leaf || leaf.upper - leaf.lower < nodeSize + 2) {
      if (leaf) close(leaf);
      leaf = newPage(P_LEAF);
      leafPages++;
      level.push({ key, pgno: leaf.pgno });
    }
    let ovPgno = 0;
    if (big) {
      const count = Math.floor((PAGEHDRSZ - 1 + value.length) / psize) + 1;
      const first = newPage(P_OVERFLOW);
      first.buf.writeUInt32LE(count, 12);
      ovPgno = first.pgno;
      for (let n = 1; n < count; n++) pages.push(Buffer.alloc(psize));
      overflowPages += count;
      const all = Buffer.alloc(count * psize);
      first.buf.copy(all, 0, 0, PAGEHDRSZ);
      value.copy(all, PAGEHDRSZ);
      for (let n = 0; n < count; n++) pages[ovPgno + n] = all.subarray(n * psize, (n + 1) * psize);
    }
    const off = addNode(leaf, nodeSize);
    leaf.buf.writeUInt16LE(value.length & 0xffff, off);
    leaf.buf.writeUInt16LE((value.length >>> 16) & 0xffff, off + 2);
    leaf.buf.writeUInt16LE(big ? F_BIGDATA : 0, off + 4);
    leaf.buf.writeUInt16LE(key.length, off + 6);
    key.copy(leaf.buf, off + 8);
    if (big) leaf.buf.writeBigUInt64LE(BigInt(ovPgno), off + 8 + key.length);
    else value.copy(leaf.buf, off + 8 + key.length);
  }
  if (leaf) close(leaf);
  let depth = level.length ? 1 : 0;
  // Branch levels: greedy fill, and never leave a branch page with one child.
  while (level.length > 1) {
    const groups: Array<typeof level> = [[]];
    let room = psize - PAGEHDRSZ;
    for (const child of level) {
      const size = even(NODESIZE + (groups[groups.length - 1].length === 0 ? 0 : child.key.length)) + 2;
      const cur = groups[groups.length - 1];
      if (cur.length > 0 && room < even(NODESIZE + child.key.length) + 2) {
        groups.push([child]);
        room = psize - PAGEHDRSZ - (even(NODESIZE) + 2);
        continue;
      }
      cur.push(child);
      room -= size;
    }
    if (groups.length > 1 && groups[groups.length - 1].length === 1) {
      groups[groups.length - 1].unshift(groups[groups.length - 2].pop()!);
    }
    const next: typeof level = [];
    for (const group of groups) {
      const p = newPage(P_BRANCH);
      branchPages++;
      group.forEach((child, i) => {
        const key = i === 0 ? Buffer.alloc(0) : child.key;
        const off = addNode(p, even(NODESIZE + key.length));
        p.buf.writeUInt16LE(child.pgno & 0xffff, off);
        p.buf.writeUInt16LE((child.pgno >>> 16) & 0xffff, off + 2);
        p.buf.writeUInt16LE(Math.floor(child.pgno / 2 ** 32) & 0xffff, off + 4);
        p.buf.writeUInt16LE(key.length, off + 6);
        key.copy(p.buf, off + 8);
      });
      close(p);
      next.push({ key: group[0].key, pgno: p.pgno });
    }
    level = next;
    depth++;
  }
  const root = level.length ? BigInt(level[0].pgno) : P_INVALID;
  for (const n of [0, 1]) {
    const m = pages[n];
    m.writeBigUInt64LE(BigInt(n), 0);
    m.writeUInt16LE(P_META, 10);
    const o = PAGEHDRSZ;
    m.writeUInt32LE(MAGIC, o);
    m.writeUInt32LE(1, o + 4);
    m.writeBigUInt64LE(BigInt(Math.max(mapSize, pages.length * psize)), o + 16);
    // FREE_DBI
    m.writeUInt32LE(psize, o + 24);
    m.writeBigUInt64LE(P_INVALID, o + 24 + 40);
    // MAIN_DBI
    const d = o + 72;
    m.writeUInt16LE(depth, d + 6);
    m.writeBigUInt64LE(BigInt(branchPages), d + 8);
    m.writeBigUInt64LE(BigInt(leafPages), d + 16);
    m.writeBigUInt64LE(BigInt(overflowPages), d + 24);
    m.writeBigUInt64LE(BigInt(entries.length), d + 32);
    m.writeBigUInt64LE(root, d + 40);
    m.writeBigUInt64LE(BigInt(pages.length - 1), o + 120);
    m.writeBigUInt64LE(1n, o + 128);
  }
  return Buffer.concat(pages);
}

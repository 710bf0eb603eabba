/**
 * queue_file - read queue file records from a file with seeks, in the order
 * Postfix programs read them (Postfix global/record.c rec_get_raw(),
 * rec_goto(); util/vstream.c for the buffered, seekable reader).
 *
 * RecordFile wraps one open file descriptor (a queue file, or stdin for
 * postcat) and returns one record at a time. With REC_FLAG_FOLLOW_PTR it
 * jumps to the target of `p` pointer records (bounded: at most 10000 reverse
 * jumps, as Postfix), with REC_FLAG_SKIP_DTXT it hides `w` padding, with
 * REC_FLAG_SEEK_END it stops at the `E` record. Malformed input gives
 * REC_TYPE_ERROR and the warning text Postfix logs; nothing here throws on
 * bad file content. Reads are synchronous: the users (postcat, showq,
 * postsuper, the postqueue fallback) read one small file at a time.
 */

import { closeSync, constants as FS, fstatSync, openSync, readSync } from 'node:fs';
import { msg } from '../util/msg.js';
import { REC, REC_TYPE_EOF, REC_TYPE_ERROR } from './rec_type.js';

export const REC_FLAG_NONE = 0;
export const REC_FLAG_FOLLOW_PTR = 1;
export const REC_FLAG_SKIP_DTXT = 2;
export const REC_FLAG_SEEK_END = 4;
export const REC_FLAG_DEFAULT = REC_FLAG_FOLLOW_PTR | REC_FLAG_SKIP_DTXT | REC_FLAG_SEEK_END;

/** rec_goto(): reverse jumps allowed per file before it is considered a loop. */
export const REVERSE_JUMP_LIMIT = 10000;

/** Largest payload read from a non-seekable input (a seekable one is bounded by its size). */
const MAX_STREAM_RECORD = 64 * 1024 * 1024;

const BUF_SIZE = 64 * 1024;

export interface RecordResult {
  /** record type byte, or REC_TYPE_EOF / REC_TYPE_ERROR */
  type: number;
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

export class RecordFile {
  readonly path: string;
  private fd: number;
  private readonly seekable: boolean;
  private readonly ownFd: boolean;
  private buf = Buffer.allocUnsafe(BUF_SIZE);
  /** file offset of buf[0] */
  private bufStart = 0;
  private bufLen = 0;
  /** read position inside buf */
  private pos = 0;
  private eofSeen = false;
  /** rec_goto() loop protection */
  private savedOffset = 0;
  private reverseCount = 0;
  /** errno text of the last failed seek (for callers' messages) */
  lastError = '';

  constructor(fd: number, path: string, opts: { seekable?: boolean; ownFd?: boolean } = {}) {
    this.fd = fd;
    this.path = path;
    this.ownFd = opts.ownFd ?? true;
    if (opts.seekable !== undefined) {
      this.seekable = opts.seekable;
    } else {
      try {
        this.seekable = fstatSync(fd).isFile();
      } catch {
        this.seekable = false;
      }
    }
  }

  /** open - open a file read-only; throws the open error (ENOENT, EACCES ...). */
  static open(path: string, label = path, flags: number = FS.O_RDONLY): RecordFile {
    const fd = openSync(path, flags);
    return new RecordFile(fd, label, { ownFd: true });
  }

  close(): void {
    if (this.fd >= 0 && this.ownFd) closeSync(this.fd);
    this.fd = -1;
  }

  /** fileDescriptor - the underlying descriptor (for fstat, fchmod). */
  get fileDescriptor(): number {
    return this.fd;
  }

  /** tell - the file offset of the next byte to be read. */
  tell(): number {
    return this.bufStart + this.pos;
  }

  private fill(): boolean {
    if (this.pos < this.bufLen) return true;
    if (this.eofSeen && !this.seekable) return false;
    const start = this.bufStart + this.bufLen;
    const n = readSync(this.fd, this.buf, 0, this.buf.length, this.seekable ? start : null);
    this.bufStart = start;
    this.bufLen = n;
    this.pos = 0;
    if (n === 0) {
      this.eofSeen = true;
      return false;
    }
    return true;
  }

  /** getc - the next byte, or -1 at end of file. */
  getc(): number {
    if (!this.fill()) return -1;
    return this.buf[this.pos++];
  }

  /** ungetc - push back the byte just read. */
  ungetc(): void {
    if (this.pos > 0) this.pos--;
  }

  /** read - exactly n bytes, or null at a premature end of file. */
  read(n: number): Buffer | null {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      if (!this.fill()) return null;
      const take = Math.min(n - got, this.bufLen - this.pos);
      this.buf.copy(out, got, this.pos, this.pos + take);
      this.pos += take;
      got += take;
    }
    return out;
  }

  /** size - the file size (seekable files only; Infinity otherwise). */
  size(): number {
    if (!this.seekable) return Infinity;
    try {
      return fstatSync(this.fd).size;
    } catch {
      return Infinity;
    }
  }

  /** seek - go to an absolute offset; false (lastError set) when the input cannot seek there. */
  seek(offset: number): boolean {
    if (offset < 0 || !Number.isSafeInteger(offset)) {
      this.lastError = 'Invalid argument';
      return false;
    }
    if (offset >= this.bufStart && offset <= this.bufStart + this.bufLen) {
      this.pos = offset - this.bufStart;
      return true;
    }
    if (!this.seekable) {
      this.lastError = 'Illegal seek';
      return false;
    }
    this.bufStart = offset;
    this.bufLen = 0;
    this.pos = 0;
    this.eofSeen = false;
    return true;
  }

  /** seekEnd - go to the end of the file. */
  seekEnd(): boolean {
    if (!this.seekable) {
      while (this.fill()) this.pos = this.bufLen;
      return true;
    }
    return this.seek(this.size());
  }

  /**
   * goto - follow a pointer record's payload (rec_goto()). Offset 0 is a
   * dummy pointer. Returns 0, or REC_TYPE_ERROR after a warning.
   */
  goto(payload: string): number {
    const text = payload.replace(/^\s+/, '');
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
      msg.warn(`${this.path}: malformed pointer record value: ${text}`);
      return REC_TYPE_ERROR;
    }
    const offset = Number(text);
    if (offset === 0) return 0;
    if (offset <= this.savedOffset && ++this.reverseCount > REVERSE_JUMP_LIMIT) {
      msg.warn(`${this.path}: too many reverse jump records`);
      return REC_TYPE_ERROR;
    }
    if (!this.seek(offset)) {
      msg.warn(`${this.path}: seek error after pointer record: ${this.lastError}`);
      return REC_TYPE_ERROR;
    }
    this.savedOffset = offset;
    return 0;
  }

  /**
   * getRaw - the next record (rec_get_raw()). maxsize 0 means no limit
   * other than the file size. Flags: REC_FLAG_*.
   */
  getRaw(flags = REC_FLAG_DEFAULT, maxsize = 0): RecordResult {
    for (;;) {
      const type = this.getc();
      if (type < 0) return { type: REC_TYPE_EOF, data: EMPTY };
      let len = 0;
      let mult = 1;
      for (let shift = 0; ; shift += 7) {
        if (shift >= 32) {
          msg.warn(`${this.path}: too many length bits, record type ${type}`);
          return { type: REC_TYPE_ERROR, data: EMPTY };
        }
        const b = this.getc();
        if (b < 0) {
          msg.warn(`${this.path}: unexpected EOF reading length, record type ${type}`);
          return { type: REC_TYPE_ERROR, data: EMPTY };
        }
        len += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (len > 0x7fffffff || (maxsize > 0 && len > maxsize)) {
        msg.warn(`${this.path}: illegal length ${len}, record type ${type}`);
        return { type: REC_TYPE_ERROR, data: EMPTY };
      }
      const room = this.seekable ? this.size() - this.tell() : MAX_STREAM_RECORD;
      const data = len <= room ? this.read(len) : null;
      if (data === null) {
        msg.warn(`${this.path}: unexpected EOF in data, record type ${type} length ${len}`);
        return { type: REC_TYPE_ERROR, data: EMPTY };
      }
      if (flags === 0) return { type, data };
      if (type === REC.PTR && (flags & REC_FLAG_FOLLOW_PTR) !== 0) {
        if (this.goto(data.toString('latin1')) === REC_TYPE_ERROR) return { type: REC_TYPE_ERROR, data: EMPTY };
        continue;
      }
      if (type === REC.DTXT && (flags & REC_FLAG_SKIP_DTXT) !== 0) continue;
      if (type === REC.END && (flags & REC_FLAG_SEEK_END) !== 0 && !this.seekEnd()) {
        msg.warn(`${this.path}: seek error after reading END record: ${this.lastError}`);
        return { type: REC_TYPE_ERROR, data: EMPTY };
      }
      return { type, data };
    }
  }
}

/** asctimeLocal - C asctime(localtime(t)) without the newline: "Tue Nov 24 22:05:49 2026". */
export function asctimeLocal(epochSeconds: number): string {
  const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  const fmt = (wday: number, mon: number, mday: number, h: number, m: number, sec: number, year: number) =>
    `${DAYS[wday]} ${MONTHS[mon]} ${String(mday).padStart(2, ' ')} ${p2(h)}:${p2(m)}:${p2(sec)} ${year}`;
  const d = new Date(epochSeconds * 1000);
  if (!Number.isNaN(d.getTime())) {
    return fmt(d.getDay(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getFullYear());
  }
  // Beyond JavaScript's Date range (a damaged record): proleptic Gregorian arithmetic, as glibc does.
  if (!Number.isFinite(epochSeconds) || Math.abs(epochSeconds) > 6.7e16) return '??? ??? ?? ??:??:?? ????';
  const edge = new Date(epochSeconds > 0 ? 8.64e15 : -8.64e15);
  const t = Math.trunc(epochSeconds) - edge.getTimezoneOffset() * 60;
  const days = Math.floor(t / 86400);
  const rem = t - days * 86400;
  // civil_from_days (H. Hinnant)
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const mday = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const mon = mp < 10 ? mp + 2 : mp - 10;
  const year = yoe + era * 400 + (mon <= 1 ? 1 : 0);
  const wday = (((days + 4) % 7) + 7) % 7;
  return fmt(wday, mon, mday, Math.floor(rem / 3600), Math.floor((rem % 3600) / 60), rem % 60, year);
}

/** atol - C atol(): optional spaces, sign, digits; 0 when there are none. */
export function atol(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * printable - Postfix printable() for text that becomes a JS string:
 * printable ASCII stays; with SMTPUTF8 (util_utf8_enable) well-formed UTF-8
 * characters stay; every other byte becomes `?`. Like the C string it works
 * on, the text ends at the first NUL. (Postfix keeps any lead byte 194..254
 * with all the continuation bytes after it, even when they do not form a
 * character; a JS string cannot hold such bytes, so they become `?` here.
 * printableBytes() has Postfix's exact byte semantics.)
 */
export function printable(data: Buffer, utf8: boolean): string {
  const nul = data.indexOf(0);
  const b = Buffer.from(nul < 0 ? data : data.subarray(0, nul));
  for (let i = 0; i < b.length; i++) {
    const ch = b[i];
    if (ch >= 0x20 && ch < 0x7f) continue;
    if (utf8 && ch >= 0xc2 && ch <= 0xf4) {
      const n = ch < 0xe0 ? 2 : ch < 0xf0 ? 3 : 4;
      let ok = i + n <= b.length;
      for (let k = 1; ok && k < n; k++) ok = b[i + k] >= 0x80 && b[i + k] < 0xc0;
      if (ok) {
        const text = b.subarray(i, i + n).toString('utf8');
        if (text.length > 0 && !text.includes('\ufffd')) {
          i += n - 1;
          continue;
        }
      }
    }
    b[i] = 0x3f;
  }
  return utf8 ? b.toString('utf8') : b.toString('latin1');
}

/** printableBytes - printable() as bytes (for byte-exact output). */
export function printableBytes(data: Buffer, utf8: boolean): Buffer {
  const nul = data.indexOf(0);
  const b = Buffer.from(nul < 0 ? data : data.subarray(0, nul));
  for (let i = 0; i < b.length; i++) {
    const ch = b[i];
    if (ch >= 0x20 && ch < 0x7f) continue;
    if (utf8 && ch >= 194 && ch <= 254 && i + 1 < b.length && b[i + 1] >= 128 && b[i + 1] < 192) {
      while (i + 1 < b.length && b[i + 1] >= 128 && b[i + 1] < 192) i++;
      continue;
    }
    b[i] = 0x3f;
  }
  return b;
}

const SPACE = ' \t\n\v\f\r';

/** splitNameval - Postfix split_nameval(): "name = value" (ISSPACE trimmed); an error text or the pair. */
export function splitNameval(text: string): { name: string; value: string } | string {
  let np = 0;
  while (np < text.length && SPACE.includes(text[np])) np++;
  if (np >= text.length || text[np] === '=') return 'missing attribute name';
  let ep = np;
  while (ep < text.length && !SPACE.includes(text[ep]) && text[ep] !== '=') ep++;
  let cp = ep;
  while (cp < text.length && SPACE.includes(text[cp])) cp++;
  if (text[cp] !== '=') return "missing '=' after attribute name";
  let vp = cp + 1;
  while (vp < text.length && SPACE.includes(text[vp])) vp++;
  let end = text.length;
  while (end > vp && SPACE.includes(text[end - 1])) end--;
  return { name: text.slice(np, ep), value: text.slice(vp, end) };
}

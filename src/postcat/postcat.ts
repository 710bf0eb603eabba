/**
 * postcat - show Postfix queue file contents (Postfix postcat(1)).
 *
 * postcat [-bdehoqrv] [-c config_dir] [-s offset] [files...]
 *
 * Prints queue file records in human-readable form: the envelope (-e), the
 * message header (-h) and body (-b); all three by default. -q takes the
 * arguments as queue IDs and searches maildrop, incoming, active, deferred,
 * hold and saved. -o prints record offsets, -d decimal record types, -r keeps
 * file order (with -v, which exposes pointer and padding records), -s starts
 * at an offset. Output is byte-for-byte that of Postfix 3.7 postcat,
 * including its header/body state machine and its warnings for damaged files.
 * It never writes to a queue file.
 */

import { basename } from 'node:path';
import { writeSync } from 'node:fs';
import { msg, msgAddOutput, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { MailConfig } from '../global/mail_conf.js';
import { strerror } from '../util/msg_logwriter.js';
import { REC, REC_TYPE_EOF, REC_TYPE_ERROR, REC_TYPE_ENVELOPE, REC_TYPE_CONT_NAME, recTypeName } from '../global/rec_type.js';
import { RecordFile, REC_FLAG_DEFAULT, REC_FLAG_NONE, asctimeLocal, atol, printableBytes, splitNameval } from '../global/queue_file.js';
import { MAIL_QUEUE, mailQueueIdOk, mailQueuePath, mailQueueRelPath } from '../global/mail_queue.js';
import { Getopt } from '../util/getopt.js';
import { smtputf8Enabled } from '../showq/showq.js';

export const PC_FLAG_SEARCH_QUEUE = 1 << 0;
export const PC_FLAG_PRINT_OFFSET = 1 << 1;
export const PC_FLAG_PRINT_ENV = 1 << 2;
export const PC_FLAG_PRINT_HEADER = 1 << 3;
export const PC_FLAG_PRINT_BODY = 1 << 4;
export const PC_FLAG_PRINT_RTYPE_DEC = 1 << 5;
export const PC_FLAG_RAW = 1 << 7;
const PC_MASK_PRINT_TEXT = PC_FLAG_PRINT_HEADER | PC_FLAG_PRINT_BODY;
export const PC_MASK_PRINT_ALL = PC_FLAG_PRINT_ENV | PC_MASK_PRINT_TEXT;

const STATE_ENV = 0;
const STATE_HEADER = 1;
const STATE_BODY = 2;

/** The queues that postcat -q searches, in order. */
const SEARCH_QUEUES = [MAIL_QUEUE.MAILDROP, MAIL_QUEUE.INCOMING, MAIL_QUEUE.ACTIVE, MAIL_QUEUE.DEFERRED, MAIL_QUEUE.HOLD, MAIL_QUEUE.SAVED];

/** Thrown by msg.fatal() inside postcatStream() when a caller wants to catch it. */
export class PostcatFatal extends Error {}

/**
 * Output - stdout with Postfix's flush points. postcat flushes after each
 * printed record and marker (not after the ENVELOPE heading), so a fatal
 * error loses only what came after the last flush; diagnostics go out after
 * the committed output, in the same order as with Postfix.
 */
export class Output {
  private chunks: Buffer[] = [];
  private size = 0;
  private committed = 0;
  constructor(private readonly sink: (data: Buffer) => void) {}
  write(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.chunks.push(b);
    this.size += b.length;
    if (this.size >= 65536) this.flush();
  }
  /** commit - a Postfix vstream_fflush() point: what is buffered now will survive a fatal error. */
  commit(): void {
    this.committed = this.chunks.length;
  }
  /** flushCommitted - write what was committed; keep the rest buffered. */
  flushCommitted(): void {
    if (this.committed === 0) return;
    const out = this.chunks.splice(0, this.committed);
    this.committed = 0;
    const all = Buffer.concat(out);
    this.size -= all.length;
    this.sink(all);
  }
  /** flush - write everything (normal end, full buffer). */
  flush(): void {
    if (this.size === 0) return;
    const all = Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    this.committed = 0;
    this.sink(all);
  }
}

/** isHeader - length of the header name when the text starts a header ("Name:" with optional space before the colon), else 0 (is_header()). */
export function isHeader(data: Buffer): number {
  let len = 0;
  let state = 0; // 0 INIT, 1 IN_CHAR, 2 IN_CHAR_SPACE
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === 0x3a) return state !== 0 ? len : 0;
    if (c === 0x20 || c === 0x09) {
      if (state === 1) state = 2;
      if (state === 2) continue;
      return 0;
    }
    if (c === 0 || c > 0x7f || c < 0x20 || c === 0x7f) return 0;
    if (state === 0) state = 1;
    if (state === 1) {
      len++;
      continue;
    }
    return 0;
  }
  return 0;
}

const latin1 = (b: Buffer) => b.toString('latin1');

/** cstr - what C's "%s" prints of a record payload: the bytes before the first NUL. */
function cstr(b: Buffer): Buffer {
  const nul = b.indexOf(0);
  return nul < 0 ? b : b.subarray(0, nul);
}

/**
 * postcatStream - print one queue file (postcat()). `fatal` is called for
 * Postfix's fatal conditions (record read errors, bad pointers, seek errors).
 */
export function postcatStream(fp: RecordFile, out: Output, flags: number, startOffset: number, fatal: (text: string) => never): void {
  let prevType = 0;
  const recFlags = msgVerbose ? REC_FLAG_NONE : REC_FLAG_DEFAULT;
  const path = fp.path;

  if (startOffset > 0) {
    if (!fp.seek(startOffset)) {
      // Non-seekable input (stdin): absorb the bytes.
      for (let off = 0; off < startOffset; off++) {
        if (fp.getc() < 0) fatal(`${path}: skip ${startOffset} bytes failed after ${off}`);
      }
    }
  }
  if (startOffset === 0) {
    const ch = fp.getc();
    if (ch >= 0) {
      if (!REC_TYPE_ENVELOPE.includes(String.fromCharCode(ch))) {
        msg.warn(`${path}: input is not a valid queue file`);
        return;
      }
      fp.ungetc();
    }
  }
  if (startOffset === 0 && flags & PC_FLAG_PRINT_ENV) out.write(`*** ENVELOPE RECORDS ${path} ***\n`);
  let state = STATE_ENV;
  let doPrint = flags & PC_FLAG_PRINT_ENV;
  let dataOffset = -1;
  let dataSize = -1;
  let offset = 0;

  const prefix = (type: number) => {
    if (flags & PC_FLAG_PRINT_OFFSET) out.write(String(offset).padStart(9, ' ') + ' ');
    if (flags & PC_FLAG_PRINT_RTYPE_DEC) out.write(String(type).padStart(3, ' ') + ' ');
  };
  const marker = (type: number, text: string) => {
    prefix(type);
    out.write(`*** ${text} ${path} ***\n`);
    out.commit();
  };
  const printRecord = (type: number, value: Buffer) => {
    prefix(type);
    out.write(`${recTypeName(type)}: `);
    out.write(cstr(value));
    out.write('\n');
    out.commit();
  };
  const warn = (text: string) => msg.warn(text);
  const seekOrDie = (to: number) => {
    if (!fp.seek(to)) fatal(`seek error: ${fp.lastError}`);
  };

  for (;;) {
    offset = fp.tell();
    const rec = fp.getRaw(recFlags, 0);
    let type = rec.type;
    const buf = rec.data;
    if (type === REC_TYPE_ERROR) fatal('record read error');
    if (type === REC_TYPE_EOF) break;

    if (type === REC.CONT || type === REC.NORM) {
      // Postfix: "This is wrong when the message starts with whitespace."
      if (
        state === STATE_HEADER &&
        flags & PC_MASK_PRINT_TEXT &&
        prevType !== REC.CONT &&
        !(isHeader(buf) || buf[0] === 0x20 || buf[0] === 0x09)
      ) {
        state = STATE_BODY;
        doPrint = flags & PC_FLAG_PRINT_BODY;
        if (doPrint === 0 && (flags & PC_FLAG_PRINT_ENV) === 0) break;
        if (doPrint === 0 && flags & PC_FLAG_PRINT_ENV && dataOffset >= 0 && dataSize >= 0) seekOrDie(dataOffset + dataSize);
      }
    } else if (type === REC.MESG) {
      if (state !== STATE_ENV) warn(`${path}: out-of-order message content marker`);
      if (flags & PC_FLAG_PRINT_ENV) marker(type, 'MESSAGE CONTENTS');
      if ((flags & PC_MASK_PRINT_TEXT) === 0 && dataOffset >= 0 && dataSize >= 0) seekOrDie(dataOffset + dataSize);
      state = STATE_HEADER;
      doPrint = flags & PC_FLAG_PRINT_HEADER;
      continue;
    } else if (type === REC.XTRA) {
      if (state !== STATE_HEADER && state !== STATE_BODY) warn(`${path}: out-of-order extracted segment marker`);
      if (doPrint && prevType === REC.CONT) out.write('\n');
      if (flags & PC_FLAG_PRINT_ENV) marker(type, 'HEADER EXTRACTED');
      state = STATE_ENV;
      doPrint = flags & PC_FLAG_PRINT_ENV;
      if (doPrint === 0) break;
      continue;
    } else if (type === REC.END) {
      if (state !== STATE_ENV) warn(`${path}: out-of-order message end marker`);
      if (flags & PC_FLAG_PRINT_ENV) marker(type, 'MESSAGE FILE END');
      if (flags & PC_FLAG_RAW) continue;
      break;
    } else if (type === REC.PTR) {
      if (doPrint) printRecord(type, buf);
      if ((flags & PC_FLAG_RAW) === 0 && fp.goto(latin1(buf)) === REC_TYPE_ERROR) {
        fatal('bad pointer record, or input is not seekable');
      }
      continue;
    } else if (type === REC.SIZE) {
      if (doPrint) printRecord(type, buf);
      if (dataSize >= 0 || dataOffset >= 0) {
        warn('file contains multiple size records');
      } else {
        const m = /^\s*([+-]?\d+)\s+([+-]?\d+)/.exec(latin1(cstr(buf)));
        if (m) {
          dataSize = Number(m[1]);
          dataOffset = Number(m[2]);
        }
        if (!m || dataOffset <= 0 || dataSize <= 0) warn(`invalid size record: ${latin1(cstr(buf)).slice(0, 100)}`);
        if ((flags & PC_FLAG_PRINT_ENV) === 0) {
          seekOrDie(dataOffset);
          state = STATE_HEADER;
          doPrint = flags & PC_FLAG_PRINT_HEADER;
        }
      }
      continue;
    }

    if (doPrint === 0) continue;
    prefix(type);
    switch (type) {
      case REC.TIME:
        out.write(`${recTypeName(type)}: ${asctimeLocal(atol(latin1(buf)))}\n`);
        break;
      case REC.WARN:
        out.write(`${recTypeName(type)}: ${asctimeLocal(atol(latin1(buf)))}\n`);
        break;
      case REC.CONT:
        if (state === STATE_ENV) out.write(`${recTypeName(type)}: `);
        else if (msgVerbose) out.write(`${REC_TYPE_CONT_NAME}: `);
        out.write(buf);
        if (state === STATE_ENV || msgVerbose || flags & PC_FLAG_PRINT_OFFSET) {
          type = 0;
          out.write('\n');
        }
        break;
      case REC.NORM:
        if (msgVerbose) out.write(`${recTypeName(type)}: `);
        out.write(buf);
        out.write('\n');
        break;
      case REC.DTXT:
        out.write(`${recTypeName(type)}: `);
        out.write(buf);
        out.write('\n');
        break;
      case REC.ATTR: {
        const nv = splitNameval(latin1(cstr(buf)));
        if (typeof nv === 'string') {
          warn(`${path}: malformed attribute: ${nv}: ${latin1(cstr(buf)).slice(0, 100)}`);
          break;
        }
        if (nv.name === 'create_time') {
          out.write(`create_time: ${asctimeLocal(atol(nv.value))}\n`);
        } else {
          out.write(`${recTypeName(type)}: ${nv.name}=${nv.value}\n`);
        }
        break;
      }
      default:
        out.write(`${recTypeName(type)}: `);
        out.write(cstr(buf));
        out.write('\n');
        break;
    }
    prevType = type;
    out.commit();
  }
}

/** writeAll - write a buffer to a descriptor, retrying short and EAGAIN writes. */
export function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
  }
}

/** stdoutSink - write to fd 1; a closed pipe ends the program as SIGPIPE ends Postfix's postcat (status 128+13). */
function stdoutSink(data: Buffer): void {
  try {
    writeAll(1, data);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(141);
    throw e;
  }
}

const USAGE =
  'usage: %s [-b (body text)] [-c config_dir] [-d (decimal record type)] [-e (envelope records)] [-h (header text)] [-q (access queue)] [-v] [file(s)...]';

/** main - postcat command line. */
export function main(argv: string[]): void {
  const progname = basename(process.argv[1] ?? 'postcat');
  const out = new Output(stdoutSink);
  // postcat works on bytes: record data and file names are carried as latin1 strings, and
  // diagnostics are sanitized like Postfix's msg_text() (printable(), '?' for the rest).
  let utf8 = true;
  msgAddOutput((_sev, text) => {
    out.flushCommitted();
    const bytes = /^[\u0000-\u00ff]*$/.test(text) ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf8');
    process.stderr.write(Buffer.concat([Buffer.from(`${progname}: `), printableBytes(bytes, utf8), Buffer.from('\n')]));
  });
  let flags = 0;
  let startOffset = 0;
  let verbose = 0;
  const g = new Getopt(argv, 'bc:dehoqrs:v', progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    switch (c) {
      case 'b':
        flags |= PC_FLAG_PRINT_BODY;
        break;
      case 'c':
        process.env.MAIL_CONFIG = g.optarg;
        break;
      case 'd':
        flags |= PC_FLAG_PRINT_RTYPE_DEC;
        break;
      case 'e':
        flags |= PC_FLAG_PRINT_ENV;
        break;
      case 'h':
        flags |= PC_FLAG_PRINT_HEADER;
        break;
      case 'o':
        flags |= PC_FLAG_PRINT_OFFSET;
        break;
      case 'q':
        flags |= PC_FLAG_SEARCH_QUEUE;
        break;
      case 'r':
        flags |= PC_FLAG_RAW;
        break;
      case 's':
        if (!/^\d+$/.test(g.optarg) || !Number.isSafeInteger(Number(g.optarg))) msg.fatal(`bad offset: ${g.optarg}`);
        startOffset = Number(g.optarg);
        break;
      case 'v':
        verbose++;
        break;
      default:
        msg.fatal(USAGE.replace('%s', progname));
    }
  }
  setMsgVerbose(verbose);
  if ((flags & PC_MASK_PRINT_ALL) === 0) flags |= PC_MASK_PRINT_ALL;
  const config = MailConfig.load();
  utf8 = smtputf8Enabled(config);
  const fatal = (text: string): never => msg.fatal(text);
  const args = argv.slice(g.optind);

  if (args.length === 0) {
    const fp = new RecordFile(0, 'stdin', { ownFd: false });
    postcatStream(fp, out, flags, startOffset, fatal);
  } else if (flags & PC_FLAG_SEARCH_QUEUE) {
    const queueDir = config.str('queue_directory');
    try {
      process.chdir(queueDir);
    } catch (e) {
      msg.fatal(`chdir ${queueDir}: ${strerror(e as NodeJS.ErrnoException)}`);
    }
    for (const id of args) {
      if (!mailQueueIdOk(id)) msg.fatal(`bad mail queue ID: ${id}`);
      let fp: RecordFile | undefined;
      let lastErr: NodeJS.ErrnoException | undefined;
      for (let tries = 0; fp === undefined && tries < 2; tries++) {
        for (const q of SEARCH_QUEUES) {
          try {
            fp = RecordFile.open(mailQueuePath(config, q, id), mailQueueRelPath(config, q, id));
            break;
          } catch (e) {
            lastErr = e as NodeJS.ErrnoException;
          }
        }
      }
      if (fp === undefined) return msg.fatal(`open queue file ${id}: ${lastErr ? strerror(lastErr) : 'No such file or directory'}`);
      postcatStream(fp, out, flags, startOffset, fatal);
      fp.close();
    }
  } else {
    for (const file of args) {
      let fp: RecordFile;
      try {
        fp = RecordFile.open(file, Buffer.from(file, 'utf8').toString('latin1'));
      } catch (e) {
        return msg.fatal(`open ${Buffer.from(file, 'utf8').toString('latin1')}: ${strerror(e as NodeJS.ErrnoException)}`);
      }
      postcatStream(fp, out, flags, startOffset, fatal);
      fp.close();
    }
  }
  out.flush();
}

/**
 * mail_copy - copy a queued message to a mailbox, file or pipe with the
 * delivery headers (Postfix global/mail_copy.c, rec_streamlf.c).
 *
 * The content is read record by record from the queue file, starting at
 * the data offset qmgr passed, up to the X record: N records are lines, L
 * records are pieces of a long line. Optional framing: the mbox `From `
 * line (asctime date, two spaces after the sender), Return-Path:,
 * X-Original-To:, Delivered-To:, `>From ` quoting of body lines, a blank
 * line at the end (mbox), and CRLF or LF line ends.
 */

import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { parseRecordAt } from './record.js';
import { REC } from './rec_type.js';

export const MAIL_COPY = {
  QUOTE: 1 << 0, // prepend > to From_ lines
  TOFILE: 1 << 1, // fsync, ftruncate on error (the caller does those)
  FROM: 1 << 2, // prepend the mbox From_ line
  DELIVERED: 1 << 3, // prepend Delivered-To:
  RETURN_PATH: 1 << 4, // prepend Return-Path:
  DOT: 1 << 5, // SMTP-style dot stuffing
  BLANK: 1 << 6, // append a blank line
  ORIG_RCPT: 1 << 7, // prepend X-Original-To:
} as const;
export const MAIL_COPY_MBOX = MAIL_COPY.FROM | MAIL_COPY.QUOTE | MAIL_COPY.BLANK | MAIL_COPY.DELIVERED | MAIL_COPY.RETURN_PATH | MAIL_COPY.ORIG_RCPT;

const CHUNK = 64 * 1024;
/** the read buffer of synchronous reads (descriptor sources) */
let scratch: Buffer | undefined;

/**
 * A queue file by name, or already open. Agents that switch to the
 * recipient's identity open the file first (as Postfix does), because the
 * recipient may not read the queue.
 */
export type QueueSource = string | FileHandle | number;

/**
 * readMessageLines - the message content as lines (without line ends); L
 * pieces are joined to their line. Yields Buffers so that 8-bit content is
 * passed through unchanged.
 */
export async function* readMessageLines(source: QueueSource, dataOffset: number): AsyncGenerator<Buffer> {
  const owned = typeof source === 'string';
  // A descriptor (number) is read synchronously: a few KiB from the page
  // cache cost far less than a thread-pool round trip per read.
  const fd = typeof source === 'number' ? source : -1;
  const fh = typeof source === 'string' ? await open(source, 'r') : typeof source === 'number' ? undefined : source;
  const path = typeof source === 'string' ? source : 'queue file';
  try {
    let buf = Buffer.alloc(0);
    let filePos = dataOffset;
    let pos = 0;
    let partial: Buffer[] = [];
    let eof = false;
    for (;;) {
      const parsed = parseRecordAt(buf, pos);
      if (!parsed) {
        if (eof) throw new Error(`${path}: premature end of queue file`);
        // A synchronous read goes through one shared buffer (copied out at
        // once, below); an asynchronous one needs its own across the await.
        const chunk = fh ? Buffer.allocUnsafe(CHUNK) : (scratch ??= Buffer.allocUnsafeSlow(CHUNK));
        const bytesRead = fh ? (await fh.read(chunk, 0, CHUNK, filePos)).bytesRead : readSync(fd, chunk, 0, CHUNK, filePos);
        if (bytesRead === 0) eof = true;
        filePos += bytesRead;
        buf = Buffer.concat([buf.subarray(pos), chunk.subarray(0, bytesRead)]);
        pos = 0;
        continue;
      }
      pos = parsed.next;
      const { type, data } = parsed.record;
      if (type === REC.MESG) continue; // when the offset points at M itself
      if (type === REC.CONT) {
        partial.push(Buffer.from(data));
        continue;
      }
      if (type === REC.NORM) {
        if (partial.length > 0) {
          partial.push(data);
          yield Buffer.concat(partial);
          partial = [];
        } else {
          yield data;
        }
        continue;
      }
      if (type === REC.PTR || type === REC.DTXT) continue;
      if (type === REC.XTRA) {
        if (partial.length > 0) yield Buffer.concat(partial);
        return;
      }
      throw new Error(`${path}: unexpected record type ${type} in message content`);
    }
  } finally {
    if (owned) await fh!.close();
  }
}

/** asctime - "Sun Nov 22 10:48:18 2026" in local time, as C asctime() without the newline. */
export function asctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getDay()]} ${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

export interface CopyOptions {
  flags: number;
  sender: string;
  /** Delivered-To: value (the final recipient) */
  deliveredTo?: string;
  /** X-Original-To: value */
  origRecipient?: string;
  /** line terminator */
  eol?: string;
}

/** A sink that accepts chunks; returning a promise lets the copier respect back-pressure. */
export type CopySink = (chunk: Buffer) => void | Promise<void>;

/** mailCopy - write the framed message to the sink; returns the number of bytes written. */
export async function mailCopy(path: QueueSource, dataOffset: number, opts: CopyOptions, sink: CopySink): Promise<number> {
  const eol = Buffer.from(opts.eol ?? '\n');
  const out: Buffer[] = [];
  let pending = 0;
  let total = 0;
  const flush = async () => {
    if (out.length === 0) return;
    const chunk = Buffer.concat(out);
    out.length = 0;
    pending = 0;
    total += chunk.length;
    await sink(chunk);
  };
  const put = async (line: Buffer | string) => {
    const b = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
    out.push(b, eol);
    pending += b.length + eol.length;
    if (pending >= CHUNK) await flush();
  };
  const sender = opts.sender === '' ? 'MAILER-DAEMON' : opts.sender;
  if (opts.flags & MAIL_COPY.FROM) await put(`From ${sender}  ${asctime(new Date())}`);
  if (opts.flags & MAIL_COPY.RETURN_PATH) await put(`Return-Path: <${opts.sender}>`);
  if (opts.flags & MAIL_COPY.ORIG_RCPT && opts.origRecipient !== undefined) await put(`X-Original-To: ${opts.origRecipient}`);
  if (opts.flags & MAIL_COPY.DELIVERED && opts.deliveredTo !== undefined) await put(`Delivered-To: ${opts.deliveredTo}`);
  const quote = (opts.flags & MAIL_COPY.QUOTE) !== 0;
  const dot = (opts.flags & MAIL_COPY.DOT) !== 0;
  const FROM_ = Buffer.from('From ');
  for await (const line of readMessageLines(path, dataOffset)) {
    if (quote && line.length >= 5 && line.subarray(0, 5).equals(FROM_)) await put(Buffer.concat([Buffer.from('>'), line]));
    else if (dot && line.length > 0 && line[0] === 0x2e) await put(Buffer.concat([Buffer.from('.'), line]));
    else await put(line);
  }
  if (opts.flags & MAIL_COPY.BLANK) await put('');
  await flush();
  return total;
}

/** messageHasDeliveredTo - scan the headers for Delivered-To: <address> (loop detection, case-insensitive). */
export async function messageHasDeliveredTo(path: QueueSource, dataOffset: number, address: string): Promise<boolean> {
  const want = address.toLowerCase();
  for await (const line of readMessageLines(path, dataOffset)) {
    if (line.length === 0) return false; // end of headers
    const text = line.toString('latin1');
    const m = /^delivered-to:\s*(.*)$/i.exec(text);
    if (m && m[1].trim().toLowerCase() === want) return true;
  }
  return false;
}

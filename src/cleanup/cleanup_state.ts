/**
 * cleanup_state - per-message state of the cleanup server and its queue
 * file writer (Postfix cleanup/cleanup_state.c, cleanup_out.c).
 *
 * Records are appended to an in-memory buffer that is written to the queue
 * file whenever it grows past a small bound, so a message is never held in
 * memory as a whole. Output stops (and the message fails) once the file
 * would exceed message_size_limit.
 */

import { writeSync } from 'node:fs';
import { closeQuietly } from '../util/iostuff.js';
import { encodeRecord } from '../global/record.js';
import { REC } from '../global/rec_type.js';
import { CLEANUP_STAT, CLEANUP_FLAG } from '../global/cleanup_user.js';
import { msg } from '../util/msg.js';
import type { CleanupGlobals } from './cleanup_init.js';

export const FLUSH_BYTES = 64 * 1024;

/** Internal flags beyond the client-visible CLEANUP_FLAG bits (cleanup.h). */
export const CLEANUP_FLAG_INRCPT = 1 << 16;
export const CLEANUP_FLAG_WARN_SEEN = 1 << 17;
export const CLEANUP_FLAG_END_SEEN = 1 << 18;

export const QMGR_READ_FLAG_MIXED_RCPT_OTHER = 1;

/** SMTPUTF8_FLAG_* (global/smtputf8.h). */
export const SMTPUTF8_FLAG = { REQUESTED: 1, HEADER: 2, SENDER: 4, RECIPIENT: 8 } as const;

export type Action = 'envelope' | 'message' | 'extracted';

export class CleanupState {
  readonly g: CleanupGlobals;
  queueId: string;
  queueName = 'incoming';
  path: string;
  /** the queue file's descriptor; -1 once closed (closeFile) */
  fd: number;
  /** creation time of the queue file (Message-Id time stamp) */
  ctime: number;
  flags = 0;
  errs = 0;
  errMask = ~0;
  qmgrOpts = 0;
  smtputf8 = 0;
  action: Action = 'envelope';
  sender: string | null = null;
  recip: string | null = null;
  origRcpt: string | null = null;
  dsnOrcpt: string | null = null;
  dsnNotify = 0;
  fullname: string | null = null;
  arrivalTime = 0;
  rcptCount = 0;
  reason: string | null = null;
  smtpReply: string | null = null;
  /** named attributes seen so far; log_message_origin defaults to "local" (cleanup_state.c) */
  attr = new Map<string, string>([['log_message_origin', 'local']]);
  hdrRewriteContext: string | null = 'local';
  filter: string | null = null;
  redirect: string | null = null;
  hbcRcpt: string[] = [];
  resent = '';
  headersSeen = new Set<number>();
  hopCount = 0;
  dataOffset = -1;
  xtraOffset = -1;
  contLength = 0;
  tflags = 0;
  dsnEnvid: string | null = null;
  dsnRet = 0;
  verpDelims: string | null = null;
  dups = new Set<string>();
  /** bytes written to the file so far plus what is buffered */
  private offsetBase = 0;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private sizeWarned = false;
  writeError: Error | null = null;

  constructor(g: CleanupGlobals, queueId: string, path: string, fd: number, ctime: number) {
    this.g = g;
    this.queueId = queueId;
    this.path = path;
    this.fd = fd;
    this.ctime = ctime;
  }

  /** outOk - CLEANUP_OUT_OK(): no error that matters, and not discarding. */
  outOk(): boolean {
    return (this.errs & this.errMask) === 0 && (this.flags & CLEANUP_FLAG.DISCARD) === 0;
  }

  /** tell - the current output offset (vstream_ftell). */
  tell(): number {
    return this.offsetBase + this.pendingLen;
  }

  /** out - append one record; long text records are split at line_length_limit. */
  out(type: number, data: Buffer | string): void {
    if (!this.outOk()) return;
    let buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const limit = this.g.lineLimit;
    if (type === REC.NORM || type === REC.CONT) {
      while (buf.length > limit) {
        this.put(REC.CONT, buf.subarray(0, limit));
        buf = buf.subarray(limit);
      }
    }
    this.put(type, buf);
  }

  private put(type: number, buf: Buffer): void {
    const rec = encodeRecord(type, buf);
    if (this.g.messageLimit > 0 && this.tell() + rec.length > this.g.messageLimit) {
      if (!this.sizeWarned) {
        msg.warn(`${this.queueId}: queue file size limit exceeded`);
        this.sizeWarned = true;
      }
      this.errs |= CLEANUP_STAT.SIZE;
      return;
    }
    this.pending.push(rec);
    this.pendingLen += rec.length;
  }

  /** outString - a text record from a JS string. */
  outString(type: number, text: string): void {
    this.out(type, text);
  }

  /** outHeader - a (possibly multi-line) header: one N record per line (cleanup_out_header). */
  outHeader(header: string): void {
    // Auto-detect a non-ASCII header (SMTPUTF8_FLAG_HEADER; REQUESTED with AUTOUTF8).
    if (this.g.smtputf8Enable && /[\x80-\xff]/.test(header)) {
      this.smtputf8 |= SMTPUTF8_FLAG.HEADER;
      if (this.flags & CLEANUP_FLAG.AUTOUTF8) this.smtputf8 |= SMTPUTF8_FLAG.REQUESTED;
    }
    const lines = header.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = i > 0 && !/^[ \t]/.test(lines[i]) ? '\t' + lines[i] : lines[i];
      this.out(REC.NORM, Buffer.from(line, 'latin1'));
    }
  }

  /** flushIfNeeded - write the buffer out when it is big enough. */
  async flushIfNeeded(): Promise<void> {
    if (this.pendingLen >= FLUSH_BYTES) await this.flush();
  }

  /** flush - write everything buffered to the file. */
  async flush(): Promise<void> {
    if (this.pendingLen === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    const at = this.offsetBase;
    this.offsetBase += buf.length;
    this.pendingLen = 0;
    try {
      this.writeFully(buf, at);
    } catch (e) {
      if (!this.writeError) {
        this.writeError = e as Error;
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EFBIG') {
          msg.warn(`${this.queueId}: queue file size limit exceeded`);
          this.errs |= CLEANUP_STAT.SIZE;
        } else {
          msg.warn(`${this.queueId}: write queue file: ${(e as Error).message}`);
          this.errs |= CLEANUP_STAT.WRITE;
        }
      }
    }
  }

  /** writeAt - overwrite bytes at a file offset (the size record). */
  async writeAt(offset: number, data: Buffer): Promise<void> {
    await this.flush();
    this.writeFully(data, offset);
  }

  /** writeFully - write all of a buffer at an offset: a plain write(2) into the page cache, as Postfix's cleanup. */
  private writeFully(buf: Buffer, at: number): void {
    for (let done = 0; done < buf.length; ) done += writeSync(this.fd, buf, done, buf.length - done, at + done);
  }

  /** closeFile - close the queue file once; later calls do nothing (the number may be reused). */
  closeFile(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    closeQuietly(fd);
  }
}

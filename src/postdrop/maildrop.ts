/**
 * maildrop - create one maildrop queue file from a submitted record stream
 * (Postfix postdrop/postdrop.c, global/mail_stream.c, mail_queue.c).
 *
 * MaildropWriter is the heart of postdrop. It is used by the postdrop
 * program (records from a pipe) and in-process by sendmail (records it
 * builds itself); both paths go through the same whitelist:
 *
 * - the file is created as maildrop/<id> with O_EXCL, mode 0600, owned by
 *   the submitter (maildrop is a sticky world-writable directory, mode 1733,
 *   because a Node script cannot be set-gid; see DESIGN.md section 3);
 * - the first record is our own arrival time; a time record from the caller
 *   is dropped;
 * - only the record types REC_TYPE_POST_ENVELOPE / _CONTENT / _EXTRACT are
 *   accepted, in segment order; named attributes are limited to the few a
 *   user may set; at least one sender and one recipient are required;
 * - local_login_sender_maps decides whether the login may use the sender;
 * - on success the file is fsync()ed and chmod()ed 0744 (owner x = "ready"),
 *   on any failure it is removed, so that pickup never sees half a message.
 *
 * It never trusts the caller: record sizes are bounded by the codec, the
 * file size by message_size_limit.
 */

import { closeSync, unlinkSync, writeSync } from 'node:fs';
import { MAIL_QUEUE, mailQueueComplete, mailQueueEnter, wallClock } from '../global/mail_queue.js';
import { closeQuietly } from '../util/iostuff.js';
import type { MailConfig } from '../global/mail_conf.js';
import { mailTrigger } from '../global/mail_connect.js';
import {
  REC,
  REC_TYPE_POST_CONTENT,
  REC_TYPE_POST_ENVELOPE,
  REC_TYPE_POST_EXTRACT,
} from '../global/rec_type.js';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { msg } from '../util/msg.js';
import { confInt, confStr, loginSenderAllowed, username } from './submit_common.js';

/** Mode of a complete maildrop file (mail_stream_file(..., 0444) | MAIL_QUEUE_STAT_READY). */
export const MAILDROP_READY_MODE = 0o744;
/** Mode while the file is being written (not "ready": owner x clear). */
export const MAILDROP_TEMP_MODE = 0o600;

/** Thrown for input that postdrop refuses (postdrop exits through msg.fatal). */
export class PostdropError extends Error {
  constructor(
    message: string,
    /** a warning postdrop logs before the fatal error */
    readonly warning?: string,
  ) {
    super(message);
    this.name = 'PostdropError';
  }
}

/** splitNameval - "name=value" (split_nameval()); returns an error text or the pair. */
export function splitNameval(text: string): { name: string; value: string } | string {
  const eq = text.indexOf('=');
  if (eq < 0) return "missing '=' after attribute name";
  const name = text.slice(0, eq).trim();
  if (name.length === 0) return 'missing attribute name';
  return { name, value: text.slice(eq + 1).trim() };
}

/** Attributes that rec_attr_map() turns into their own record types. */
const REC_ATTR_MAP = new Set(['envelope_id', 'ret_flags', 'notify_flags', 'dsn_orig_rcpt', 'create_time']);

/** postdropAttrAllowed - the named attributes a local user may set (postdrop.c). */
export function postdropAttrAllowed(name: string, value: string): boolean {
  if (name === 'encoding') return value === '7bit' || value === '8bit' || value === '';
  if (name === 'rewrite_context') return value === 'local' || value === 'remote';
  return name === 'envelope_id' || name === 'notify_flags' || name === 'trace_flags' || REC_ATTR_MAP.has(name);
}

export interface FinishResult {
  status: number;
  reason: string;
}

const SEGMENTS = [REC_TYPE_POST_ENVELOPE, REC_TYPE_POST_CONTENT, REC_TYPE_POST_EXTRACT, ''];
const BUF_SIZE = 64 * 1024;

/**
 * MaildropWriter - validate and write one submission. Call open(), then
 * put() for each record up to and including END, then finish(); abort()
 * removes the file at any time before finish() succeeded.
 */
export class MaildropWriter {
  readonly uid: number;
  id = '';
  path = '';
  private fd = -1;
  private seg = 0;
  private fromCount = 0;
  private rcptCount = 0;
  private ended = false;
  private buf = Buffer.allocUnsafe(BUF_SIZE);
  private used = 0;
  private written = 0;
  private readonly sizeLimit: number;
  private readonly recordLimit: number;
  private firstSender: string | undefined;
  /** the first write error; later output is dropped and finish() reports it (postdrop slurps the input) */
  private writeError: NodeJS.ErrnoException | undefined;
  private readonly login: string | undefined;

  constructor(
    private readonly config: MailConfig,
    uid: number,
  ) {
    this.uid = uid;
    this.sizeLimit = confInt(config, 'message_size_limit', 10240000);
    this.recordLimit = confInt(config, 'line_length_limit', 2048);
    this.login = username(uid);
  }

  /** open - create the queue file (mailQueueEnter) and write our own arrival time record. */
  async open(): Promise<string> {
    const q = mailQueueEnter(this.config, MAIL_QUEUE.MAILDROP, MAILDROP_TEMP_MODE);
    this.id = q.id;
    this.path = q.path;
    this.fd = q.fd;
    const { sec, usec } = wallClock();
    this.emit(REC.TIME, Buffer.from(`${sec} ${usec}`));
    return this.id;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** emit - append one encoded record to the output buffer. */
  private emit(type: number, data: Buffer): void {
    let len = data.length;
    const hdr: number[] = [type];
    do {
      let b = len & 0x7f;
      len = Math.floor(len / 128);
      if (len > 0) b |= 0x80;
      hdr.push(b);
    } while (len > 0);
    const need = hdr.length + data.length;
    if (this.used + need > this.buf.length) {
      this.flushBuf();
      if (need > this.buf.length) {
        this.writeAll(Buffer.from(hdr));
        this.writeAll(data);
        return;
      }
    }
    for (const b of hdr) this.buf[this.used++] = b;
    data.copy(this.buf, this.used);
    this.used += data.length;
  }

  private writeAll(data: Buffer): void {
    if (this.writeError) return;
    try {
      this.writeAllOrThrow(data);
    } catch (e) {
      this.writeError = e as NodeJS.ErrnoException;
    }
  }

  private writeAllOrThrow(data: Buffer): void {
    if (this.sizeLimit > 0 && this.written + data.length > this.sizeLimit) {
      const err = new Error('File too large') as NodeJS.ErrnoException;
      err.code = 'EFBIG';
      throw err;
    }
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
    this.written += data.length;
  }

  private flushBuf(): void {
    if (this.used > 0) {
      const chunk = this.buf.subarray(0, this.used);
      this.used = 0;
      this.writeAll(chunk);
    }
  }

  /**
   * put - one record from the submitter. Throws PostdropError for a record
   * type that is not allowed here (the whole submission is then refused).
   */
  put(type: number, data: Buffer): void {
    if (this.ended) throw new PostdropError(`uid=${this.uid}: unexpected record type: ${type}`);
    // postdrop reads records of at most $line_length_limit bytes (rec_get_raw); so does pickup
    if (data.length > this.recordLimit) {
      throw new PostdropError(`uid=${this.uid}: malformed input`, `stdin: illegal length ${data.length}, record type ${type}`);
    }
    const expected = SEGMENTS[this.seg];
    const ch = String.fromCharCode(type);
    if (!expected.includes(ch)) throw new PostdropError(`uid=${this.uid}: unexpected record type: ${type}`);
    if (ch === expected[0]) this.seg++;
    if (type === REC.TIME) return;
    if (type === REC.FROM) {
      this.fromCount++;
      if (data.includes(0)) throw new PostdropError('NUL in FROM record');
      if (this.firstSender === undefined) this.firstSender = data.toString('utf8');
    }
    if (type === REC.RCPT) this.rcptCount++;
    if (type === REC.ATTR) {
      const text = data.toString('utf8');
      const nv = splitNameval(text);
      if (typeof nv === 'string') {
        msg.warn(`uid=${this.uid}: ignoring malformed record: ${nv}: ${text.slice(0, 200)}`);
        return;
      }
      if (!postdropAttrAllowed(nv.name, nv.value)) {
        msg.warn(`uid=${this.uid}: ignoring attribute record: ${nv.name.slice(0, 200)}=${nv.value.slice(0, 200)}`);
        return;
      }
      this.emit(REC.ATTR, Buffer.from(`${nv.name}=${nv.value}`, 'utf8'));
      return;
    }
    this.emit(type, data);
    if (type === REC.END) this.ended = true;
  }

  /**
   * finish - complete the file: fsync, mark ready. Returns the status that
   * postdrop reports; on any non-zero status the file is already gone.
   */
  async finish(): Promise<FinishResult> {
    if (!this.ended) {
      this.abort();
      return { status: CLEANUP_STAT.BAD, reason: '' };
    }
    if (this.firstSender !== undefined && !(await loginSenderAllowed(this.config, this.uid, this.firstSender))) {
      const denied = `not authorized to use sender='${this.firstSender}'`;
      msg.warn(`uid=${this.uid}: ${this.login ?? 'unknown'}: ${denied}`);
      this.abort();
      return { status: CLEANUP_STAT.NOPERM, reason: denied };
    }
    if (this.fromCount === 0 || this.rcptCount === 0) {
      this.abort();
      return { status: CLEANUP_STAT.BAD, reason: '' };
    }
    this.flushBuf();
    if (this.writeError) {
      const err = this.writeError;
      msg.warn(`uid=${this.uid}: ${err.code === 'EFBIG' ? 'File too large' : err.code === 'ENOSPC' ? 'No space left on device' : err.message}`);
      this.abort();
      return { status: err.code === 'EFBIG' ? CLEANUP_STAT.SIZE : CLEANUP_STAT.WRITE, reason: '' };
    }
    try {
      await mailQueueComplete(this.fd, MAILDROP_READY_MODE);
      const fd = this.fd;
      this.fd = -1;
      closeSync(fd);
    } catch (e) {
      msg.warn(`uid=${this.uid}: ${(e as Error).message}`);
      this.abort();
      return { status: CLEANUP_STAT.WRITE, reason: '' };
    }
    this.path = '';
    return { status: 0, reason: '' };
  }

  /** abort - close and remove the incomplete file (idempotent). */
  abort(): void {
    if (this.fd >= 0) {
      closeQuietly(this.fd);
      this.fd = -1;
    }
    if (this.path) {
      try {
        unlinkSync(this.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
          msg.warn(`uid=${this.uid}: remove ${this.path}: ${(e as Error).message}`);
        }
      }
      this.path = '';
    }
  }
}

/**
 * kickPickup - wake the pickup service (mail_trigger(public, pickup, "W")).
 * A missing socket gets Postfix's warning; a refused connection is silent:
 * the file waits for pickup's next periodic scan.
 */
export async function kickPickup(config: MailConfig, timeoutMs = 5000): Promise<void> {
  const service = confStr(config, 'pickup_service_name', 'pickup');
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      mailTrigger(config, 'public', service, 'W'),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') msg.warn(`unable to look up public/${service}: No such file or directory`);
    else if (err.code !== 'ECONNREFUSED' && err.code !== 'ENOTSOCK') msg.warn(`public/${service}: ${err.message}`);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * qmgr_message - read the envelope of a queue file in the active queue
 * (Postfix qmgr/qmgr_message.c).
 *
 * Reads the envelope segment up to the M record, jumps over the content to
 * the X record (offset from the C size record) and reads the extracted
 * segment to E. Recipients already marked done (D) or cancelled (/) are
 * skipped; each remaining R keeps its file offset so the agent can mark it
 * done in place. A file that breaks the record rules is corrupt: the caller
 * moves it to corrupt/ with a warning, as Postfix does.
 *
 * Recipients are read in slices so that memory stays bounded however many
 * a message has: the first read keeps at most `limit` recipients, counts the
 * rest and notes where to resume; readRecipientSlice() continues from there
 * (Postfix qmgr_message_realloc/rcpt_offset).
 */

import { closeSync, openSync, readSync } from 'node:fs';
import { parseRecordAt, RecordError } from '../global/record.js';
import { REC, recTypeAllowed, REC_TYPE_ENVELOPE, REC_TYPE_EXTRACT } from '../global/rec_type.js';

export interface QmgrRecipient {
  address: string;
  orig: string;
  offset: number;
  dsnOrcpt: string;
  notify: number;
}

export interface QmgrMessageInfo {
  queueId: string;
  /** arrival time, epoch ms */
  arrival: number;
  /** C record: message content size in bytes */
  dataSize: number;
  /** C record: offset of the first content record */
  dataOffset: number;
  /** C record: recipient count and qmgr flags */
  rcptCount: number;
  qmgrFlags: number;
  sendopts: number;
  sender: string;
  attrs: Map<string, string>;
  /** W record: next delay warning time (epoch seconds), 0 = none */
  warnTime: number;
  warnOffset: number;
  filter: string;
  redirect: string;
  /** V record (first instance): the VERP delimiters as written, '' = none; qmgr validates them */
  verpDelims: string;
  recipients: QmgrRecipient[];
  /** recipients left in the file after the ones read (slices) */
  unread: number;
  /** where the next slice starts, or null when all were read */
  resume: RecipientResume | null;
}

/** A resume point for the next recipient slice: just after the last recipient read. */
export interface RecipientResume {
  offset: number;
  segment: 'envelope' | 'extracted';
  /** C record values, to jump over the content */
  dataOffset: number;
  dataSize: number;
}

export class CorruptQueueFile extends Error {}

const CHUNK = 64 * 1024;
/**
 * One read buffer for every reader: a read is copied out of it at once
 * (synchronously, below), so it is never shared across an await. A fresh
 * 64 KiB per queue file read was garbage outside the V8 heap that only a
 * full collection returned, which kept qmgr's resident size up.
 */
let scratch: Buffer | undefined;

/** A forward-only record reader over a file handle that reads in chunks. */
class FileRecordReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private fileEnd = false;

  constructor(
    private readonly fd: number,
    private pos: number,
  ) {
    this.bufStart = pos;
  }

  /** position - the offset of the next record. */
  get position(): number {
    return this.pos;
  }

  seek(pos: number): void {
    this.pos = pos;
    this.bufStart = pos;
    this.buf = Buffer.alloc(0);
    this.fileEnd = false;
  }

  private async more(): Promise<boolean> {
    if (this.fileEnd) return false;
    const chunk = (scratch ??= Buffer.allocUnsafeSlow(CHUNK));
    const bytesRead = readSync(this.fd, chunk, 0, CHUNK, this.bufStart + this.buf.length);
    if (bytesRead === 0) {
      this.fileEnd = true;
      return false;
    }
    this.buf = Buffer.concat([this.buf.subarray(this.pos - this.bufStart), chunk.subarray(0, bytesRead)]);
    this.bufStart = this.pos;
    return true;
  }

  /** next - the next record and its offset; null at end of file. */
  async next(): Promise<{ type: number; data: Buffer; offset: number } | null> {
    for (;;) {
      const parsed = parseRecordAt(this.buf, this.pos - this.bufStart);
      if (parsed) {
        const offset = this.pos;
        this.pos = this.bufStart + parsed.next;
        return { type: parsed.record.type, data: parsed.record.data, offset };
      }
      if (!(await this.more())) return null;
    }
  }
}

/** The per-recipient records seen since the last recipient (ORCP, dsn_orig_rcpt, notify_flags). */
interface PendingRecipient {
  orig: string;
  dsnOrcpt: string;
  notify: number;
}

/**
 * recipientRecord - one record as Postfix qmgr_message_read treats the
 * records of a recipient: the recipient for an R record, null for a
 * record that was consumed (ORCP, DSN attributes, done recipients), and
 * undefined for a record that is not about a recipient.
 */
function recipientRecord(p: PendingRecipient, type: number, text: string, data: Buffer, offset: number): QmgrRecipient | null | undefined {
  switch (type) {
    case REC.ATTR: {
      const eq = text.indexOf('=');
      if (eq <= 0) throw new CorruptQueueFile(`bad attribute record at offset ${offset}`);
      const name = text.slice(0, eq);
      if (name === 'dsn_orig_rcpt') p.dsnOrcpt = attrValue(data);
      else if (name === 'notify_flags') p.notify = Number(text.slice(eq + 1)) || 0;
      else return undefined;
      return null;
    }
    case REC.DSN_ORCPT:
      p.dsnOrcpt = text;
      return null;
    case REC.DSN_NOTIFY:
      p.notify = Number(text) || 0;
      return null;
    case REC.ORCP:
      p.orig = text;
      return null;
    case REC.RCPT:
    case REC.DONE:
    case REC.DRCP: {
      const r = type === REC.RCPT ? { address: text, orig: p.orig, offset, dsnOrcpt: p.dsnOrcpt, notify: p.notify } : null;
      p.orig = '';
      p.dsnOrcpt = '';
      p.notify = 0;
      return r;
    }
    default:
      return undefined;
  }
}

/**
 * attrValue - the value of a name=value record, decoded on its own. A slice
 * of the decoded record would keep the whole record's string alive for as
 * long as the value lives (V8 sliced strings), and qmgr keeps recipients
 * and a few attributes of thousands of messages in core.
 */
function attrValue(data: Buffer): string {
  return data.toString('utf8', data.indexOf(0x3d) + 1);
}

/**
 * readQueueFile - the envelope and extracted information of the file at path.
 * The file is read synchronously: it is local and small, and a thread-pool
 * round trip per read costs about ten times the CPU of the system call.
 */
export async function readQueueFile(path: string, queueId: string, limit = Number.MAX_SAFE_INTEGER): Promise<QmgrMessageInfo> {
  const fd = openSync(path, 'r');
  try {
    return await readFrom(fd, queueId, limit);
  } catch (err) {
    if (err instanceof RecordError) throw new CorruptQueueFile(err.message);
    throw err;
  } finally {
    closeSync(fd);
  }
}

async function readFrom(fd: number, queueId: string, limit: number): Promise<QmgrMessageInfo> {
  const info: QmgrMessageInfo = {
    queueId,
    arrival: 0,
    dataSize: 0,
    dataOffset: 0,
    rcptCount: 0,
    qmgrFlags: 0,
    sendopts: 0,
    sender: '',
    attrs: new Map(),
    warnTime: 0,
    warnOffset: -1,
    filter: '',
    redirect: '',
    verpDelims: '',
    recipients: [],
    unread: 0,
    resume: null,
  };
  const reader = new FileRecordReader(fd, 0);
  let sawSize = false;
  let sawSender = false;
  let sawVerp = false;
  let segment: 'envelope' | 'extracted' = 'envelope';

  const pending: PendingRecipient = { orig: '', dsnOrcpt: '', notify: 0 };

  for (;;) {
    if (info.unread === 0 && info.recipients.length === limit && info.resume === null && limit > 0) {
      // the slice is full: the next one starts here
      info.resume = { offset: reader.position, segment, dataOffset: info.dataOffset, dataSize: info.dataSize };
    }
    const rec = await reader.next();
    if (rec === null) throw new CorruptQueueFile('premature end of file');
    const { type, data, offset } = rec;
    const allowed = segment === 'envelope' ? REC_TYPE_ENVELOPE : REC_TYPE_EXTRACT;
    if (!recTypeAllowed(allowed, type)) {
      throw new CorruptQueueFile(`unexpected record type ${type} in ${segment} segment at offset ${offset}`);
    }
    const text = data.toString('utf8');
    const rcpt = recipientRecord(pending, type, text, data, offset);
    if (rcpt !== undefined) {
      if (rcpt === null) continue;
      if (info.recipients.length < limit) info.recipients.push(rcpt);
      else info.unread++;
      continue;
    }
    switch (type) {
      case REC.SIZE: {
        const f = text.trim().split(/\s+/).map(Number);
        [info.dataSize, info.dataOffset, info.rcptCount, info.qmgrFlags] = [f[0] ?? 0, f[1] ?? 0, f[2] ?? 0, f[3] ?? 0];
        info.sendopts = f[5] ?? 0;
        sawSize = true;
        break;
      }
      case REC.TIME: {
        const [sec, usec] = text.split(' ').map(Number);
        info.arrival = sec * 1000 + Math.floor((usec || 0) / 1000);
        break;
      }
      case REC.FROM:
        info.sender = text;
        sawSender = true;
        break;
      case REC.ATTR: {
        // the other attributes (recipientRecord() took the recipient's and checked the syntax)
        info.attrs.set(text.slice(0, text.indexOf('=')), attrValue(data));
        break;
      }
      case REC.DSN_ENVID:
        info.attrs.set('envelope_id', text);
        break;
      case REC.DSN_RET:
        info.attrs.set('ret_flags', text);
        break;
      case REC.WARN:
        info.warnTime = Number(text.trim()) || 0;
        info.warnOffset = offset;
        break;
      case REC.FILT:
        info.filter = text;
        break;
      case REC.RDR:
        info.redirect = text;
        break;
      case REC.VERP:
        if (!sawVerp) info.verpDelims = text;
        sawVerp = true;
        break;
      case REC.MESG: {
        if (!sawSize) throw new CorruptQueueFile('missing size record');
        segment = 'extracted';
        const xtra = info.dataOffset + info.dataSize;
        if (info.dataOffset > 0 && xtra > offset) {
          reader.seek(xtra);
          const x = await reader.next();
          if (x && x.type === REC.XTRA) break;
          throw new CorruptQueueFile(`no extracted-segment marker at offset ${xtra}`);
        }
        throw new CorruptQueueFile('bad content offsets in size record');
      }
      case REC.END:
        if (!sawSender) throw new CorruptQueueFile('missing sender record');
        if (info.arrival === 0) throw new CorruptQueueFile('missing arrival time record');
        if (info.unread === 0) info.resume = null;
        return info;
      default:
        break;
    }
  }
}

/**
 * readRecipientSlice - up to `limit` more recipients from a resume point;
 * returns them and the next resume point (null at the end of the file).
 */
export async function readRecipientSlice(
  path: string,
  resume: RecipientResume,
  limit: number,
): Promise<{ recipients: QmgrRecipient[]; resume: RecipientResume | null }> {
  const fd = openSync(path, 'r');
  try {
    const reader = new FileRecordReader(fd, resume.offset);
    const recipients: QmgrRecipient[] = [];
    let segment = resume.segment;
    const pending: PendingRecipient = { orig: '', dsnOrcpt: '', notify: 0 };
    for (;;) {
      if (recipients.length >= limit) {
        return { recipients, resume: { ...resume, offset: reader.position, segment } };
      }
      const rec = await reader.next();
      if (rec === null) throw new CorruptQueueFile('premature end of file');
      const { type, data, offset } = rec;
      const allowed = segment === 'envelope' ? REC_TYPE_ENVELOPE : REC_TYPE_EXTRACT;
      if (!recTypeAllowed(allowed, type)) {
        throw new CorruptQueueFile(`unexpected record type ${type} in ${segment} segment at offset ${offset}`);
      }
      const rcpt = recipientRecord(pending, type, data.toString('utf8'), data, offset);
      if (rcpt) recipients.push(rcpt);
      if (rcpt !== undefined) continue;
      switch (type) {
        case REC.MESG: {
          segment = 'extracted';
          const xtra = resume.dataOffset + resume.dataSize;
          reader.seek(xtra);
          const x = await reader.next();
          if (!x || x.type !== REC.XTRA) throw new CorruptQueueFile(`no extracted-segment marker at offset ${xtra}`);
          break;
        }
        case REC.END:
          return { recipients, resume: null };
        default:
          break;
      }
    }
  } catch (err) {
    if (err instanceof RecordError) throw new CorruptQueueFile(err.message);
    throw err;
  } finally {
    closeSync(fd);
  }
}

/**
 * showq - list the Postfix mail queue (Postfix showq(8)).
 *
 * The showq daemon scans the maildrop, active, incoming, deferred and hold
 * queues, in that order and in directory order, and reports each complete
 * queue file (owner mode rwx) to the client over the
 * mail_queue_list_protocol: after `protocol=mail_queue_list_protocol`, one
 * attribute list per message with queue_name, queue_id, time, size,
 * forced_expire, sender and then (recipient, reason) pairs, and an empty
 * list at the end. Recipients with reasons come first, from the defer log;
 * then the remaining `R` records of the queue file. postqueue -p/-j format
 * the result; root's postqueue calls showqScan() directly when the mail
 * system is down.
 *
 * showq only reads; a damaged file gives a warning and at most a partial
 * entry, never a crash of the listing.
 */

import { fstatSync, lstatSync, opendirSync, readFileSync, type Dir, type Stats } from 'node:fs';
import { join } from 'node:path';
import { msg, msgVerbose } from '../util/msg.js';
import { sendAttrs, attrSendProtocol, type AttrPairs } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import type { MailConfig } from '../global/mail_conf.js';
import { strerror } from '../util/msg_logwriter.js';
import { REC } from '../global/rec_type.js';
import { RecordFile, REC_FLAG_DEFAULT, atol, printable, splitNameval } from '../global/queue_file.js';

export { printable } from '../global/queue_file.js';
import {
  MAIL_QUEUE,
  MAIL_QUEUE_STAT_EXPIRE,
  MAIL_QUEUE_STAT_READY,
  mailQueueIdOk,
  mailQueuePath,
  mailQueueRelPath,
  mailQueueTopDir,
} from '../global/mail_queue.js';
import { quote822Local } from '../global/quote_822_local.js';
import type { ServerContext } from '../master/mail_server.js';

export const MAIL_ATTR_PROTO_SHOWQ = 'mail_queue_list_protocol';

export interface ShowqRecipient {
  address: string;
  reason: string;
}

export interface ShowqMessage {
  queueName: string;
  queueId: string;
  time: number;
  size: number;
  forcedExpire: boolean;
  sender: string;
  recipients: ShowqRecipient[];
}

/** printableString - printable() of a JS string taken as UTF-8 bytes. */
export function printableString(text: string, utf8: boolean): string {
  return printable(Buffer.from(text, 'utf8'), utf8);
}

/** smtputf8Enabled - util_utf8_enable as Postfix derives it from smtputf8_enable. */
export function smtputf8Enabled(config: MailConfig): boolean {
  try {
    return config.bool('smtputf8_enable');
  } catch {
    return false;
  }
}

/** quotedPrintable - quote_822_local() of raw record bytes, then printable(). */
function quotedPrintable(raw: Buffer, utf8: boolean): string {
  const quoted = quote822Local(raw.toString('latin1'));
  return printable(Buffer.from(quoted, 'latin1'), utf8);
}

/** A recipient and reason from a defer logfile entry (bounce_log_read()). */
export interface BounceLogRead {
  address: string;
  reason: string;
}

/**
 * readDeferLog - the entries of a defer (or bounce) logfile, Postfix
 * bounce_log_read() style: entries separated by empty lines, new-style
 * `name=value` lines and old-style `<recipient>: text` lines; an entry
 * without an empty line after it is not complete and is ignored.
 */
export function readDeferLog(text: Buffer, path: string, utf8: boolean): BounceLogRead[] {
  const out: BounceLogRead[] = [];
  let found = false;
  let address = '';
  let reason = '';
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf(0x0a, start);
    if (nl < 0) break; // incomplete last line: vstring_get_nonl() would return it, but the entry cannot end
    const line = text.subarray(start, nl);
    start = nl + 1;
    if (line.length === 0) {
      if (found) {
        out.push({
          address: address || '(recipient address unavailable)',
          reason: reason || '(description unavailable)',
        });
        address = '';
        reason = '';
      }
      found = false;
      continue;
    }
    const cp = printable(line, utf8);
    found = true;
    if (/^[A-Za-z0-9]/.test(cp)) {
      const nv = splitNameval(cp);
      if (typeof nv === 'string') {
        msg.warn(`${path}: malformed record: ${nv}`);
        continue;
      }
      const { name, value } = nv;
      if (name === 'recipient') address = value || '(MAILER-DAEMON)';
      else if (name === 'reason') reason = value;
      else if (
        ![
          'original_recipient',
          'dsn_orig_rcpt',
          'notify_flags',
          'offset',
          'status',
          'action',
          'diag_type',
          'diag_text',
          'mta_type',
          'mta_mname',
        ].includes(name)
      ) {
        msg.warn(`${path}: unknown attribute name: ${name}, ignored`);
      }
      continue;
    }
    if (cp[0] !== '<') {
      msg.warn(`${path}: malformed record: ${cp.slice(0, 30)}...`);
      continue;
    }
    const end = cp.indexOf('>: ', 1);
    if (end < 0) {
      msg.warn(`${path}: malformed record: ${cp.slice(0, 30)}...`);
      continue;
    }
    address = cp.slice(1, end) || '(MAILER-DAEMON)';
    reason = cp.slice(end + 2).replace(/^\s+/, '');
  }
  return out;
}

export interface ShowqOptions {
  /** empty_address_recipient */
  emptyAddress: string;
  /** duplicate_filter_limit (0 = no limit) */
  dupFilterLimit: number;
  /** util_utf8_enable */
  utf8: boolean;
}

export function showqOptions(config: MailConfig): ShowqOptions {
  return {
    emptyAddress: config.str('empty_address_recipient') || 'MAILER-DAEMON',
    dupFilterLimit: config.int('duplicate_filter_limit'),
    utf8: smtputf8Enabled(config),
  };
}

/**
 * showqReport - the listing entry of one open queue file (showq_report()),
 * or undefined when the file has no (or a misplaced) sender record.
 */
export function showqReport(
  config: MailConfig,
  opts: ShowqOptions,
  queue: string,
  id: string,
  qfile: RecordFile,
  st: { size: number; mtime: number; mode: number },
): ShowqMessage | undefined {
  let arrival = 0;
  let msgSize = st.size;
  let sizeOk = false;
  let message: ShowqMessage | undefined;
  let dupFilter: Set<string> | undefined;
  for (;;) {
    const rec = qfile.getRaw(REC_FLAG_DEFAULT, 0);
    if (rec.type <= 0) break;
    const start = rec.data.toString('latin1');
    if (msgVerbose) msg.info(`record ${String.fromCharCode(rec.type)} ${printable(rec.data, false)}`);
    switch (rec.type) {
      case REC.TIME:
        if (arrival === 0) arrival = atol(start);
        break;
      case REC.SIZE:
        if (!sizeOk) {
          sizeOk = /^[0-9 ]*$/.test(start) && (msgSize = atol(start)) >= 0;
          if (!sizeOk) {
            msg.warn(`${id}: malformed size record: ${printable(rec.data, opts.utf8).slice(0, 100)} -- using file size instead`);
            msgSize = st.size;
          }
        }
        break;
      case REC.FROM: {
        const sender = quotedPrintable(rec.data.length === 0 ? Buffer.from(opts.emptyAddress, 'latin1') : rec.data, opts.utf8);
        if (message) {
          msg.warn(`${id}: duplicate sender address: ${sender} -- skipping remainder of this file`);
          return message;
        }
        message = {
          queueName: queue,
          queueId: id,
          time: arrival > 0 ? arrival : st.mtime,
          size: msgSize,
          forcedExpire: (st.mode & MAIL_QUEUE_STAT_EXPIRE) !== 0,
          sender,
          recipients: [],
        };
        // Recipients with reasons from the defer logfile come first.
        let log: Buffer | undefined;
        try {
          log = readFileSync(mailQueuePath(config, MAIL_QUEUE.DEFER, id));
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'ENOTDIR') {
            msg.warn(`open ${MAIL_QUEUE.DEFER} ${id}: ${strerror(e as NodeJS.ErrnoException)}`);
          }
        }
        if (log !== undefined) {
          dupFilter = new Set();
          for (const entry of readDeferLog(log, mailQueueRelPath(config, MAIL_QUEUE.DEFER, id), opts.utf8)) {
            if (opts.dupFilterLimit === 0 || dupFilter.size < opts.dupFilterLimit) dupFilter.add(entry.address);
            message.recipients.push({ address: entry.address, reason: entry.reason });
          }
        }
        break;
      }
      case REC.RCPT: {
        if (!message) {
          msg.warn(`${id}: missing sender address:  -- skipping remainder of this file`);
          return undefined;
        }
        const addr = quotedPrintable(rec.data.length === 0 ? Buffer.from(opts.emptyAddress, 'latin1') : rec.data, opts.utf8);
        if (!dupFilter || !dupFilter.has(addr)) message.recipients.push({ address: addr, reason: '' });
        break;
      }
      case REC.MESG:
        if (sizeOk && !qfile.seek(qfile.tell() + msgSize)) {
          return msg.fatal(`seek file ${qfile.path}: ${qfile.lastError}`);
        }
        break;
      default:
        break;
    }
  }
  return message;
}

/** The queues showq scans, in order; maildrop is flat, the others may be hashed. */
export const SHOWQ_QUEUES: Array<{ name: string; recursive: boolean }> = [
  { name: MAIL_QUEUE.MAILDROP, recursive: false },
  { name: MAIL_QUEUE.ACTIVE, recursive: true },
  { name: MAIL_QUEUE.INCOMING, recursive: true },
  { name: MAIL_QUEUE.DEFERRED, recursive: true },
  { name: MAIL_QUEUE.HOLD, recursive: true },
];

/**
 * scanQueueDir - file names in a queue directory in readdir order,
 * descending into one-character subdirectories where it meets them when
 * `recursive` (scan_dir / mail_scan_dir_next()).
 */
export function* scanQueueDir(top: string, recursive: boolean): Generator<{ name: string; dir: string }> {
  const stack: Array<{ dir: Dir; path: string }> = [];
  const open = (path: string) => {
    try {
      stack.push({ dir: opendirSync(path), path });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') msg.fatal(`open directory ${path}: ${strerror(e as NodeJS.ErrnoException)}`);
    }
  };
  open(top);
  try {
    while (stack.length > 0) {
      const cur = stack[stack.length - 1];
      const ent = cur.dir.readSync();
      if (ent === null) {
        cur.dir.closeSync();
        stack.pop();
        continue;
      }
      if (recursive && ent.name.length === 1) {
        open(join(cur.path, ent.name));
        continue;
      }
      yield { name: ent.name, dir: cur.path };
    }
  } finally {
    for (const s of stack) s.dir.closeSync();
  }
}

/** mailOpenOk - is this a complete queue file that may be opened (mail_open_ok())? */
export function mailOpenOk(config: MailConfig, queue: string, id: string): Stats | undefined {
  if (!mailQueueIdOk(id)) return undefined;
  const path = mailQueuePath(config, queue, id);
  const rel = mailQueueRelPath(config, queue, id);
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msg.warn(`${rel}: ${strerror(e as NodeJS.ErrnoException)}`);
    return undefined;
  }
  if (!st.isFile()) {
    msg.warn(`${rel}: uid ${st.uid}: not a regular file`);
    return undefined;
  }
  if ((st.mode & 0o700) !== MAIL_QUEUE_STAT_READY) return undefined;
  if (st.nlink > 1) {
    if (msgVerbose) msg.info(`${rel}: uid ${st.uid}: file has ${st.nlink} links`);
    else if (st.ctimeMs / 1000 < Date.now() / 1000 - 60) msg.warn(`${rel}: uid ${st.uid}: file has ${st.nlink} links`);
  }
  return st;
}

/**
 * showqScan - call `emit` for each listed message, in showq order. `emit`
 * may return a promise (the daemon waits for the socket to drain).
 */
export async function showqScan(config: MailConfig, emit: (m: ShowqMessage) => void | Promise<void>): Promise<void> {
  const opts = showqOptions(config);
  for (const q of SHOWQ_QUEUES) {
    let savedId: string | undefined;
    for (const { name: id } of scanQueueDir(mailQueueTopDir(config, q.name), q.recursive)) {
      if (savedId !== undefined && savedId === id) {
        msg.warn(`readdir loop on queue ${q.name} id ${id}`);
        break;
      }
      savedId = id;
      const st = mailOpenOk(config, q.name, id);
      if (!st) continue;
      let qfile: RecordFile;
      try {
        qfile = RecordFile.open(mailQueuePath(config, q.name, id), mailQueueRelPath(config, q.name, id));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msg.warn(`open ${q.name} ${id}: ${strerror(e as NodeJS.ErrnoException)}`);
        continue;
      }
      let m: ShowqMessage | undefined;
      try {
        const fst = fstatSync(qfile.fileDescriptor);
        m = showqReport(config, opts, q.name, id, qfile, { size: fst.size, mtime: Math.floor(st.mtimeMs / 1000), mode: st.mode });
      } finally {
        qfile.close();
      }
      if (m) await emit(m);
    }
  }
}

/** showqMessageAttrs - one message as the attribute list showq sends. */
export function showqMessageAttrs(m: ShowqMessage): AttrPairs {
  const pairs: AttrPairs = [
    ['queue_name', m.queueName],
    ['queue_id', m.queueId],
    ['time', m.time],
    ['size', m.size],
    ['forced_expire', m.forcedExpire ? 1 : 0],
    ['sender', m.sender],
  ];
  for (const r of m.recipients) pairs.push(['recipient', r.address], ['reason', r.reason]);
  return pairs;
}

/** showqService - serve one client: the protocol announcement, one list per message, an empty list. */
export async function showqService(stream: VStream, ctx: Pick<ServerContext, 'config'> & { args?: string[] }): Promise<void> {
  if (ctx.args && ctx.args.length > 0) msg.fatal(`unexpected command-line argument: ${ctx.args[0]}`);
  attrSendProtocol(stream, MAIL_ATTR_PROTO_SHOWQ);
  await showqScan(ctx.config, async (m) => {
    if (!sendAttrs(stream, showqMessageAttrs(m))) await stream.flush();
  });
  stream.write(Buffer.from([0]));
  await stream.flush();
}

/** main - the showq daemon on the single-server skeleton. */
export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  await singleServerMain(argv, { service: showqService });
}

/**
 * pickup - local mail pickup (Postfix pickup(8)).
 *
 * A trigger daemon (public/pickup, wakeup 60 s, kicked with "W" by
 * postdrop): it scans the maildrop directory, verifies each complete file,
 * streams its records to the cleanup service with a Received: header of its
 * own, logs "ID: uid=N from=<sender>" (plus "orig_id=" for mail requeued
 * with postsuper -r), and removes the maildrop file only after cleanup
 * accepted the message (or refused it for good).
 *
 * Because maildrop is a sticky world-writable directory here (DESIGN.md
 * section 3), anybody may drop anything into it without going through
 * postdrop. So pickup re-does postdrop's checks and trusts nothing but the
 * file's owner:
 *  - only regular files with one link, opened without following symlinks,
 *    whose opened inode is the one that was checked; others are logged and
 *    left alone (nothing unverified is ever passed on);
 *  - the submitter is the file owner: it goes into the log and Received:
 *    header, authorized_submit_users and local_login_sender_maps are checked
 *    for it, and its files get postdrop's record whitelist (record types and
 *    named attributes); the arrival time comes from the file, not from it;
 *  - only files of mail_owner without "other" read permission (postsuper -r)
 *    keep the full envelope record set, as in Postfix;
 *  - a malformed or refused file is logged and removed.
 */

import { lstat, open, readdir, unlink } from 'node:fs/promises';
import { constants as FS } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { MailConfig } from '../global/mail_conf.js';
import { splitList } from '../global/mail_conf.js';
import { CleanupClient } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_FLAG_MASK_EXTERNAL, CLEANUP_STAT, cleanupStrerror } from '../global/cleanup_user.js';
import { MAIL_QUEUE, mailQueueIdOk } from '../global/mail_queue.js';
import { quote822Local } from '../global/quote_822_local.js';
import {
  REC,
  REC_TYPE_CONTENT,
  REC_TYPE_ENVELOPE,
  REC_TYPE_EXTRACT,
  REC_TYPE_POST_CONTENT,
  REC_TYPE_POST_ENVELOPE,
  REC_TYPE_POST_EXTRACT,
} from '../global/rec_type.js';
import { msg } from '../util/msg.js';
import { postdropAttrAllowed, splitNameval } from '../postdrop/maildrop.js';
import { checkUserAclAsync, confInt, confStr, getpwnam, loginSenderAllowed, mailDate } from '../postdrop/submit_common.js';
import type { ServerContext } from '../master/mail_server.js';

const REMOVE = 1;
const KEEP = 2;
const DAY = 86400;
const HOUR = 3600;

/** rec_attr_map() names: the only named attributes kept in a requeued extracted segment. */
const REC_ATTR_MAP = new Set(['envelope_id', 'ret_flags', 'notify_flags', 'dsn_orig_rcpt', 'create_time']);

/** How pickup reaches cleanup (tests substitute their own server). */
export type CleanupOpener = (config: MailConfig, flags: number) => Promise<CleanupClient>;

export interface PickupOptions {
  openCleanup?: CleanupOpener;
}

interface PickupInfo {
  id: string;
  path: string;
  name: string;
  uid: number;
  mode: number;
  mtime: number;
  mtimeUsec: number;
  sender: string | undefined;
  /** postsuper -r file of mail_owner: full envelope record set allowed */
  requeued: boolean;
}

/** AsyncRecordReader - rec_get() over a file handle, bounded. */
class FileRecordReader {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private start = 0;
  private end = 0;
  private eof = false;
  private filePos = 0;
  private jumps = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly maxLen: number,
    /** follow `p` pointer records (requeued files); otherwise they are returned as records */
    private readonly followPointers: boolean,
    /** the file name in warnings, as rec_get() logs it (e.g. maildrop/ID) */
    private readonly path = 'queue file',
  ) {}

  private seek(offset: number): void {
    this.start = this.end = 0;
    this.filePos = offset;
    this.eof = false;
  }

  private async fill(): Promise<void> {
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.end);
      this.buf = bigger;
    }
    const { bytesRead } = await this.fh.read(this.buf, this.end, this.buf.length - this.end, this.filePos);
    if (bytesRead === 0) this.eof = true;
    this.end += bytesRead;
    this.filePos += bytesRead;
  }

  /** next - a record, or a negative pseudo type: -1 end of file, -2 malformed. */
  async next(): Promise<{ type: number; data: Buffer }> {
    for (;;) {
      if (this.end > this.start) {
        let len = 0;
        let shift = 1;
        let pos = this.start + 1;
        let complete = false;
        for (let n = 0; pos < this.end; n++) {
          const b = this.buf[pos++];
          len += (b & 0x7f) * shift;
          if ((b & 0x80) === 0) {
            complete = true;
            break;
          }
          shift *= 128;
          if (n >= 4) {
            msg.warn(`${this.path}: too many length bits, record type ${this.buf[this.start]}`);
            return { type: -2, data: Buffer.alloc(0) };
          }
        }
        if (complete && len > this.maxLen) {
          msg.warn(`${this.path}: illegal length ${len}, record type ${this.buf[this.start]}`);
          return { type: -2, data: Buffer.alloc(0) };
        }
        if (complete && pos + len <= this.end) {
          const type = this.buf[this.start];
          const data = Buffer.from(this.buf.subarray(pos, pos + len));
          this.start = pos + len;
          if (type === REC.PTR && this.followPointers) {
            const text = data.toString('latin1').trim();
            if (!/^\d+$/.test(text) || ++this.jumps > 100000) return { type: -2, data: Buffer.alloc(0) };
            const offset = Number(text);
            if (offset > 0) this.seek(offset);
            continue;
          }
          return { type, data };
        }
      }
      if (this.eof) {
        if (this.end > this.start) {
          // what rec_get_raw() says about a truncated record
          const type = this.buf[this.start];
          let len = 0;
          let shift = 1;
          let complete = false;
          for (let pos = this.start + 1; pos < this.end; pos++) {
            len += (this.buf[pos] & 0x7f) * shift;
            shift *= 128;
            if ((this.buf[pos] & 0x80) === 0) {
              complete = true;
              break;
            }
          }
          msg.warn(complete ? `${this.path}: unexpected EOF in data, record type ${type} length ${len}` : `${this.path}: unexpected EOF reading length, record type ${type}`);
          return { type: -2, data: Buffer.alloc(0) };
        }
        return { type: -1, data: Buffer.alloc(0) };
      }
      await this.fill();
    }
  }
}

/** inputTranspCleanup - receive_override_options applied to cleanup flags (input_transp.c). */
export function inputTranspCleanup(flags: number, overrides: string): number {
  for (const opt of splitList(overrides)) {
    switch (opt.toLowerCase()) {
      case 'no_address_mappings':
        flags &= ~(CLEANUP_FLAG.BCC_OK | CLEANUP_FLAG.MAP_OK);
        break;
      case 'no_header_body_checks':
        flags &= ~CLEANUP_FLAG.FILTER;
        break;
      case 'no_milters':
        flags &= ~CLEANUP_FLAG.MILTER;
        break;
      case 'no_unknown_recipient_checks':
      case 'no_address_mappings_after_filter':
      case 'no_8bit_mime_downgrade':
        break;
      default:
        msg.warn(`invalid receive_override_options value: ${opt}`);
    }
  }
  return flags;
}

/** pickupFlags - the cleanup flags for one file. */
function pickupFlags(config: MailConfig, requeued: boolean): number {
  let flags = inputTranspCleanup(CLEANUP_FLAG.BOUNCE | CLEANUP_FLAG_MASK_EXTERNAL, confStr(config, 'receive_override_options', ''));
  if (requeued) flags &= ~CLEANUP_FLAG.MILTER;
  else if (
    confStr(config, 'smtputf8_enable', 'yes') === 'yes' &&
    splitList(confStr(config, 'smtputf8_autodetect_classes', 'sendmail, verify')).includes('sendmail')
  ) {
    flags |= CLEANUP_FLAG.AUTOUTF8;
  }
  return flags;
}

/** copySegment - copy records up to the segment terminator (pickup.c copy_segment()); 0 = ok. */
async function copySegment(
  reader: FileRecordReader,
  cleanup: CleanupClient,
  info: PickupInfo,
  expected: string,
  segment: 'envelope' | 'content' | 'extract',
): Promise<number> {
  let checkFirst = segment === 'content';
  let timeSeen = false;
  for (;;) {
    const { type, data } = await reader.next();
    if (type < 0 || !expected.includes(String.fromCharCode(type))) {
      msg.warn(`uid=${info.uid}: unexpected or malformed record type ${type}`);
      return REMOVE;
    }
    if (type === expected.charCodeAt(0)) return 0;
    if (type === REC.DTXT) continue;
    if (type === REC.FROM) {
      if (data.includes(0)) {
        msg.warn(`uid=${info.uid}: unexpected or malformed record type ${type}`);
        return REMOVE;
      }
      if (info.sender === undefined) info.sender = data.toString('latin1');
      if (!timeSeen) {
        await cleanup.record(REC.TIME, `${info.mtime}`);
        timeSeen = true;
      }
    }
    if (type === REC.TIME) {
      if (timeSeen) continue;
      timeSeen = true;
      if (!info.requeued) {
        // the submitter does not choose the arrival time: postdrop's stamp is kept only when it
        // is consistent with the file's modification time
        const m = /^(\d+)(?: (\d+))?$/.exec(data.toString('latin1'));
        const sec = m ? Number(m[1]) : -1;
        if (sec > info.mtime || sec < info.mtime - HOUR) {
          await cleanup.record(REC.TIME, `${info.mtime} ${info.mtimeUsec}`);
          continue;
        }
      }
    }
    if (segment !== 'content') {
      if (type === REC.FILT || type === REC.RDR) continue;
    }
    if (segment === 'extract' && (type === REC.RRTO || type === REC.ERTO)) continue;
    if (type === REC.ATTR && segment !== 'content') {
      const nv = splitNameval(data.toString('latin1'));
      if (!info.requeued) {
        if (typeof nv === 'string' || !postdropAttrAllowed(nv.name, nv.value)) {
          msg.warn(`uid=${info.uid}: ignoring attribute record: ${data.toString('latin1').slice(0, 200)}`);
          continue;
        }
      } else if (segment === 'extract' && (typeof nv === 'string' || !REC_ATTR_MAP.has(nv.name))) {
        continue;
      }
    }
    if (checkFirst && (type === REC.NORM || type === REC.CONT)) {
      checkFirst = false;
      if (data.length > 0 && (data[0] === 0x20 || data[0] === 0x09)) await cleanup.record(REC.NORM, '');
    }
    await cleanup.record(type, data);
  }
}

/** pickupCopy - copy one verified file to cleanup (pickup.c pickup_copy()). */
async function pickupCopy(config: MailConfig, reader: FileRecordReader, cleanup: CleanupClient, info: PickupInfo): Promise<number> {
  const now = Math.floor(Date.now() / 1000);
  if (info.mtime > now + 2 * HOUR) {
    msg.warn(`${info.id}: message ${info.path} dated ${info.mtime - now} seconds into the future`);
    info.mtime = now;
    info.mtimeUsec = 0;
  } else if (info.mtime < now - DAY) {
    msg.warn(`${info.id}: message ${info.path} has been queued for ${Math.floor((now - info.mtime) / DAY)} days`);
  }
  const filter = confStr(config, 'content_filter', '');
  if (filter) await cleanup.record(REC.FILT, filter);

  const env = info.requeued ? REC_TYPE_ENVELOPE : 'M' + REC_TYPE_POST_ENVELOPE.replace('M', '') + 'T';
  let status = await copySegment(reader, cleanup, info, env, 'envelope');
  if (status) return status;
  if (info.sender === undefined) {
    msg.warn(`${info.id}: uid=${info.uid}: no envelope sender`);
    return REMOVE;
  }
  if (!info.requeued && !(await loginSenderAllowed(config, info.uid, info.sender))) {
    msg.warn(`${info.id}: uid=${info.uid}: not authorized to use sender='${info.sender}'`);
    return REMOVE;
  }
  const external = confStr(config, 'info_log_address_format', 'external') !== 'internal';
  const from = info.sender === '' || !external ? info.sender : quote822Local(info.sender);
  if (info.requeued) msg.info(`${info.id}: uid=${info.uid} from=<${from}> orig_id=${info.name}`);
  else msg.info(`${info.id}: uid=${info.uid} from=<${from}>`);

  await cleanup.record(REC.MESG, '');
  await cleanup.record(
    REC.NORM,
    `Received: by ${config.str('myhostname')} (${confStr(config, 'mail_name', 'Postfix')}, from userid ${info.uid})`,
  );
  await cleanup.record(REC.NORM, `\tid ${info.id}; ${mailDate(new Date(info.mtime * 1000))}`);
  status = await copySegment(reader, cleanup, info, info.requeued ? REC_TYPE_CONTENT.replace('w', '') : REC_TYPE_POST_CONTENT, 'content');
  if (status) return status;
  await cleanup.record(REC.XTRA, '');
  status = await copySegment(reader, cleanup, info, info.requeued ? REC_TYPE_EXTRACT : REC_TYPE_POST_EXTRACT, 'extract');
  if (status) return status;
  let result;
  try {
    result = await cleanup.finish();
  } catch {
    msg.warn(`${info.path}: error writing ${info.id}: ${cleanupStrerror(CLEANUP_STAT.WRITE)}`);
    return KEEP;
  }
  if (result.status === 0) return REMOVE;
  if (!result.reason) msg.warn(`${info.path}: error writing ${info.id}: ${cleanupStrerror(result.status)}`);
  return result.status & (CLEANUP_STAT.BAD | CLEANUP_STAT.RCPT) ? REMOVE : KEEP;
}

/** ownerUid - the uid of mail_owner (for requeued-file recognition); the process uid when unprivileged. */
function mailOwnerUid(config: MailConfig): number {
  const pw = getpwnam(confStr(config, 'mail_owner', 'postfix'));
  const self = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (self !== 0) return self;
  return pw ? pw.uid : -1;
}

/**
 * pickupFile - verify and copy one maildrop file; returns REMOVE or KEEP,
 * or null when the file is not (yet) ours to take (left alone).
 */
async function pickupFile(config: MailConfig, dir: string, name: string, opts: PickupOptions): Promise<number | null> {
  if (!mailQueueIdOk(name)) return null;
  const path = join(dir, name);
  const rel = `${MAIL_QUEUE.MAILDROP}/${name}`;
  let st;
  try {
    st = await lstat(path, { bigint: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msg.warn(`${rel}: ${(e as Error).message}`);
    return null;
  }
  const uid = Number(st.uid);
  const mode = Number(st.mode);
  if ((mode & FS.S_IFMT) !== FS.S_IFREG) {
    msg.warn(`${rel}: uid ${uid}: not a regular file`);
    return null;
  }
  if ((mode & 0o700) !== 0o700) return null; // still being written
  if (st.nlink > 1n) {
    msg.warn(`${rel}: uid ${uid}: file has ${st.nlink} links`);
    return null;
  }
  let fh: FileHandle;
  try {
    fh = await open(path, FS.O_RDONLY | FS.O_NONBLOCK | FS.O_NOFOLLOW);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return null;
    msg.warn(`open input file ${rel}: ${err.message}`);
    return err.code === 'EACCES' ? KEEP : REMOVE;
  }
  try {
    const fst = await fh.stat({ bigint: true });
    if (fst.ino !== st.ino || fst.dev !== st.dev || fst.nlink > 1n || (Number(fst.mode) & FS.S_IFMT) !== FS.S_IFREG) {
      msg.warn(`${rel}: uid ${uid}: file changed while it was being opened`);
      return null;
    }
    const info: PickupInfo = {
      id: '',
      path: rel,
      name,
      uid,
      mode: Number(fst.mode),
      mtime: Number(fst.mtimeMs / 1000n),
      mtimeUsec: Number(fst.mtimeNs % 1000000000n) / 1000,
      sender: undefined,
      requeued: uid === mailOwnerUid(config) && (Number(fst.mode) & FS.S_IROTH) === 0,
    };
    info.mtimeUsec = Math.floor(info.mtimeUsec);
    if (!info.requeued) {
      const denied = await checkUserAclAsync(config, 'authorized_submit_users', uid);
      if (denied !== null) {
        msg.warn(`${rel}: uid=${uid}: User ${denied}(${uid}) is not allowed to submit mail`);
        return REMOVE;
      }
    }
    const openCleanup: CleanupOpener = opts.openCleanup ?? ((c, f) => CleanupClient.open(c, f));
    let cleanup: CleanupClient;
    try {
      cleanup = await openCleanup(config, pickupFlags(config, info.requeued));
    } catch (e) {
      msg.warn(`connect to public/${confStr(config, 'cleanup_service_name', 'cleanup')}: ${(e as Error).message}`);
      return KEEP;
    }
    info.id = cleanup.queueId;
    const reader = new FileRecordReader(fh, confInt(config, 'line_length_limit', 2048) * 2 + 1024, info.requeued, rel);
    let status: number;
    try {
      status = await pickupCopy(config, reader, cleanup, info);
    } catch (e) {
      msg.warn(`${rel}: ${(e as Error).message}`);
      status = KEEP;
    }
    cleanup.abort(); // after finish() a no-op; otherwise cleanup drops its unfinished file
    return status;
  } finally {
    await fh.close();
  }
}

/**
 * pickupScan - one service round (pickup.c pickup_service()): scan maildrop
 * until a pass removes nothing. Returns the number of files removed.
 */
export async function pickupScan(config: MailConfig, opts: PickupOptions = {}): Promise<number> {
  const dir = join(config.str('queue_directory'), MAIL_QUEUE.MAILDROP);
  let total = 0;
  for (;;) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      return msg.fatal(`open directory ${MAIL_QUEUE.MAILDROP}: ${(e as Error).message}`);
    }
    let removed = 0;
    for (const name of names) {
      const status = await pickupFile(config, dir, name, opts);
      if (status === REMOVE) {
        try {
          await unlink(join(dir, name));
          removed++;
        } catch (e) {
          msg.warn(`remove ${MAIL_QUEUE.MAILDROP}/${name}: ${(e as Error).message}`);
        }
      }
    }
    total += removed;
    if (removed === 0) return total;
  }
}

/** pickupService - the trigger service routine: any trigger means "scan now". */
export async function pickupService(_request: Buffer, ctx: ServerContext): Promise<void> {
  if (ctx.args.length > 0) msg.fatal(`unexpected command-line argument: ${ctx.args[0]}`);
  await pickupScan(ctx.config);
}

/** main - pickup [generic daemon options] (run by master). */
export async function main(argv: string[]): Promise<void> {
  const { triggerServerMain } = await import('../master/trigger_server.js');
  await triggerServerMain(argv, { service: pickupService, solitary: true });
}

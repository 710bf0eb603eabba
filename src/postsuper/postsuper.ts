/**
 * postsuper - Postfix superintendent (Postfix postsuper(1)).
 *
 * postsuper [-psSv] [-c config_dir] [-d queue_id] [-e queue_id]
 *     [-f queue_id] [-h queue_id] [-H queue_id] [-r queue_id] [queue...]
 *
 * Queue maintenance for the superuser: delete (-d), hold (-h), release from
 * hold (-H), requeue through maildrop (-r), force-expire (-e), force-expire
 * and release (-f) single messages by ID, IDs read from stdin ("-"), or ALL
 * messages; -s/-S repair the queue structure (hash levels, file names that
 * do not match the inode number), -p purges stale temporary files. With no
 * options it does -s and -p. Repairs always run first; the other operations
 * run in command-line order. Progress and totals go to stderr and the mail
 * log ("ID: removed", "Deleted: 1 message").
 *
 * Run as root it works as mail_owner, like Postfix. Difference: in an
 * instance run by an ordinary user, that user (when it is mail_owner) may use
 * it too. It never follows symlinks out of the queue when changing modes.
 */

import {
  closeSync,
  constants as FS,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  opendirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  utimesSync,
  type Dir,
  type Stats,
} from 'node:fs';
import { basename } from 'node:path';
import { msg, msgAddOutput, msgCleanup, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { MailConfig } from '../global/mail_conf.js';
import { strerror } from '../util/msg_logwriter.js';
import {
  MAIL_QUEUE,
  MAIL_QUEUE_STAT_EXPIRE,
  MAIL_QUEUE_STAT_READY,
  MQID_LG_INUM_SEP,
  MQID_SH_USEC_PAD,
  fileId,
  findLongInumSeparator,
  longIdHexUsec,
  longQueueIds,
  mailQueueIdOk,
  mailQueueRelPath,
  queueIdInode,
  renamePathSync,
} from '../global/mail_queue.js';
import { Getopt } from '../util/getopt.js';
import { getpwnam } from '../util/mypwd.js';
import { initMaillog } from '../postqueue/postqueue.js';

const MAX_TEMP_AGE = 7 * 60 * 60 * 24;

export const ACTION = {
  STRUCT: 1 << 0,
  PURGE: 1 << 1,
  DELETE_ONE: 1 << 2,
  DELETE_ALL: 1 << 3,
  REQUEUE_ONE: 1 << 4,
  REQUEUE_ALL: 1 << 5,
  HOLD_ONE: 1 << 6,
  HOLD_ALL: 1 << 7,
  RELEASE_ONE: 1 << 8,
  RELEASE_ALL: 1 << 9,
  STRUCT_RED: 1 << 10,
  EXPIRE_ONE: 1 << 11,
  EXPIRE_ALL: 1 << 12,
  EXP_REL_ONE: 1 << 13,
  EXP_REL_ALL: 1 << 14,
} as const;
const ACTION_DEFAULT = ACTION.STRUCT | ACTION.PURGE;
const ACTIONS_BY_QUEUE_ID =
  ACTION.DELETE_ONE | ACTION.REQUEUE_ONE | ACTION.HOLD_ONE | ACTION.RELEASE_ONE | ACTION.EXPIRE_ONE | ACTION.EXP_REL_ONE;
const ACTIONS_BY_WILDCARD =
  ACTION.DELETE_ALL | ACTION.REQUEUE_ALL | ACTION.HOLD_ALL | ACTION.RELEASE_ALL | ACTION.EXPIRE_ALL | ACTION.EXP_REL_ALL;
const ACTIONS_FOR_REPAIR = ACTION.PURGE | ACTION.STRUCT | ACTION.STRUCT_RED;

interface QueueInfo {
  name: string;
  perms: number;
  recurse: boolean;
}

const QUEUE_INFO: QueueInfo[] = [
  { name: MAIL_QUEUE.MAILDROP, perms: MAIL_QUEUE_STAT_READY, recurse: false },
  { name: MAIL_QUEUE.INCOMING, perms: MAIL_QUEUE_STAT_READY, recurse: true },
  { name: MAIL_QUEUE.ACTIVE, perms: MAIL_QUEUE_STAT_READY, recurse: true },
  { name: MAIL_QUEUE.DEFERRED, perms: MAIL_QUEUE_STAT_READY, recurse: true },
  { name: MAIL_QUEUE.HOLD, perms: MAIL_QUEUE_STAT_READY, recurse: true },
  { name: MAIL_QUEUE.TRACE, perms: 0o600, recurse: true },
  { name: MAIL_QUEUE.DEFER, perms: 0o600, recurse: true },
  { name: MAIL_QUEUE.BOUNCE, perms: 0o600, recurse: true },
  { name: MAIL_QUEUE.FLUSH, perms: 0o600, recurse: true },
];

const LOG_QUEUE_NAMES = [MAIL_QUEUE.BOUNCE, MAIL_QUEUE.DEFER, MAIL_QUEUE.TRACE];

/** Default queues: log directories before message directories (structure checks need that order). */
export const DEFAULT_QUEUES = [
  MAIL_QUEUE.DEFER,
  MAIL_QUEUE.BOUNCE,
  MAIL_QUEUE.MAILDROP,
  MAIL_QUEUE.INCOMING,
  MAIL_QUEUE.ACTIVE,
  MAIL_QUEUE.DEFERRED,
  MAIL_QUEUE.HOLD,
  MAIL_QUEUE.FLUSH,
];

const SUFFIX = '#FIX';

const isMessageQueue = (qp: QueueInfo) => qp.perms === MAIL_QUEUE_STAT_READY;
const readyMessage = (st: Stats) => (st.mode & 0o700) === MAIL_QUEUE_STAT_READY;
const code = (e: unknown) => (e as NodeJS.ErrnoException).code;
const etext = (e: unknown) => strerror(e as NodeJS.ErrnoException);

/** Postsuper - one run: the counters and the operations (paths are relative to queue_directory). */
export class Postsuper {
  requeued = 0;
  held = 0;
  released = 0;
  deleted = 0;
  expired = 0;
  inodeFixed = 0;
  inodeMismatch = 0;
  positionMismatch = 0;
  private readonly hashNames: string[];
  private readonly hashDepth: number;
  private readonly longIds: boolean;

  constructor(private readonly config: MailConfig) {
    this.hashNames = config.list('hash_queue_names');
    this.hashDepth = config.int('hash_queue_depth');
    this.longIds = longQueueIds(config);
  }

  findQueueInfo(name: string): QueueInfo {
    const qp = QUEUE_INFO.find((q) => q.name === name);
    if (!qp) return msg.fatal(`invalid directory name: ${name}`);
    return qp;
  }

  private path(queue: string, id: string): string {
    return mailQueueRelPath(this.config, queue, id);
  }

  /** mailOpenOk - a complete message file at its proper place? (mail_open_ok()) */
  private openOk(queue: string, id: string): { st: Stats; path: string } | undefined {
    if (!mailQueueIdOk(id)) return undefined;
    const path = this.path(queue, id);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (e) {
      if (code(e) !== 'ENOENT') msg.warn(`${path}: ${etext(e)}`);
      return undefined;
    }
    if (!st.isFile()) {
      msg.warn(`${path}: uid ${st.uid}: not a regular file`);
      return undefined;
    }
    if (!readyMessage(st)) return undefined;
    return { st, path };
  }

  private remove(path: string): boolean {
    try {
      rmSync(path);
      if (msgVerbose) msg.info(`removed file ${path}`);
      return true;
    } catch (e) {
      if (code(e) !== 'ENOENT') msg.fatal(`remove file ${path}: ${etext(e)}`);
      return false;
    }
  }

  private rename(from: string, to: string): boolean {
    try {
      renamePathSync(from, to);
      if (msgVerbose) msg.info(`renamed file ${from} as ${to}`);
      return true;
    } catch (e) {
      if (code(e) !== 'ENOENT') msg.fatal(`rename file ${from} as ${to}: ${etext(e)}`);
      return false;
    }
  }

  private rmdir(path: string): void {
    try {
      rmdirSync(path);
      if (msgVerbose) msg.info(`remove directory ${path}`);
    } catch (e) {
      if (code(e) !== 'ENOENT') msg.fatal(`remove directory ${path}: ${etext(e)}`);
    }
  }

  /** expire - set the group-execute bit of a ready queue file; false when not done (postexpire()). */
  private expire(path: string): boolean {
    let fd: number;
    try {
      fd = openSync(path, FS.O_RDWR | FS.O_NOFOLLOW);
    } catch (e) {
      if (code(e) !== 'ENOENT') msg.warn(`expire file ${path}: ${etext(e)}`);
      return false;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) {
        msg.warn(`expire file ${path}: not a regular file`);
        return false;
      }
      if (!readyMessage(st) || (st.mode & MAIL_QUEUE_STAT_EXPIRE) !== 0) return false;
      try {
        fchmodSync(fd, (st.mode | MAIL_QUEUE_STAT_EXPIRE) & 0o7777);
      } catch (e) {
        msg.warn(`expire file ${path}: cannot set permission: ${etext(e)}`);
        return false;
      }
      return true;
    } finally {
      closeSync(fd);
    }
  }

  deleteOne(queues: string[], id: string): void {
    if (!mailQueueIdOk(id)) {
      msg.warn(`invalid mail queue id: ${id}`);
      return;
    }
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (!isMessageQueue(this.findQueueInfo(q))) continue;
        const ok = this.openOk(q, id);
        if (!ok) continue;
        for (const lq of LOG_QUEUE_NAMES) this.remove(this.path(lq, id));
        if (this.remove(ok.path)) {
          found = true;
          msg.info(`${id}: removed`);
          break;
        }
      }
    }
    if (found) this.deleted++;
  }

  requeueOne(queues: string[], id: string): void {
    if (!mailQueueIdOk(id)) {
      msg.warn(`invalid mail queue id: ${id}`);
      return;
    }
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (q === MAIL_QUEUE.MAILDROP) continue;
        if (!isMessageQueue(this.findQueueInfo(q))) continue;
        const ok = this.openOk(q, id);
        if (!ok) continue;
        const newPath = this.path(MAIL_QUEUE.MAILDROP, id);
        if (this.rename(ok.path, newPath)) {
          const now = new Date();
          try {
            utimesSync(newPath, now, now);
          } catch (e) {
            msg.warn(`${newPath}: reset time stamps: ${etext(e)}`);
          }
          msg.info(`${id}: requeued`);
          found = true;
          break;
        }
      }
    }
    if (found) this.requeued++;
  }

  holdOne(queues: string[], id: string): void {
    if (!mailQueueIdOk(id)) {
      msg.warn(`invalid mail queue id: ${id}`);
      return;
    }
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (q === MAIL_QUEUE.MAILDROP || q === MAIL_QUEUE.HOLD) continue;
        if (!isMessageQueue(this.findQueueInfo(q))) continue;
        const ok = this.openOk(q, id);
        if (!ok) continue;
        if (this.rename(ok.path, this.path(MAIL_QUEUE.HOLD, id))) {
          msg.info(`${id}: placed on hold`);
          found = true;
          break;
        }
      }
    }
    if (found) this.held++;
  }

  releaseOne(queues: string[], id: string): void {
    if (!mailQueueIdOk(id)) {
      msg.warn(`invalid mail queue id: ${id}`);
      return;
    }
    for (const q of queues) {
      if (q !== MAIL_QUEUE.HOLD) continue;
      const ok = this.openOk(q, id);
      if (!ok) continue;
      if (this.rename(ok.path, this.path(MAIL_QUEUE.DEFERRED, id))) {
        msg.info(`${id}: released from hold`);
        this.released++;
        break;
      }
    }
  }

  expireOne(queues: string[], id: string): void {
    if (!mailQueueIdOk(id)) {
      msg.warn(`invalid mail queue id: ${id}`);
      return;
    }
    let found = false;
    for (let tries = 0; !found && tries < 2; tries++) {
      for (const q of queues) {
        if (!isMessageQueue(this.findQueueInfo(q))) continue;
        if (q === MAIL_QUEUE.MAILDROP) continue;
        const ok = this.openOk(q, id);
        if (!ok) continue;
        if (this.expire(ok.path)) {
          found = true;
          msg.info(`${id}: expired`);
          break;
        }
      }
    }
    if (found) this.expired++;
  }

  expRelOne(queues: string[], id: string): void {
    this.expireOne(queues, id);
    this.releaseOne(queues, id);
  }

  /** fixQueueId - rename a message (and its logs) to newid#FIX where newid matches the inode (fix_queue_id()). */
  private fixQueueId(actualPath: string, queue: string, id: string, st: Stats): boolean {
    const z = findLongInumSeparator(id);
    let newId: string;
    if (z < 0) newId = id.slice(0, MQID_SH_USEC_PAD) + fileId(BigInt(st.ino), false);
    else if (this.longIds) newId = id.slice(0, z) + MQID_LG_INUM_SEP + fileId(BigInt(st.ino), true);
    else newId = longIdHexUsec(id, z) + fileId(BigInt(st.ino), false);
    for (const lq of LOG_QUEUE_NAMES) this.rename(this.path(lq, id), this.path(lq, newId) + SUFFIX);
    return this.rename(actualPath, this.path(queue, newId) + SUFFIX);
  }

  /** super - repair the structure and do one mass operation over the named queues. */
  super(queues: string[], action: number): void {
    for (const queueName of queues) {
      if (msgVerbose) msg.info(`queue: ${queueName}`);
      const qp = this.findQueueInfo(queueName);
      const wantedDepth = this.hashNames.includes(queueName) ? this.hashDepth : 0;
      if (wantedDepth > 0 && !qp.recurse) msg.fatal(`${queueName} queue must not be hashed`);
      const stack: Array<{ dir: Dir; path: string }> = [];
      try {
        stack.push({ dir: opendirSync(queueName), path: queueName });
      } catch (e) {
        msg.fatal(`open directory ${queueName}: ${etext(e)}`);
      }
      while (stack.length > 0) {
        const cur = stack[stack.length - 1];
        const ent = cur.dir.readSync();
        if (ent === null) {
          cur.dir.closeSync();
          stack.pop();
          if (stack.length > 0 && stack.length > wantedDepth) this.rmdir(cur.path);
          continue;
        }
        let name = ent.name;
        if (name.length === 1 && qp.recurse) {
          const sub = `${cur.path}/${name}`;
          try {
            stack.push({ dir: opendirSync(sub), path: sub });
          } catch (e) {
            if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') msg.fatal(`open directory ${sub}: ${etext(e)}`);
          }
          continue;
        }
        let actualPath = `${cur.path}/${name}`;
        let st: Stats;
        try {
          st = lstatSync(actualPath);
        } catch {
          continue;
        }
        if (st.isDirectory()) {
          try {
            rmdirSync(actualPath);
            if (msgVerbose) msg.info(`remove subdirectory ${actualPath}`);
          } catch (e) {
            if (code(e) !== 'ENOENT') msg.warn(`remove subdirectory ${actualPath}: ${etext(e)}`);
          }
          continue;
        }
        if (action & ACTION.DELETE_ALL) {
          if (this.remove(actualPath) && isMessageQueue(qp) && readyMessage(st)) this.deleted++;
          continue;
        }
        if (
          !st.isFile() ||
          (action & ACTION.PURGE && isMessageQueue(qp) && !readyMessage(st) && Date.now() / 1000 > st.mtimeMs / 1000 + MAX_TEMP_AGE)
        ) {
          this.remove(actualPath);
          continue;
        }
        if (action & ACTION.STRUCT && name.endsWith(SUFFIX)) {
          name = name.slice(0, -SUFFIX.length);
          if (!mailQueueIdOk(name)) {
            msg.warn(`bogus file name: ${actualPath}`);
            continue;
          }
          if (isMessageQueue(qp)) {
            const inum = queueIdInode(name);
            if (!inum) {
              msg.warn(`bogus file name: ${actualPath}`);
              continue;
            }
            if (inum.ino !== BigInt(st.ino)) {
              msg.warn(`name/inode mismatch: ${actualPath}`);
              continue;
            }
          }
          const wanted = this.path(queueName, name);
          if (!this.rename(actualPath, wanted)) continue;
          if (isMessageQueue(qp)) this.inodeFixed++;
          actualPath = wanted;
        }
        if (!mailQueueIdOk(name)) {
          msg.warn(`bogus file name: ${actualPath}`);
          continue;
        }
        if (action & ACTION.STRUCT && isMessageQueue(qp)) {
          const inum = queueIdInode(name);
          if (!inum) {
            msg.warn(`bogus file name: ${actualPath}`);
            continue;
          }
          if ((inum.longForm && !this.longIds) || (inum.ino !== BigInt(st.ino) && (!inum.longForm || action & ACTION.STRUCT_RED))) {
            this.inodeMismatch++;
            action &= ~ACTIONS_BY_WILDCARD;
            this.fixQueueId(actualPath, queueName, name, st);
            continue;
          }
        }
        if (action & ACTION.REQUEUE_ALL && isMessageQueue(qp) && queueName !== MAIL_QUEUE.MAILDROP) {
          if (this.rename(actualPath, this.path(MAIL_QUEUE.MAILDROP, name))) this.requeued++;
          continue;
        }
        if (
          action & (ACTION.EXPIRE_ALL | ACTION.EXP_REL_ALL) &&
          isMessageQueue(qp) &&
          readyMessage(st) &&
          queueName !== MAIL_QUEUE.MAILDROP &&
          this.expire(actualPath)
        ) {
          this.expired++;
        }
        if (action & ACTION.HOLD_ALL && isMessageQueue(qp) && queueName !== MAIL_QUEUE.MAILDROP && queueName !== MAIL_QUEUE.HOLD) {
          if (this.rename(actualPath, this.path(MAIL_QUEUE.HOLD, name))) this.held++;
          continue;
        }
        if (action & (ACTION.RELEASE_ALL | ACTION.EXP_REL_ALL) && queueName === MAIL_QUEUE.HOLD) {
          if (this.rename(actualPath, this.path(MAIL_QUEUE.DEFERRED, name))) this.released++;
          continue;
        }
        if (action & ACTION.STRUCT) {
          const wanted = this.path(queueName, name);
          if (actualPath !== wanted) {
            this.positionMismatch++;
            this.rename(actualPath, wanted);
            continue;
          }
        }
      }
    }
  }

  /** report - the totals, as Postfix prints them. */
  report(action: number): void {
    const s = (n: number) => (n !== 1 ? 's' : '');
    if (action & (ACTION.REQUEUE_ONE | ACTION.REQUEUE_ALL)) msg.info(`Requeued: ${this.requeued} message${s(this.requeued)}`);
    if (action & (ACTION.DELETE_ONE | ACTION.DELETE_ALL)) msg.info(`Deleted: ${this.deleted} message${s(this.deleted)}`);
    if (action & (ACTION.EXPIRE_ONE | ACTION.EXPIRE_ALL | ACTION.EXP_REL_ONE | ACTION.EXP_REL_ALL))
      msg.info(`Force-expired: ${this.expired} message${s(this.expired)}`);
    if (action & (ACTION.HOLD_ONE | ACTION.HOLD_ALL)) msg.info(`Placed on hold: ${this.held} message${s(this.held)}`);
    if (action & (ACTION.RELEASE_ONE | ACTION.RELEASE_ALL | ACTION.EXP_REL_ONE | ACTION.EXP_REL_ALL))
      msg.info(`Released from hold: ${this.released} message${s(this.released)}`);
    if (this.inodeFixed > 0) msg.info(`Renamed to match inode number: ${this.inodeFixed} message${s(this.inodeFixed)}`);
    if (this.inodeMismatch > 0 || this.inodeFixed > 0) msg.warn('QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS');
  }
}

const GETOPT_LIST = 'c:d:e:f:h:H:pr:sSv';

/** readIds - queue IDs from stdin, one per line (operate_stream()). */
function readIds(): string[] {
  let text: string;
  try {
    text = readFileSync(0, 'latin1');
  } catch {
    text = '';
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** dropPrivileges - as root, work as mail_owner (set_ugid()). */
function dropPrivileges(config: MailConfig): void {
  if (!process.getuid || process.getuid() !== 0) return;
  const owner = config.str('mail_owner');
  const pw = getpwnam(owner);
  if (!pw) return msg.fatal(`file ${config.mainCfPath}: parameter mail_owner: unknown user name value: ${owner}`);
  if (pw.uid === 0) msg.fatal(`file ${config.mainCfPath}: parameter mail_owner: user ${owner} has privileged user ID`);
  process.setgroups?.([pw.gid]);
  process.setgid!(pw.gid);
  process.setuid!(pw.uid);
}

/** main - postsuper command line. */
export async function main(argv: string[]): Promise<void> {
  const progname = basename(process.argv[1] ?? 'postsuper') || 'postsuper';
  process.umask(0o022);
  msgAddOutput((_sev, text) => {
    process.stderr.write(`${progname}: ${text}\n`);
  });
  if (process.env.MAIL_VERBOSE) setMsgVerbose(1);

  // First pass: which actions, without doing them.
  let action = 0;
  let verbose = msgVerbose;
  const g = new Getopt(argv, GETOPT_LIST, progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    switch (c) {
      case 'c':
        if (!g.optarg.startsWith('/')) msg.fatal('-c requires absolute pathname');
        process.env.MAIL_CONFIG = g.optarg;
        break;
      case 'd':
        action |= g.optarg === 'ALL' ? ACTION.DELETE_ALL : ACTION.DELETE_ONE;
        break;
      case 'e':
        action |= g.optarg === 'ALL' ? ACTION.EXPIRE_ALL : ACTION.EXPIRE_ONE;
        break;
      case 'f':
        action |= g.optarg === 'ALL' ? ACTION.EXP_REL_ALL : ACTION.EXP_REL_ONE;
        break;
      case 'h':
        action |= g.optarg === 'ALL' ? ACTION.HOLD_ALL : ACTION.HOLD_ONE;
        break;
      case 'H':
        action |= g.optarg === 'ALL' ? ACTION.RELEASE_ALL : ACTION.RELEASE_ONE;
        break;
      case 'p':
        action |= ACTION.PURGE;
        break;
      case 'r':
        action |= g.optarg === 'ALL' ? ACTION.REQUEUE_ALL : ACTION.REQUEUE_ONE;
        break;
      case 'S':
        action |= ACTION.STRUCT_RED | ACTION.STRUCT;
        break;
      case 's':
        action |= ACTION.STRUCT;
        break;
      case 'v':
        verbose++;
        break;
      default:
        msg.fatal(
          `usage: ${progname} [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] [-f queue_id (expire and/or un-hold)] ` +
            `[-h queue_id (hold)] [-H queue_id (un-hold)] [-p (purge temporary files)] [-r queue_id (requeue)] ` +
            `[-s (structure fix)] [-S (redundant structure fix)][-v (verbose)] [queue...]`,
        );
    }
  }
  setMsgVerbose(verbose);
  const config = MailConfig.load();
  config.setRuntime('process_name', progname);
  const uid = process.getuid ? process.getuid() : 0;
  const ownerUid = getpwnam(config.str('mail_owner'))?.uid;
  if (uid !== 0 && uid !== ownerUid) msg.fatal('use of this command is reserved for the superuser');
  await initMaillog(config, progname);
  const queueDir = config.str('queue_directory');
  try {
    process.chdir(queueDir);
  } catch (e) {
    msg.fatal(`chdir ${queueDir}: ${etext(e)}`);
  }
  dropPrivileges(config);

  const ps = new Postsuper(config);
  msgCleanup(() => {
    if (ps.inodeMismatch > 0 || ps.inodeFixed > 0 || ps.positionMismatch > 0)
      msg.warn('OPERATION INCOMPLETE -- RERUN COMMAND TO FIX THE QUEUE FIRST');
  });
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (ps.inodeMismatch > 0 || ps.inodeFixed > 0 || ps.positionMismatch > 0)
        msg.warn('OPERATION INCOMPLETE -- RERUN COMMAND TO FIX THE QUEUE FIRST');
      process.exit(128 + ({ SIGINT: 2, SIGQUIT: 3, SIGTERM: 15, SIGHUP: 1 } as const)[sig]);
    });
  }

  if (action === 0) action = ACTION_DEFAULT;
  const operands = argv.slice(g.optind);
  const queues = operands.length > 0 ? operands : DEFAULT_QUEUES;

  if (action & ACTIONS_FOR_REPAIR) ps.super(queues, action & ACTIONS_FOR_REPAIR);
  if (ps.inodeMismatch > 0) ps.super(queues, action & ACTIONS_FOR_REPAIR);
  if (action & ACTIONS_BY_QUEUE_ID && (ps.inodeMismatch > 0 || ps.inodeFixed > 0)) {
    msg.error('QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS');
    msg.fatal('CHECK YOUR QUEUE IDS AND RE-ISSUE THE COMMAND');
  }

  // Second pass: the operations, in command-line order.
  let stdinUsed = false;
  const ids = (arg: string): string[] => {
    if (arg !== '-') return [arg];
    if (stdinUsed) return []; // stdin is at end of file after the first "-"
    stdinUsed = true;
    return readIds();
  };
  const g2 = new Getopt(argv, GETOPT_LIST, progname, () => undefined);
  for (let c = g2.next(); c !== -1; c = g2.next()) {
    const arg = g2.optarg;
    switch (c) {
      case 'd':
        if (arg === 'ALL') ps.super(queues, ACTION.DELETE_ALL);
        else for (const id of ids(arg)) ps.deleteOne(queues, id);
        break;
      case 'e':
        if (arg === 'ALL') ps.super(queues, ACTION.EXPIRE_ALL);
        else for (const id of ids(arg)) ps.expireOne(queues, id);
        break;
      case 'f':
        if (arg === 'ALL') ps.super(queues, ACTION.EXP_REL_ALL);
        else for (const id of ids(arg)) ps.expRelOne(queues, id);
        break;
      case 'h':
        if (arg === 'ALL') ps.super(queues, ACTION.HOLD_ALL);
        else for (const id of ids(arg)) ps.holdOne(queues, id);
        break;
      case 'H':
        if (arg === 'ALL') ps.super(queues, ACTION.RELEASE_ALL);
        else for (const id of ids(arg)) ps.releaseOne(queues, id);
        break;
      case 'r':
        if (arg === 'ALL') ps.super(queues, ACTION.REQUEUE_ALL);
        else for (const id of ids(arg)) ps.requeueOne(queues, id);
        break;
      default:
        break;
    }
  }
  ps.report(action);
  process.exit(0);
}

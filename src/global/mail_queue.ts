/**
 * mail_queue - queue file names, queue IDs and queue file creation
 * (Postfix global/mail_queue.c, mail_queue.h, util/dir_forest.c,
 * util/get_file_id.c, global/safe_ultostr.c).
 *
 * This is the ONLY module that knows how queue files are named: which queue
 * directories exist, how a queue ID is built from the clock and the file's
 * inode number, and where hash_queue_names/hash_queue_depth put a file.
 * Everything else asks it for paths. Paths returned here are absolute
 * ($queue_directory/...); mailQueueRelPath() gives the "hold/ID" form that
 * Postfix programs print.
 *
 * Queue IDs (Postfix mail_queue.h):
 *  - short (enable_long_queue_ids = no): "%05X" of the microseconds, then
 *    "%lX" of the inode number, e.g. 339C42103FA;
 *  - long: seconds in base 52 (at least 6 chars), microseconds in base 52
 *    (exactly 4 chars), 'z', inode number in base 51 (no 'z' in it), over the
 *    vowel-free alphabet 0-9 BCDFGHJKLMNPQRSTVWXYZ bcdfghjklmnpqrstvwxy(z).
 * A file is complete only when its owner permission bits are rwx (0700);
 * the group-execute bit marks "force expire", group-read "unthrottle".
 *
 * Never: create a queue file except through mailQueueEnter(), or accept a
 * queue ID that fails mailQueueIdOk() (it would let "../" into a path).
 */

import { constants as FS, fchmodSync, fstatSync, promises as fsp, mkdirSync, openSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MailConfig } from './mail_conf.js';
import { closeQuietly, fsyncAsync } from '../util/iostuff.js';

export const MAIL_QUEUE = {
  MAILDROP: 'maildrop',
  HOLD: 'hold',
  INCOMING: 'incoming',
  ACTIVE: 'active',
  DEFERRED: 'deferred',
  CORRUPT: 'corrupt',
  SAVED: 'saved',
  BOUNCE: 'bounce',
  DEFER: 'defer',
  TRACE: 'trace',
  FLUSH: 'flush',
} as const;

/** Queue file modes (mail_queue.h). */
export const MAIL_QUEUE_STAT_READY = 0o700;
export const MAIL_QUEUE_STAT_CORRUPT = 0o400;
export const MAIL_QUEUE_STAT_UNTHROTTLE = 0o040;
export const MAIL_QUEUE_STAT_EXPIRE = 0o010;

/** VALID_HOSTNAME_LEN: the longest queue ID / flush log name. */
export const VALID_HOSTNAME_LEN = 255;

/** Long queue ID layout (MQID_LG_*). */
export const MQID_LG_SEC_PAD = 6;
export const MQID_LG_USEC_PAD = 4;
export const MQID_LG_TIME_PAD = MQID_LG_SEC_PAD + MQID_LG_USEC_PAD;
export const MQID_LG_INUM_SEP = 'z';
export const MQID_SH_USEC_PAD = 5;

/** The vowel-free alphabet of safe_ultostr(); base 52 uses all of it, base 51 drops the final 'z'. */
const SAFE_ALPHABET = '0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz';

/** safeUltostr - value in the safe alphabet, left-padded with '0' to at least padLen chars. */
export function safeUltostr(value: bigint | number, base: number, padLen: number): string {
  let v = BigInt(value);
  const b = BigInt(base);
  let out = '';
  do {
    out = SAFE_ALPHABET[Number(v % b)] + out;
    v /= b;
  } while (v > 0n);
  return out.padStart(padLen, '0');
}

/** safeStrtoul - inverse of safeUltostr; undefined when a character is outside the base. */
export function safeStrtoul(text: string, base: number): bigint | undefined {
  if (text.length === 0) return undefined;
  let v = 0n;
  for (const ch of text) {
    const d = SAFE_ALPHABET.indexOf(ch);
    if (d < 0 || d >= base) return undefined;
    v = v * BigInt(base) + BigInt(d);
  }
  return v;
}

/** fileId - the inode part of a queue ID (get_file_id_st). */
export function fileId(ino: bigint | number, longForm: boolean): string {
  return longForm ? safeUltostr(ino, 51, 0) : BigInt(ino).toString(16).toUpperCase();
}

/** shortUsec - "%05X" of the microseconds. */
function shortUsec(usec: number): string {
  return usec.toString(16).toUpperCase().padStart(MQID_SH_USEC_PAD, '0');
}

/** makeQueueId - a queue ID from the time and the inode number. */
export function makeQueueId(sec: number, usec: number, ino: bigint | number, longForm: boolean): string {
  if (longForm) {
    return safeUltostr(sec, 52, MQID_LG_SEC_PAD) + safeUltostr(usec, 52, MQID_LG_USEC_PAD) + MQID_LG_INUM_SEP + fileId(ino, true);
  }
  return shortUsec(usec) + fileId(ino, false);
}

/** findLongInumSeparator - index of the 'z' of a long queue ID, or -1 for a short one (MQID_FIND_LG_INUM_SEPARATOR). */
export function findLongInumSeparator(id: string): number {
  const z = id.lastIndexOf(MQID_LG_INUM_SEP);
  return z >= MQID_LG_TIME_PAD ? z : -1;
}

/** longIdHexUsec - the 5 hex digit microsecond form of a long queue ID's time part (MQID_LG_GET_HEX_USEC). */
export function longIdHexUsec(id: string, z: number): string {
  const usec = safeStrtoul(id.slice(z - MQID_LG_USEC_PAD, z), 52);
  return shortUsec(usec === undefined ? 0 : Number(usec));
}

/** queueIdInode - the inode number encoded in a queue ID (MQID_GET_INUM); undefined when malformed. */
export function queueIdInode(id: string): { ino: bigint; longForm: boolean } | undefined {
  const z = findLongInumSeparator(id);
  if (z >= 0) {
    const ino = safeStrtoul(id.slice(z + 1), 51);
    return ino === undefined ? undefined : { ino, longForm: true };
  }
  const hex = id.slice(MQID_SH_USEC_PAD);
  // strtoul() semantics: an empty inode part reads as 0 (which then mismatches any real inode).
  if (!/^[0-9A-Fa-f]*$/.test(hex)) return undefined;
  return { ino: hex === '' ? 0n : BigInt('0x' + hex), longForm: false };
}

/** mailQueueIdOk - a queue ID or flush log name: 1..255 chars of [A-Za-z0-9_]. */
export function mailQueueIdOk(id: string): boolean {
  return id.length > 0 && id.length <= VALID_HOSTNAME_LEN && /^[A-Za-z0-9_]+$/.test(id);
}

/** mailQueueNameOk - a queue (directory) name: 1..100 alphanumerics. */
export function mailQueueNameOk(queue: string): boolean {
  return queue.length > 0 && queue.length <= 100 && /^[A-Za-z0-9]+$/.test(queue);
}

/** QueueIdError - a bad queue name or ID reached a path function (a bug or hostile input). */
export class QueueIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueIdError';
  }
}

interface HashSettings {
  names: Set<string>;
  depth: number;
  longIds: boolean;
  queueDir: string;
}

const hashCache = new WeakMap<MailConfig, { generation: number; value: HashSettings }>();

/** hashSettings - hash_queue_names, hash_queue_depth, enable_long_queue_ids, queue_directory (cached per config and generation). */
function hashSettings(config: MailConfig): HashSettings {
  const cached = hashCache.get(config);
  if (cached && cached.generation === config.generation) return cached.value;
  const value: HashSettings = {
    names: new Set(config.list('hash_queue_names').map((n) => n.toLowerCase())),
    depth: config.int('hash_queue_depth'),
    longIds: config.bool('enable_long_queue_ids'),
    queueDir: config.str('queue_directory'),
  };
  hashCache.set(config, { generation: config.generation, value });
  return value;
}

/** longQueueIds - is enable_long_queue_ids on? */
export function longQueueIds(config: MailConfig): boolean {
  return hashSettings(config).longIds;
}

/** dirForest - the hash subdirectories for a name: one char per level, '_' when the name is short. */
export function dirForest(name: string, depth: number): string[] {
  const out: string[] = [];
  for (let n = 0; n < depth; n++) {
    const ch = n < name.length ? name[n] : '_';
    if (ch === '.' || ch === '/' || ch < ' ' || ch > '~') throw new QueueIdError(`dir_forest: invalid pathname: ${name}`);
    out.push(ch);
  }
  return out;
}

/** mailQueueHashDirs - the hash subdirectories of an ID in a queue ([] when the queue is not hashed). */
export function mailQueueHashDirs(config: MailConfig, queue: string, id: string): string[] {
  if (!mailQueueNameOk(queue)) throw new QueueIdError(`mail_queue_dir: bad queue name: ${queue}`);
  if (!mailQueueIdOk(id)) throw new QueueIdError(`mail_queue_dir: bad queue id: ${id}`);
  const hs = hashSettings(config);
  if (!hs.names.has(queue.toLowerCase()) || hs.depth < 1) return [];
  const z = findLongInumSeparator(id);
  return dirForest(z >= 0 ? longIdHexUsec(id, z) : id, hs.depth);
}

/** mailQueueRelDir - "deferred/7" style directory, relative to queue_directory. */
export function mailQueueRelDir(config: MailConfig, queue: string, id: string): string {
  return [queue, ...mailQueueHashDirs(config, queue, id)].join('/');
}

/** mailQueueRelPath - "deferred/7/ID", relative to queue_directory (what postcat prints). */
export function mailQueueRelPath(config: MailConfig, queue: string, id: string): string {
  return mailQueueRelDir(config, queue, id) + '/' + id;
}

/** mailQueueDir - the absolute directory that holds (or will hold) this ID in this queue. */
export function mailQueueDir(config: MailConfig, queue: string, id: string): string {
  return join(hashSettings(config).queueDir, mailQueueRelDir(config, queue, id));
}

/** mailQueuePath - the absolute path of this ID in this queue. */
export function mailQueuePath(config: MailConfig, queue: string, id: string): string {
  return join(hashSettings(config).queueDir, mailQueueRelPath(config, queue, id));
}

/** mailQueueTopDir - $queue_directory/<queue> (no hashing). */
export function mailQueueTopDir(config: MailConfig, queue: string): string {
  if (!mailQueueNameOk(queue)) throw new QueueIdError(`bad queue name: ${queue}`);
  return join(hashSettings(config).queueDir, queue);
}

/** wallClock - seconds and microseconds of the current time (gettimeofday()). */
export function wallClock(): { sec: number; usec: number } {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const usec = Math.min(999999, Math.max(0, Math.floor((ms - sec * 1000) * 1000)));
  return { sec, usec };
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** dirOf - the directory part of a path. */
function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/**
 * mailQueueEnter - create a new queue file with a unique name: first
 * <queue>/<usec>.<pid> with O_EXCL, then renamed to the queue ID made from
 * the clock and the file's inode number (creating missing hash directories).
 * The file is open read-write as a descriptor; it is not "complete" until
 * mailQueueComplete().
 *
 * The open, fstat and rename are plain system calls, as in Postfix: each
 * takes microseconds, while a thread-pool round trip for each cost a
 * multi-client cleanup more CPU than the work itself (docs/PERFORMANCE.md).
 * Only the fsync, which waits for the disk, goes to the thread pool.
 */
export function mailQueueEnter(
  config: MailConfig,
  queue: string,
  mode = 0o600,
): { id: string; path: string; fd: number; time: { sec: number; usec: number } } {
  const top = mailQueueTopDir(config, queue);
  const longForm = longQueueIds(config);
  let fd: number;
  let tempPath: string;
  for (let attempt = 0; ; attempt++) {
    const { usec } = wallClock();
    tempPath = join(top, `${usec}.${process.pid}`);
    try {
      fd = openSync(tempPath, FS.O_RDWR | FS.O_CREAT | FS.O_EXCL, mode);
      break;
    } catch (e) {
      const code = errno(e);
      if ((code === 'EEXIST' || code === 'EISDIR') && attempt < 1000) continue;
      throw e;
    }
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    for (let count = 0; ; count++) {
      const time = wallClock();
      const id = makeQueueId(time.sec, time.usec, st.ino, longForm);
      const path = mailQueuePath(config, queue, id);
      try {
        renameSync(tempPath, path);
        return { id, path, fd, time };
      } catch (e) {
        const code = errno(e);
        if (code === 'ENOENT') {
          mkdirSync(dirOf(path), { recursive: true, mode: 0o700 });
        } else if (code !== 'EPERM' && code !== 'EISDIR') {
          throw e;
        }
        if (count > 1000) throw new Error(`mail_queue_enter: rename ${tempPath} to ${path}: giving up`);
      }
    }
  } catch (e) {
    closeQuietly(fd);
    try {
      unlinkSync(tempPath);
    } catch {
      // gone already
    }
    throw e;
  }
}

/** mailQueueComplete - fsync the file, then set the mode that marks it complete (0700 by default). */
export async function mailQueueComplete(fd: number, mode = MAIL_QUEUE_STAT_READY): Promise<void> {
  await fsyncAsync(fd);
  fchmodSync(fd, mode);
}

/** mailQueueRename - move a queue file to another queue, creating missing hash directories. */
export async function mailQueueRename(config: MailConfig, id: string, fromQueue: string, toQueue: string): Promise<void> {
  const from = mailQueuePath(config, fromQueue, id);
  const to = mailQueuePath(config, toQueue, id);
  try {
    await fsp.rename(from, to);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
    await fsp.mkdir(dirOf(to), { recursive: true, mode: 0o700 });
    await fsp.rename(from, to);
  }
}

/** mailQueueRenameSync - the same, for command-line tools. */
export function mailQueueRenameSync(config: MailConfig, id: string, fromQueue: string, toQueue: string): void {
  renamePathSync(mailQueuePath(config, fromQueue, id), mailQueuePath(config, toQueue, id));
}

/** renamePathSync - rename; when that fails with ENOENT, create the target's directory and retry. */
export function renamePathSync(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw e;
    mkdirSync(dirOf(to), { recursive: true, mode: 0o700 });
    renameSync(from, to);
  }
}

/** mailQueueRemove - remove a queue file or log file; resolves false when it did not exist. */
export async function mailQueueRemove(config: MailConfig, queue: string, id: string): Promise<boolean> {
  try {
    await fsp.unlink(mailQueuePath(config, queue, id));
    return true;
  } catch (e) {
    if (errno(e) === 'ENOENT') return false;
    throw e;
  }
}

/** mailQueueRemoveSync - the same, for command-line tools. */
export function mailQueueRemoveSync(config: MailConfig, queue: string, id: string): boolean {
  try {
    rmSync(mailQueuePath(config, queue, id));
    return true;
  } catch (e) {
    if (errno(e) === 'ENOENT') return false;
    throw e;
  }
}

/** mailQueueOpen - open a queue file (creating missing hash directories when flags include O_CREAT). */
export async function mailQueueOpen(config: MailConfig, queue: string, id: string, flags: number = FS.O_RDONLY, mode = 0o600): Promise<FileHandle> {
  const path = mailQueuePath(config, queue, id);
  try {
    return await fsp.open(path, flags, mode);
  } catch (e) {
    if (errno(e) !== 'ENOENT' || (flags & FS.O_CREAT) === 0) throw e;
    await fsp.mkdir(dirOf(path), { recursive: true, mode: 0o700 });
    return fsp.open(path, flags, mode);
  }
}

/**
 * mbox_lock - mailbox locking as local(8) and postlock(1) do it (Postfix
 * global/mbox_conf.c, dot_lockfile.c, deliver_flock.c): the methods named
 * in mailbox_delivery_lock, in order: `dotlock` (<mailbox>.lock created
 * exclusively, deliver_lock_attempts tries deliver_lock_delay apart, a lock
 * older than stale_lock_time by ctime is broken) and `fcntl`/`flock` on the
 * open mailbox (fs-ext), again with retries.
 */

import { closeSync, constants as FS, openSync, statSync, unlinkSync } from 'node:fs';
import { splitList } from './mail_conf.js';
import { strerror } from '../util/msg_logwriter.js';

export type LockStyle = 'fcntl' | 'flock' | 'dotlock';

/** lockStyles - parse a mailbox_delivery_lock value (mbox_lock_mask()). */
export function lockStyles(param: string, value: string): LockStyle[] {
  const out: LockStyle[] = [];
  for (const item of splitList(value)) {
    if (item !== 'fcntl' && item !== 'flock' && item !== 'dotlock') {
      throw new Error(`unknown ${param} value "${item}" in "${value}"`);
    }
    if (!out.includes(item)) out.push(item);
  }
  return out;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LockParams {
  attempts: number;
  delayMs: number;
  staleMs: number;
}

/** dotLock - create path.lock (dot_lockfile()); throws Error("unable to create lock file ...: ..."). */
export async function dotLock(path: string, p: LockParams): Promise<string> {
  const lock = `${path}.lock`;
  let last: unknown;
  for (let i = 0; i < p.attempts; i++) {
    try {
      closeSync(openSync(lock, FS.O_WRONLY | FS.O_EXCL | FS.O_CREAT, 0));
      return lock;
    } catch (e) {
      last = e;
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') break;
      try {
        if (Date.now() - statSync(lock).ctimeMs > p.staleMs) {
          unlinkSync(lock);
          continue;
        }
      } catch {
        continue; // it went away: try again at once
      }
      // rand_sleep(delay, delay / 2): the delay give or take a quarter, so that waiting deliveries spread out.
      if (i + 1 < p.attempts) await sleep(p.delayMs * 0.75 + Math.floor(Math.random() * (p.delayMs / 2)));
    }
  }
  throw new Error(`unable to create lock file ${lock}: ${strerror(last)}`);
}

/** kernelLock - fcntl or flock on an open file, non-blocking with retries (deliver_flock()). */
export async function kernelLock(fd: number, style: 'fcntl' | 'flock', p: LockParams): Promise<void> {
  const fsext = await import('fs-ext');
  let last: unknown;
  for (let i = 0; i < p.attempts; i++) {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      if (style === 'fcntl') fsext.fcntl(fd, 'setlk', fsext.constants.F_WRLCK, resolve);
      else fsext.flock(fd, 'exnb', resolve);
    });
    if (!err) return;
    last = err;
    if (err.code !== 'EAGAIN' && err.code !== 'EACCES' && err.code !== 'EWOULDBLOCK') break;
    if (i + 1 < p.attempts) await sleep(p.delayMs);
  }
  throw new Error(`unable to lock for exclusive access: ${strerror(last)}`);
}


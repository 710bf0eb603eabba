/**
 * postlock - lock a mail folder and execute a command (Postfix postlock(1)).
 *
 * postlock [-c config_dir] [-l lock_style] [-v] folder command...
 * takes the locks local(8) takes on a mailbox ($mailbox_delivery_lock, on
 * Linux "fcntl, dotlock"): first <folder>.lock created exclusively with
 * mode 0 (global/dot_lockfile.c: deliver_lock_attempts tries,
 * deliver_lock_delay apart, a lock older than stale_lock_time by ctime is
 * broken), then the folder is opened for append (created mode 0600 when
 * missing) and locked with fcntl() or flock() (fs-ext), again with retries.
 * The command runs with the locks held; postlock exits with its status.
 * Lock failures and bad usage exit 75 (EX_TEMPFAIL), as in Postfix.
 */

import { spawn } from 'node:child_process';
import { closeSync, constants as FS, openSync, statSync, unlinkSync } from 'node:fs';
import { MailConfig, defaultConfigDirectory, splitList } from '../global/mail_conf.js';
import { Getopt } from '../sendmail/getopt.js';
import { msg, msgAddOutput, msgCleanup, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { EX, stderrOutput } from '../postdrop/submit_common.js';

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

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EEXIST':
      return 'File exists';
    case 'EACCES':
      return 'Permission denied';
    case 'EAGAIN':
    case 'EWOULDBLOCK':
      return 'Resource temporarily unavailable';
    default:
      return err.message;
  }
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
      if (i + 1 < p.attempts) await sleep(p.delayMs + Math.floor(Math.random() * 500));
    }
  }
  throw new Error(`unable to create lock file ${lock}: ${errText(last)}`);
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
  throw new Error(`unable to lock for exclusive access: ${errText(last)}`);
}

/** main - postlock [-c config_dir] [-l lock_style] [-v] folder command... */
export async function main(argv: string[]): Promise<void> {
  const progname = 'postlock';
  msgAddOutput(stderrOutput(progname));
  msgCleanup(() => process.exit(EX.TEMPFAIL));
  let lockStyle: string | undefined;
  const usage = (): never => msg.fatal(`usage: ${progname} [-c config_dir] [-l lock_style] [-v] folder command...`);
  const g = new Getopt(argv, 'c:l:v', progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    if (c === 'c') process.env.MAIL_CONFIG = g.optarg;
    else if (c === 'l') lockStyle = g.optarg;
    else if (c === 'v') setMsgVerbose(msgVerbose + 1);
    else usage();
  }
  const rest = argv.slice(g.optind);
  if (rest.length < 2) usage();
  const [folder, ...command] = rest;
  const config = MailConfig.load(defaultConfigDirectory());
  let styles: LockStyle[];
  try {
    styles = lockStyles('mailbox_delivery_lock', lockStyle ?? config.str('mailbox_delivery_lock'));
  } catch (e) {
    return msg.fatal((e as Error).message);
  }
  const p: LockParams = {
    attempts: Math.max(1, config.int('deliver_lock_attempts')),
    delayMs: config.time('deliver_lock_delay') * 1000,
    staleMs: config.time('stale_lock_time') * 1000,
  };

  let dotlockPath: string | undefined;
  msgCleanup(() => {
    if (dotlockPath) {
      try {
        unlinkSync(dotlockPath);
      } catch {
        // already gone
      }
    }
  });
  let fd = -1;
  try {
    if (styles.includes('dotlock')) dotlockPath = await dotLock(folder, p);
    fd = openSync(folder, FS.O_APPEND | FS.O_WRONLY | FS.O_CREAT, 0o600);
    for (const s of styles) if (s !== 'dotlock') await kernelLock(fd, s, p);
  } catch (e) {
    const text = (e as NodeJS.ErrnoException).code ? errText(e) : (e as Error).message;
    msg.fatal(`open file ${folder}: ${text}`);
  }
  if (msgVerbose) msg.info(`locked ${folder} (${styles.join(', ')})`);

  const status = await new Promise<number>((resolve) => {
    const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
    child.on('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`${progname}: fatal: execvp ${command[0]}: ${errText(err)}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  if (dotlockPath) {
    try {
      unlinkSync(dotlockPath);
    } catch (e) {
      msg.warn(`remove ${dotlockPath}: ${errText(e)}`);
    }
    dotlockPath = undefined;
  }
  closeSync(fd);
  process.exit(status);
}

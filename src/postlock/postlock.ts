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
import { Getopt } from '../util/getopt.js';
import { msg, msgAddOutput, msgCleanup, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { EX, stderrOutput } from '../postdrop/submit_common.js';
import { strerror } from '../util/msg_logwriter.js';
import { dotLock, kernelLock, lockStyles, type LockParams, type LockStyle } from '../global/mbox_lock.js';

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
    const text = (e as NodeJS.ErrnoException).code ? strerror(e) : (e as Error).message;
    msg.fatal(`open file ${folder}: ${text}`);
  }
  if (msgVerbose) msg.info(`locked ${folder} (${styles.join(', ')})`);

  const status = await new Promise<number>((resolve) => {
    const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
    child.on('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`${progname}: fatal: execvp ${command[0]}: ${strerror(err)}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  if (dotlockPath) {
    try {
      unlinkSync(dotlockPath);
    } catch (e) {
      msg.warn(`remove ${dotlockPath}: ${strerror(e)}`);
    }
    dotlockPath = undefined;
  }
  closeSync(fd);
  process.exit(status);
}

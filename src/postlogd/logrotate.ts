/**
 * logrotate - `postfix logrotate` (the logrotate section of Postfix
 * conf/postfix-script), for the postfix command to call.
 *
 * Renames $maillog_file to $maillog_file.<strftime($maillog_file_rotate_suffix)>,
 * tells a running master to reload (postlogd then writes a new file; our
 * postlogd also notices the rename by itself within a second), waits a
 * second, and runs $maillog_file_compressor on the renamed file (argv, no
 * shell). Failures are fatal with postfix-script's texts.
 */

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import { strerror } from '../util/msg_logwriter.js';
import { strftime } from '../util/msg_time.js';
import type { MailConfig } from '../global/mail_conf.js';

export interface LogrotateOptions {
  /** the time for the suffix (default now) */
  now?: Date;
  /** how to make postlogd reopen: default SIGHUP to the master in pid/master.pid, if it runs */
  reload?: () => void;
  /** pause before compressing, ms (default 1000, as postfix-script's sleep 1) */
  pauseMs?: number;
}

/** signalMaster - SIGHUP the running master, if any (postfix-script: master -t || kill -HUP). */
export function signalMaster(config: MailConfig): void {
  const pidFile = join(config.str('queue_directory'), 'pid', 'master.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // not running
  }
  process.kill(pid, 'SIGHUP');
}

function runCompressor(compressor: string, file: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(compressor, [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      if (err.length < 4096) err += d;
    });
    child.on('error', (e) => resolve(`${compressor}: ${strerror(e)}`));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(undefined);
      else resolve(err.trim() || `${compressor}: ${signal ? `killed by signal ${signal}` : `exit status ${code}`}`);
    });
  });
}

/** maillogRotate - rotate maillog_file; resolves with the new name of the old file. */
export async function maillogRotate(config: MailConfig, opts: LogrotateOptions = {}): Promise<string> {
  const values: Record<string, string> = {};
  for (const name of ['maillog_file', 'maillog_file_compressor', 'maillog_file_rotate_suffix']) {
    // As `postconf -h name`: no minimum-length check, so that an empty value gets postfix-script's text.
    values[name] = config.expand(config.raw(name) ?? '');
    if (values[name] === '') msg.fatal(`empty '${name}' parameter value - logfile rotation failed`);
  }
  const file = values.maillog_file;
  if (file.startsWith('/dev/')) msg.fatal(`not rotating '${file}'`);
  const rotated = `${file}.${strftime(values.maillog_file_rotate_suffix, opts.now ?? new Date())}`;
  try {
    renameSync(file, rotated);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const what = err.code === 'ENOENT' ? `cannot stat '${file}'` : `cannot move '${file}' to '${rotated}'`;
    msg.fatal(`logfile '${file}' rotation failed: mv: ${what}: ${strerror(e)}`);
  }
  try {
    (opts.reload ?? (() => signalMaster(config)))();
  } catch (e) {
    msg.fatal(`logfile '${file}' rotation failed: kill: ${strerror(e)}`);
  }
  await new Promise((resolve) => setTimeout(resolve, opts.pauseMs ?? 1000));
  const failure = await runCompressor(values.maillog_file_compressor, rotated);
  if (failure) msg.fatal(`logfile '${file}' rotation failed: ${failure}`);
  return rotated;
}

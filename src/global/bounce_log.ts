/**
 * bounce_log - per-message delivery status logfiles in the bounce/, defer/
 * and trace/ queue directories (Postfix bounce/bounce_append_service.c,
 * global/bounce_log.c).
 *
 * One entry per recipient: an empty line, a `<recipient>: reason` line,
 * the `name=value` attributes that have a value, an empty line. These
 * files feed non-delivery notices (bounce), delay warnings and the mailq
 * `(reason)` lines (defer), and delivery reports (trace). Appends are single
 * write() calls of a whole entry under an exclusive flock-free O_APPEND, so
 * concurrent agents never interleave within an entry.
 */

import { appendFile, chown, mkdir, readFile, unlink } from 'node:fs/promises';
import { getpwnam } from '../util/mypwd.js';
import { dirname } from 'node:path';
import type { MailConfig } from './mail_conf.js';
import { mailQueuePath } from './mail_queue.js';

export interface BounceLogEntry {
  recipient: string;
  original_recipient: string;
  offset: number;
  dsn_orig_rcpt: string;
  notify_flags: number;
  status: string;
  action: string;
  diag_type: string;
  diag_text: string;
  mta_type: string;
  mta_mname: string;
  reason: string;
}

/** Values end at a newline: strip CR/LF so one entry stays one entry. */
function clean(v: string | number): string {
  return String(v).replace(/[\r\n]+/g, ' ');
}

export function formatBounceLogEntry(e: BounceLogEntry): string {
  // Postfix writes a human-readable line first, then only the attributes that have a value.
  const lines = ['', `<${clean(e.recipient)}>: ${clean(e.reason)}`, `recipient=${clean(e.recipient)}`];
  if (e.original_recipient) lines.push(`original_recipient=${clean(e.original_recipient)}`);
  lines.push(`offset=${e.offset}`);
  if (e.dsn_orig_rcpt) lines.push(`dsn_orig_rcpt=${clean(e.dsn_orig_rcpt)}`);
  if (e.notify_flags) lines.push(`notify_flags=${e.notify_flags}`);
  lines.push(`status=${clean(e.status)}`);
  for (const name of ['diag_type', 'diag_text', 'mta_type', 'mta_mname'] as const) {
    if (e[name]) lines.push(`${name}=${clean(e[name])}`);
  }
  lines.push(`action=${clean(e.action)}`, `reason=${clean(e.reason)}`);
  return lines.join('\n') + '\n\n';
}

/** bounceLogAppend - append one recipient entry to <queue>/<id> (queue = bounce, defer or trace). */
export async function bounceLogAppend(config: MailConfig, queue: 'bounce' | 'defer' | 'trace', queueId: string, e: BounceLogEntry): Promise<void> {
  const path = mailQueuePath(config, queue, queueId);
  const text = formatBounceLogEntry(e);
  try {
    await appendFile(path, text, { mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const made = await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // A hash subdirectory made by a privileged agent belongs to mail_owner too.
    if (made !== undefined && process.geteuid?.() === 0) {
      const owner = getpwnam(config.str('mail_owner'));
      if (owner && owner.uid !== 0) await chown(dirname(path), owner.uid, owner.gid);
    }
    await appendFile(path, text, { mode: 0o600 });
  }
  // A privileged agent (local, pipe, virtual run as root) writes here too: the
  // logfile must stay the mail_owner's, as if the bounce daemon had written it.
  if (process.geteuid?.() === 0) {
    const owner = getpwnam(config.str('mail_owner'));
    if (owner && owner.uid !== 0) await chown(path, owner.uid, owner.gid);
  }
}

/** parseBounceLog - entries of a logfile; unknown names are ignored, malformed lines skipped. */
export function parseBounceLog(text: string): BounceLogEntry[] {
  const out: BounceLogEntry[] = [];
  for (const block of text.split('\n\n')) {
    if (block.trim() === '') continue;
    const e: BounceLogEntry = {
      recipient: '',
      original_recipient: '',
      offset: 0,
      dsn_orig_rcpt: '',
      notify_flags: 0,
      status: '',
      action: '',
      diag_type: '',
      diag_text: '',
      mta_type: '',
      mta_mname: '',
      reason: '',
    };
    for (const line of block.split('\n')) {
      if (line.startsWith('<')) continue; // the human-readable summary line
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const name = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (name === 'offset' || name === 'notify_flags') (e as unknown as Record<string, number>)[name] = Number(value) || 0;
      else if (name in e) (e as unknown as Record<string, string>)[name] = value;
    }
    out.push(e);
  }
  return out;
}

/** bounceLogRead - the entries of a message's logfile, or [] when there is none. */
export async function bounceLogRead(config: MailConfig, queue: 'bounce' | 'defer' | 'trace', queueId: string): Promise<BounceLogEntry[]> {
  try {
    return parseBounceLog(await readFile(mailQueuePath(config, queue, queueId), 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** bounceLogRemove - delete a logfile; a missing one is fine. */
export async function bounceLogRemove(config: MailConfig, queue: 'bounce' | 'defer' | 'trace', queueId: string): Promise<void> {
  try {
    await unlink(mailQueuePath(config, queue, queueId));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * build_native - compile the native submission path of sendmail
 * (src/sendmail/sendmail_fast.c) during `npm install` / `npm run build`
 * (Makefile.ts links). The build never fails because of it: without a C
 * compiler (or when the compile fails) there is no binary, and bin/sendmail
 * runs the Node implementation as before.
 *
 * The parameter defaults the C program needs are taken from the parameter
 * registry (src/global/mail_params.ts) and compiled in, so both paths read
 * the same defaults; NODE_EXEC_PATH is the node that ran the build (used
 * when `node` is not in $PATH at fallback time).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { lookupParam } from '../global/mail_params.js';

/** The main.cf parameters sendmail_fast.c reads, by their C macro names. */
const PARAMS = [
  'line_length_limit',
  'header_size_limit',
  'message_size_limit',
  'hash_queue_names',
  'hash_queue_depth',
  'enable_long_queue_ids',
  'sendmail_fix_line_endings',
  'authorized_submit_users',
  'local_login_sender_maps',
  'pickup_service_name',
  'maillog_file',
  'maillog_file_prefixes',
  'syslog_facility',
];

/** cString - a C string literal for an ASCII value. */
function cString(value: string): string {
  return '"' + value.replace(/[\\"]/g, (c) => '\\' + c).replace(/[^\x20-\x7e]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`) + '"';
}

/** nativeSendmailPath - where the binary goes (bin/sendmail looks for it there). */
export function nativeSendmailPath(root: string): string {
  return join(root, 'dist', 'src', 'sendmail', 'sendmail_fast');
}

/**
 * buildNative - cc -O2 -Wall -Wextra -Werror; returns a note for the build
 * log ('' when built). The new binary replaces the old one with rename(), so
 * a sendmail started during a rebuild never misses it; a failed compile
 * removes the old one, so it never leaves a stale binary behind.
 */
export function buildNative(root: string): string {
  const src = join(root, 'src', 'sendmail', 'sendmail_fast.c');
  if (!existsSync(src)) return '';
  const out = nativeSendmailPath(root);
  const tmp = `${out}.tmp${process.pid}`;
  if (process.env.POSTFIX_TS_NO_NATIVE) {
    rmSync(out, { force: true });
    return 'sendmail: native submission path not built (POSTFIX_TS_NO_NATIVE)';
  }
  const defs: string[] = [];
  for (const name of PARAMS) {
    const def = lookupParam(name)?.def;
    if (typeof def !== 'string') continue;
    defs.push(`-DDEF_${name.toUpperCase()}=${cString(def)}`);
  }
  const cc = process.env.CC || 'cc';
  const args = ['-std=c99', '-O2', '-Wall', '-Wextra', '-Werror', `-DNODE_EXEC_PATH=${cString(process.execPath)}`, ...defs, '-o', tmp, src];
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    rmSync(out, { force: true });
    const why = r.error ? `${cc}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}` : (r.stderr || '').trim().split('\n').slice(0, 5).join('\n');
    return `sendmail: native submission path not built (sendmail runs on Node): ${why}`;
  }
  renameSync(tmp, out);
  return '';
}

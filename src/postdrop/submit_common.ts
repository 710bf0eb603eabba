/**
 * submit_common - pieces shared by sendmail, postdrop and pickup (Postfix
 * global/user_acl.c, login_sender_match.c,
 * util/username.c, fullname.c, sys_exits.h).
 *
 * - passwd lookups (getpwuid/getpwnam) read /etc/passwd, bounded;
 * - user ACLs for authorized_submit_users / authorized_mailq_users;
 * - local_login_sender_maps (which envelope senders a login may use);
 * - typed parameter access with a built-in fallback while the registry grows.
 *
 * Nothing here trusts its input: the passwd file and table values are parsed
 * with limits, and unknown table types deny rather than allow.
 */

import { read } from 'node:fs';
import type { MailConfig } from '../global/mail_conf.js';
import { splitList } from '../global/mail_conf.js';
import { msg } from '../util/msg.js';

/** sysexits.h */
export const EX = {
  OK: 0,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  NOUSER: 67,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OSERR: 71,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;

/** confStr - an expanded parameter, or the Postfix default when the registry does not know it yet. */
export function confStr(config: MailConfig, name: string, def: string): string {
  return config.isDefined(name) ? config.str(name) : config.expand(def);
}

/** confInt - an integer parameter with a fallback default. */
export function confInt(config: MailConfig, name: string, def: number): number {
  if (!config.isDefined(name)) return def;
  const v = config.str(name).trim();
  if (!/^[+-]?\d+$/.test(v)) return msg.fatal(`bad numerical configuration: ${name} = ${v}`);
  return Number(v);
}

/** confBool - a yes/no parameter with a fallback default. */
export function confBool(config: MailConfig, name: string, def: boolean): boolean {
  if (!config.isDefined(name)) return def;
  const v = config.str(name).trim().toLowerCase();
  if (v === 'yes' || v === 'true') return true;
  if (v === 'no' || v === 'false') return false;
  return msg.fatal(`bad boolean configuration: ${name} = ${v}`);
}

export { getpwnam, getpwuid, type Passwd as PasswdEntry } from '../util/mypwd.js';
import { getpwuid } from '../util/mypwd.js';

/** currentUid - the real uid (process.getuid exists on POSIX). */
export function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/** username - login name of the real uid (username.c); undefined when unknown. */
export function username(uid = currentUid()): string | undefined {
  return getpwuid(uid)?.name;
}

/**
 * fullname - the user's full name (fullname.c): $NAME when set, else the
 * gecos field up to the first comma, with "&" replaced by the capitalised
 * login name.
 */
export function fullname(uid = currentUid()): string | undefined {
  const env = process.env.NAME;
  if (env) return env;
  const pw = getpwuid(uid);
  if (!pw) return undefined;
  const gecos = pw.gecos.split(',')[0];
  const cap = pw.name.length > 0 ? pw.name[0].toUpperCase() + pw.name.slice(1) : '';
  const full = gecos.replace(/&/g, cap);
  return full.length > 0 ? full : undefined;
}

/**
 * checkUserAcl - null when the uid may use the service, else the name to
 * print in "User %s(%ld) is not allowed to ..." (check_user_acl_byuid()).
 * The value is a string_list (names, !names, /file, type:table); the
 * default static:anyone is decided without loading the table code.
 */
export async function checkUserAclAsync(config: MailConfig, paramName: string, uid: number): Promise<string | null> {
  const value = confStr(config, paramName, 'static:anyone');
  if (value.trim() === 'static:anyone') return null;
  const login = username(uid) ?? String(uid);
  const { stringList } = await import('../global/match_list.js');
  try {
    return (await stringList(paramName, value, config).match(login)) ? null : login;
  } catch (e) {
    msg.warn(`${paramName}: ${(e as Error).message}`);
    return login;
  }
}

/**
 * checkUserAcl - synchronous variant for callers that cannot wait: names,
 * !names and static: only; other table types deny (with a warning). Prefer
 * checkUserAclAsync.
 */
export function checkUserAcl(config: MailConfig, paramName: string, uid: number): string | null {
  const value = confStr(config, paramName, 'static:anyone');
  if (value.trim() === 'static:anyone') return null;
  const login = username(uid) ?? String(uid);
  for (let item of splitList(value)) {
    let negate = false;
    while (item.startsWith('!')) {
      negate = !negate;
      item = item.slice(1);
    }
    let match: boolean;
    if (/^[a-z0-9_]+:/.test(item)) {
      match = item.startsWith('static:');
      if (!match) msg.warn(`${paramName}: table ${item} needs checkUserAclAsync; treating as no match`);
    } else match = item === login;
    if (match) return negate ? login : null;
  }
  return login;
}

/** senderListAllows - one local_login_sender_maps result ("*", "<>", addresses, @domains) against a sender. */
export function senderListAllows(result: string, sender: string, nullKey: string): boolean {
  const s = sender.toLowerCase();
  for (const allowed of splitList(result)) {
    const a = allowed.toLowerCase();
    if (a === '*') return true;
    if (sender === '' ? a === nullKey.toLowerCase() : a === s) return true;
    if (a.startsWith('@') && sender !== '' && s.endsWith(a)) return true;
  }
  return false;
}

/**
 * loginSenderAllowed - local_login_sender_maps (login_sender_match.c): may
 * this login use this envelope sender? The lookup key is the login name; the
 * result lists the senders it may use ("*" = any, "<>" or
 * $empty_address_local_login_sender_maps_lookup_key = the null sender,
 * "@domain"). No result, or a table error, means no.
 */
export async function loginSenderAllowed(config: MailConfig, uid: number, sender: string): Promise<boolean> {
  const maps = confStr(config, 'local_login_sender_maps', 'static:*');
  if (maps.trim() === 'static:*') return true;
  const nullKey = confStr(config, 'empty_address_local_login_sender_maps_lookup_key', '<>');
  const login = username(uid) ?? String(uid);
  const { Maps } = await import('../global/maps.js');
  try {
    const result = await Maps.create('local_login_sender_maps', maps).find(login);
    return result !== null && senderListAllows(result, sender, nullKey);
  } catch (e) {
    msg.warn(`local_login_sender_maps: ${(e as Error).message}`);
    return false;
  }
}

/** mailDate - RFC 5322 date as Postfix writes it (shared with the rest of the system). */
export { mailDate } from '../global/mail_date.js';

/** The name stderr lines carry; sendmail switches it to "postdrop" around in-process postdrop work. */
export const stderrName = { value: '' };

/** stderrOutput - "program: text" lines on stderr, as msg_vstream does for commands. */
export function stderrOutput(progname: string): (sev: string, text: string) => void {
  stderrName.value = progname;
  return (_sev, text) => {
    try {
      process.stderr.write(`${stderrName.value}: ${text}\n`);
    } catch {
      // nowhere left to report
    }
  };
}

/**
 * readInput - one read(2) of standard input into buf[off..], run in the
 * thread pool so the event loop stays free for signals (an interrupted
 * submission removes its queue file). Retries EAGAIN (non-blocking input);
 * returns 0 at end of input (also for an 'EOF' error); throws other errors.
 */
export async function readInput(fd: number, buf: Buffer, off: number): Promise<number> {
  for (;;) {
    const r = await new Promise<{ n: number; err: NodeJS.ErrnoException | null }>((resolve) =>
      read(fd, buf, off, buf.length - off, null, (err, n) => resolve({ n, err })),
    );
    if (!r.err) return r.n;
    if (r.err.code === 'EAGAIN') {
      await new Promise((resolve) => setTimeout(resolve, 5));
      continue;
    }
    if (r.err.code === 'EOF') return 0;
    throw r.err;
  }
}

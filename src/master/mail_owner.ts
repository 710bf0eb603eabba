/**
 * mail_owner - account checks and privilege drop for Postfix processes
 * (Postfix global/mail_params.c mail_owner/setgid_group checks,
 * util/chroot_uid.c).
 *
 * Node has no getpwnam(3); accounts are read from /etc/passwd and
 * /etc/group (Debian's files backend). Privileges are dropped with
 * setgid + initgroups + setuid, in that order, as chroot_uid() does. Only a
 * process running as root ever calls these; an instance run by an ordinary
 * user makes no privilege calls at all.
 */

import { readFileSync } from 'node:fs';
import { msg } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n');
  } catch {
    return [];
  }
}

/** getpwnam - an account by name, from /etc/passwd. */
export function getpwnam(name: string): PasswdEntry | undefined {
  for (const line of readLines('/etc/passwd')) {
    const f = line.split(':');
    if (f.length >= 7 && f[0] === name) {
      return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
    }
  }
  return undefined;
}

/** getpwuid - an account by uid, from /etc/passwd. */
export function getpwuid(uid: number): PasswdEntry | undefined {
  for (const line of readLines('/etc/passwd')) {
    const f = line.split(':');
    if (f.length >= 7 && Number(f[2]) === uid) {
      return { name: f[0], uid, gid: Number(f[3]), home: f[5], shell: f[6] };
    }
  }
  return undefined;
}

/** getgrnam - a group by name, from /etc/group. */
export function getgrnam(name: string): GroupEntry | undefined {
  for (const line of readLines('/etc/group')) {
    const f = line.split(':');
    if (f.length >= 4 && f[0] === name) {
      return { name: f[0], gid: Number(f[2]), members: f[3] ? f[3].split(',') : [] };
    }
  }
  return undefined;
}

/** getgrgid - a group by gid. */
export function getgrgid(gid: number): GroupEntry | undefined {
  for (const line of readLines('/etc/group')) {
    const f = line.split(':');
    if (f.length >= 4 && Number(f[2]) === gid) {
      return { name: f[0], gid, members: f[3] ? f[3].split(',') : [] };
    }
  }
  return undefined;
}

/** Why an account check failed (the Postfix fatal text, and a hint for the administrator). */
export class AccountError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'AccountError';
  }
}

/**
 * accountProblem - the Postfix mail_params_init() checks of mail_owner and
 * setgid_group, as an error (or undefined when all is well).
 */
export function accountProblem(config: MailConfig): AccountError | undefined {
  const file = `${config.configDir}/main.cf`;
  const owner = config.str('mail_owner');
  const group = config.str('setgid_group');
  const pw = getpwnam(owner);
  if (!pw) {
    return new AccountError(
      `file ${file}: parameter mail_owner: unknown user name value: ${owner}`,
      `create the account, for example: groupadd --system ${owner} && useradd --system --gid ${owner} --home-dir /nonexistent --shell /usr/sbin/nologin ${owner}`,
    );
  }
  if (pw.uid === 0) {
    return new AccountError(
      `file ${file}: parameter mail_owner: user ${owner} has privileged user ID`,
      'mail_owner must be a dedicated unprivileged account (default: postfix)',
    );
  }
  if (pw.gid === 0) {
    return new AccountError(
      `file ${file}: parameter mail_owner: user ${owner} has privileged group ID`,
      'mail_owner must have an unprivileged primary group',
    );
  }
  const gr = getgrnam(group);
  if (!gr) {
    return new AccountError(
      `file ${file}: parameter setgid_group: unknown group name: ${group}`,
      `create the group, for example: groupadd --system ${group}`,
    );
  }
  if (gr.gid === 0) {
    return new AccountError(
      `file ${file}: parameter setgid_group: group ${group} has privileged group ID`,
      'setgid_group must be a dedicated group (default: postdrop)',
    );
  }
  if (gr.gid === pw.gid) {
    return new AccountError(
      `file ${file}: parameters mail_owner and setgid_group: user ${owner} and group ${group} have the same group ID: ${gr.gid}`,
      `give ${owner} its own primary group`,
    );
  }
  return undefined;
}

/** checkMailOwner - fatal when mail_owner/setgid_group are missing or privileged (root only). */
export function checkMailOwner(config: MailConfig): void {
  const err = accountProblem(config);
  if (err) {
    msg.warn(err.hint);
    msg.fatal(err.message);
  }
}

/** dropPrivileges - become the named account: gid, supplementary groups, then uid. */
export function dropPrivileges(user: string): void {
  const pw = getpwnam(user);
  if (!pw) return msg.fatal(`unknown user: ${user}`);
  if (pw.uid === 0) return msg.fatal(`user ${user} has privileged user ID`);
  try {
    process.setgid!(pw.gid);
    (process as unknown as { initgroups(u: string, g: number): void }).initgroups(user, pw.gid);
    process.setuid!(pw.uid);
  } catch (e) {
    msg.fatal(`chroot_uid: set privileges to ${user}: ${(e as Error).message}`);
  }
}

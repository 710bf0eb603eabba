/**
 * accounts - the mail_owner and setgid_group accounts a test instance runs
 * with. As root, the real `postfix` user and `postdrop` group are used and
 * created when missing (system accounts, as a Debian package would), so that
 * privilege separation is exercised for real. As an ordinary user,
 * everything runs as that user.
 */

import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { getgrgid, getgrnam, getpwnam } from '../../src/master/mail_owner.js';

export interface Accounts {
  mailOwner: string;
  setgidGroup: string;
  /** true when the tests run as root and the daemons drop privileges */
  privileged: boolean;
}

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

let cached: Accounts | undefined;

/** ensureAccounts - the accounts to put in main.cf; creates postfix/postdrop when root and they are missing. */
export function ensureAccounts(): Accounts {
  if (cached) return cached;
  if (!isRoot()) {
    const me = userInfo();
    cached = { mailOwner: me.username, setgidGroup: getgrgid(me.gid)?.name ?? String(me.gid), privileged: false };
    return cached;
  }
  if (!getgrnam('postdrop')) run('groupadd', ['--system', 'postdrop']);
  if (!getpwnam('postfix')) {
    if (!getgrnam('postfix')) run('groupadd', ['--system', 'postfix']);
    run('useradd', [
      '--system',
      '--gid',
      'postfix',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      'postfix',
    ]);
  }
  cached = { mailOwner: 'postfix', setgidGroup: 'postdrop', privileged: true };
  return cached;
}

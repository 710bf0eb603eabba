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

/** run - an account command; another test file may have created the account meanwhile, so check after a failure. */
function run(cmd: string, args: string[], exists: () => boolean): void {
  for (let attempt = 0; ; attempt++) {
    try {
      execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      return;
    } catch (e) {
      if (exists()) return;
      // e.g. "cannot lock /etc/passwd; try again later" while another test file adds it
      if (attempt >= 20) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
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
  if (!getgrnam('postdrop')) run('groupadd', ['--system', 'postdrop'], () => !!getgrnam('postdrop'));
  if (!getpwnam('postfix')) {
    if (!getgrnam('postfix')) run('groupadd', ['--system', 'postfix'], () => !!getgrnam('postfix'));
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
    ], () => !!getpwnam('postfix'));
  }
  cached = { mailOwner: 'postfix', setgidGroup: 'postdrop', privileged: true };
  return cached;
}

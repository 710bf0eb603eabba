/**
 * postfix_cmd.test - the postfix command without a running system: usage
 * errors, unknown commands, check (create-missing with Postfix's modes and
 * owners), set-permissions, upgrade-configuration and logrotate.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestInstance, runProgram, REPO } from '../helpers/instance.js';
import { getgrnam, getpwnam } from '../../src/master/mail_owner.js';

const POSTFIX = join(REPO, 'bin', 'postfix');
let inst: TestInstance | undefined;
after(async () => {
  await inst?.cleanup();
});

test('usage errors exit 1', async () => {
  inst = await TestInstance.create({ name: 'postfix-cmd' });
  const rel = await runProgram(POSTFIX, ['-c', 'relative/dir', 'status']);
  assert.equal(rel.status, 1);
  const none = await runProgram(POSTFIX, ['-c', inst.configDir]);
  assert.equal(none.status, 1);
  const bad = await inst.postfix('bogus');
  assert.equal(bad.status, 1);
  assert.match(
    inst.readLog(),
    /postfix\/postfix-script\[\d+\]: fatal: unknown command: 'bogus'\. Usage: postfix start \(or stop, reload, abort, flush, check, status, set-permissions, upgrade-configuration, logrotate\)/,
  );
});

test('a missing queue directory is fatal', async () => {
  const dir = inst!.queueDir;
  rmSync(dir, { recursive: true });
  const r = await inst!.postfix('check');
  assert.equal(r.status, 1);
  assert.match(inst!.readLog(), new RegExp(`postfix\\[\\d+\\]: fatal: chdir\\(${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): No such file or directory`));
});

test('check creates the queue directories with their modes and owners', async () => {
  const q = inst!.queueDir;
  const { mkdirSync } = await import('node:fs');
  mkdirSync(q, { mode: 0o755 });
  const r = await inst!.postfix('check');
  assert.equal(r.status, 0, r.stderr);
  const modes: Record<string, number> = {
    active: 0o700,
    bounce: 0o700,
    corrupt: 0o700,
    defer: 0o700,
    deferred: 0o700,
    flush: 0o700,
    hold: 0o700,
    incoming: 0o700,
    private: 0o700,
    maildrop: 0o1733,
    public: 0o755,
    pid: 0o755,
    saved: 0o700,
    trace: 0o700,
  };
  for (const [name, mode] of Object.entries(modes)) {
    const st = statSync(join(q, name));
    assert.ok(st.isDirectory(), name);
    assert.equal(st.mode & 0o7777, mode, `${name} mode`);
    if (inst!.accounts.privileged) {
      const owner = name === 'pid' ? 0 : getpwnam('postfix')!.uid;
      assert.equal(st.uid, owner, `${name} owner`);
      if (name === 'maildrop' || name === 'public') assert.equal(st.gid, getgrnam('postdrop')!.gid, `${name} group`);
    } else {
      assert.equal(st.uid, process.getuid!(), `${name} owner`);
    }
  }
});

test('check warns about a group-writable queue directory', async () => {
  const { chmodSync } = await import('node:fs');
  chmodSync(join(inst!.queueDir, 'pid'), 0o775);
  const r = await inst!.postfix('check');
  assert.equal(r.status, 0);
  assert.match(inst!.readLog(), new RegExp(`postfix-script\\[\\d+\\]: warning: group or other writable: ${join(inst!.queueDir, 'pid').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const s = await inst!.postfix('set-permissions', `mail_owner=${inst!.accounts.mailOwner}`);
  assert.equal(s.status, 0);
  assert.equal(statSync(join(inst!.queueDir, 'pid')).mode & 0o7777, 0o755);
  const main = readFileSync(join(inst!.configDir, 'main.cf'), 'utf8');
  assert.equal(main.match(/^mail_owner = .*$/gm)?.join('|'), `mail_owner = ${inst!.accounts.mailOwner}`);
  const bad = await inst!.postfix('set-permissions', 'no_such_parameter=1');
  assert.equal(bad.status, 1);
});

test('upgrade-configuration adds missing services to master.cf', async () => {
  const masterCf = join(inst!.configDir, 'master.cf');
  writeFileSync(masterCf, 'smtp      inet  n       -       n       -       -       smtpd\n');
  const r = await inst!.postfix('upgrade-configuration');
  assert.equal(r.status, 0);
  assert.match(r.stdout, new RegExp(`Editing ${masterCf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, adding missing entry for postlog unix-domain datagram service`));
  const text = readFileSync(masterCf, 'utf8');
  assert.match(text, /^postlog\s+unix-dgram\s+n\s+-\s+n\s+-\s+1\s+postlogd$/m);
  assert.match(text, /^smtp\s+inet/m);
  const again = await inst!.postfix('upgrade-configuration');
  assert.equal(again.stdout, '', 'nothing more to add');
});

test('check refuses maillog_file without a postlog service', async () => {
  const masterCf = join(inst!.configDir, 'master.cf');
  writeFileSync(masterCf, 'smtp      inet  n       -       n       -       -       smtpd\n');
  const r = await inst!.postfix('check');
  assert.equal(r.status, 1);
  assert.match(inst!.readLog(), /fatal: missing 'postlog' service in master\.cf - run 'postfix upgrade-configuration'/);
});

test('logrotate renames and compresses maillog_file', async () => {
  const before = inst!.readLog();
  assert.ok(before.length > 0);
  const r = await inst!.postfix('logrotate');
  assert.equal(r.status, 0, inst!.readLog());
  const rotated = readdirSync(join(inst!.dir, 'log')).filter((n) => /^maillog\.\d{8}-\d{6}\.gz$/.test(n));
  assert.equal(rotated.length, 1, readdirSync(join(inst!.dir, 'log')).join(' '));
  const bad = await inst!.postfix('logrotate', 'extra');
  assert.equal(bad.status, 1);
  assert.ok(existsSync(inst!.logFile));
  assert.match(inst!.readLog(), /fatal: usage postfix logrotate \(no arguments\)/);
});

test('a missing mail_owner account: fatal with a hint as root; irrelevant for an ordinary user', async () => {
  const other = await TestInstance.create({ name: 'postfix-owner', main: { mail_owner: 'no-such-user-xyz' } });
  try {
    const r = await other.postfix('check');
    if (other.accounts.privileged) {
      assert.equal(r.status, 1);
      const log = other.readLog();
      assert.match(log, /warning: create the account, for example: groupadd --system no-such-user-xyz/);
      assert.match(
        log,
        new RegExp(`fatal: file ${other.configDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/main\\.cf: parameter mail_owner: unknown user name value: no-such-user-xyz`),
      );
    } else {
      assert.equal(r.status, 0, 'an instance of an ordinary user runs as that user whatever mail_owner says');
    }
  } finally {
    await other.cleanup();
  }
});

/** postlock and postkick: locks held while the command runs, exit codes, diagnostics, triggers. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { existsSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeInstance, run, ROOT } from './helpers.js';

test('postlock holds <folder>.lock (mode 0) while the command runs and returns its status', () => {
  const inst = makeInstance('deliver_lock_attempts = 1\n');
  try {
    const mbox = join(inst.dir, 'mbox');
    const r = run('postlock', ['-c', inst.etc, mbox, 'sh', '-c', 'stat -c %a "$0.lock"; exit 3', mbox]);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, '0\n');
    assert.ok(existsSync(mbox), 'the folder is created');
    assert.equal(statSync(mbox).mode & 0o777, 0o600);
    assert.ok(!existsSync(`${mbox}.lock`));
  } finally {
    inst.cleanup();
  }
});

test('postlock fails with 75 when the lock is taken, and for bad usage', () => {
  const inst = makeInstance('deliver_lock_attempts = 1\n');
  try {
    const mbox = join(inst.dir, 'mbox');
    writeFileSync(`${mbox}.lock`, '');
    let r = run('postlock', ['-c', inst.etc, '-l', 'dotlock', mbox, 'true']);
    assert.equal(r.status, 75);
    assert.equal(r.stderr, `postlock: fatal: open file ${mbox}: unable to create lock file ${mbox}.lock: File exists\n`);
    assert.ok(existsSync(`${mbox}.lock`), "somebody else's lock is left alone");
    r = run('postlock', ['-c', inst.etc, '-l', 'foo', mbox, 'true']);
    assert.equal(r.status, 75);
    assert.equal(r.stderr, 'postlock: fatal: unknown mailbox_delivery_lock value "foo" in "foo"\n');
    r = run('postlock', ['-c', inst.etc, mbox]);
    assert.equal(r.status, 75);
    assert.match(r.stderr, /^postlock: fatal: usage: postlock \[-c config_dir\] \[-l lock_style\] \[-v\] folder command\.\.\.\n$/);
    r = run('postlock', ['-c', inst.etc, '-l', 'fcntl', join(inst.dir, 'other'), join(inst.dir, 'no-such-command')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /fatal: execvp .*no-such-command: No such file or directory/);
  } finally {
    inst.cleanup();
  }
});

test('postlock: a second fcntl locker waits for the first', async () => {
  const inst = makeInstance('deliver_lock_attempts = 5\ndeliver_lock_delay = 1s\n');
  try {
    const mbox = join(inst.dir, 'mbox');
    const first = spawn(join(ROOT, 'bin', 'postlock'), ['-c', inst.etc, '-l', 'fcntl', mbox, 'sh', '-c', 'echo locked; sleep 1']);
    await new Promise<void>((resolve) => first.stdout.once('data', () => resolve()));
    const second = spawn(join(ROOT, 'bin', 'postlock'), ['-c', inst.etc, '-l', 'fcntl', mbox, 'sh', '-c', 'echo second']);
    let out = '';
    second.stdout.on('data', (d) => (out += d));
    const firstDone = new Promise<number | null>((r) => first.on('exit', (c) => r(c)));
    const secondCode = await new Promise<number | null>((r) => second.on('exit', (c) => r(c)));
    assert.equal(await firstDone, 0);
    assert.equal(secondCode, 0);
    assert.equal(out, 'second\n');
  } finally {
    inst.cleanup();
  }
});

test('postkick writes the request to class/service', async () => {
  const inst = makeInstance();
  try {
    mkdirSync(join(inst.spool, 'private'), { recursive: true });
    const got = new Promise<string>((resolve) => {
      const srv = createServer((sock) => {
        let data = '';
        sock.on('data', (d) => (data += d));
        sock.on('end', () => {
          srv.close();
          resolve(data);
        });
      });
      srv.listen(join(inst.spool, 'public', 'qmgr'));
    });
    await new Promise((r) => setTimeout(r, 50));
    const child = spawn(join(ROOT, 'bin', 'postkick'), ['-c', inst.etc, 'public', 'qmgr', 'IDFA']);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0);
    assert.equal(await got, 'IDFA');
    const r = run('postkick', ['-c', inst.etc, 'public', 'pickup', 'W']);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      'postkick: warning: unable to look up public/pickup: No such file or directory\n' +
        'postkick: warning: Cannot contact class public service pickup - perhaps the mail system is down\n',
    );
  } finally {
    inst.cleanup();
  }
});

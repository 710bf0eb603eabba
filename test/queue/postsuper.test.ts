/** postsuper tests on real temporary queues built from Postfix-written queue files. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { giveToOwner, makeInstance, run, type TestInstance } from './helpers.js';

function withQueue(fn: (inst: TestInstance) => void): void {
  const inst = makeInstance('short');
  giveToOwner(inst);
  try {
    fn(inst);
  } finally {
    inst.cleanup();
  }
}

const ps = (inst: TestInstance, args: string[], input?: string) => run('bin/postsuper', args, { etc: inst.etc, input });

test('postsuper -d removes the message and its logs', () =>
  withQueue((inst) => {
    const r = ps(inst, ['-d', '7B69420C9E8']);
    assert.equal(r.status, 0);
    assert.equal(r.stderr, 'postsuper: 7B69420C9E8: removed\npostsuper: Deleted: 1 message\n');
    assert.ok(!existsSync(join(inst.spool, 'deferred/7/7B69420C9E8')));
    assert.ok(!existsSync(join(inst.spool, 'defer/7/7B69420C9E8')));
    // the same lines go to the mail log, in Postfix's format
    const log = readFileSync(join(inst.top, 'maillog'), 'utf8');
    assert.match(log, /^\w{3} [ \d]\d \d\d:\d\d:\d\d mail postfix\/postsuper\[\d+\]: 7B69420C9E8: removed\n.* postfix\/postsuper\[\d+\]: Deleted: 1 message\n$/);
    const r2 = ps(inst, ['-d', '7B69420C9E8', '-d', 'bad/id']);
    assert.equal(r2.stderr, 'postsuper: warning: invalid mail queue id: bad/id\npostsuper: Deleted: 0 messages\n');
  }));

test('postsuper -d ALL counts only complete messages in the named queues', () =>
  withQueue((inst) => {
    const r = ps(inst, ['-d', 'ALL', 'deferred']);
    assert.equal(r.stderr, 'postsuper: Deleted: 1 message\n');
    const all = ps(inst, ['-d', 'ALL']);
    assert.equal(all.stderr, 'postsuper: Deleted: 4 messages\n');
    assert.deepEqual(readdirSync(join(inst.spool, 'hold')), []);
    assert.deepEqual(readdirSync(join(inst.spool, 'maildrop')), []);
  }));

test('postsuper -h, -H, -r and -f move files like Postfix', () =>
  withQueue((inst) => {
    let r = ps(inst, ['-h', '7B69420C9E8']);
    assert.equal(r.stderr, 'postsuper: 7B69420C9E8: placed on hold\npostsuper: Placed on hold: 1 message\n');
    assert.ok(existsSync(join(inst.spool, 'hold/7B69420C9E8')));
    r = ps(inst, ['-H', '7B69420C9E8']);
    assert.equal(r.stderr, 'postsuper: 7B69420C9E8: released from hold\npostsuper: Released from hold: 1 message\n');
    assert.ok(existsSync(join(inst.spool, 'deferred/7/7B69420C9E8')));
    r = ps(inst, ['-r', '7B69420C9E8']);
    assert.equal(r.stderr, 'postsuper: 7B69420C9E8: requeued\npostsuper: Requeued: 1 message\n');
    assert.ok(existsSync(join(inst.spool, 'maildrop/7B69420C9E8')));
    // the defer log stays (Postfix does not touch logfiles on requeue)
    assert.ok(existsSync(join(inst.spool, 'defer/7/7B69420C9E8')));
    r = ps(inst, ['-f', '97A3B20C9EC']);
    // already force-expired (mode 0710): only the release happens
    assert.equal(r.stderr, 'postsuper: 97A3B20C9EC: released from hold\npostsuper: Force-expired: 0 messages\npostsuper: Released from hold: 1 message\n');
    r = ps(inst, ['-e', '65C4020CD02']);
    assert.equal(r.stderr, 'postsuper: 65C4020CD02: expired\npostsuper: Force-expired: 1 message\n');
    assert.equal(statSync(join(inst.spool, 'incoming/65C4020CD02')).mode & 0o777, 0o710);
    r = ps(inst, ['-h', 'ALL']);
    assert.equal(r.stderr, 'postsuper: Placed on hold: 3 messages\n');
  }));

test('postsuper reads queue IDs from stdin with "-"', () =>
  withQueue((inst) => {
    const r = ps(inst, ['-d', '-'], '7B69420C9E8\n65C4020CD02\nNOSUCH\n');
    assert.equal(r.stderr, 'postsuper: 7B69420C9E8: removed\npostsuper: 65C4020CD02: removed\npostsuper: Deleted: 2 messages\n');
  }));

test('postsuper -s renames files to match their inode and fixes hash levels', () =>
  withQueue((inst) => {
    // a deferred file at the wrong hash level
    mkdirSync(join(inst.spool, 'deferred/X'), { recursive: true });
    writeFileSync(join(inst.spool, 'deferred/X/ZZZZZQQ'), '', { mode: 0o700 });
    writeFileSync(join(inst.spool, 'deferred/X/ZZZZZ'), '', { mode: 0o700 });
    giveToOwner(inst);
    const r = ps(inst, ['-s']);
    assert.equal(r.status, 0);
    // Same text as Postfix 3.7 postsuper for the same files (checked against the real one).
    assert.equal(
      r.stderr,
      'postsuper: warning: bogus file name: deferred/X/ZZZZZQQ\npostsuper: warning: bogus file name: deferred/X/ZZZZZQQ\n' +
        'postsuper: Renamed to match inode number: 6 messages\npostsuper: warning: QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS\n',
    );
    for (const q of ['active', 'incoming', 'hold', 'maildrop']) {
      for (const id of readdirSync(join(inst.spool, q))) {
        const st = statSync(join(inst.spool, q, id));
        assert.equal(id.slice(5), st.ino.toString(16).toUpperCase(), `${q}/${id}`);
      }
    }
    // ZZZZZ has an empty inode part (inode 0): renamed and rehashed; ZZZZZQQ is bogus and stays.
    assert.equal(readdirSync(join(inst.spool, 'deferred/Z')).length, 1);
    assert.deepEqual(readdirSync(join(inst.spool, 'deferred/X')), ['ZZZZZQQ']);
  }));

test('postsuper usage and privilege messages', () =>
  withQueue((inst) => {
    let r = ps(inst, ['-x']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^postsuper: invalid option -- 'x'\npostsuper: fatal: usage: postsuper \[-c config_dir\]/);
    r = run('bin/postsuper', ['-c', 'relative/dir']);
    assert.equal(r.stderr, 'postsuper: fatal: -c requires absolute pathname\n');
    r = ps(inst, ['-d', 'ALL', 'nosuchqueue']);
    assert.equal(r.stderr, 'postsuper: fatal: invalid directory name: nosuchqueue\n');
  }));

test('postsuper refuses users other than root and mail_owner', async () => {
  const { spawnSync } = await import('node:child_process');
  const { getpwnam } = await import('../../src/util/mypwd.js');
  const { isRoot, ROOT, testOwner } = await import('./helpers.js');
  const inst = makeInstance('short');
  try {
    let opts: { uid?: number; gid?: number } = {};
    if (isRoot) {
      const other = getpwnam('daemon') ?? getpwnam('bin');
      assert.ok(other && other.uid !== testOwner().uid);
      opts = { uid: other.uid, gid: other.gid };
    } else {
      const cf = join(inst.etc, 'main.cf');
      writeFileSync(cf, readFileSync(cf, 'utf8').replace(/^mail_owner = .*$/m, 'mail_owner = root'));
    }
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/postsuper'), '-d', 'ALL'], { env: { ...process.env, MAIL_CONFIG: inst.etc }, ...opts });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.toString(), 'postsuper: fatal: use of this command is reserved for the superuser\n');
    assert.ok(existsSync(join(inst.spool, 'deferred/7/7B69420C9E8')));
  } finally {
    inst.cleanup();
  }
});

/** mail_queue tests: queue ID formats, hashed paths, queue file creation and renames on a real directory. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, statSync, writeSync } from 'node:fs';
import { MailConfig } from '../../src/global/mail_conf.js';
import {
  MAIL_QUEUE,
  makeQueueId,
  mailQueueComplete,
  mailQueueEnter,
  mailQueueIdOk,
  mailQueuePath,
  mailQueueRelPath,
  mailQueueRename,
  queueIdInode,
  safeStrtoul,
  safeUltostr,
  dirForest,
  findLongInumSeparator,
} from '../../src/global/mail_queue.js';
import { makeInstance } from './helpers.js';

const cfg = (extra = '') => MailConfig.fromText(`queue_directory = /q\n${extra}`);

test('short queue IDs are %05X usec + %lX inode', () => {
  assert.equal(makeQueueId(1795557886, 0x339c4, 0x2103fa, false), '339C42103FA');
  assert.equal(makeQueueId(1, 5, 255, false), '00005FF');
  assert.deepEqual(queueIdInode('339C42103FA'), { ino: 0x2103fan, longForm: false });
});

test('long queue IDs round-trip a real Postfix ID', () => {
  const id = '4jYxvb4LTwzJ9GQ'; // written by Postfix 3.7.11 with enable_long_queue_ids = yes
  const z = findLongInumSeparator(id);
  assert.equal(z, 10);
  const sec = Number(safeStrtoul(id.slice(0, 6), 52));
  const usec = Number(safeStrtoul(id.slice(6, 10), 52));
  const ino = safeStrtoul(id.slice(11), 51)!;
  assert.equal(makeQueueId(sec, usec, ino, true), id);
  assert.ok(sec > 1_700_000_000 && usec < 1_000_000);
  assert.equal(safeUltostr(0, 52, 4), '0000');
  assert.equal(safeUltostr(50, 51, 0), 'y');
  assert.ok(!safeUltostr(51 * 51 * 51 - 1, 51, 0).includes('z'));
});

test('hashed queue paths follow hash_queue_names and hash_queue_depth', () => {
  const c = cfg();
  assert.equal(mailQueueRelPath(c, MAIL_QUEUE.DEFERRED, '7B69420C9E8'), 'deferred/7/7B69420C9E8');
  assert.equal(mailQueueRelPath(c, MAIL_QUEUE.DEFER, '7B69420C9E8'), 'defer/7/7B69420C9E8');
  assert.equal(mailQueueRelPath(c, MAIL_QUEUE.HOLD, '7B69420C9E8'), 'hold/7B69420C9E8');
  assert.equal(mailQueuePath(c, MAIL_QUEUE.INCOMING, 'ABCDE12'), '/q/incoming/ABCDE12');
  // Long IDs hash on the hex form of their microseconds (real Postfix put this one in deferred/9/).
  assert.equal(mailQueueRelPath(c, MAIL_QUEUE.DEFERRED, '4jYxvb4LTwzJ9GQ'), 'deferred/9/4jYxvb4LTwzJ9GQ');
  const deep = cfg('hash_queue_depth = 2\nhash_queue_names = deferred, defer, hold\n');
  assert.equal(mailQueueRelPath(deep, MAIL_QUEUE.HOLD, '7B69420C9E8'), 'hold/7/B/7B69420C9E8');
  assert.deepEqual(dirForest('A', 3), ['A', '_', '_']);
});

test('queue ID validation refuses path tricks', () => {
  assert.ok(mailQueueIdOk('339C42103FA'));
  assert.ok(mailQueueIdOk('example_com'));
  for (const bad of ['', '../x', 'a/b', 'a.b', 'x'.repeat(256), 'a b']) assert.ok(!mailQueueIdOk(bad), bad);
  assert.throws(() => mailQueuePath(cfg(), MAIL_QUEUE.HOLD, '../etc'));
  assert.throws(() => mailQueuePath(cfg(), '../x', 'ABC'));
});

for (const longIds of [false, true]) {
  test(`mailQueueEnter names the file after its inode (${longIds ? 'long' : 'short'} IDs)`, async () => {
    const inst = makeInstance('none', `enable_long_queue_ids = ${longIds ? 'yes' : 'no'}\n`);
    try {
      const config = MailConfig.load(inst.etc);
      const { id, path, fd } = mailQueueEnter(config, MAIL_QUEUE.INCOMING);
      writeSync(fd, 'x');
      const st = statSync(path);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(queueIdInode(id)?.ino, BigInt(st.ino));
      assert.equal(queueIdInode(id)?.longForm, longIds);
      if (!longIds) assert.match(id, /^[0-9A-F]{6,}$/);
      else assert.match(id, /^[0-9A-Za-z]{10}z[0-9A-Za-y]+$/);
      await mailQueueComplete(fd);
      closeSync(fd);
      assert.equal(statSync(path).mode & 0o777, 0o700);
      // A rename into a hashed queue creates the missing hash directory.
      await mailQueueRename(config, id, MAIL_QUEUE.INCOMING, MAIL_QUEUE.DEFERRED);
      assert.ok(statSync(mailQueuePath(config, MAIL_QUEUE.DEFERRED, id)).isFile());
      await assert.rejects(mailQueueRename(config, id, MAIL_QUEUE.INCOMING, MAIL_QUEUE.HOLD));
    } finally {
      inst.cleanup();
    }
  });
}

/**
 * crash - restart safety and queue limits of the queue manager in a real
 * instance: `kill -9` of qmgr in mid-delivery loses nothing (every message
 * is delivered at least once after master restarts it), the active queue
 * never holds more than qmgr_message_active_limit messages, a bounce of a
 * bounce is absorbed (no notice to the null sender), and mail for the
 * double-bounce address is discarded by qmgr itself, as Postfix logs it.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';
import { sleep, waitUntil } from '../helpers/wait.js';

const me = userInfo().username;
const sender = `${me}@mail.example.test`;

let inst: TestInstance;

before(async () => {
  inst = await TestInstance.create({
    name: 'qmgr-crash',
    main: { qmgr_message_active_limit: '3', service_throttle_time: '1s' },
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

function qmgrPid(): number | undefined {
  for (const pid of inst.processes()) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('libexec/qmgr')) return pid;
    } catch {
      // gone
    }
  }
  return undefined;
}

function mbox(): string {
  const p = join(inst.mailDir, me);
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

const waitFor = <T>(what: string, fn: () => T | undefined, timeoutMs = 60000): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, intervalMs: 100, context: () => inst.readLog() });

test('kill -9 of qmgr in mid-delivery: after the restart every message is delivered, none lost', async () => {
  const n = 30;
  const subjects = Array.from({ length: n }, (_, i) => `crash-${i}-${process.pid}`);
  await Promise.all(
    subjects.map(async (s) => {
      const r = await inst.command('sendmail', ['-f', sender, sender], `Subject: ${s}\n\n${s}\n`);
      assert.equal(r.status, 0, r.stderr);
    }),
  );
  await inst.waitForLog(/local\[\d+\]: [0-9A-F]+: to=<.*status=sent/);
  const pid = await waitFor('qmgr pid', qmgrPid);
  process.kill(pid, 'SIGKILL');
  // master restarts qmgr on the next wake-up; a flush is one
  const end = Date.now() + 60000;
  for (;;) {
    const text = mbox();
    if (subjects.every((s) => text.includes(`Subject: ${s}\n`))) break;
    if (Date.now() > end) throw new Error(`not all delivered\n--- maillog:\n${inst.readLog()}`);
    await inst.command('postqueue', ['-f']);
    await sleep(500);
  }
  // If the old qmgr had finished everything before it died, nothing has woken a new
  // one yet (master starts it on a trigger or on its wakeup): wake it now.
  await inst.command('postqueue', ['-f']);
  assert.notEqual(await waitFor('new qmgr', qmgrPid), pid);
  assert.match(inst.readLog(), /warning: process \S+\/qmgr pid \d+ killed by signal 9/);
});

test('the active queue never holds more than qmgr_message_active_limit messages', () => {
  // qmgr's own lines are in its order: "(queue active)" enters, "removed" (or a deferral) leaves
  let active = 0;
  let peak = 0;
  let qmgr = '';
  for (const line of inst.readLog().split('\n')) {
    const m = /postfix\/qmgr\[(\d+)\]: [0-9A-F]+: (?:from=<[^>]*>, size=\d+, nrcpt=\d+ \(queue active\)|removed)$/.exec(line);
    if (!m) continue;
    if (m[1] !== qmgr) {
      qmgr = m[1]; // a new qmgr process starts with an empty active queue
      active = 0;
    }
    active += line.endsWith('(queue active)') ? 1 : -1;
    peak = Math.max(peak, active);
  }
  assert.ok(peak >= 1 && peak <= 3, `peak ${peak}`);
});

test('a bounce of a bounce is absorbed; mail to the double-bounce address is discarded by qmgr', async () => {
  const r = await inst.command('sendmail', ['-f', `nosuch2@mail.example.test`, 'nosuch@mail.example.test'], 'Subject: db\n\nbody\n');
  assert.equal(r.status, 0, r.stderr);
  const line = await inst.waitForLog(/local\[\d+\]: [0-9A-F]+: to=<nosuch2@mail\.example\.test>, relay=local, .*dsn=5\.1\.1, status=bounced \(unknown user: "nosuch2"\)$/);
  const id = /: ([0-9A-F]+): to=/.exec(line)![1];
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed$`));
  assert.equal(inst.logLines(new RegExp(`bounce\\[\\d+\\]: ${id}: `)).length, 0, 'no notice for a double bounce');

  const r2 = await inst.command('sendmail', ['-f', sender, 'double-bounce@mail.example.test'], 'Subject: db2\n\nbody\n');
  assert.equal(r2.status, 0, r2.stderr);
  await inst.waitForLog(
    /qmgr\[\d+\]: [0-9A-F]+: to=<double-bounce@mail\.example\.test>, relay=none, delay=\S+, delays=\S+, dsn=2\.0\.0, status=sent \(undeliverable postmaster notification discarded\)$/,
  );
});

test('notify_classes bounce and 2bounce: postmaster copies of the bounce and of the double bounce', async () => {
  inst.setMain({ notify_classes: 'bounce, 2bounce, resource, software' });
  assert.equal((await inst.postfix('reload')).status, 0);
  await sleep(500);
  const r = await inst.command('sendmail', ['-f', 'nosuch4@mail.example.test', 'nosuch3@mail.example.test'], 'Subject: nc\n\nbody\n');
  assert.equal(r.status, 0, r.stderr);
  const first = await inst.waitForLog(/local\[\d+\]: [0-9A-F]+: to=<nosuch3@mail\.example\.test>, .*status=bounced/, 30000);
  const id = /: ([0-9A-F]+): to=/.exec(first)![1];
  await inst.waitForLog(new RegExp(`bounce\\[\\d+\\]: ${id}: sender non-delivery notification: [0-9A-F]+$`));
  await inst.waitForLog(new RegExp(`bounce\\[\\d+\\]: ${id}: postmaster non-delivery notification: [0-9A-F]+$`));
  const second = await inst.waitForLog(/local\[\d+\]: [0-9A-F]+: to=<nosuch4@mail\.example\.test>, .*status=bounced/);
  const id2 = /: ([0-9A-F]+): to=/.exec(second)![1];
  const pm = await inst.waitForLog(new RegExp(`bounce\\[\\d+\\]: ${id2}: postmaster non-delivery notification: [0-9A-F]+$`));
  assert.equal(inst.logLines(new RegExp(`bounce\\[\\d+\\]: ${id2}: sender `)).length, 0, 'never to the null sender');
  const pmId = /notification: ([0-9A-F]+)$/.exec(pm)![1];
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${pmId}: from=<double-bounce@mail\\.example\\.test>, size=\\d+, nrcpt=1 \\(queue active\\)$`));
});

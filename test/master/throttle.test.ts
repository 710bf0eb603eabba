/**
 * throttle.test - a service whose process fails at startup is reported and
 * throttled for service_throttle_time (Postfix master_reap_child), and a
 * failing command never turns into a tight respawn loop.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { TestInstance, REPO } from '../helpers/instance.js';

const BAD = join(REPO, 'dist', 'test', 'master', 'fixtures', 'bad_daemon.js');

let inst: TestInstance | undefined;
after(async () => {
  await inst?.cleanup();
});

function poke(path: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.on('connect', () => s.write('x\n'));
    setTimeout(() => {
      s.destroy();
      resolve();
    }, 300);
  });
}

test('bad command startup: exit status warning, then throttling', async () => {
  inst = await TestInstance.create({ name: 'throttle-test', main: { service_throttle_time: '60s' } });
  inst.writeMasterCf(
    [`bad       unix  -       -       n       -       -       ${BAD}`, 'postlog   unix-dgram n  -       n       -       1       postlogd', ''].join('\n'),
  );
  await inst.start();
  const path = inst.servicePath('private', 'bad');
  await poke(path);
  const exitLine = await inst.waitForLog(/postfix\/master\[\d+\]: warning: process \S+bad_daemon\.js pid \d+ exit status 1$/m);
  assert.ok(exitLine.includes(BAD), exitLine);
  await inst.waitForLog(new RegExp(`postfix/master\\[\\d+\\]: warning: ${BAD.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: bad command startup -- throttling`));
  // What the failed process wrote to stderr is in the log (master runs in the background).
  await inst.waitForLog(/postfix\/master\[\d+\]: warning: \S+bad_daemon\.js: pid \d+: bad_daemon: failing on purpose$/m);
  // While throttled, more clients start no more processes.
  await poke(path);
  await poke(path);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(inst.logLines(/exit status 1/).length, 1, 'one failed start, no respawn loop');
  const r = await inst.postfix('stop');
  assert.equal(r.status, 0);
  assert.deepEqual(inst.processes(), []);
});

test('abort: master is told to stop at once; everything goes away', async () => {
  assert.ok(inst);
  await inst.start();
  const pid = inst.masterPid();
  assert.ok(pid);
  const r = await inst.postfix('abort');
  assert.equal(r.status, 0);
  await inst.waitForLog(/postfix-script\[\d+\]: aborting the Postfix mail system/);
  assert.deepEqual(await inst.waitNoProcesses(10000), []);
  const again = await inst.postfix('abort');
  assert.equal(again.status, 1);
});

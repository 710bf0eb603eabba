/**
 * wakeQmgr: files completed while a qmgr wake-up is on its way share one
 * wake-up queued behind it; every caller is answered only by a wake-up that
 * started after its call.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wakeQmgr } from '../../src/cleanup/cleanup.js';

test('wakeQmgr: one wake-up at a time, later callers share the next one', async () => {
  const started: Array<() => void> = [];
  const send = () => new Promise<void>((resolve) => started.push(resolve));
  const order: string[] = [];
  const a = wakeQmgr(send).then(() => order.push('a'));
  assert.equal(started.length, 1);
  // b, c, d arrive while the first wake-up is on its way
  const b = wakeQmgr(send).then(() => order.push('b'));
  const c = wakeQmgr(send).then(() => order.push('c'));
  const d = wakeQmgr(send).then(() => order.push('d'));
  assert.equal(started.length, 1, 'nothing more is sent while one is in flight');
  started[0]();
  await a;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a'], 'b, c, d wait for a wake-up of their own');
  assert.equal(started.length, 2, 'one wake-up for b, c and d');
  started[1]();
  await Promise.all([b, c, d]);
  assert.deepEqual(order.sort(), ['a', 'b', 'c', 'd']);
  // idle again: the next caller sends at once
  const e = wakeQmgr(send);
  assert.equal(started.length, 3);
  started[2]();
  await e;
});

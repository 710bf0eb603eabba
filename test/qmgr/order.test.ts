/**
 * order.test - the order in which qmgr hands a message's recipients to the
 * agents (Postfix qmgr_message_sort): by transport and next hop, then by
 * recipient domain without regard to case, then by address. Checked with
 * Postfix 3.7.11 relaying to smtp-sink: c@b.test a@b.test z@a.test B@a.test
 * q@A.test arrive as B@a.test, q@A.test, z@a.test, a@b.test, c@b.test.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import { TestInstance } from '../helpers/instance.js';
import { startOddServer, type OddServer } from '../smtp/odd_server.js';

let inst: TestInstance | undefined;
let peer: OddServer | undefined;
after(async () => {
  await inst?.cleanup();
  await peer?.close();
});

test('one message to five remote recipients: RCPT TO in Postfix order (domain case-insensitively, then address)', async () => {
  peer = await startOddServer({ extensions: ['PIPELINING'] });
  inst = await TestInstance.create({ name: 'qmgr-order', main: { relayhost: `[127.0.0.1]:${peer.port}` } });
  await inst.start();
  const me = userInfo().username;
  const r = await inst.command('sendmail', ['-f', `${me}@mail.example.test`, 'c@b.test', 'a@b.test', 'z@a.test', 'B@a.test', 'q@A.test'], 'Subject: order\n\nx\n');
  assert.equal(r.status, 0, r.stderr);
  await inst.waitForLog(/: to=<c@b\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent/);
  const rcpts = peer.seen.commands.filter((c) => c.startsWith('RCPT TO:'));
  assert.deepEqual(rcpts, ['RCPT TO:<B@a.test>', 'RCPT TO:<q@A.test>', 'RCPT TO:<z@a.test>', 'RCPT TO:<a@b.test>', 'RCPT TO:<c@b.test>']);
});

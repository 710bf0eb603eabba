/**
 * bv - `sendmail -bv`: one delivery pass in verify mode, then a "Mail
 * Delivery Status Report" to the sender with deliverable/undeliverable per
 * recipient (texts as Postfix 3.7: "delivery via local: ..." for agent
 * decisions, the deferral reason as is), and the probe leaves the queue.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { TestInstance, freePort } from '../helpers/instance.js';

const me = userInfo().username;
let inst: TestInstance;
let dead: number;

before(async () => {
  dead = await freePort();
  inst = await TestInstance.create({ name: 'verify-bv', main: { relayhost: `[127.0.0.1]:${dead}` } });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

test('sendmail -bv mails a delivery status report and removes the probe', async () => {
  const r = await inst.command('sendmail', ['-bv', `${me}@mail.example.test`, 'nosuch@mail.example.test', 'far@remote.example']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Mail Delivery Status Report will be mailed to <\S+>\.\n$/);
  const line = await inst.waitForLog(/bounce\[\d+\]: [0-9A-F]+: sender delivery status notification: [0-9A-F]+$/);
  const [, id, notice] = /: ([0-9A-F]+): sender delivery status notification: ([0-9A-F]+)$/.exec(line)!;
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed$`));
  assert.equal(inst.logLines(new RegExp(`${id}: to=<nosuch@mail\\.example\\.test>, relay=local, .*dsn=5\\.1\\.1, status=undeliverable \\(unknown user: "nosuch"\\)$`)).length, 1);
  assert.equal(inst.logLines(new RegExp(`smtp\\[\\d+\\]: ${id}: to=<far@remote\\.example>, relay=none, .*dsn=4\\.4\\.1, status=undeliverable \\(connect to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${dead}: Connection refused\\)$`)).length, 1);
  assert.equal(inst.logLines(new RegExp(`${id}: .*status=deferred`)).length, 0, 'a probe is never deferred');
  await inst.waitForLog(new RegExp(`local\\[\\d+\\]: ${notice}: to=<${me}@mail\\.example\\.test>, .*status=sent`));
  const box = readFileSync(join(inst.mailDir, me), 'utf8');
  const report = box.slice(box.indexOf('Subject: Mail Delivery Status Report'));
  assert.ok(existsSync(join(inst.mailDir, me)) && report.length > 0);
  assert.match(report, /\nEnclosed is the mail delivery report that you requested\.\n/);
  assert.match(report, new RegExp(`\\n<far@remote\\.example>: connect to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${dead}: Connection refused\\n`));
  assert.match(report, /\n<nosuch@mail\.example\.test>: delivery via local: unknown user: "nosuch"\n/);
  assert.match(report, /\nFinal-Recipient: rfc822; nosuch@mail\.example\.test\nOriginal-Recipient: rfc822;nosuch@mail\.example\.test\nAction: undeliverable\nStatus: 5\.1\.1\nDiagnostic-Code: X-Postfix; delivery via local: unknown user: "nosuch"\n/);
  assert.match(report, /\nAction: undeliverable\nStatus: 4\.4\.1\nDiagnostic-Code: X-Postfix; connect to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: Connection\n    refused\n/);
  assert.match(report, new RegExp(`\\nFinal-Recipient: rfc822; ${me}@mail\\.example\\.test\\nOriginal-Recipient: rfc822;${me}@mail\\.example\\.test\\nAction: deliverable\\nStatus: 2\\.0\\.0\\nDiagnostic-Code: X-Postfix; delivery via local: deliver`));
  assert.match(report, /\nContent-Description: Message Headers\nContent-Type: text\/rfc822-headers\n/);
});

/**
 * verp_off - disable_verp_bounces = yes: a VERP message is still delivered
 * with one VERP'ed envelope sender per recipient, but its bounces go back
 * as one ordinary notice to the original sender (Postfix qmgr_active_done
 * with var_verp_bounce_off), against a real instance.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';
import { readOr, sleep } from '../helpers/wait.js';

const DOM = 'mail.example.test';

let inst: TestInstance;
let box: string;

before(async () => {
  inst = await TestInstance.create({
    name: 'verpoff',
    main: {
      alias_maps: 'lmdb:$config_directory/aliases',
      alias_database: 'lmdb:$config_directory/aliases',
      disable_verp_bounces: 'yes',
    },
  });
  box = join(inst.dir, 'box');
  mkdirSync(box);
  chmodSync(box, 0o1777);
  writeFileSync(join(inst.configDir, 'aliases'), [`bouncebox: ${box}/bounces`, `keep: ${box}/keep`, 'fail4: "|exit 67"', 'fail5: "|exit 67"', ''].join('\n'));
  const r = await inst.command('postalias', [`lmdb:${join(inst.configDir, 'aliases')}`]);
  assert.equal(r.status, 0, r.stderr);
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});


test('disable_verp_bounces = yes: VERP deliveries, but one ordinary notice to the original sender', async () => {
  const before = inst.logLines(/pickup\[\d+\]: [0-9A-F]+: uid=/).length;
  const r = await inst.command('sendmail', ['-i', '-XV', '-f', `bouncebox@${DOM}`, `keep@${DOM}`, `fail4@${DOM}`, `fail5@${DOM}`], 'Subject: verp off\n\nverp off body\n');
  assert.equal(r.status, 0, r.stderr);
  const line = await inst.waitForLog(/pickup\[\d+\]: [0-9A-F]+: uid=/, 20000, before + 1);
  const id = /: ([0-9A-F]+): uid=/.exec(line)![1];
  await inst.waitForLog(new RegExp(`${id}: removed`));
  assert.equal(inst.logLines(new RegExp(`${id}: sender non-delivery notification: `)).length, 1);
  assert.match(readOr(join(box, 'keep')), /\nReturn-Path: <bouncebox\+keep=mail\.example\.test@mail\.example\.test>\n/);
  const end = Date.now() + 30000;
  let text = '';
  while (!(text = readOr(join(box, 'bounces'))).includes(`X-Postfix-Queue-ID: ${id}`)) {
    if (Date.now() > end) assert.fail(`no notice\n--- maillog:\n${inst.readLog()}`);
    await sleep(100);
  }
  assert.match(text, /\nTo: bouncebox@mail\.example\.test\n/);
  assert.match(text, /\nFinal-Recipient: rfc822; fail4@mail\.example\.test\n/);
  assert.match(text, /\nFinal-Recipient: rfc822; fail5@mail\.example\.test\n/);
});

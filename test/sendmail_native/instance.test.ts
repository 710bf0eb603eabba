/**
 * sendmail_native - a whole instance (postfix start): mail submitted through
 * the native sendmail path is picked up and delivered to the local mailbox.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';

const ROOT = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..', '..');
const me = userInfo().username;
const cc = spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
const skip = !cc.error && cc.status === 0 ? false : 'no C compiler on this machine: the native sendmail path is not built';
if (skip) process.stdout.write(`# sendmail_native: skipped: ${skip}\n`);

test('mail submitted through the native sendmail path is delivered', { skip }, async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'src', 'sendmail', 'sendmail_fast')), 'the build made the native binary');
  const inst = await TestInstance.create({ name: 'sendmail-native' });
  try {
    await inst.start();
    const subject = `native ${process.pid} ${Date.now()}`;
    const r = await new Promise<{ status: number | null; out: string }>((resolve) => {
      const child = spawn(join(ROOT, 'bin', 'sendmail'), ['-C', inst.configDir, '-t', '-i'], {
        env: inst.env({ POSTFIX_TS_SENDMAIL_TRACE: '1' }),
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      child.stdin.end(`To: ${me}@localhost\nSubject: ${subject}\n\nbody from the native path\n.\nstill body\n`);
      child.on('close', (status) => resolve({ status, out }));
    });
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, '', 'no hand-over to Node, no warning');
    const line = await inst.waitForLog(new RegExp(`to=<${me}@localhost>, relay=local, .*status=sent \\(delivered to mailbox\\)`), 60000);
    const id = /: ([0-9A-Z]+): to=/.exec(line)?.[1];
    assert.ok(id, line);
    await inst.waitForLog(new RegExp(`pickup\\[\\d+\\]: ${id}: uid=\\d+ from=<${me}>`), 20000);
    const mbox = readFileSync(join(inst.mailDir, me), 'utf8');
    assert.ok(mbox.includes(`\nSubject: ${subject}\n`), mbox);
    assert.match(mbox, /\n\nbody from the native path\n\.\nstill body\n/);
  } finally {
    await inst.cleanup();
  }
});

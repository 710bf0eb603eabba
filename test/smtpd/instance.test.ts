/**
 * instance - smtpd under master in a real instance (cleanup, trivial-rewrite,
 * qmgr, local ...): nodemailer submits over SMTP, the message is delivered
 * to the local mailbox, and the log has Postfix's smtpd lines.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { TestInstance } from '../helpers/instance.js';

test('nodemailer to smtpd under master: queued, delivered, logged', async () => {
  const inst = await TestInstance.create({ name: 'smtpd-inst' });
  after(() => inst.cleanup());
  await inst.start();
  try {
    const user = inst.accounts.mailOwner;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: inst.smtpPort, secure: false, ignoreTLS: true, name: 'client.example.org' });
    const info = await transport.sendMail({ from: 'alice@example.org', to: `${user}@mail.example.test`, subject: 'instance test', text: 'hello\n' });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    const id = info.response.slice('250 2.0.0 Ok: queued as '.length);
    await inst.waitForLog(/postfix\/smtpd\[\d+\]: disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1( quit=1)? commands=[45]/);
    const log = inst.readLog();
    assert.match(log, /postfix\/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]/);
    assert.match(log, new RegExp(`postfix/smtpd\\[\\d+\\]: ${id}: client=localhost\\[127\\.0\\.0\\.1\\]`));
    // the local agent delivers it; the mailbox shows our Received: header
    await inst.waitForLog(new RegExp(`${id}: to=<${user}@mail\\.example\\.test>, relay=local, .*status=sent`), 30000);
    const mbox = join(inst.mailDir, user);
    assert.ok(existsSync(mbox));
    assert.match(
      readFileSync(mbox, 'utf8'),
      new RegExp(`Received: from client\\.example\\.org \\(localhost \\[127\\.0\\.0\\.1\\]\\)\\n\\tby mail\\.example\\.test \\(Postfix\\) with ESMTP id ${id}\\n\\tfor <${user}@mail\\.example\\.test>; `),
    );
  } finally {
    await inst.stop();
  }
});

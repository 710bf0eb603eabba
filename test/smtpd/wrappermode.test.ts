/**
 * wrappermode - the smtps service (port 465 style, smtpd_tls_wrappermode =
 * yes): TLS starts at connect, before the greeting; STARTTLS is then not
 * offered, and the message is received "with ESMTPS". Whole instance, real
 * TLS client, certificate made by the test.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { TestInstance, freePort } from '../helpers/instance.js';
import { RawClient } from '../acceptance/client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** conversation - over TLS from the first byte: send each command after the previous reply. */
async function conversation(port: number, commands: string[]): Promise<string[]> {
  const c = await RawClient.openTls(port);
  try {
    await c.replies(1, 20000);
    let n = 1;
    for (const command of commands) {
      c.write(command);
      await c.replies(++n, 20000);
    }
    return c.lines();
  } finally {
    c.destroy();
  }
}

/** smtpsInstance - a started instance with an smtps service (its own certificate) on a free port; extra -o lines for it. */
async function smtpsInstance(name: string, extra: string[] = []): Promise<{ inst: TestInstance; smtps: number }> {
  const smtps = await freePort();
  const opts = ['smtpd_tls_wrappermode=yes', 'smtpd_tls_security_level=encrypt', ...extra].map((o) => `  -o ${o}\n`).join('');
  const inst = await TestInstance.create({ name, extraMasterCf: `127.0.0.1:${smtps} inet n - n - - smtpd\n${opts}` });
  const cert = join(inst.configDir, 'cert.pem');
  const key = join(inst.configDir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  inst.setMain({ smtpd_tls_cert_file: cert, smtpd_tls_key_file: key });
  try {
    await inst.start();
    await inst.waitForPort(smtps);
  } catch (e) {
    await inst.cleanup();
    throw e;
  }
  return { inst, smtps };
}

test('smtpd_tls_wrappermode: TLS before the greeting, no STARTTLS offered, received with ESMTPS', async () => {
  const { inst, smtps } = await smtpsInstance('smtps');
  try {
    const me = userInfo().username;
    const replies = await conversation(smtps, [
      'EHLO client.example.test\r\n',
      'MAIL FROM:<s@example.org>\r\n',
      `RCPT TO:<${me}@mail.example.test>\r\n`,
      'DATA\r\n',
      'Subject: over smtps\r\n\r\nwrapped\r\n.\r\n',
      'QUIT\r\n',
    ]);
    assert.equal(replies[0], '220 mail.example.test ESMTP Postfix');
    const ehlo = replies.filter((r) => r.startsWith('250-') || r.startsWith('250 ')).slice(0, 12);
    assert.ok(ehlo.some((r) => r.includes('PIPELINING')), replies.join('\n'));
    assert.ok(!ehlo.some((r) => r.includes('STARTTLS')), 'no STARTTLS inside TLS');
    assert.ok(replies.some((r) => /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/.test(r)), replies.join('\n'));
    assert.equal(replies[replies.length - 1], '221 2.0.0 Bye');
    const mbox = join(inst.mailDir, me);
    for (let n = 0; n < 100 && !(existsSync(mbox) && readFileSync(mbox, 'utf8').includes('wrapped')); n++) await sleep(100);
    assert.match(readFileSync(mbox, 'utf8'), /by mail\.example\.test \(Postfix\) with ESMTPS id [0-9A-F]+/);
  } finally {
    await inst.cleanup();
  }
});

test('smtps: a client that sends no TLS hello is dropped after smtpd_starttls_timeout, not smtpd_timeout', async () => {
  // loglevel 1: smtpd reads the hello itself (for the key-exchange group it logs)
  const { inst, smtps } = await smtpsInstance('smtps-hello', ['smtpd_tls_loglevel=1', 'smtpd_starttls_timeout=2s']);
  try {
    const sock = connect(smtps, '127.0.0.1');
    sock.on('error', () => undefined);
    // smtpd_timeout is 300s: only the 2s TLS timeout can close this connection within the wait
    const closed = await new Promise<boolean>((resolve) => {
      const giveUp = setTimeout(() => resolve(false), 30000);
      sock.on('close', () => {
        clearTimeout(giveUp);
        resolve(true);
      });
    });
    sock.destroy();
    assert.ok(closed, 'smtpd closed the silent connection');
  } finally {
    await inst.cleanup();
  }
});

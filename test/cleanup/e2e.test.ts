/**
 * cleanup end to end: a real instance (master spawning smtpd, cleanup and
 * trivial-rewrite from libexec/) accepts a message over SMTP; a
 * header_checks HOLD keeps the queue file in hold/ so that it can be read
 * back with postcat.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';
import { readRecords } from '../../src/global/record.js';

/** smtpSession - send lines, collect the server's replies (one per command, multi-line folded). */
function smtpSession(port: number, lines: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const replies: string[] = [];
    let buf = '';
    let i = 0;
    sock.setTimeout(20000, () => {
      sock.destroy();
      reject(new Error(`timeout; replies so far: ${replies.join(' | ')}`));
    });
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (line[3] === '-') continue;
        replies.push(line);
        if (i < lines.length) sock.write(lines[i++] + '\r\n');
        else sock.end();
      }
    });
    sock.on('close', () => resolve(replies));
  });
}

test('SMTP to hold/ through cleanup and trivial-rewrite under master', async () => {
  const inst = await TestInstance.create({ name: 'cleanup-e2e' });
  after(() => inst.cleanup());
  writeFileSync(join(inst.configDir, 'header_checks'), '/^Subject: park me/ HOLD\n');
  inst.setMain({
    header_checks: `regexp:${join(inst.configDir, 'header_checks')}`,
    myhostname: 'mail.example.test',
  });
  await inst.start();
  const replies = await smtpSession(inst.smtpPort, [
    'EHLO client.example',
    'MAIL FROM:<sender@example.org>',
    'RCPT TO:<rcpt@example.org>',
    'DATA',
    'Subject: park me\r\nFrom: sender@example.org\r\n\r\nhello\r\n.',
    'QUIT',
  ]);
  const queued = replies.find((r) => r.startsWith('250 2.0.0 Ok: queued as '));
  assert.ok(queued, replies.join('\n'));
  const id = queued!.slice('250 2.0.0 Ok: queued as '.length);
  const log = () => { try { return readFileSync(inst.logFile, 'utf8'); } catch { return ''; } };
  assert.deepEqual(readdirSync(join(inst.queueDir, 'hold')), [id], log());
  const recs = readRecords(readFileSync(join(inst.queueDir, 'hold', id))).map((r) => `${String.fromCharCode(r.type)} ${r.data.toString('latin1')}`);
  const text = recs.join('\n');
  assert.ok(recs.includes('S sender@example.org'), text);
  assert.ok(recs.includes('R rcpt@example.org'), text);
  assert.ok(recs.includes('N Received: from client.example (localhost [127.0.0.1])'), text);
  assert.ok(recs.some((r) => new RegExp(`^N Message-Id: <\\d{14}\\.${id}@mail\\.example\\.test>$`).test(r)), text);
  assert.equal(recs[recs.length - 1], 'E ');
  await inst.waitForLog(new RegExp(`${id}: hold: header Subject: park me from localhost\\[127\\.0\\.0\\.1\\]; from=<sender@example\\.org> to=<rcpt@example\\.org> proto=ESMTP helo=<client\\.example>`));

  await inst.stop();
});

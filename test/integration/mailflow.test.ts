/**
 * mailflow - whole-system tests: a real instance started with
 * `postfix -c DIR start`, real peers (nodemailer as a submitting client,
 * smtp-server as a remote MTA, mailparser reading what was delivered), real
 * mailbox files. Covers SMTP in → local mbox, sendmail → pickup → local,
 * relay through smtp(8) to a remote MTA, a bounce coming back as a
 * multipart/report notice, and recovery of a message left in active/.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { TestInstance, freePort } from '../helpers/instance.js';
import { buildQueueFile } from '../delivery/queue_fixture.js';
import { getpwnam } from '../../src/util/mypwd.js';
import { waitUntil } from '../helpers/wait.js';

const me = userInfo().username;

interface Received {
  from: string;
  to: string[];
  data: string;
}

let inst: TestInstance;
let peer: SMTPServer;
let peerPort: number;
const peerMail: Received[] = [];

before(async () => {
  peerPort = await freePort();
  peer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        peerMail.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => peer.listen(peerPort, '127.0.0.1', () => resolve()));

  inst = await TestInstance.create({ name: 'mailflow' });
  const transport = join(inst.configDir, 'transport');
  writeFileSync(transport, `bounce.test error:5.1.2 simulated bounce\nremote.test relay:[127.0.0.1]:${peerPort}\n`);
  inst.setMain({ transport_maps: `texthash:${transport}` });
  // A message left in active/ by a crashed qmgr must be delivered after start.
  const file = buildQueueFile(`${me}@mail.example.test`, [{ address: `${me}@mail.example.test` }], ['Subject: left in active', '', 'recovered body']);
  // Start once so that `postfix check` creates the queue with its owners, then stop,
  // leave a file in active/ as a killed qmgr would, and start again.
  await inst.start();
  await inst.stop();
  const active = join(inst.queueDir, 'active', '1A2B3C4D5');
  writeFileSync(active, file.bytes, { mode: 0o700 });
  const owner = getpwnam(inst.accounts.mailOwner);
  if (owner && process.getuid?.() === 0) chownSync(active, owner.uid, owner.gid);
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
  await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
});

/** mailbox - the parsed messages of a user's mbox (split at From_ lines). */
async function mailbox(user: string): Promise<Array<Awaited<ReturnType<typeof simpleParser>>>> {
  const path = join(inst.mailDir, user);
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const parts = text.split(/^From .*  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/m).filter((p) => p.trim() !== '');
  return Promise.all(parts.map((p) => simpleParser(p)));
}

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20000): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, intervalMs: 100, context: () => inst.readLog() });

test('a message left in active/ by a crash is delivered after start', async () => {
  const msgs = await waitFor('recovered message', async () => {
    const m = await mailbox(me);
    return m.find((x) => x.subject === 'left in active') ? m : undefined;
  });
  assert.ok(msgs.some((m) => m.text?.includes('recovered body')));
  // postsuper (run by postfix start) renames a file whose name does not match its inode, as Postfix does.
  await inst.waitForLog(/qmgr\[\d+\]: [0-9A-F]+: from=<\S+>, size=\d+, nrcpt=1 \(queue active\)/);
});

test('SMTP submission with nodemailer is delivered to the local mbox with Postfix headers', async () => {
  const transporter = nodemailer.createTransport({ host: '127.0.0.1', port: inst.smtpPort, secure: false, ignoreTLS: true, name: 'client.example.test' });
  const info = await transporter.sendMail({
    from: `sender@example.org`,
    to: `${me}@mail.example.test`,
    subject: 'via nodemailer',
    text: 'Hello from nodemailer\nFrom the body\n',
  });
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
  const queueId = /queued as (\S+)/.exec(info.response)![1];
  const msg = await waitFor('nodemailer message', async () => (await mailbox(me)).find((m) => m.subject === 'via nodemailer'));
  // An mbox quotes body lines that start with "From " and ends each message with a blank line.
  assert.equal(msg.text, 'Hello from nodemailer\n>From the body\n\n');
  const received = msg.headers.get('received');
  assert.match(String(received), new RegExp(`from client\\.example\\.test \\(localhost \\[127\\.0\\.0\\.1\\]\\)\\s+by mail\\.example\\.test \\(Postfix\\) with ESMTP id ${queueId}`));
  assert.equal((msg.headers.get('delivered-to') as { text: string }).text, `${me}@mail.example.test`);
  await inst.waitForLog(new RegExp(`${queueId}: to=<${me}@mail\\.example\\.test>, relay=local, delay=\\S+, delays=\\S+, dsn=2\\.0\\.0, status=sent \\(delivered to mailbox\\)`));
  await inst.waitForLog(new RegExp(`${queueId}: removed`));
});

test('sendmail submission goes through postdrop, pickup and cleanup to the mailbox', async () => {
  const r = await inst.command('sendmail', ['-f', `${me}@mail.example.test`, '-t', '-i'], `To: ${me}@mail.example.test\nSubject: via sendmail\n\nline one\n.\nline three\n`);
  assert.equal(r.status, 0, r.stderr);
  const msg = await waitFor('sendmail message', async () => (await mailbox(me)).find((m) => m.subject === 'via sendmail'));
  assert.equal(msg.text, 'line one\n.\nline three\n\n');
  assert.match(String(msg.headers.get('message-id')), /^<\d{14}\.[0-9A-F]+@mail\.example\.test>$/);
  await inst.waitForLog(/pickup\[\d+\]: [0-9A-F]+: uid=\d+ from=</);
});

test('mail for a remote domain is relayed through smtp(8) to the remote MTA', async () => {
  const r = await inst.command('sendmail', ['-f', `${me}@mail.example.test`, 'user@remote.test'], 'Subject: relayed\n\nto the peer\n');
  assert.equal(r.status, 0, r.stderr);
  const got = await waitFor('relayed message', () => peerMail.find((m) => m.data.includes('Subject: relayed')));
  assert.equal(got.from, `${me}@mail.example.test`);
  assert.deepEqual(got.to, ['user@remote.test']);
  assert.match(got.data, /\r\n\r\nto the peer\r\n$/);
  await inst.waitForLog(new RegExp(`to=<user@remote\\.test>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${peerPort}, delay=\\S+, delays=\\S+, dsn=2\\.0\\.0, status=sent \\(250 `));
});

test('an undeliverable message comes back as a multipart/report non-delivery notice', async () => {
  const r = await inst.command('sendmail', ['-f', `${me}@mail.example.test`, 'x@bounce.test'], 'Subject: will bounce\n\nreturn me\n');
  assert.equal(r.status, 0, r.stderr);
  const ndr = await waitFor('bounce', async () => (await mailbox(me)).find((m) => m.subject === 'Undelivered Mail Returned to Sender'));
  assert.deepEqual(ndr.from?.value.map((a) => [a.name, a.address]), [['Mail Delivery System', 'MAILER-DAEMON@mail.example.test']]);
  assert.match(String(ndr.headers.get('content-type') && (ndr.headers.get('content-type') as { value: string }).value), /multipart\/report/);
  assert.match(ndr.text ?? '', /<x@bounce\.test>: simulated bounce/);
  assert.match(ndr.text ?? '', /This is the mail system at host mail\.example\.test\./);
  const log = await inst.waitForLog(/: sender non-delivery notification: [0-9A-F]+/);
  assert.ok(log);
  await inst.waitForLog(/to=<x@bounce\.test>, relay=none, delay=\S+, delays=\S+, dsn=5\.1\.2, status=bounced \(simulated bounce\)/);
});

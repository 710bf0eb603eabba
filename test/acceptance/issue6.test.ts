/**
 * issue6 - acceptance tests for "SMTP in and out" (issue 6), each "Must show"
 * item against real instances started with `postfix -c DIR start`: scripted
 * and pipelined dialogues with Postfix 3.7's exact replies (checked against a
 * live Postfix 3.7.11), relay control, relayhost to our smtp-sink, deferral
 * and flush, per-recipient bounce/delivery, STARTTLS in smtpd and in the smtp
 * client, and hostile input.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { TestInstance, freePort, REPO } from '../helpers/instance.js';
import { RawClient } from './client.js';
import { sleep, waitUntil } from '../helpers/wait.js';

const me = userInfo().username;
const HOST = 'mail.example.test';

let A: TestInstance; // the instance under test: 127.0.0.1 in mynetworks on its smtp port
let B: TestInstance; // a second instance with STARTTLS, the TLS peer of A's smtp client
let work: string;
let certFile: string;
let keyFile: string;
let sinkPort: number;
let peerPort: number;
let outPort: number; // smtpd with 127.0.0.1 outside mynetworks (default relay restrictions)
let rejPort: number; // same, with reject_unauth_destination
let badPort: number; // smtpd with smtpd_timeout=3s, no error sleep
let sink: ChildProcess | undefined;
let peer: SMTPServer;
const peerMail: Array<{ to: string[]; data: string }> = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'issue6-'));
  chmodSync(work, 0o755);
  certFile = join(work, 'cert.pem');
  keyFile = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  chmodSync(keyFile, 0o644);
  sinkPort = await freePort();
  peerPort = await freePort();
  outPort = await freePort();
  rejPort = await freePort();
  badPort = await freePort();

  // A remote MTA that refuses one recipient and accepts the other.
  peer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(addr, _s, cb) {
      if (addr.address.startsWith('bad@')) {
        const e = new Error('5.1.1 <bad@split.test>: no such user') as Error & { responseCode: number };
        e.responseCode = 550;
        cb(e);
      } else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        peerMail.push({ to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks).toString() });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => peer.listen(peerPort, '127.0.0.1', () => resolve()));

  B = await TestInstance.create({
    name: 'issue6-b',
    main: {
      myhostname: 'tls.example.test',
      mydestination: '$myhostname, localhost, tlsdest.test',
      smtpd_tls_security_level: 'may',
      smtpd_tls_cert_file: certFile,
      smtpd_tls_key_file: keyFile,
      smtpd_tls_received_header: 'yes',
      smtpd_tls_loglevel: '1',
    },
  });
  const transport = join(work, 'transport');
  A = await TestInstance.create({
    name: 'issue6-a',
    main: {
      relayhost: `[127.0.0.1]:${sinkPort}`,
      transport_maps: `texthash:${transport}`,
      smtp_tls_loglevel: '1',
    },
    extraMasterCf: [
      `127.0.0.1:${outPort} inet n - n - - smtpd -o mynetworks=192.0.2.0/24`,
      `127.0.0.1:${rejPort} inet n - n - - smtpd -o mynetworks=192.0.2.0/24 -o smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination`,
      `127.0.0.1:${badPort} inet n - n - - smtpd -o smtpd_timeout=3s -o smtpd_error_sleep_time=0`,
      `smtptls unix - - n - - smtp -o smtp_tls_security_level=encrypt -o smtp_tls_CAfile=${certFile}`,
    ].join('\n'),
  });
  writeFileSync(transport, `split.test smtp:[127.0.0.1]:${peerPort}\ntlsdest.test smtptls:[127.0.0.1]:${B.smtpPort}\n`);
  await Promise.all([A.start(), B.start()]);
});

after(async () => {
  sink?.kill('SIGTERM');
  await Promise.all([A?.cleanup(), B?.cleanup()]);
  await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
  rmSync(work, { recursive: true, force: true });
});

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, inst: TestInstance = A, timeoutMs = 25000): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, intervalMs: 100, context: () => inst.readLog() });

function mbox(inst: TestInstance, user: string): string {
  const p = join(inst.mailDir, user);
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

/** oneMessage - the mbox message that contains a marker (from its From_ line to the next). */
function oneMessage(text: string, marker: string): string | undefined {
  return text.split(/^(?=From \S+ {2}\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$)/m).find((m) => m.includes(marker));
}

/** dialogue - send the chunks one by one (each after the previous replies), collect every reply line. */
async function dialogue(port: number, steps: Array<[string, number]>): Promise<string[]> {
  const c = await RawClient.open(port);
  let n = 1;
  await c.replies(n);
  for (const [data, replies] of steps) {
    c.write(data);
    n += replies;
    await c.replies(n);
  }
  await c.waitClosed(5000);
  c.destroy();
  return c.lines();
}

/** stillServes - a fresh client gets the greeting and a NOOP answer. */
async function stillServes(port: number): Promise<void> {
  const got = await dialogue(port, [['NOOP\r\n', 1], ['QUIT\r\n', 1]]);
  assert.deepEqual(got, [`220 ${HOST} ESMTP Postfix`, '250 2.0.0 Ok', '221 2.0.0 Bye']);
}

const EHLO = [
  `250-${HOST}`,
  '250-PIPELINING',
  '250-SIZE 10240000',
  '250-VRFY',
  '250-ETRN',
  '250-ENHANCEDSTATUSCODES',
  '250-8BITMIME',
  '250-DSN',
  '250-SMTPUTF8',
  '250 CHUNKING',
];

const receivedRe = (helo: string, proto: string, id: string, rcpt: string) =>
  new RegExp(
    `^Received: from ${helo.replaceAll('.', '\\.')} \\(localhost \\[127\\.0\\.0\\.1\\]\\)\\n\\tby ${HOST.replaceAll('.', '\\.')} \\(Postfix\\) with ${proto} id ${id}\\n\\tfor <${rcpt.replaceAll('.', '\\.')}>; \\w{3}, [ \\d]?\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4} \\(\\w+\\)$`,
    'm',
  );

test('a scripted SMTP dialogue gets Postfix replies and is delivered with a Received: header', async () => {
  const rcpt = `${me}@${HOST}`;
  const got = await dialogue(A.smtpPort, [
    ['HELP\r\n', 1],
    ['EHLO client.example.test\r\n', 1],
    ['RCPT TO:<x@y.test>\r\n', 1],
    ['MAIL FROM:<sender@example.org> FOO=bar\r\n', 1],
    ['MAIL FROM:<sender@example.org>\r\n', 1],
    ['MAIL FROM:<sender@example.org>\r\n', 1],
    ['RCPT TO:<nouser@mail.example.test>\r\n', 1],
    [`RCPT TO:<${rcpt}>\r\n`, 1],
    ['DATA x\r\n', 1],
    ['DATA\r\n', 1],
    ['Subject: scripted\r\n\r\nscripted body\r\n.\r\n', 1],
    ['RSET\r\n', 1],
    ['NOOP\r\n', 1],
    ['VRFY nouser@mail.example.test\r\n', 1],
    ['ETRN\r\n', 1],
    ['STARTTLS\r\n', 1],
    ['AUTH PLAIN\r\n', 1],
    ['QUIT\r\n', 1],
  ]);
  const queued = got.find((l) => l.startsWith('250 2.0.0 Ok: queued as '));
  assert.ok(queued, got.join('\n'));
  const id = queued.slice('250 2.0.0 Ok: queued as '.length);
  assert.match(id, /^[0-9A-F]{6,}$/);
  assert.deepEqual(got, [
    `220 ${HOST} ESMTP Postfix`,
    '500 5.5.2 Error: command not recognized',
    ...EHLO,
    '503 5.5.1 Error: need MAIL command',
    '555 5.5.4 Unsupported option: FOO=bar',
    '250 2.1.0 Ok',
    '503 5.5.1 Error: nested MAIL command',
    '550 5.1.1 <nouser@mail.example.test>: Recipient address rejected: User unknown in local recipient table',
    '250 2.1.5 Ok',
    '501 5.5.4 Syntax: DATA',
    '354 End data with <CR><LF>.<CR><LF>',
    `250 2.0.0 Ok: queued as ${id}`,
    '250 2.0.0 Ok',
    '250 2.0.0 Ok',
    '550 5.1.1 <nouser@mail.example.test>: Recipient address rejected: User unknown in local recipient table',
    '500 Syntax: ETRN domain',
    '502 5.5.1 Error: command not implemented',
    '503 5.5.1 Error: authentication not enabled',
    '221 2.0.0 Bye',
  ]);
  const msg = await waitFor('scripted message', () => oneMessage(mbox(A, me), 'scripted body'));
  assert.match(msg, receivedRe('client.example.test', 'ESMTP', id, rcpt));
  assert.match(msg, /\nSubject: scripted\n/);
  await A.waitForLog(new RegExp(`${id}: to=<${rcpt}>, relay=local, delay=\\S+, delays=\\S+, dsn=2\\.0\\.0, status=sent \\(delivered to mailbox\\)`));
});

test('a pipelined dialogue (all commands in one write) gets the same replies in order', async () => {
  const rcpt = `${me}@${HOST}`;
  const c = await RawClient.open(A.smtpPort);
  await c.replies(1);
  c.write(
    'EHLO pipe.example.test\r\nMAIL FROM:<p@example.org>\r\nRCPT TO:<x@remote.example>\r\n' +
      `RCPT TO:<${rcpt}>\r\nDATA\r\nSubject: pipelined\r\n\r\npipelined body\r\n..dot\r\n.\r\nQUIT\r\n`,
  );
  await c.waitClosed();
  const got = c.lines();
  c.destroy();
  const queued = got.find((l) => l.startsWith('250 2.0.0 Ok: queued as '));
  assert.ok(queued, got.join('\n'));
  const id = queued.slice('250 2.0.0 Ok: queued as '.length);
  // 127.0.0.1 is in mynetworks here, so the remote recipient is accepted for relay.
  assert.deepEqual(got, [
    `220 ${HOST} ESMTP Postfix`,
    ...EHLO,
    '250 2.1.0 Ok',
    '250 2.1.5 Ok',
    '250 2.1.5 Ok',
    '354 End data with <CR><LF>.<CR><LF>',
    `250 2.0.0 Ok: queued as ${id}`,
    '221 2.0.0 Bye',
  ]);
  const msg = await waitFor('pipelined message', () => oneMessage(mbox(A, me), 'pipelined body'));
  // Two recipients: Postfix leaves the "for <...>" clause out.
  assert.match(msg, new RegExp(`^Received: from pipe\\.example\\.test \\(localhost \\[127\\.0\\.0\\.1\\]\\)\\n\\tby mail\\.example\\.test \\(Postfix\\) with ESMTP id ${id};`, 'm'));
  assert.match(msg, /\npipelined body\n\.dot\n/);
});

test('relay control: outside mynetworks a remote recipient gets 454 (default) or 554 (reject_unauth_destination) and a NOQUEUE line', async () => {
  for (const [port, code, helo] of [
    [outPort, '454', 'out.example.test'],
    [rejPort, '554', 'rej.example.test'],
  ] as const) {
    const got = await dialogue(port, [
      [`EHLO ${helo}\r\n`, 1],
      ['MAIL FROM:<a@example.org>\r\n', 1],
      ['RCPT TO:<x@remote.example>\r\n', 1],
      ['DATA\r\n', 1],
      ['QUIT\r\n', 1],
    ]);
    assert.deepEqual(got, [
      `220 ${HOST} ESMTP Postfix`,
      ...EHLO,
      '250 2.1.0 Ok',
      `${code} ${code[0]}.7.1 <x@remote.example>: Relay access denied`,
      '554 5.5.1 Error: no valid recipients',
      '221 2.0.0 Bye',
    ]);
    await A.waitForLog(
      new RegExp(
        `postfix/smtpd\\[\\d+\\]: NOQUEUE: reject: RCPT from localhost\\[127\\.0\\.0\\.1\\]: ${code} ${code[0]}\\.7\\.1 <x@remote\\.example>: Relay access denied; from=<a@example\\.org> to=<x@remote\\.example> proto=ESMTP helo=<${helo.replaceAll('.', '\\.')}>$`,
      ),
    );
  }
});

async function sendRelay(subject: string, to: string[]): Promise<string> {
  const steps: Array<[string, number]> = [
    ['EHLO client.example.test\r\n', 1],
    ['MAIL FROM:<relay@example.org>\r\n', 1],
    ...to.map((t): [string, number] => [`RCPT TO:<${t}>\r\n`, 1]),
    ['DATA\r\n', 1],
    [`Subject: ${subject}\r\n\r\n${subject} body\r\n.\r\n`, 1],
    ['QUIT\r\n', 1],
  ];
  const got = await dialogue(A.smtpPort, steps);
  const q = got.find((l) => l.startsWith('250 2.0.0 Ok: queued as '));
  assert.ok(q, got.join('\n'));
  return q.slice('250 2.0.0 Ok: queued as '.length);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

function sinkFiles(dir: string): string[] {
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'));
}

let sinkDir: string;
let tlsMessage: string | undefined;

test('sink down: deferred with Connection refused in mailq; sink up and postqueue -f: delivered by relayhost', async () => {
  const id = await sendRelay('deferred', ['user@remote.example']);
  await A.waitForLog(new RegExp(`${id}: to=<user@remote\\.example>, relay=none, delay=\\S+, delays=\\S+, dsn=4\\.4\\.1, status=deferred \\(connect to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sinkPort}: Connection refused\\)`));
  const q = await waitFor('mailq entry', async () => {
    const r = await A.command('mailq', []);
    return r.stdout.includes(id) && r.stdout.includes('Connection refused') ? r.stdout : undefined;
  });
  assert.match(q, new RegExp(`^${id}\\s+\\d+ \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d  relay@example\\.org\\n\\s+\\(connect to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sinkPort}: Connection refused\\)\\n\\s+user@remote\\.example$`, 'm'));

  sinkDir = join(work, 'sink');
  mkdirSync(sinkDir);
  chmodSync(sinkDir, 0o1777);
  const args = [join(REPO, 'bin', 'smtp-sink'), ...(process.getuid?.() === 0 ? ['-u', A.accounts.mailOwner] : []), '-d', join(sinkDir, 'msg.'), `127.0.0.1:${sinkPort}`, '10'];
  sink = spawn(process.execPath, args, { stdio: 'ignore' });
  await A.waitForPort(sinkPort);
  const r = await A.command('postqueue', ['-f']);
  assert.equal(r.status, 0, r.stderr);
  await A.waitForLog(new RegExp(`${id}: to=<user@remote\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sinkPort}, delay=\\S+, delays=\\S+, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok`));
  const files = await waitFor('sink file', () => {
    const f = sinkFiles(sinkDir).filter((t) => t.includes('deferred body'));
    return f.length ? f : undefined;
  });
  assert.equal(files.length, 1);
  const mq = await A.command('mailq', []);
  assert.equal(mq.stdout, 'Mail queue is empty\n');
});

test('relay control: inside mynetworks a remote recipient is relayed through relayhost to smtp-sink', async () => {
  assert.ok(sink, 'the sink is started by the previous test');
  const id = await sendRelay('relayed', ['other@remote.example']);
  await A.waitForLog(new RegExp(`${id}: to=<other@remote\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sinkPort}, (conn_use=\\d+, )?delay=\\S+, delays=\\S+, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok`));
  const f = await waitFor('sink file', () => sinkFiles(sinkDir).find((t) => t.includes('relayed body')));
  assert.match(f, /Subject: relayed/);
  assert.match(f, /other@remote\.example/);
});

test('one message, a 550 for one recipient and a 250 for the other: one bounce, one delivery', async () => {
  const id = await sendRelay('split', ['good@split.test', 'bad@split.test']);
  await A.waitForLog(new RegExp(`${id}: to=<bad@split\\.test>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${peerPort}, delay=\\S+, delays=\\S+, dsn=5\\.1\\.1, status=bounced \\(host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\] said: 550 5\\.1\\.1 <bad@split\\.test>: no such user \\(in reply to RCPT TO command\\)\\)`));
  await A.waitForLog(new RegExp(`${id}: to=<good@split\\.test>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${peerPort}, delay=\\S+, delays=\\S+, dsn=2\\.0\\.0, status=sent \\(250 `));
  await A.waitForLog(new RegExp(`${id}: sender non-delivery notification: [0-9A-F]+`));
  const got = peerMail.filter((m) => m.data.includes('split body'));
  assert.equal(got.length, 1);
  assert.deepEqual(got[0].to, ['good@split.test']);
  // The notice goes back to relay@example.org: through relayhost to the sink.
  const ndr = await waitFor('bounce at the sink', () => sinkFiles(sinkDir).find((t) => t.includes('Undelivered Mail Returned to Sender') && t.includes('bad@split.test')));
  assert.match(ndr, /<bad@split\.test>: host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 <bad@split\.test>:\n {4}no such user \(in reply to RCPT TO command\)\n/);
  assert.ok(!ndr.includes('<good@split.test>: host'));
});

test('STARTTLS in smtpd: a self-signed certificate, the dialogue continues under TLS and is delivered', async () => {
  const ca = readFileSync(certFile);
  const c = await RawClient.open(B.smtpPort);
  await c.replies(1);
  c.write('EHLO tls.client.test\r\n');
  const pre = await c.replies(2);
  assert.ok(pre.includes('250-STARTTLS'), pre.join('\n'));
  assert.equal(pre.indexOf('250-STARTTLS'), pre.indexOf('250-ETRN') + 1);
  c.write('STARTTLS\r\n');
  const r = await c.replies(3);
  assert.equal(r.at(-1), '220 2.0.0 Ready to start TLS');
  const t = await c.starttls({ ca, servername: 'localhost' });
  assert.ok(t.encrypted);
  const rcpt = `${me}@tlsdest.test`;
  for (const [line, want] of [
    ['EHLO tls.client.test\r\n', '250 CHUNKING'],
    ['STARTTLS\r\n', '554 5.5.1 Error: TLS already active'],
    ['MAIL FROM:<t@example.org>\r\n', '250 2.1.0 Ok'],
    [`RCPT TO:<${rcpt}>\r\n`, '250 2.1.5 Ok'],
    ['DATA\r\n', '354 End data with <CR><LF>.<CR><LF>'],
    ['Subject: over tls\r\n\r\ntls body\r\n.\r\n', '250 2.0.0 Ok: queued as '],
  ]) {
    const before = c.lines().filter((l) => /^\d{3} /.test(l)).length;
    c.write(line);
    const after = await c.replies(before + 1);
    assert.ok(after.at(-1)!.startsWith(want), `${line.trim()}: ${after.at(-1)}`);
    if (line.startsWith('EHLO')) assert.ok(!after.includes('250-STARTTLS'), 'STARTTLS is not offered again under TLS');
  }
  c.write('QUIT\r\n');
  await c.replies(7);
  c.destroy();
  tlsMessage = await waitFor('TLS message', () => oneMessage(mbox(B, me), 'tls body'), B);
  assert.match(tlsMessage, /\n\tby tls\.example\.test \(Postfix\) with ESMTPS id [0-9A-F]+\n\tfor <[^>]+@tlsdest\.test>; /);
  await B.waitForLog(/postfix\/smtpd\[\d+\]: Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.[23] with cipher \S+ \(\d+\/\d+ bits\)/);
});

test('smtpd_tls_received_header = yes: the Received: header records the TLS protocol and cipher as Postfix does', async () => {
  assert.ok(tlsMessage, 'the message of the STARTTLS test');
  // Postfix 3.7.11 (checked live): the clause sits between the "from" and "by" lines:
  //   \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
  //   \t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)
  //   \t(No client certificate requested)
  // (Node does not tell a TLS server the key-exchange group; smtpd predicts it from the ClientHello.)
  assert.match(
    tlsMessage,
    /^Received: from tls\.client\.test \(localhost \[127\.0\.0\.1\]\)\n\t\(using TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 \(256\/256 bits\)\n\t key-exchange X25519 server-signature RSA-PSS \(2048 bits\) server-digest SHA256\)\n\t\(No client certificate requested\)\n\tby tls\.example\.test \(Postfix\) with ESMTPS id [0-9A-F]+\n/m,
  );
});

test('STARTTLS in the smtp client: A relays over TLS (encrypt) to our own smtpd on B', async () => {
  const id = await sendRelay('client tls', [`${me}@tlsdest.test`]);
  await A.waitForLog(new RegExp(`${id}: to=<${me}@tlsdest\\.test>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${B.smtpPort}, delay=\\S+, delays=\\S+, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok: queued as [0-9A-F]+\\)`));
  await A.waitForLog(new RegExp(`postfix/smtp\\[\\d+\\]: \\w+ TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${B.smtpPort}: TLSv1\\.[23] with cipher `));
  const msg = await waitFor('relayed TLS message', () => oneMessage(mbox(B, me), 'client tls body'), B);
  assert.match(msg, /with ESMTPS id [0-9A-F]+/);
});

test('bad input: a 100 000-byte command line is truncated at line_length_limit and answered, the session goes on', async () => {
  const got = await dialogue(badPort, [
    [`NOOP ${'A'.repeat(100000)}\r\n`, 1],
    [`${'X'.repeat(100000)}\r\n`, 1],
    ['NOOP\r\n', 1],
    ['QUIT\r\n', 1],
  ]);
  assert.deepEqual(got, [`220 ${HOST} ESMTP Postfix`, '250 2.0.0 Ok', '500 5.5.2 Error: command not recognized', '250 2.0.0 Ok', '221 2.0.0 Bye']);
  await stillServes(A.smtpPort);
});

test('bad input: binary garbage gets Postfix reply and the server stays up', async () => {
  const c = await RawClient.open(badPort);
  await c.replies(1);
  c.write(Buffer.from([0x00, 0xff, 0xfe, 0x01, ...Buffer.from('garbage'), 0x80, 0x0d, 0x0a]));
  await c.replies(2);
  c.write('QUIT\r\n');
  await c.replies(3);
  c.destroy();
  assert.deepEqual(c.lines(), [`220 ${HOST} ESMTP Postfix`, '500 5.5.2 Error: bad UTF-8 syntax', '221 2.0.0 Bye']);
  await stillServes(badPort);
});

test('bad input: 1 000 invalid commands end with 421 too many errors after the hard limit', async () => {
  const c = await RawClient.open(badPort);
  await c.replies(1);
  c.write('FOO\r\n'.repeat(1000));
  assert.ok(await c.waitClosed(20000), 'the server closes the connection');
  c.destroy();
  const got = c.lines();
  const want = [`220 ${HOST} ESMTP Postfix`, ...Array<string>(20).fill('500 5.5.2 Error: command not recognized'), `421 4.7.0 ${HOST} Error: too many errors`];
  // The client's unread commands may make the close a reset, which can cut the tail: a prefix must match.
  assert.ok(got.length >= 2, got.join('\n'));
  assert.deepEqual(got, want.slice(0, got.length));
  await A.waitForLog(/postfix\/smtpd\[\d+\]: too many errors after UNKNOWN from localhost\[127\.0\.0\.1\]/);
  await stillServes(badPort);
});

test('bad input: a disconnect in mid-DATA queues nothing; another client is served meanwhile', async () => {
  const ids = async () => [...(await A.command('mailq', [])).stdout.matchAll(/^[0-9A-F]{6,}/gm)].map((m) => m[0]).sort();
  const before = await ids();
  const c = await RawClient.open(badPort);
  await c.replies(1);
  c.write('HELO x.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\nSubject: aborted\r\n\r\npartial');
  await c.replies(5);
  assert.deepEqual(c.lines(), [`220 ${HOST} ESMTP Postfix`, `250 ${HOST}`, '250 2.1.0 Ok', '250 2.1.5 Ok', '354 End data with <CR><LF>.<CR><LF>']);
  await stillServes(badPort);
  c.destroy();
  await A.waitForLog(/postfix\/smtpd\[\d+\]: lost connection after DATA \(\d+ bytes\) from localhost\[127\.0\.0\.1\]/);
  await stillServes(badPort);
  await sleep(500);
  assert.deepEqual(await ids(), before);
  // cleanup removed its half-written file: incoming/ is empty again.
  await waitFor('an empty incoming queue', () => (filesUnder(join(A.queueDir, 'incoming')).length === 0 ? true : undefined));
  // The aborted message never reaches qmgr (its sender appears in no qmgr line).
  const leaked = A.logLines(/qmgr\[\d+\]: .*from=<a@example\.org>/);
  assert.deepEqual(leaked, []);
});

test('bad input: a slowloris client sending one byte per second is served, then cut off at smtpd_timeout', async () => {
  const c = await RawClient.open(badPort);
  await c.replies(1);
  for (const ch of 'NOOP\r\n') {
    c.write(ch);
    await sleep(1000);
  }
  await c.replies(2);
  // Meanwhile another client is unaffected.
  await stillServes(badPort);
  c.write('Q');
  assert.ok(await c.waitClosed(15000));
  c.destroy();
  assert.deepEqual(c.lines(), [`220 ${HOST} ESMTP Postfix`, '250 2.0.0 Ok', `421 4.4.2 ${HOST} Error: timeout exceeded`]);
  await A.waitForLog(/postfix\/smtpd\[\d+\]: timeout after NOOP from localhost\[127\.0\.0\.1\]/);
  await stillServes(badPort);
  assert.ok(A.masterPid() !== undefined);
});

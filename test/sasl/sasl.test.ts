/**
 * sasl - smtpd AUTH through a Dovecot auth server: the fake Dovecot server
 * (test/sasl/fake_dovecot.ts, the real protocol) on a UNIX socket, smtpd on
 * a loopback port, raw SMTP dialogues and nodemailer as a real client. The
 * expected texts were recorded from Postfix 3.7.11 with the same fake server.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import nodemailer from 'nodemailer';
import { startFixture, RawClient, waitFor, type Fixture } from '../smtpd/harness.js';
import { startFakeDovecot, type FakeDovecot } from './fake_dovecot.js';

const PLAIN = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`).toString('base64');
const B64 = (s: string) => Buffer.from(s).toString('base64');

const SASL_CF = [
  'smtpd_sasl_auth_enable = yes',
  'smtpd_sasl_type = dovecot',
  'smtpd_sasl_path = private/auth',
];

async function withSasl(extra: string[], fn: (f: Fixture, d: FakeDovecot) => Promise<void>, tables: Record<string, string> = {}): Promise<void> {
  const f = await startFixture([...SASL_CF, ...extra].join('\n'), { tables });
  const d = await startFakeDovecot(join(f.dir, 'spool', 'private', 'auth'));
  try {
    await fn(f, d);
  } finally {
    await d.close();
    await f.close();
  }
}

test('EHLO offers AUTH in Postfix position, AUTH= with broken_sasl_auth_clients', async () => {
  await withSasl(['broken_sasl_auth_clients = yes'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    const ehlo = await c.cmd('EHLO client.example');
    assert.equal(
      ehlo,
      '250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n' +
        '250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n',
    );
    c.close();
  });
});

test('AUTH dialogue: every reply as Postfix 3.7', async () => {
  await withSasl([], async (f, d) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    assert.equal(await c.cmd('AUTH'), '501 5.5.4 Syntax: AUTH mechanism\r\n');
    assert.equal(await c.cmd('AUTH FOO'), '535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n');
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'wrong')}`), '535 5.7.8 Error: authentication failed: (reason unavailable)\r\n');
    assert.equal(await c.cmd('AUTH LOGIN'), '334 VXNlcm5hbWU6\r\n');
    assert.equal(await c.cmd('*'), '501 5.7.0 Authentication aborted\r\n');
    assert.equal(await c.cmd('AUTH PLAIN'), '334 \r\n');
    assert.equal(await c.cmd('*'), '501 5.7.0 Authentication aborted\r\n');
    assert.equal(await c.cmd('AUTH PLAIN !!!'), '535 5.7.8 Error: authentication failed: Invalid base64 data in initial response\r\n');
    assert.equal(await c.cmd(`AUTH LOGIN ${B64('bob')}`), '334 UGFzc3dvcmQ6\r\n');
    assert.equal(await c.cmd(B64('secret')), '235 2.7.0 Authentication successful\r\n');
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`), '503 5.5.1 Error: already authenticated\r\n');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye\r\n');
    await c.waitClose();
    await waitFor(() => f.logs.some((l) => l.startsWith('disconnect from')), 'disconnect');
    assert.deepEqual(f.logs.filter((l) => l.startsWith('warning:')), [
      'warning: localhost[127.0.0.1]: SASL FOO authentication failed: Invalid authentication mechanism, sasl_username=(unavailable)',
      'warning: localhost[127.0.0.1]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=bob',
      'warning: localhost[127.0.0.1]: SASL LOGIN authentication aborted',
      'warning: localhost[127.0.0.1]: SASL PLAIN authentication aborted',
      'warning: localhost[127.0.0.1]: SASL PLAIN authentication failed: Invalid base64 data in initial response, sasl_username=bob',
    ]);
    assert.ok(f.logs.includes('disconnect from localhost[127.0.0.1] ehlo=1 auth=1/8 quit=1 commands=3/10'), f.logs.join('\n'));
    // the real protocol reached the auth server
    assert.ok(d.requests.some((r) => /^AUTH\t\d+\tLOGIN\tservice=smtp\tnologin\tlip=127\.0\.0\.1\trip=127\.0\.0\.1$/.test(r)), d.requests.join('\n'));
    assert.ok(d.requests[0].startsWith('VERSION\t1\t0'));
  });
});

test('authenticated mail: client= suffix, queue-file attributes, Received header, relay permitted', async () => {
  await withSasl(['smtpd_sasl_authenticated_header = yes', 'mynetworks = 10.0.0.0/8'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    // not authenticated: relaying is refused by the default smtpd_relay_restrictions
    await c.cmd('MAIL FROM:<bob@example.test>');
    assert.equal(await c.cmd('RCPT TO:<x@remote.example>'), '454 4.7.1 <x@remote.example>: Relay access denied\r\n');
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`), '503 5.5.1 Error: MAIL transaction in progress\r\n');
    await c.cmd('RSET');
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`), '235 2.7.0 Authentication successful\r\n');
    assert.equal(await c.cmd('MAIL FROM:<bob@example.test> AUTH=<bob@example.test> AUTH=<x>'), '503 5.5.4 Error: multiple AUTH= options\r\n');
    await c.cmd('RSET');
    assert.equal(await c.cmd('MAIL FROM:<bob@example.test> AUTH=<bob@example.test>'), '250 2.1.0 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<x@remote.example>'), '250 2.1.5 Ok\r\n');
    assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>\r\n');
    assert.match(await c.cmd('Subject: t\r\n\r\nhi\r\n.'), /^250 2\.0\.0 Ok: queued as /);
    await c.cmd('QUIT');
    await waitFor(() => f.messages.length === 1, 'message');
    const recs = f.messages[0].records;
    const attrs = recs.filter((r) => r.type === 'A').map((r) => r.data);
    const i = attrs.findIndex((a) => a.startsWith('rewrite_context='));
    assert.deepEqual(attrs.slice(i + 1, i + 4), ['sasl_method=PLAIN', 'sasl_username=bob', 'sasl_sender=<bob@example.test>']);
    const hdr = recs.filter((r) => r.type === 'N').map((r) => r.data);
    assert.equal(hdr[0], 'Received: from x (localhost [127.0.0.1])');
    assert.equal(hdr[1], '\t(Authenticated sender: bob)');
    assert.match(hdr[2], /^\tby mail\.example\.test \(Postfix\) with ESMTPA id /);
    const id = f.messages[0].queueId;
    assert.ok(f.logs.includes(`${id}: client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=bob, sasl_sender=<bob@example.test>`), f.logs.join('\n'));
  });
});

test('smtpd_sender_login_maps with reject_sender_login_mismatch and variants', async () => {
  await withSasl(['smtpd_sender_restrictions = reject_sender_login_mismatch', 'smtpd_sender_login_maps = texthash:$config_directory/logins'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    // not logged in, owned address
    await c.cmd('MAIL FROM:<alice@example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '553 5.7.1 <alice@example.test>: Sender address rejected: not logged in\r\n');
    await c.cmd('RSET');
    await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`);
    await c.cmd('MAIL FROM:<alice@example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '553 5.7.1 <alice@example.test>: Sender address rejected: not owned by user bob\r\n');
    await c.cmd('RSET');
    // unknown sender, logged in: reject_sender_login_mismatch rejects
    await c.cmd('MAIL FROM:<nobody@example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '553 5.7.1 <nobody@example.test>: Sender address rejected: not owned by user bob\r\n');
    await c.cmd('RSET');
    await c.cmd('MAIL FROM:<bob@example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    await c.cmd('QUIT');
    await waitFor(() => f.logs.some((l) => l.startsWith('disconnect')), 'disconnect');
    assert.ok(f.logs.includes('NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 553 5.7.1 <alice@example.test>: Sender address rejected: not owned by user bob; from=<alice@example.test> to=<root@mail.example.test> proto=ESMTP helo=<x>'), f.logs.join('\n'));
  }, { logins: 'bob@example.test bob\nalice@example.test alice\n' });
});

test('reject_known_sender_login_mismatch allows unknown senders', async () => {
  await withSasl(['smtpd_sender_restrictions = reject_known_sender_login_mismatch', 'smtpd_sender_login_maps = texthash:$config_directory/logins'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`);
    await c.cmd('MAIL FROM:<nobody@example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    await c.cmd('RSET');
    await c.cmd('MAIL FROM:<alice@example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '553 5.7.1 <alice@example.test>: Sender address rejected: not owned by user bob\r\n');
    c.close();
  }, { logins: 'alice@example.test alice\n' });
});

test('smtpd_tls_auth_only without TLS: no AUTH offered, AUTH not enabled', async () => {
  await withSasl(['smtpd_tls_auth_only = yes'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    assert.doesNotMatch(await c.cmd('EHLO x'), /AUTH/);
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`), '503 5.5.1 Error: authentication not enabled\r\n');
    c.close();
  });
});

test('auth server down: warning, no AUTH, session goes on', async () => {
  const f = await startFixture(SASL_CF.join('\n'));
  try {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    assert.doesNotMatch(await c.cmd('EHLO x'), /AUTH/);
    assert.equal(await c.cmd('AUTH PLAIN'), '503 5.5.1 Error: authentication not enabled\r\n');
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok\r\n');
    c.close();
    assert.ok(f.logs.includes('warning: SASL: Connect to private/auth failed: No such file or directory'), f.logs.join('\n'));
  } finally {
    await f.close();
  }
});

test('nodemailer authenticates with PLAIN and LOGIN, and a bad password fails', async () => {
  await withSasl([], async (f) => {
    for (const method of ['PLAIN', 'LOGIN']) {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: f.port, secure: false, ignoreTLS: true, authMethod: method, auth: { user: 'alice', pass: 'wonderland' } });
      const info = await t.sendMail({ from: 'alice@example.test', to: 'x@remote.example', subject: 's', text: 'hi' });
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      t.close();
    }
    assert.equal(f.messages.length, 2);
    const bad = nodemailer.createTransport({ host: '127.0.0.1', port: f.port, secure: false, ignoreTLS: true, auth: { user: 'alice', pass: 'nope' } });
    await assert.rejects(bad.sendMail({ from: 'alice@example.test', to: 'x@remote.example', text: 'x' }), /535 5\.7\.8 Error: authentication failed/);
    bad.close();
  });
});

test('smtpd_tls_auth_only: AUTH after STARTTLS ("secured"), ESMTPSA, MAIL FROM AUTH= before login', async () => {
  const certDir = mkdtempSync(join(tmpdir(), 'sasl-cert-'));
  const cert = join(certDir, 'cert.pem');
  const key = join(certDir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mail.example.test'], { stdio: 'ignore' });
  try {
    await withSasl(['smtpd_tls_auth_only = yes', 'smtpd_tls_security_level = may', `smtpd_tls_cert_file = ${cert}`, `smtpd_tls_key_file = ${key}`], async (f, d) => {
      // before TLS: AUTH= is still taken, as Postfix does
      const c = await RawClient.connect(f.port);
      await c.replies(1);
      assert.doesNotMatch(await c.cmd('EHLO x'), /AUTH/);
      assert.equal(await c.cmd('MAIL FROM:<a@example.test> AUTH=<x@example.test>'), '250 2.1.0 Ok\r\n');
      c.close();
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: f.port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'bob', pass: 'secret' } });
      const info = await t.sendMail({ from: 'bob@example.test', to: 'root@mail.example.test', subject: 's', text: 'hi' });
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      t.close();
      assert.equal(f.messages.length, 1);
      const hdr = f.messages[0].records.filter((r) => r.type === 'N').map((r) => r.data);
      assert.match(hdr[1], /^\tby mail\.example\.test \(Postfix\) with ESMTPSA id /);
      assert.ok(d.requests.some((r) => r.startsWith('AUTH\t') && r.includes('\tsecured\t')), d.requests.join('\n'));
    });
  } finally {
    rmSync(certDir, { recursive: true, force: true });
  }
});

test('AUTH before HELO, a "temp" failure, and pipelined AUTH + MAIL + RCPT', async () => {
  await withSasl(['smtpd_sasl_authenticated_header = yes'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('tempfail', 'x')}`), '535 5.7.8 Error: authentication failed: Temporary server failure, try again later\r\n');
    assert.equal(await c.cmd('HELO x'), '250 mail.example.test\r\n');
    c.send(`AUTH PLAIN ${PLAIN('bob', 'secret')}\r\nMAIL FROM:<bob@example.test>\r\nRCPT TO:<root@mail.example.test>\r\nDATA\r\n`);
    assert.equal(await c.replies(4), '235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n');
    assert.match(await c.cmd('Subject: t\r\n\r\nhi\r\n.'), /^250 2\.0\.0 Ok: queued as /);
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye\r\n');
    await waitFor(() => f.logs.some((l) => l.startsWith('disconnect from') && l.includes('helo=1')), 'disconnect');
    const hdr = f.messages[0].records.filter((r) => r.type === 'N').map((r) => r.data);
    assert.equal(hdr[1], '\t(Authenticated sender: bob)');
    assert.match(hdr[2], /^\tby mail\.example\.test \(Postfix\) with SMTP id /);
    assert.ok(f.logs.includes('disconnect from localhost[127.0.0.1] helo=1 auth=1/2 mail=1 rcpt=1 data=1 quit=1 commands=6/7'), f.logs.join('\n'));
  });
});

test('smtpd_client_auth_rate_limit through anvil', async () => {
  await withSasl(['smtpd_client_auth_rate_limit = 2', 'smtpd_client_event_limit_exceptions ='], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    assert.match(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'bad')}`), /^535 /);
    assert.match(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'bad')}`), /^535 /);
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`), '450 4.7.1 Error: too many AUTH commands from 127.0.0.1\r\n');
    c.close();
    assert.ok(f.logs.includes('warning: AUTH command rate limit exceeded: 3 from localhost[127.0.0.1] for service smtp'), f.logs.join('\n'));
  });
});

test('mechanism filter, security options and smtpd_sasl_exceptions_networks', async () => {
  const f = await startFixture([...SASL_CF, 'smtpd_sasl_exceptions_networks = 127.0.0.0/8'].join('\n'));
  const d = await startFakeDovecot(join(f.dir, 'spool', 'private', 'auth'), {
    mechs: ['EXTERNAL', 'ANONYMOUS\tanonymous', 'PLAIN\tplaintext', 'SECRET\tprivate', 'LOGIN\tplaintext'],
  });
  try {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    // not offered to an excepted client ...
    assert.doesNotMatch(await c.cmd('EHLO x'), /AUTH/);
    // ... but still accepted; EXTERNAL (filter), ANONYMOUS (noanonymous) and private ones are not usable
    assert.equal(await c.cmd('AUTH EXTERNAL'), '535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n');
    assert.equal(await c.cmd('AUTH ANONYMOUS'), '535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n');
    assert.equal(await c.cmd('AUTH SECRET'), '535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n');
    assert.equal(await c.cmd(`AUTH plain ${PLAIN('bob', 'secret')}`), '235 2.7.0 Authentication successful\r\n');
    c.close();
  } finally {
    await d.close();
    await f.close();
  }
});

test('XCLIENT LOGIN= logs the session in as method XCLIENT; XCLIENT without LOGIN logs it out', async () => {
  await withSasl(['smtpd_authorized_xclient_hosts = 127.0.0.0/8', 'smtpd_sasl_authenticated_header = yes'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    assert.equal(await c.cmd('XCLIENT LOGIN=bob'), '220 mail.example.test ESMTP Postfix\r\n');
    await c.cmd('EHLO y');
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`), '503 5.5.1 Error: already authenticated\r\n');
    await c.cmd('MAIL FROM:<bob@example.test>');
    await c.cmd('RCPT TO:<root@mail.example.test>');
    await c.cmd('DATA');
    assert.match(await c.cmd('Subject: t\r\n\r\nhi\r\n.'), /^250 2\.0\.0 Ok: queued as /);
    await waitFor(() => f.messages.length === 1, 'message');
    const id = f.messages[0].queueId;
    assert.ok(f.logs.includes(`${id}: client=localhost[127.0.0.1], sasl_method=XCLIENT, sasl_username=bob`), f.logs.join('\n'));
    const hdr = f.messages[0].records.filter((r) => r.type === 'N').map((r) => r.data);
    assert.deepEqual(hdr.slice(0, 2), ['Received: from y (localhost [127.0.0.1])', '\t(Authenticated sender: bob)']);
    assert.equal(await c.cmd('XCLIENT NAME=other.example'), '220 mail.example.test ESMTP Postfix\r\n');
    await c.cmd('EHLO z');
    assert.equal(await c.cmd(`AUTH PLAIN ${PLAIN('alice', 'wonderland')}`), '235 2.7.0 Authentication successful\r\n');
    c.close();
  });
});

test('SASL responses may exceed line_length_limit up to smtpd_sasl_response_limit', async () => {
  await withSasl([], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    assert.equal(await c.cmd('AUTH LOGIN'), '334 VXNlcm5hbWU6\r\n');
    assert.equal(await c.cmd('QUFB'.repeat(1000)), '334 UGFzc3dvcmQ6\r\n');
    assert.equal(await c.cmd(B64('x')), '535 5.7.8 Error: authentication failed: (reason unavailable)\r\n');
    assert.equal(await c.cmd('AUTH LOGIN'), '334 VXNlcm5hbWU6\r\n');
    assert.equal(await c.cmd('QUFB'.repeat(3200)), '500 5.5.6 SASL response limit exceeded\r\n');
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok\r\n');
    c.close();
  });
});

test('check_sasl_access looks up the login name', async () => {
  await withSasl(['smtpd_recipient_restrictions = check_sasl_access texthash:$config_directory/sasl_access'], async (f) => {
    const c = await RawClient.connect(f.port);
    await c.replies(1);
    await c.cmd('EHLO x');
    await c.cmd(`AUTH PLAIN ${PLAIN('bob', 'secret')}`);
    await c.cmd('MAIL FROM:<bob@example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '554 5.7.1 <bob>: SASL login name rejected: go away\r\n');
    await c.cmd('QUIT');
    await waitFor(() => f.logs.some((l) => l.startsWith('disconnect')), 'disconnect');
    assert.ok(f.logs.includes('NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <bob>: SASL login name rejected: go away; from=<bob@example.test> to=<root@mail.example.test> proto=ESMTP helo=<x>'), f.logs.join('\n'));
  }, { sasl_access: 'bob REJECT go away\n' });
});

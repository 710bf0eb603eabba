/** behaviour - smtpd with real clients and peers: nodemailer, timeouts, size limits, cleanup verdicts, policy service, stand-alone mode. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { PassThrough, Duplex } from 'node:stream';
import nodemailer from 'nodemailer';
import { startFixture, RawClient, waitFor } from './harness.js';
import { smtpdStandAlone, type MessageDest } from '../../src/smtpd/smtpd.js';
import { CheckConfig } from '../../src/smtpd/smtpd_check.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { setFatalAction, FatalError } from '../../src/util/msg.js';
import '../../src/smtpd/smtpd_params.js';

test('nodemailer submits a message; 250 queued only after cleanup accepted', async () => {
  const fx = await startFixture();
  try {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: fx.port, secure: false, ignoreTLS: true, name: 'client.example.org' });
    const info = await transport.sendMail({
      from: 'alice@example.org',
      to: ['root@mail.example.test', 'postmaster@mail.example.test'],
      subject: 'hello',
      text: 'line one\n.line with dot\n',
    });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    assert.deepEqual(info.accepted, ['root@mail.example.test', 'postmaster@mail.example.test']);
    assert.equal(fx.messages.length, 1);
    const body = fx.messages[0].records.filter((r) => r.type === 'N').map((r) => r.data);
    assert.ok(body.includes('.line with dot'), body.join('\n'));
    assert.equal(body[1], `\tby mail.example.test (Postfix) with ESMTP id ${fx.messages[0].queueId};`);
    transport.close();
    // the cleanup server refuses: the client must not see 250
    fx.cleanupStatus.status = 4;
    const t2 = nodemailer.createTransport({ host: '127.0.0.1', port: fx.port, secure: false, ignoreTLS: true });
    await assert.rejects(t2.sendMail({ from: 'a@example.org', to: 'root@mail.example.test', text: 'x' }), /552 5\.3\.4 Error: message file too big/);
    t2.close();
  } finally {
    await fx.close();
  }
});

test('idle timeout gives 421 4.4.2 and logs "timeout after"', async () => {
  const fx = await startFixture('smtpd_timeout = 1s');
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    assert.equal(await c.cmd('HELO x.example.org'), '250 mail.example.test\r\n');
    assert.equal(await c.replies(1, 5000), '421 4.4.2 mail.example.test Error: timeout exceeded\r\n');
    await c.waitClose();
    await waitFor(() => fx.logs.some((l) => l.startsWith('disconnect from')), 'disconnect');
    assert.ok(fx.logs.includes('timeout after HELO from localhost[127.0.0.1]'), fx.logs.join('\n'));
  } finally {
    await fx.close();
  }
});

test('message_size_limit at end of DATA, line_length_limit splitting, lost connection in DATA', async () => {
  const fx = await startFixture('message_size_limit = 2000\nline_length_limit = 512');
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    assert.match(await c.cmd('EHLO x.example.org'), /250-SIZE 2000\r\n/);
    await c.cmd('MAIL FROM:<a@example.org>');
    await c.cmd('RCPT TO:<root@mail.example.test>');
    assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>\r\n');
    c.send(('x'.repeat(300) + '\r\n').repeat(10) + '.\r\n');
    assert.equal(await c.replies(1), '552 5.3.4 Error: message file too big\r\n');
    await c.cmd('MAIL FROM:<a@example.org>');
    await c.cmd('RCPT TO:<root@mail.example.test>');
    await c.cmd('DATA');
    c.send('a'.repeat(512) + 'klmno\r\n.\r\n');
    assert.match(await c.replies(1), /^250 2\.0\.0 Ok: queued as/);
    const recs = fx.messages[0].records.filter((r) => r.type === 'N' || r.type === 'L').slice(-2);
    assert.deepEqual(recs, [
      { type: 'L', data: 'a'.repeat(512) },
      { type: 'N', data: 'klmno' },
    ]);
    await c.cmd('MAIL FROM:<a@example.org>');
    await c.cmd('RCPT TO:<root@mail.example.test>');
    await c.cmd('DATA');
    c.send('Subj');
    c.close();
    await waitFor(() => fx.logs.some((l) => l.startsWith('disconnect from')), 'disconnect');
    assert.ok(fx.logs.some((l) => /^lost connection after DATA \(\d+ bytes\) from localhost\[127\.0\.0\.1\]$/.test(l)), fx.logs.join('\n'));
    assert.ok(fx.logs.includes('warning: NOQUEUE: queue file size limit exceeded') || fx.logs.some((l) => /queue file size limit exceeded/.test(l)));
  } finally {
    await fx.close();
  }
});

test('smtpd_delay_reject=no rejects at HELO; helo required; reject_unauth_destination; defer_if_permit', async () => {
  const fx = await startFixture(
    [
      'smtpd_delay_reject = no',
      'smtpd_helo_required = yes',
      'mynetworks = 10.0.0.0/8',
      'smtpd_helo_restrictions = reject_non_fqdn_helo_hostname',
      'smtpd_sender_restrictions = reject_non_fqdn_sender',
      'smtpd_relay_restrictions = reject_unauth_destination',
      'smtpd_recipient_restrictions = check_recipient_access inline:{{maybe@mail.example.test=DEFER_IF_PERMIT not now}}, permit',
    ].join('\n'),
  );
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '503 5.5.1 Error: send HELO/EHLO first\r\n');
    assert.equal(await c.cmd('HELO x'), '504 5.5.2 <x>: Helo command rejected: need fully-qualified hostname\r\n');
    assert.equal(await c.cmd('HELO x.example.org'), '250 mail.example.test\r\n');
    assert.equal(await c.cmd('MAIL FROM:<a>'), '504 5.5.2 <a>: Sender address rejected: need fully-qualified address\r\n');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<u@elsewhere.test>'), '554 5.7.1 <u@elsewhere.test>: Relay access denied\r\n');
    assert.equal(await c.cmd('RCPT TO:<maybe@mail.example.test>'), '450 4.7.1 <maybe@mail.example.test>: Recipient address rejected: not now\r\n');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye\r\n');
  } finally {
    await fx.close();
  }
});

test('check_policy_service: actions from a policy server, default action when it fails', async () => {
  const requests: string[] = [];
  let connections = 0;
  const policySockets = new Set<import('node:net').Socket>();
  const policy = createServer((sock) => {
    connections++;
    policySockets.add(sock);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\n\n')) {
        requests.push(buf);
        const rcpt = /recipient=(.*)\n/.exec(buf)?.[1] ?? '';
        sock.write(rcpt.startsWith('bad') ? 'action=REJECT policy says no\n\n' : 'action=DUNNO\n\n');
        buf = '';
      }
    });
  });
  await new Promise<void>((r) => policy.listen(0, '127.0.0.1', r));
  const pport = (policy.address() as { port: number }).port;
  const fx = await startFixture(`smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:${pport}, check_policy_service inet:127.0.0.1:1`);
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    await c.cmd('EHLO x.example.org');
    await c.cmd('MAIL FROM:<a@example.org>');
    assert.equal(await c.cmd('RCPT TO:<bad@mail.example.test>'), '554 5.7.1 <bad@mail.example.test>: Recipient address rejected: policy says no\r\n');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '451 4.3.5 <root@mail.example.test>: Recipient address rejected: Server configuration problem\r\n');
    assert.match(requests[0], /^request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=127\.0\.0\.1\nclient_name=localhost\n/);
    assert.match(requests[0], /\nhelo_name=x\.example\.org\nsender=a@example\.org\nrecipient=bad@mail\.example\.test\nrecipient_count=0\n/);
    assert.match(requests[0], /\npolicy_context=\n\n$/);
    // the connection to the policy server is kept and reused
    assert.equal(requests.length, 2);
    assert.equal(connections, 1);
    c.close();
  } finally {
    await fx.close();
    for (const s of policySockets) s.destroy();
    await new Promise<void>((r) => policy.close(() => r()));
  }
});

test('startup check: no relay restriction is fatal with Postfix text', () => {
  setFatalAction((text) => {
    throw new FatalError(text);
  });
  try {
    const config = MailConfig.fromText('smtpd_relay_restrictions = permit_mynetworks\nsmtpd_recipient_restrictions = permit\n');
    assert.throws(
      () => new CheckConfig(config),
      (e: Error) =>
        e.message ===
        'in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer, defer_if_permit or check_relay_domains',
    );
  } finally {
    setFatalAction((_t, status) => process.exit(status));
  }
});

test('sendmail -bs stand-alone mode: no restrictions, records to the given destination', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let written = '';
  output.on('data', (d) => (written += d.toString()));
  const io = Duplex.from({ readable: input, writable: output });
  const got: Array<{ type: string; data: string }> = [];
  let finished = 0;
  const openDest = async (flags: number): Promise<MessageDest> => {
    assert.equal(flags, 0);
    return {
      queueId: 'ABCDEF123',
      record: (type: number, data: Buffer | string) => got.push({ type: String.fromCharCode(type), data: data.toString() }),
      finish: async () => {
        finished++;
        return { status: 0, why: '' };
      },
      abort: () => undefined,
    };
  };
  const config = MailConfig.fromText('myhostname = host.example.test\nsmtpd_relay_restrictions = reject\n');
  const session = smtpdStandAlone({ config, io, openDest });
  input.write('EHLO me\r\nMAIL FROM:<u@host.example.test>\r\nRCPT TO:<far@away.example>\r\nDATA\r\n');
  input.write('Subject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n');
  await session;
  assert.match(written, /^220 host\.example\.test ESMTP Postfix\r\n250-host\.example\.test\r\n/);
  assert.match(written, /250 2\.1\.5 Ok\r\n354 End data with <CR><LF>\.<CR><LF>\r\n250 2\.0\.0 Ok: queued as ABCDEF123\r\n221 2\.0\.0 Bye\r\n$/);
  assert.equal(finished, 1);
  assert.deepEqual(got.map((r) => r.type).join(''), 'SARMNNNNNNXE');
  assert.equal(got.find((r) => r.type === 'N')?.data, 'Received: from me (localhost [127.0.0.1])');
});

test('reject_unknown_sender_domain: a DNS failure takes the tempfail action (defer_if_permit)', async () => {
  const { promises: dns } = await import('node:dns');
  const { setDnsResolver } = await import('../../src/smtpd/smtpd_check.js');
  const r = new dns.Resolver({ timeout: 500, tries: 1 });
  r.setServers(['127.0.0.1:1']);
  setDnsResolver(r);
  const fx = await startFixture('smtpd_sender_restrictions = reject_unknown_sender_domain');
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    await c.cmd('EHLO x.example.org');
    assert.equal(await c.cmd('MAIL FROM:<a@nowhere.example>'), '250 2.1.0 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '450 4.1.8 <a@nowhere.example>: Sender address rejected: Domain not found\r\n');
    // a local sender domain needs no DNS
    await c.cmd('RSET');
    await c.cmd('MAIL FROM:<b@mail.example.test>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    c.close();
  } finally {
    await fx.close();
    setDnsResolver(new dns.Resolver());
  }
});

test('"smtpd -S" (what sendmail -bs runs): SMTP on stdin/stdout, message lands in maildrop', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, chmodSync, readdirSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join, dirname } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const { spawn } = await import('node:child_process');
  const { readRecords } = await import('../../src/global/record.js');
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'smtpd-bs-'));
  try {
    mkdirSync(join(dir, 'etc'));
    mkdirSync(join(dir, 'spool', 'maildrop'), { recursive: true });
    mkdirSync(join(dir, 'spool', 'public'));
    chmodSync(join(dir, 'spool', 'maildrop'), 0o1733);
    writeFileSync(join(dir, 'etc', 'main.cf'), `compatibility_level = 3.6\nqueue_directory = ${dir}/spool\nmyhostname = mx.example.test\nalias_maps =\n`);
    const child = spawn(process.execPath, [join(root, 'libexec', 'smtpd'), '-S'], { env: { ...process.env, MAIL_CONFIG: join(dir, 'etc') }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.stdin.end('HELO me\r\nMAIL FROM:<u@mx.example.test>\r\nRCPT TO:<far@away.example>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nETRN x.example\r\nQUIT\r\n');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0);
    const files = readdirSync(join(dir, 'spool', 'maildrop'));
    assert.equal(files.length, 1);
    assert.equal(
      out,
      '220 mx.example.test ESMTP Postfix\r\n250 mx.example.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n' +
        `250 2.0.0 Ok: queued as ${files[0]}\r\n458 Unable to queue messages\r\n221 2.0.0 Bye\r\n`,
    );
    const recs = readRecords(readFileSync(join(dir, 'spool', 'maildrop', files[0])));
    const text = recs.map((r) => String.fromCharCode(r.type)).join('');
    assert.equal(text, 'TSARMNNNNNNXE');
    const norm = recs.filter((r) => r.type === 0x4e).map((r) => r.data.toString());
    assert.equal(norm[0], 'Received: from me (localhost [127.0.0.1])');
    assert.equal(norm[1], `\tby mx.example.test (Postfix) with SMTP id ${files[0]}`);
    assert.match(norm[2], /^\tfor <far@away\.example>; /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('smtpd_forbid_bare_newline = reject (replies and logs as Postfix 3.7.11)', async () => {
  const fx = await startFixture('smtpd_forbid_bare_newline = reject\nsmtpd_forbid_bare_newline_exclusions =');
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    await c.cmd('EHLO x.example.org');
    await c.cmd('MAIL FROM:<a@example.org>');
    await c.cmd('RCPT TO:<root@mail.example.test>');
    assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>\r\n');
    // a "." line ending in a bare LF does not end the message; what follows is content
    c.send('Subject: x\r\n\r\nline with bare lf\nmore\r\n.\n.\r\n');
    c.send('MAIL FROM:<a@example.org>\r\nRCPT TO:<root@mail.example.test>\r\nDATA\r\nok\r\n.\r\n');
    assert.equal(await c.replies(1), '550 5.5.2 mail.example.test Error: bare <LF> received\r\n');
    c.send('NOOP\n');
    assert.equal(await c.replies(1), '550 5.5.2 mail.example.test Error: bare <LF> received\r\n');
    await c.waitClose();
    await waitFor(() => fx.logs.some((l) => l.startsWith('disconnect from')), 'disconnect');
    const logs = fx.logs.map((l) => l.replace(/^[0-9A-F]{6,}:/, 'QUEUEID:'));
    assert.deepEqual(logs, [
      'connect from localhost[127.0.0.1]',
      'QUEUEID: client=localhost[127.0.0.1]',
      'QUEUEID: reject: END-OF-MESSAGE from localhost[127.0.0.1]: bare <LF> received; from=<a@example.org> to=<root@mail.example.test> proto=ESMTP helo=<x.example.org>',
      'NOQUEUE: reject: END-OF-MESSAGE from localhost[127.0.0.1]: bare <LF> received; proto=ESMTP helo=<x.example.org>',
      'disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=0/1 commands=3/4',
    ]);
    assert.equal(fx.messages.length, 0);
  } finally {
    await fx.close();
  }
});

test('relay restrictions run before recipient restrictions from compatibility level 3.6 on', async () => {
  const common = 'mynetworks = 10.0.0.0/8\nsmtpd_recipient_restrictions = check_recipient_access inline:{{u@elsewhere.test=REJECT listed here}}';
  for (const [level, reply] of [
    ['3.6', '454 4.7.1 <u@elsewhere.test>: Relay access denied\r\n'],
    ['2', '554 5.7.1 <u@elsewhere.test>: Recipient address rejected: listed here\r\n'],
  ]) {
    const fx = await startFixture(`${common}\ncompatibility_level = ${level}`);
    try {
      const c = await RawClient.connect(fx.port);
      await c.replies(1);
      await c.cmd('HELO x.example.org');
      await c.cmd('MAIL FROM:<a@example.org>');
      assert.equal(await c.cmd('RCPT TO:<u@elsewhere.test>'), reply, `compatibility_level ${level}`);
      c.close();
    } finally {
      await fx.close();
    }
  }
});

test('DNS restrictions against a local test DNS server: unknown domains, helo, RBL and RHSBL', async () => {
  const { TestDnsServer } = await import('./dns_server.js');
  const { promises: dns } = await import('node:dns');
  const { setDnsResolver } = await import('../../src/smtpd/smtpd_check.js');
  const zone = {
    'good.example': { MX: [[10, 'mx.good.example']] as Array<[number, string]> },
    'mx.good.example': { A: ['192.0.2.10'] },
    'ahost.example': { A: ['192.0.2.11'] },
    'nullmx.example': { MX: [[0, '']] as Array<[number, string]> },
    '1.0.0.127.zen.test': { A: ['127.0.0.2'], TXT: ['listed for testing'] },
    'bad.example': { A: ['192.0.2.12'] },
    'bad.example.rhsbl.test': { A: ['127.0.0.2'] },
  };
  const server = new TestDnsServer(zone);
  await server.start();
  const r = new dns.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${server.port}`]);
  setDnsResolver(r);
  const fx = await startFixture(
    [
      'smtpd_helo_restrictions = reject_unknown_helo_hostname',
      'smtpd_sender_restrictions = reject_unknown_sender_domain, reject_rhsbl_sender rhsbl.test',
      'smtpd_client_restrictions = reject_rbl_client zen.test',
    ].join('\n'),
  );
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    await c.cmd('HELO nohost.example');
    await c.cmd('MAIL FROM:<a@good.example>');
    // the client check comes first: 127.0.0.1 is listed in zen.test
    assert.equal(
      await c.cmd('RCPT TO:<root@mail.example.test>'),
      '554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.test; listed for testing\r\n',
    );
    c.close();
  } finally {
    await fx.close();
  }
  const fx2 = await startFixture(
    [
      'smtpd_helo_restrictions = reject_unknown_helo_hostname',
      'smtpd_sender_restrictions = reject_unknown_sender_domain, reject_rhsbl_sender rhsbl.test',
    ].join('\n'),
  );
  try {
    const c = await RawClient.connect(fx2.port);
    await c.replies(1);
    await c.cmd('HELO nohost.example');
    await c.cmd('MAIL FROM:<a@good.example>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '450 4.7.1 <nohost.example>: Helo command rejected: Host not found\r\n');
    await c.cmd('RSET');
    await c.cmd('HELO ahost.example');
    await c.cmd('MAIL FROM:<a@good.example>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    await c.cmd('RSET');
    await c.cmd('MAIL FROM:<a@nowhere.example>');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '450 4.1.8 <a@nowhere.example>: Sender address rejected: Domain not found\r\n');
    await c.cmd('RSET');
    await c.cmd('MAIL FROM:<a@nullmx.example>');
    assert.equal(
      await c.cmd('RCPT TO:<root@mail.example.test>'),
      '550 5.7.27 <a@nullmx.example>: Sender address rejected: Domain nullmx.example does not accept mail (nullMX)\r\n',
    );
    await c.cmd('RSET');
    await c.cmd('MAIL FROM:<a@bad.example>');
    assert.equal(
      await c.cmd('RCPT TO:<root@mail.example.test>'),
      '554 5.7.1 Service unavailable; Sender address [a@bad.example] blocked using rhsbl.test\r\n',
    );
    c.close();
  } finally {
    await fx2.close();
    server.stop();
    setDnsResolver(new dns.Resolver());
  }
});

test('STARTTLS: offered with a certificate, required at level encrypt, nodemailer delivers over TLS', async () => {
  const { readFileSync } = await import('node:fs');
  const { join, dirname } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const { connect: tlsConnect } = await import('node:tls');
  const golden = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'smtpd', 'golden');
  const fx = await startFixture('smtpd_tls_security_level = encrypt\nsmtpd_tls_cert_file = ${config_directory}/cert.pem\nsmtpd_tls_key_file = ${config_directory}/key.pem\nsmtpd_tls_loglevel = 1', {
    tables: { 'cert.pem': readFileSync(join(golden, 'tls-test-cert.pem'), 'utf8'), 'key.pem': readFileSync(join(golden, 'tls-test-key.pem'), 'utf8') },
  });
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    assert.match(await c.cmd('EHLO x.example.org'), /\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n/);
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '530 5.7.0 Must issue a STARTTLS command first\r\n');
    assert.equal(await c.cmd('STARTTLS x'), '501 5.5.4 Syntax: STARTTLS\r\n');
    assert.equal(await c.cmd('STARTTLS'), '220 2.0.0 Ready to start TLS\r\n');
    // continue over TLS on the same connection
    const raw = (c as unknown as { sock: import('node:net').Socket }).sock;
    raw.removeAllListeners('data');
    const secure = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'mail.example.test' });
    await new Promise<void>((r) => secure.once('secureConnect', () => r()));
    const t = new RawClient(secure);
    const ehlo = await t.cmd('EHLO x.example.org');
    assert.ok(!ehlo.includes('STARTTLS'), ehlo);
    assert.equal(await t.cmd('STARTTLS'), '554 5.5.1 Error: TLS already active\r\n');
    assert.equal(await t.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok\r\n');
    assert.equal(await t.cmd('QUIT'), '221 2.0.0 Bye\r\n');
    t.close();
    await waitFor(() => fx.logs.some((l) => l.startsWith('disconnect from')), 'disconnect');
    assert.ok(fx.logs.some((l) => /^Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.[23] with cipher \S+ \(\d+\/\d+ bits\)( key-exchange X25519)?( server-signature RSA(-PSS)? \(\d+ bits\) server-digest SHA256)?$/.test(l)), fx.logs.join('\n'));
    // a real client: nodemailer upgrades with STARTTLS and submits
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: fx.port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({ from: 'alice@example.org', to: 'root@mail.example.test', subject: 'tls', text: 'over tls\n' });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
    transport.close();
    const norm = fx.messages[0].records.filter((r) => r.type === 'N').map((r) => r.data);
    assert.match(norm[1], /^\tby mail\.example\.test \(Postfix\) with ESMTPS id [0-9A-F]+$/);
  } finally {
    await fx.close();
  }
});

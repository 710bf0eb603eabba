/**
 * tls_ccert - TLS client certificates end to end, with whole instances:
 * our smtp client presents a certificate (smtp_tls_cert_file,
 * smtp_tls_chain_files) to our smtpd, which relays only for listed
 * fingerprints (permit_tls_clientcerts + relay_clientcerts); check_ccert_access,
 * smtpd_tls_req_ccert, the ccert_* policy attributes, the log lines and the
 * Received: header in Postfix 3.7's words (compared with Postfix 3.7.11); and
 * the smtp client's "fingerprint" security level. The certificates (a CA, a
 * server certificate, two client certificates it signed, a self-signed one)
 * are made here by openssl.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { TestInstance, freePort } from '../helpers/instance.js';
import { RawClient } from '../acceptance/client.js';
import { tlsSession, type Credentials } from './tls_client.js';

const me = userInfo().username;
const HOST = 'mail.example.test';

let work: string;
let S: TestInstance; // the smtpd under test
let C: TestInstance; // its smtp client peer
let accessPort: number;
let reqPort: number;
let noAskPort: number;
let policyPort: number;
let orderPort: number;
let badPort: number;
let smtpsPort: number;
let noCaPort: number;
let allPort: number;
let rwPort: number;
let noCertPort: number;
let policySrv: Server;
const policyRequests: string[] = [];

const f = (name: string) => join(work, name);
const creds = (name: string): Credentials => ({ cert: readFileSync(f(`${name}.pem`)), key: readFileSync(f(`${name}.key`)) });

/** fprint - the certificate's SHA256 fingerprint as openssl prints it. */
function fprint(name: string): string {
  const out = execFileSync('openssl', ['x509', '-in', f(`${name}.pem`), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  return out.trim().split('=')[1];
}

/** pkeyFprint - SHA256 of the DER public key, uppercase with colons. */
function pkeyFprint(name: string): string {
  const pem = execFileSync('openssl', ['x509', '-in', f(`${name}.pem`), '-noout', '-pubkey']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pem });
  const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der, encoding: 'utf8' }).trim().split(/\s+/).pop()!;
  return hex.toUpperCase().match(/../g)!.join(':');
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** signed - a key and a certificate signed by the test CA. */
function signed(name: string, subj: string, ext?: string): void {
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subj]);
  const args = ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2'];
  if (ext) {
    writeFileSync(f(`${name}.ext`), ext);
    args.push('-extfile', f(`${name}.ext`));
  }
  openssl(args);
}

let clientFp: string;
let clientPk: string;
let otherPk: string;
let selfFp: string;
let serverFp: string;
let serverPk: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'tls-ccert-'));
  chmodSync(work, 0o755);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/C=US/O=Test CA/CN=Test Root CA']);
  signed('server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  signed('client', '/O=Client Org/CN=client.example.test');
  signed('other', '/CN=other.example.test');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('self.key'), '-out', f('self.pem'), '-days', '2', '-subj', '/CN=self.example.test']);
  writeFileSync(f('chain.pem'), Buffer.concat([readFileSync(f('client.key')), readFileSync(f('client.pem'))]));
  for (const n of ['ca', 'server', 'client', 'other', 'self']) for (const x of ['key', 'pem']) chmodSync(f(`${n}.${x}`), 0o644);
  chmodSync(f('chain.pem'), 0o644);
  clientFp = fprint('client');
  clientPk = pkeyFprint('client');
  otherPk = pkeyFprint('other');
  selfFp = fprint('self');
  serverFp = fprint('server');
  serverPk = pkeyFprint('server');

  writeFileSync(f('relay_clientcerts'), `${clientFp} client.example.test\n${selfFp} self-signed, listed\n`);
  writeFileSync(f('ccert_access'), `${clientFp} REJECT not you\n${otherPk} 550 5.7.0 other cert refused\n${selfFp} OK\n`);
  const relayDomains = ['relay1', 'relay2', 'relay3', 'relay4', 'fp1', 'fp2', 'fp3', 'fp4'];
  writeFileSync(f('s_transport'), relayDomains.map((d) => `${d}.test discard:\n`).join(''));

  policySrv = createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        policyRequests.push(buf.slice(0, i + 1));
        buf = buf.slice(i + 2);
        sock.write('action=DUNNO\n\n');
      }
    });
    sock.on('error', () => undefined);
  });
  const polSrvPort = await freePort();
  await new Promise<void>((resolve) => policySrv.listen(polSrvPort, '127.0.0.1', () => resolve()));

  accessPort = await freePort();
  reqPort = await freePort();
  noAskPort = await freePort();
  policyPort = await freePort();
  orderPort = await freePort();
  badPort = await freePort();
  smtpsPort = await freePort();
  noCaPort = await freePort();
  allPort = await freePort();
  rwPort = await freePort();
  noCertPort = await freePort();
  S = await TestInstance.create({
    name: 'tls-ccert-s',
    main: {
      mynetworks: '192.0.2.0/24',
      smtpd_tls_security_level: 'may',
      smtpd_tls_cert_file: f('server.pem'),
      smtpd_tls_key_file: f('server.key'),
      smtpd_tls_CAfile: f('ca.pem'),
      smtpd_tls_ask_ccert: 'yes',
      smtpd_tls_loglevel: '1',
      smtpd_tls_received_header: 'yes',
      relay_clientcerts: `texthash:${f('relay_clientcerts')}`,
      smtpd_relay_restrictions: 'permit_mynetworks, permit_tls_clientcerts, reject_unauth_destination',
      transport_maps: `texthash:${f('s_transport')}`,
      ccert_order_restrictions: `check_ccert_access { texthash:${f('ccert_access')}, { search_order = pubkey_fingerprint } }, reject`,
      ccert_bad_restrictions: `check_ccert_access { texthash:${f('ccert_access')}, { search_order = issuer_cn } }`,
    },
    extraMasterCf: [
      `127.0.0.1:${accessPort} inet n - n - - smtpd -o smtpd_recipient_restrictions=check_ccert_access,texthash:${f('ccert_access')},reject`,
      `127.0.0.1:${reqPort} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt -o smtpd_tls_req_ccert=yes -o smtpd_tls_ask_ccert=no`,
      `127.0.0.1:${noAskPort} inet n - n - - smtpd -o smtpd_tls_ask_ccert=no -o smtpd_recipient_restrictions=check_ccert_access,texthash:${f('ccert_access')},permit`,
      `127.0.0.1:${orderPort} inet n - n - - smtpd -o smtpd_recipient_restrictions=$ccert_order_restrictions`,
      `127.0.0.1:${smtpsPort} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_req_ccert=yes`,
      `127.0.0.1:${allPort} inet n - n - - smtpd -o relay_clientcerts= -o smtpd_relay_restrictions=permit_tls_all_clientcerts,reject_unauth_destination`,
      `127.0.0.1:${rwPort} inet n - n - - smtpd -o local_header_rewrite_clients=permit_tls_clientcerts`,
      `127.0.0.1:${noCertPort} inet n - n - - smtpd -o smtpd_tls_cert_file= -o smtpd_tls_key_file=`,
      `127.0.0.1:${noCaPort} inet n - n - - smtpd -o smtpd_tls_CAfile=`,
      `127.0.0.1:${badPort} inet n - n - - smtpd -o smtpd_recipient_restrictions=$ccert_bad_restrictions`,
      `127.0.0.1:${policyPort} inet n - n - - smtpd -o smtpd_tls_loglevel=2 -o smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:${polSrvPort}`,
    ].join('\n'),
  });
  const p = S.smtpPort;
  writeFileSync(
    f('c_transport'),
    [
      `${HOST} smtp:[127.0.0.1]:${p}`,
      `relay1.test smtp:[127.0.0.1]:${p}`,
      `relay2.test nocert:[127.0.0.1]:${p}`,
      `relay3.test othercert:[127.0.0.1]:${p}`,
      `relay4.test chain:[127.0.0.1]:${p}`,
      `fp1.test fpcert:[127.0.0.1]:${p}`,
      `fp2.test fppkey:[127.0.0.1]:${p}`,
      `fp3.test fpbad:[127.0.0.1]:${p}`,
      `fp4.test fpnone:[127.0.0.1]:${p}`,
      `relay5.test badcert:[127.0.0.1]:${p}`,
      `relay6.test baddigest:[127.0.0.1]:${p}`,
      `fp5.test wrongca:[127.0.0.1]:${p}`,
      '',
    ].join('\n'),
  );
  C = await TestInstance.create({
    name: 'tls-ccert-c',
    main: {
      myhostname: 'client.example.test',
      smtp_helo_name: 'client.example.test',
      transport_maps: `texthash:${f('c_transport')}`,
      smtp_tls_security_level: 'may',
      smtp_tls_CAfile: f('ca.pem'),
      smtp_tls_cert_file: f('client.pem'),
      smtp_tls_key_file: f('client.key'),
      smtp_tls_loglevel: '1',
    },
    extraMasterCf: [
      'nocert unix - - n - - smtp -o smtp_tls_cert_file= -o smtp_tls_key_file=',
      `othercert unix - - n - - smtp -o smtp_tls_cert_file=${f('other.pem')} -o smtp_tls_key_file=${f('other.key')}`,
      `chain unix - - n - - smtp -o smtp_tls_cert_file= -o smtp_tls_key_file= -o smtp_tls_chain_files=${f('chain.pem')} -o smtp_tls_loglevel=2`,
      `fpcert unix - - n - - smtp -o smtp_tls_security_level=fingerprint -o smtp_tls_fingerprint_cert_match=${serverFp}`,
      `fppkey unix - - n - - smtp -o smtp_tls_security_level=fingerprint -o smtp_tls_fingerprint_cert_match=${clientFp},${serverPk}`,
      `fpbad unix - - n - - smtp -o smtp_tls_security_level=fingerprint -o smtp_tls_fingerprint_cert_match=${clientFp}`,
      'fpnone unix - - n - - smtp -o smtp_tls_security_level=fingerprint',
      `wrongca unix - - n - - smtp -o smtp_tls_security_level=verify -o smtp_tls_CAfile=${f('self.pem')} -o smtp_tls_loglevel=0`,
      'baddigest unix - - n - - smtp -o smtp_tls_security_level=encrypt -o smtp_tls_fingerprint_digest=nosuchdigest',
      `badcert unix - - n - - smtp -o smtp_tls_security_level=encrypt -o smtp_tls_cert_file=${f('missing.pem')} -o smtp_tls_key_file=${f('missing.pem')}`,
    ].join('\n'),
  });
  await Promise.all([S.start(), C.start()]);
});

after(async () => {
  await Promise.all([S?.cleanup(), C?.cleanup()]);
  await new Promise<void>((resolve) => (policySrv ? policySrv.close(() => resolve()) : resolve()));
  if (work) rmSync(work, { recursive: true, force: true });
});

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** send - submit a message on the client instance. */
async function send(rcpt: string, subject: string): Promise<void> {
  const r = await C.command('sendmail', ['-f', `${me}@client.example.test`, rcpt], `Subject: ${subject}\n\n${subject} body\n`);
  assert.equal(r.status, 0, r.stderr);
}

/** outcome - the client's delivery log line for a recipient. */
function outcome(rcpt: string, status: string): Promise<string> {
  return C.waitForLog(new RegExp(`to=<${esc(rcpt)}>, relay=.*status=${status}`), 60000);
}

const SUMMARY = 'TLSv1\\.3 with cipher TLS_AES_256_GCM_SHA384 \\(256/256 bits\\)';

test('a listed client certificate may relay (permit_tls_clientcerts); both sides log its use', async () => {
  await send('u@relay1.test', 'relay1');
  const line = await outcome('u@relay1.test', 'sent');
  assert.match(line, /dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok: queued as [0-9A-F]+\)/);
  const port = S.smtpPort;
  await C.waitForLog(new RegExp(`postfix/smtp\\[\\d+\\]: Trusted TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port}: ${SUMMARY} key-exchange X25519 server-signature RSA-PSS \\(2048 bits\\) server-digest SHA256 client-signature RSA-PSS \\(2048 bits\\) client-digest SHA256$`));
  await S.waitForLog(new RegExp(`postfix/smtpd\\[\\d+\\]: Trusted TLS connection established from localhost\\[127\\.0\\.0\\.1\\]: ${SUMMARY}.* server-signature RSA-PSS \\(2048 bits\\) server-digest SHA256 client-signature RSA-PSS \\(2048 bits\\) client-digest SHA256$`));
});

test('without a certificate, or with an unlisted one, relaying is refused (Relay access denied)', async () => {
  await send('u@relay2.test', 'relay2');
  const none = await outcome('u@relay2.test', 'bounced');
  assert.match(none, /dsn=5\.7\.1, status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 554 5\.7\.1 <u@relay2\.test>: Relay access denied \(in reply to RCPT TO command\)\)$/);
  await S.waitForLog(new RegExp(`Anonymous TLS connection established from localhost\\[127\\.0\\.0\\.1\\]: ${SUMMARY}.* server-digest SHA256$`));
  await S.waitForLog(/NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 <u@relay2\.test>: Relay access denied; from=<[^>]+> to=<u@relay2\.test> proto=ESMTP helo=<client\.example\.test>$/);
  // asked for a certificate but without one, the client signs nothing
  await C.waitForLog(new RegExp(`Trusted TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${S.smtpPort}: ${SUMMARY} key-exchange X25519 server-signature RSA-PSS \\(2048 bits\\) server-digest SHA256$`));

  // a verified certificate that is not listed
  await send('u@relay3.test', 'relay3');
  const other = await outcome('u@relay3.test', 'bounced');
  assert.match(other, /said: 554 5\.7\.1 <u@relay3\.test>: Relay access denied \(in reply to RCPT TO command\)\)$/);
});

test('a listed fingerprint relays even when its certificate is not verified (as Postfix 3.7)', async () => {
  const steps: Array<[string, number]> = [['EHLO client.example.test\r\n', 1], ['MAIL FROM:<a@client.example.test>\r\n', 1], ['RCPT TO:<u@relay1.test>\r\n', 1], ['QUIT\r\n', 1]];
  const self = await tlsSession(S.smtpPort, creds('self'), steps);
  assert.equal(self.at(-2), '250 2.1.5 Ok');
  await S.waitForLog(/Untrusted TLS connection established from localhost\[127\.0\.0\.1\]: .* client-signature RSA-PSS \(2048 bits\) client-digest SHA256$/);
});

test('smtp_tls_chain_files presents the certificate too; smtp_tls_loglevel 2 describes the server certificate', async () => {
  await send('u@relay4.test', 'relay4');
  await outcome('u@relay4.test', 'sent');
  const label = esc(`127.0.0.1[127.0.0.1]:${S.smtpPort}`);
  await C.waitForLog(new RegExp(`postfix/smtp\\[\\d+\\]: setting up TLS connection to ${label}$`));
  await C.waitForLog(new RegExp(`: ${label}: depth=1 verify=1 subject=/C=US/O=Test CA/CN=Test Root CA$`));
  await C.waitForLog(new RegExp(`: ${label}: depth=0 verify=1 subject=/CN=localhost$`));
  await C.waitForLog(new RegExp(`: ${label}: subject_CN=localhost, issuer_CN=Test Root CA, fingerprint=${serverFp}, pkey_fingerprint=${serverPk}$`));
});

test('an unreadable client certificate: no TLS engine, so mail that requires TLS waits', async () => {
  await send('u@relay5.test', 'relay5');
  const line = await outcome('u@relay5.test', 'deferred');
  assert.match(line, /relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*dsn=4\.7\.5, status=deferred \(TLS is required, but our TLS engine is unavailable\)$/);
  await C.waitForLog(new RegExp(`warning: error opening chain file: ${esc(f('missing.pem'))}: No such file or directory$`));
  await send('u@relay6.test', 'relay6');
  assert.match(await outcome('u@relay6.test', 'deferred'), /status=deferred \(TLS is required, but our TLS engine is unavailable\)$/);
  await C.waitForLog(/warning: Digest algorithm "nosuchdigest" not found$/);
});

test('permit_tls_all_clientcerts: any verified certificate may relay, an unverified one may not', async () => {
  const steps: Array<[string, number]> = [['EHLO client.example.test\r\n', 1], ['MAIL FROM:<a@client.example.test>\r\n', 1], ['RCPT TO:<u@relay1.test>\r\n', 1], ['QUIT\r\n', 1]];
  const other = await tlsSession(allPort, creds('other'), steps);
  assert.equal(other.at(-2), '250 2.1.5 Ok');
  const self = await tlsSession(allPort, creds('self'), steps);
  assert.equal(self.at(-2), '554 5.7.1 <u@relay1.test>: Relay access denied');
  const none = await tlsSession(allPort, null, steps);
  assert.equal(none.at(-2), '554 5.7.1 <u@relay1.test>: Relay access denied');
});

test('the Received: header names the client certificate (smtpd_tls_received_header)', async () => {
  await send(`${me}@${HOST}`, 'received-header');
  const path = join(S.mailDir, me);
  let text = '';
  const end = Date.now() + 60000;
  while (!(text = existsSync(path) ? readFileSync(path, 'utf8') : '').includes('received-header body')) {
    if (Date.now() > end) throw new Error(`no delivery\n${S.readLog()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const msg = text.split(/^From /m).find((m) => m.includes('received-header body'))!;
  assert.match(
    msg,
    new RegExp(
      '^Received: from client\\.example\\.test \\(localhost \\[127\\.0\\.0\\.1\\]\\)\\n' +
        '\\t\\(using TLSv1\\.3 with cipher TLS_AES_256_GCM_SHA384 \\(256/256 bits\\)\\n' +
        '\\t (key-exchange X25519 )?server-signature RSA-PSS \\(2048 bits\\) server-digest SHA256\\n' +
        '\\t client-signature RSA-PSS \\(2048 bits\\) client-digest SHA256\\)\\n' +
        '\\t\\(Client CN "client\\.example\\.test", Issuer "Test Root CA" \\(verified OK\\)\\)\\n' +
        `\\tby ${esc(HOST)} \\(Postfix\\) with ESMTPS id [0-9A-F]+\\n`,
      'm',
    ),
  );
});

/** mailboxMessage - the message of S's mailbox that contains a marker, once delivered. */
async function mailboxMessage(marker: string): Promise<string> {
  const path = join(S.mailDir, me);
  const end = Date.now() + 60000;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const m = text.split(/^From /m).find((x) => x.includes(marker));
    if (m) return m;
    if (Date.now() > end) throw new Error(`no delivery of ${marker}\n${S.readLog()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('Received: "(not verified)" without a CA to verify with, "(Client did not present a certificate)" without one', async () => {
  const steps = (marker: string): Array<[string, number]> => [
    ['EHLO client.example.test\r\n', 1],
    ['MAIL FROM:<a@client.example.test>\r\n', 1],
    [`RCPT TO:<${me}@${HOST}>\r\n`, 1],
    ['DATA\r\n', 1],
    [`Subject: ${marker}\r\n\r\n${marker}\r\n.\r\n`, 1],
    ['QUIT\r\n', 1],
  ];
  const a = await tlsSession(noCaPort, creds('client'), steps('no-ca-marker'));
  assert.match(a.at(-2) ?? '', /^250 2\.0\.0 Ok: queued as /);
  assert.match(await mailboxMessage('no-ca-marker'), /\n\t\(Client CN "client\.example\.test", Issuer "Test Root CA" \(not verified\)\)\n\tby /);
  const b = await tlsSession(S.smtpPort, null, steps('no-cert-marker'));
  assert.match(b.at(-2) ?? '', /^250 2\.0\.0 Ok: queued as /);
  assert.match(await mailboxMessage('no-cert-marker'), /\n\t \S.* server-digest SHA256\)\n\t\(Client did not present a certificate\)\n\tby /);
  // TLS 1.2: Postfix names no key exchange or signatures (the cipher is the test client's first choice)
  const c = await tlsSession(S.smtpPort, creds('client'), steps('tls12-marker'), 'TLSv1.2');
  assert.match(c.at(-2) ?? '', /^250 2\.0\.0 Ok: queued as /);
  assert.match(await mailboxMessage('tls12-marker'), /\nReceived: from client\.example\.test \(localhost \[127\.0\.0\.1\]\)\n\t\(using TLSv1\.2 with cipher ECDHE-RSA-AES\d+-GCM-SHA\d+ \((\d+)\/\1 bits\)\)\n\t\(Client CN "client\.example\.test", Issuer "Test Root CA" \(verified OK\)\)\n\tby /);
  await S.waitForLog(/Trusted TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.2 with cipher ECDHE-RSA-AES\d+-GCM-SHA\d+ \((\d+)\/\1 bits\)$/);
});

test('local_header_rewrite_clients = permit_tls_clientcerts: a listed certificate gets local header rewriting', async () => {
  const steps = (marker: string): Array<[string, number]> => [
    ['EHLO client.example.test\r\n', 1],
    ['MAIL FROM:<a@client.example.test>\r\n', 1],
    [`RCPT TO:<${me}@${HOST}>\r\n`, 1],
    ['DATA\r\n', 1],
    [`From: alice\r\nSubject: ${marker}\r\n\r\n${marker}\r\n.\r\n`, 1],
    ['QUIT\r\n', 1],
  ];
  await tlsSession(rwPort, creds('client'), steps('rw-local-marker'));
  assert.match(await mailboxMessage('rw-local-marker'), /^From: alice@mail\.example\.test$/m);
  await tlsSession(rwPort, creds('other'), steps('rw-remote-marker'));
  assert.match(await mailboxMessage('rw-remote-marker'), /^From: alice$/m);
});

test('check_ccert_access: fingerprint, then public-key fingerprint; every action as access(5)', async () => {
  const rcpt = `RCPT TO:<${me}@${HOST}>\r\n`;
  const steps: Array<[string, number]> = [['EHLO client.example.test\r\n', 1], ['MAIL FROM:<a@client.example.test>\r\n', 1], [rcpt, 1], ['QUIT\r\n', 1]];
  const trusted = await tlsSession(accessPort, creds('client'), steps);
  assert.equal(trusted.at(-2), '554 5.7.1 <client.example.test>: Client certificate rejected: not you');
  await S.waitForLog(new RegExp(`NOQUEUE: reject: RCPT from localhost\\[127\\.0\\.0\\.1\\]: 554 5\\.7\\.1 <client\\.example\\.test>: Client certificate rejected: not you; from=<a@client\\.example\\.test> to=<${esc(me)}@${esc(HOST)}> proto=ESMTP helo=<client\\.example\\.test>`));
  const other = await tlsSession(accessPort, creds('other'), steps);
  assert.equal(other.at(-2), '550 5.7.0 <other.example.test>: Client certificate rejected: other cert refused');
  const self = await tlsSession(accessPort, creds('self'), steps);
  assert.equal(self.at(-2), '250 2.1.5 Ok');
  const none = await tlsSession(accessPort, null, steps);
  assert.equal(none.at(-2), `554 5.7.1 <${me}@${HOST}>: Recipient address rejected: Access denied`);
  void otherPk;
  void clientPk;
});

test('check_ccert_access { type:table, { search_order = ... } } looks up only what it names', async () => {
  const rcpt = `RCPT TO:<${me}@${HOST}>\r\n`;
  const steps: Array<[string, number]> = [['MAIL FROM:<a@client.example.test>\r\n', 1], [rcpt, 1], ['QUIT\r\n', 1]];
  // the certificate fingerprint is listed, but only the public key is searched
  const client = await tlsSession(orderPort, creds('client'), steps);
  assert.equal(client.at(-2), `554 5.7.1 <${me}@${HOST}>: Recipient address rejected: Access denied`);
  const other = await tlsSession(orderPort, creds('other'), steps);
  assert.equal(other.at(-2), '550 5.7.0 <other.example.test>: Client certificate rejected: other cert refused');
  // a search type that check_ccert_access cannot use
  const bad = await tlsSession(badPort, creds('client'), steps);
  assert.equal(bad.at(-2), '451 4.3.5 Server configuration error');
  await S.waitForLog(new RegExp(`warning: check_ccert_access: unexpected action 'issuer_cn' in '\\{ texthash:${esc(f('ccert_access'))}, \\{ search_order = issuer_cn \\} \\}'$`));
});

test('smtpd_tls_req_ccert at level encrypt: 421 without a trusted certificate', async () => {
  const steps: Array<[string, number]> = [['EHLO client.example.test\r\n', 1]];
  const none = await tlsSession(reqPort, null, steps);
  assert.deepEqual(none, [`421 4.7.1 ${HOST} Error: No client certificate presented`]);
  await S.waitForLog(/NOQUEUE: abort: TLS from localhost\[127\.0\.0\.1\]: No client certificate presented$/);
  await S.waitForLog(/disconnect from localhost\[127\.0\.0\.1\] ehlo=1 starttls=1 commands=2$/);
  const self = await tlsSession(reqPort, creds('self'), steps);
  assert.deepEqual(self, [`421 4.7.1 ${HOST} Error: Client certificate not trusted`]);
  await S.waitForLog(/certificate verification failed for localhost\[127\.0\.0\.1\]: self-signed certificate$/);
  await S.waitForLog(/NOQUEUE: abort: TLS from localhost\[127\.0\.0\.1\]: Client certificate not trusted$/);
  const ok = await tlsSession(reqPort, creds('client'), [...steps, ['QUIT\r\n', 1]]);
  assert.equal(ok.at(-1), '221 2.0.0 Bye');
});

test('smtpd_tls_req_ccert in wrapper mode: 421, the greeting, and the end', async () => {
  const got = await new Promise<string>((resolve, reject) => {
    let text = '';
    const t = tlsConnect({ host: '127.0.0.1', port: smtpsPort, rejectUnauthorized: false });
    t.on('data', (d: Buffer) => (text += d.toString('latin1')));
    t.on('close', () => resolve(text));
    t.on('error', reject);
  });
  assert.equal(got, `421 4.7.1 ${HOST} Error: No client certificate presented\r\n220 ${HOST} ESMTP Postfix\r\n`);
  await S.waitForLog(/disconnect from localhost\[127\.0\.0\.1\] commands=0\/0$/);
});

test('no server certificate: STARTTLS is still offered, and answered 454, as Postfix', async () => {
  const c = await RawClient.open(noCertPort);
  try {
    await c.replies(1);
    c.write('EHLO client.example.test\r\n');
    const ehlo = await c.replies(2);
    assert.ok(ehlo.includes('250-STARTTLS'), ehlo.join('\n'));
    c.write('STARTTLS\r\n');
    const got = await c.replies(3);
    assert.equal(got.at(-1), '454 4.7.0 TLS not available due to local problem');
  } finally {
    c.destroy();
  }
  await S.waitForLog(/warning: Need a server cert to request client certs$/);
  await S.waitForLog(/warning: No server certs available\. TLS won't be enabled$/);
});

test('certificate restrictions warn when smtpd_tls_ask_ccert = no', async () => {
  const steps: Array<[string, number]> = [['EHLO client.example.test\r\n', 1], ['MAIL FROM:<a@client.example.test>\r\n', 1], [`RCPT TO:<${me}@${HOST}>\r\n`, 1], ['QUIT\r\n', 1]];
  const got = await tlsSession(noAskPort, creds('self'), steps);
  assert.equal(got.at(-2), '250 2.1.5 Ok');
  await S.waitForLog(/warning: permit_tls_clientcerts is requested, but "smtpd_tls_ask_ccert = no"$/);
  await S.waitForLog(/warning: check_ccert_access is requested, but "smtpd_tls_ask_ccert = no"$/);
});

test('policy requests carry ccert_* and encryption_*; smtpd_tls_loglevel 2 logs the certificate', async () => {
  const steps: Array<[string, number]> = [['EHLO client.example.test\r\n', 1], ['MAIL FROM:<a@client.example.test>\r\n', 1], [`RCPT TO:<${me}@${HOST}>\r\n`, 1], ['QUIT\r\n', 1]];
  await tlsSession(policyPort, creds('client'), steps);
  const req = policyRequests.at(-1) ?? '';
  assert.match(req, /^ccert_subject=client\.example\.test$/m);
  assert.match(req, /^ccert_issuer=Test\+20Root\+20CA$/m);
  assert.match(req, new RegExp(`^ccert_fingerprint=${clientFp}$`, 'm'));
  assert.match(req, new RegExp(`^ccert_pubkey_fingerprint=${clientPk}$`, 'm'));
  assert.match(req, /^encryption_protocol=TLSv1\.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256$/m);
  await S.waitForLog(/postfix\/smtpd\[\d+\]: subject=\/O=Client Org\/CN=client\.example\.test$/);
  await S.waitForLog(/postfix\/smtpd\[\d+\]: issuer=\/C=US\/O=Test CA\/CN=Test Root CA$/);
  await S.waitForLog(new RegExp(`localhost\\[127\\.0\\.0\\.1\\]: subject_CN=client\\.example\\.test, issuer=Test Root CA, fingerprint=${clientFp}, pkey_fingerprint=${clientPk}$`));
  // an untrusted certificate: fingerprints, but no names
  await tlsSession(policyPort, creds('self'), steps);
  const req2 = policyRequests.at(-1) ?? '';
  assert.match(req2, new RegExp(`^ccert_subject=\\nccert_issuer=\\nccert_fingerprint=${selfFp}\\n`, 'm'));
});

test('smtp fingerprint level: certificate or public-key digest verifies; a mismatch defers', async () => {
  const port = S.smtpPort;
  await send('u@fp1.test', 'fp1');
  await outcome('u@fp1.test', 'sent');
  await send('u@fp2.test', 'fp2');
  await outcome('u@fp2.test', 'sent');
  await C.waitForLog(new RegExp(`Verified TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port}: ${SUMMARY}`), 20000, 2);
  await send('u@fp3.test', 'fp3');
  const bad = await outcome('u@fp3.test', 'deferred');
  assert.match(bad, /dsn=4\.7\.5, status=deferred \(Server certificate not verified\)$/);
  await C.waitForLog(new RegExp(`server certificate verification failed for 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port}: num=65:no matching DANE TLSA records$`));
  await C.waitForLog(new RegExp(`Untrusted TLS connection established to 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port}: ${SUMMARY}`));
  await send('u@fp4.test', 'fp4');
  const none = await outcome('u@fp4.test', 'deferred');
  assert.match(none, /relay=none, .*dsn=4\.7\.5, status=deferred \(client TLS configuration problem\)$/);
  // verify level, untrusted chain: Postfix's own words, logged even at smtp_tls_loglevel = 0
  await send('u@fp5.test', 'fp5');
  assert.match(await outcome('u@fp5.test', 'deferred'), /dsn=4\.7\.5, status=deferred \(Server certificate not verified\)$/);
  await C.waitForLog(new RegExp(`postfix/smtp\\[\\d+\\]: certificate verification failed for 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${port}: untrusted issuer /C=US/O=Test CA/CN=Test Root CA$`));
  await C.waitForLog(new RegExp(`warning: nexthop domain \\[127\\.0\\.0\\.1\\]:${port}: configured at fingerprint security level, but with no fingerprints to match\\.$`));
  void serverFp;
});

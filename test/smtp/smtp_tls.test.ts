/**
 * smtp_tls.test - STARTTLS and SASL in the smtp(8) client against
 * smtp-server with a self-signed certificate made by the test (openssl),
 * compared with what Postfix 3.7.11 logged for the same set-up
 * (golden/oracle-smtp-tls-3.7.11.txt).
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { msgAddOutput } from '../../src/util/msg.js';
import { SmtpAgent } from '../../src/smtp/smtp.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent } from '../delivery/queue_fixture.js';
import type { DeliverReply } from '../../src/global/deliver_request.js';

const here = dirname(fileURLToPath(import.meta.url));
const golden = readFileSync(join(here, '..', '..', '..', 'test', 'smtp', 'golden', 'oracle-smtp-tls-3.7.11.txt'), 'utf8').split('\n').filter(Boolean);

let dir: string;
let certFile: string;
let keyFile: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'smtp-tls-'));
  certFile = join(dir, 'cert.pem');
  keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=DNS:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
});

after(() => rmSync(dir, { recursive: true, force: true }));

interface Peer {
  port: number;
  secure: boolean[];
  users: string[];
  close(): Promise<void>;
}

async function startPeer(opts: Partial<SMTPServerOptions> = {}): Promise<Peer> {
  const secure: boolean[] = [];
  const users: string[] = [];
  const server = new SMTPServer({
    key: readFileSync(keyFile),
    cert: readFileSync(certFile),
    authOptional: true,
    logger: false,
    onData(stream, session, cb) {
      stream.resume();
      stream.on('end', () => {
        secure.push(!!session.secure);
        if (session.user) users.push(String(session.user));
        cb();
      });
    },
    ...opts,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as { port: number }).port;
  return { port, secure, users, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let seq = 0;

async function deliver(nexthop: string, cf: string[]): Promise<{ lines: string[]; reply: DeliverReply }> {
  const inst = makeInstance(['inet_protocols = ipv4', 'smtp_connection_cache_on_demand = no', 'smtp_helo_timeout = 5s', ...cf].join('\n'));
  const lines: string[] = [];
  const stop = msgAddOutput((_sev, text) => lines.push(text));
  const agent = new SmtpAgent(inst.config, 'smtp');
  const server = await serveAgent(inst, `tls${seq}`, (s) => agent.service(s));
  try {
    const id = `7C${(0x100 + seq++).toString(16).toUpperCase()}`;
    const rs = [{ address: 'ok@tls.test' }];
    const file = buildQueueFile('s@example.org', rs, ['Subject: x', '', 'hi']);
    placeQueueFile(inst, id, file);
    const reply = await deliverVia(inst, `tls${seq - 1}`, requestFor(id, file, 's@example.org', rs, nexthop));
    return {
      lines: lines.map((l) => l.replace(/^[0-9A-F]+: /, '').replace(/delay=[^ ]* delays=[^ ]* /, '').replace(/\]:\d+/g, ']:PORT')),
      reply,
    };
  } finally {
    stop();
    server.close();
    inst.cleanup();
  }
}

const delivery = (lines: string[]) => lines.filter((l) => l.startsWith('to=<'));
const tlsLines = (lines: string[]) => lines.filter((l) => / TLS connection established|verification failed/.test(l));

test('may + CAfile: STARTTLS, "Trusted TLS connection established" line as Postfix, mail sent encrypted', async () => {
  const peer = await startPeer();
  try {
    const run = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_tls_security_level = may', 'smtp_tls_loglevel = 1', `smtp_tls_CAfile = ${certFile}`]);
    assert.deepEqual(tlsLines(run.lines), golden.filter((l) => l.startsWith('Trusted')));
    assert.match(delivery(run.lines)[0], /dsn=2\.0\.0, status=sent/);
    assert.deepEqual(peer.secure, [true]);
  } finally {
    await peer.close();
  }
});

test('may without a CAfile: Untrusted, still sent; loglevel 0 logs no TLS line', async () => {
  const peer = await startPeer();
  try {
    const run = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_tls_security_level = may', 'smtp_tls_loglevel = 1']);
    assert.deepEqual(tlsLines(run.lines), golden.filter((l) => l.startsWith('Trusted')).map((l) => l.replace('Trusted', 'Untrusted')));
    const quiet = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_tls_security_level = may']);
    assert.deepEqual(tlsLines(quiet.lines), []);
    assert.deepEqual(peer.secure, [true, true]);
  } finally {
    await peer.close();
  }
});

test('none: no STARTTLS even when offered', async () => {
  const peer = await startPeer();
  try {
    await deliver(`[127.0.0.1]:${peer.port}`, []);
    assert.deepEqual(peer.secure, [false]);
  } finally {
    await peer.close();
  }
});

test('encrypt against a server without STARTTLS: deferred 4.7.4 as Postfix', async () => {
  const peer = await startPeer({ disabledCommands: ['STARTTLS'] });
  try {
    const run = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_tls_security_level = encrypt']);
    assert.deepEqual(delivery(run.lines), ['to=<ok@tls.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=4.7.4, status=deferred (TLS is required, but was not offered by host 127.0.0.1[127.0.0.1])']);
    assert.equal(run.reply.hop.status, '4.7.4');
  } finally {
    await peer.close();
  }
});

test('smtp_tls_policy_maps verify/secure for an IP next hop: verification failed lines and 4.7.5 as Postfix', async () => {
  const peer = await startPeer();
  try {
    const policy = join(dir, 'policy');
    writeFileSync(policy, `[127.0.0.1]:${peer.port} verify\n`);
    const cf = ['smtp_tls_loglevel = 1', `smtp_tls_CAfile = ${certFile}`, `smtp_tls_policy_maps = texthash:${policy}`];
    const v = await deliver(`[127.0.0.1]:${peer.port}`, cf);
    assert.deepEqual(tlsLines(v.lines).sort(), golden.filter((l) => l.includes('IP address mismatch') || l.startsWith('Untrusted')));
    assert.deepEqual(delivery(v.lines), ['to=<ok@tls.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=4.7.5, status=deferred (Server certificate not verified)']);
    const policy2 = join(dir, 'policy2');
    writeFileSync(policy2, `[127.0.0.1]:${peer.port} secure\n`);
    const s = await deliver(`[127.0.0.1]:${peer.port}`, [...cf.slice(0, 2), `smtp_tls_policy_maps = texthash:${policy2}`]);
    assert.deepEqual(tlsLines(s.lines).sort(), golden.filter((l) => l.includes('hostname mismatch') || l.startsWith('Untrusted')));
    assert.equal(peer.secure.length, 0, 'nothing delivered over an unverified channel');
  } finally {
    await peer.close();
  }
});

test('verify with a matching name: "Verified TLS connection established", sent', async () => {
  const peer = await startPeer();
  try {
    const run = await deliver(`[localhost]:${peer.port}`, ['smtp_tls_security_level = verify', 'smtp_tls_loglevel = 1', `smtp_tls_CAfile = ${certFile}`]);
    assert.deepEqual(tlsLines(run.lines), golden.filter((l) => l.startsWith('Trusted')).map((l) => l.replace('Trusted', 'Verified').replace('127.0.0.1[', 'localhost[')));
    assert.match(delivery(run.lines)[0], /^to=<ok@tls\.test>, relay=localhost\[127\.0\.0\.1\]:PORT, dsn=2\.0\.0, status=sent/);
    assert.deepEqual(peer.secure, [true]);
  } finally {
    await peer.close();
  }
});

function authPeer(): Promise<Peer> {
  return startPeer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    authOptional: false,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, cb) {
      if (auth.username === 'user' && auth.password === 'se:cret') cb(null, { user: auth.username });
      else cb(new Error('Error: authentication failed'));
    },
  });
}

test('SASL PLAIN with smtp_sasl_password_maps: authenticated and sent', async () => {
  const peer = await authPeer();
  try {
    const pw = join(dir, 'sasl');
    writeFileSync(pw, `[127.0.0.1]:${peer.port} user:se:cret\n`);
    const run = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_sasl_auth_enable = yes', `smtp_sasl_password_maps = texthash:${pw}`, 'smtp_sasl_security_options = noanonymous']);
    assert.match(delivery(run.lines)[0], /status=sent/);
    assert.deepEqual(peer.users, ['user']);
  } finally {
    await peer.close();
  }
});

test('SASL LOGIN via smtp_sasl_mechanism_filter; wrong password deferred with the server reply', async () => {
  const peer = await authPeer();
  try {
    const pw = join(dir, 'sasl2');
    writeFileSync(pw, `[127.0.0.1]:${peer.port} user:se:cret\n`);
    const run = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_sasl_auth_enable = yes', `smtp_sasl_password_maps = texthash:${pw}`, 'smtp_sasl_security_options = noanonymous', 'smtp_sasl_mechanism_filter = login']);
    assert.match(delivery(run.lines)[0], /status=sent/);
    const pwBad = join(dir, 'sasl-bad');
    writeFileSync(pwBad, `[127.0.0.1]:${peer.port} user:wrong\n`);
    const bad = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_sasl_auth_enable = yes', `smtp_sasl_password_maps = texthash:${pwBad}`, 'smtp_sasl_security_options = noanonymous']);
    // As Postfix 3.7.11 logged it against the same smtp-server reply:
    assert.deepEqual(delivery(bad.lines), ['to=<ok@tls.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=4.0.0, status=deferred (SASL authentication failed; server 127.0.0.1[127.0.0.1] said: 535 Error: authentication failed)']);
    assert.deepEqual(peer.users, ['user']);
  } finally {
    await peer.close();
  }
});

test('SASL with the default smtp_sasl_security_options (noplaintext): no mechanism available', async () => {
  const peer = await authPeer();
  try {
    const pw = join(dir, 'sasl3');
    writeFileSync(pw, `[127.0.0.1]:${peer.port} user:se:cret\n`);
    const run = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_sasl_auth_enable = yes', `smtp_sasl_password_maps = texthash:${pw}`]);
    assert.deepEqual(delivery(run.lines), ['to=<ok@tls.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=4.7.0, status=deferred (SASL authentication failed; cannot authenticate to server 127.0.0.1[127.0.0.1]: no mechanism available)']);
    assert.ok(run.lines.includes('warning: SASL authentication failure: No worthy mechs found'));
  } finally {
    await peer.close();
  }
});

test('smtp_tls_wrappermode: TLS before the greeting (SMTPS, port 465 style)', async () => {
  const peer = await startPeer({ secure: true });
  try {
    const run = await deliver(`[127.0.0.1]:${peer.port}`, ['smtp_tls_wrappermode = yes', 'smtp_tls_security_level = encrypt', 'smtp_tls_loglevel = 1', `smtp_tls_CAfile = ${certFile}`]);
    assert.deepEqual(tlsLines(run.lines), golden.filter((l) => l.startsWith('Trusted')));
    assert.match(delivery(run.lines)[0], /dsn=2\.0\.0, status=sent/);
    assert.deepEqual(peer.secure, [true]);
  } finally {
    await peer.close();
  }
});

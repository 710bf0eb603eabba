/**
 * tls_units - the pure parts of client-certificate handling: fingerprint
 * encoding, hex decoding as Postfix hex_decode_opt(), certificate names
 * (CommonName, issuer CN falling back to O), X509_NAME_oneline, the
 * Received: comment sanitizer, and the compatibility note of the md5
 * fingerprint default.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certFprint, digestEncode, hexDecodeOpt, pkeyFprint, fprintCompatText, validDigest, digestLength } from '../../src/tls/tls_fprint.js';
import { caCerts, issuerCN, nameOneline, peerCN, verifyErrorText, NO_PEER_CERT } from '../../src/tls/tls_verify.js';
import { commentSanitize } from '../../src/smtpd/smtpd_data.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { parsePolicy } from '../../src/smtp/smtp_tls.js';
import { helloKeyExchange } from '../../src/tls/tls_misc.js';
import { createServer } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

let work: string;
let caCert: X509Certificate;
let leaf: X509Certificate;

before(() => {
  work = mkdtempSync(join(tmpdir(), 'tls-units-'));
  const f = (n: string) => join(work, n);
  // a CA without CommonName (issuer CN falls back to the Organization), and a leaf without CN but with a DNS name
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/C=DE/O=Org Only CA'], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/O=Leaf Org'], { stdio: 'ignore' });
  writeFileSync(f('ext'), 'subjectAltName=DNS:leaf.example.test\n');
  execFileSync('openssl', ['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '2', '-extfile', f('ext')], { stdio: 'ignore' });
  caCert = new X509Certificate(readFileSync(f('ca.pem')));
  leaf = new X509Certificate(readFileSync(f('leaf.pem')));
});

after(() => rmSync(work, { recursive: true, force: true }));

test('fingerprints: uppercase hex pairs joined by colons, of the DER certificate and of its public key', () => {
  assert.equal(digestEncode(Buffer.from([0x0a, 0xff, 0x00])), '0A:FF:00');
  assert.equal(certFprint(leaf, 'sha256'), leaf.fingerprint256);
  assert.equal(certFprint(leaf, 'md5'), digestEncode(createHash('md5').update(leaf.raw).digest()));
  const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  assert.equal(pkeyFprint(leaf, 'SHA256'), digestEncode(createHash('sha256').update(spki).digest()));
  assert.equal(validDigest('sha256'), true);
  assert.equal(validDigest('nosuchdigest'), false);
  assert.equal(digestLength('sha256'), 32);
  assert.equal(digestLength('md5'), 16);
});

test('hexDecodeOpt: hex pairs with or without single colons', () => {
  assert.deepEqual(hexDecodeOpt('AB:cd:01'), Buffer.from([0xab, 0xcd, 0x01]));
  assert.deepEqual(hexDecodeOpt('abcd01'), Buffer.from([0xab, 0xcd, 0x01]));
  assert.equal(hexDecodeOpt('AB::CD'), null);
  assert.equal(hexDecodeOpt('ABC'), null);
  assert.equal(hexDecodeOpt('XY'), null);
  assert.equal(hexDecodeOpt(''), null);
});

test('names: subject CN (none: empty), issuer CN else O, X509_NAME_oneline form', () => {
  assert.equal(peerCN(leaf), '');
  assert.equal(peerCN(caCert), '');
  assert.equal(issuerCN(leaf), 'Org Only CA');
  assert.equal(nameOneline(caCert.subject), '/C=DE/O=Org Only CA');
  assert.equal(nameOneline('C=US\nO=Test CA\nCN=Test Root CA'), '/C=US/O=Test CA/CN=Test Root CA');
});

test('verification failures in Postfix words', () => {
  const info = { ...NO_PEER_CERT, present: true, issuer: '/O=X' };
  assert.equal(verifyErrorText({ ...info, error: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'h[1.2.3.4]', 'client'), 'certificate verification failed for h[1.2.3.4]: self-signed certificate');
  assert.equal(verifyErrorText({ ...info, error: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }, 'h[1.2.3.4]', 'client'), 'certificate verification failed for h[1.2.3.4]: untrusted issuer /O=X');
  assert.equal(verifyErrorText({ ...info, error: 'CERT_HAS_EXPIRED' }, 'h[1.2.3.4]', 'client'), 'client certificate verification failed for h[1.2.3.4]: certificate has expired');
  assert.equal(verifyErrorText({ ...info, error: '' }, 'h[1.2.3.4]', 'client'), '');
});

test('Received: comment text: printable ASCII, no backslash, balanced parentheses', () => {
  assert.equal(commentSanitize('client.example.test'), 'client.example.test');
  assert.equal(commentSanitize('a\\b'), 'a?b');
  assert.equal(commentSanitize('x)y(z'), 'x?y(z)');
  assert.equal(commentSanitize('tab\there'), 'tab?here');
  assert.equal(commentSanitize('Müller'), 'M??ller');
});

test('md5 fingerprints below compatibility level 3.6 come with Postfix note', () => {
  const dir = mkdtempSync(join(work, 'cf-'));
  writeFileSync(join(dir, 'main.cf'), 'compatibility_level = 3.5\n');
  const old = MailConfig.load(dir);
  assert.equal(old.str('smtpd_tls_fingerprint_digest'), 'md5');
  assert.equal(fprintCompatText(old, 'smtpd_tls_fingerprint_digest'), 'using backwards-compatible default setting smtpd_tls_fingerprint_digest=md5 to compute certificate fingerprints');
  writeFileSync(join(dir, 'main.cf'), 'compatibility_level = 3.5\nsmtpd_tls_fingerprint_digest = sha1\n');
  assert.equal(fprintCompatText(MailConfig.load(dir), 'smtpd_tls_fingerprint_digest'), null);
  writeFileSync(join(dir, 'main.cf'), 'compatibility_level = 3.7\n');
  assert.equal(fprintCompatText(MailConfig.load(dir), 'smtp_tls_fingerprint_digest'), null);
});

test('smtp_tls_policy_maps: fingerprint match= lists are "|"-separated and add up; main.cf list otherwise', () => {
  const dir = mkdtempSync(join(work, 'cf-'));
  writeFileSync(join(dir, 'main.cf'), 'smtp_tls_fingerprint_cert_match = AA:BB, CC:DD\n  EE:FF\n');
  const config = MailConfig.load(dir);
  assert.deepEqual(parsePolicy('fingerprint match=01:02|03:04 match=05:06', config, 'smtp'), { level: 'fingerprint', match: ['01:02', '03:04', '05:06'] });
  assert.deepEqual(parsePolicy('fingerprint', config, 'smtp'), { level: 'fingerprint', match: ['AA:BB', 'CC:DD', 'EE:FF'] });
  assert.deepEqual(parsePolicy('secure match=a.example:b.example', config, 'smtp')?.match, ['a.example', 'b.example']);
});

/** clientHello - the first bytes a Node TLS client sends (its ClientHello record). */
async function clientHello(opts: { ecdhCurve?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }): Promise<Buffer> {
  let resolveHello!: (b: Buffer) => void;
  const got = new Promise<Buffer>((r) => (resolveHello = r));
  const srv = createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
        resolveHello(buf);
        sock.destroy();
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  const t = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
  t.on('error', () => undefined);
  const hello = await got;
  t.destroy();
  await new Promise<void>((r) => srv.close(() => r()));
  return hello;
}

test('the server key exchange is predicted from the ClientHello as OpenSSL chooses it', async () => {
  assert.equal(helloKeyExchange(await clientHello({})), ' key-exchange X25519');
  assert.equal(helloKeyExchange(await clientHello({ ecdhCurve: 'P-256' })), ' key-exchange ECDHE (prime256v1)');
  assert.equal(helloKeyExchange(await clientHello({ ecdhCurve: 'P-384:X25519' })), ' key-exchange ECDHE (secp384r1)');
  assert.equal(helloKeyExchange(Buffer.from([0x16, 3, 1, 0, 4, 1, 0, 0, 40])), '');
  assert.equal(helloKeyExchange(Buffer.from('EHLO x\r\n')), '');
});

test('caCerts: the CAfile, then CApath files named *.pem, *.crt or hashed (*.0, *.10) in name order; others ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cacerts-'));
  try {
    const path = join(dir, 'path');
    mkdirSync(path);
    writeFileSync(join(dir, 'file.pem'), 'F');
    for (const [name, text] of [['b.crt', 'B'], ['a.pem', 'A'], ['1234abcd.0', 'H0'], ['1234abcd.10', 'H10'], ['README', 'no'], ['c.key', 'no']]) writeFileSync(join(path, name), text);
    assert.deepEqual(caCerts(join(dir, 'file.pem'), path).map(String), ['F', 'H0', 'H10', 'A', 'B']);
    assert.deepEqual(caCerts('', ''), []);
    assert.throws(() => caCerts(join(dir, 'missing.pem'), ''), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

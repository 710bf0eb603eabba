/**
 * smtp_own_smtpd.test - our smtp(8) client delivers to our own smtpd(8)
 * (the smtpd test fixture, with STARTTLS and a test certificate):
 * STARTTLS at smtp_tls_security_level = encrypt, the message arrives with
 * "with ESMTPS" in its Received: header, and both sides log their TLS line.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFixture, waitFor } from '../smtpd/harness.js';
import { SmtpAgent } from '../../src/smtp/smtp.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent } from '../delivery/queue_fixture.js';

const here = dirname(fileURLToPath(import.meta.url));
const golden = join(here, '..', '..', '..', 'test', 'smtpd', 'golden');

test('smtp client -> our smtpd with STARTTLS (encrypt): delivered over TLS', async () => {
  const fx = await startFixture('smtpd_tls_security_level = may\nsmtpd_tls_cert_file = ${config_directory}/cert.pem\nsmtpd_tls_key_file = ${config_directory}/key.pem\nsmtpd_tls_loglevel = 1', {
    tables: { 'cert.pem': readFileSync(join(golden, 'tls-test-cert.pem'), 'utf8'), 'key.pem': readFileSync(join(golden, 'tls-test-key.pem'), 'utf8') },
  });
  const inst = makeInstance(['smtp_tls_security_level = encrypt', 'smtp_tls_loglevel = 1', 'smtp_connection_cache_on_demand = no', 'smtp_helo_name = client.example.test'].join('\n'));
  try {
    const agent = new SmtpAgent(inst.config, 'smtp');
    const server = await serveAgent(inst, 'smtp', (s) => agent.service(s));
    try {
      const rs = [{ address: 'root@mail.example.test' }];
      const file = buildQueueFile('alice@example.org', rs, ['Subject: over tls', '', 'hello']);
      placeQueueFile(inst, 'C0FFEE', file);
      const reply = await deliverVia(inst, 'smtp', requestFor('C0FFEE', file, 'alice@example.org', rs, `[127.0.0.1]:${fx.port}`));
      assert.equal(reply.status, 0);
    } finally {
      server.close();
    }
    await waitFor(() => fx.logs.some((l) => l.startsWith('disconnect from')), 'disconnect');
    const ours = fx.logs.filter((l) => / TLS connection established to /.test(l));
    assert.equal(ours.length, 1, fx.logs.join('\n'));
    assert.match(ours[0], /^Untrusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.3 with cipher TLS_\S+ \(\d+\/\d+ bits\) key-exchange \S+ server-signature /);
    assert.ok(fx.logs.some((l) => / TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.3 /.test(l)), fx.logs.join('\n'));
    assert.ok(fx.logs.some((l) => /^C0FFEE: to=<root@mail\.example\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 2\.0\.0 Ok: queued as [0-9A-F]+\)$/.test(l)), fx.logs.join('\n'));
    assert.equal(fx.messages.length, 1);
    const norm = fx.messages[0].records.filter((r) => r.type === 'N').map((r) => r.data);
    assert.ok(norm.some((l) => /with ESMTPS id [0-9A-F]+$/.test(l)), norm.join('\n'));
  } finally {
    inst.cleanup();
    await fx.close();
  }
});

/**
 * verify - reject_unverified_sender / reject_unverified_recipient against
 * the real verify service in a whole instance (verify sends probes that
 * the local agent answers), and permit_mx_backup against a loopback test
 * DNS server. Reply texts are those of Postfix 3.7.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestInstance } from '../helpers/instance.js';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { RawClient, startFixture } from './harness.js';
import { VStream } from '../../src/util/vstream.js';
import { attrSendProtocol, readAttrs, sendAttrs } from '../../src/util/attr.js';

/** settle - repeat a command while its answer says the verification is still under way. */
async function settle(c: RawClient, line: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const reply = await c.cmd(line);
    if (!reply.includes('Address verification in progress')) return reply;
    await sleep(100);
  }
  throw new Error(`address verification did not finish for: ${line}`);
}

test('reject_unverified_sender and reject_unverified_recipient with the verify service', async () => {
  const inst = await TestInstance.create({
    name: 'smtpd-verify',
    main: {
      address_verify_poll_count: '1',
      smtpd_sender_restrictions: 'reject_unverified_sender',
      smtpd_recipient_restrictions: 'reject_unverified_recipient, permit_mynetworks, reject_unauth_destination',
      unverified_sender_reject_code: '550',
    },
  });
  after(() => inst.cleanup());
  await inst.start();
  try {
    const user = inst.accounts.mailOwner;
    const c = await RawClient.connect(inst.smtpPort);
    await c.replies(1);
    assert.equal(await c.cmd('HELO client.example'), '250 mail.example.test\r\n');
    assert.equal(await c.cmd(`MAIL FROM:<${user}@mail.example.test>`), '250 2.1.0 Ok\r\n');
    // the first query starts a probe; poll count 1 answers at once
    assert.equal(
      await c.cmd(`RCPT TO:<${user}@mail.example.test>`),
      `450 4.1.7 <${user}@mail.example.test>: Sender address rejected: unverified address: Address verification in progress\r\n`,
    );
    // once the sender is known good, the recipient is probed in turn
    assert.equal(
      await settle(c, 'RCPT TO:<nosuchuser@mail.example.test>'),
      '450 4.1.1 <nosuchuser@mail.example.test>: Recipient address rejected: unverified address: unknown user: "nosuchuser"\r\n',
    );
    assert.equal(await settle(c, `RCPT TO:<${user}@mail.example.test>`), '250 2.1.5 Ok\r\n');
    // a bounced sender with a 5xx unverified_sender_reject_code
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Ok\r\n');
    assert.equal(await c.cmd('MAIL FROM:<nosuch@mail.example.test>'), '250 2.1.0 Ok\r\n');
    assert.equal(
      await settle(c, `RCPT TO:<${user}@mail.example.test>`),
      '550 5.1.7 <nosuch@mail.example.test>: Sender address rejected: undeliverable address: unknown user: "nosuch"\r\n',
    );
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye\r\n');
    c.close();
    const log = inst.readLog();
    assert.match(
      log,
      /postfix\/smtpd\[\d+\]: NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 450 4\.1\.1 <nosuchuser@mail\.example\.test>: Recipient address rejected: unverified address: unknown user: "nosuchuser"; from=<[^>]+> to=<nosuchuser@mail\.example\.test> proto=SMTP helo=<client\.example>/,
    );
  } finally {
    await inst.stop();
  }
});

test('reject_unverified_recipient: the verify service reports a failure', async () => {
  const fx = await startFixture(
    [
      'smtpd_recipient_restrictions = reject_unverified_recipient, permit_mynetworks, reject_unauth_destination',
      'address_verify_poll_count = 1',
      'unverified_recipient_tempfail_action = defer',
    ].join('\n'),
  );
  // a verify service on the real private/verify socket that answers VRFY_STAT_FAIL
  const queries: string[] = [];
  const server = createServer((sock) => {
    const stream = new VStream(sock, { timeout: 5000 });
    void (async () => {
      attrSendProtocol(stream, 'address_verify_protocol');
      await stream.flush();
      const req = await readAttrs(stream);
      if (req !== null) {
        queries.push(`${req.get('request')} ${req.get('address')}`);
        sendAttrs(stream, [['status', -1], ['recipient_status', 3], ['reason', '']]);
        await stream.flush();
      }
      stream.close();
    })();
  });
  await new Promise<void>((r) => server.listen(join(fx.dir, 'spool', 'private', 'verify'), r));
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    await c.cmd('HELO client.example');
    await c.cmd('MAIL FROM:<a@example.org>');
    assert.equal(
      await c.cmd('RCPT TO:<root@mail.example.test>'),
      '450 4.1.1 <root@mail.example.test>: Recipient address rejected: address verification problem\r\n',
    );
    c.close();
    assert.deepEqual(queries, ['query root@mail.example.test']);
    assert.ok(fx.logs.some((l) => /warning: verify service failure/.test(l)), fx.logs.join('\n'));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    await fx.close();
  }
});

test('permit_mx_backup and permit_mx_backup_networks against a local test DNS server', async () => {
  const { TestDnsServer } = await import('./dns_server.js');
  const { promises: dns } = await import('node:dns');
  const { setDnsResolver } = await import('../../src/smtpd/smtpd_check.js');
  const zone = {
    // this host (127.0.0.1) is a backup MX; the primary is elsewhere
    'backup.example': { MX: [[10, 'mx1.other.example'], [20, 'me.example']] as Array<[number, string]> },
    // this host is the primary MX
    'primary.example': { MX: [[10, 'me.example'], [20, 'mx1.other.example']] as Array<[number, string]> },
    // no MX of this host at all
    'stranger.example': { MX: [[10, 'mx1.other.example']] as Array<[number, string]> },
    'me.example': { A: ['127.0.0.1'] },
    'mx1.other.example': { A: ['192.0.2.10'] },
  };
  const server = new TestDnsServer(zone);
  await server.start();
  const r = new dns.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${server.port}`]);
  setDnsResolver(r);
  const relayDenied = (d: string) => `554 5.7.1 <u@${d}>: Relay access denied\r\n`;
  try {
    const fx = await startFixture('smtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination\nmynetworks = 10.9.9.0/24');
    try {
      const c = await RawClient.connect(fx.port);
      await c.replies(1);
      await c.cmd('HELO client.example');
      await c.cmd('MAIL FROM:<a@example.org>');
      assert.equal(await c.cmd('RCPT TO:<u@backup.example>'), '250 2.1.5 Ok\r\n');
      assert.equal(await c.cmd('RCPT TO:<u@primary.example>'), relayDenied('primary.example'));
      assert.equal(await c.cmd('RCPT TO:<u@stranger.example>'), relayDenied('stranger.example'));
      assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
      c.close();
    } finally {
      await fx.close();
    }
    // the primary MX must be inside permit_mx_backup_networks
    const fx2 = await startFixture(
      'smtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination\nmynetworks = 10.9.9.0/24\npermit_mx_backup_networks = 198.51.100.0/24',
    );
    try {
      const c = await RawClient.connect(fx2.port);
      await c.replies(1);
      await c.cmd('HELO client.example');
      await c.cmd('MAIL FROM:<a@example.org>');
      assert.equal(await c.cmd('RCPT TO:<u@backup.example>'), relayDenied('backup.example'));
      c.close();
    } finally {
      await fx2.close();
    }
    const fx3 = await startFixture(
      'smtpd_relay_restrictions = permit_mx_backup, reject_unauth_destination\nmynetworks = 10.9.9.0/24\npermit_mx_backup_networks = 192.0.2.0/24',
    );
    try {
      const c = await RawClient.connect(fx3.port);
      await c.replies(1);
      await c.cmd('HELO client.example');
      await c.cmd('MAIL FROM:<a@example.org>');
      assert.equal(await c.cmd('RCPT TO:<u@backup.example>'), '250 2.1.5 Ok\r\n');
      c.close();
    } finally {
      await fx3.close();
    }
    // local and relay_domains destinations are permitted as by permit_auth_destination
    const fx4 = await startFixture('smtpd_relay_restrictions = permit_mx_backup, reject\nmynetworks = 10.9.9.0/24\nrelay_domains = relayed.example');
    try {
      const c = await RawClient.connect(fx4.port);
      await c.replies(1);
      await c.cmd('HELO client.example');
      await c.cmd('MAIL FROM:<a@example.org>');
      assert.equal(await c.cmd('RCPT TO:<u@relayed.example>'), '250 2.1.5 Ok\r\n');
      assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
      assert.equal(await c.cmd('RCPT TO:<u@stranger.example>'), '554 5.7.1 <u@stranger.example>: Recipient address rejected: Access denied\r\n');
      c.close();
    } finally {
      await fx4.close();
    }
  } finally {
    server.stop();
    setDnsResolver(new dns.Resolver());
  }
});

test('reject_multi_recipient_bounce at RCPT (the DATA form is in the golden dialogues)', async () => {
  const fx = await startFixture(
    [
      'smtpd_recipient_restrictions = reject_multi_recipient_bounce, permit_mynetworks, reject_unauth_destination',
      'smtpd_data_restrictions = reject_multi_recipient_bounce',
    ].join('\n'),
  );
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    await c.cmd('HELO client.example');
    assert.equal(await c.cmd('MAIL FROM:<>'), '250 2.1.0 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    assert.equal(
      await c.cmd('RCPT TO:<postmaster@mail.example.test>'),
      '550 5.5.3 <postmaster@mail.example.test>: Recipient address rejected: Multi-recipient bounce\r\n',
    );
    // a non-null sender may have many recipients
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Ok\r\n');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<postmaster@mail.example.test>'), '250 2.1.5 Ok\r\n');
    c.close();
    assert.ok(
      fx.logs.some((l) => l.includes('reject: RCPT from localhost[127.0.0.1]: 550 5.5.3 <postmaster@mail.example.test>: Recipient address rejected: Multi-recipient bounce; from=<> to=<postmaster@mail.example.test> proto=SMTP helo=<client.example>')),
      fx.logs.join('\n'),
    );
  } finally {
    await fx.close();
  }
});

/** anvil - connection count/rate limits enforced by smtpd through the anvil service, and anvil's own bookkeeping. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, RawClient, waitFor } from './harness.js';
import { AnvilState } from '../../src/anvil/anvil.js';
import { msgAddOutput } from '../../src/util/msg.js';

test('smtpd_client_connection_count_limit: the second parallel connection gets 421', async () => {
  const fx = await startFixture('smtpd_client_event_limit_exceptions =\nsmtpd_client_connection_count_limit = 1');
  try {
    const a = await RawClient.connect(fx.port);
    assert.equal(await a.replies(1), '220 mail.example.test ESMTP Postfix\r\n');
    const b = await RawClient.connect(fx.port);
    assert.equal(await b.replies(1), '421 4.7.0 mail.example.test Error: too many connections from 127.0.0.1\r\n');
    await b.waitClose();
    await waitFor(() => fx.logs.some((l) => l.includes('Connection concurrency limit exceeded')), 'warning');
    assert.ok(fx.logs.includes('warning: Connection concurrency limit exceeded: 2 from localhost[127.0.0.1] for service smtp'));
    assert.equal(await a.cmd('QUIT'), '221 2.0.0 Bye\r\n');
    await a.waitClose();
    await waitFor(() => fx.logs.filter((l) => l.startsWith('disconnect from')).length === 2, 'two disconnects');
    // the first connection is gone: a new one is served again
    const c = await RawClient.connect(fx.port);
    assert.equal(await c.replies(1), '220 mail.example.test ESMTP Postfix\r\n');
    c.close();
  } finally {
    await fx.close();
  }
});

test('smtpd_client_message_rate_limit and recipient rate limit', async () => {
  const fx = await startFixture('smtpd_client_event_limit_exceptions =\nsmtpd_client_message_rate_limit = 2\nsmtpd_client_recipient_rate_limit = 1');
  try {
    const c = await RawClient.connect(fx.port);
    await c.replies(1);
    await c.cmd('EHLO x.example.org');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<postmaster@mail.example.test>'), '450 4.7.1 Error: too many recipients from 127.0.0.1\r\n');
    await c.cmd('RSET');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '250 2.1.0 Ok\r\n');
    await c.cmd('RSET');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '450 4.7.1 Error: too much mail from 127.0.0.1\r\n');
    assert.ok(fx.logs.includes('warning: Message delivery request rate limit exceeded: 3 from localhost[127.0.0.1] for service smtp'));
    c.close();
  } finally {
    await fx.close();
  }
});

test('anvil: counts, rates within the time unit, statistics lines', () => {
  let now = 1_000_000;
  const st = new AnvilState(60, () => now);
  assert.deepEqual(st.connect('smtp:192.0.2.1'), { count: 1, rate: 1 });
  assert.deepEqual(st.connect('smtp:192.0.2.1'), { count: 2, rate: 2 });
  st.disconnect('smtp:192.0.2.1');
  assert.deepEqual(st.connect('smtp:192.0.2.1'), { count: 2, rate: 3 });
  assert.equal(st.event('smtp:192.0.2.1', 'mail'), 1);
  now += 61;
  assert.deepEqual(st.connect('smtp:192.0.2.1'), { count: 3, rate: 1 });
  assert.equal(st.event('smtp:192.0.2.1', 'mail'), 1);
  const lines: string[] = [];
  const remove = msgAddOutput((_s, t) => lines.push(t));
  try {
    st.statusDump();
  } finally {
    remove();
    st.stop();
  }
  assert.equal(lines.length, 4);
  assert.match(lines[0], /^statistics: max connection rate 3\/60s for \(smtp:192\.0\.2\.1\) at [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/);
  assert.match(lines[1], /^statistics: max connection count 3 for \(smtp:192\.0\.2\.1\) at /);
  assert.match(lines[2], /^statistics: max message delivery rate 1\/60s for \(smtp:192\.0\.2\.1\) at /);
  assert.match(lines[3], /^statistics: max cache size 1 at /);
});

/** session - byte-exact SMTP conversations with smtpd over loopback TCP (replies checked against Postfix 3.7). */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, RawClient, waitFor } from './harness.js';

test('greeting, EHLO keywords, basic transaction and Received header', async () => {
  const fx = await startFixture();
  try {
    const c = await RawClient.connect(fx.port);
    assert.equal(await c.replies(1), '220 mail.example.test ESMTP Postfix\r\n');
    assert.equal(
      await c.cmd('EHLO client.example.org'),
      '250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n' +
        '250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n',
    );
    assert.equal(await c.cmd('HELO'), '501 Syntax: HELO hostname\r\n');
    assert.equal(await c.cmd('EHLO'), '501 Syntax: EHLO hostname\r\n');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org> SIZE=100000000'), '552 5.3.4 Message size exceeds fixed limit\r\n');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org>'), '552 5.3.4 Message size exceeds fixed limit\r\n');
    assert.equal(await c.cmd('RSET'), '250 2.0.0 Ok\r\n');
    assert.equal(await c.cmd('MAIL FROM:<a@example.org> FOO=bar'), '555 5.5.4 Unsupported option: FOO=bar\r\n');
    assert.equal(await c.cmd('RCPT TO:<x@y>'), '503 5.5.1 Error: need MAIL command\r\n');
    assert.equal(await c.cmd('MAIL FROM:<a@b@c>'), '250 2.1.0 Ok\r\n');
    assert.equal(await c.cmd('RCPT TO:<u@elsewhere.test>'), '250 2.1.5 Ok\r\n');
    assert.equal(
      await c.cmd('RCPT TO:<nouser@mail.example.test>'),
      '550 5.1.1 <nouser@mail.example.test>: Recipient address rejected: User unknown in local recipient table\r\n',
    );
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test> NOTIFY=BAD'), '501 5.5.4 Error: Bad NOTIFY parameter syntax\r\n');
    assert.equal(await c.cmd('RCPT TO:<root@mail.example.test>'), '250 2.1.5 Ok\r\n');
    assert.equal(await c.cmd('DATA'), '354 End data with <CR><LF>.<CR><LF>\r\n');
    c.send('Subject: t\r\n\r\nhello\r\n..dot\r\n.\r\n');
    const queued = await c.replies(1);
    assert.match(queued, /^250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n$/);
    assert.equal(await c.cmd('VRFY root'), '252 2.0.0 root\r\n');
    assert.equal(await c.cmd('VRFY'), '501 5.5.4 Syntax: VRFY address [SMTPUTF8]\r\n');
    assert.equal(await c.cmd('ETRN'), '500 Syntax: ETRN domain\r\n');
    assert.equal(await c.cmd('ETRN example.test'), '459 <example.test>: service unavailable\r\n');
    assert.equal(await c.cmd('HELP'), '500 5.5.2 Error: command not recognized\r\n');
    assert.equal(await c.cmd('STARTTLS'), '502 5.5.1 Error: command not implemented\r\n');
    assert.equal(await c.cmd('AUTH PLAIN'), '503 5.5.1 Error: authentication not enabled\r\n');
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 Ok\r\n');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye\r\n');
    await c.waitClose();
    await waitFor(() => fx.logs.some((l) => l.startsWith('disconnect from')), 'disconnect log');
    assert.ok(fx.logs.includes('connect from localhost[127.0.0.1]'), fx.logs.join('\n'));
    assert.ok(
      fx.logs.includes(
        'disconnect from localhost[127.0.0.1] helo=0/1 ehlo=1/2 starttls=0/1 auth=0/1 mail=1/4 rcpt=2/5 data=1 rset=1 noop=1 vrfy=1/2 etrn=0/2 quit=1 unknown=0/1 commands=9/23',
      ),
      fx.logs.join('\n'),
    );
    const id = queued.slice('250 2.0.0 Ok: queued as '.length, -2);
    assert.ok(fx.logs.includes(`${id}: client=localhost[127.0.0.1]`));
    assert.ok(
      fx.logs.includes(
        `${id}: reject: RCPT from localhost[127.0.0.1]: 550 5.1.1 <nouser@mail.example.test>: Recipient address rejected: User unknown in local recipient table; from=<"a@b"@c> to=<nouser@mail.example.test> proto=ESMTP helo=<client.example.org>`,
      ),
      fx.logs.join('\n'),
    );
    assert.ok(fx.logs.includes('NOQUEUE: reject: MAIL from localhost[127.0.0.1]: 552 5.3.4 Message size exceeds fixed limit; from=<a@example.org> proto=ESMTP helo=<client.example.org>'));
    assert.ok(fx.logs.includes('warning: unknown DSN NOTIFY command value "BAD" in "BAD"'));
    assert.ok(fx.logs.includes('warning: reject: ETRN example.test... from localhost[127.0.0.1]'));
    assert.equal(fx.messages.length, 1);
    const m = fx.messages[0];
    assert.equal(m.queueId, id);
    assert.equal(m.flags, 242); // FILTER|MILTER|BCC_OK|MAP_OK|SMTP_REPLY
    const types = m.records.map((r) => r.type).join('');
    assert.match(types, /^TAAS(A)+ARARMN{7}XE$/);
    const norm = m.records.filter((r) => r.type === 'N').map((r) => r.data);
    assert.equal(norm[0], 'Received: from client.example.org (localhost [127.0.0.1])');
    assert.equal(norm[1], `\tby mail.example.test (Postfix) with ESMTP id ${id};`);
    assert.match(norm[2], /^\t\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}( \(\w+\))?$/);
    assert.deepEqual(norm.slice(3), ['Subject: t', '', 'hello', '.dot']);
    assert.equal(m.records.find((r) => r.type === 'S')?.data, 'a@b@c');
    assert.deepEqual(
      m.records.filter((r) => r.type === 'R').map((r) => r.data),
      ['u@elsewhere.test', 'root@mail.example.test'],
    );
    assert.ok(m.records.some((r) => r.type === 'A' && r.data === 'dsn_orig_rcpt=rfc822;root@mail.example.test'));
    const attrs = m.records.filter((r) => r.type === 'A').map((r) => r.data);
    assert.deepEqual(attrs.slice(0, 2), [`log_ident=${id}`, 'rewrite_context=local']);
    for (const want of ['log_client_name=localhost', 'log_client_address=127.0.0.1', 'log_message_origin=localhost[127.0.0.1]',
      'log_helo_name=client.example.org', 'log_protocol_name=ESMTP', 'client_name=localhost', 'client_address=127.0.0.1',
      'helo_name=client.example.org', 'protocol_name=ESMTP', 'client_address_type=2']) {
      assert.ok(attrs.includes(want), want);
    }
  } finally {
    await fx.close();
  }
});

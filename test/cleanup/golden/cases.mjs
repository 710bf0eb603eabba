// Input cases for cleanup, each an array of [type, data]; 'QUEUEID' is replaced by the queue id.
const T = ['T', '1795557895 123456'];
const smtpEnv = (rcpts, ctx = 'local', sender = 's@example.org') => [
  T, ['A', 'log_ident=QUEUEID'], ['A', `rewrite_context=${ctx}`], ['S', sender],
  ['A', 'log_client_name=localhost'], ['A', 'log_client_address=127.0.0.1'], ['A', 'log_message_origin=localhost[127.0.0.1]'],
  ['A', 'log_helo_name=vm'], ['A', 'log_protocol_name=ESMTP'],
  ...rcpts.map((r) => ['R', r]),
];
const rcvd = [['N', 'Received: from vm (localhost [127.0.0.1])'], ['N', '\tby mail.example.test (Postfix) with ESMTP id QUEUEID'], ['N', '\tfor <x@example.org>; Tue, 24 Nov 2026 22:04:55 +0000 (UTC)']];
const msg = (env, headers, body, extra = []) => [...env, ['M', ''], ...rcvd, ...headers.map((h) => ['N', h]), ['N', ''], ...body.map((b) => ['N', b]), ['X', ''], ...extra, ['E', '']];
export const cases = {
  'long-lines': [...smtpEnv(['r@example.org']), ['M', ''], ...rcvd, ['N', 'Subject: ' + 'y'.repeat(3000)], ['N', 'X-Folded: a'], ['N', '\tb'], ['N', ''], ['L', 'a'.repeat(2048)], ['L', 'b'.repeat(2048)], ['N', 'c'.repeat(100)], ['N', 'd'.repeat(5000)], ['X', ''], ['E', '']],
  'header-rewrite': msg(smtpEnv(['r@example.org']), ['From: "Old Name" <old@example.org>', 'To: bare, other@sub.masq.example,', ' "quoted user"@olddomain.example (comment), Group: g1, g2@x.example;', 'Cc: <@route.example:user@olddomain.example>', 'Reply-To: old@example.org', 'Subject: rewrite'], ['body']),
  'remote-context': msg(smtpEnv(['r@example.org'], 'remote'), ['From: bare', 'To: user@host'], ['body']),
  'resent': msg(smtpEnv(['r@example.org']), ['From: a@example.org', 'Message-Id: <m1@example.org>', 'Date: Mon, 1 Jan 2024 00:00:00 +0000', 'Resent-From: b@example.org', 'Resent-To: c@example.org'], ['body']),
  'fullname': [T, ['A', 'rewrite_context=local'], ['F', 'Joe (x) Blow, Jr.'], ['S', 'joe@example.test'], ['R', 'r@example.org'], ['M', ''], ['N', 'Received: by mail.example.test (Postfix, from userid 0)'], ['N', 'Subject: fullname'], ['N', ''], ['N', 'b'], ['X', ''], ['E', '']],
  'fullname-plain': [T, ['A', 'rewrite_context=local'], ['F', 'Joe Blow'], ['S', 'joe@example.test'], ['R', 'r@example.org'], ['M', ''], ['N', 'Received: by mail.example.test (Postfix, from userid 0)'], ['N', ''], ['N', 'b'], ['X', ''], ['E', '']],
  'null-sender': msg(smtpEnv(['r@example.org'], 'local', ''), ['Subject: bounce'], ['b']),
  'no-headers': [...smtpEnv(['r@example.org']), ['M', ''], ...rcvd, ['N', 'this is not a header'], ['N', 'Subject: in body'], ['X', ''], ['E', '']],
  'no-body': [...smtpEnv(['r@example.org']), ['M', ''], ...rcvd, ['N', 'Subject: only headers'], ['X', ''], ['E', '']],
  'eightbit': msg(smtpEnv(['r@example.org']), ['Subject: 8bit', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], ['caf\xc3\xa9']),
  'dsn': [T, ['A', 'log_ident=QUEUEID'], ['A', 'rewrite_context=local'], ['A', 'envelope_id=ENV123'], ['A', 'ret_flags=2'], ['S', 's@example.org'],
    ['A', 'notify_flags=10'], ['A', 'dsn_orig_rcpt=rfc822;Orig@Example.org'], ['O', 'orig@example.org'], ['R', 'r@example.org'],
    ['R', 'r@example.org'], ['R', 'valias@example.test'], ['R', 'old@example.org'], ['R', 'user+ext@olddomain.example'],
    ['M', ''], ...rcvd, ['N', 'Subject: dsn'], ['N', ''], ['N', 'b'], ['X', ''], ['E', '']],
  'actions': msg(smtpEnv(['r@example.org']), ['Subject: replace me', 'X-Drop: x', 'X-Prepend: p', 'X-Bcc: b', 'X-Filter: f', 'X-Redirect: r'], ['replace body one', 'ignore body two', 'keep three']),
  'masquerade': msg(smtpEnv(['x@a.masq.example'], 'local', 'me@deep.sub.masq.example'), ['From: me@deep.sub.masq.example', 'To: x@a.masq.example'], ['b']),
  'reject': msg(smtpEnv(['r@example.org']), ['Subject: reject me'], ['b']),
  'reject-plain': msg(smtpEnv(['r@example.org']), ['Subject: reject plain'], ['b']),
  'defer': msg(smtpEnv(['r@example.org']), ['Subject: defer me'], ['b']),
  'discard': msg(smtpEnv(['r@example.org']), ['Subject: discard'], ['b']),
  'too-big': msg(smtpEnv(['r@example.org']), ['Subject: big'], Array.from({ length: 1500 }, () => 'z'.repeat(80))),
  'hops': msg(smtpEnv(['r@example.org']), Array.from({ length: 50 }, (_, i) => `Received: hop ${i}`), ['b']),
  'no-received': [...smtpEnv(['r@example.org']), ['M', ''], ['N', 'Subject: x'], ['N', ''], ['N', 'b'], ['X', ''], ['E', '']],
  'no-recipients': msg(smtpEnv([]), ['Subject: x'], ['b']),
  'no-sender': [T, ['R', 'r@example.org'], ['M', ''], ...rcvd, ['X', ''], ['E', '']],
  'bad-record': [T, ['S', 's@example.org'], ['Z', 'junk'], ['R', 'r@example.org'], ['M', ''], ...rcvd, ['X', ''], ['E', '']],
  'empty-attr': [T, ['A', 'log_ident='], ['S', 's@example.org'], ['R', 'r@example.org'], ['M', ''], ...rcvd, ['X', ''], ['E', '']],
  'utf8': msg(smtpEnv(['r\xc3\xa9@example.org'], 'local', 'j\xc3\xb6rg@example.org'), ['Subject: gr\xc3\xbc\xc3\x9fe', 'To: r\xc3\xa9@example.org'], ['b']),
  'utf8-auto': msg(smtpEnv(['r\xc3\xa9@example.org'], 'local', 's@example.org'), ['Subject: plain'], ['b']),
  'reject-char': msg(smtpEnv(['r@example.org']), ['Subject: ctl'], ['bad \x01 byte']),
  'strip-char': msg(smtpEnv(['r@example.org']), ['Subject: str\x02ip'], ['a\x02b\x7fc']),
  'bare-rcpt': msg(smtpEnv(['bareuser', 'host!user', 'user%other@mail.example.test']), ['To: bareuser'], ['b']),
};

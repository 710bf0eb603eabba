/**
 * Address helpers used by cleanup and trivial-rewrite: quote_822_local,
 * tok822 scanning/parsing/externalizing, header options, mail_date, and the
 * cleanup client's long-line splitting.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quote822Local, unquote822Local } from '../../src/global/quote_822_local.js';
import { tok822Externalize, tok822GrepAddr, tok822Internalize, tok822Parse, tok822Scan } from '../../src/global/tok822.js';
import { headerOptsFind, isHeaderLen, HDR, HDR_OPT } from '../../src/cleanup/cleanup_message.js';
import { mailDate } from '../../src/global/mail_date.js';
import { cleanupSmtpReply } from '../../src/global/cleanup_clnt.js';
import { CLEANUP_STAT, cleanupStatDetail, cleanupStrerror } from '../../src/global/cleanup_user.js';

test('quote_822_local / unquote_822_local', () => {
  const cases: Array<[string, string]> = [
    ['user@example.com', 'user@example.com'],
    ['first.last@example.com', 'first.last@example.com'],
    ['a b@example.com', '"a b"@example.com'],
    ['.lead@x', '".lead"@x'],
    ['trail.@x', '"trail."@x'],
    ['a..b@x', '"a..b"@x'],
    ['q"uote@x', '"q\\"uote"@x'],
    ['', '""'],
    ['user', 'user'],
    ['a@b@c', '"a@b"@c'],
    ['@r1,@r2:a b@x', '@r1,@r2:"a b"@x'],
    ['jörg@x', 'jörg@x'],
  ];
  for (const [internal, external] of cases) {
    assert.equal(quote822Local(internal), external, internal);
    assert.equal(unquote822Local(external), internal, external);
  }
});

test('tok822 scan and address-list parse', () => {
  const toks = tok822Scan('"Joe Q. Public" <joe(c)@[1.2.3.4]>');
  assert.deepEqual(
    toks.map((t) => t.type),
    ['qstring', '<', 'atom', 'comment', '@', 'domlit', '>'],
  );
  const tree = tok822Parse('"Joe" <joe@x.example>, bob@y.example (Bob), Group: a@g, b@g;, <>');
  assert.deepEqual(
    tok822GrepAddr(tree).map((a) => tok822Internalize(a.head ?? [])),
    ['joe@x.example', 'bob@y.example', 'a@g', 'b@g'],
  );
  assert.equal(tok822Externalize(tok822Parse('"a b"@x, c@d')), '"a b"@x, c@d');
  assert.equal(tok822Externalize(tok822Parse('x, y'), true), 'x,\ny');
});

test('header options, is_header, message_drop_headers', () => {
  const drop = new Set(['bcc', 'content-length', 'resent-bcc', 'return-path']);
  assert.equal(headerOptsFind('to: x', drop)?.type, HDR.TO);
  assert.equal(headerOptsFind('Bcc : x', drop)!.flags & HDR_OPT.DROP, HDR_OPT.DROP);
  assert.equal(headerOptsFind('X-Whatever: x', drop), null);
  assert.ok(isHeaderLen('Subject: x') > 0);
  assert.ok(isHeaderLen('Subject  : x') > 0);
  assert.equal(isHeaderLen('Sub ject: x'), 0);
  assert.equal(isHeaderLen(': x'), 0);
  assert.equal(isHeaderLen('From someone'), 0);
});

test('mail_date: RFC 2822 date with a space-padded day and the zone name', () => {
  const saved = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    assert.equal(mailDate(new Date(Date.UTC(2026, 10, 4, 9, 5, 7))), 'Wed,  4 Nov 2026 09:05:07 +0000 (UTC)');
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('cleanup status texts and SMTP replies (cleanup_strerror.c, smtpd.c)', () => {
  assert.equal(cleanupStrerror(CLEANUP_STAT.DEFER | CLEANUP_STAT.CONT), 'service unavailable');
  assert.equal(cleanupStatDetail(CLEANUP_STAT.RCPT).dsn, '5.1.0');
  assert.equal(cleanupSmtpReply(0, '', 'ABC'), '250 2.0.0 Ok: queued as ABC');
  assert.equal(cleanupSmtpReply(CLEANUP_STAT.CONT, '', 'ABC'), '550 5.7.1 Error: message content rejected');
  assert.equal(cleanupSmtpReply(CLEANUP_STAT.CONT, '5.7.1 no', 'ABC'), '550 5.7.1 no');
  assert.equal(cleanupSmtpReply(CLEANUP_STAT.DEFER, '', 'ABC'), '451 4.7.1 Error: service unavailable');
  assert.equal(cleanupSmtpReply(CLEANUP_STAT.WRITE, '', 'ABC'), '451 4.3.0 Error: queue file write error');
  assert.equal(cleanupSmtpReply(CLEANUP_STAT.SIZE | CLEANUP_STAT.WRITE, '', 'ABC'), '552 5.3.4 Error: message file too big');
  assert.equal(cleanupSmtpReply(CLEANUP_STAT.CONT, '554 5.7.1 milter says no', 'ABC'), '554 5.7.1 milter says no');
  assert.equal(
    cleanupSmtpReply(CLEANUP_STAT.BARE_LF, '', 'ABC', { myhostname: 'mx.example' }),
    '550 5.5.2 mx.example Error: bare <LF> received',
  );
});

test('time zone abbreviations come from the zone file, as strftime %Z', async () => {
  const { headerDate, parseTzif } = await import('../../src/util/tz_abbrev.js');
  const { existsSync, readFileSync } = await import('node:fs');
  const saved = process.env.TZ;
  try {
    process.env.TZ = 'UTC';
    assert.equal(headerDate(Date.UTC(2026, 6, 5, 12) / 1000), 'Sun,  5 Jul 2026 12:00:00 +0000 (UTC)');
    if (existsSync('/usr/share/zoneinfo/Europe/Berlin')) {
      assert.ok(parseTzif(readFileSync('/usr/share/zoneinfo/Europe/Berlin')));
      process.env.TZ = 'Europe/Berlin';
      assert.equal(headerDate(Date.UTC(2026, 0, 15, 12) / 1000), 'Thu, 15 Jan 2026 13:00:00 +0100 (CET)');
      assert.equal(headerDate(Date.UTC(2026, 6, 15, 12) / 1000), 'Wed, 15 Jul 2026 14:00:00 +0200 (CEST)');
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

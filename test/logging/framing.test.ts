/**
 * framing - log record formats against golden files, with a fixed clock:
 * postlogd records (Mmm dd HH:MM:SS host tag[pid]: text), syslog datagrams,
 * stderr lines, tags from syslog_name, and the rotate-suffix strftime.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatLoggerRecord, limitText, printable, MsgLogger } from '../../src/util/msg_logger.js';
import { formatSyslogRecord, syslogFacility } from '../../src/util/msg_syslog.js';
import { strftime, loggerTimestamp, syslogTimestamp } from '../../src/util/msg_time.js';
import { mailTask } from '../../src/global/maillog_client.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { GOLDEN } from './util.js';

/** golden - compare with (or, with UPDATE_GOLDEN=1, rewrite) a golden file. */
function golden(name: string, actual: string): void {
  const path = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN) writeFileSync(path, actual);
  assert.equal(actual, readFileSync(path, 'utf8'));
}

// Local-time constructors: the output is the same in every time zone.
const NOV5 = new Date(2026, 10, 5, 9, 3, 7);
const DEC24 = new Date(2026, 11, 24, 23, 59, 59);
const JAN1 = new Date(2027, 0, 1, 0, 0, 0);

test('postlogd record framing', () => {
  const lines: string[] = [];
  const rec = (d: Date, host: string, tag: string, pid: number, sev: Parameters<typeof limitText>[0], text: string) =>
    lines.push(formatLoggerRecord(d, host, tag, pid, limitText(sev, text)));
  rec(NOV5, 'mail.example.test', 'postfix/smtpd', 1234, 'info', 'connect from localhost[127.0.0.1]');
  rec(DEC24, 'mail.example.test', 'postfix/qmgr', 77, 'info', '3F2A1C0D2E: removed');
  rec(JAN1, 'singlelabel', 'postfix/postlog', 1, 'warning', 'warning: something odd');
  rec(NOV5, 'mx1.example.test', 'postfix/submission/smtpd', 99999, 'error', 'error: an error');
  rec(NOV5, 'mail.example.test', 'postfix/master', 5, 'fatal', 'fatal: bad thing');
  rec(NOV5, 'mail.example.test', 'postfix/master', 5, 'panic', 'panic: worse thing');
  rec(NOV5, 'mail.example.test', 'mytag', 42, 'info', 'tab\there newline\nthere cr\r bel\x07 del\x7f utf8 ü €');
  golden('framing.txt', lines.join('\n') + '\n');
});

test('records are cut at 2000 characters of text after the severity prefix', () => {
  const long = 'x'.repeat(2500);
  assert.equal(limitText('info', long).length, 2000);
  assert.equal(limitText('warning', 'warning: ' + long), 'warning: ' + 'x'.repeat(2000));
  assert.equal(limitText('info', 'short'), 'short');
});

test('syslog datagram framing', () => {
  const mail = syslogFacility('mail')!;
  const lines = [
    formatSyslogRecord(mail, 'info', 'postfix/smtpd', 1234, 'connect from localhost[127.0.0.1]', NOV5),
    formatSyslogRecord(mail, 'warning', 'postfix/smtpd', 1234, 'warning: hostname nosuch does not resolve', DEC24),
    formatSyslogRecord(mail, 'error', 'postfix/qmgr', 7, 'error: oops', JAN1),
    formatSyslogRecord(mail, 'fatal', 'postfix/qmgr', 7, 'fatal: no', NOV5),
    formatSyslogRecord(mail, 'panic', 'postfix/qmgr', 7, 'panic: bug', NOV5),
    formatSyslogRecord(syslogFacility('LOCAL3')!, 'info', 'postfix/postlog', 8, 'local3 text', NOV5),
  ];
  golden('syslog.txt', lines.join('\n') + '\n');
  assert.equal(syslogFacility('nosuch'), undefined);
});

test('time stamps: postlogd pads the day with 0, syslog(3) with a space', () => {
  assert.equal(loggerTimestamp(NOV5), 'Nov 05 09:03:07');
  assert.equal(syslogTimestamp(NOV5), 'Nov  5 09:03:07');
  assert.equal(loggerTimestamp(DEC24), 'Dec 24 23:59:59');
});

test('strftime for maillog_file_rotate_suffix', () => {
  assert.equal(strftime('%Y%m%d-%H%M%S', NOV5), '20261105-090307');
  assert.equal(strftime('%F.%T %e %j %y %b %a %% %q', NOV5), '2026-11-05.09:03:07  5 309 26 Nov Thu % %q');
  assert.equal(strftime('%s', new Date(1_000_000_000_000)), '1000000000');
});

test('printable replaces control characters and keeps UTF-8', () => {
  assert.equal(printable('a\tb\nc\x00d\x1be\x7ff ü'), 'a?b?c?d?e?f ü');
});

test('tags: $syslog_name/<process>, with -o syslog_name overrides', () => {
  const config = MailConfig.fromText('myhostname = mail.example.test\n');
  assert.equal(mailTask(config, 'smtpd'), 'postfix/smtpd');
  assert.equal(mailTask(config, '/usr/libexec/postfix/qmgr'), 'postfix/qmgr');
  config.override('syslog_name', 'postfix/submission');
  assert.equal(mailTask(config, 'smtpd'), 'postfix/submission/smtpd');
  const multi = MailConfig.fromText('multi_instance_name = postfix-out\n');
  assert.equal(mailTask(multi, 'smtp'), 'postfix-out/smtp');
  const named = MailConfig.fromText('syslog_name = ${multi_instance_name?{$multi_instance_name}:{mta}}\n');
  assert.equal(mailTask(named, 'cleanup'), 'mta/cleanup');
});

test('MsgLogger.format uses the injected clock and pid', () => {
  const logger = new MsgLogger({ progname: 'postfix/local', hostname: 'box.example', now: () => NOV5, pid: 31 });
  assert.equal(
    logger.format('warning', 'warning: mailbox full'),
    'Nov 05 09:03:07 box postfix/local[31]: warning: mailbox full',
  );
});

/**
 * master_cf: typed entries for master (defaults, -o forms, { } grouping,
 * inet names, duplicates, master's error texts) and postconf's normalised
 * printing (checked against postconf -M / -Mf of Postfix 3.7.11).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMasterCf, readMasterCf, MasterCfError, formatPcfEntry, parsePcfEntry, hostPort } from '../../src/global/master_cf.js';
import { logicalLines } from '../../src/global/mail_conf.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');

const TEXT = `# comment
smtp      inet  n       -       n       -       -       smtpd
127.0.0.1:2525 inet n   -       -       -       10      smtpd -v
  -o syslog_name=postfix/test
  -o { smtpd_banner = $myhostname hello there }
  -osmtpd_tls_security_level=may
pickup    unix  n       -       n       60      1       pickup
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
bsmtp     unix  -       n       n       -       -       pipe
  flags=Fq. user=bsmtp argv=/usr/bin/x { -a b } $recipient
postlog   unix-dgram n  -       n       -       1       postlogd
`;

test('parseMasterCf: typed entries with Postfix defaults', () => {
  const warnings: string[] = [];
  const e = parseMasterCf(TEXT, '/etc/postfix/master.cf', { warn: (t) => warnings.push(t), defaultProcessLimit: 100 });
  assert.deepEqual(warnings, []);
  assert.equal(e.length, 6);
  const [smtp, test2525, pickup, tlsmgr, bsmtp, postlog] = e;
  assert.deepEqual(
    [smtp.service, smtp.type, smtp.private, smtp.unpriv, smtp.chroot, smtp.wakeup, smtp.maxproc, smtp.command, smtp.host, smtp.port],
    ['smtp', 'inet', false, true, false, 0, 100, 'smtpd', '', 'smtp'],
  );
  assert.equal(test2525.host, '127.0.0.1');
  assert.equal(test2525.port, '2525');
  assert.equal(test2525.maxproc, 10);
  assert.equal(test2525.chroot, false);
  assert.deepEqual(test2525.flags, ['-v']);
  assert.deepEqual(test2525.overrides, [
    { name: 'syslog_name', value: 'postfix/test' },
    { name: 'smtpd_banner', value: '$myhostname hello there' },
    { name: 'smtpd_tls_security_level', value: 'may' },
  ]);
  assert.deepEqual(test2525.args, [
    '-v',
    '-o',
    'syslog_name=postfix/test',
    '-o',
    'smtpd_banner = $myhostname hello there',
    '-osmtpd_tls_security_level=may',
  ]);
  assert.equal(test2525.line, 3);
  assert.deepEqual([pickup.wakeup, pickup.wakeupConditional, pickup.maxproc], [60, false, 1]);
  assert.deepEqual([tlsmgr.wakeup, tlsmgr.wakeupConditional], [1000, true]);
  assert.equal(bsmtp.unpriv, false);
  assert.deepEqual(bsmtp.args, ['flags=Fq.', 'user=bsmtp', 'argv=/usr/bin/x', '-a b', '$recipient']);
  assert.deepEqual(bsmtp.overrides, []);
  assert.equal(postlog.type, 'unix-dgram');
  assert.equal(postlog.private, false);
  assert.deepEqual(smtp.fields, ['smtp', 'inet', 'n', '-', 'n', '-', '-']);
});

test('parseMasterCf: chroot "-" is y below compatibility level 1', () => {
  const e = parseMasterCf('x unix - - - - - x\n', 'm', { compatibilityLevel: '0' });
  assert.equal(e[0].chroot, true);
  assert.equal(parseMasterCf('x unix - - - - - x\n', 'm', { compatibilityLevel: '3.7' })[0].chroot, false);
});

test('parseMasterCf: duplicate service warns and the last entry wins in place', () => {
  const warnings: string[] = [];
  const e = parseMasterCf('a unix - - n - 1 x\nb unix - - n - - y\na unix - - n - 2 z\nsmtp inet n - n - - smtpd\n25 inet n - n - - other\n', 'm', {
    warn: (t) => warnings.push(t),
  });
  assert.deepEqual(
    e.map((x) => [x.service, x.command]),
    [
      ['a', 'z'],
      ['b', 'y'],
      ['25', 'other'],
    ],
  );
  assert.equal(warnings[0], 'duplicate master.cf entry for service "a" (a) -- using the last entry');
  assert.equal(warnings[1], 'duplicate master.cf entry for service "25" (25) -- using the last entry');
});

test("parseMasterCf: master's fatal texts with file and line", () => {
  const bad = (text: string, want: string): void => {
    assert.throws(() => parseMasterCf(text, '/etc/postfix/master.cf'), new MasterCfError(want));
  };
  bad('x unix\n', '/etc/postfix/master.cf: line 1: missing "private" field');
  bad('\n\nx bogus - - n - - x\n', '/etc/postfix/master.cf: line 3: bad transport type: bogus');
  bad('x unix q - n - - x\n', '/etc/postfix/master.cf: line 1: field "private": bad value: "q"');
  bad('x unix - - n x - x\n', '/etc/postfix/master.cf: line 1: field "wakeup_time": bad value: "x"');
  bad('x unix - - n - - -\n', '/etc/postfix/master.cf: line 1: field "command" has no default value');
  bad('smtp inet y - n - - smtpd\n', '/etc/postfix/master.cf: line 1: inet service cannot be private');
  bad('smtp inet - - n - - smtpd\n', '/etc/postfix/master.cf: line 1: inet service cannot be private');
  bad('x unix - - n - - pipe { a b\n', "/etc/postfix/master.cf: line 1: missing '}' in \"{ a b\"");
  assert.deepEqual(hostPort('[::1]:25'), { host: '::1', port: '25' });
  assert.equal(hostPort(':25'), 'missing host information');
  assert.equal(hostPort('host:'), 'missing service information');
  assert.equal(hostPort('25x'), 'garbage after numerical service');
});

test('readMasterCf: the shipped conf/master.cf parses; postconf -M form as Postfix prints it', () => {
  const entries = readMasterCf(join(repo, 'conf'));
  const names = entries.map((e) => `${e.service}/${e.type}`);
  for (const s of ['smtp/inet', 'pickup/unix', 'cleanup/unix', 'qmgr/unix', 'postlog/unix-dgram', 'relay/unix', 'local/unix']) {
    assert.ok(names.includes(s), s);
  }
  assert.ok(entries.every((e) => e.chroot === false));
  const text = readFileSync(join(repo, 'conf', 'master.cf'), 'utf8');
  const out = logicalLines(text)
    .map((l) => {
      const r = parsePcfEntry(l.text, l.lineNo, () => {});
      assert.ok(!('err' in r));
      return formatPcfEntry(r.argv, false);
    })
    .join('');
  assert.match(out, /^smtp       inet  n       -       n       -       -       smtpd\n/);
  assert.match(out, /\nrelay      unix  -       -       n       -       -       smtp -o syslog_name=postfix\/\$service_name\n/);
  assert.match(out, /\npostlog    unix-dgram n  -       n       -       1       postlogd\n/);
});

test('formatPcfEntry: folding and { } around values with blanks', () => {
  const r = parsePcfEntry(
    'scalemail-backend unix - n n - 2 pipe flags=R user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store ${nexthop} ${user} ${extension}',
    1,
    () => {},
  );
  assert.ok(!('err' in r));
  assert.equal(
    formatPcfEntry(r.argv, true),
    'scalemail-backend unix - n       n       -       2       pipe flags=R\n' +
      '    user=scalemail argv=/usr/lib/scalemail/bin/scalemail-store ${nexthop}\n' +
      '    ${user} ${extension}\n',
  );
  const o = parsePcfEntry('x unix - - n - - smtpd -o { a = b c } { arg with blanks }', 1, () => {});
  assert.ok(!('err' in o));
  // Postfix's display form drops the { } of the first non-option argument; edits keep them.
  assert.equal(formatPcfEntry(o.argv, false), 'x          unix  -       -       n       -       -       smtpd -o {a=b c} arg with blanks\n');
  assert.equal(formatPcfEntry(o.argv, true), 'x          unix  -       -       n       -       -       smtpd\n    -o {a=b c}\n    arg with blanks\n');
  assert.equal(formatPcfEntry(o.argv, true, undefined, true), 'x          unix  -       -       n       -       -       smtpd\n    -o {a=b c}\n    {arg with blanks}\n');
  const dir = mkdtempSync(join(tmpdir(), 'master-cf-'));
  try {
    writeFileSync(join(dir, 'master.cf'), 'a unix - - n - - x\n');
    assert.equal(readMasterCf(dir)[0].command, 'x');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

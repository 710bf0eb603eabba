/**
 * mail_conf, mac_expand and mail_params: expansion semantics, main.cf
 * syntax, typed readers and their fatal texts, computed defaults.
 * Expected values and texts were checked against Postfix 3.7.11 (postconf -x
 * and postmap reading main.cf) while writing these tests.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FatalError, msgAddOutput, setFatalAction } from '../../src/util/msg.js';
import { MailConfig, convTime, convInt, logicalLines, parseMainCf, ConfigFileError } from '../../src/global/mail_conf.js';
import { macExpand, macExpandEx, MacroError, compareLevels } from '../../src/global/mac_expand.js';
import {
  PARAMS,
  lookupParam,
  defaultMynetworks,
  defaultHostname,
  serviceParams,
  canonicalAddress,
  type IfAddr,
} from '../../src/global/mail_params.js';

const logged: string[] = [];
let remove: () => void;
const root = mkdtempSync(join(tmpdir(), 'config-test-'));
before(() => {
  remove = msgAddOutput((_s, t) => logged.push(t));
  setFatalAction((text, status) => {
    throw new FatalError(text, status);
  });
});
after(() => {
  remove();
  rmSync(root, { recursive: true, force: true });
});

/** outcome - the value, or the warnings and fatal text that reading it produced. */
function outcome(fn: () => unknown): string {
  logged.length = 0;
  try {
    return String(fn());
  } catch (e) {
    if (e instanceof FatalError) return logged.join(' | ');
    throw e;
  }
}

const cfg = (text: string): MailConfig => MailConfig.fromText(text);

test('expansion: Postfix 2.x and 3.x forms', () => {
  const cases: Array<[string, string]> = [
    ['x_test = ${b?{x}:{y}}\nb=1\n', 'x'],
    ['x_test = ${b?{x}:{y}} z\n', 'y z'],
    ['x_test = ${{$b} == {1} ? {yes} : {no}}\nb=1\n', 'yes'],
    ['x_test = ${{$b} <level {3.6} ? {yes} : {no}}\nb=3.10\n', 'no'],
    ['x_test = ${{$b} == {1}}\nb=1\n', 'true'],
    ['x_test = ${{$b} != {1}}\nb=1\n', ''],
    ['x_test = $(b)\nb=1\n', '1'],
    ['x_test = ${ b }\nb=1\n', '1'],
    ['x_test = ${{10} < {9} ? {lt} : {ge}}\n', 'ge'],
    ['x_test = ${{a10} < {a9} ? {lt} : {ge}}\n', 'lt'],
    ['x_test = ${b?x:y}\nb=1\n', 'x:y'],
    ['x_test = ${b:x:y}\nb=\n', 'x:y'],
    ['x_test = $$b $b\nb=1\n', '$b 1'],
    ['x_test = ${c?x}${c:y}\n', 'y'],
    ['x_test = a$b-c\nb=X\n', 'aX-c'],
  ];
  for (const [text, want] of cases) assert.equal(outcome(() => cfg(text).str('x_test')), want, text);
});

test('expansion errors: Postfix warning, then "dictionary mail_dict: macro processing error"', () => {
  const fatal = 'fatal: dictionary mail_dict: macro processing error';
  const cases: Array<[string, string]> = [
    ['mail_name = $b\nb = $mail_name\n', 'warning: unreasonable macro call nesting: "mail_name"'],
    ['mail_name = x$\n', 'warning: empty macro name: "x$"'],
    ['mail_name = ${b\n', 'warning: truncated macro reference: "${b"'],
    ['mail_name = ${b?{x}:{y} z}\n', 'warning: unexpected input at: "...y}>>>z"'],
    ['mail_name = ${{$b} <level {3.6} ? {yes} : {no}}\nb=x\n', 'warning: malformed compatibility level syntax: "x"'],
    [
      'mail_name = ${{$b} =~ {1} ? {yes} : {no}}\nb=1\n',
      'warning: "==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...$b}>>>=~ {1} ? {yes} : {no"',
    ],
    ['mail_name = ${{$b} == {1} ? {yes} junk}\nb=1\n', 'warning: ":" expected at: "...yes}>>>junk"'],
    ['mail_name = ${b x}\nb=1\n', 'warning: attribute name syntax error at: "...b>>> x"'],
    ['mail_name = ${{$b} <levelx {3.6} ? {yes} : {no}}\nb=3.10\n', 'warning: bad operator suffix at: "...<>>>levelx"'],
    ['mail_name = ${b:{x}:y}\nb=\n', 'warning: unexpected input at: "...x}>>>:y"'],
    ['mail_name = ${{x} == y}\n', 'warning: "{expression}" expected at: "...{x} ==>>> y"'],
    ['mail_name = ${{x}\n', 'warning: truncated macro reference: "${{x}"'],
  ];
  for (const [text, warning] of cases) assert.equal(outcome(() => cfg(text).str('mail_name')), `${warning} | ${fatal}`, text);
});

test('macExpandEx: undefined names, scan mode visits both branches, filter without recursion', () => {
  const seen: string[] = [];
  const r = macExpandEx('${a?{$b}:{$c}} $d', (n) => {
    seen.push(n);
    return n === 'a' ? '1' : undefined;
  }, { scan: true });
  assert.equal(r.value, '');
  assert.deepEqual(seen, ['a', 'b', 'c', 'd']);
  assert.equal(macExpandEx('$x', () => undefined).undef, true);
  assert.equal(macExpand('<$v>', () => 'a;b $c', { recurse: false, filter: 'abc' }), '<a_b__c>');
  assert.throws(() => macExpand('$', () => undefined), MacroError);
  assert.ok(compareLevels('3.10', '3.6') > 0);
  assert.ok(compareLevels('2', '3.6.1') < 0);
});

test('compatibility-level defaults: raw in the registry, evaluated per level', () => {
  assert.equal(lookupParam('smtputf8_enable')!.def, '${{$compatibility_level} <level {1} ? {no} : {yes}}');
  const old = cfg('');
  const now = cfg('compatibility_level = 3.7\n');
  assert.equal(old.bool('smtputf8_enable'), false);
  assert.equal(now.bool('smtputf8_enable'), true);
  assert.equal(old.str('mynetworks_style'), 'subnet');
  assert.equal(now.str('mynetworks_style'), 'host');
  assert.equal(old.str('relay_domains'), old.str('mydestination'));
  assert.equal(now.str('relay_domains'), '');
  assert.equal(now.str('smtpd_tls_fingerprint_digest'), 'sha256');
  assert.equal(cfg('compatibility_level = 3.5\n').str('smtpd_tls_fingerprint_digest'), 'md5');
});

test('compatWarnings: backwards-compatible defaults in effect per level (Postfix check_legacy_defaults)', () => {
  assert.deepEqual([...cfg('compatibility_level = 3.7\n').compatWarnings()], []);
  assert.deepEqual([...cfg('compatibility_level = 3.6\n').compatWarnings()], []);
  assert.deepEqual([...cfg('compatibility_level = 2\nrespectful_logging = no\n').compatWarnings()], [
    'smtpd_tls_fingerprint_digest',
    'smtp_tls_fingerprint_digest',
    'lmtp_tls_fingerprint_digest',
    'smtpd_relay_before_recipient_restrictions',
  ]);
  const w0 = cfg('mynetworks = 127.0.0.0/8\nsmtputf8_enable = no\n').compatWarnings();
  assert.ok(w0.has('relay_domains') && w0.has('fast_flush_domains') && w0.has('append_dot_mydomain') && w0.has('chroot'));
  assert.ok(!w0.has('mynetworks_style') && !w0.has('smtputf8_enable'));
  assert.equal(outcome(() => cfg('compatibility_level = x\n').compatWarnings()), 'fatal: malformed compatibility level syntax: "x"');
});

test('main.cf syntax: continuation keeps the text, comments inside a continued line are skipped', () => {
  const lines = logicalLines('a = 1\n  2\n# c\n\n   \n   3\nb=x\n', 'main.cf', () => {});
  assert.deepEqual(lines, [
    { text: 'a = 1  2   3', lineNo: 1 },
    { text: 'b=x', lineNo: 7 },
  ]);
  const warnings: string[] = [];
  const e = parseMainCf('mail_name = a\n  b\nx = 1\nmail_name = c\n ignored = 1\n', '/etc/postfix/main.cf', (t) => warnings.push(t));
  assert.deepEqual(e.map((x) => [x.name, x.value, x.line]), [
    ['mail_name', 'a  b', 1],
    ['x', '1', 3],
    ['mail_name', 'c ignored = 1', 4],
  ]);
  assert.deepEqual(warnings, [
    '/etc/postfix/main.cf, line 4: overriding earlier entry: mail_name=a  b',
  ]);
  assert.throws(() => parseMainCf('ab\n', 'M', () => {}), new ConfigFileError('M, line 1: missing \'=\' after attribute name: "ab"'));
  assert.throws(() => parseMainCf('a b = x\n', 'M', () => {}), new ConfigFileError('M, line 1: missing \'=\' after attribute name: "a b = x"'));
  assert.throws(() => parseMainCf('=x\n', 'M', () => {}), new ConfigFileError('M, line 1: missing attribute name: "=x"'));
  const w2: string[] = [];
  parseMainCf(' = x\n', 'M', (t) => w2.push(t));
  assert.deepEqual(w2, ['M: logical line must not start with whitespace: " = x"']);
});

test('typed readers: Postfix fatal texts', () => {
  const cases: Array<[string, (c: MailConfig) => unknown, string]> = [
    ['line_length_limit = 1x\n', (c) => c.int('line_length_limit'), 'fatal: bad numerical configuration: line_length_limit = 1x'],
    ['line_length_limit = 1\n', (c) => c.int('line_length_limit'), 'fatal: invalid line_length_limit parameter value 1 < 512'],
    ['line_length_limit = 99999999999\n', (c) => c.int('line_length_limit'), 'fatal: bad numerical configuration: line_length_limit = 99999999999'],
    ['ipc_timeout = 1x\n', (c) => c.time('ipc_timeout'), 'fatal: parameter ipc_timeout: bad time value or unit: 1x'],
    ['ipc_timeout = 0\n', (c) => c.time('ipc_timeout'), 'fatal: invalid ipc_timeout: 0 (min 1)'],
    ['allow_min_user = maybe\n', (c) => c.bool('allow_min_user'), 'fatal: bad boolean configuration: allow_min_user = maybe'],
    ['allow_min_user = true\n', (c) => c.bool('allow_min_user'), 'fatal: bad boolean configuration: allow_min_user = true'],
    ['mail_name =\n', (c) => c.str('mail_name'), 'fatal: bad string length 0 < 1: mail_name = '],
    ['default_verp_delimiters = +=-\n', (c) => c.str('default_verp_delimiters'), 'fatal: bad string length 3 > 2: default_verp_delimiters = +=-'],
  ];
  for (const [text, read, want] of cases) assert.equal(outcome(() => read(cfg(text))), want, text);
  assert.equal(cfg('allow_min_user = YES\n').bool('allow_min_user'), true);
  assert.equal(cfg('message_size_limit = 20480000\n').long('message_size_limit'), 20480000);
});

test('time values: default unit from the default value, suffix wins, text after the unit ignored', () => {
  assert.equal(convTime('30', 's'), 30);
  assert.equal(convTime('5m', 's'), 300);
  assert.equal(convTime('2', 'd'), 172800);
  assert.equal(convTime('1week', 's'), 604800);
  assert.equal(convTime('-1', 's'), undefined);
  assert.equal(convTime('10 s', 's'), undefined);
  assert.equal(convTime('', 's'), undefined);
  assert.equal(convInt(' +12'), 12);
  assert.equal(convInt('12 '), undefined);
  const c = cfg('maximal_queue_lifetime = 2\nminimal_backoff_time = 10\nsmtpd_timeout = 7\n');
  assert.equal(c.time('maximal_queue_lifetime'), 2 * 86400);
  assert.equal(c.time('minimal_backoff_time'), 10);
  assert.equal(c.time('smtpd_timeout'), 7); // default "${stress?{10}:{300}}s" evaluates to a seconds unit
  assert.equal(cfg('').time('smtpd_timeout'), 300);
  assert.equal(cfg('').time('postscreen_dnsbl_max_ttl'), 3600);
  assert.equal(cfg('postscreen_dnsbl_ttl = 5m\npostscreen_dnsbl_max_ttl = 2\n').time('postscreen_dnsbl_max_ttl'), 120);
});

test('layers: overrides over main.cf over defaults; read-only run-time values win', () => {
  const c = cfg('mail_name = Main\nprocess_name = bogus\n');
  assert.equal(c.str('mail_name'), 'Main');
  c.override('mail_name', 'Over');
  assert.equal(c.str('mail_name'), 'Over');
  c.setRuntime('service_name', 'relay');
  c.override('syslog_name', 'postfix/$service_name');
  assert.equal(c.str('syslog_name'), 'postfix/relay');
  assert.notEqual(c.str('process_name'), 'bogus');
  assert.equal(c.str('process_id'), String(process.pid));
  assert.equal(c.str('unknown_thing'), '');
  assert.equal(c.int('relay_destination_concurrency_limit', { def: '$default_destination_concurrency_limit' }), 20);
});

test('MailConfig.load: -c directory, MAIL_CONFIG, and a missing main.cf is fatal', () => {
  const dir = join(root, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'main.cf'), 'queue_directory = /tmp/q\n');
  const c = MailConfig.load(dir);
  assert.equal(c.str('queue_directory'), '/tmp/q');
  assert.equal(c.str('config_directory'), dir);
  const saved = process.env.MAIL_CONFIG;
  process.env.MAIL_CONFIG = dir;
  try {
    assert.equal(MailConfig.load().configDir, dir);
  } finally {
    if (saved === undefined) delete process.env.MAIL_CONFIG;
    else process.env.MAIL_CONFIG = saved;
  }
  assert.equal(outcome(() => MailConfig.load(join(root, 'none'))), `fatal: open ${join(root, 'none', 'main.cf')}: No such file or directory`);
});

test('registry: every Postfix 3.7 parameter, typed, with limits', () => {
  assert.ok(PARAMS.length >= 831);
  const names = PARAMS.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
  assert.deepEqual(lookupParam('ipc_timeout'), { name: 'ipc_timeout', type: 'time', def: '3600s', users: 'global', min: 1, max: 0, unit: 's' });
  assert.equal(lookupParam('smtpd_expansion_filter')!.type, 'raw');
  assert.equal(lookupParam('smtpd_hard_error_limit')!.type, 'nint');
  assert.equal(lookupParam('message_size_limit')!.type, 'long');
  assert.equal(lookupParam('default_database_type')!.def, 'lmdb');
  assert.equal(lookupParam('virtual_maps')!.legacy, true);
  assert.equal(lookupParam('nonesuch'), undefined);
  const svc = serviceParams('bsmtp', 'pipe');
  assert.equal(svc[0].name, 'bsmtp_time_limit');
  assert.equal(svc[0].def, '$command_time_limit');
  assert.equal(serviceParams('local', 'local').find((p) => p.name === 'local_destination_concurrency_limit')!.def, '2');
  assert.deepEqual(serviceParams('x', 'pickup'), []);
});

test('computed defaults: myhostname, mynetworks per style, protocols and interfaces', () => {
  assert.equal(defaultHostname(() => undefined, 'vm'), 'vm.localdomain');
  assert.equal(defaultHostname((n) => (n === 'mydomain' ? 'example.org' : undefined), 'vm'), 'vm.example.org');
  assert.equal(defaultHostname(() => undefined, 'a.b.c'), 'a.b.c');
  const addrs: IfAddr[] = [
    { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' },
    { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4' },
    { address: '172.16.5.4', netmask: '255.255.255.0', family: 'IPv4' },
    { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6' },
    { address: 'fe80::fc:ff:fe00:1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6' },
  ];
  const ev = (style: string, protocols = 'all', ifaces = 'all') => (n: string) =>
    ({ mynetworks_style: style, inet_protocols: protocols, inet_interfaces: ifaces })[n] ?? '';
  assert.equal(defaultMynetworks(ev('subnet'), addrs), '127.0.0.0/8 192.0.2.0/24 172.16.5.0/24 [::1]/128 [fe80::]/64');
  assert.equal(defaultMynetworks(ev('host'), addrs), '127.0.0.1/32 192.0.2.2/32 172.16.5.4/32 [::1]/128 [fe80::fc:ff:fe00:1]/128');
  assert.equal(defaultMynetworks(ev('class'), addrs), '127.0.0.0/8 192.0.2.0/24 172.16.0.0/16 [::1]/128 [fe80::]/64');
  assert.equal(defaultMynetworks(ev('subnet', 'ipv4'), addrs), '127.0.0.0/8 192.0.2.0/24 172.16.5.0/24');
  assert.equal(defaultMynetworks(ev('subnet', 'all', 'loopback-only'), addrs), '127.0.0.0/8 [::1]/128');
  assert.equal(canonicalAddress('FD00:0:0::2'), 'fd00::2');
});

/**
 * postconf as a child process on scratch configurations, compared with
 * golden transcripts (stdout, stderr, exit status, and the edited files).
 *
 * The golden files under golden/ were recorded from real Postfix 3.7.11
 * (Debian 12) running the same cases:
 *   CONFIG_GOLDEN_BINDIR=/usr/sbin node --test dist/test/postconf/
 * rewrites them (only when that variable is set). Cases whose output differs
 * from Postfix on purpose (table types, SASL plug-ins, lmdb defaults) are
 * checked by plain assertions at the end instead.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const goldenDir = join(repo, 'test', 'postconf', 'golden');
const oracle = process.env.CONFIG_GOLDEN_BINDIR;
const postconf = oracle ? join(oracle, 'postconf') : join(repo, 'bin', 'postconf');

const root = mkdtempSync(join(tmpdir(), 'postconf-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

const MASTER = `# test master.cf
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
# a comment between entries
#       -o smtp_helo_timeout=5
local     unix  -       n       n       -       -       local
bsmtp     unix  -       n       n       -       -       pipe
  flags=Fq. user=bsmtp argv=/usr/local/sbin/bsmtp -f $sender $nexthop $recipient
submission inet n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o { smtpd_sasl_auth_enable = yes }
  -o smtpd_client_restrictions=$mua_client_restrictions
postlog   unix-dgram n  -       n       -       1       postlogd
`;

const MAIN = `# test main.cf
compatibility_level = 3.7

myhostname = mail.example.test
mydestination = $myhostname,
    localhost.$mydomain,
# comment inside a continued line
    localhost
relayhost = [smtp.example.net]
mua_client_restrictions = permit_sasl_authenticated, reject
`;

interface Case {
  name: string;
  args: string[];
  main?: string;
  master?: string | null;
  /** also record main.cf / master.cf after the run */
  files?: boolean;
  /** more files in the configuration directory */
  extra?: Record<string, string>;
  /** drop stdout lines that start with one of these names (machine- or build-dependent values) */
  drop?: string[];
}

/** Machine-dependent values, and the documented build differences (lmdb, upstream directories). */
const VARIABLE = ['myhostname', 'mydomain', 'mynetworks', 'process_id', 'tls_eecdh_auto_curves'];
const BUILD = ['alias_database', 'alias_maps', 'default_database_type', 'daemon_directory', 'html_directory', 'manpage_directory', 'readme_directory'];

const LONG = 'smtpd_recipient_restrictions = ' + Array.from({ length: 12 }, (_, i) => `check_${i}_access hash:/etc/postfix/t${i}`).join(', ');

const CASES: Case[] = [
  { name: 'd-all', args: ['-d'], drop: [...VARIABLE, ...BUILD] },
  { name: 'all', args: [], drop: [...VARIABLE, ...BUILD, 'local_recipient_maps', 'proxy_read_maps', 'mydestination'] },
  {
    name: 'd-subset',
    args: [
      '-d',
      'mail_version',
      'compatibility_level',
      'smtpd_banner',
      'mynetworks_style',
      'relay_domains',
      'smtputf8_enable',
      'smtpd_relay_restrictions',
      'max_idle',
      'maximal_queue_lifetime',
      'message_size_limit',
      'queue_directory',
      'config_directory',
      'process_name',
      'smtpd_expansion_filter',
      'virtual_maps',
      'append_dot_mydomain',
      'smtpd_timeout',
      'nonesuch',
    ],
  },
  { name: 'd-service', args: ['-d', 'relay_destination_concurrency_limit', 'bsmtp_time_limit', 'local_destination_concurrency_limit', 'smtp_delivery_slot_cost', 'cleanup_delivery_slot_cost'] },
  { name: 'dx-subset', args: ['-dx', 'smtputf8_enable', 'mynetworks_style', 'relay_domains', 'smtpd_relay_restrictions', 'address_verify_map', 'smtpd_timeout'] },
  { name: 'n', args: ['-n'] },
  { name: 'nx', args: ['-nx'] },
  { name: 'nh', args: ['-nh'] },
  { name: 'nH', args: ['-nH'] },
  { name: 'nf', args: ['-nf'], main: MAIN + LONG + '\n' },
  { name: 'n-override', args: ['-n', '-o', 'mail_name=Other', '-o', 'relayhost='] },
  { name: 'o-bad', args: ['-n', '-o', 'foo'] },
  { name: 'x-names', args: ['-x', 'mydestination', 'smtputf8_enable', 'relay_domains', 'mynetworks_style', 'nonesuch'] },
  {
    name: 'restriction-classes',
    args: ['-n'],
    main: 'smtpd_restriction_classes = cls1, $other\nother = cls2\ncls1 = permit\ncls2 = reject\n',
  },
  {
    name: 'dbms',
    args: ['-n'],
    main:
      'virtual_alias_maps = sqlite:$config_directory/s.cf, proxy:sqlite:$config_directory/s.cf, mysql:$config_directory/none.cf ldap:foo\n' +
      'foo_server_host = h\nfoo_bogus = 1\n',
    extra: { 's.cf': 'dbpath = /tmp/x.db\nquery = select 1\nbogus = 2\n' },
  },
  { name: 'non-ascii', args: ['-n'], main: 'mail_name = \u00e9t\u00e9\nf\u00f6o = 1\n' },
  { name: 'c-explicit', args: ['-n'], main: 'mail_name = x\n' },
  { name: 'no-master', args: ['-n'], main: 'mail_name = x\n', master: null },
  { name: 'no-main', args: ['-n'], main: undefined },
  { name: 'unused', args: ['mail_name'], main: 'mail_name = a\nnot_a_parameter = 1\n' },
  { name: 'user-defined', args: ['-n'], main: 'mail_name = $b\nb = ${c?{x}:{y}}\n' },
  { name: 'undefined', args: ['-x', 'mail_name'], main: 'mail_name = ${c?{x}:{y}} z\n' },
  { name: 'readonly', args: ['-n'], main: 'process_name = foo\nmail_name = x\n' },
  { name: 'legacy', args: ['-n'], main: 'virtual_maps = hash:/etc/x\n' },
  { name: 'exp-ternary', args: ['-x', 'mail_name'], main: 'mail_name = ${b?{x}:{y}}\nb = 1\n' },
  { name: 'exp-relop', args: ['-x', 'mail_name'], main: 'mail_name = ${{$b} == {1} ? {yes} : {no}}\nb = 1\n' },
  { name: 'exp-level', args: ['-x', 'mail_name'], main: 'mail_name = ${{$b} <level {3.6} ? {old} : {new}}\nb = 3.10\n' },
  { name: 'exp-bare-relop', args: ['-x', 'mail_name'], main: 'mail_name = ${{$b} == {1}}\nb = 1\n' },
  { name: 'exp-numeric', args: ['-x', 'mail_name'], main: 'mail_name = ${{10} < {9} ? {lt} : {ge}} ${{a10} < {a9} ? {lt} : {ge}}\n' },
  { name: 'exp-old-forms', args: ['-x', 'mail_name'], main: 'mail_name = ${b?x:y} $$b $(b) ${ b } ${c:z}\nb = 1\n' },
  { name: 'err-recursion', args: ['-x', 'mail_name'], main: 'mail_name = $b\nb = $mail_name\n' },
  { name: 'err-empty-name', args: ['-x', 'mail_name'], main: 'mail_name = x$ y\n' },
  { name: 'err-truncated', args: ['-x', 'mail_name'], main: 'mail_name = ${b\n' },
  { name: 'err-relop', args: ['-x', 'mail_name'], main: 'mail_name = ${{$b} =~ {1} ? {yes} : {no}}\nb = 1\n' },
  { name: 'err-colon', args: ['-x', 'mail_name'], main: 'mail_name = ${{$b} == {1} ? {yes} junk}\nb = 1\n' },
  { name: 'err-garbage', args: ['-x', 'mail_name'], main: 'mail_name = ${b:{x}:y}\nb =\n' },
  { name: 'err-suffix', args: ['-x', 'mail_name'], main: 'mail_name = ${{$b} <levelx {3.6} ? {a} : {b}}\nb = 1\n' },
  { name: 'err-badlevel', args: ['-x', 'mail_name'], main: 'mail_name = ${{$b} <level {3.6} ? {a} : {b}}\nb = x\n' },
  { name: 'err-name-syntax', args: ['-x', 'mail_name'], main: 'mail_name = ${b x}\nb = 1\n' },
  { name: 'syntax-missing-eq', args: ['-n'], main: 'mail_name = x\nbad line\n' },
  { name: 'syntax-missing-name', args: ['-n'], main: '= x\n' },
  { name: 'syntax-leading-space', args: ['-n'], main: ' = x\nmail_name = y\n' },
  { name: 'syntax-override', args: ['-n'], main: 'mail_name = a\n  b\nmail_name = c\n' },
  { name: 'opt-d-n', args: ['-d', '-n'] },
  { name: 'opt-M-n', args: ['-M', '-n'] },
  { name: 'opt-e-noargs', args: ['-e'] },
  { name: 'opt-bad', args: ['-z'] },
  { name: 'opt-C-bad', args: ['-C', 'foo'] },
  { name: 'C-user', args: ['-C', 'user'], main: 'mail_name = $b\nb = 1\n' },
  { name: 'l', args: ['-l'] },
  { name: 'T-pkey', args: ['-T', 'public-key-algorithms'] },
  { name: 'T-bad', args: ['-T', 'foo'] },
  { name: 'M', args: ['-M'] },
  { name: 'Mf', args: ['-Mf'] },
  { name: 'M-pattern', args: ['-M', 'relay/unix', 'smtp', 'nosuch/unix'] },
  { name: 'Mx', args: ['-Mx', 'submission/inet'] },
  { name: 'F', args: ['-F', 'bsmtp/unix', 'smtp/inet/command', 'pickup/*/wakeup'] },
  { name: 'F-bad', args: ['-F', 'smtp/inet/foo'] },
  { name: 'P', args: ['-P', 'relay/unix', 'submission/inet/syslog_name'] },
  { name: 'P-pattern', args: ['-P', 'submission/inet/syslog_name', '*/*/smtpd_sasl_auth_enable'] },
  { name: 'Px', args: ['-Px', 'relay/unix/syslog_name'] },
  { name: 'e-edit', args: ['-e', 'relayhost = [other.example]', 'mynetworks=127.0.0.0/8'], files: true },
  { name: 'e-implicit', args: ['mail_name=Test'], files: true },
  { name: 'e-continued', args: ['-e', 'mydestination=localhost'], files: true },
  { name: 'e-dup-request', args: ['-e', 'a=1', 'a=2'], files: true },
  { name: 'e-multiple', args: ['-e', 'mail_name=z'], main: 'mail_name = a\nx = 1\nmail_name = b\n', files: true },
  { name: 'e-comment-input', args: ['-e', '#x=1'], files: true },
  { name: 'X-remove', args: ['-X', 'mydestination', 'relayhost'], files: true },
  { name: 'hash-comment', args: ['-#', 'mydestination'], files: true },
  { name: 'X-with-value', args: ['-X', 'a=1'], files: true },
  { name: 'hash-no-newline', args: ['-#', 'mail_name'], main: '# c\nmail_name = a\n    continued\nrelayhost = x', files: true },
  { name: 'X-untrimmed', args: ['-X', ' relayhost '], files: true },
  { name: 'e-spaces', args: ['-e', '  mail_name  =   spaced value  '], files: true },
  { name: 'Me-replace', args: ['-Me', 'relay/unix=relay unix - - n - - smtp -o syslog_name=x'], files: true },
  { name: 'Me-add', args: ['-Me', 'new/unix=new unix - n n - 1 pipe flags=R user=nobody argv=/bin/cat ${recipient}'], files: true },
  { name: 'MX', args: ['-MX', 'relay/unix'], files: true },
  { name: 'M-hash', args: ['-M#', 'submission/inet', 'qmgr/unix'], files: true },
  { name: 'Fe-chroot', args: ['-Fe', 'smtp/inet/chroot=y'], files: true },
  { name: 'Fe-command', args: ['-Fe', 'relay/unix/command=smtp -o { a = b c }'], files: true },
  { name: 'Fe-bad', args: ['-Fe', 'smtp/inet/private=x'], files: true },
  { name: 'Pe-add', args: ['-Pe', 'smtp/inet/smtpd_tls_security_level=may'], files: true },
  { name: 'Pe-replace', args: ['-Pe', 'relay/unix/syslog_name=foo'], files: true },
  { name: 'PX', args: ['-PX', 'submission/inet/syslog_name'], files: true },
  { name: 'Pe-unmatched', args: ['-Pe', 'nosuch/unix/a=b'], files: true },
];

/** run - one case in a fresh directory; the transcript with the directory name replaced by $DIR. */
function run(c: Case, idx: number): string {
  const dir = join(root, `c${idx}`);
  mkdirSync(dir);
  const main = 'main' in c ? c.main : MAIN;
  if (main !== undefined) writeFileSync(join(dir, 'main.cf'), main);
  const master = c.master === undefined ? MASTER : c.master;
  if (master !== null) writeFileSync(join(dir, 'master.cf'), master);
  for (const [f, text] of Object.entries(c.extra ?? {})) writeFileSync(join(dir, f), text);
  // Postfix re-reads a main.cf changed within the last second (and repeats its
  // warnings); files from the past make both programs read it once.
  const past = new Date(Date.now() - 60_000);
  for (const f of ['main.cf', 'master.cf']) if (existsSync(join(dir, f))) utimesSync(join(dir, f), past, past);
  const env = { ...process.env };
  delete env.MAIL_CONFIG;
  const r = spawnSync(postconf, ['-c', dir, ...c.args], { encoding: 'utf8', env, argv0: 'postconf' });
  const norm = (s: string): string => s.split(dir).join('$DIR');
  let stdout = r.stdout;
  if (c.drop) stdout = stdout.replace(/^[^\n]*\n/gm, (line) => (c.drop!.includes(line.split(' ')[0]) ? '' : line));
  let t = `rc=${r.status}\n--- stdout\n${norm(stdout)}--- stderr\n${norm(r.stderr)}`;
  if (c.files) {
    for (const f of ['main.cf', 'master.cf']) {
      const p = join(dir, f);
      t += `--- ${f}\n${existsSync(p) ? readFileSync(p, 'utf8') : '(missing)\n'}`;
    }
  }
  return t;
}

CASES.forEach((c, idx) => {
  test(`postconf ${c.name}: ${c.args.join(' ')}`, () => {
    const got = run(c, idx);
    const file = join(goldenDir, `${c.name}.out`);
    if (oracle) {
      mkdirSync(goldenDir, { recursive: true });
      writeFileSync(file, got);
      return;
    }
    assert.equal(got, readFileSync(file, 'utf8'));
  });
});

/* Deliberate differences from the Debian-built oracle: checked directly. */
if (!oracle) {
  const plain = (args: string[], main = MAIN): { status: number | null; stdout: string; stderr: string } => {
    const dir = mkdtempSync(join(root, 'p-'));
    writeFileSync(join(dir, 'main.cf'), main);
    writeFileSync(join(dir, 'master.cf'), MASTER);
    return spawnSync(postconf, ['-c', dir, ...args], { encoding: 'utf8' });
  };

  test('postconf -d: lmdb is the default database type (documented difference)', () => {
    const r = plain(['-d', 'default_database_type', 'alias_maps', 'alias_database']);
    assert.equal(r.stdout, 'default_database_type = lmdb\nalias_maps = lmdb:/etc/aliases\nalias_database = lmdb:/etc/aliases\n');
    assert.equal(r.status, 0);
  });

  test('postconf -e ends a last line without newline before appending (Postfix would join them)', () => {
    const dir = mkdtempSync(join(root, 'nl-'));
    writeFileSync(join(dir, 'main.cf'), 'relayhost = x');
    writeFileSync(join(dir, 'master.cf'), MASTER);
    const r = spawnSync(postconf, ['-c', dir, '-e', 'mail_name=y'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.equal(readFileSync(join(dir, 'main.cf'), 'utf8'), 'relayhost = x\nmail_name = y\n');
  });

  test('postconf -m lists the table types of this build, sorted, including lmdb', () => {
    const r = plain(['-m']);
    const types = r.stdout.trim().split('\n');
    assert.ok(types.includes('lmdb') && types.includes('hash') && types.includes('regexp'));
    assert.deepEqual([...types].sort(), types);
    assert.equal(r.status, 0);
  });

  test('postconf -a / -A list the SASL plug-ins of this build', () => {
    assert.equal(plain(['-a']).stdout, 'dovecot\n');
    assert.equal(plain(['-A']).stdout, '');
  });

  test('postconf -d prints every parameter of Postfix 3.7 once, sorted', () => {
    const r = plain(['-d']);
    const names = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0]);
    assert.ok(names.length >= 831, `only ${names.length} parameters`);
    assert.deepEqual([...names].sort(), names);
    assert.equal(new Set(names).size, names.length);
  });

  test('postconf -d: myhostname gets .localdomain when the host name has no dot', () => {
    const r = plain(['-d', 'myhostname', 'mydomain']);
    const [host, domain] = r.stdout.trim().split('\n');
    assert.match(host, /^myhostname = \S+\.\S+$/);
    assert.equal(domain, `mydomain = ${host.replace(/^myhostname = [^.]*\./, '')}`);
  });
}

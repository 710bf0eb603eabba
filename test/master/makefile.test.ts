/**
 * makefile.test - Makefile.ts: main.cf editing, the embedded ./var
 * instance (never overwriting an edited configuration), and install/upgrade
 * into a temporary root with install.json.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, lstatSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setMainCf, embeddedMasterCf, embedded, DEFAULT_MASTER_CF, ROOT } from '../../Makefile.js';

const tmp = mkdtempSync(join(tmpdir(), 'makefile-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('setMainCf replaces settings in place, continuation lines included, and appends new ones', () => {
  const text = '# c\nmyhostname = a\n  b\nqueue_directory = /x\nother = 1\n';
  const out = setMainCf(text, [
    ['myhostname', 'mail.example'],
    ['new_one', 'v'],
  ]);
  assert.equal(out, '# c\nmyhostname = mail.example\nqueue_directory = /x\nother = 1\n\n# Settings of this instance (written by Makefile.ts).\nnew_one = v\n');
});

test('embeddedMasterCf moves smtp to the loopback port, turns chroot off, keeps postlog', () => {
  const out = embeddedMasterCf(DEFAULT_MASTER_CF.replace(/^(pickup\s+unix\s+n\s+-\s+)n/m, '$1y'));
  assert.match(out, /^127\.0\.0\.1:2525 inet\s+n\s+-\s+n\s+-\s+-\s+smtpd$/m);
  assert.doesNotMatch(out, /^smtp\s+inet/m);
  assert.match(out, /^pickup unix n - n 60 1 pickup$/m);
  assert.equal(out.match(/^postlog\s+unix-dgram/gm)?.length, 1);
});

test('embedded creates ./var once and never overwrites an edited configuration', () => {
  const varDir = join(tmp, 'var');
  const etc = embedded(ROOT, varDir);
  const main = readFileSync(join(etc, 'main.cf'), 'utf8');
  assert.match(main, new RegExp(`^queue_directory = ${join(varDir, 'spool')}$`, 'm'));
  assert.match(main, new RegExp(`^daemon_directory = ${join(ROOT, 'libexec')}$`, 'm'));
  assert.match(main, new RegExp(`^command_directory = ${join(ROOT, 'bin')}$`, 'm'));
  assert.match(main, new RegExp(`^maillog_file = ${join(varDir, 'log', 'maillog')}$`, 'm'));
  assert.match(main, /^inet_interfaces = 127\.0\.0\.1$/m);
  assert.match(readFileSync(join(etc, 'master.cf'), 'utf8'), /^127\.0\.0\.1:2525 inet/m);
  assert.ok(statSync(join(varDir, 'spool')).isDirectory());
  writeFileSync(join(etc, 'main.cf'), main + 'myhostname = edited.example\n');
  embedded(ROOT, varDir);
  assert.match(readFileSync(join(etc, 'main.cf'), 'utf8'), /^myhostname = edited\.example$/m);
});

test('install and upgrade: package copy, install.json, main.cf directories, command links, queue', () => {
  const root = join(tmp, 'inst');
  const args = [
    `install_root=${join(root, 'pkg')}`,
    `config_directory=${join(root, 'etc')}`,
    `queue_directory=${join(root, 'spool')}`,
    `data_directory=${join(root, 'data')}`,
    `command_directory=${join(root, 'sbin')}`,
  ];
  const mk = join(ROOT, 'dist', 'Makefile.js');
  const r = spawnSync(process.execPath, [mk, 'install', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(readFileSync(join(root, 'pkg', 'install.json'), 'utf8'));
  assert.equal(json.queue_directory, join(root, 'spool'));
  assert.equal(json.daemon_directory, join(root, 'pkg', 'libexec'));
  const main = readFileSync(join(root, 'etc', 'main.cf'), 'utf8');
  assert.match(main, new RegExp(`^queue_directory = ${join(root, 'spool')}$`, 'm'));
  assert.ok(lstatSync(join(root, 'sbin', 'postfix')).isSymbolicLink());
  assert.equal(readlinkSync(join(root, 'sbin', 'postfix')), join(root, 'pkg', 'bin', 'postfix'));
  assert.ok(statSync(join(root, 'spool', 'maildrop')).isDirectory());
  // the installed defaults come from install.json
  const d = spawnSync(
    process.execPath,
    ['-e', `import('${join(root, 'pkg', 'dist', 'src', 'global', 'install_defaults.js')}').then((m) => console.log(m.installDefaults.config_directory))`],
    { encoding: 'utf8' },
  );
  assert.equal(d.stdout.trim(), join(root, 'etc'));
  const st = spawnSync(process.execPath, [join(root, 'sbin', 'postfix'), 'status'], { encoding: 'utf8', env: { ...process.env, MAIL_CONFIG: '' } });
  assert.equal(st.status, 1, 'not running, found through the installed defaults');
  writeFileSync(join(root, 'etc', 'main.cf'), main + 'myhostname = kept.example\n');
  const u = spawnSync(process.execPath, [mk, 'upgrade', `install_root=${join(root, 'pkg')}`], { encoding: 'utf8' });
  assert.equal(u.status, 0, u.stderr);
  assert.match(readFileSync(join(root, 'etc', 'main.cf'), 'utf8'), /^myhostname = kept\.example$/m);
  assert.ok(existsSync(join(root, 'pkg', 'install.json')));
});

/**
 * templates - `postconf -t` / `postconf -b` run the bounce program with
 * -n dump_templates / -n expand_templates: output compared with what real
 * Postfix 3.7 printed for the same main.cf (golden/*.oracle.txt), for the
 * built-in templates and a bounce_template_file.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/instance.js';

const GOLDEN = join(REPO, 'test', 'bounce', 'golden');
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bounce-tpl-'));
  mkdirSync(join(dir, 'etc'));
  writeFileSync(
    join(dir, 'etc', 'main.cf'),
    ['compatibility_level = 3.6', `queue_directory = ${dir}`, 'myhostname = mail.example.test', 'delay_warning_time = 2s', 'maximal_queue_lifetime = 1d', ''].join('\n'),
  );
  copyFileSync(join(GOLDEN, 'custom.tpl'), join(dir, 'custom.tpl'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

function postconf(...args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'postconf'), '-c', join(dir, 'etc'), ...args], { encoding: 'utf8', env: { ...process.env, MAIL_CONFIG: join(dir, 'etc') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const golden = (name: string) => readFileSync(join(GOLDEN, name), 'utf8');
const DELAY_WARNINGS = [
  'postfix/bounce: warning: [built-in]: zero result in delay template conversion of parameter "delay_warning_time_hours"',
  'postfix/bounce: warning: please reduce time unit "hours" of "delay_warning_time_hours" in delay template',
  'postfix/bounce: warning: for instructions see the bounce(5) manual',
  '',
].join('\n');

test('postconf -t prints the built-in templates as Postfix does', () => {
  const r = postconf('-t');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, golden('postconf-t.oracle.txt'));
});

test('postconf -b expands them, warning about a time unit that rounds to zero', () => {
  const r = postconf('-b');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, golden('postconf-b.oracle.txt'));
  assert.equal(r.stderr, DELAY_WARNINGS);
});

test('a template file: -t shows it normalised; -b fails on a $name Postfix does not know', () => {
  const t = postconf('-t', join(dir, 'custom.tpl'));
  assert.equal(t.status, 0, t.stderr);
  assert.equal(t.stdout, golden('custom-t.oracle.txt'));
  const b = postconf('-b', join(dir, 'custom.tpl'));
  assert.equal(b.status, 1);
  assert.equal(b.stdout, '');
  assert.equal(b.stderr, golden('custom-b.oracle.txt').replaceAll('/tmp/tpl.cf', join(dir, 'custom.tpl')));
});

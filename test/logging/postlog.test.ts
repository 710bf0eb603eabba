/**
 * postlog - the command as a child process: text and stdin records, tags,
 * priorities, exit codes, the direct-append fallback without postlogd, and
 * datagrams to postlogd when it is there.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeInstance, Collector, ROOT } from './util.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function postlog(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/postlog'), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const STAMP = '\\w{3} \\d\\d \\d\\d:\\d\\d:\\d\\d';

test('text on the command line is one record; without postlogd it is appended to maillog_file', async () => {
  const inst = makeInstance();
  try {
    const r = await postlog(['-c', inst.etc, 'hello', 'world']);
    assert.deepEqual([r.code, r.stderr], [0, '']);
    assert.match(readFileSync(inst.maillog, 'utf8'), new RegExp(`^${STAMP} mail postfix/postlog\\[\\d+\\]: hello world\\n$`));
  } finally {
    inst.cleanup();
  }
});

test('stdin: one record per line, control characters made printable, -t tag, -p warn', async () => {
  const inst = makeInstance();
  try {
    const r = await postlog(['-c', inst.etc, '-t', 'my\ttag', '-p', 'warn'], 'l1\nl2\r\n\nl3');
    assert.equal(r.code, 0);
    const lines = readFileSync(inst.maillog, 'utf8').split('\n').slice(0, -1).map((l) => l.replace(/^.{15} /, ''));
    assert.equal(lines.length, 4);
    const pid = /\[(\d+)\]/.exec(lines[0])![1];
    assert.deepEqual(lines, [
      `mail my?tag[${pid}]: warning: l1`,
      `mail my?tag[${pid}]: warning: l2?`,
      `mail my?tag[${pid}]: warning: `,
      `mail my?tag[${pid}]: warning: l3`,
    ]);
  } finally {
    inst.cleanup();
  }
});

test('priorities map to Postfix severities; fatal and panic still exit 0', async () => {
  const inst = makeInstance();
  try {
    for (const p of ['info', 'WARNING', 'err', 'error', 'crit', 'panic']) {
      const r = await postlog(['-c', inst.etc, '-p', p, `${p} text`]);
      assert.equal(r.code, 0, p);
    }
    const texts = readFileSync(inst.maillog, 'utf8')
      .split('\n')
      .slice(0, -1)
      .map((l) => l.replace(/^.*?\]: /, ''));
    assert.deepEqual(texts, [
      'info text',
      'warning: WARNING text',
      'error: err text',
      'error: error text',
      'fatal: crit text',
      'panic: panic text',
    ]);
  } finally {
    inst.cleanup();
  }
});

test('a bad priority and a bad option exit 1 (the complaint is not logged to maillog_file)', async () => {
  const inst = makeInstance();
  try {
    const bad = await postlog(['-c', inst.etc, '-p', 'bogus', 'x']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, ''); // stderr is not a terminal
    const opt = await postlog(['-c', inst.etc, '-z', 'x']);
    assert.equal(opt.code, 1);
    assert.equal(opt.stderr, "postlog: invalid option -- 'z'\n");
    const missing = await postlog(['-c', inst.etc, '-p']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "postlog: option requires an argument -- 'p'\n");
    assert.equal(existsSync(inst.maillog), false);
  } finally {
    inst.cleanup();
  }
});

test('with postlogd listening, records go there as datagrams and not to the file', async () => {
  const inst = makeInstance();
  const collector = new Collector(inst.socket);
  try {
    const r = await postlog(['-c', inst.etc, '-p', 'error', 'via the socket']);
    assert.equal(r.code, 0);
    await collector.waitFor(1);
    assert.match(collector.records[0], new RegExp(`^${STAMP} mail postfix/postlog\\[\\d+\\]: error: via the socket$`));
    assert.equal(existsSync(inst.maillog), false);
  } finally {
    collector.close();
    inst.cleanup();
  }
});

test('maillog_file = /dev/stdout: records appear on standard output', async () => {
  const inst = makeInstance('maillog_file = /dev/stdout\nmaillog_file_prefixes = /var, /dev/stdout');
  try {
    const r = await postlog(['-c', inst.etc, 'to stdout']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^${STAMP} mail postfix/postlog\\[\\d+\\]: to stdout\\n$`));
  } finally {
    inst.cleanup();
  }
});

test('maillog_file outside maillog_file_prefixes: exit 1', async () => {
  const inst = makeInstance('maillog_file_prefixes = /var, /dev/stdout');
  try {
    const r = await postlog(['-c', inst.etc, 'x']);
    assert.equal(r.code, 1);
    assert.equal(existsSync(inst.maillog), false);
  } finally {
    inst.cleanup();
  }
});

test('syslog_name sets the default tag', async () => {
  const inst = makeInstance('syslog_name = postfix-out');
  try {
    const r = await postlog(['-c', inst.etc, 'x']);
    assert.equal(r.code, 0);
    assert.match(readFileSync(inst.maillog, 'utf8'), / mail postfix-out\/postlog\[\d+\]: x\n$/);
  } finally {
    inst.cleanup();
  }
});

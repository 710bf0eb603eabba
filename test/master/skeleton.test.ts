/**
 * skeleton.test - the server skeletons without master: option parsing, the
 * child command line master builds, -S (one client on stdin/stdout) and -L
 * (stand-alone listener), trigger servers, and UNIX-domain datagrams.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getopt, parseServerArgs } from '../../src/master/mail_server_common.js';
import { childArgs, parseMasterEntries } from '../../src/master/master_ent.js';
import { pidText, splitHostPort, servicePort, inetAddresses } from '../../src/master/master.js';
import { bindUnixDgram } from '../../src/master/dgram_server.js';
import { REPO, runProgram } from '../helpers/instance.js';

const FIX = join(REPO, 'dist', 'test', 'master', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'skeleton-test-'));
mkdirSync(join(dir, 'spool'));
writeFileSync(join(dir, 'main.cf'), `queue_directory = ${join(dir, 'spool')}\nmaillog_file =\n`);
const env = { ...process.env, MAIL_CONFIG: dir };
after(() => rmSync(dir, { recursive: true, force: true }));

test('getopt: clustered flags, attached and separate arguments, operands', () => {
  const r = getopt(['-vu', '-n', 'smtp', '-tinet', '-o', 'a=b', 'rest', '-x'], 'cdDi:lm:n:o:s:St:uvVzL:');
  assert.deepEqual(r.opts, [
    ['v', undefined],
    ['u', undefined],
    ['n', 'smtp'],
    ['t', 'inet'],
    ['o', 'a=b'],
  ]);
  assert.deepEqual(r.rest, ['rest', '-x']);
  assert.equal(getopt(['-q'], 'v').bad, 'q');
});

test('parseServerArgs: master.cf options reach the skeleton', () => {
  const a = parseServerArgs(['-l', '-n', 'relay', '-t', 'unix', '-u', '-o', 'syslog_name = postfix/relay', '-o', 'x=', 'argv=/bin/cat'], 'smtp');
  assert.equal(a.serviceName, 'relay');
  assert.equal(a.transport, 'unix');
  assert.ok(a.unprivileged && a.solitary);
  assert.deepEqual(a.overrides, [
    ['syslog_name', 'postfix/relay'],
    ['x', ''],
  ]);
  assert.deepEqual(a.args, ['argv=/bin/cat']);
});

test('childArgs: the command line master builds (Postfix master_ent.c)', () => {
  const text = [
    'smtp      inet  n       -       n       -       -       smtpd',
    'pickup    unix  n       -       n       60      1       pickup',
    'cleanup   unix  n       -       n       -       0       cleanup',
    'relay     unix  -       -       n       -       -       smtp',
    '  -o syslog_name=postfix/$service_name',
    'local     unix  -       n       n       -       -       local',
    '',
  ].join('\n');
  const e = parseMasterEntries(text, 'master.cf', 100, '3.7', () => undefined);
  assert.deepEqual(childArgs(e[0], 0), ['-n', 'smtp', '-t', 'inet', '-u']);
  assert.deepEqual(childArgs(e[1], 0), ['-l', '-t', 'unix', '-u']);
  assert.deepEqual(childArgs(e[2], 0), ['-z', '-t', 'unix', '-u']);
  assert.deepEqual(childArgs(e[3], 1), ['-n', 'relay', '-t', 'unix', '-v', '-u', '-o', 'syslog_name=postfix/$service_name']);
  assert.deepEqual(childArgs(e[4], 0), ['-t', 'unix']);
  assert.equal(e[1].wakeup, 60);
  assert.equal(e[0].maxproc, 100);
});

test('pid file format and inet endpoints', async () => {
  assert.equal(pidText(123), ' '.repeat(29) + '123\n');
  assert.deepEqual(splitHostPort('127.0.0.1:2525'), { host: '127.0.0.1', port: '2525' });
  assert.deepEqual(splitHostPort('[::1]:smtp'), { host: '::1', port: 'smtp' });
  assert.deepEqual(splitHostPort('submission'), { host: '', port: 'submission' });
  assert.equal(servicePort('smtp'), 25);
  assert.equal(servicePort('587'), 587);
  assert.equal(servicePort('no-such-service-name'), undefined);
  assert.deepEqual(await inetAddresses(['all'], ['ipv4']), ['0.0.0.0']);
  assert.deepEqual(await inetAddresses(['loopback-only'], ['all']), ['127.0.0.1', '::1']);
  assert.deepEqual(await inetAddresses(['127.0.0.1'], ['ipv4']), ['127.0.0.1']);
});

test('-S: single_server serves one client on stdin/stdout', async () => {
  const r = await runProgram(join(FIX, 'echo_daemon.js'), ['-S', '-n', 'stdin-test'], env, 'one\nquit\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^hello stdin-test \d+ postfix\necho one\nbye\n$/);
});

test('-S: trigger_server handles the trigger on stdin', async () => {
  const out = join(dir, 'trig.out');
  const r = await runProgram(join(FIX, 'trigger_daemon.js'), ['-S', out], env, 'IDFA');
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(out, 'utf8'), /^\d+ IDFA\n$/);
});

test('-L: a stand-alone listener serves clients without master', async () => {
  const sock = join(dir, 'echo.sock');
  const child = spawn(process.execPath, [join(FIX, 'echo_daemon.js'), '-L', sock, '-n', 'alone'], { env, stdio: 'ignore' });
  try {
    for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
    const text = await new Promise<string>((resolve, reject) => {
      const c = connect(sock);
      let buf = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => {
        buf += d;
        if (buf.endsWith('bye\n')) c.end();
      });
      c.on('connect', () => c.write('two\nquit\n'));
      c.on('close', () => resolve(buf));
      c.on('error', reject);
    });
    assert.match(text, /^hello alone \d+ postfix\necho two\nbye\n$/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
});

test('unix-dgram: datagrams arrive through the native socket', async () => {
  const path = join(dir, 'dgram.sock');
  const got: string[] = [];
  const sock = bindUnixDgram(path, (buf) => got.push(buf.toString()));
  try {
    const require = createRequire(import.meta.url);
    const unix = require('unix-dgram') as { createSocket(t: string): { send(b: Buffer, o: number, l: number, p: string, cb?: (e?: Error) => void): void; close(): void } };
    const client = unix.createSocket('unix_dgram');
    const msgBuf = Buffer.from('hello datagram');
    client.send(msgBuf, 0, msgBuf.length, path);
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    client.close();
    assert.deepEqual(got, ['hello datagram']);
  } finally {
    sock.close();
  }
});

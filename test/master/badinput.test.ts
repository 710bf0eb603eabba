/**
 * badinput - issue 3's "bad input" and reload checks on whole instances: a
 * malformed master.cf line and a port already in use make `postfix start`
 * fail with a clear fatal message and leave nothing running; a parameter
 * changed by `postfix reload` is seen by newly started processes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** greeting - the first line the SMTP server sends. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    sock.setTimeout(20000, () => {
      sock.destroy();
      reject(new Error('no greeting'));
    });
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) {
        sock.end('QUIT\r\n');
        resolve(buf.slice(0, nl));
      }
    });
  });
}

async function nothingRunning(inst: TestInstance): Promise<void> {
  const left = await inst.waitNoProcesses(10000);
  assert.deepEqual(left, [], 'no process of the instance is left');
}

test('a malformed master.cf line: postfix start fails naming file and line, nothing runs', async () => {
  const inst = await TestInstance.create({ name: 'bad-mastercf' });
  try {
    const masterCf = join(inst.configDir, 'master.cf');
    const lines = readFileSync(masterCf, 'utf8').replace(/\n*$/, '\n');
    const lineNo = lines.split('\n').length; // the line we append
    writeFileSync(masterCf, lines + 'broken    unix  n  -\n');
    const r = await inst.postfix('start');
    assert.notEqual(r.status, 0);
    assert.match(inst.readLog(), new RegExp(`fatal: ${masterCf.replace(/[.]/g, '\\.')}: line ${lineNo}: `));
    assert.equal(inst.masterPid(), undefined);
    await nothingRunning(inst);
  } finally {
    await inst.cleanup();
  }
});

test('a port already in use: a fatal line naming it, postfix start fails, nothing left running', async () => {
  const inst = await TestInstance.create({ name: 'bad-port' });
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(inst.smtpPort, '127.0.0.1', () => resolve()));
  try {
    const r = await inst.postfix('start');
    assert.notEqual(r.status, 0);
    const log = inst.readLog();
    assert.match(log, new RegExp(`postfix/master\\[\\d+\\]: fatal: bind 127\\.0\\.0\\.1 port ${inst.smtpPort}: Address already in use`));
    assert.match(log, /postfix\/postfix-script\[\d+\]: fatal: mail system startup failed/);
    await nothingRunning(inst);
  } finally {
    blocker.close();
    await inst.cleanup();
  }
});

test('reload: a changed parameter is seen by newly started processes', async () => {
  const inst = await TestInstance.create({ name: 'reload-param', main: { smtpd_banner: '$myhostname ESMTP before reload' } });
  try {
    await inst.start();
    assert.equal(await greeting(inst.smtpPort), '220 mail.example.test ESMTP before reload');
    inst.setMain({ smtpd_banner: '$myhostname ESMTP after reload' });
    const r = await inst.postfix('reload');
    assert.equal(r.status, 0, r.stderr);
    await inst.waitForLog(/postfix\/master\[\d+\]: reload -- version 3\.7\.11, configuration /);
    // Old smtpd processes finish their clients and leave; new ones read the new main.cf.
    let banner = '';
    for (let i = 0; i < 50 && !banner.endsWith('after reload'); i++) {
      banner = await greeting(inst.smtpPort);
      if (!banner.endsWith('after reload')) await sleep(200);
    }
    assert.equal(banner, '220 mail.example.test ESMTP after reload');
  } finally {
    await inst.cleanup();
  }
});

/**
 * postlogd - the service writes each datagram as one whole line, in arrival
 * order, with concurrent writers on real datagram sockets; reopens after
 * rotation; and runs as a daemon (stand-alone -L) that reopens on SIGHUP.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFatalAction, FatalError } from '../../src/util/msg.js';
import { listenUnixDgram } from '../../src/util/msg_dgram.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { maillogClientReset } from '../../src/global/maillog_client.js';
import { Postlogd, sanitizeRecord, splitRecord, POSTLOGD_RECORD_MAX } from '../../src/postlogd/postlogd.js';
import { makeInstance, Collector, ROOT } from './util.js';

setFatalAction((text, status) => {
  throw new FatalError(text, status);
});

const NOW = () => new Date(2026, 10, 5, 9, 3, 7);

test('sanitizeRecord: one datagram is one line', () => {
  assert.equal(sanitizeRecord(Buffer.from('a b c\n'))!.toString(), 'a b c');
  assert.equal(sanitizeRecord(Buffer.from('x\ny\r\nz\0w'))!.toString(), 'x?y??z?w');
  assert.equal(sanitizeRecord(Buffer.from('\n\n')), undefined);
  assert.equal(sanitizeRecord(Buffer.alloc(0)), undefined);
  const big = sanitizeRecord(Buffer.alloc(POSTLOGD_RECORD_MAX * 2, 0x61))!;
  assert.equal(big.length, POSTLOGD_RECORD_MAX);
  // A cut never leaves half a UTF-8 character behind.
  const euro = Buffer.concat([Buffer.alloc(POSTLOGD_RECORD_MAX - 1, 0x61), Buffer.from('€€')]);
  const cut = sanitizeRecord(euro)!;
  assert.equal(cut.length, POSTLOGD_RECORD_MAX - 1);
  assert.equal(cut.toString('utf8').includes('\ufffd'), false);
});

test('splitRecord strips the date, host and tag (syslog redirect)', () => {
  assert.deepEqual(splitRecord('Nov 05 09:03:07 mail postfix/smtpd[12]: connect from x'), {
    namePid: 'postfix/smtpd[12]',
    text: 'connect from x',
  });
});

test('concurrent writers: every record whole, each writer in order', async () => {
  const inst = makeInstance();
  const config = MailConfig.load(inst.etc);
  const server = new Postlogd(config, { now: NOW });
  server.open();
  const listener = listenUnixDgram(inst.socket, (buf) => server.service(buf));
  try {
    const WRITERS = 4;
    const LINES = 200;
    const runs: Array<Promise<number>> = [];
    for (let w = 0; w < WRITERS; w++) {
      const child = spawn(process.execPath, [join(ROOT, 'bin/postlog'), '-c', inst.etc, '-t', `writer${w}`], {
        stdio: ['pipe', 'ignore', 'inherit'],
      });
      let input = '';
      for (let i = 0; i < LINES; i++) input += `w${w} line ${i} ${'x'.repeat(i % 50)}\n`;
      child.stdin.end(input);
      runs.push(new Promise((resolve) => child.on('close', (code) => resolve(code ?? -1))));
    }
    assert.deepEqual(await Promise.all(runs), new Array(WRITERS).fill(0));
    // Every postlog has exited, so every datagram is in the socket or written; wait for the count.
    for (const deadline = Date.now() + 30_000; ; ) {
      assert.ok(Date.now() < deadline, 'records missing');
      await server.flushed();
      const n = existsSync(inst.maillog) ? readFileSync(inst.maillog, 'utf8').split('\n').length - 1 : 0;
      if (n >= WRITERS * LINES) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const lines = readFileSync(inst.maillog, 'utf8').split('\n').slice(0, -1);
    assert.equal(lines.length, WRITERS * LINES);
    const next = new Array(WRITERS).fill(0);
    for (const line of lines) {
      const m = /^\w{3} \d\d \d\d:\d\d:\d\d mail writer(\d)\[\d+\]: w(\d) line (\d+) (x*)$/.exec(line);
      assert.ok(m, `torn or malformed line: ${line}`);
      const w = Number(m[1]);
      assert.equal(Number(m[2]), w);
      assert.equal(Number(m[3]), next[w]);
      assert.equal(m[4].length, next[w] % 50);
      next[w]++;
    }
  } finally {
    listener.close();
    server.close();
    maillogClientReset();
    inst.cleanup();
  }
});

test('embedded newlines never reach the file raw; reopen after rotation', async () => {
  const inst = makeInstance();
  const config = MailConfig.load(inst.etc);
  const server = new Postlogd(config, { now: NOW });
  server.open();
  try {
    server.service(Buffer.from('Nov 05 09:03:07 mail evil[1]: fake\nNov 05 09:03:07 mail postfix/smtpd[2]: forged'));
    server.service(Buffer.from('Nov 05 09:03:07 mail ok[3]: trailing newline is fine\n'));
    await server.flushed();
    renameSync(inst.maillog, inst.maillog + '.1');
    server.reopen();
    server.service(Buffer.from('Nov 05 09:03:07 mail ok[3]: after rotation'));
    await server.flushed();
    assert.equal(
      readFileSync(inst.maillog + '.1', 'utf8'),
      'Nov 05 09:03:07 mail evil[1]: fake?Nov 05 09:03:07 mail postfix/smtpd[2]: forged\n' +
        'Nov 05 09:03:07 mail ok[3]: trailing newline is fine\n',
    );
    assert.equal(readFileSync(inst.maillog, 'utf8'), 'Nov 05 09:03:07 mail ok[3]: after rotation\n');
  } finally {
    server.close();
    maillogClientReset();
    inst.cleanup();
  }
});

test('an unopenable maillog_file is fatal at start-up', () => {
  const inst = makeInstance();
  try {
    const config = MailConfig.load(inst.etc);
    config.override('maillog_file', inst.dir); // a directory
    const server = new Postlogd(config);
    assert.throws(() => server.open(), (e: Error) => e.message === `open logfile '${inst.dir}': cannot open file: Is a directory`);
  } finally {
    maillogClientReset();
    inst.cleanup();
  }
});

test('empty maillog_file: records are passed on to syslog', async () => {
  const inst = makeInstance('maillog_file =');
  const devlog = join(inst.dir, 'devlog');
  const collector = new Collector(devlog);
  try {
    const server = new Postlogd(MailConfig.load(inst.etc), { now: NOW, syslogPath: devlog });
    server.open();
    server.service(Buffer.from('Nov 05 09:03:07 mail postfix/smtpd[12]: connect from x'));
    await collector.waitFor(1);
    assert.equal(collector.records[0], '<22>Nov  5 09:03:07 postfix/smtpd[12]: connect from x');
  } finally {
    collector.close();
    maillogClientReset();
    inst.cleanup();
  }
});

test('postlogd daemon (stand-alone -L): writes, reopens on SIGHUP, logs about itself into the file', async () => {
  const inst = makeInstance();
  const child = spawn(process.execPath, [join(ROOT, 'libexec/postlogd'), '-L', inst.socket], {
    env: { ...process.env, MAIL_CONFIG: inst.etc },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise((resolve) => child.on('close', resolve));
  const send = (text: string) =>
    new Promise<number>((resolve) => {
      const p = spawn(process.execPath, [join(ROOT, 'bin/postlog'), '-c', inst.etc, text], { stdio: 'ignore' });
      p.on('close', (code) => resolve(code ?? -1));
    });
  const fileHas = async (path: string, text: string) => {
    const deadline = Date.now() + 20_000;
    while (!(existsSync(path) && readFileSync(path, 'utf8').includes(text))) {
      assert.ok(Date.now() < deadline, `${path} never got "${text}"`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    // Wait until postlogd has bound its socket (before that, postlog appends directly).
    for (const deadline = Date.now() + 20_000; !existsSync(inst.socket); ) {
      assert.ok(Date.now() < deadline, 'postlogd never bound its socket');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await send('first record'), 0);
    await fileHas(inst.maillog, 'first record');
    renameSync(inst.maillog, inst.maillog + '.old');
    child.kill('SIGHUP');
    // After SIGHUP postlogd writes to a new file at the same path.
    await fileHas(inst.maillog, '');
    assert.equal(await send('after hup'), 0);
    await fileHas(inst.maillog, 'after hup');
    assert.match(readFileSync(inst.maillog + '.old', 'utf8'), /^\w{3} \d\d \d\d:\d\d:\d\d mail postfix\/postlog\[\d+\]: first record\n/m);
  } finally {
    child.kill('SIGTERM');
    await closed;
    inst.cleanup();
  }
  assert.equal(stderr.includes('fatal'), false, stderr);
});

test('postlogd refuses command-line arguments', async () => {
  const inst = makeInstance();
  try {
    writeFileSync(join(inst.dir, 'x'), '');
    const child = spawn(process.execPath, [join(ROOT, 'libexec/postlogd'), '-L', inst.socket, 'extra'], {
      env: { ...process.env, MAIL_CONFIG: inst.etc },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 1);
    assert.match(readFileSync(inst.maillog, 'utf8'), /postfix\/postlogd\[\d+\]: fatal: unexpected command-line argument: extra\n/);
  } finally {
    inst.cleanup();
  }
});

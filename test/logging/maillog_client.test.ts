/**
 * maillog_client - records reach postlogd as datagrams over a real socket,
 * fall back to appending maillog_file when postlogd is not there, respect
 * maillog_file_prefixes, and never stall when postlogd stops reading.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { msg, setFatalAction, FatalError } from '../../src/util/msg.js';
import { MsgLogger } from '../../src/util/msg_logger.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import {
  maillogClientInit,
  maillogClientReset,
  maillogClientFlush,
  POSTLOG_SERVICE_ENV,
  POSTLOG_HOSTNAME_ENV,
} from '../../src/global/maillog_client.js';
import { makeInstance, Collector } from './util.js';

setFatalAction((text, status) => {
  throw new FatalError(text, status);
});
after(() => maillogClientReset());

/** mod - the file URL of a compiled module, for child scripts. */
const mod = (p: string) => new URL(`../../src/${p}`, import.meta.url).href;

const NOW = () => new Date(2026, 10, 5, 9, 3, 7);

test('records go to the postlog socket as one datagram each', async () => {
  const inst = makeInstance();
  const collector = new Collector(inst.socket);
  try {
    const config = MailConfig.load(inst.etc);
    const client = maillogClientInit(config, 'smtpd', { now: NOW, pid: 4321, daemon: true });
    assert.equal(client.tag, 'postfix/smtpd');
    assert.equal(client.mode, 'postlog');
    msg.info('connect from localhost[127.0.0.1]');
    msg.warn('a warning');
    msg.info('multi\nline');
    await collector.waitFor(3);
    assert.deepEqual(collector.records, [
      'Nov 05 09:03:07 mail postfix/smtpd[4321]: connect from localhost[127.0.0.1]',
      'Nov 05 09:03:07 mail postfix/smtpd[4321]: warning: a warning',
      'Nov 05 09:03:07 mail postfix/smtpd[4321]: multi?line',
    ]);
    assert.equal(process.env[POSTLOG_SERVICE_ENV], inst.socket);
    assert.equal(process.env[POSTLOG_HOSTNAME_ENV], 'mail.example.test');
    assert.equal(existsSync(inst.maillog), false);
  } finally {
    maillogClientReset();
    collector.close();
    inst.cleanup();
  }
});

test('-o syslog_name=postfix/submission gives postfix/submission/smtpd', async () => {
  const inst = makeInstance();
  const collector = new Collector(inst.socket);
  try {
    const config = MailConfig.load(inst.etc);
    config.override('syslog_name', 'postfix/submission');
    maillogClientInit(config, 'smtpd', { now: NOW, pid: 9, daemon: true });
    msg.info('connect from x[192.0.2.1]');
    await collector.waitFor(1);
    assert.equal(collector.records[0], 'Nov 05 09:03:07 mail postfix/submission/smtpd[9]: connect from x[192.0.2.1]');
  } finally {
    maillogClientReset();
    collector.close();
    inst.cleanup();
  }
});

test('without postlogd a command appends to maillog_file itself', async () => {
  const inst = makeInstance();
  try {
    const config = MailConfig.load(inst.etc);
    maillogClientInit(config, 'postsuper', { now: NOW, pid: 77, daemon: false });
    msg.info('Deleted: 1 message');
    msg.warn('second');
    // Synchronous for commands: the lines are there at once.
    assert.equal(
      readFileSync(inst.maillog, 'utf8'),
      'Nov 05 09:03:07 mail postfix/postsuper[77]: Deleted: 1 message\n' +
        'Nov 05 09:03:07 mail postfix/postsuper[77]: warning: second\n',
    );
  } finally {
    maillogClientReset();
    inst.cleanup();
  }
});

test('a stale socket file (nobody bound) also falls back; daemons append in the background', async () => {
  const inst = makeInstance();
  writeFileSync(inst.maillog, 'old line\n');
  const c = new Collector(inst.socket);
  c.close(); // the socket file stays, nobody reads it: ECONNREFUSED
  try {
    const config = MailConfig.load(inst.etc);
    maillogClientInit(config, 'qmgr', { now: NOW, pid: 5, daemon: true });
    for (let i = 0; i < 20; i++) msg.info(`record ${i}`);
    await maillogClientFlush();
    const lines = readFileSync(inst.maillog, 'utf8').split('\n');
    assert.equal(lines[0], 'old line');
    for (let i = 0; i < 20; i++) assert.equal(lines[i + 1], `Nov 05 09:03:07 mail postfix/qmgr[5]: record ${i}`);
  } finally {
    maillogClientReset();
    inst.cleanup();
  }
});

test('maillog_file outside maillog_file_prefixes is fatal with Postfix text', () => {
  const inst = makeInstance();
  try {
    const config = MailConfig.load(inst.etc);
    config.override('maillog_file_prefixes', '/var, /dev/stdout');
    assert.throws(
      () => maillogClientInit(config, 'postlog', { daemon: false }),
      (e: Error) =>
        e.message === `maillog_file value '${inst.maillog}' does not match any prefix in maillog_file_prefixes`,
    );
  } finally {
    maillogClientReset();
    inst.cleanup();
  }
});

test('an unwritable fallback file is fatal for commands', () => {
  const inst = makeInstance();
  try {
    const config = MailConfig.load(inst.etc);
    config.override('maillog_file', join(inst.dir, 'no', 'such', 'dir', 'maillog'));
    maillogClientInit(config, 'postfix', { daemon: false });
    // msg.ts swallows a back-end's exception, so look at what fatal was asked to say.
    const said: string[] = [];
    setFatalAction((text, status) => {
      said.push(text);
      throw new FatalError(text, status);
    });
    msg.info('x');
    assert.equal(
      said[0],
      `open logfile '${join(inst.dir, 'no', 'such', 'dir', 'maillog')}': cannot create file exclusively: No such file or directory`,
    );
  } finally {
    setFatalAction((text, status) => {
      throw new FatalError(text, status);
    });
    maillogClientReset();
    inst.cleanup();
  }
});

test('empty maillog_file: syslog datagrams to /dev/log with the facility', async () => {
  const inst = makeInstance('maillog_file =\nsyslog_facility = local1');
  const devlog = join(inst.dir, 'devlog');
  const collector = new Collector(devlog);
  try {
    const config = MailConfig.load(inst.etc);
    const client = maillogClientInit(config, 'pickup', { now: NOW, pid: 12, syslogPath: devlog, daemon: true });
    assert.equal(client.mode, 'syslog');
    msg.info('hello');
    msg.error('bad');
    await collector.waitFor(2);
    assert.deepEqual(collector.records, [
      '<142>Nov  5 09:03:07 postfix/pickup[12]: hello',
      '<139>Nov  5 09:03:07 postfix/pickup[12]: error: bad',
    ]);
    assert.equal(process.env[POSTLOG_SERVICE_ENV], undefined);
  } finally {
    maillogClientReset();
    collector.close();
    inst.cleanup();
  }
});

test('an unknown syslog_facility is fatal', () => {
  const inst = makeInstance('maillog_file =\nsyslog_facility = nosuch');
  try {
    const config = MailConfig.load(inst.etc);
    assert.throws(
      () => maillogClientInit(config, 'smtpd', { daemon: true }),
      (e: Error) => e.message === `file ${inst.etc}/main.cf: parameter syslog_facility: unrecognized value: nosuch`,
    );
  } finally {
    maillogClientReset();
    inst.cleanup();
  }
});

test('stderr gets "progname: text"', async () => {
  const inst = makeInstance();
  const collector = new Collector(inst.socket);
  try {
    const script = `
      import { MailConfig } from '${mod('global/mail_conf.js')}';
      import { maillogClientInit } from '${mod('global/maillog_client.js')}';
      import { msg } from '${mod('util/msg.js')}';
      maillogClientInit(MailConfig.load(${JSON.stringify(inst.etc)}), 'postsuper', { stderr: true, daemon: false });
      msg.info('Deleted: 2 messages');
      msg.warn('tab\\there');
    `;
    const file = join(inst.dir, 'stderr-child.mjs');
    writeFileSync(file, script);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.equal(err, 'postsuper: Deleted: 2 messages\npostsuper: warning: tab?here\n');
    await collector.waitFor(2);
    assert.match(collector.records[1], /^\w{3} \d\d \d\d:\d\d:\d\d mail postfix\/postsuper\[\d+\]: warning: tab\?here$/);
  } finally {
    collector.close();
    inst.cleanup();
  }
});

/**
 * spawnReceiver - a stand-in postlogd in another process (so that the test can
 * stop it): runs the script with the socket path and args; `ready` when it
 * listens, `closed` when it exits, `output()` what it printed.
 */
function spawnReceiver(inst: ReturnType<typeof makeInstance>, name: string, script: string, args: string[] = []) {
  const file = join(inst.dir, name);
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file, inst.socket, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('ready\n')) resolve();
    }),
  );
  const closed = new Promise((resolve) => child.on('close', resolve));
  return { child, ready, closed, output: () => out };
}

test('a stalled postlogd never blocks the caller; queued records arrive in order', async () => {
  const inst = makeInstance();
  // A receiver in another process that we stop (SIGSTOP) so the kernel queue fills up.
  const recvScript = `
    import { listenUnixDgram } from '${mod('util/msg_dgram.js')}';
    let n = 0;
    const want = Number(process.argv[3]);
    const l = listenUnixDgram(process.argv[2], (buf) => {
      process.stdout.write(buf.toString() + '\\n');
      if (++n === want) { l.close(); }
    });
    process.stdout.write('ready\\n');
  `;
  const N = 300;
  const { child, ready, closed, output } = spawnReceiver(inst, 'recv-child.mjs', recvScript, [String(N)]);
  try {
    await ready;
    child.kill('SIGSTOP');
    const config = MailConfig.load(inst.etc);
    maillogClientInit(config, 'smtp', { now: NOW, pid: 3, daemon: true });
    for (let i = 0; i < N; i++) msg.info(`r${i}`); // returns at once although nobody reads
    child.kill('SIGCONT');
    await maillogClientFlush();
    await closed;
    const got = output().split('\n').slice(1, -1);
    assert.equal(got.length, N);
    got.forEach((line, i) => assert.equal(line, `Nov 05 09:03:07 mail postfix/smtp[3]: r${i}`));
  } finally {
    maillogClientReset();
    child.kill('SIGCONT');
    child.kill();
    inst.cleanup();
  }
});

test('a slow postlogd slows the logger down instead of losing records (Postfix: blocking send)', async () => {
  const inst = makeInstance();
  // The receiver reads every datagram ~0.2 ms late, so a burst fills the socket and the queue.
  const recvScript = `
    import { listenUnixDgram } from '${mod('util/msg_dgram.js')}';
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const l = listenUnixDgram(process.argv[2], (buf) => {
      Atomics.wait(pause, 0, 0, 0.2);
      const s = buf.toString();
      process.stdout.write(s + '\\n');
      if (s.endsWith(': last')) l.close();
    });
    process.stdout.write('ready\\n');
  `;
  const { child, ready, closed, output } = spawnReceiver(inst, 'recv-slow.mjs', recvScript);
  try {
    await ready;
    const logger = new MsgLogger({ progname: 'postfix/qmgr', hostname: 'mail', servicePath: inst.socket, maxQueue: 5, now: NOW, pid: 3 });
    const total = 3000;
    for (let i = 0; i < total; i++) logger.log(logger.format('info', `r${i}`));
    logger.log(logger.format('info', 'last'));
    await logger.flushed();
    // A lost "last" would leave the receiver waiting: give up after 20 s and compare what came.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 20000).unref())]);
    const got = output().split('\n').slice(1, -1).map((l) => l.replace(/^.*?\]: /, ''));
    assert.deepEqual(got, [...Array.from({ length: total }, (_, i) => `r${i}`), 'last']);
  } finally {
    child.kill();
    inst.cleanup();
  }
});

test('beyond the queue bound records are dropped and counted', async () => {
  const inst = makeInstance();
  const recvScript = `
    import { listenUnixDgram } from '${mod('util/msg_dgram.js')}';
    const l = listenUnixDgram(process.argv[2], (buf) => {
      const s = buf.toString();
      process.stdout.write(s + '\\n');
      if (s.endsWith(': after')) l.close();
    });
    process.stdout.write('ready\\n');
  `;
  const { child, ready, closed, output } = spawnReceiver(inst, 'recv-child2.mjs', recvScript);
  try {
    await ready;
    child.kill('SIGSTOP');
    const logger = new MsgLogger({
      progname: 'postfix/smtp',
      hostname: 'mail',
      servicePath: inst.socket,
      maxQueue: 5,
      now: NOW,
      pid: 3,
    });
    const total = 2000;
    for (let i = 0; i < total; i++) logger.log(logger.format('info', `r${i}`));
    assert.ok(logger.pending <= 5);
    child.kill('SIGCONT');
    await logger.flushed();
    logger.log(logger.format('info', 'after'));
    await logger.flushed();
    await closed;
    const got = output().split('\n').slice(1, -1).map((l) => l.replace(/^.*?\]: /, ''));
    // What arrived is in order; then the count of lost records; then the rest.
    const warnAt = got.findIndex((l) => l.startsWith('warning:'));
    assert.ok(warnAt > 0);
    const delivered = got.slice(0, warnAt).map((l) => Number(l.slice(1)));
    delivered.forEach((n, i) => i > 0 && assert.ok(n > delivered[i - 1]));
    const lost = Number(/^warning: (\d+) log records lost: .*\/postlog: queue full$/.exec(got[warnAt])![1]);
    assert.equal(lost + delivered.length, total);
    assert.deepEqual(got.slice(warnAt + 1), ['after']);
  } finally {
    child.kill('SIGCONT');
    child.kill();
    inst.cleanup();
  }
});

test('re-initialising while postlogd is stalled neither waits nor reorders', async () => {
  const inst = makeInstance();
  const recvScript = `
    import { listenUnixDgram } from '${mod('util/msg_dgram.js')}';
    let n = 0;
    const want = Number(process.argv[3]);
    const l = listenUnixDgram(process.argv[2], (buf) => {
      process.stdout.write(buf.toString() + '\\n');
      if (++n === want) l.close();
    });
    process.stdout.write('ready\\n');
  `;
  const { child, ready, closed, output } = spawnReceiver(inst, 'recv-child3.mjs', recvScript, ['100']);
  try {
    await ready;
    child.kill('SIGSTOP');
    const config = MailConfig.load(inst.etc);
    maillogClientInit(config, 'early', { now: NOW, pid: 1, daemon: false });
    for (let i = 0; i < 50; i++) msg.info(`a${i}`);
    // (Flushing synchronously here would have waited, then written the a-records to the file.)
    maillogClientInit(config, 'late', { now: NOW, pid: 1, daemon: false });
    for (let i = 0; i < 50; i++) msg.info(`b${i}`);
    child.kill('SIGCONT');
    await maillogClientFlush();
    await closed;
    const got = output().split('\n').slice(1, -1).map((l) => l.replace(/^.{15} mail /, ''));
    const want = [
      ...Array.from({ length: 50 }, (_, i) => `postfix/early[1]: a${i}`),
      ...Array.from({ length: 50 }, (_, i) => `postfix/late[1]: b${i}`),
    ];
    assert.deepEqual(got, want);
    assert.equal(existsSync(inst.maillog), false);
  } finally {
    maillogClientReset();
    child.kill('SIGCONT');
    child.kill();
    inst.cleanup();
  }
});

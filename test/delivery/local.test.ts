/**
 * local.test - the local delivery agent and the error/discard agents,
 * driven as qmgr drives them: a real queue file, a real UNIX socket, the
 * delivery request protocol, real mailbox files.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync, mkdirSync, chmodSync, writeFileSync } from 'node:fs';
import { unixFiles } from '../../src/util/dict_unix.js';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { msgAddOutput } from '../../src/util/msg.js';
import { REC } from '../../src/global/rec_type.js';
import { DEL_REQ_FLAG } from '../../src/global/deliver_request.js';
import { readQueueFile } from '../../src/qmgr/qmgr_message.js';
import { bounceLogRead } from '../../src/global/bounce_log.js';
import { LocalAgent } from '../../src/local/local.js';
import { errorService } from '../../src/error/error.js';
import { discardService } from '../../src/discard/discard.js';
import { deliverMaildir } from '../../src/local/local_deliver.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent } from './queue_fixture.js';

function captureLog(): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const stop = msgAddOutput((_sev, text) => lines.push(text));
  return { lines, stop };
}

const me = userInfo().username;

test('local delivers to the spool mbox with delivery headers, >From quoting, and marks the recipient done', async () => {
  const inst = makeInstance();
  const log = captureLog();
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address: `${me}@mail.example.test` };
    const file = buildQueueFile('alice@example.org', [rcpt], ['Subject: hi', '', 'body line', 'From the start', '.dot']);
    const path = placeQueueFile(inst, 'ABC123', file);
    const reply = await deliverVia(inst, 'local', requestFor('ABC123', file, 'alice@example.org', [rcpt]));
    assert.equal(reply.status, 0);
    const mbox = readFileSync(join(inst.dir, 'mail', me), 'utf8');
    const lines = mbox.split('\n');
    assert.match(lines[0], /^From alice@example\.org {2}\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    assert.deepEqual(lines.slice(1, 9), [
      'Return-Path: <alice@example.org>',
      `X-Original-To: ${me}@mail.example.test`,
      `Delivered-To: ${me}@mail.example.test`,
      'Subject: hi',
      '',
      'body line',
      '>From the start',
      '.dot',
    ]);
    assert.ok(mbox.endsWith('.dot\n\n'), 'an mbox message ends with a blank line');
    const bytes = readFileSync(path);
    assert.equal(bytes[file.rcptOffsets[0]], REC.DONE, 'R record flipped to D in place');
    const line = log.lines.find((l) => l.startsWith('ABC123: to=<'));
    assert.ok(line, 'delivery logged');
    assert.match(line!, new RegExp(`^ABC123: to=<${me}@mail\\.example\\.test>, relay=local, delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(delivered to mailbox\\)$`));
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

test('local bounces an unknown user and records it in the bounce log', async () => {
  const inst = makeInstance();
  const log = captureLog();
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address: 'no-such-user-xyz@mail.example.test' };
    const file = buildQueueFile('alice@example.org', [rcpt], ['Subject: x', '', 'y']);
    placeQueueFile(inst, 'B0B', file);
    const reply = await deliverVia(inst, 'local', requestFor('B0B', file, 'alice@example.org', [rcpt]));
    assert.equal(reply.status, 0, 'a bounce is final');
    const entries = await bounceLogRead(inst.config, 'bounce', 'B0B');
    assert.equal(entries.length, 1);
    assert.equal(entries[0].status, '5.1.1');
    assert.equal(entries[0].reason, 'unknown user: "no-such-user-xyz"');
    assert.ok(log.lines.some((l) => l.includes('dsn=5.1.1, status=bounced (unknown user: "no-such-user-xyz")')));
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

test('local detects a Delivered-To loop', async () => {
  const inst = makeInstance();
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address: `${me}@mail.example.test` };
    const file = buildQueueFile('a@example.org', [rcpt], [`Delivered-To: ${me}@mail.example.test`, 'Subject: loop', '', 'x']);
    placeQueueFile(inst, 'L00P', file);
    await deliverVia(inst, 'local', requestFor('L00P', file, 'a@example.org', [rcpt]));
    const entries = await bounceLogRead(inst.config, 'bounce', 'L00P');
    assert.equal(entries[0]?.status, '5.4.6');
    assert.equal(entries[0]?.reason, `mail forwarding loop for ${me}@mail.example.test`);
    assert.equal(existsSync(join(inst.dir, 'mail', me)), false, 'nothing delivered');
  } finally {
    server.close();
    inst.cleanup();
  }
});

test('local expands an alias to a file and a command, with the alias owner rights', async () => {
  const drop = makeInstance();
  // As root, alias files and commands run as default_privs (nobody): the path must be reachable.
  chmodSync(drop.dir, 0o755);
  const outDir = join(drop.dir, 'out');
  mkdirSync(outDir);
  chmodSync(outDir, 0o1777);
  const inst = makeInstance(
    `alias_maps = inline:{ {list = ${outDir}/file, |"cat > ${outDir}/cmd.out"} }\nallow_mail_to_files = alias\nallow_mail_to_commands = alias`,
  );
  const log = captureLog();
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address: 'list@mail.example.test' };
    const file = buildQueueFile('a@example.org', [rcpt], ['Subject: to list', '', 'hello list']);
    placeQueueFile(inst, 'A11A5', file);
    const reply = await deliverVia(inst, 'local', requestFor('A11A5', file, 'a@example.org', [rcpt]));
    assert.equal(reply.status, 0, log.lines.join('\n'));
    assert.match(readFileSync(join(outDir, 'file'), 'utf8'), /^From a@example\.org {2}/);
    assert.match(readFileSync(join(outDir, 'cmd.out'), 'utf8'), /hello list/);
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
    drop.cleanup();
  }
});

test('maildir delivery writes one file into new/ through tmp/', async () => {
  const inst = makeInstance();
  try {
    const rcpt = { address: 'u@mail.example.test' };
    const file = buildQueueFile('a@example.org', [rcpt], ['Subject: md', '', 'maildir body']);
    const path = placeQueueFile(inst, 'MD1', file);
    const dir = join(inst.dir, 'Maildir') + '/';
    const r = await deliverMaildir(dir, { path, dataOffset: file.dataOffset, sender: 'a@example.org', origRecipient: rcpt.address, deliveredTo: rcpt.address }, 'u');
    assert.equal(r.kind, 'sent');
    assert.equal(r.text, 'delivered to maildir');
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    const names = readdirSync(join(dir, 'new'));
    assert.equal(names.length, 1);
    const text = readFileSync(join(dir, 'new', names[0]), 'utf8');
    assert.match(text, /^Return-Path: <a@example\.org>\nX-Original-To: u@mail\.example\.test\nDelivered-To: u@mail\.example\.test\nSubject: md\n\nmaildir body\n$/);
  } finally {
    inst.cleanup();
  }
});

test('error agent bounces with the nexthop text and DSN; retry defers; discard reports sent', async () => {
  const inst = makeInstance();
  const log = captureLog();
  const servers = [
    await serveAgent(inst, 'error', (s) => errorService(s, { config: inst.config, serviceName: 'error', transport: 'unix', processName: 'error', args: [] })),
    await serveAgent(inst, 'retry', (s) => errorService(s, { config: inst.config, serviceName: 'retry', transport: 'unix', processName: 'error', args: [] })),
    await serveAgent(inst, 'discard', (s) => discardService(s, { config: inst.config, serviceName: 'discard', transport: 'unix', processName: 'discard', args: [] })),
  ];
  try {
    const rcpt = { address: 'x@bounce.test' };
    const file = buildQueueFile('a@example.org', [rcpt], ['Subject: e', '', 'x']);
    placeQueueFile(inst, 'E1', file);
    const r1 = await deliverVia(inst, 'error', requestFor('E1', file, 'a@example.org', [rcpt], '5.1.2 simulated bounce'));
    assert.equal(r1.status, 0);
    assert.ok(log.lines.some((l) => /^E1: to=<x@bounce\.test>, relay=none, delay=\S+, delays=\S+, dsn=5\.1\.2, status=bounced \(simulated bounce\)$/.test(l)), log.lines.join('\n'));

    placeQueueFile(inst, 'E2', file);
    const r2 = await deliverVia(inst, 'retry', requestFor('E2', file, 'a@example.org', [rcpt], 'simulated deferral'));
    assert.equal(r2.status, 1, 'deferred');
    assert.ok(log.lines.some((l) => l.startsWith('E2: ') && l.endsWith('dsn=4.0.0, status=deferred (simulated deferral)')));
    const defer = readFileSync(join(inst.config.str('queue_directory'), 'defer', 'E', 'E2'), 'utf8').split('\n');
    assert.deepEqual(defer.slice(0, 4), ['', '<x@bounce.test>: simulated deferral', 'recipient=x@bounce.test', 'original_recipient=x@bounce.test'].slice(0, 3).concat(defer[3]));
    assert.ok(defer.includes('action=delayed') && defer.includes('status=4.0.0') && defer.includes('reason=simulated deferral'));

    placeQueueFile(inst, 'D1', file);
    const r3 = await deliverVia(inst, 'discard', requestFor('D1', file, 'a@example.org', [rcpt], 'discarded by policy'));
    assert.equal(r3.status, 0);
    assert.ok(log.lines.some((l) => l.startsWith('D1: ') && l.endsWith('dsn=2.0.0, status=sent (discarded by policy)')));
  } finally {
    log.stop();
    for (const s of servers) s.close();
    inst.cleanup();
  }
});

test('qmgr reads the envelope, skipping done recipients, and jumps over the content', async () => {
  const inst = makeInstance();
  try {
    const rcpts = [{ address: 'a@x.test' }, { address: 'b@x.test', orig: 'B@X.test' }];
    const file = buildQueueFile('s@example.org', rcpts, ['Subject: q', '', 'R fake recipient line']);
    file.bytes[file.rcptOffsets[0]] = REC.DONE;
    const path = placeQueueFile(inst, 'Q1', file);
    const info = await readQueueFile(path, 'Q1');
    assert.equal(info.sender, 's@example.org');
    assert.equal(info.dataOffset, file.dataOffset);
    assert.equal(info.dataSize, file.dataSize);
    assert.deepEqual(
      info.recipients.map((r) => [r.address, r.orig, r.offset, r.dsnOrcpt]),
      [['b@x.test', 'B@X.test', file.rcptOffsets[1], 'rfc822;B@X.test']],
    );
  } finally {
    inst.cleanup();
  }
});

/** fakeUsers - a passwd file with two users that map to an identity the test can write as. */
function fakeUsers(dir: string): { names: [string, string]; restore: () => void } {
  const uid = process.getuid?.() === 0 ? 65534 : (process.getuid?.() ?? 0);
  const gid = process.getuid?.() === 0 ? 65534 : (process.getgid?.() ?? 0);
  const path = join(dir, 'passwd');
  writeFileSync(path, `alpha:x:${uid}:${gid}:Alpha:${dir}:/bin/sh\nbeta:x:${uid}:${gid}:Beta:${dir}:/bin/sh\n`);
  const old = unixFiles.passwd;
  unixFiles.passwd = path;
  return { names: ['alpha', 'beta'], restore: () => (unixFiles.passwd = old) };
}

test('an alias to two users delivers to both and logs each with orig_to; the recipient is marked done once', async () => {
  const inst = makeInstance('alias_maps = inline:{ {pair = alpha, beta} }');
  const users = fakeUsers(inst.dir);
  const log = captureLog();
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address: 'pair@mail.example.test' };
    const file = buildQueueFile('s@example.org', [rcpt], ['Subject: pair', '', 'to both']);
    const path = placeQueueFile(inst, 'PA1R', file);
    const reply = await deliverVia(inst, 'local', requestFor('PA1R', file, 's@example.org', [rcpt]));
    assert.equal(reply.status, 0, log.lines.join('\n'));
    for (const u of users.names) {
      // Delivered-To names the recipient qmgr asked for (frozen_delivered_to = yes), as Postfix 3.7.
      assert.match(readFileSync(join(inst.dir, 'mail', u), 'utf8'), /Delivered-To: pair@mail\.example\.test\nSubject: pair\n\nto both\n\n$/);
      assert.ok(
        log.lines.some((l) => new RegExp(`^PA1R: to=<${u}@mail\\.example\\.test>, orig_to=<pair@mail\\.example\\.test>, relay=local, .*status=sent \\(delivered to mailbox\\)$`).test(l)),
        log.lines.join('\n'),
      );
    }
    assert.equal(readFileSync(path)[file.rcptOffsets[0]], REC.DONE);
  } finally {
    users.restore();
    log.stop();
    server.close();
    inst.cleanup();
  }
});

test('an alias loop is bounced with Postfix text, not looped', async () => {
  const inst = makeInstance('alias_maps = inline:{ loopa=loopb, loopb=loopa }');
  const log = captureLog();
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address: 'loopa@mail.example.test' };
    const file = buildQueueFile('s@example.org', [rcpt], ['Subject: loop', '', 'x']);
    placeQueueFile(inst, 'L0A', file);
    await deliverVia(inst, 'local', requestFor('L0A', file, 's@example.org', [rcpt]));
    assert.ok(log.lines.includes('warning: alias database loop for loopb'), log.lines.join('\n'));
    assert.ok(log.lines.some((l) => /^L0A: to=<loopb@mail\.example\.test>, orig_to=<loopa@mail\.example\.test>, relay=local, .*dsn=5\.4\.6, status=bounced \(alias database loop for loopb\)$/.test(l)), log.lines.join('\n'));
    const entries = await bounceLogRead(inst.config, 'bounce', 'L0A');
    assert.equal(entries[0]?.recipient, 'loopb@mail.example.test');
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

test('two agents racing to the same mbox never interleave messages', async () => {
  const inst = makeInstance();
  const agents = [new LocalAgent(inst.config), new LocalAgent(inst.config)];
  const servers = [await serveAgent(inst, 'local', (s) => agents[0].service(s)), await serveAgent(inst, 'local2', (s) => agents[1].service(s))];
  try {
    const rcpt = { address: `${me}@mail.example.test` };
    const body = Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(60)}`);
    const jobs: Array<Promise<unknown>> = [];
    for (let n = 0; n < 20; n++) {
      const file = buildQueueFile('s@example.org', [rcpt], [`Subject: race ${n}`, '', ...body, `end ${n}`]);
      const id = `RACE${n}`;
      placeQueueFile(inst, id, file);
      jobs.push(deliverVia(inst, n % 2 === 0 ? 'local' : 'local2', requestFor(id, file, 's@example.org', [rcpt])));
    }
    await Promise.all(jobs);
    const mbox = readFileSync(join(inst.dir, 'mail', me), 'utf8');
    const messages = mbox.split(/^From s@example\.org {2}.*\n/m).slice(1);
    assert.equal(messages.length, 20);
    for (const m of messages) {
      const n = /Subject: race (\d+)/.exec(m)![1];
      assert.equal(m, `Return-Path: <s@example.org>\nX-Original-To: ${me}@mail.example.test\nDelivered-To: ${me}@mail.example.test\nSubject: race ${n}\n\n${body.join('\n')}\nend ${n}\n\n`);
    }
    assert.equal(existsSync(join(inst.dir, 'mail', `${me}.lock`)), false, 'no lock left behind');
  } finally {
    for (const s of servers) s.close();
    inst.cleanup();
  }
});

test('mailbox_transport passes the recipient to another agent, which logs and marks it', async () => {
  const inst = makeInstance('mailbox_transport = discard:handed over');
  const log = captureLog();
  const agent = new LocalAgent(inst.config);
  const servers = [
    await serveAgent(inst, 'local', (s) => agent.service(s)),
    await serveAgent(inst, 'discard', (s) => discardService(s, { config: inst.config, serviceName: 'discard', transport: 'unix', processName: 'discard', args: [] })),
  ];
  try {
    const rcpt = { address: `${me}@mail.example.test` };
    const file = buildQueueFile('s@example.org', [rcpt], ['Subject: pass', '', 'x']);
    const path = placeQueueFile(inst, 'PASS1', file);
    const reply = await deliverVia(inst, 'local', requestFor('PASS1', file, 's@example.org', [rcpt]));
    assert.equal(reply.status, 0);
    assert.ok(log.lines.some((l) => l.startsWith(`PASS1: to=<${me}@mail.example.test>, relay=none,`) && l.endsWith('status=sent (handed over)')), log.lines.join('\n'));
    assert.equal(log.lines.filter((l) => l.startsWith('PASS1: to=')).length, 1, 'logged once, by the other agent');
    assert.equal(readFileSync(path)[file.rcptOffsets[0]], REC.DONE);
    assert.equal(existsSync(join(inst.dir, 'mail', me)), false);
  } finally {
    log.stop();
    for (const s of servers) s.close();
    inst.cleanup();
  }
});

test('verify mode (sendmail -bv, probes) says what would happen and delivers nothing', async () => {
  const inst = makeInstance('alias_maps = inline:{ {list = /tmp/never-written-by-verify, |"exit 1", someone@remote.example} }');
  const log = captureLog();
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpts = [{ address: `${me}@mail.example.test` }, { address: 'list@mail.example.test' }];
    const file = buildQueueFile('s@example.org', rcpts, ['Subject: verify', '', 'x']);
    placeQueueFile(inst, 'VRFY1', file);
    const req = requestFor('VRFY1', file, 's@example.org', rcpts);
    req.flags |= DEL_REQ_FLAG.USR_VRFY;
    const reply = await deliverVia(inst, 'local', req);
    assert.equal(reply.status, 0);
    const lines = log.lines.filter((l) => l.startsWith('VRFY1: to='));
    assert.ok(lines.some((l) => l.startsWith(`VRFY1: to=<${me}@mail.example.test>, relay=local,`) && l.endsWith('status=deliverable (delivers to mailbox)')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('VRFY1: to=<list@mail.example.test>, relay=local,') && l.endsWith('status=deliverable (delivers to file: /tmp/never-written-by-verify)')), lines.join('\n'));
    assert.ok(lines.some((l) => l.endsWith('status=deliverable (delivers to command: exit 1)')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('VRFY1: to=<someone@remote.example>, orig_to=<list@mail.example.test>,') && l.endsWith('status=deliverable (forwards to someone@remote.example)')), lines.join('\n'));
    assert.equal(existsSync(join(inst.dir, 'mail', me)), false);
    assert.equal(existsSync('/tmp/never-written-by-verify'), false);
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

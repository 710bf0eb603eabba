/**
 * local_owner_biff - local(8) details driven over the delivery protocol:
 * owner-listname aliases (owner_request_special, expand_owner_alias) set the
 * envelope sender of a list's deliveries, owner-x and x-request are not
 * split at a "-" recipient_delimiter, quoted "|command" members, and the
 * biff (comsat) notice after a mailbox delivery.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { msgAddOutput } from '../../src/util/msg.js';
import { LocalAgent, setBiffPort, unquoteMember } from '../../src/local/local.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent } from '../delivery/queue_fixture.js';

const me = userInfo().username;

/** outDir - a directory that default_privs (nobody, as root) can write. */
function outDir(): { path: string; cleanup: () => void } {
  const drop = makeInstance();
  chmodSync(drop.dir, 0o755);
  const path = join(drop.dir, 'out');
  mkdirSync(path);
  chmodSync(path, 0o1777);
  return { path, cleanup: drop.cleanup };
}

async function deliver(extraMainCf: string, address: string, id: string): Promise<{ status: number; log: string[] }> {
  const inst = makeInstance(extraMainCf);
  const log: string[] = [];
  const stop = msgAddOutput((_sev, text) => log.push(text));
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address };
    const file = buildQueueFile('a@example.org', [rcpt], ['Subject: to list', '', 'hello list']);
    placeQueueFile(inst, id, file);
    const reply = await deliverVia(inst, 'local', requestFor(id, file, 'a@example.org', [rcpt]));
    return { status: reply.status, log };
  } finally {
    stop();
    server.close();
    inst.cleanup();
  }
}

test('an owner-list alias becomes the envelope sender of the list deliveries', async () => {
  const out = outDir();
  try {
    const r = await deliver(`alias_maps = inline:{ {list = ${out.path}/file}, {owner-list = someone} }\nbiff = no`, 'list@mail.example.test', 'A0A1');
    assert.equal(r.status, 0, r.log.join('\n'));
    const text = readFileSync(join(out.path, 'file'), 'utf8');
    assert.match(text, /^From owner-list@mail\.example\.test {2}/);
    assert.match(text, /\nReturn-Path: <owner-list@mail\.example\.test>\n/);
  } finally {
    out.cleanup();
  }
});

test('expand_owner_alias = yes: the owner alias value is the envelope sender', async () => {
  const out = outDir();
  try {
    const r = await deliver(`alias_maps = inline:{ {list = ${out.path}/file}, {owner-list = boss@example.net} }\nexpand_owner_alias = yes\nbiff = no`, 'list@mail.example.test', 'A0A2');
    assert.equal(r.status, 0, r.log.join('\n'));
    assert.match(readFileSync(join(out.path, 'file'), 'utf8'), /\nReturn-Path: <boss@example\.net>\n/);
  } finally {
    out.cleanup();
  }
});

test('without an owner- alias, or with owner_request_special = no, the sender stays', async () => {
  const out = outDir();
  try {
    let r = await deliver(`alias_maps = inline:{ {list = ${out.path}/file} }\nbiff = no`, 'list@mail.example.test', 'A0A3');
    assert.equal(r.status, 0, r.log.join('\n'));
    assert.match(readFileSync(join(out.path, 'file'), 'utf8'), /\nReturn-Path: <a@example\.org>\n/);
    r = await deliver(`alias_maps = inline:{ {list = ${out.path}/file2}, {owner-list = x} }\nowner_request_special = no\nbiff = no`, 'list@mail.example.test', 'A0A4');
    assert.equal(r.status, 0, r.log.join('\n'));
    assert.match(readFileSync(join(out.path, 'file2'), 'utf8'), /\nReturn-Path: <a@example\.org>\n/);
  } finally {
    out.cleanup();
  }
});

test('recipient_delimiter "-": list-request is not list with extension "request" (owner_request_special)', async () => {
  const out = outDir();
  try {
    const r = await deliver(`alias_maps = inline:{ {list = ${out.path}/list} }\nrecipient_delimiter = -\nbiff = no`, 'list-request@mail.example.test', 'A0A5');
    assert.equal(r.status, 0, r.log.join('\n'));
    assert.ok(r.log.some((l) => /A0A5: to=<list-request@mail\.example\.test>, .*dsn=5\.1\.1, status=bounced \(unknown user: "list-request"\)/.test(l)), r.log.join('\n'));
    // while list-other is list with extension "other"
    const r2 = await deliver(`alias_maps = inline:{ {list = ${out.path}/list} }\nrecipient_delimiter = -\nbiff = no`, 'list-other@mail.example.test', 'A0A6');
    assert.equal(r2.status, 0, r2.log.join('\n'));
    assert.match(readFileSync(join(out.path, 'list'), 'utf8'), /hello list/);
  } finally {
    out.cleanup();
  }
});

test('quoted alias members: "|command" runs, "/file" is a file, other quoted addresses stay', () => {
  assert.equal(unquoteMember('"|cat > /tmp/x"'), '|cat > /tmp/x');
  assert.equal(unquoteMember('"/var/spool/a file"'), '/var/spool/a file');
  assert.equal(unquoteMember('"john doe"@example.com'), '"john doe"@example.com');
  assert.equal(unquoteMember('plain'), 'plain');
});

test('biff = yes: "user@offset" and a NUL go to the comsat port on 127.0.0.1 after a mailbox delivery', async () => {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString('latin1')));
  setBiffPort(sock.address().port);
  try {
    const inst = makeInstance('biff = yes');
    const agent = new LocalAgent(inst.config);
    const server = await serveAgent(inst, 'local', (s) => agent.service(s));
    try {
      for (const id of ['B1F1', 'B1F2']) {
        const rcpt = { address: `${me}@mail.example.test` };
        const file = buildQueueFile('a@example.org', [rcpt], ['Subject: biff', '', 'x']);
        placeQueueFile(inst, id, file);
        const reply = await deliverVia(inst, 'local', requestFor(id, file, 'a@example.org', [rcpt]));
        assert.equal(reply.status, 0);
      }
      const end = Date.now() + 5000;
      while (got.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(got[0], `${me}@0\0`);
      // the second notice points at where the second message starts
      assert.match(got[1], new RegExp(`^${me}@\\d+\\0$`));
      const offset = Number(/@(\d+)/.exec(got[1])![1]);
      assert.ok(readFileSync(join(inst.dir, 'mail', me), 'latin1').slice(offset).startsWith('From a@example.org '));
    } finally {
      server.close();
      inst.cleanup();
    }
    // biff = no: nothing is sent
    got.length = 0;
    const inst2 = makeInstance('biff = no');
    const agent2 = new LocalAgent(inst2.config);
    const server2 = await serveAgent(inst2, 'local', (s) => agent2.service(s));
    try {
      const rcpt = { address: `${me}@mail.example.test` };
      const file = buildQueueFile('a@example.org', [rcpt], ['Subject: no biff', '', 'x']);
      placeQueueFile(inst2, 'B1F3', file);
      assert.equal((await deliverVia(inst2, 'local', requestFor('B1F3', file, 'a@example.org', [rcpt]))).status, 0);
      // a marker datagram sent after the delivery arrives first: nothing came before it
      const probe = createSocket('udp4');
      await new Promise<void>((resolve) => probe.send('marker', sock.address().port, '127.0.0.1', () => resolve()));
      probe.close();
      const end = Date.now() + 5000;
      while (got.length < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got, ['marker']);
    } finally {
      server2.close();
      inst2.cleanup();
    }
  } finally {
    setBiffPort(512);
    sock.close();
  }
});

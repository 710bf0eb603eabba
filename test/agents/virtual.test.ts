/**
 * virtual.test - virtual(8) driven as qmgr drives it: Maildir and mbox
 * delivery under virtual_mailbox_base with the owner from
 * virtual_uid_maps/virtual_gid_maps, the @domain catch-all, unknown users,
 * and a uid under virtual_minimum_uid.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { msgAddOutput } from '../../src/util/msg.js';
import { VirtualAgent } from '../../src/virtual/virtual.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent } from '../delivery/queue_fixture.js';

const root = process.getuid?.() === 0;
const uid = root ? 65534 : process.getuid!();
const gid = root ? 65534 : process.getgid!();

let seq = 0;

async function run(rcpts: string[], extra: (dir: string) => string, setup?: (dir: string) => void): Promise<{ lines: string[]; dir: string; cleanup: () => void }> {
  const probe = makeInstance('');
  const dir = probe.dir;
  const base = join(dir, 'vmail');
  mkdirSync(base);
  chmodSync(base, 0o777);
  chmodSync(dir, 0o755);
  setup?.(dir);
  writeFileSync(join(dir, 'etc', 'main.cf'), readFileSync(join(dir, 'etc', 'main.cf'), 'utf8') + `\nvirtual_mailbox_base = ${base}\n${extra(dir)}\n`);
  const { MailConfig } = await import('../../src/global/mail_conf.js');
  const config = MailConfig.load(join(dir, 'etc'));
  const real = { dir, config, cleanup: probe.cleanup };
  const lines: string[] = [];
  const stop = msgAddOutput((_s, t) => lines.push(t));
  const agent = new VirtualAgent(config);
  const server = await serveAgent(real, 'virtual', (s) => agent.service(s));
  try {
    const id = `3B${(0x100 + seq++).toString(16).toUpperCase()}`;
    const rs = rcpts.map((address) => ({ address }));
    const file = buildQueueFile('s@example.org', rs, ['Subject: v', '', 'body']);
    placeQueueFile(real, id, file);
    await deliverVia(real, 'virtual', requestFor(id, file, 's@example.org', rs));
    return { lines: lines.filter((l) => l.startsWith(`${id}: to=`)).map((l) => l.replace(/^[0-9A-F]+: /, '').replace(/delay=[^ ]* delays=[^ ]* /, '')), dir, cleanup: real.cleanup };
  } finally {
    stop();
    server.close();
  }
}

test('virtual: Maildir (trailing slash) and mbox destinations, owned by virtual_uid_maps', async () => {
  const r = await run(['md@virt.test', 'mb@virt.test'], (dir) => {
    writeFileSync(join(dir, 'vmaps'), 'md@virt.test virt.test/md/\nmb@virt.test virt.test/mb\n');
    return `virtual_mailbox_maps = texthash:${join(dir, 'vmaps')}\nvirtual_uid_maps = static:${uid}\nvirtual_gid_maps = static:${gid}\nvirtual_minimum_uid = 100`;
  }, (dir) => {
    mkdirSync(join(dir, 'vmail', 'virt.test'));
    chmodSync(join(dir, 'vmail', 'virt.test'), 0o777);
  });
  try {
    assert.deepEqual(r.lines.sort(), [
      'to=<mb@virt.test>, relay=virtual, dsn=2.0.0, status=sent (delivered to mailbox)',
      'to=<md@virt.test>, relay=virtual, dsn=2.0.0, status=sent (delivered to maildir)',
    ]);
    const newDir = join(r.dir, 'vmail', 'virt.test', 'md', 'new');
    const files = readdirSync(newDir);
    assert.equal(files.length, 1);
    const msgText = readFileSync(join(newDir, files[0]), 'utf8');
    assert.match(msgText, /^Return-Path: <s@example\.org>\nX-Original-To: md@virt\.test\nDelivered-To: md@virt\.test\nSubject: v\n\nbody\n$/);
    assert.equal(statSync(join(newDir, files[0])).uid, uid);
    const mbox = readFileSync(join(r.dir, 'vmail', 'virt.test', 'mb'), 'utf8');
    assert.match(mbox, /^From s@example\.org {2}/);
    assert.equal(statSync(join(r.dir, 'vmail', 'virt.test', 'mb')).uid, uid);
  } finally {
    r.cleanup();
  }
});

test('virtual: unknown user bounces 5.1.1; @domain catch-all; uid under virtual_minimum_uid defers', async () => {
  const r = await run(['nobody-here@virt.test'], (dir) => {
    writeFileSync(join(dir, 'vmaps'), 'x@virt.test x/\n');
    return `virtual_mailbox_maps = texthash:${join(dir, 'vmaps')}\nvirtual_uid_maps = static:${uid}\nvirtual_gid_maps = static:${gid}`;
  });
  try {
    assert.deepEqual(r.lines, ['to=<nobody-here@virt.test>, relay=virtual, dsn=5.1.1, status=bounced (unknown user: "nobody-here@virt.test")']);
  } finally {
    r.cleanup();
  }
  const c = await run(['any@catch.test'], (dir) => {
    writeFileSync(join(dir, 'vmaps'), '@catch.test catchall/\n');
    return `virtual_mailbox_maps = texthash:${join(dir, 'vmaps')}\nvirtual_uid_maps = static:${uid}\nvirtual_gid_maps = static:${gid}`;
  });
  try {
    assert.deepEqual(c.lines, ['to=<any@catch.test>, relay=virtual, dsn=2.0.0, status=sent (delivered to maildir)']);
    assert.equal(readdirSync(join(c.dir, 'vmail', 'catchall', 'new')).length, 1);
  } finally {
    c.cleanup();
  }
  const low = await run(['x@virt.test'], (dir) => {
    writeFileSync(join(dir, 'vmaps'), 'x@virt.test x/\n');
    return `virtual_mailbox_maps = texthash:${join(dir, 'vmaps')}\nvirtual_uid_maps = static:5\nvirtual_gid_maps = static:5\nvirtual_minimum_uid = 100`;
  });
  try {
    assert.equal(low.lines.length, 1);
    assert.match(low.lines[0], /^to=<x@virt\.test>, relay=virtual, dsn=4\.3\.0, status=deferred \(/);
  } finally {
    low.cleanup();
  }
});

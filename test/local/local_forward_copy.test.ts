/**
 * local_forward_copy - the new message that local(8) hands to cleanup when
 * it forwards (Postfix local/forward.c, indirect.c), recorded by a fake
 * cleanup service on public/cleanup: the flags, the envelope records in
 * Postfix's order, the Received:/Delivered-To: lines; and who is forwarded
 * rather than delivered here: the other local users named by a ~/.forward
 * file (the user itself is delivered), and the local members of a list
 * with an owner- alias (with the owner as sender and no original
 * recipient).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { msgAddOutput } from '../../src/util/msg.js';
import { VStream } from '../../src/util/vstream.js';
import { readAttrs, sendAttrs } from '../../src/util/attr.js';
import { readRecord } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';
import { unixFiles } from '../../src/util/dict_unix.js';
import { LocalAgent } from '../../src/local/local.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent, type Instance } from '../delivery/queue_fixture.js';

interface Session {
  flags: number;
  records: Array<[string, string]>;
}

/** fakeCleanup - a cleanup service that records what it gets and answers "queued as FWD<n>". */
function fakeCleanup(inst: Instance): Promise<{ server: Server; sessions: Session[] }> {
  const sessions: Session[] = [];
  const server = createServer((sock) => {
    const stream = new VStream(sock, { timeout: 5000 });
    void (async () => {
      const s: Session = { flags: -1, records: [] };
      sessions.push(s);
      sendAttrs(stream, [
        ['protocol', 'cleanup_protocol'],
        ['queue_id', `FWD${sessions.length}`],
      ]);
      await stream.flush();
      try {
        s.flags = Number((await readAttrs(stream))?.get('flags'));
        for (;;) {
          const r = await readRecord(stream);
          if (r.type < 0) return;
          s.records.push([String.fromCharCode(r.type), r.data.toString('latin1')]);
          if (r.type === REC.END) break;
        }
        sendAttrs(stream, [
          ['status', 0],
          ['reason', ''],
        ]);
        await stream.flush();
      } catch {
        sock.destroy();
      }
    })();
  });
  return new Promise((resolve) => server.listen(join(inst.config.str('queue_directory'), 'public', 'cleanup'), () => resolve({ server, sessions })));
}

/** users - alpha and beta in a passwd file of their own, homes under dir. */
function users(dir: string): { uid: number; gid: number; restore: () => void } {
  const root = process.getuid?.() === 0;
  const uid = root ? 65534 : (process.getuid?.() ?? 0);
  const gid = root ? 65534 : (process.getgid?.() ?? 0);
  const lines: string[] = [];
  for (const u of ['alpha', 'beta']) {
    mkdirSync(join(dir, u));
    if (root) chownSync(join(dir, u), uid, gid);
    lines.push(`${u}:x:${uid}:${gid}:${u}:${join(dir, u)}:/bin/sh`);
  }
  const path = join(dir, 'passwd');
  writeFileSync(path, lines.join('\n') + '\n');
  const old = unixFiles.passwd;
  unixFiles.passwd = path;
  return { uid, gid, restore: () => (unixFiles.passwd = old) };
}

async function deliver(inst: Instance, address: string, id: string): Promise<{ status: number; log: string[]; sessions: Session[] }> {
  const log: string[] = [];
  const stop = msgAddOutput((_sev, text) => log.push(text));
  const { server: cleanup, sessions } = await fakeCleanup(inst);
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address, orig: address.split('@')[0] };
    const file = buildQueueFile('poster@example.org', [rcpt], ['Subject: fwd', '', 'forward me']);
    placeQueueFile(inst, id, file);
    const req = requestFor(id, file, 'poster@example.org', [rcpt]);
    req.client_name = 'client.example';
    req.client_addr = '192.0.2.1';
    req.client_proto = 'ESMTP';
    const reply = await deliverVia(inst, 'local', req);
    return { status: reply.status, log, sessions };
  } finally {
    stop();
    server.close();
    cleanup.close();
  }
}

test('~/.forward naming another local user and the user itself: the other gets a forwarded copy, the user the mailbox', async () => {
  const inst = makeInstance('biff = no');
  const u = users(inst.dir);
  try {
    const fwd = join(inst.dir, 'alpha', '.forward');
    writeFileSync(fwd, 'beta, \\alpha\n');
    if (process.getuid?.() === 0) chownSync(fwd, u.uid, u.gid);
    const r = await deliver(inst, 'alpha@mail.example.test', 'F0A1');
    assert.equal(r.status, 0, r.log.join('\n'));
    assert.ok(r.log.some((l) => /^F0A1: to=<alpha@mail\.example\.test>, orig_to=<alpha>, relay=local, .*status=sent \(delivered to mailbox\)$/.test(l)), r.log.join('\n'));
    assert.ok(r.log.some((l) => /^F0A1: to=<alpha@mail\.example\.test>, orig_to=<alpha>, relay=local, .*status=sent \(forwarded as FWD1\)$/.test(l)), r.log.join('\n'));
    assert.ok(!existsSync(join(inst.dir, 'mail', 'beta')));
    assert.equal(r.sessions.length, 1);
    const s = r.sessions[0];
    assert.equal(s.flags, 1 | (1 << 5)); // CLEANUP_FLAG_BOUNCE | CLEANUP_FLAG_MASK_INTERNAL (MAP_OK)
    const recs = s.records.map(([t, d]) => (t === 'T' ? ['T', '<time>'] : t === 'N' && d.startsWith('\tid ') ? ['N', '\tid FWD1; <date>'] : [t, d]));
    assert.deepEqual(recs, [
      ['T', '<time>'],
      ['S', 'poster@example.org'],
      ['A', 'log_client_name=client.example'],
      ['A', 'log_client_address=192.0.2.1'],
      ['A', 'log_protocol_name=ESMTP'],
      ['A', 'log_ident=F0A1'],
      ['A', 'rewrite_context=local'],
      ['A', 'dsn_orig_rcpt=rfc822;alpha'],
      ['O', 'alpha'],
      ['R', 'beta@mail.example.test'],
      ['M', ''],
      ['N', 'Received: by mail.example.test (Postfix)'],
      ['N', '\tid FWD1; <date>'],
      ['N', 'Delivered-To: alpha@mail.example.test'],
      ['N', 'Subject: fwd'],
      ['N', ''],
      ['N', 'forward me'],
      ['X', ''],
      ['E', ''],
    ]);
    assert.match(s.records[12][1], /^\tid FWD1; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)$/);
  } finally {
    u.restore();
    inst.cleanup();
  }
});

test('a list with owner-list: local members are forwarded from owner-list@$myorigin without the original recipient', async () => {
  const inst = makeInstance('biff = no\nalias_maps = inline:{ {list = alpha, beta}, {owner-list = alpha} }');
  const u = users(inst.dir);
  try {
    const r = await deliver(inst, 'list@mail.example.test', 'F0A2');
    assert.equal(r.status, 0, r.log.join('\n'));
    assert.deepEqual(
      r.log.filter((l) => l.startsWith('F0A2: to=')).map((l) => l.replace(/ delay=.*, dsn=/, ' dsn=')),
      ['F0A2: to=<list@mail.example.test>, orig_to=<list>, relay=local, dsn=2.0.0, status=sent (forwarded as FWD1)'],
    );
    const s = r.sessions[0];
    assert.equal(s.records.find(([t]) => t === 'S')?.[1], 'owner-list@mail.example.test');
    assert.deepEqual(
      s.records.filter(([t, d]) => t === 'R' || t === 'O' || d.startsWith('dsn_orig_rcpt=')),
      [
        ['R', 'alpha@mail.example.test'],
        ['R', 'beta@mail.example.test'],
      ],
    );
    assert.ok(!existsSync(join(inst.dir, 'mail', 'alpha')) && !existsSync(join(inst.dir, 'mail', 'beta')));
  } finally {
    u.restore();
    inst.cleanup();
  }
});

/**
 * showq and postqueue tests: the showq service over a real UNIX socket
 * (compared byte for byte with what real Postfix showq sent for the same
 * queue files), postqueue -p/-j output against golden files from real
 * postqueue, the mail-system-down paths, and the flush/trigger requests.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { golden, isRoot, makeInstance, run, ROOT, type RunResult } from './helpers.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { VStream } from '../../src/util/vstream.js';
import { readAttrs, sendAttrs } from '../../src/util/attr.js';
import { showqService } from '../../src/showq/showq.js';
import { mailqListing, PQ_MODE_JSON_LIST } from '../../src/postqueue/postqueue.js';

/** runAsync - like run(), but lets this process keep serving sockets meanwhile. */
function runAsync(program: string, args: string[], etc: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, program), ...args], { env: { ...process.env, TZ: 'UTC', MAIL_CONFIG: etc } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
  });
}

function listen(path: string, handler: Parameters<typeof createServer>[1]): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer(handler!);
    server.listen(path, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function showqServer(etc: string, spool: string): Promise<Server> {
  const config = MailConfig.load(etc);
  return listen(join(spool, 'public', 'showq'), (sock) => {
    const vs = new VStream(sock, { timeout: 10000 });
    showqService(vs, { config }).then(
      () => sock.end(),
      () => sock.destroy(),
    );
  });
}

test('showq sends the same bytes as Postfix showq for the same queue files', async () => {
  const inst = makeInstance('short');
  const server = await showqServer(inst.etc, inst.spool);
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = connect(join(inst.spool, 'public', 'showq'));
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
    assert.equal(bytes.toString('latin1'), golden('postqueue', 'showq-short.bin').toString('latin1'));
  } finally {
    await close(server);
    inst.cleanup();
  }
});

for (const layout of ['short', 'long'] as const) {
  test(`postqueue -p and -j through showq match Postfix (${layout} queue IDs)`, async () => {
    const inst = makeInstance(layout);
    const server = await showqServer(inst.etc, inst.spool);
    try {
      const p = await runAsync('bin/postqueue', ['-p'], inst.etc);
      assert.equal(p.stderr, '');
      assert.equal(p.status, 0);
      assert.equal(p.stdout.toString(), golden('postqueue', `mailq-${layout}.out`).toString());
      const j = await runAsync('bin/postqueue', ['-j'], inst.etc);
      assert.equal(j.status, 0);
      assert.equal(j.stdout.toString(), golden('postqueue', `json-${layout}.out`).toString());
    } finally {
      await close(server);
      inst.cleanup();
    }
  });
}

test('postqueue with the mail system down: root reads the queue, others get Postfix fatal text', () => {
  const inst = makeInstance('short');
  try {
    const r = run('bin/postqueue', ['-p'], { etc: inst.etc });
    if (isRoot) {
      assert.equal(r.status, 0);
      assert.equal(r.stderr, golden('postqueue', 'mailq-short.err').toString());
      assert.equal(r.stdout.toString(), golden('postqueue', 'mailq-short.out').toString());
      const j = run('bin/postqueue', ['-j'], { etc: inst.etc });
      assert.equal(j.stdout.toString(), golden('postqueue', 'json-short.out').toString());
    } else {
      assert.equal(r.status, 69);
      assert.equal(
        r.stderr,
        'postqueue: fatal: Queue report unavailable - mail system is down (Connect to the Postfix showq service: No such file or directory)\n',
      );
    }
    const f = run('bin/postqueue', ['-f'], { etc: inst.etc });
    assert.equal(f.status, 69);
    assert.equal(f.stderr, 'postqueue: fatal: Cannot flush mail queue - mail system is down\n');
    const i = run('bin/postqueue', ['-i', 'ABC'], { etc: inst.etc });
    assert.equal(i.status, 69);
    assert.equal(
      i.stderr,
      'postqueue: warning: connect to public/flush: No such file or directory\npostqueue: fatal: Cannot flush mail queue - mail system is down\n',
    );
    const s = run('bin/postqueue', ['-s', 'foo.example'], { etc: inst.etc });
    assert.equal(s.stderr, 'postqueue: fatal: Flush service is not configured for destination "foo.example"\n');
    const u = run('bin/postqueue', [], { etc: inst.etc });
    assert.equal(u.status, 69);
    assert.equal(u.stderr, 'postqueue: fatal: usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site\n');
    const bad = run('bin/postqueue', ['-i', 'a/b'], { etc: inst.etc });
    assert.equal(bad.stderr, 'postqueue: fatal: Cannot flush queue ID - invalid name: "a/b"\n');
  } finally {
    inst.cleanup();
  }
});

test('mailq listing function and the empty queue', async () => {
  const empty = makeInstance('none');
  const full = makeInstance('short');
  try {
    assert.equal(await mailqListing(MailConfig.load(empty.etc)), 'Mail queue is empty\n');
    assert.equal(await mailqListing(MailConfig.load(empty.etc), PQ_MODE_JSON_LIST), '');
    const saved = process.env.TZ;
    process.env.TZ = 'UTC';
    try {
      assert.equal(await mailqListing(MailConfig.load(full.etc)), golden('postqueue', 'mailq-short.out').toString());
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  } finally {
    empty.cleanup();
    full.cleanup();
  }
});

test('postqueue -f triggers qmgr with FADI and pickup with W', async () => {
  const inst = makeInstance('none');
  const got: Record<string, string> = {};
  const trigger = (name: string) =>
    listen(join(inst.spool, 'public', name), (sock) => {
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('end', () => (got[name] = data));
    });
  const qmgr = await trigger('qmgr');
  const pickup = await trigger('pickup');
  try {
    const r = await runAsync('bin/postqueue', ['-f'], inst.etc);
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    await new Promise((res) => setTimeout(res, 50));
    assert.deepEqual(got, { qmgr: 'FADI', pickup: 'W' });
  } finally {
    await close(qmgr);
    await close(pickup);
    inst.cleanup();
  }
});

test('postqueue -s and -i speak queue_flush_protocol', async () => {
  const inst = makeInstance('none', 'fast_flush_domains = example.com\n');
  const requests: Array<Array<[string, string]>> = [];
  let reply = 0;
  const flush = await listen(join(inst.spool, 'public', 'flush'), (sock) => {
    const vs = new VStream(sock, { timeout: 10000 });
    sendAttrs(vs, [['protocol', 'queue_flush_protocol']]);
    readAttrs(vs).then((req) => {
      requests.push(req ? req.pairs : []);
      sendAttrs(vs, [['status', reply]]);
      sock.end();
    });
  });
  try {
    let r = await runAsync('bin/postqueue', ['-s', 'sub.example.com'], inst.etc);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    r = await runAsync('bin/postqueue', ['-i', '7B69420C9E8'], inst.etc);
    assert.equal(r.status, 0);
    reply = 3;
    r = await runAsync('bin/postqueue', ['-i', '7B69420C9E8'], inst.etc);
    assert.equal(r.status, 69);
    assert.equal(r.stderr, 'postqueue: fatal: Invalid request: "7B69420C9E8"\n');
    r = await runAsync('bin/postqueue', ['-s', 'other.example'], inst.etc);
    assert.equal(r.stderr, 'postqueue: fatal: Flush service is not configured for destination "other.example"\n');
    assert.deepEqual(requests, [
      [
        ['request', 'send_site'],
        ['site', 'sub.example.com'],
      ],
      [
        ['request', 'send_file'],
        ['queue_id', '7B69420C9E8'],
      ],
      [
        ['request', 'send_file'],
        ['queue_id', '7B69420C9E8'],
      ],
    ]);
  } finally {
    await close(flush);
    inst.cleanup();
  }
});

test('showq reads old- and new-style defer logs and skips damaged or incomplete files', async () => {
  const { writeFileSync, mkdirSync, chmodSync } = await import('node:fs');
  const { encodeRecord } = await import('../../src/global/record.js');
  const { REC } = await import('../../src/global/rec_type.js');
  const { msgAddOutput } = await import('../../src/util/msg.js');
  const { showqScan } = await import('../../src/showq/showq.js');
  const inst = makeInstance('none');
  const warnings: string[] = [];
  const off = msgAddOutput((_s, t) => warnings.push(t));
  try {
    const rec = (t: number, d: string) => encodeRecord(t, Buffer.from(d, 'latin1'));
    const put = (rel: string, data: Buffer | string, mode: number) => {
      mkdirSync(join(inst.spool, rel, '..'), { recursive: true });
      writeFileSync(join(inst.spool, rel), data);
      chmodSync(join(inst.spool, rel), mode);
    };
    const file = (sender: string, rcpts: string[], extra: Buffer[] = []) =>
      Buffer.concat([rec(REC.TIME, '1795557949 0'), ...extra, rec(REC.FROM, sender), ...rcpts.map((r) => rec(REC.RCPT, r)), rec(REC.MESG, ''), rec(REC.NORM, 'x'), rec(REC.XTRA, ''), rec(REC.END, '')]);
    put('deferred/A/ABCDE1', file('s@x', ['a@x', 'b@x', 'c d@x']), 0o700);
    // old-style entry, new-style entry, and an unterminated entry at the end (ignored, like Postfix)
    put('defer/A/ABCDE1', '<a@x>: old style reason\n\nrecipient="c d"@x\nreason=new style\n\nrecipient=zzz@x\nreason=cut', 0o600);
    put('hold/ABCDE2', file('s@x', ['r@x'], [rec(REC.SIZE, 'bogus')]), 0o700);
    put('hold/ABCDE3', file('s@x', ['r@x']), 0o600); // incomplete: not listed
    put('hold/ABCDE4', Buffer.concat([rec(REC.RCPT, 'r@x'), rec(REC.FROM, 's@x')]), 0o700);
    put('incoming/ABCDE5', Buffer.concat([rec(REC.FROM, 's@x'), rec(REC.FROM, 't@x'), rec(REC.RCPT, 'r@x')]), 0o700);
    const got: Array<[string, string, string[]]> = [];
    await showqScan(MailConfig.load(inst.etc), (m) => {
      got.push([m.queueId, m.sender, m.recipients.map((r) => `${r.address}|${r.reason}`)]);
    });
    got.sort((a, b) => a[0].localeCompare(b[0]));
    assert.deepEqual(got, [
      ['ABCDE1', 's@x', ['a@x|old style reason', '"c d"@x|new style', 'b@x|']],
      ['ABCDE2', 's@x', ['r@x|']],
      ['ABCDE5', 's@x', []],
    ]);
    assert.ok(warnings.includes('warning: ABCDE2: malformed size record: bogus -- using file size instead'));
    assert.ok(warnings.includes('warning: ABCDE4: missing sender address:  -- skipping remainder of this file'));
    assert.ok(warnings.includes('warning: ABCDE5: duplicate sender address: t@x -- skipping remainder of this file'));
  } finally {
    off();
    inst.cleanup();
  }
});

test('authorized_mailq_users keeps other users out with Postfix text and status', async () => {
  const { getpwnam } = await import('../../src/util/mypwd.js');
  const { testOwner } = await import('./helpers.js');
  // As root: run the child as an account that is neither root nor mail_owner.
  // As another user: make root the only allowed user and mail_owner someone else.
  const owner = testOwner();
  const other = isRoot ? (getpwnam('daemon') ?? getpwnam('bin')) : undefined;
  if (isRoot) assert.ok(other && other.uid !== owner.uid, 'need a second unprivileged account');
  const inst = makeInstance('short', 'authorized_mailq_users = root\n');
  if (!isRoot) {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const cf = join(inst.etc, 'main.cf');
    writeFileSync(cf, readFileSync(cf, 'utf8').replace(/^mail_owner = .*$/m, 'mail_owner = root'));
  }
  const server = await showqServer(inst.etc, inst.spool);
  try {
    const r = await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin/postqueue'), '-p'], {
        env: { ...process.env, TZ: 'UTC', MAIL_CONFIG: inst.etc },
        ...(isRoot ? { uid: other!.uid, gid: other!.gid } : {}),
      });
      const err: Buffer[] = [];
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout: Buffer.alloc(0), stderr: Buffer.concat(err).toString() }));
    });
    const uid = isRoot ? other!.uid : process.getuid!();
    const name = isRoot ? other!.name : owner.name;
    assert.equal(r.status, 69);
    assert.equal(r.stderr, `postqueue: fatal: User ${name}(${uid}) is not allowed to view the mail queue\n`);
  } finally {
    await close(server);
    inst.cleanup();
  }
});

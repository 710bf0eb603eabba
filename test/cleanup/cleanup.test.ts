/**
 * cleanup tests over real sockets: queue file record order and bytes
 * compared with files written by Postfix 3.7.11's cleanup for the same
 * input (golden/*.jsonl, made from `hold/` files of a private oracle
 * instance with run-time values replaced by placeholders), header
 * additions, virtual alias expansion, Bcc removal, header/body checks,
 * limits, and the status replies.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { statSync } from 'node:fs';
import { CLEANUP_FLAG, CLEANUP_FLAG_MASK_EXTERNAL, CLEANUP_STAT } from '../../src/global/cleanup_user.js';
import { cleanupSmtpReply } from '../../src/global/cleanup_clnt.js';
import { normalize, readGolden, sizeFields, startHarness, submit, type Rec } from './harness.js';

const golden = (name: string) => join(dirname(fileURLToPath(import.meta.url)), '../../../test/cleanup/golden', name);

const VIRTUAL = 'valias@example.test a1@example.org, a2@example.org\n';
const BASE = 'virtual_alias_maps = texthash:$ETC/virtual\nheader_checks = regexp:$ETC/header_checks\n';
const CHECKS = [
  '/^Subject: hold/ HOLD',
  '/^Subject: reject me/ REJECT Go away',
  '/^Subject: reject plain/ REJECT',
  '/^Subject: defer me/ REJECT 4.7.0 later',
  '/^Subject: discard/ DISCARD',
  '/^Subject: replace (.*)/ REPLACE Subject: replaced $1',
  '/^X-Drop:/ IGNORE',
  '/^X-Prepend:/ PREPEND X-Added: yes',
  '/^X-Warn:/ WARN watch this',
  '/^X-Bcc:/ BCC bcc-target@example.org',
  '/^X-Redirect:/ REDIRECT elsewhere@example.org',
  '/^X-Filter:/ FILTER smtp:[127.0.0.1]:10025',
  '',
].join('\n');

const now = Math.floor(Date.now() / 1000);
const T: Rec = ['T', `${now} 123456`];

function smtpInput(subject: string, rcpt = 'valias@example.test', extraHeaders: string[] = []): Rec[] {
  return [
    T,
    ['A', 'log_ident=QUEUEID'],
    ['A', 'rewrite_context=local'],
    ['S', 's@example.org'],
    ['A', 'log_client_name=localhost'],
    ['A', 'log_client_address=127.0.0.1'],
    ['A', 'log_client_port=51238'],
    ['A', 'log_message_origin=localhost[127.0.0.1]'],
    ['A', 'log_helo_name=vm'],
    ['A', 'log_protocol_name=ESMTP'],
    ['A', 'client_name=localhost'],
    ['A', 'reverse_client_name=localhost'],
    ['A', 'client_address=127.0.0.1'],
    ['A', 'client_port=51238'],
    ['A', 'server_address=127.0.0.1'],
    ['A', 'server_port=30625'],
    ['A', 'helo_name=vm'],
    ['A', 'protocol_name=ESMTP'],
    ['A', 'client_address_type=2'],
    ['R', rcpt],
    ['M', ''],
    ['N', 'Received: from vm (localhost [127.0.0.1])'],
    ['N', '\tby mail.example.test (Postfix) with ESMTP id QUEUEID'],
    ['N', '\tfor <valias@example.test>; Tue, 24 Nov 2026 22:04:55 +0000 (UTC)'],
    ['N', 'Date: Tue, 24 Nov 2026 22:04:55 +0000'],
    ['N', 'To: valias@example.test'],
    ['N', 'From: s@example.org'],
    ['N', `Subject: ${subject}`],
    ...extraHeaders.map((h): Rec => ['N', h]),
    ['N', 'Message-Id: <20261124220455.009128@vm>'],
    ['N', 'X-Mailer: swaks v20201014.0 jetmore.org/john/code/swaks/'],
    ['N', ''],
    ['N', 'smtp body'],
    ['N', ''],
    ['N', ''],
    ['X', ''],
    ['E', ''],
  ];
}

/** withId - the smtpd input names the queue id; put ours in. */
function withId(recs: Rec[], id: string): Rec[] {
  return recs.map(([t, d]) => [t, d.replace('QUEUEID', id)]);
}

function checkSize(buf: Buffer): void {
  const s = sizeFields(buf);
  assert.equal(s.fields.length, 6);
  assert.equal(s.fields[1], s.dataOffset, 'data offset');
  assert.equal(s.fields[0], s.xtraOffset - s.dataOffset, 'content size');
  assert.equal(s.fields[4], s.fields[0], 'content length');
  assert.equal(s.fields[2], s.rcpts, 'recipient count');
}

test('SMTP message with virtual alias expansion: same records as Postfix', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    // The queue id must be known before the records are sent, as with smtpd.
    const { CleanupClient } = await import('../../src/global/cleanup_clnt.js');
    const c = await CleanupClient.open(h.config, CLEANUP_FLAG_MASK_EXTERNAL, { timeoutMs: 30000 });
    for (const [t, d] of withId(smtpInput('hold smtp'), c.queueId)) {
      if (t !== 'E') await c.record(t.charCodeAt(0), Buffer.from(d, 'latin1'));
    }
    const r = await c.finish();
    assert.equal(r.status, 0);
    assert.deepEqual(h.files('incoming'), []);
    assert.deepEqual(h.files('hold'), [r.queueId]);
    assert.deepEqual(normalize(h.records('hold', r.queueId), r.queueId), readGolden(golden('smtp-virtual.jsonl')));
    checkSize(h.raw('hold', r.queueId));
    assert.equal(statSync(join(h.dir, 'hold', r.queueId)).mode & 0o777, 0o700);
    assert.ok(h.logs.includes(`${r.queueId}: message-id=<20261124220455.009128@vm>`));
    assert.ok(
      h.logs.includes(
        `${r.queueId}: hold: header Subject: hold smtp from localhost[127.0.0.1]; from=<s@example.org> to=<valias@example.test> proto=ESMTP helo=<vm>`,
      ),
      h.logs.join('\n'),
    );
  } finally {
    await h.close();
  }
});

function localInput(subject: string, withRcpt: boolean, extract: Rec[] = []): Rec[] {
  return [
    T,
    ['A', 'rewrite_context=local'],
    ['F', 'root'],
    ['S', 'alice@example.test'],
    ...(withRcpt ? ([['R', 'bob@example.org']] as Rec[]) : []),
    ['M', ''],
    ['N', 'Received: by mail.example.test (Postfix, from userid 0)'],
    ['N', '\tid QUEUEID; Tue, 24 Nov 2026 22:04:55 +0000 (UTC)'],
    ...(extract.length ? ([['N', 'To: x@example.org, valias@example.test'], ['N', 'Bcc: hidden@example.org']] as Rec[]) : []),
    ['N', `Subject: ${subject}`],
    ['N', ''],
    ['N', extract.length ? 'body2' : 'hello body'],
    ['X', ''],
    ...extract,
    ['E', ''],
  ];
}

async function submitWithId(h: Awaited<ReturnType<typeof startHarness>>, flags: number, recs: Rec[]) {
  const { CleanupClient } = await import('../../src/global/cleanup_clnt.js');
  const c = await CleanupClient.open(h.config, flags, { timeoutMs: 30000 });
  for (const [t, d] of withId(recs, c.queueId)) if (t !== 'E') await c.record(t.charCodeAt(0), Buffer.from(d, 'latin1'));
  return c.finish();
}

test('local submission: Message-Id, Date and From added as Postfix does', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const r = await submitWithId(h, CLEANUP_FLAG_MASK_EXTERNAL, localInput('hold local', true));
    assert.equal(r.status, 0);
    assert.deepEqual(normalize(h.records('hold', r.queueId), r.queueId), readGolden(golden('local-simple.jsonl')));
    checkSize(h.raw('hold', r.queueId));
    assert.ok(h.logs.some((l) => new RegExp(`^${r.queueId}: message-id=<\\d{14}\\.${r.queueId}@mail\\.example\\.test>$`).test(l)));
  } finally {
    await h.close();
  }
});

test('sendmail -t: extracted recipients expanded, Bcc: removed, as Postfix does', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const extract: Rec[] = [
      ['R', 'x@example.org'],
      ['R', 'valias@example.test'],
      ['R', 'hidden@example.org'],
    ];
    const r = await submitWithId(h, CLEANUP_FLAG_MASK_EXTERNAL, localInput('hold extract', false, extract));
    assert.equal(r.status, 0);
    assert.deepEqual(normalize(h.records('hold', r.queueId), r.queueId), readGolden(golden('local-extract.jsonl')));
    checkSize(h.raw('hold', r.queueId));
  } finally {
    await h.close();
  }
});

test('a plain message goes to incoming/, complete (0700), fsynced before the reply', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const r = await submitWithId(h, CLEANUP_FLAG_MASK_EXTERNAL, smtpInput('hello', 'rcpt@example.org'));
    assert.equal(r.status, 0);
    assert.equal(r.reason, '');
    assert.deepEqual(h.files('incoming'), [r.queueId]);
    assert.equal(statSync(join(h.dir, 'incoming', r.queueId)).mode & 0o777, 0o700);
    const recs = h.records('incoming', r.queueId);
    assert.deepEqual(recs.filter(([t]) => t === 'R'), [['R', 'rcpt@example.org']]);
    assert.equal(cleanupSmtpReply(r.status, r.reason, r.queueId), `250 2.0.0 Ok: queued as ${r.queueId}`);
  } finally {
    await h.close();
  }
});

test('header_checks actions', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const F = CLEANUP_FLAG_MASK_EXTERNAL;
    let r = await submitWithId(h, F, smtpInput('reject me', 'r@example.org'));
    assert.equal(r.status, CLEANUP_STAT.CONT);
    assert.equal(r.reason, '5.7.1 Go away');
    assert.equal(cleanupSmtpReply(r.status, r.reason, r.queueId), '550 5.7.1 Go away');
    assert.ok(h.logs.some((l) => l.startsWith(`${r.queueId}: reject: header Subject: reject me from localhost[127.0.0.1]; from=<s@example.org> to=<r@example.org> proto=ESMTP helo=<vm>: 5.7.1 Go away`)));
    assert.deepEqual(h.files('incoming'), []);

    r = await submitWithId(h, F, smtpInput('reject plain', 'r@example.org'));
    assert.equal(cleanupSmtpReply(r.status, r.reason, r.queueId), '550 5.7.1 message content rejected');

    r = await submitWithId(h, F, smtpInput('defer me', 'r@example.org'));
    assert.equal(r.status, CLEANUP_STAT.DEFER);
    assert.equal(cleanupSmtpReply(r.status, r.reason, r.queueId), '451 4.7.0 later');

    r = await submitWithId(h, F, smtpInput('discard', 'r@example.org'));
    assert.equal(r.status, 0);
    assert.deepEqual(h.files('incoming'), []);
    assert.ok(h.logs.some((l) => l.startsWith(`${r.queueId}: discard: header Subject: discard from localhost[127.0.0.1];`)));

    r = await submitWithId(
      h,
      F,
      smtpInput('replace this', 'r@example.org', ['X-Drop: gone', 'X-Prepend: 1', 'X-Warn: w', 'X-Bcc: b', 'X-Filter: f', 'X-Redirect: r']),
    );
    assert.equal(r.status, 0);
    const recs = h.records('incoming', r.queueId);
    const texts = recs.filter(([t]) => t === 'N').map(([, d]) => d);
    assert.ok(texts.includes('Subject: replaced this'));
    assert.ok(!texts.some((t) => t.startsWith('X-Drop')));
    assert.ok(texts.indexOf('X-Added: yes') === texts.indexOf('X-Prepend: 1') - 1);
    assert.ok(h.logs.some((l) => l.startsWith(`${r.queueId}: warning: header X-Warn: w from localhost[127.0.0.1];`) && l.endsWith(': watch this')));
    const x = recs.findIndex(([t]) => t === 'X');
    const after = recs.slice(x + 1);
    assert.deepEqual(after.slice(0, 2), [
      ['L', 'smtp:[127.0.0.1]:10025'],
      ['>', 'elsewhere@example.org'],
    ]);
    assert.deepEqual(after.filter(([t]) => t === 'R'), [['R', 'bcc-target@example.org']]);
    checkSize(h.raw('incoming', r.queueId));
  } finally {
    await h.close();
  }
});

test('limits: message_size_limit, hopcount_limit, missing Received:, no recipients', async () => {
  const h = await startHarness(BASE + 'message_size_limit = 2000\nhopcount_limit = 3\n', { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const F = CLEANUP_FLAG_MASK_EXTERNAL;
    const big = smtpInput('big', 'r@example.org');
    big.splice(big.length - 2, 0, ...Array.from({ length: 40 }, (): Rec => ['N', 'x'.repeat(70)]));
    let r = await submitWithId(h, F, big);
    assert.equal(r.status, CLEANUP_STAT.SIZE);
    assert.equal(cleanupSmtpReply(r.status, r.reason, r.queueId), '552 5.3.4 Error: message file too big');
    assert.ok(h.logs.includes(`warning: ${r.queueId}: queue file size limit exceeded`));
    assert.deepEqual(h.files('incoming'), []);

    const hops = smtpInput('hops', 'r@example.org', ['Received: a', 'Received: b']);
    r = await submitWithId(h, F, hops);
    assert.equal(r.status, CLEANUP_STAT.HOPS);
    assert.equal(cleanupSmtpReply(r.status, r.reason, r.queueId), '554 5.4.0 Error: too many hops');
    assert.ok(h.logs.includes(`warning: ${r.queueId}: message rejected: hopcount exceeded`));

    const noRcvd = smtpInput('x', 'r@example.org').filter(([, d]) => !d.startsWith('Received:') && !d.startsWith('\t'));
    r = await submitWithId(h, F, noRcvd);
    assert.equal(r.status, CLEANUP_STAT.BAD);
    assert.equal(cleanupSmtpReply(r.status, r.reason, r.queueId), `451 4.3.0 Error: internal error ${CLEANUP_STAT.BAD}`);

    const noRcpt = smtpInput('x', 'r@example.org').filter(([t]) => t !== 'R');
    r = await submitWithId(h, F, noRcpt);
    assert.equal(r.status, CLEANUP_STAT.RCPT);
    assert.deepEqual(h.files('incoming'), []);
  } finally {
    await h.close();
  }
});

test('canonical maps, masquerading, always_bcc, sender/recipient bcc maps, remote header rewriting', async () => {
  const h = await startHarness(
    [
      'canonical_maps = texthash:$ETC/canonical',
      'masquerade_domains = example.test',
      'always_bcc = archive@example.net',
      'sender_bcc_maps = texthash:$ETC/sbcc',
      'recipient_bcc_maps = texthash:$ETC/rbcc',
      'remote_header_rewrite_domain = domain.invalid',
    ].join('\n'),
    {
      canonical: 'old@example.org new@example.org\n@olddomain.example @newdomain.example\n',
      sbcc: 'boss@sub.example.test sbcc@example.net\n',
      rbcc: 'watched@example.org rbcc@example.net\n',
    },
  );
  try {
    const recs: Rec[] = [
      T,
      ['A', 'rewrite_context=remote'],
      ['S', 'boss@sub.example.test'],
      ['R', 'old@example.org'],
      ['R', 'watched@example.org'],
      ['R', 'someone@olddomain.example'],
      ['M', ''],
      ['N', 'Received: by test'],
      ['N', 'From: boss@sub.example.test'],
      ['N', 'To: bare, old@example.org'],
      ['N', ''],
      ['N', 'body'],
      ['X', ''],
      ['E', ''],
    ];
    const r = await submitWithId(h, CLEANUP_FLAG_MASK_EXTERNAL, recs);
    assert.equal(r.status, 0);
    const out = h.records('incoming', r.queueId);
    assert.deepEqual(out.find(([t]) => t === 'S'), ['S', 'boss@example.test']);
    assert.deepEqual(
      out.filter(([t]) => t === 'R').map(([, d]) => d),
      ['new@example.org', 'watched@example.org', 'rbcc@example.net', 'someone@newdomain.example', 'archive@example.net'],
    );
    const texts = out.filter(([t]) => t === 'N').map(([, d]) => d);
    assert.ok(texts.includes('From: boss@example.test'), texts.join('|'));
    assert.ok(texts.includes('To: bare@domain.invalid, new@example.org'), texts.join('|'));
    // remote context with remote_header_rewrite_domain: missing headers are added too
    assert.ok(texts.some((t) => t.startsWith('Message-Id: <')));
    checkSize(h.raw('incoming', r.queueId));
  } finally {
    await h.close();
  }
});

test('protocol: bad flags and bad records are rejected, the partial file is removed', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const r = await submit(h, CLEANUP_FLAG.FILTER, [T, ['S', 'a@example.org'], ['Z', 'junk'], ['R', 'b@example.org'], ['E', '']]);
    assert.equal(r.status & CLEANUP_STAT.BAD, CLEANUP_STAT.BAD);
    assert.deepEqual(h.files('incoming'), []);
    assert.ok(h.logs.some((l) => /message rejected: unexpected record type 90 in envelope/.test(l)));
  } finally {
    await h.close();
  }
});

test('local submission (CLEANUP_FLAG_BOUNCE): a rejected message is returned to the sender', async () => {
  const { createServer } = await import('node:net');
  const { VStream } = await import('../../src/util/vstream.js');
  const { attrSendProtocol, readAttrs, sendAttrs } = await import('../../src/util/attr.js');
  const { readFileSync } = await import('node:fs');
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  const requests: Array<Array<[string, string]>> = [];
  let bounceLog = '';
  const bounce = createServer((s) => {
    const v = new VStream(s, { timeout: 30000 });
    attrSendProtocol(v, 'delivery_status_protocol');
    void readAttrs(v).then((req) => {
      requests.push(req!.pairs);
      bounceLog = readFileSync(join(h.dir, 'bounce', req!.get('queue_id')!), 'utf8');
      sendAttrs(v, [['status', 0]]);
      s.end();
    });
  });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(h.dir, 'bounce'));
  await new Promise<void>((r) => bounce.listen(join(h.dir, 'private', 'bounce'), r));
  try {
    const recs: Rec[] = [
      T,
      ['A', 'rewrite_context=local'],
      ['S', 'alice@example.test'],
      ['A', 'notify_flags=14'],
      ['R', 'bob@example.org'],
      ['M', ''],
      ['N', 'Received: by mail.example.test (Postfix, from userid 0)'],
      ['N', 'Subject: reject me'],
      ['N', ''],
      ['N', 'b'],
      ['X', ''],
      ['E', ''],
    ];
    const r = await submitWithId(h, CLEANUP_FLAG.BOUNCE | CLEANUP_FLAG_MASK_EXTERNAL, recs);
    assert.deepEqual({ status: r.status, reason: r.reason }, { status: 0, reason: '5.7.1 Go away' });
    assert.deepEqual(h.files('incoming'), []);
    assert.equal(requests.length, 1);
    const req = Object.fromEntries(requests[0]);
    assert.deepEqual(req, {
      nrequest: '1',
      flags: '1',
      queue_name: 'incoming',
      queue_id: r.queueId,
      encoding: '',
      sendopts: '0',
      sender: 'alice@example.test',
      envelope_id: '',
      ret_flags: '2',
    });
    assert.match(bounceLog, /^\n<bob@example\.org>: Go away\nrecipient=bob@example\.org\n/);
    assert.match(bounceLog, /\nnotify_flags=14\nstatus=5\.7\.1\n/);
    assert.ok(
      h.logs.some((l) =>
        new RegExp(`^${r.queueId}: to=<bob@example\\.org>, relay=none, delay=\\d+(\\.\\d+)?, delays=\\d+(\\.\\d+)?/0/0/0, dsn=5\\.7\\.1, status=bounced \\(Go away\\)$`).test(l),
      ),
      h.logs.join('\n'),
    );
  } finally {
    await new Promise<void>((res) => bounce.close(() => res()));
    await h.close();
  }
});

test('concurrent sessions get their own queue files', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => submitWithId(h, CLEANUP_FLAG_MASK_EXTERNAL, smtpInput(`n${i}`, `r${i}@example.org`))),
    );
    assert.ok(results.every((r) => r.status === 0));
    const ids = results.map((r) => r.queueId);
    assert.equal(new Set(ids).size, 12);
    assert.deepEqual([...h.files('incoming')].sort(), [...ids].sort());
    results.forEach((r, i) => {
      assert.deepEqual(h.records('incoming', r.queueId).filter(([t]) => t === 'R'), [['R', `r${i}@example.org`]]);
    });
  } finally {
    await h.close();
  }
});

test('a client that goes away mid-message leaves no queue file behind', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const { CleanupClient } = await import('../../src/global/cleanup_clnt.js');
    const c = await CleanupClient.open(h.config, CLEANUP_FLAG_MASK_EXTERNAL, { timeoutMs: 30000 });
    assert.deepEqual(h.files('incoming'), [c.queueId]);
    await c.record('T'.charCodeAt(0), T[1]);
    await c.record('S'.charCodeAt(0), 'a@example.org');
    c.abort();
    for (let i = 0; i < 500 && h.files('incoming').length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(h.files('incoming'), []);
  } finally {
    await h.close();
  }
});

test('long lines are split into L records at line_length_limit', async () => {
  const h = await startHarness(BASE + 'line_length_limit = 600\n', { virtual: VIRTUAL, header_checks: CHECKS });
  try {
    const { CleanupClient } = await import('../../src/global/cleanup_clnt.js');
    const c = await CleanupClient.open(h.config, CLEANUP_FLAG_MASK_EXTERNAL, { timeoutMs: 30000 });
    for (const [t, d] of withId(smtpInput('x', 'r@example.org'), c.queueId)) {
      if (t === 'X') await c.text('y'.repeat(1500), 600);
      if (t !== 'E') await c.record(t.charCodeAt(0), Buffer.from(d, 'latin1'));
    }
    const r = await c.finish();
    assert.equal(r.status, 0);
    const recs = h.records('incoming', r.queueId);
    const x = recs.findIndex(([t]) => t === 'X');
    assert.deepEqual(recs.slice(x - 3, x), [
      ['L', 'y'.repeat(600)],
      ['L', 'y'.repeat(600)],
      ['N', 'y'.repeat(300)],
    ]);
    checkSize(h.raw('incoming', r.queueId));
  } finally {
    await h.close();
  }
});

test('no incoming/ directory: the session ends without a greeting and the client sees an error', async () => {
  const h = await startHarness(BASE, { virtual: VIRTUAL, header_checks: CHECKS });
  const { rmSync } = await import('node:fs');
  try {
    rmSync(join(h.dir, 'incoming'), { recursive: true });
    const { CleanupClient } = await import('../../src/global/cleanup_clnt.js');
    await assert.rejects(CleanupClient.open(h.config, CLEANUP_FLAG_MASK_EXTERNAL, { timeoutMs: 30000 }));
    assert.ok(h.logs.some((l) => l.startsWith('warning: mail_queue_enter: create file incoming: ')), h.logs.join('\n'));
  } finally {
    await h.close();
  }
});

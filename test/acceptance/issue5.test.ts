/**
 * issue5 - acceptance tests for "queue manager, local delivery, lookup
 * tables and bounces" (issue 5), the "Must show" items not already covered
 * end to end elsewhere, each against a real instance started with
 * `postfix -c DIR start`: Maildir delivery through an alias, a `|command`
 * that fails temporarily (deferred, listed by mailq, retried by
 * `postqueue -f`, bounced after maximal_queue_lifetime), the bounce for an
 * unknown local user, `kill -9` of local in mid-delivery, and
 * postmap/postalias (LMDB files, folding, file:line syntax errors; texts
 * checked against Postfix 3.7).
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';
import { readOr, sleep, waitUntil } from '../helpers/wait.js';

const DOM = 'mail.example.test';

let inst: TestInstance;
let box: string; // a world-writable directory for alias files (written as default_privs)
let bounces: string; // the mailbox file of bouncebox@, the sender of the test messages

const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30000): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, intervalMs: 100, context: () => inst.readLog() });


/** send - sendmail -f bouncebox@DOM -i rcpt; returns the queue ID from the pickup log line. */
async function send(rcpt: string, subject: string, body = 'body\n'): Promise<string> {
  const before = inst.logLines(/pickup\[\d+\]: [0-9A-F]+: uid=/).length;
  const r = await inst.command('sendmail', ['-f', `bouncebox@${DOM}`, '-i', rcpt], `Subject: ${subject}\n\n${body}`);
  assert.equal(r.status, 0, r.stderr);
  const line = await inst.waitForLog(/pickup\[\d+\]: [0-9A-F]+: uid=/, 20000, before + 1);
  return /: ([0-9A-F]+): uid=/.exec(line)![1];
}

before(async () => {
  inst = await TestInstance.create({
    name: 'issue5',
    main: {
      alias_maps: 'lmdb:$config_directory/aliases',
      alias_database: 'lmdb:$config_directory/aliases',
      queue_run_delay: '1s',
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
      transport_retry_time: '1s',
      service_throttle_time: '1s',
      delay_warning_time: '0h',
    },
  });
  box = join(inst.dir, 'box');
  mkdirSync(box);
  chmodSync(box, 0o1777);
  bounces = join(box, 'bounces');
  writeFileSync(
    join(inst.configDir, 'aliases'),
    [
      `bouncebox: ${bounces}`,
      `mdir: ${box}/Maildir/`,
      'tempfail: "|echo try again later; exit 75"',
      // waits for the gate so that all messages are queued before the first is delivered
      `slow: "|while [ ! -e ${box}/gate ]; do sleep 0.1; done; sleep 0.3; cat >> ${box}/slow"`,
      `list: ${box}/listfile`,
      'owner-list: bouncebox',
      '',
    ].join('\n'),
  );
  const r = await inst.command('postalias', [`lmdb:${join(inst.configDir, 'aliases')}`]);
  assert.equal(r.status, 0, r.stderr);
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

test('an alias to a /path/Maildir/ member: the message lands in a new file of Maildir/new', async () => {
  const id = await send(`mdir@${DOM}`, 'to maildir', 'maildir body\n');
  const line = await inst.waitForLog(new RegExp(`${id}: to=<mdir@${DOM}>, relay=local, .*status=sent \\(delivered to maildir\\)`));
  assert.match(line, /dsn=2\.0\.0/);
  const md = join(box, 'Maildir');
  for (const sub of ['tmp', 'new', 'cur']) assert.ok(existsSync(join(md, sub)), `Maildir/${sub}`);
  const files = readdirSync(join(md, 'new'));
  assert.equal(files.length, 1);
  assert.deepEqual(readdirSync(join(md, 'tmp')), []);
  const text = readFileSync(join(md, 'new', files[0]), 'utf8');
  // Maildir files carry no "From " line; the envelope is in the headers.
  assert.ok(!text.startsWith('From '));
  assert.match(text, /^Return-Path: <bouncebox@mail\.example\.test>\n/);
  assert.match(text, new RegExp(`\nDelivered-To: mdir@${DOM.replaceAll('.', '\\.')}\n`));
  assert.match(text, /\nSubject: to maildir\n/);
  assert.match(text, /\nMessage-Id: <[^>]+>\n/);
  assert.match(text, /\n\nmaildir body\n$/);
  // A second message is a second file with a different unique name.
  const id2 = await send(`mdir@${DOM}`, 'to maildir again');
  await inst.waitForLog(new RegExp(`${id2}: to=<mdir@.*status=sent`));
  assert.equal(readdirSync(join(md, 'new')).length, 2);
});

test('mail to an unknown local user bounces: 5.1.1 in the log and a multipart/report to the sender', async () => {
  const id = await send(`nosuchuser@${DOM}`, 'nobody home');
  const line = await inst.waitForLog(new RegExp(`${id}: to=<nosuchuser@${DOM}>, relay=local, .*dsn=5\\.1\\.1, status=bounced \\(unknown user: "nosuchuser"\\)`));
  assert.match(line, /delay=[\d.]+, delays=[\d.]+\/[\d.]+\/[\d.]+\/[\d.]+, /);
  const bounceLine = await inst.waitForLog(new RegExp(`${id}: sender non-delivery notification: [0-9A-F]+`));
  const nid = /notification: ([0-9A-F]+)/.exec(bounceLine)![1];
  await inst.waitForLog(new RegExp(`${nid}: to=<bouncebox@${DOM}>, relay=local, .*status=sent \\(delivered to file: ${bounces}\\)`));
  const mbox = readOr(bounces);
  const notice = mbox.slice(mbox.lastIndexOf('\nFrom MAILER-DAEMON') + 1);
  assert.match(notice, /^From MAILER-DAEMON /);
  assert.match(notice, /\nFrom: Mail Delivery System <MAILER-DAEMON@mail\.example\.test>\n/);
  assert.match(notice, /\nSubject: Undelivered Mail Returned to Sender\n/);
  assert.match(notice, /\nContent-Type: multipart\/report; report-type=delivery-status;\n\tboundary="/);
  assert.match(notice, /\nContent-Type: message\/delivery-status\n/);
  assert.match(notice, /\nFinal-Recipient: rfc822; nosuchuser@mail\.example\.test\n/);
  assert.match(notice, /\nAction: failed\n/);
  assert.match(notice, /\nStatus: 5\.1\.1\n/);
  assert.match(notice, /<nosuchuser@mail\.example\.test>: unknown user: "nosuchuser"/);
  // the returned message
  assert.match(notice, /\nSubject: nobody home\n/);
});

test('a |command exiting 75 is deferred, listed by mailq, retried by postqueue -f, and bounced after maximal_queue_lifetime', async () => {
  const id = await send(`tempfail@${DOM}`, 'try later');
  const first = await inst.waitForLog(new RegExp(`${id}: to=<tempfail@${DOM}>, relay=local, .*status=deferred \\((.*)\\)$`));
  assert.match(first, /dsn=4\.3\.0, /);
  const reason = /status=deferred \((.*)\)$/.exec(first)![1];
  assert.match(reason, /try again later/);

  // mailq: the queue ID, the sender, the reason in parentheses, the recipient.
  // mailq: the queue ID, the sender, the reason in parentheses, the recipient
  // (once qmgr has moved the message to deferred/).
  let listing = '';
  const entry = await waitFor('the message in mailq with its reason', async () => {
    const mq = await inst.command('mailq', []);
    assert.equal(mq.status, 0, mq.stderr);
    listing = mq.stdout;
    const e = listing.split('\n\n').find((x) => x.includes(id));
    return e && /\n {6,}\(/.test(e) ? e : undefined;
  });
  assert.match(listing, /^-Queue ID-  --Size-- ----Arrival Time---- -Sender\/Recipient-------\n/);
  const all = entry.split('\n');
  const lines = all.slice(all.findIndex((l) => l.startsWith(id)));
  assert.match(lines[0], new RegExp(`^${id}\\s+\\d+ \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d  bouncebox@mail\\.example\\.test$`));
  assert.equal(lines[1].trim(), `(${reason})`.slice(0, lines[1].trim().length));
  assert.match(lines[1], /^ {6,}\(/);
  assert.equal(lines[2].trim(), `tempfail@${DOM}`);

  // postqueue -f: a new attempt, deferred again.
  const count = inst.logLines(new RegExp(`${id}: to=<tempfail@.*status=deferred`)).length;
  const f = await inst.command('postqueue', ['-f']);
  assert.equal(f.status, 0, f.stderr);
  await inst.waitForLog(new RegExp(`${id}: to=<tempfail@.*status=deferred`), 20000, count + 1);

  // A short lifetime: the next attempt gives up and returns the message.
  inst.setMain({ maximal_queue_lifetime: '1s', bounce_queue_lifetime: '1s' });
  assert.equal((await inst.postfix('reload')).status, 0);
  await sleep(1500);
  await waitFor('expiry', () => {
    void inst.command('postqueue', ['-f']);
    return inst.logLines(new RegExp(`${id}: from=<bouncebox@${DOM}>, status=expired, returned to sender`)).length > 0;
  });
  const nline = await inst.waitForLog(new RegExp(`${id}: sender non-delivery notification: [0-9A-F]+`));
  const nid = /notification: ([0-9A-F]+)/.exec(nline)![1];
  await inst.waitForLog(new RegExp(`${nid}: to=<bouncebox@${DOM}>, relay=local, .*status=sent`));
  await inst.waitForLog(new RegExp(`${id}: removed`));
  const mbox = readOr(bounces);
  const notice = mbox.slice(mbox.lastIndexOf('\nFrom MAILER-DAEMON') + 1);
  assert.match(notice, /\nContent-Type: multipart\/report; report-type=delivery-status;/);
  assert.match(notice, /\nFinal-Recipient: rfc822; tempfail@mail\.example\.test\n/);
  assert.match(notice, /\nAction: failed\n/);
  assert.match(notice, /\nStatus: 4\.3\.0\n/);
  assert.match(notice, /try again later/);
  assert.match(notice, /\nSubject: try later\n/);
  // nothing of it is left in the queue
  const after = await inst.command('mailq', []);
  assert.ok(!after.stdout.includes(id), after.stdout);
  inst.setMain({ maximal_queue_lifetime: '5d', bounce_queue_lifetime: '5d' });
  assert.equal((await inst.postfix('reload')).status, 0);
});

test('a list with an owner-list alias: its deliveries carry owner-list@$myorigin as envelope sender', async () => {
  const id = await send(`list@${DOM}`, 'to the list');
  await inst.waitForLog(new RegExp(`${id}: to=<list@${DOM}>, relay=local, .*status=sent \\(delivered to file: ${box}/listfile\\)`));
  const text = readOr(join(box, 'listfile'));
  assert.match(text, /^From owner-list@mail\.example\.test {2}/);
  assert.match(text, /\nReturn-Path: <owner-list@mail\.example\.test>\n/);
  assert.match(text, /\nSubject: to the list\n/);
});

/** localPids - this instance's local(8) processes. */
function localPids(): number[] {
  return inst.processes().filter((pid) => {
    try {
      return /libexec\/local\0/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
    } catch {
      return false;
    }
  });
}

test('kill -9 of local in mid-delivery: every message is delivered at least once, none lost', async () => {
  const N = 20;
  const slow = join(box, 'slow');
  const pickupRe = /pickup\[\d+\]: ([0-9A-F]+): uid=/;
  const before = inst.logLines(pickupRe).length;
  for (let i = 0; i < N; i++) {
    const r = await inst.command('sendmail', ['-f', `bouncebox@${DOM}`, '-i', `slow@${DOM}`], `Subject: slow ${i}\n\nMARKER-${i}-END\n`);
    assert.equal(r.status, 0, r.stderr);
  }
  // Open the gate only now: on a loaded machine the deliveries could otherwise keep pace with the
  // submissions and be over before there is a moment in mid-delivery.
  writeFileSync(join(box, 'gate'), '');
  // Kill local(8) twice while it works through the slow command deliveries.
  let kills = 0;
  let lastN = 0;
  for (let round = 0; round < 2; round++) {
    // mid-delivery: some messages are in, not all of them
    const pids = await waitFor('a local process in mid-delivery', () => {
      const n = (readOr(slow).match(/MARKER-/g) ?? []).length;
      if (n <= lastN || n >= N) return undefined;
      const p = localPids();
      if (p.length > 0) lastN = n;
      return p.length > 0 ? p : undefined;
    });
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        kills++;
      } catch {
        // finished in the meantime
      }
    }
    await sleep(400);
  }
  assert.ok(kills > 0);
  const missing = (): number[] => {
    const text = readOr(slow);
    return [...Array(N).keys()].filter((i) => !text.includes(`MARKER-${i}-END`));
  };
  const end = Date.now() + 60000;
  while (missing().length > 0) {
    if (Date.now() > end) assert.fail(`messages never delivered: ${missing().join(', ')}\n--- maillog:\n${inst.readLog()}`);
    await inst.command('postqueue', ['-f']);
    await sleep(500);
  }
  assert.deepEqual(missing(), []);
  // and each of them leaves the queue: nothing stays behind
  await inst.waitForLog(pickupRe, 20000, before + N);
  const ids = inst.logLines(pickupRe).slice(before).map((l) => pickupRe.exec(l)![1]);
  assert.equal(ids.length, N);
  await waitFor('every message removed', () => ids.every((id) => inst.logLines(new RegExp(`: ${id}: removed$`)).length > 0), 60000);
});

test('postmap/postalias: LMDB files, postmap -q with folding, syntax errors with file:line', async () => {
  const work = mkdtempSync(join(tmpdir(), 'issue5-maps-'));
  try {
    const table = join(work, 'access');
    writeFileSync(table, 'Foo@Example.COM  value1\nbadline\n# comment\n\nexample.NET   OK\n   continued\n');
    const r = await inst.command('postmap', [`lmdb:${table}`]);
    // Postfix 3.7: "postmap: warning: /path/access, line 2: expected format: key whitespace value", exit 0
    assert.equal(r.status, 0);
    assert.equal(r.stderr, `postmap: warning: ${table}, line 2: expected format: key whitespace value\n`);
    assert.ok(existsSync(`${table}.lmdb`));
    assert.equal(readFileSync(`${table}.lmdb`).length > 0, true);
    // keys are folded to lower case when built and when looked up
    let q = await inst.command('postmap', ['-q', 'FOO@example.com', `lmdb:${table}`]);
    assert.equal(q.status, 0);
    assert.equal(q.stdout, 'value1\n');
    q = await inst.command('postmap', ['-q', 'Example.Net', `lmdb:${table}`]);
    assert.equal(q.stdout, 'OK   continued\n');
    q = await inst.command('postmap', ['-q', 'badline', `lmdb:${table}`]);
    assert.equal(q.status, 1);
    assert.equal(q.stdout, '');
    // -q - reads keys from stdin and prints "key<TAB>value" for the ones found
    q = await inst.command('postmap', ['-q', '-', `lmdb:${table}`], 'foo@EXAMPLE.com\nnothere\nexample.net\n');
    assert.equal(q.stdout, 'foo@EXAMPLE.com\tvalue1\nexample.net\tOK   continued\n');

    const aliases = join(work, 'aliases');
    writeFileSync(aliases, 'Postmaster: root\nbad line\nList: a, b,\n  c\n');
    const a = await inst.command('postalias', [`lmdb:${aliases}`]);
    // Postfix 3.7: "postalias: warning: /path/aliases, line 2: need name:value pair"
    assert.equal(a.status, 0);
    assert.equal(a.stderr, `postalias: warning: ${aliases}, line 2: need name:value pair\n`);
    assert.ok(existsSync(`${aliases}.lmdb`));
    q = await inst.command('postalias', ['-q', 'POSTMASTER', `lmdb:${aliases}`]);
    assert.equal(q.stdout, 'root\n');
    q = await inst.command('postalias', ['-q', 'list', `lmdb:${aliases}`]);
    assert.equal(q.stdout, 'a, b, c\n');
    q = await inst.command('postmap', ['-q', 'list', `lmdb:${aliases}`]);
    assert.equal(q.stdout, 'a, b, c\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

/**
 * verp - VERP end to end and list-owner notices, against a real instance
 * started with `postfix -c DIR start` and a real SMTP peer for remote.test:
 * smtpd's XVERP (EHLO keyword, MAIL FROM parameters, reply texts of Postfix
 * 3.7.11 for bad delimiters, the null sender and unauthorized clients), a
 * VERP message relayed as one transaction per recipient with the VERP'ed
 * MAIL FROM, the VERP'ed Return-Path of a local delivery, the bounce of a
 * VERP message going to the VERP'ed sender address, and local(8)'s owner-
 * aliases: a list member's failure reported to the list owner (at once
 * through the bounce service for commands, through a forwarded copy from
 * owner-list for local members), never to the poster.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { TestInstance, freePort } from '../helpers/instance.js';
import { RawClient } from '../acceptance/client.js';
import { readOr, sleep, waitUntil } from '../helpers/wait.js';

const DOM = 'mail.example.test';

let inst: TestInstance;
let box: string;
let peer: SMTPServer;
let peerPort: number;
let noVerpPort: number;
let deadPort: number; // nothing listens here: mail for dead.test is deferred
const peerMail: Array<{ from: string; to: string[]; data: string }> = [];

before(async () => {
  peerPort = await freePort();
  noVerpPort = await freePort();
  deadPort = await freePort();
  peer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
        peerMail.push({ from, to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks).toString() });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => peer.listen(peerPort, '127.0.0.1', () => resolve()));
  inst = await TestInstance.create({
    name: 'verp',
    main: {
      alias_maps: 'lmdb:$config_directory/aliases',
      alias_database: 'lmdb:$config_directory/aliases',
      transport_maps: 'texthash:$config_directory/transport',
      smtpd_authorized_verp_clients: '127.0.0.1',
      queue_run_delay: '1s',
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
    },
    extraMasterCf: `127.0.0.1:${noVerpPort} inet n - n - - smtpd -o smtpd_authorized_verp_clients=`,
  });
  box = join(inst.dir, 'box');
  mkdirSync(box);
  chmodSync(box, 0o1777);
  writeFileSync(join(inst.configDir, 'transport'), `remote.test smtp:[127.0.0.1]:${peerPort}\ndead.test smtp:[127.0.0.1]:${deadPort}\n`);
  writeFileSync(
    join(inst.configDir, 'aliases'),
    [
      `bouncebox: ${box}/bounces`,
      `keep: ${box}/keep`,
      `list: nosuchuser1, ${box}/listfile`,
      'owner-list: ownerbox',
      `cmdlist: "|exit 67", ${box}/cmdfile`,
      'owner-cmdlist: ownerbox',
      `ownerbox: ${box}/owner`,
      'fail4: "|exit 67"',
      'fail5: "|exit 67"',
      '',
    ].join('\n'),
  );
  const r = await inst.command('postalias', [`lmdb:${join(inst.configDir, 'aliases')}`]);
  assert.equal(r.status, 0, r.stderr);
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
  await new Promise<void>((resolve) => (peer ? peer.close(() => resolve()) : resolve()));
});

const waitFor = <T>(what: string, fn: () => T | undefined | false, timeoutMs = 30000): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, intervalMs: 100, context: () => inst.readLog() });


/** chat - send each command after the previous reply; the reply lines of each. */
async function chat(port: number, commands: string[]): Promise<string[][]> {
  const c = await RawClient.open(port);
  const out: string[][] = [];
  let seen = 0;
  const next = async (): Promise<string[]> => {
    const end = Date.now() + 20000;
    for (;;) {
      const lines = c.lines().slice(seen);
      const last = lines.findIndex((l) => /^\d{3}( |$)/.test(l));
      if (last >= 0) {
        seen += last + 1;
        return lines.slice(0, last + 1);
      }
      if (c.closed || Date.now() > end) throw new Error(`no reply; got ${JSON.stringify(c.lines())}`);
      await sleep(20);
    }
  };
  out.push(await next());
  for (const cmd of commands) {
    c.write(`${cmd}\r\n`);
    out.push(await next());
  }
  c.destroy();
  return out;
}

/** sendmail - submit with sendmail(1); the queue ID from the pickup log line. */
async function sendmail(args: string[], text: string): Promise<string> {
  const before = inst.logLines(/pickup\[\d+\]: [0-9A-F]+: uid=/).length;
  const r = await inst.command('sendmail', ['-i', ...args], text);
  assert.equal(r.status, 0, r.stderr);
  const line = await inst.waitForLog(/pickup\[\d+\]: [0-9A-F]+: uid=/, 20000, before + 1);
  return /: ([0-9A-F]+): uid=/.exec(line)![1];
}

test('smtpd: XVERP in EHLO and MAIL FROM only for smtpd_authorized_verp_clients, with Postfix 3.7 reply texts', async () => {
  const r = await chat(inst.smtpPort, [
    'EHLO client.example',
    'MAIL FROM:<a@b.test> XVERP',
    'RSET',
    'MAIL FROM:<a@b.test> xverp=-=',
    'RSET',
    'MAIL FROM:<a@b.test> XVERP=+',
    'MAIL FROM:<a@b.test> XVERP=ab',
    'MAIL FROM:<a@b.test> XVERP=+=+',
    'MAIL FROM:<> XVERP',
    'MAIL FROM:<a@b.test> XVERP:+=',
    'MAIL FROM:<a@b.test> XVERPX',
    'QUIT',
  ]);
  const ehlo = r[1];
  const i = ehlo.indexOf('250-XVERP');
  assert.ok(i > 0 && ehlo[i - 1] === '250-ETRN' && ehlo[i + 1] === '250-ENHANCEDSTATUSCODES', ehlo.join('\n'));
  assert.deepEqual(
    r.slice(2).map((x) => x.join('\n')),
    [
      '250 2.1.0 Ok',
      '250 2.0.0 Ok',
      '250 2.1.0 Ok',
      '250 2.0.0 Ok',
      '501 5.5.4 Error: XVERP needs two characters from -=+',
      '501 5.5.4 Error: XVERP needs two characters from -=+',
      '501 5.5.4 Error: XVERP needs two characters from -=+',
      '503 5.5.4 Error: XVERP requires non-null sender',
      '555 5.5.4 Unsupported option: XVERP:+=',
      '555 5.5.4 Unsupported option: XVERPX',
      '221 2.0.0 Bye',
    ],
  );
  // A client outside smtpd_authorized_verp_clients: no keyword, no parameter.
  const n = await chat(noVerpPort, ['EHLO client.example', 'MAIL FROM:<a@b.test> XVERP', 'MAIL FROM:<a@b.test> XVERP=+=', 'QUIT']);
  assert.ok(!n[1].some((l) => l.includes('XVERP')), n[1].join('\n'));
  assert.deepEqual(n[2], ['555 5.5.4 Unsupported option: XVERP']);
  assert.deepEqual(n[3], ['555 5.5.4 Unsupported option: XVERP=+=']);
});

test('a VERP message to two remote recipients: two SMTP transactions, each with its VERP\'ed MAIL FROM', async () => {
  const r = await chat(inst.smtpPort, [
    'EHLO client.example',
    'MAIL FROM:<news@example.test> XVERP=-=',
    'RCPT TO:<u1@remote.test>',
    'RCPT TO:<u2@remote.test>',
    'DATA',
    'Subject: verp over smtp\r\n\r\nverp body\r\n.',
    'QUIT',
  ]);
  const queued = /^250 2\.0\.0 Ok: queued as ([0-9A-F]+)$/.exec(r[6][0]);
  assert.ok(queued, r[6].join('\n'));
  const id = queued[1];
  await inst.waitForLog(new RegExp(`${id}: removed`));
  const mine = peerMail.filter((m) => m.data.includes('verp over smtp'));
  assert.equal(mine.length, 2, JSON.stringify(mine));
  const byRcpt = new Map(mine.map((m) => [m.to.join(','), m.from]));
  assert.equal(byRcpt.get('u1@remote.test'), 'news-u1=remote.test@example.test');
  assert.equal(byRcpt.get('u2@remote.test'), 'news-u2=remote.test@example.test');
  // qmgr logs the original sender; each delivery is its own line.
  assert.match(inst.readLog(), new RegExp(`${id}: from=<news@example\\.test>, size=\\d+, nrcpt=2 \\(queue active\\)`));
  assert.equal(inst.logLines(new RegExp(`${id}: to=<u[12]@remote\\.test>, .*status=sent`)).length, 2);
});

test('sendmail -XV: the local delivery has the VERP\'ed Return-Path, the unknown recipient bounces to the VERP\'ed sender', async () => {
  const id = await sendmail(['-XV', '-f', 'poster@remote.test', `keep@${DOM}`, `nosuchuser2@${DOM}`], 'Subject: verp bounce\n\nverp bounce body\n');
  await inst.waitForLog(new RegExp(`${id}: to=<nosuchuser2@${DOM}>, relay=local, .*dsn=5\\.1\\.1, status=bounced \\(unknown user: "nosuchuser2"\\)`));
  await inst.waitForLog(new RegExp(`${id}: removed`));
  const keep = await waitFor('the keep file', () => readOr(join(box, 'keep')).includes('verp bounce body') && readOr(join(box, 'keep')));
  assert.match(keep, /^From poster\+keep=mail\.example\.test@remote\.test {2}/);
  assert.match(keep, /\nReturn-Path: <poster\+keep=mail\.example\.test@remote\.test>\n/);
  // One notice, for the failed recipient only, to its VERP'ed address.
  assert.equal(inst.logLines(new RegExp(`${id}: sender non-delivery notification: [0-9A-F]+`)).length, 1);
  const notice = await waitFor('the VERP bounce at the peer', () => peerMail.find((m) => m.data.includes(`X-Postfix-Queue-ID: ${id}`)));
  assert.equal(notice.from, '');
  assert.deepEqual(notice.to, [`poster+nosuchuser2=${DOM}@remote.test`]);
  assert.match(notice.data, new RegExp(`\r\nTo: poster\\+nosuchuser2=mail\\.example\\.test@remote\\.test\r\n`));
  assert.match(notice.data, /\r\nSubject: Undelivered Mail Returned to Sender\r\n/);
  assert.match(notice.data, new RegExp(`\r\n<nosuchuser2@${DOM.replaceAll('.', '\\.')}>: unknown user: "nosuchuser2"\r\n`));
  assert.match(notice.data, /\r\nX-Postfix-Sender: rfc822; poster@remote\.test\r\n/);
  assert.match(notice.data, new RegExp(`\r\nFinal-Recipient: rfc822; nosuchuser2@${DOM.replaceAll('.', '\\.')}\r\n`));
  assert.ok(!notice.data.includes('Final-Recipient: rfc822; keep@'), notice.data);
  assert.match(notice.data, /\r\nContent-Type: message\/rfc822\r\n/);
});

test('an alias with owner-: a failed |command member is reported at once to the owner, not to the poster', async () => {
  const id = await sendmail(['-f', `bouncebox@${DOM}`, `cmdlist@${DOM}`], 'Subject: to cmdlist\n\ncmdlist body\n');
  // The failure is logged without orig_to (a list expansion drops the original recipient).
  await inst.waitForLog(new RegExp(`${id}: to=<cmdlist@${DOM}>, relay=local, delay=[\\d.]+, delays=[\\d./]+, dsn=5\\.1\\.1, status=bounced \\(user unknown\\)`));
  await inst.waitForLog(new RegExp(`${id}: removed`));
  assert.equal(inst.logLines(new RegExp(`${id}: sender non-delivery notification: `)).length, 1);
  const owner = await waitFor('the notice at the owner', () => readOr(join(box, 'owner')).includes(`X-Postfix-Queue-ID: ${id}`) && readOr(join(box, 'owner')));
  assert.match(owner, /\nTo: owner-cmdlist@mail\.example\.test\n/);
  assert.match(owner, /\n<cmdlist@mail\.example\.test>: user unknown\n/);
  // The file member was delivered with the owner as sender.
  assert.match(readOr(join(box, 'cmdfile')), /\nReturn-Path: <owner-cmdlist@mail\.example\.test>\n/);
  assert.ok(!readOr(join(box, 'bounces')).includes(`X-Postfix-Queue-ID: ${id}`));
});

test('an alias with owner-: a local member goes on as a copy from owner-list, whose bounce reaches the owner', async () => {
  const id = await sendmail(['-f', `bouncebox@${DOM}`, `list@${DOM}`], 'Subject: to list\n\nlist body\n');
  const fwd = await inst.waitForLog(new RegExp(`${id}: to=<list@${DOM}>, relay=local, .*dsn=2\\.0\\.0, status=sent \\(forwarded as ([0-9A-F]+)\\)`));
  const copy = /forwarded as ([0-9A-F]+)/.exec(fwd)![1];
  await inst.waitForLog(new RegExp(`${copy}: from=<owner-list@${DOM}>, size=\\d+, nrcpt=1 \\(queue active\\)`));
  await inst.waitForLog(new RegExp(`${copy}: to=<nosuchuser1@${DOM}>, relay=local, .*dsn=5\\.1\\.1, status=bounced \\(unknown user: "nosuchuser1"\\)`));
  await inst.waitForLog(new RegExp(`${id}: removed`));
  assert.equal(inst.logLines(new RegExp(`${id}: sender non-delivery notification: `)).length, 0);
  const owner = await waitFor('the notice at the owner', () => readOr(join(box, 'owner')).includes(`X-Postfix-Queue-ID: ${copy}`) && readOr(join(box, 'owner')));
  assert.match(owner, /\nTo: owner-list@mail\.example\.test\n/);
  assert.match(readOr(join(box, 'listfile')), /\nReturn-Path: <owner-list@mail\.example\.test>\n/);
  assert.ok(!readOr(join(box, 'bounces')).includes(id));
});

test('an expired VERP message: its defer logfile goes back as one notice per recipient, each to its VERP\'ed sender', async () => {
  const id = await sendmail(['-XV', '-f', 'poster@remote.test', 'a1@dead.test', 'a2@dead.test'], 'Subject: verp expiry\n\nexpiry body\n');
  await inst.waitForLog(new RegExp(`${id}: to=<a1@dead\\.test>, .*status=deferred`));
  await inst.waitForLog(new RegExp(`${id}: to=<a2@dead\\.test>, .*status=deferred`));
  // postsuper -e: expire it now (the next queue run returns it; qmgr_active_done as for an old message)
  const e = await inst.command('postsuper', ['-e', id]);
  assert.equal(e.status, 0, e.stderr);
  assert.equal((await inst.command('postqueue', ['-f'])).status, 0);
  await inst.waitForLog(new RegExp(`${id}: from=<poster@remote\\.test>, status=force-expired, returned to sender`));
  await inst.waitForLog(new RegExp(`${id}: removed`));
  assert.equal(inst.logLines(new RegExp(`${id}: sender non-delivery notification: `)).length, 2);
  const notices = await waitFor('two notices at the peer', () => {
    const n = peerMail.filter((m) => m.data.includes(`X-Postfix-Queue-ID: ${id}`));
    return n.length === 2 && n;
  });
  assert.deepEqual(notices.map((n) => n.to.join(',')).sort(), ['poster+a1=dead.test@remote.test', 'poster+a2=dead.test@remote.test']);
  for (const n of notices) {
    const who = /poster\+(a\d)=/.exec(n.to[0])![1];
    assert.equal(n.from, '');
    assert.match(n.data, new RegExp(`\r\nFinal-Recipient: rfc822; ${who}@dead\\.test\r\n`));
    assert.equal((n.data.match(/\r\nFinal-Recipient: /g) ?? []).length, 1, n.data);
    assert.match(n.data, /\r\nAction: failed\r\n/);
    assert.match(n.data, /\r\nContent-Type: message\/rfc822\r\n/);
  }
});

test('DSN NOTIFY: the sender\'s notice lists only recipients that asked for failure notices', async () => {
  const r = await chat(inst.smtpPort, [
    'EHLO client.example',
    'MAIL FROM:<poster@remote.test>',
    `RCPT TO:<fail4@${DOM}> NOTIFY=NEVER`,
    `RCPT TO:<fail5@${DOM}> NOTIFY=FAILURE`,
    'DATA',
    'Subject: notify filter\r\n\r\nnotify body\r\n.',
    'QUIT',
  ]);
  const id = /queued as ([0-9A-F]+)/.exec(r[6][0])![1];
  await inst.waitForLog(new RegExp(`${id}: removed`));
  assert.equal(inst.logLines(new RegExp(`${id}: to=<fail[45]@${DOM}>, relay=local, .*status=bounced \\(user unknown\\)`)).length, 2);
  assert.equal(inst.logLines(new RegExp(`${id}: sender non-delivery notification: `)).length, 1);
  const notice = await waitFor('the notice at the peer', () => peerMail.find((m) => m.data.includes(`X-Postfix-Queue-ID: ${id}`)));
  assert.deepEqual(notice.to, ['poster@remote.test']);
  assert.match(notice.data, /\r\nFinal-Recipient: rfc822; fail5@/);
  assert.ok(!notice.data.includes('fail4'), notice.data);
});

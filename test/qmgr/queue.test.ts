/**
 * queue - the queue manager in a real instance: deferral with exponential
 * backoff, a dead destination whose other mail is deferred through the
 * retry agent ("delivery temporarily suspended: ..."), `postqueue -f`
 * retrying at once, hold/ left alone, `postsuper -e` (status=force-expired),
 * expiry after maximal_queue_lifetime (status=expired) with the notice,
 * defer_transports released by a flush, and a corrupt file saved to corrupt/.
 * Log lines are the ones real Postfix 3.7 writes (checked with the oracle).
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { REPO, TestInstance, freePort } from '../helpers/instance.js';
import { getpwnam } from '../../src/util/mypwd.js';
import { sleep, waitUntil } from '../helpers/wait.js';

const me = userInfo().username;
const sender = `${me}@mail.example.test`;

let inst: TestInstance;
let deadPort: number;

before(async () => {
  deadPort = await freePort(); // nothing listens there: connection refused
  inst = await TestInstance.create({
    name: 'qmgr-queue',
    main: {
      relayhost: `[127.0.0.1]:${deadPort}`,
      minimal_backoff_time: '300s',
      maximal_backoff_time: '4000s',
      queue_run_delay: '300s',
      initial_destination_concurrency: '1',
    },
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

async function submit(to: string, subject: string): Promise<string> {
  const r = await inst.command('sendmail', ['-f', sender, to], `Subject: ${subject}\n\nbody of ${subject}\n`);
  assert.equal(r.status, 0, r.stderr);
  // bounce notices skip pickup: count pickup's lines
  const line = await inst.waitForLog(new RegExp(`pickup\\[\\d+\\]: [0-9A-F]+: uid=\\d+ from=<${sender}>`), 20000, submitted + 1);
  submitted++;
  return /: ([0-9A-F]+): uid=/.exec(line)![1];
}
let submitted = 0;

function queueFiles(queue: string): Map<string, string> {
  const out = new Map<string, string>();
  const dir = join(inst.queueDir, queue);
  if (!existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.set(e.name, join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

const waitFor = <T>(what: string, fn: () => T | undefined, timeoutMs = 20000): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, context: () => inst.readLog() });

const GOLDEN = join(REPO, 'test', 'bounce', 'golden');

function normalize(text: string): string {
  return text
    .replaceAll(sender, 'root@mail.example.test')
    .replace(/from userid \d+/g, 'from userid N')
    .replace(/\b[0-9A-F]{10,12}\b/g, 'QUEUEID')
    .replace(/\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/g, 'DATE')
    .replace(/\.\d{9,10}\//g, '.EPOCH/')
    .replace(/<\d{14}\.QUEUEID@/g, '<MSGID@')
    .replace(/\]:\d{2,5}:/g, ']:PORT:');
}

const count = (re: RegExp) => inst.logLines(re).length;
const ids: string[] = [];
let delayedId = '';

test('deferred mail gets the next retry time as mtime; a dead destination defers the rest through the retry agent', async () => {
  const t0 = Date.now();
  for (let i = 1; i <= 4; i++) ids.push(await submit(`rcpt${i}@remote.example`, `remote ${i}`));
  for (const id of ids) await inst.waitForLog(new RegExp(`${id}: to=<rcpt\\d@remote\\.example>, relay=none, .*status=deferred`));
  const t1 = Date.now();
  const deferred = await waitFor('all four in deferred/', () => {
    const q = queueFiles('deferred');
    return ids.every((id) => q.has(id)) ? q : undefined;
  });
  for (const id of ids) {
    // now + clamp(age, minimal_backoff_time, maximal_backoff_time): the age is tiny, so 300s
    const mtime = statSync(deferred.get(id)!).mtimeMs;
    assert.ok(mtime >= t0 + 299_000 && mtime <= t1 + 301_000, `${id}: mtime ${new Date(mtime).toISOString()}`);
  }
  // The first failure kills the destination (initial concurrency 1, failed cohort limit 1):
  // a real connection attempt by smtp, the others suspended by the retry (error) agent.
  const refused = `connect to 127.0.0.1[127.0.0.1]:${deadPort}: Connection refused`;
  const smtp = inst.logLines(new RegExp(`postfix/smtp\\[\\d+\\]: [0-9A-F]+: to=<.*dsn=4\\.4\\.1, status=deferred \\(${refused.replace(/[[\]().]/g, '\\$&')}\\)$`));
  assert.ok(smtp.length >= 1, inst.readLog());
  const suspended = inst.logLines(/postfix\/error\[\d+\]: [0-9A-F]+: to=<rcpt\d@remote\.example>, relay=none, delay=\S+, delays=\S+, dsn=4\.4\.1, status=deferred \(delivery temporarily suspended: connect to /);
  assert.equal(smtp.length + suspended.length, 4, inst.readLog());
  // mailq shows the reason
  const q = await inst.command('postqueue', ['-p']);
  assert.match(q.stdout, new RegExp(`\\(${refused.replace(/[[\]().]/g, '\\$&')}\\)`));
});

test('postqueue -f retries deferred mail at once and forgets the dead destination; hold/ is left alone', async () => {
  const held = ids[0];
  const h = await inst.command('postsuper', ['-h', held]);
  assert.equal(h.status, 0, h.stderr);
  assert.ok(queueFiles('hold').has(held));
  const before = count(/postfix\/smtp\[\d+\]: [0-9A-F]+: to=<.*Connection refused\)$/);
  const actives = (id: string) => count(new RegExp(`qmgr\\[\\d+\\]: ${id}: from=<${sender}>, size=\\d+, nrcpt=1 \\(queue active\\)$`));
  const r = await inst.command('postqueue', ['-f']);
  assert.equal(r.status, 0, r.stderr);
  for (const id of ids.slice(1)) await waitFor(`${id} active again`, () => (actives(id) >= 2 ? true : undefined));
  await waitFor('a new connection attempt', () => (count(/postfix\/smtp\[\d+\]: [0-9A-F]+: to=<.*Connection refused\)$/) > before ? true : undefined));
  await waitFor('back in deferred/', () => (ids.slice(1).every((id) => queueFiles('deferred').has(id)) ? true : undefined));
  assert.equal(actives(held), 1, 'a held message is not touched');
  assert.ok(queueFiles('hold').has(held));
});

test('postsuper -e: status=force-expired, returned to sender, with a non-delivery notice', async () => {
  const id = ids[1];
  const r = await inst.command('postsuper', ['-e', id]);
  assert.equal(r.status, 0, r.stderr);
  await inst.command('postqueue', ['-f']);
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: from=<${sender}>, status=force-expired, returned to sender$`));
  await inst.waitForLog(new RegExp(`bounce\\[\\d+\\]: ${id}: sender non-delivery notification: [0-9A-F]+$`));
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed$`));
  assert.equal(count(new RegExp(`${id}: to=<.*status=bounced`)), 0, 'expiry does not log per-recipient bounces');
  const box = await waitFor('the notice', () => {
    const p = join(inst.mailDir, me);
    const text = existsSync(p) ? readFileSync(p, 'utf8') : '';
    return text.includes(`X-Postfix-Queue-ID: ${id}`) ? text : undefined;
  });
  assert.match(box, /Subject: Undelivered Mail Returned to Sender/);
  assert.match(box, /<rcpt2@remote\.example>: delivery temporarily suspended: connect to|<rcpt2@remote\.example>: connect to/);
  assert.match(box, /Action: failed\nStatus: 4\.4\.1\n/);
});

test('a corrupt queue file is saved to corrupt/ with a warning', async () => {
  const id = 'C0FFEE1234';
  const path = join(inst.queueDir, 'incoming', id);
  // written under a name qmgr ignores, owned by mail_owner, then renamed into place
  const tmp = join(inst.queueDir, 'incoming', `${id}.tmp`);
  writeFileSync(tmp, 'garbage here\n', { mode: 0o700 });
  const owner = getpwnam(inst.accounts.mailOwner);
  if (owner && process.getuid?.() === 0) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, path);
  await inst.command('postqueue', ['-f']);
  // postsuper (run by postfix reload) may rename the file to match its inode, as Postfix's does
  const line = await inst.waitForLog(/qmgr\[\d+\]: warning: saving corrupt file "[0-9A-F]+" from queue "active" to queue "corrupt"$/);
  const saved = /"([0-9A-F]+)" from/.exec(line)![1];
  assert.ok(saved === id || saved.startsWith(id.slice(0, 5)), line);
  assert.equal(inst.logLines(new RegExp(`qmgr\\[\\d+\\]: warning: ${saved}: message rejected: `)).length, 1);
  await waitFor('corrupt/', () => (queueFiles('corrupt').has(saved) ? true : undefined));
  assert.ok(!queueFiles('active').has(saved) && !queueFiles('incoming').has(saved));
});

test('maximal_queue_lifetime: after one more attempt, status=expired, returned to sender', async () => {
  inst.setMain({ maximal_queue_lifetime: '1s' });
  const r = await inst.postfix('reload');
  assert.equal(r.status, 0, r.stderr);
  await sleep(1100);
  await inst.command('postqueue', ['-f']);
  for (const id of ids.slice(2)) {
    await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: from=<${sender}>, status=expired, returned to sender$`));
    await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed$`));
    const attempts = inst.logLines(new RegExp(`${id}: to=<`));
    assert.ok(attempts.length >= 3, 'delivery is tried before expiring');
  }
  assert.ok(queueFiles('hold').has(ids[0]), 'held mail does not expire');
  inst.setMain({ maximal_queue_lifetime: '5d' });
});

test('defer_transports: deferred by the retry agent until a flush', async () => {
  inst.setMain({ defer_transports: 'local' });
  assert.equal((await inst.postfix('reload')).status, 0);
  await sleep(200);
  const id = await submit(sender, 'deferred transport');
  await inst.waitForLog(new RegExp(`error\\[\\d+\\]: ${id}: to=<${sender}>, relay=none, delay=\\S+, delays=\\S+, dsn=4\\.3\\.2, status=deferred \\(deferred transport\\)$`));
  await waitFor('deferred', () => (queueFiles('deferred').has(id) ? true : undefined));
  await inst.command('postqueue', ['-f']);
  await inst.waitForLog(new RegExp(`local\\[\\d+\\]: ${id}: to=<${sender}>, relay=local, .*status=sent \\(delivered to mailbox\\)$`));
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed$`));
  inst.setMain({ defer_transports: '' });
  assert.equal((await inst.postfix('reload')).status, 0);
});

test('delay_warning_time: one "Delayed Mail (still being retried)" notice, and the W record is set to -1', async () => {
  inst.setMain({ delay_warning_time: '1s', defer_transports: '', maximal_queue_lifetime: '1d' });
  assert.equal((await inst.postfix('reload')).status, 0);
  await sleep(300);
  const id = await submit('far@remote.example', 'dw');
  delayedId = id;
  await waitFor('deferred', () => (queueFiles('deferred').has(id) ? true : undefined));
  const w = await inst.command('postcat', ['-e', queueFiles('deferred').get(id)!]);
  assert.match(w.stdout, /warning_message_time: /);
  await sleep(1100);
  await inst.command('postqueue', ['-f']);
  const line = await inst.waitForLog(new RegExp(`bounce\\[\\d+\\]: ${id}: sender delay notification: [0-9A-F]+$`));
  const notice = /notification: ([0-9A-F]+)$/.exec(line)![1];
  await inst.waitForLog(new RegExp(`local\\[\\d+\\]: ${notice}: to=<${sender}>, .*status=sent`));
  const box = readFileSync(join(inst.mailDir, me), 'utf8');
  const start = box.indexOf(`X-Postfix-Queue-ID: ${id}`);
  assert.ok(start > 0);
  const from = box.lastIndexOf('\nSubject: Delayed Mail', start) + 1;
  const end = box.indexOf('\n\nFrom ', start);
  const ours = box.slice(from, end < 0 ? box.length : end + 1).replace(/\n+$/, '\n');
  // the same bytes as Postfix 3.7's notice (test/bounce/golden, recorded from the oracle) modulo ids, dates, port, user
  const golden = readFileSync(join(GOLDEN, 'delay_notice.oracle.txt'), 'utf8');
  assert.equal(normalize(ours), normalize(golden));
  await waitFor('deferred again', () => (queueFiles('deferred').has(id) ? true : undefined));
  const w2 = await inst.command('postcat', ['-e', queueFiles('deferred').get(id)!]);
  assert.match(w2.stdout, /warning_message_time: Wed Dec 31 23:59:59 1969|warning_message_time: .*1969/);
  // no second warning on the next attempt
  await inst.command('postqueue', ['-f']);
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: from=<${sender}>, size=\\d+, nrcpt=1 \\(queue active\\)$`), 20000, 3);
  await waitFor('deferred again', () => (queueFiles('deferred').has(id) ? true : undefined));
  assert.equal(inst.logLines(new RegExp(`${id}: sender delay notification`)).length, 1);
});

test('confirm_delay_cleared: after a delay warning, the delivery is reported to the sender', async () => {
  const id = delayedId;
  assert.ok(id);
  inst.setMain({ confirm_delay_cleared: 'yes', relayhost: '', default_transport: 'discard' });
  assert.equal((await inst.postfix('reload')).status, 0);
  await sleep(300);
  await inst.command('postqueue', ['-f']);
  await inst.waitForLog(new RegExp(`discard\\[\\d+\\]: ${id}: to=<far@remote\\.example>, relay=none, .*dsn=2\\.0\\.0, status=sent \\(remote\\.example\\)$`));
  const line = await inst.waitForLog(new RegExp(`bounce\\[\\d+\\]: ${id}: sender delivery status notification: [0-9A-F]+$`));
  const notice = /notification: ([0-9A-F]+)$/.exec(line)![1];
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: removed$`));
  await inst.waitForLog(new RegExp(`local\\[\\d+\\]: ${notice}: to=<${sender}>, .*status=sent`));
  const box = readFileSync(join(inst.mailDir, me), 'utf8');
  const report = box.slice(box.lastIndexOf('Subject: Successful Mail Delivery Report'));
  assert.match(report, /\n<far@remote\.example>: remote\.example\n/);
  assert.match(report, /\nFinal-Recipient: rfc822; far@remote\.example\nOriginal-Recipient: rfc822;far@remote\.example\nAction: delivered\nStatus: 2\.0\.0\nDiagnostic-Code: X-Postfix; remote\.example\n/);
});

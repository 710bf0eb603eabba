/**
 * issue4 - acceptance tests for issue 4 (mail submission and the queue),
 * one per "Must show" item, against a real instance started with
 * `postfix -c DIR start` (always stopped afterwards). Expected texts were
 * taken from real Postfix 3.7 with the same input (noted beside each).
 *
 * The instance runs with `defer_transports = local`, so a submitted message
 * stays in the queue (deferred, "(deferred transport)") where mailq, postcat
 * and postsuper can see it; the last test lifts that and sees it delivered.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';
import { getpwnam } from '../../src/util/mypwd.js';
import { sleep, waitUntil } from '../helpers/wait.js';

const me = userInfo().username;
const myUid = process.getuid ? process.getuid() : 0;

let inst: TestInstance;

before(async () => {
  inst = await TestInstance.create({ name: 'issue4', main: { defer_transports: 'local' } });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

const waitFor = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20000): Promise<T> =>
  waitUntil(what, fn, { timeoutMs, context: () => inst.readLog() });

/** queueFiles - queue IDs (file names) under a queue directory, hashed subdirectories included. */
function queueFiles(queue: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else out.push(e.name);
    }
  };
  walk(join(inst.queueDir, queue));
  return out;
}

/** queuePath - the path of a queue file (hashed subdirectories searched). */
function queuePath(queue: string, id: string): string | undefined {
  const find = (dir: string): string | undefined => {
    if (!existsSync(dir)) return undefined;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) {
        const p = find(join(dir, e.name));
        if (p) return p;
      } else if (e.name === id) return join(dir, e.name);
    }
    return undefined;
  };
  return find(join(inst.queueDir, queue));
}

/** submit - sendmail -C DIR -t -i with a message; returns the queue ID once qmgr has deferred it. */
async function submitDeferred(text: string, args: string[] = ['-t', '-i']): Promise<string> {
  const before = inst.logLines(/cleanup\[\d+\]: [0-9A-F]+: message-id=/).length;
  const r = await inst.command('sendmail', ['-C', inst.configDir, ...args], text);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout + r.stderr, '');
  const line = await inst.waitForLog(/cleanup\[\d+\]: [0-9A-F]+: message-id=/, 20000, before + 1);
  const id = /: ([0-9A-F]+): message-id=/.exec(line)![1];
  await inst.waitForLog(new RegExp(`${id}: to=<[^>]*>, relay=none, .*status=deferred \\(deferred transport\\)`));
  await waitFor('deferred queue file', () => queuePath('deferred', id));
  return id;
}

/** postcatFields - the envelope values that mailq prints, read back with postcat. */
async function envelope(id: string): Promise<{ size: number; arrival: string; text: string }> {
  const r = await inst.command('postcat', ['-c', inst.configDir, '-q', id]);
  assert.equal(r.status, 0, r.stderr);
  const size = Number(/^message_size: +(\d+) /m.exec(r.stdout)![1]);
  const arrival = /^message_arrival_time: (.*) \d{4}$/m.exec(r.stdout)![1];
  return { size, arrival, text: r.stdout };
}

/** mailqEntry - Postfix's showq layout for one message (postqueue -p), as printed by Postfix 3.7. */
function mailqEntry(id: string, status: '' | '!' | '*', size: number, arrival: string, sender: string, rcpts: Array<{ addr: string; reason?: string }>): string {
  // Postfix 3.7: the ID with its status mark padded to 11, the size right-aligned in 7, the 19-character
  // arrival time, two spaces, the sender.
  let s = `${(id + status).padEnd(11)} ${String(size).padStart(7)} ${arrival}  ${sender}\n`;
  for (const r of rcpts) {
    // the reason, in parentheses, ends in column 78; the recipient is indented by 41
    if (r.reason) s += `${' '.repeat(Math.max(0, 78 - r.reason.length - 2))}(${r.reason})\n`;
    s += `${' '.repeat(41)}${r.addr}\n`;
  }
  return s;
}

const HEADER = '-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n';

async function mailq(): Promise<string> {
  const r = await inst.command('postqueue', ['-c', inst.configDir, '-p']);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const footer = (bytes: number, n: number) => `\n-- ${Math.floor(bytes / 1024)} Kbytes in ${n} Request${n === 1 ? '' : 's'}.\n`;

let firstId = '';

test('sendmail -t -i: exit 0, queued, and mailq shows size, arrival time, sender and recipient in Postfix layout', async () => {
  const id = await submitDeferred(`To: ${me}@localhost\nSubject: hi\n\nbody\n`);
  firstId = id;
  // It went through incoming/: cleanup logged its message-id, qmgr took it from incoming.
  await inst.waitForLog(new RegExp(`qmgr\\[\\d+\\]: ${id}: from=<${me}@mail\\.example\\.test>, size=\\d+, nrcpt=1 \\(queue active\\)`));
  await inst.waitForLog(new RegExp(`pickup\\[\\d+\\]: ${id}: uid=${myUid} from=<${me}>`));
  const env = await envelope(id);
  assert.match(env.arrival, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d$/);
  const out = await mailq();
  // Postfix 3.7:
  // -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
  // 5FF17213F01     296 Tue Nov 24 23:32:36  root@mail.example.test
  //                                                           (deferred transport)
  //                                          user@localhost
  //
  // -- 0 Kbytes in 1 Request.
  const expected =
    HEADER +
    mailqEntry(id, '', env.size, env.arrival, `${me}@mail.example.test`, [{ addr: `${me}@localhost`, reason: 'deferred transport' }]) +
    footer(env.size, 1);
  assert.equal(out, expected);
  // Field by field, as an admin's script would cut them.
  const lines = out.split('\n');
  assert.equal(lines[1].slice(0, 11).trimEnd(), id);
  assert.equal(Number(lines[1].slice(12, 19)), env.size);
  assert.equal(lines[1].slice(20, 39), env.arrival);
  assert.equal(lines[1].slice(41), `${me}@mail.example.test`);
  assert.equal(lines[2], '                                                          (deferred transport)');
  assert.equal(lines[3], `                                         ${me}@localhost`);
  // mailq and sendmail -bp are the same listing.
  assert.equal((await inst.command('mailq', ['-C', inst.configDir])).stdout, expected);
  assert.equal((await inst.command('sendmail', ['-C', inst.configDir, '-bp'])).stdout, expected);
});

test('postcat -q ID prints envelope records, headers with the added Received/Message-Id/Date/From, and the body', async () => {
  assert.ok(firstId);
  const id = firstId;
  const r = await inst.command('postcat', ['-c', inst.configDir, '-q', id]);
  assert.equal(r.status, 0, r.stderr);
  const path = queuePath('deferred', id)!;
  const rel = path.slice(inst.queueDir.length + 1);
  const env = await envelope(id);
  const st = statSync(path);
  assert.equal(st.size > 0, true);
  const lines = r.stdout.split('\n');
  const idx = (re: RegExp) => lines.findIndex((l) => re.test(l));
  // Postfix 3.7 (sendmail -t -i, defer_transports = local):
  // *** ENVELOPE RECORDS deferred/5/5FF17213F01 ***
  // message_size:             296             195               1               0             296               0
  // message_arrival_time: Tue Nov 24 23:32:36 2026
  // create_time: Tue Nov 24 23:32:36 2026
  // named_attribute: rewrite_context=local
  // sender_fullname: root
  // sender: root@mail.example.test
  // *** MESSAGE CONTENTS deferred/5/5FF17213F01 ***
  // Received: by mail.example.test (Postfix, from userid 0)
  // 	id 5FF17213F01; Tue, 24 Nov 2026 23:32:36 +0000 (UTC)
  // To: user@localhost
  // Subject: hi
  // Message-Id: <20261124233236.5FF17213F01@mail.example.test>
  // Date: Tue, 24 Nov 2026 23:32:36 +0000 (UTC)
  // From: root <root@mail.example.test>
  //
  // body
  // *** HEADER EXTRACTED deferred/5/5FF17213F01 ***
  // named_attribute: dsn_orig_rcpt=rfc822;user@localhost
  // original_recipient: user@localhost
  // recipient: user@localhost
  // *** MESSAGE FILE END deferred/5/5FF17213F01 ***
  assert.equal(lines[0], `*** ENVELOPE RECORDS ${rel} ***`);
  assert.match(lines[1], new RegExp(`^message_size: {1,}${env.size} +\\d+ +1 +0 +${env.size} +0$`));
  assert.equal(lines[1], `message_size: ${[env.size, Number(lines[1].split(/ +/)[2]), 1, 0, env.size, 0].map((n) => String(n).padStart(15)).join(' ')}`);
  assert.match(lines[2], /^message_arrival_time: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  assert.match(lines[3], /^create_time: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  assert.equal(lines[4], 'named_attribute: rewrite_context=local');
  assert.match(lines[5], /^sender_fullname: /);
  assert.equal(lines[6], `sender: ${me}@mail.example.test`);
  assert.equal(lines[7], `*** MESSAGE CONTENTS ${rel} ***`);
  assert.equal(lines[8], `Received: by mail.example.test (Postfix, from userid ${myUid})`);
  assert.match(lines[9], new RegExp(`^\\tid ${id}; \\w{3}, [ \\d]?\\d \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d [+-]\\d{4} \\(\\w+\\)$`));
  assert.equal(lines[10], `To: ${me}@localhost`);
  assert.equal(lines[11], 'Subject: hi');
  assert.match(lines[12], new RegExp(`^Message-Id: <\\d{14}\\.${id}@mail\\.example\\.test>$`));
  assert.match(lines[13], /^Date: \w{3}, [ \d]?\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)$/);
  assert.match(lines[14], new RegExp(`^From: .*<${me}@mail\\.example\\.test>$`));
  assert.equal(lines[15], '');
  assert.equal(lines[16], 'body');
  assert.equal(lines[17], `*** HEADER EXTRACTED ${rel} ***`);
  assert.equal(lines[18], `named_attribute: dsn_orig_rcpt=rfc822;${me}@localhost`);
  assert.equal(lines[19], `original_recipient: ${me}@localhost`);
  assert.equal(lines[20], `recipient: ${me}@localhost`);
  assert.equal(lines[21], `*** MESSAGE FILE END ${rel} ***`);
  assert.equal(lines[22], '');
  assert.equal(lines.length, 23);
  assert.ok(idx(/^Received: /) > 0);
  // The logged message-id is the one in the header.
  const logged = await inst.waitForLog(new RegExp(`cleanup\\[\\d+\\]: ${id}: message-id=<`));
  assert.ok(logged.endsWith(`message-id=${lines[12].slice('Message-Id: '.length)}`));
});

test('hold, release, requeue and delete work on a queued message, and mailq reflects each', async () => {
  const id = await submitDeferred(`To: ${me}@localhost\nSubject: ops\n\nops body\n`);
  const ps = (args: string[], input?: string) => inst.command('postsuper', ['-c', inst.configDir, ...args], input);
  // one message's lines: its block between blank lines (the header line dropped)
  const entryOf = (out: string, which = id) => out.replace(/^-Queue ID-.*\n/, '').split('\n\n').find((e) => e.startsWith(which)) ?? '';
  const { arrival } = await envelope(id);

  let r = await ps(['-h', id]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `postsuper: ${id}: placed on hold\npostsuper: Placed on hold: 1 message\n`);
  assert.ok(queuePath('hold', id));
  let q = await mailq();
  assert.match(entryOf(q), new RegExp(`^${id}! +\\d+ `));
  await inst.waitForLog(new RegExp(`postsuper\\[\\d+\\]: ${id}: placed on hold`));

  r = await ps(['-H', id]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `postsuper: ${id}: released from hold\npostsuper: Released from hold: 1 message\n`);
  assert.ok(queuePath('deferred', id));
  q = await mailq();
  assert.match(entryOf(q), new RegExp(`^${id} +\\d+ `));
  await inst.waitForLog(new RegExp(`postsuper\\[\\d+\\]: ${id}: released from hold`));

  // requeue: reading the ID from stdin with "-"
  const active = inst.logLines(new RegExp(`qmgr\\[\\d+\\]: ${id}: from=`)).length;
  r = await ps(['-r', '-'], `${id}\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `postsuper: ${id}: requeued\npostsuper: Requeued: 1 message\n`);
  await inst.waitForLog(new RegExp(`postsuper\\[\\d+\\]: ${id}: requeued`));
  // As in Postfix, the file waits in maildrop/ for pickup (no kick from postsuper) and mailq lists it there.
  assert.ok(queuePath('maildrop', id), 'requeued into maildrop/');
  q = await mailq();
  assert.match(entryOf(q), new RegExp(`^${id} +\\d+ .*\\n(?: +\\(deferred transport\\)\\n)? {41}${me}@localhost$`));
  r = await inst.command('postkick', ['-c', inst.configDir, 'public', 'pickup', 'W']);
  assert.equal(r.status, 0, r.stderr);
  // Back through pickup and cleanup under a new queue ID, as Postfix 3.7 logs it:
  // pickup[16893]: 473D421201B: uid=102 from=<root@mail.example.test> orig_id=45212212012
  const picked = await inst.waitForLog(new RegExp(`pickup\\[\\d+\\]: [0-9A-F]+: uid=\\d+ from=<${me}@mail\\.example\\.test> orig_id=${id}$`));
  const newId = /: ([0-9A-F]+): uid=/.exec(picked)![1];
  assert.notEqual(newId, id);
  await inst.waitForLog(new RegExp(`${newId}: to=<${me}@localhost>, relay=none, .*status=deferred \\(deferred transport\\)`));
  await waitFor('requeued message deferred again', () => queuePath('deferred', newId));
  assert.equal(inst.logLines(new RegExp(`qmgr\\[\\d+\\]: ${id}: from=`)).length, active);
  q = await mailq();
  assert.equal(q.includes(id), false);
  const oldArrival = arrival;
  assert.match(entryOf(q, newId), new RegExp(`^${newId} +\\d+ ${oldArrival}  ${me}@mail\\.example\\.test\\n +\\(deferred transport\\)\\n {41}${me}@localhost$`));

  r = await ps(['-d', newId]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `postsuper: ${newId}: removed\npostsuper: Deleted: 1 message\n`);
  await inst.waitForLog(new RegExp(`postsuper\\[\\d+\\]: ${newId}: removed`));
  q = await mailq();
  assert.equal(entryOf(q, newId), '');
  assert.equal(queuePath('deferred', newId), undefined);
  // the first message is untouched
  assert.ok(queuePath('deferred', firstId));
});

test('bad input: malformed maildrop file, 100 000-byte header line, NUL byte, -t without recipient, over-size message', async (t) => {
  await t.test('a maildrop file not in record format is logged and removed; nothing enters the mail stream', async () => {
    const name = 'BADFILE1';
    const path = join(inst.queueDir, 'maildrop', name);
    writeFileSync(path, 'this is not a queue file\n', { mode: 0o700 });
    const owner = getpwnam(inst.accounts.mailOwner);
    if (owner && myUid === 0) chownSync(path, owner.uid, owner.gid);
    const uid = myUid === 0 && owner ? owner.uid : myUid;
    const r = await inst.command('postkick', ['-c', inst.configDir, 'public', 'pickup', 'W']);
    assert.equal(r.status, 0, r.stderr);
    // Postfix 3.7:
    // pickup[16893]: warning: maildrop/BADFILE1: unexpected EOF in data, record type 116 length 104
    // pickup[16893]: warning: uid=102: unexpected or malformed record type -2
    await inst.waitForLog(/pickup\[\d+\]: warning: maildrop\/BADFILE1: unexpected EOF in data, record type 116 length 104$/);
    await inst.waitForLog(new RegExp(`pickup\\[\\d+\\]: warning: uid=${uid}: unexpected or malformed record type -2$`));
    await waitFor('malformed file removed', () => (existsSync(path) ? undefined : true));
    // pickup had opened a cleanup stream before it met the bad record; cleanup drops that unfinished
    // incoming/ file when pickup aborts the stream, a moment after pickup's warnings.
    await waitFor('aborted cleanup file removed', () => (queueFiles('incoming').length === 0 ? true : undefined), 5000);
    assert.deepEqual(queueFiles('active'), []);
  });

  await t.test('a 100 000-byte header line and a NUL byte in the body are kept as Postfix keeps them', async () => {
    const long = 'a'.repeat(100000);
    const id = await submitDeferred(`Subject: nul\nX-Long: ${long}\n\nbo\0dy\n`, ['-i', `${me}@localhost`]);
    const env = await envelope(id);
    const lines = env.text.split('\n');
    assert.ok(lines.includes(`X-Long: ${long}`), 'the long header comes back whole');
    assert.ok(lines.includes('bo\0dy'), 'the NUL byte is kept in the body');
    const q = await mailq();
    assert.match(q, new RegExp(`^${id} +${env.size} `, 'm'));
  });

  await t.test('-t with no recipient in the headers: Postfix error, exit 75, nothing queued', async () => {
    const dropped = queueFiles('maildrop').length;
    const r = await inst.command('sendmail', ['-C', inst.configDir, '-t', '-i'], 'Subject: none\n\nbody\n');
    // Postfix 3.7: "sendmail: fatal: root(0): No recipient addresses found in message header", exit 75
    assert.equal(r.status, 75);
    assert.equal(r.stderr, `sendmail: fatal: ${me}(${myUid}): No recipient addresses found in message header\n`);
    assert.equal(queueFiles('maildrop').length, dropped);
    await inst.waitForLog(new RegExp(`sendmail\\[\\d+\\]: fatal: ${me}\\(${myUid}\\): No recipient addresses found in message header$`));
  });

  await t.test('an over-size message (message_size_limit = 2000) is refused with Postfix errors, exit 75', async () => {
    inst.setMain({ message_size_limit: '2000' });
    try {
      const body = ('x'.repeat(70) + '\n').repeat(72);
      const r = await inst.command('sendmail', ['-C', inst.configDir, '-i', `${me}@localhost`], `Subject: big\n\n${body}`);
      // Postfix 3.7:
      // postdrop: warning: uid=0: File too large
      // sendmail: warning: mail_stream_cleanup: close error
      // sendmail: fatal: root(0): message file too big
      assert.equal(r.status, 75);
      assert.equal(
        r.stderr,
        `postdrop: warning: uid=${myUid}: File too large\nsendmail: warning: mail_stream_cleanup: close error\nsendmail: fatal: ${me}(${myUid}): message file too big\n`,
      );
      assert.deepEqual(queueFiles('maildrop'), []);
    } finally {
      inst.setMain({ message_size_limit: '10240000' });
    }
  });

  // no other message was affected
  assert.ok(queuePath('deferred', firstId));
});

/** smtp - a minimal line-based SMTP client over a real socket. */
class Smtp {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('error', () => undefined);
  }
  static open(port: number): Promise<Smtp> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Smtp(s)));
      s.once('error', reject);
    });
  }
  /** reply - the next complete (possibly multi-line) reply. */
  async reply(): Promise<string> {
    for (;;) {
      const m = /^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) throw new Error(`connection closed; pending: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  async cmd(line: string): Promise<string> {
    this.sock.write(line + '\r\n');
    return this.reply();
  }
}

/** cleanupWithIncomingFile - the pid of this instance's cleanup process that holds a file in incoming/ open. */
function cleanupWithIncomingFile(): { pid: number; file: string } | undefined {
  const incoming = join(inst.queueDir, 'incoming') + '/';
  for (const pid of inst.processes()) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    if (!/(^|\0|\/)cleanup(\0|$)/.test(cmd)) continue;
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith(incoming)) return { pid, file: target };
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

test('crash safety: kill -9 of cleanup mid-message gives the client a temporary failure; the partial file is never queued and postsuper -p removes it', async () => {
  const c = await Smtp.open(inst.smtpPort);
  try {
    assert.match(await c.reply(), /^220 /);
    assert.match(await c.cmd('EHLO client.example.test'), /^250/);
    assert.match(await c.cmd(`MAIL FROM:<crash@example.org>`), /^250 2\.1\.0 Ok$/);
    assert.match(await c.cmd(`RCPT TO:<${me}@localhost>`), /^250 2\.1\.5 Ok$/);
    assert.match(await c.cmd('DATA'), /^354 /);
    c.sock.write('Subject: crash\r\n\r\n' + 'partial line of the body\r\n'.repeat(200));
    // the cleanup process serving this session has its queue file in incoming/ open
    const victim = await waitFor('cleanup with an incoming file', () => cleanupWithIncomingFile());
    const partialId = victim.file.slice(victim.file.lastIndexOf('/') + 1);
    process.kill(victim.pid, 'SIGKILL');
    await waitFor('cleanup gone', () => (existsSync(`/proc/${victim.pid}`) ? undefined : true));
    c.sock.write('the rest\r\n.\r\n');
    const reply = await c.reply();
    // Postfix 3.7 answers exactly this (a temporary failure, never a success)
    assert.equal(reply, '451 4.3.0 Error: queue file write error');
    await c.cmd('QUIT').catch(() => '');

    // The partial file is not marked complete, so qmgr never takes it.
    // Postfix leaves it there with mode 0600 (cleanup sets the owner-x bit only when complete)
    const partial = queuePath('incoming', partialId);
    assert.ok(partial, 'the half-written file is left in incoming/');
    assert.equal(statSync(partial).mode & 0o700, 0o600, 'the half-written file is not marked ready');
    // Prove qmgr scanned incoming/ after the crash: a later message goes through, the partial one does not.
    const later = await submitDeferred(`To: ${me}@localhost\nSubject: after crash\n\nstill fine\n`);
    assert.notEqual(later, partialId);
    assert.deepEqual(inst.logLines(new RegExp(`qmgr\\[\\d+\\]: ${partialId}: `)), []);
    assert.ok(!(await mailq()).includes(partialId), 'mailq does not list the incomplete file');
    assert.ok(queuePath('deferred', firstId), 'other messages are not affected');

    // postsuper -p removes left-over temporary files once they are old (Postfix: 7 days).
    {
      const old = Date.now() / 1000 - 8 * 24 * 3600;
      utimesSync(partial, old, old);
      const r = await inst.command('postsuper', ['-c', inst.configDir, '-p']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(partial), false, 'postsuper -p removed the half-written file');
    }
    assert.deepEqual(queueFiles('incoming'), []);
  } finally {
    c.sock.destroy();
  }
});

test('once the hold on delivery is lifted the first message is delivered and leaves the queue', async () => {
  inst.setMain({ defer_transports: '' });
  const r = await inst.postfix('reload');
  assert.equal(r.status, 0, r.stderr);
  // The master's "reload -- version ..." line is not waited for (see the report: seen missing once under load);
  // flush until qmgr, restarted with the new main.cf, delivers.
  const sent = new RegExp(`${firstId}: to=<${me}@localhost>, relay=local, .*status=sent \\(delivered to mailbox\\)`);
  await waitFor('delivery after reload', async () => {
    if (inst.logLines(sent).length > 0) return true;
    const f = await inst.command('postqueue', ['-c', inst.configDir, '-f']);
    assert.equal(f.status, 0, f.stderr);
    await sleep(1000);
    return inst.logLines(sent).length > 0 ? true : undefined;
  }, 30000);
  await inst.waitForLog(new RegExp(`${firstId}: removed`));
  const mbox = readFileSync(join(inst.mailDir, me), 'utf8');
  assert.match(mbox, /\nSubject: hi\n[\s\S]*\n\nbody\n/);
  let last = '';
  await waitFor('empty queue', async () => ((last = await mailq()) === 'Mail queue is empty\n' ? true : undefined)).catch((e: Error) => {
    throw new Error(`${e.message}\n--- mailq:\n${last}`);
  });
  const stopped = await inst.stop();
  assert.equal(stopped?.status, 0);
  assert.deepEqual(await inst.waitNoProcesses(), []);
});

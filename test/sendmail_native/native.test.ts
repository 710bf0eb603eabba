/**
 * sendmail_native - the native submission path (src/sendmail/sendmail_fast.c)
 * writes byte for byte the maildrop file of the Node implementation
 * (src/sendmail/sendmail.ts), with the same diagnostics and exit status, and
 * hands everything else to Node untouched.
 *
 * Each case runs bin/sendmail twice on the same input: as shipped (the
 * native path; POSTFIX_TS_SENDMAIL_TRACE=1 makes a hand-over to Node visible
 * on stderr, so a case that silently fell back would fail), and with
 * POSTFIX_TS_SENDMAIL_NODE=1 (the Node path). The queue files must be equal
 * after the leading time record (the only record that varies).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { makeInstance as makeSubmissionInstance, ROOT, type Instance } from '../submission/helpers.js';

const SENDMAIL = join(ROOT, 'bin', 'sendmail');
const NATIVE = join(ROOT, 'dist', 'src', 'sendmail', 'sendmail_fast');
const TRACE = 'sendmail_fast: trace: running the Node implementation\n';

/** hasCompiler - is there a C compiler (then the build must have made the binary)? */
function hasCompiler(): boolean {
  const r = spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

const skip = hasCompiler() ? false : 'no C compiler on this machine: the native sendmail path is not built (bin/sendmail runs on Node)';
if (skip) process.stdout.write(`# sendmail_native: skipped: ${skip}\n`);

interface Inst extends Instance {
  kicks: number;
  server: Server;
  close(): Promise<void>;
}

/** makeInstance - main.cf + queue directory (as the submission tests), with a listening public/pickup that counts "W" kicks. */
async function makeInstance(extra = ''): Promise<Inst> {
  const base = makeSubmissionInstance(extra);
  const inst = { ...base, kicks: 0 } as Inst;
  const spool = base.spool;
  inst.server = createServer((sock) => {
    sock.on('data', (d) => {
      if (d.toString() === 'W') inst.kicks++;
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((res) => inst.server.listen(join(spool, 'public', 'pickup'), res));
  chmodSync(join(spool, 'public', 'pickup'), 0o666);
  inst.close = async () => {
    await new Promise<void>((res) => inst.server.close(() => res()));
    base.cleanup();
  };
  return inst;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** run - bin/sendmail (executed, not through node) with input; resolves when it exits. */
function run(args: string[], input: string | Buffer, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((res) => {
    const child = spawn(SENDMAIL, args, { env: { ...process.env, MAIL_CONFIG: '', MAIL_VERBOSE: '', NAME: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.on('close', (status) => res({ status, stdout, stderr }));
  });
}

/** takeFile - the one maildrop file (hashed subdirectories searched; removed afterwards), or undefined. */
function takeFile(inst: Inst): { bytes: Buffer; mode: number } | undefined {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else found.push(join(d, e.name));
    }
  };
  walk(inst.maildrop);
  assert.ok(found.length <= 1, `more than one maildrop file: ${found.join(' ')}`);
  if (found.length === 0) return undefined;
  assert.match(found[0].slice(found[0].lastIndexOf('/') + 1), /^[0-9A-Za-z]{6,}$/);
  const out = { bytes: readFileSync(found[0]), mode: statSync(found[0]).mode & 0o7777 };
  unlinkSync(found[0]);
  return out;
}

/** withoutTime - the bytes after the leading T record. */
function withoutTime(buf: Buffer): Buffer {
  assert.equal(buf[0], 0x54, 'the file starts with a T record');
  return buf.subarray(2 + buf[1]);
}

/** both - the native and the Node run of one case; asserts they agree, returns the native one. */
async function both(inst: Inst, args: string[], input: string | Buffer, opts: { native?: boolean } = {}): Promise<{ run: Run; file?: Buffer }> {
  const expectNative = opts.native ?? true;
  const kicks0 = inst.kicks;
  const nat = await run(['-C', inst.etc, ...args], input, { POSTFIX_TS_SENDMAIL_TRACE: '1' });
  const natFile = takeFile(inst);
  const node = await run(['-C', inst.etc, ...args], input, { POSTFIX_TS_SENDMAIL_NODE: '1' });
  const nodeFile = takeFile(inst);
  if (expectNative) assert.ok(!nat.stderr.includes(TRACE), `the native path handed over to Node: ${nat.stderr}`);
  else assert.ok(nat.stderr.startsWith(TRACE), `expected a hand-over to Node, got: ${nat.stderr}`);
  assert.equal(nat.status, node.status, `exit status (native stderr: ${nat.stderr}; node stderr: ${node.stderr})`);
  assert.equal(nat.stdout, node.stdout);
  assert.equal(nat.stderr.replace(TRACE, ''), node.stderr);
  assert.equal(natFile === undefined, nodeFile === undefined, 'a queue file from one path only');
  if (natFile && nodeFile) {
    assert.equal(natFile.mode, 0o744);
    assert.equal(nodeFile.mode, 0o744);
    assert.deepEqual(withoutTime(natFile.bytes), withoutTime(nodeFile.bytes));
  }
  if (nat.status === 0 && expectNative && !nat.stderr.includes('unable to look up public/pickup')) assert.equal(inst.kicks - kicks0 >= 1, true, 'pickup was kicked');
  return { run: nat, file: natFile ? withoutTime(natFile.bytes) : undefined };
}

const SIMPLE = 'From: alice@example.test\nTo: bob@example.test\nSubject: hello\n\nfirst line\nsecond line\n';

test('native sendmail: the same maildrop files as the Node path', { skip }, async () => {
  assert.ok(existsSync(NATIVE), `the build made ${NATIVE}`);
  const inst = await makeInstance();
  try {
    const long = 'x'.repeat(5000);
    const cases: Array<[string, string[], string | Buffer]> = [
      ['-t -i', ['-t', '-i'], SIMPLE],
      ['-ti clustered, -F, -f with a phrase', ['-ti', '-F', 'Alice Example', '-f', 'Alice <alice@example.test>'], SIMPLE],
      ['-oi, -r, recipients on the command line', ['-oi', '-r', 'a@example.test', '--', 'bob@example.test', 'Carol <carol@example.test>, dave'], SIMPLE],
      ['-f "" (the null sender), -G, -B 8BITMIME, -bm, -om', ['-f', '', '-G', '-B', '8BITMIME', '-bm', '-om', 'u@example.test'], SIMPLE],
      ['a lone dot ends the message without -i', ['u@example.test'], 'Subject: dots\n\nbefore\n..\n.\nafter\n'],
      ['dots are data with -i', ['-i', 'u@example.test'], 'Subject: dots\n\nbefore\n..\n.\nafter\n.\n'],
      ['-t: folded headers, "Name :", Cc/Bcc, comments, quotes, groups', ['-t', '-i'],
        'To: "Bob Q." <bob@example.test> (comment),\n  carol@example.test\nCc : undisclosed-recipients:;\nBcc: dave@[192.0.2.1], "odd \\"x\\""@example.test\n' +
        'X-Other: to@example.test\nSubject: s\n\nbody\n'],
      ['-t: Resent- headers take over', ['-t'], 'To: a@example.test\nResent-To: b@example.test\nResent-Cc: c@example.test\nCc: d@example.test\n\nbody\n'],
      ['-t: a header without the empty line', ['-t'], 'To: a@example.test\nbody without a separator\nmore\n'],
      ['-t: headers up to the end of the input', ['-t'], 'To: a@example.test\nSubject: no body'],
      ['long lines in headers and body', ['-t'], `To: a@example.test\nX-Long: ${long}\nX-Fold: a\n ${long}\n\n${long}\n${long}`],
      ['8-bit bytes', ['-t', '-i'], Buffer.from('To: a@example.test\nSubject: caf\xe9 \xff\n\nna\xefve \x80\x81\n', 'latin1')],
      ['no final newline', ['-i', 'u@example.test'], 'Subject: x\n\nno newline at the end'],
      ['empty input', ['u@example.test'], ''],
      ['empty body', ['-t'], 'To: a@example.test\n\n'],
      ['CRLF input and leading "From " lines', ['-t', '-i'], 'From someone Mon Jan  1 00:00:00 2024\r\n>From x\r\nTo: a@example.test\r\nSubject: crlf\r\n\r\nline\r\n\r\n'],
      ['NUL bytes and a line of exactly line_length_limit', ['u@example.test'], `a\0b\n${'y'.repeat(2048)}\n${'z'.repeat(2047)}\n`],
      ['many recipients', Array.from({ length: 300 }, (_, i) => `user${i}@example.test`), SIMPLE],
      ['an argument without an address', ['-i', '(just a comment)', 'u@example.test'], SIMPLE],
    ];
    for (const [name, args, input] of cases) {
      try {
        const r = await both(inst, args, input);
        assert.equal(r.run.status, 0, r.run.stderr);
        assert.ok(r.file, 'a queue file');
      } catch (e) {
        (e as Error).message = `case "${name}": ${(e as Error).message}`;
        throw e;
      }
    }
  } finally {
    await inst.close();
  }
});

test('native sendmail: the configuration decides (size limit, line length, sendmail_fix_line_endings)', { skip }, async () => {
  const inst = await makeInstance('line_length_limit = 100\nheader_size_limit = 4000\nsendmail_fix_line_endings = strict\nenable_long_queue_ids = yes\n');
  try {
    const r = await both(inst, ['-t'], `To: a@example.test\nX: ${'h'.repeat(250)}\n\n${'b'.repeat(333)}\r\nnext\r\n`);
    assert.equal(r.run.status, 0, r.run.stderr);
  } finally {
    await inst.close();
  }
  const big = await makeInstance('message_size_limit = 1000\n');
  try {
    // too big: the same three lines on stderr, exit 75, nothing left behind
    const r = await both(big, ['u@example.test'], 'Subject: big\n\n' + 'z'.repeat(3000) + '\n');
    assert.equal(r.run.status, 75);
    assert.match(r.run.stderr, /^postdrop: warning: uid=\d+: File too large\nsendmail: warning: mail_stream_cleanup: close error\nsendmail: fatal: .*\(\d+\): /);
    assert.equal(r.file, undefined);
  } finally {
    await big.close();
  }
});

test('native sendmail: no pickup service: the same warning, the mail stays in maildrop', { skip }, async () => {
  const inst = await makeInstance();
  try {
    await new Promise<void>((res) => inst.server.close(() => res()));
    inst.server = createServer();
    const r = await both(inst, ['-t'], SIMPLE);
    assert.equal(r.run.status, 0);
    assert.equal(r.run.stderr, 'postdrop: warning: unable to look up public/pickup: No such file or directory\n');
    // the server must be listening for close(): give it a socket again
    await new Promise<void>((res) => inst.server.listen(join(inst.spool, 'public', 'pickup2'), res));
  } finally {
    await inst.close();
  }
});

test('native sendmail: what it does not do goes to Node, stdin untouched', { skip }, async () => {
  const inst = await makeInstance();
  try {
    // options outside the fast path
    for (const args of [['-v', 'u@example.test'], ['-N', 'success', 'u@example.test'], ['-V', 'envid', 'u@example.test'], ['-XV', 'u@example.test'], ['-h', '5', 'u@example.test'], ['-R', 'hdrs', 'u@example.test'], ['-bv', 'u@example.test']]) {
      const r = await both(inst, args, SIMPLE, { native: false });
      assert.equal(r.run.status, 0, `${args.join(' ')}: ${r.run.stderr}`);
    }
    // no recipients at all: Node reads the input and says so
    const none = await both(inst, [], SIMPLE, { native: false });
    assert.equal(none.run.status, 75);
    // -t without recipients in the headers: the input read so far is replayed to Node
    const noRcpt = await both(inst, ['-t'], 'Subject: nobody\n\nbody\n', { native: false });
    assert.equal(noRcpt.run.status, 75);
    assert.match(noRcpt.run.stderr, /No recipient addresses found in message header\n$/);
    assert.equal(noRcpt.file, undefined);
    // -t with a header longer than header_size_limit (replayed, also with a body after it)
    const huge = await both(inst, ['-t'], `To: a@example.test\nX-Big: ${'q'.repeat(50000)}\n${' w'.repeat(40000)}\n\nbody\n`, { native: false });
    assert.equal(huge.run.status, 75);
    assert.match(huge.run.stderr, /message header length exceeds safety limit\n$/);
    const limit = await makeInstance('header_size_limit = 1000\n');
    try {
      const r = await both(limit, ['-t'], `To: a@example.test\nX-Big: ${'q'.repeat(900)}\n ${'w'.repeat(900)}\n\n${'body\n'.repeat(20000)}`, { native: false });
      assert.equal(r.run.status, 75);
      assert.match(r.run.stderr, /message header length exceeds safety limit\n$/);
    } finally {
      await limit.close();
    }
    // more than 8 MiB of headers: the native path stops recording and replays all of it to Node
    const many = await makeInstance('message_size_limit = 0\n');
    try {
      const headers = Array.from({ length: 90000 }, (_, i) => `X-H${i}: ${'v'.repeat(90)}\n`).join('');
      const r = await both(many, ['-t'], `To: a@example.test\n${headers}\nbody\n`, { native: false });
      assert.equal(r.run.status, 0, r.run.stderr);
      assert.ok(r.file && r.file.length > 8 * 1024 * 1024);
    } finally {
      await many.close();
    }
    // a malformed -f sender (Node warns)
    const bad = await both(inst, ['-f', 'a@example.test, b@example.test', 'u@example.test'], SIMPLE, { native: false });
    assert.equal(bad.run.status, 0);
    assert.match(bad.run.stderr, /malformed sender/);
  } finally {
    await inst.close();
  }
});

test('native sendmail: main.cf values it cannot read literally go to Node', { skip }, async () => {
  for (const extra of [
    'message_size_limit = ${x}\nx = 5000000\n',
    'authorized_submit_users = root, !nobody, static:anyone\n',
    'local_login_sender_maps = inline:{ root=* }\n',
    'hash_queue_names = $x\nx = maildrop\n',
    'line_length_limit = 2048\nline_length_limit = 4096\n',
    'sendmail_fix_line_endings = sometimes\n',
    'maillog_file = /tmp/elsewhere.log\nmaillog_file_prefixes = /var\n',
  ]) {
    const inst = await makeInstance(extra);
    try {
      await both(inst, ['-i', 'u@example.test'], SIMPLE, { native: false });
    } catch (e) {
      (e as Error).message = `main.cf with ${JSON.stringify(extra)}: ${(e as Error).message}`;
      throw e;
    } finally {
      await inst.close();
    }
  }
  // a hashed maildrop is done natively
  const hashed = await makeInstance('hash_queue_names = maildrop, deferred\nhash_queue_depth = 2\n');
  try {
    const r = await run(['-C', hashed.etc, '-i', 'u@example.test'], SIMPLE, { POSTFIX_TS_SENDMAIL_TRACE: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const found: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else found.push(join(d, e.name).slice(hashed.maildrop.length + 1));
      }
    };
    walk(hashed.maildrop);
    assert.equal(found.length, 1);
    assert.match(found[0], /^([0-9A-F])\/([0-9A-F])\/\1\2[0-9A-F]{4,}$/);
  } finally {
    await hashed.close();
  }
});

test('native sendmail: -bp, mailq and newaliases still work (through Node)', { skip }, async () => {
  const inst = await makeInstance('alias_database =\n');
  try {
    const env = { POSTFIX_TS_SENDMAIL_TRACE: '1' };
    const bp = await run(['-C', inst.etc, '-bp'], '', env);
    const mailq = await new Promise<Run>((res) => {
      const child = spawn(join(ROOT, 'bin', 'mailq'), ['-C', inst.etc], { env: { ...process.env, MAIL_CONFIG: '', ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.stdin.end();
      child.on('close', (status) => res({ status, stdout, stderr }));
    });
    assert.ok(bp.stderr.startsWith(TRACE), bp.stderr);
    assert.ok(mailq.stderr.startsWith(TRACE), mailq.stderr);
    assert.equal(bp.status, mailq.status);
    assert.equal(bp.stdout, mailq.stdout);
    assert.equal(bp.stderr, mailq.stderr.replace(/^mailq:/gm, 'sendmail:'));
    // postqueue -p ran: its "mail system is down" or a queue listing, not a sendmail error
    assert.match(bp.stdout + bp.stderr, /postqueue|Mail queue is empty|mail system is down/);
    const na = spawnSync(join(ROOT, 'bin', 'newaliases'), ['-C', inst.etc], { env: { ...process.env, MAIL_CONFIG: '', ...env }, encoding: 'utf8' });
    assert.equal(na.status, 0, na.stderr);
    assert.equal(na.stderr, TRACE);
  } finally {
    await inst.close();
  }
});

test('native sendmail: an interrupted submission removes its queue file', { skip }, async () => {
  const inst = await makeInstance();
  try {
    const child = spawn(SENDMAIL, ['-C', inst.etc, '-t'], { env: { ...process.env, MAIL_CONFIG: '', POSTFIX_TS_SENDMAIL_TRACE: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdin.write('To: a@example.test\n\npart of a body\n');
    const end = Date.now() + 20000;
    while (readdirSync(inst.maildrop).length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readdirSync(inst.maildrop).length, 1, 'the queue file exists while the input is open');
    const closed = new Promise<NodeJS.Signals | null>((res) => child.on('close', (_code, sig) => res(sig)));
    child.kill('SIGTERM');
    assert.equal(await closed, 'SIGTERM');
    assert.deepEqual(readdirSync(inst.maildrop), []);
    assert.equal(stderr, '');
  } finally {
    await inst.close();
  }
});

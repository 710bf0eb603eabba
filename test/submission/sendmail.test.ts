/**
 * sendmail and postdrop: the maildrop file bytes (golden files captured from
 * Postfix 3.7's own sendmail/postdrop), diagnostics and exit codes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { makeInstance, run, maildropFiles, withoutTime, golden, GOLDEN, ROOT } from './helpers.js';
import { spawn } from 'node:child_process';
import { encodeRecord } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';

const input = readFileSync(join(GOLDEN, 'input-t.txt'));

test('sendmail -t writes the same maildrop records as Postfix', () => {
  const inst = makeInstance();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-F', 'Test User', '-f', 'alice@example.test', '-t'], input);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^postdrop: warning: unable to look up public\/pickup: No such file or directory\n$/);
    const files = maildropFiles(inst);
    assert.equal(files.length, 1);
    assert.match(files[0], /^[0-9A-F]{6,}$/);
    const path = join(inst.maildrop, files[0]);
    assert.equal(statSync(path).mode & 0o777, 0o744);
    assert.deepEqual(withoutTime(readFileSync(path)), golden('maildrop-t.bin'));
  } finally {
    inst.cleanup();
  }
});

test('sendmail -t: a header without the empty line, "Name :", an unterminated last line (as Postfix)', () => {
  const inst = makeInstance();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-F', 'Test User', '-f', 'alice@example.test', '-t'], readFileSync(join(GOLDEN, 'input-t2.txt')));
    assert.equal(r.status, 0, r.stderr);
    const [f] = maildropFiles(inst);
    assert.deepEqual(withoutTime(readFileSync(join(inst.maildrop, f))), golden('maildrop-t2.bin'));
  } finally {
    inst.cleanup();
  }
});

test('sendmail with command-line recipients, -i, -N, -V, -B', () => {
  const inst = makeInstance();
  try {
    const r = run(
      'sendmail',
      ['-C', inst.etc, '-F', 'Test User', '-f', 'alice@example.test', '-i', '-N', 'success,delay', '-V', 'env-1', '-B', '8BITMIME', 'Bob <bob@example.test>, carol@example.test', ''],
      input,
    );
    assert.equal(r.status, 0, r.stderr);
    const [f] = maildropFiles(inst);
    assert.deepEqual(withoutTime(readFileSync(join(inst.maildrop, f))), golden('maildrop-args.bin'));
  } finally {
    inst.cleanup();
  }
});

test('sendmail splits long lines and keeps an unterminated last line', () => {
  const inst = makeInstance();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-F', 'Test User', '-f', 'alice@example.test', 'u@example.test'], readFileSync(join(GOLDEN, 'input-long.txt')));
    assert.equal(r.status, 0, r.stderr);
    const [f] = maildropFiles(inst);
    assert.deepEqual(withoutTime(readFileSync(join(inst.maildrop, f))), golden('maildrop-long.bin'));
  } finally {
    inst.cleanup();
  }
});

test('sendmail -bv writes a probe with trace flags and tells the user', () => {
  const inst = makeInstance();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-F', 'T', '-f', 'a@example.test', '-bv', 'u@example.test', 'v@example.test']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Mail Delivery Status Report will be mailed to <a@example.test>.\n');
    const [f] = maildropFiles(inst);
    const text = readFileSync(join(inst.maildrop, f)).toString('latin1');
    assert.ok(text.includes('trace_flags=512'));
    assert.ok(text.includes('From: a@example.test'));
    assert.ok(text.includes('Subject: probe'));
    assert.ok(text.includes('L\x03To:N\x10\tu@example.test,N\x0f\tv@example.test'));
  } finally {
    inst.cleanup();
  }
});

test('sendmail errors: texts, exit status 75, no file left behind', () => {
  const inst = makeInstance();
  try {
    const cases: Array<[string[], string, RegExp]> = [
      [[], 'x\n', /^sendmail: fatal: \S+\(\d+\): Recipient addresses must be specified on the command line or via the -t option\n$/],
      [['-t'], 'Subject: x\n\nbody\n', /^sendmail: fatal: \S+\(\d+\): No recipient addresses found in message header\n$/],
      [['-z'], '', /^sendmail: invalid option -- 'z'\nsendmail: invalid option -- 'z'\nsendmail: fatal: usage: sendmail \[options\]\n$/],
      [['-f'], '', /^sendmail: option requires an argument -- 'f'\nsendmail: option requires an argument -- 'f'\nsendmail: fatal: usage: sendmail \[options\]\n$/],
      [['-Bfoo', 'u@x'], '', /^sendmail: fatal: -B option needs 8BITMIME or 7BIT\n$/],
      [['-qX'], '', /^sendmail: fatal: -qX is not implemented\n$/],
      [['-n'], '', /^sendmail: fatal: -n option not supported\n$/],
      [['-t', '-bp'], '', /^sendmail: fatal: -t can be used only in delivery mode\n$/],
      [['-XV', '-f', '<>', 'u@x'], 'x\n', /^sendmail: fatal: \(\d+\): -V option requires non-null sender address\n$/],
      [['-XVab', 'u@x'], '', /^sendmail: fatal: -V requires two characters from -=\+\n$/],
      [['-bv', '-t', 'u@x'], '', /^sendmail: fatal: -t option cannot be used with -bv\n$/],
    ];
    for (const [args, stdin, expect] of cases) {
      const r = run('sendmail', ['-C', inst.etc, ...args], stdin);
      assert.equal(r.status, 75, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, expect, args.join(' '));
      assert.deepEqual(maildropFiles(inst), [], `${args.join(' ')} left a file`);
    }
    // -q<time> is accepted and ignored
    assert.equal(run('sendmail', ['-C', inst.etc, '-q30m']).status, 0);
  } finally {
    inst.cleanup();
  }
});

test('sendmail: local_login_sender_maps and authorized_submit_users are enforced', () => {
  const inst = makeInstance('local_login_sender_maps = static:bob@example.test\n');
  try {
    let r = run('sendmail', ['-C', inst.etc, '-f', 'alice@example.test', 'u@x'], 'x\n');
    assert.equal(r.status, 75);
    assert.match(r.stderr, /fatal: alice@example\.test\(\d+\): not authorized to use sender='alice@example\.test'\n$/);
    assert.deepEqual(maildropFiles(inst), []);
    r = run('sendmail', ['-C', inst.etc, '-f', 'bob@example.test', 'u@x'], 'x\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(maildropFiles(inst).length, 1);
  } finally {
    inst.cleanup();
  }
  const inst2 = makeInstance('authorized_submit_users = !nobody-at-all, nobody-at-all\n');
  try {
    const r = run('sendmail', ['-C', inst2.etc, 'u@x'], 'x\n');
    assert.equal(r.status, 75);
    assert.match(r.stderr, /fatal: User \S+\(\d+\) is not allowed to submit mail\n$/);
    assert.deepEqual(maildropFiles(inst2), []);
  } finally {
    inst2.cleanup();
  }
});

test('sendmail: message_size_limit refuses the message and leaves nothing behind', () => {
  const inst = makeInstance('message_size_limit = 1000\n');
  try {
    const r = run('sendmail', ['-C', inst.etc, '-f', 'a@example.test', 'u@example.test'], 'x'.repeat(300000) + '\n');
    assert.equal(r.status, 75);
    assert.equal(r.stderr, 'postdrop: warning: uid=' + process.getuid!() + ': File too large\nsendmail: warning: mail_stream_cleanup: close error\nsendmail: fatal: a@example.test(' + process.getuid!() + '): message file too big\n');
    assert.deepEqual(maildropFiles(inst), []);
  } finally {
    inst.cleanup();
  }
});

test('sendmail -bs runs smtpd -S, which submits through maildrop', () => {
  const inst = makeInstance('compatibility_level = 3.6\n');
  try {
    const r = run('sendmail', ['-C', inst.etc, '-bs'], 'HELO client\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^220 mail\.example\.test ESMTP Postfix\r\n/);
    const m = /250 2\.0\.0 Ok: queued as ([0-9A-F]+)\r\n221 2\.0\.0 Bye\r\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.deepEqual(maildropFiles(inst), [m[1]]);
    const text = readFileSync(join(inst.maildrop, m[1])).toString('latin1');
    assert.ok(text.includes('S\x0ea@example.test'));
    assert.ok(text.includes('R\x0eb@example.test'));
  } finally {
    inst.cleanup();
  }
});

test('sendmail: ACL and login-sender tables (inline:) are consulted', () => {
  const me = userInfo().username;
  const inst = makeInstance(`local_login_sender_maps = inline:{${me}=@example.test}\n`);
  try {
    let r = run('sendmail', ['-C', inst.etc, '-f', 'a@example.test', 'u@x'], 'x\n');
    assert.equal(r.status, 0, r.stderr);
    r = run('sendmail', ['-C', inst.etc, '-f', 'a@other.test', 'u@x'], 'x\n');
    assert.equal(r.status, 75);
    assert.match(r.stderr, /fatal: a@other\.test\(\d+\): not authorized to use sender='a@other\.test'\n$/);
    assert.equal(maildropFiles(inst).length, 1);
  } finally {
    inst.cleanup();
  }
  const inst2 = makeInstance(`authorized_submit_users = !${me}, static:anyone\n`);
  try {
    const r = run('sendmail', ['-C', inst2.etc, 'u@x'], 'x\n');
    assert.equal(r.status, 75);
    assert.equal(r.stderr, `sendmail: fatal: User ${me}(${process.getuid!()}) is not allowed to submit mail\n`);
  } finally {
    inst2.cleanup();
  }
});

test('sendmail: an envelope record longer than line_length_limit is refused like postdrop does', () => {
  const inst = makeInstance();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-f', 'a@example.test', 'x'.repeat(3000) + '@example.test'], 'hi\n');
    assert.equal(r.status, 75);
    assert.match(r.stderr, /^postdrop: warning: stdin: illegal length 3013, record type 82\npostdrop: fatal: uid=\d+: malformed input\nsendmail: fatal: a@example\.test\(\d+\): queue file write error\n$/);
    assert.deepEqual(maildropFiles(inst), []);
  } finally {
    inst.cleanup();
  }
});

/** interrupted - start a submission, wait for its maildrop file, SIGTERM it: it dies by the signal and leaves nothing. */
async function interrupted(program: string, args: (etc: string) => string[], input: string | Buffer, env?: NodeJS.ProcessEnv): Promise<void> {
  const inst = makeInstance();
  try {
    const child = spawn(join(ROOT, 'bin', program), args(inst.etc), { env: { ...process.env, ...env } });
    child.stdin.write(input);
    for (let i = 0; i < 2400 && !maildropFiles(inst).some((f) => /^[0-9A-F]+$/.test(f)); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(maildropFiles(inst).length, 1, 'the file exists while the message is being written');
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, sig) => r(sig)));
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM');
    assert.deepEqual(maildropFiles(inst), []);
  } finally {
    inst.cleanup();
  }
}

test('sendmail: an interrupted submission removes its queue file', () =>
  interrupted('sendmail', (etc) => ['-C', etc, 'u@example.test'], 'Subject: partial\n\nfirst line\n'));

test('sendmail (the Node path): an interrupted submission removes its queue file', () =>
  interrupted('sendmail', (etc) => ['-C', etc, 'u@example.test'], 'Subject: partial\n\nfirst line\n', { POSTFIX_TS_SENDMAIL_NODE: '1' }));

test('postdrop: an interrupted submission removes its queue file', () => interrupted('postdrop', (etc) => ['-c', etc], records([[REC.FROM, 'a@b']])));

test('mailq and newaliases run postqueue and postalias from command_directory', () => {
  const inst = makeInstance(`alias_database =\n`);
  try {
    // an empty alias_database means there is nothing to do
    assert.equal(run('newaliases', ['-C', inst.etc]).status, 0);
    const r = run('mailq', ['-C', inst.etc, 'extra']);
    assert.equal(r.status, 75);
    assert.match(r.stderr, /^mailq: fatal: display queue mode requires no recipient\n$/);
  } finally {
    inst.cleanup();
  }
});

function records(list: Array<[number, string]>): Buffer {
  return Buffer.concat(list.map(([t, d]) => encodeRecord(t, d)));
}

test('postdrop: protocol, whitelist, cancellation and malformed input', () => {
  const inst = makeInstance();
  try {
    const good = records([
      [REC.ATTR, 'rewrite_context=local'],
      [REC.ATTR, 'log_client_address=1.2.3.4'],
      [REC.FROM, 'a@example.test'],
      [REC.RCPT, 'b@example.test'],
      [REC.MESG, ''],
      [REC.NORM, 'Subject: x'],
      [REC.XTRA, ''],
      [REC.END, ''],
    ]);
    let r = run('postdrop', ['-c', inst.etc, '-r'], good);
    assert.equal(r.status, 0, r.stderr);
    const m = /^queue_id\0([0-9A-F]+)\0\0status\x000\0reason\0\0\0$/.exec(r.stdout);
    assert.ok(m, JSON.stringify(r.stdout));
    assert.match(r.stderr, /postdrop: warning: uid=\d+: ignoring attribute record: log_client_address=1\.2\.3\.4\n/);
    const body = withoutTime(readFileSync(join(inst.maildrop, m[1])));
    assert.deepEqual(
      body,
      records([
        [REC.ATTR, 'rewrite_context=local'],
        [REC.FROM, 'a@example.test'],
        [REC.RCPT, 'b@example.test'],
        [REC.MESG, ''],
        [REC.NORM, 'Subject: x'],
        [REC.XTRA, ''],
        [REC.END, ''],
      ]),
    );
    const before = maildropFiles(inst);
    // end of input before END: cancelled, exit 0, nothing left
    r = run('postdrop', ['-c', inst.etc], good.subarray(0, 20));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /fatal: uid=\d+: malformed input/);
    r = run('postdrop', ['-c', inst.etc], records([[REC.FROM, 'a@b']]));
    assert.equal(r.status, 0);
    // a record type users may not send
    r = run('postdrop', ['-c', inst.etc], records([[REC.SIZE, '1']]));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^postdrop: fatal: uid=\d+: unexpected record type: 67\n$/);
    // no recipient: status 1 (CLEANUP_STAT_BAD)
    r = run('postdrop', ['-c', inst.etc], records([[REC.FROM, 'a@b'], [REC.MESG, ''], [REC.XTRA, ''], [REC.END, '']]));
    assert.equal(r.status, 1);
    assert.match(r.stdout, /status\x001\0/);
    assert.deepEqual(maildropFiles(inst), before);
  } finally {
    inst.cleanup();
  }
});

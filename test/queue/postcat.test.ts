/**
 * postcat tests: golden output recorded from real Postfix 3.7.11 postcat
 * (test/queue/golden/postcat/<file>.<flags>.out/.err, made by make-golden.sh)
 * for queue files that real Postfix wrote, and for files our own record
 * codec writes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readdirSync, writeFileSync, chmodSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN, golden, makeInstance, run } from './helpers.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { encodeRecord, sizeRecordPayload } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';
import { MAIL_QUEUE, mailQueueComplete, mailQueueEnter } from '../../src/global/mail_queue.js';

const cases = readdirSync(join(GOLDEN, 'postcat'))
  .filter((n) => n.endsWith('.out'))
  .map((n) => n.slice(0, -4));

test('postcat output is byte-identical to Postfix 3.7 postcat', () => {
  assert.ok(cases.length >= 60);
  // One postcat run per flag set over all files whose golden run did not end in a fatal
  // error (their outputs simply concatenate); the others run alone.
  const groups = new Map<string, string[]>();
  for (const c of cases) {
    const dot = c.indexOf('.');
    const flagName = c.slice(dot + 1);
    const fatal = golden('postcat', `${c}.err`).toString().includes('fatal:');
    const key = fatal ? c : flagName;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const failures: string[] = [];
  for (const members of groups.values()) {
    const flagName = members[0].slice(members[0].indexOf('.') + 1);
    // make-golden.sh names cases after the flags with spaces removed: "-d -o" -> "-d-o", "-s 97" -> "-s97".
    const flags = flagName === 'none' ? [] : flagName.startsWith('-s') ? ['-s', flagName.slice(2)] : flagName.split(/(?=-)/);
    const files = members.map((c) => `files/${c.slice(0, c.indexOf('.'))}`);
    const r = run('bin/postcat', [...flags, ...files], { cwd: GOLDEN, env: { MAIL_CONFIG: join(GOLDEN, 'etc') } });
    const out = Buffer.concat(members.map((c) => golden('postcat', `${c}.out`)));
    const err = members.map((c) => golden('postcat', `${c}.err`).toString('utf8')).join('');
    if (!r.stdout.equals(out)) failures.push(`${members.join(' ')}: stdout differs`);
    if (r.stderr !== err) failures.push(`${members.join(' ')}: stderr differs:\n${r.stderr}`);
  }
  assert.deepEqual(failures, []);
});

test('postcat -q finds a queue file written by our record codec', async () => {
  const inst = makeInstance('none');
  try {
    const config = MailConfig.load(inst.etc);
    const { id, fd } = mailQueueEnter(config, MAIL_QUEUE.INCOMING);
    const content = [encodeRecord(REC.MESG, ''), encodeRecord(REC.NORM, 'Subject: hi'), encodeRecord(REC.NORM, ''), encodeRecord(REC.NORM, 'body')];
    const env0 = [encodeRecord(REC.TIME, '1795557949 5'), encodeRecord(REC.ATTR, 'create_time=1795557949'), encodeRecord(REC.FROM, 'a@example.test'), encodeRecord(REC.RCPT, 'b@example.test')];
    const sizeLen = encodeRecord(REC.SIZE, sizeRecordPayload([0, 0, 0, 0, 0, 0])).length;
    const dataOffset = sizeLen + Buffer.concat(env0).length + content[0].length;
    const contentSize = Buffer.concat(content.slice(1)).length;
    const file = Buffer.concat([
      encodeRecord(REC.SIZE, sizeRecordPayload([contentSize, dataOffset, 1, 0, contentSize, 0])),
      ...env0,
      ...content,
      encodeRecord(REC.XTRA, ''),
      encodeRecord(REC.END, ''),
    ]);
    writeSync(fd, file);
    await mailQueueComplete(fd);
    closeSync(fd);
    const r = run('bin/postcat', ['-q', id], { etc: inst.etc });
    assert.equal(r.status, 0);
    assert.equal(
      r.stdout.toString(),
      `*** ENVELOPE RECORDS incoming/${id} ***\n` +
        `message_size:${String(contentSize).padStart(16)}${String(dataOffset).padStart(16)}               1               0${String(contentSize).padStart(16)}               0\n` +
        'message_arrival_time: Tue Nov 24 22:05:49 2026\ncreate_time: Tue Nov 24 22:05:49 2026\n' +
        'sender: a@example.test\nrecipient: b@example.test\n' +
        `*** MESSAGE CONTENTS incoming/${id} ***\nSubject: hi\n\nbody\n` +
        `*** HEADER EXTRACTED incoming/${id} ***\n*** MESSAGE FILE END incoming/${id} ***\n`,
    );
    // -b and -h split at the first non-header line.
    assert.equal(run('bin/postcat', ['-q', '-b', id], { etc: inst.etc }).stdout.toString(), '\nbody\n');
    assert.equal(run('bin/postcat', ['-q', '-h', id], { etc: inst.etc }).stdout.toString(), 'Subject: hi\n');
    // stdin works too.
    assert.match(run('bin/postcat', ['-e'], { etc: inst.etc, input: file }).stdout.toString(), /^\*\*\* ENVELOPE RECORDS stdin \*\*\*\n/);
  } finally {
    inst.cleanup();
  }
});

test('postcat diagnostics match Postfix', () => {
  const inst = makeInstance('none');
  try {
    let r = run('bin/postcat', ['-q', 'NOSUCH'], { etc: inst.etc });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'postcat: fatal: open queue file NOSUCH: No such file or directory\n');
    r = run('bin/postcat', ['-q', 'bad/id'], { etc: inst.etc });
    assert.equal(r.stderr, 'postcat: fatal: bad mail queue ID: bad/id\n');
    r = run('bin/postcat', ['-x'], { etc: inst.etc });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^postcat: invalid option -- 'x'\npostcat: fatal: usage: postcat \[-b \(body text\)\]/);
    writeFileSync(join(inst.top, 'junk'), 'hello\n');
    r = run('bin/postcat', [join(inst.top, 'junk')], { etc: inst.etc });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, `postcat: warning: ${join(inst.top, 'junk')}: input is not a valid queue file\n`);
    // a truncated record is a fatal read error, after the records before it
    writeFileSync(join(inst.top, 'trunc'), Buffer.concat([encodeRecord(REC.TIME, '0 0'), Buffer.from([REC.FROM, 20, 0x61])]));
    chmodSync(join(inst.top, 'trunc'), 0o600);
    r = run('bin/postcat', [join(inst.top, 'trunc')], { etc: inst.etc });
    assert.equal(r.status, 1);
    assert.equal(r.stdout.toString(), `*** ENVELOPE RECORDS ${join(inst.top, 'trunc')} ***\nmessage_arrival_time: Thu Jan  1 00:00:00 1970\n`);
    assert.equal(r.stderr, `postcat: warning: ${join(inst.top, 'trunc')}: unexpected EOF in data, record type 83 length 20\npostcat: fatal: record read error\n`);
  } finally {
    inst.cleanup();
  }
});

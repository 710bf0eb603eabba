/**
 * queue integration: a real instance (master + showq daemon) lists queue
 * files that real Postfix wrote; mailq and sendmail -bp give the same text;
 * postsuper changes what the running showq reports.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { TestInstance, runProgram, REPO } from '../helpers/instance.js';
import { getpwnam } from '../../src/util/mypwd.js';
import { GOLDEN } from './helpers.js';

test('postqueue, mailq and postsuper against a running instance', async () => {
  const inst = await TestInstance.create({ name: 'queue-int' });
  after(() => inst.cleanup());
  await inst.start();
  const owner = getpwnam(inst.accounts.mailOwner)!;
  const place = (src: string, rel: string) => {
    const path = join(inst.queueDir, rel);
    copyFileSync(join(GOLDEN, 'files', src), path);
    chmodSync(path, 0o700);
    if (process.getuid?.() === 0) chownSync(path, owner.uid, owner.gid);
  };
  place('dsn-null-sender', 'hold/65C4020CD02');
  place('long-header-8bit', 'hold/71D9620CAA1');
  const env = inst.env({ TZ: 'UTC' });
  const expected =
    '-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n' +
    '65C4020CD02!     322 Tue Nov 24 22:05:49  MAILER-DAEMON\n' +
    '                                         hold@example.test\n' +
    '                                         x@defer.test\n' +
    '                                         "quoted user"@defer.test\n' +
    '\n' +
    '71D9620CAA1!    3347 Tue Nov 24 22:05:03  "a b"@example.test\n' +
    '                                         hold@example.test\n' +
    '\n' +
    '-- 3 Kbytes in 2 Requests.\n';
  const sortBlocks = (text: string) => {
    // the two hold files come in directory order; compare message blocks as a set
    const [head, ...rest] = text.split('\n\n');
    return [head.split('\n')[0], ...[head.split('\n').slice(1).join('\n'), ...rest].sort()];
  };
  const p = await runProgram(join(REPO, 'bin', 'postqueue'), ['-p'], env);
  assert.equal(p.stderr, '');
  assert.equal(p.status, 0);
  assert.deepEqual(sortBlocks(p.stdout), sortBlocks(expected));
  const mailq = await runProgram(join(REPO, 'bin', 'mailq'), [], env);
  assert.equal(mailq.stdout, p.stdout);
  const bp = await runProgram(join(REPO, 'bin', 'sendmail'), ['-bp'], env);
  assert.equal(bp.stdout, p.stdout);

  const d = await runProgram(join(REPO, 'bin', 'postsuper'), ['-d', '71D9620CAA1'], env);
  assert.equal(d.stderr, 'postsuper: 71D9620CAA1: removed\npostsuper: Deleted: 1 message\n');
  const j = await runProgram(join(REPO, 'bin', 'postqueue'), ['-j'], env);
  assert.equal(
    j.stdout,
    '{"queue_name": "hold", "queue_id": "65C4020CD02", "arrival_time": 1795557949, "message_size": 322, "forced_expire": false, ' +
      '"sender": "MAILER-DAEMON", "recipients": [{"address": "hold@example.test"}, {"address": "x@defer.test"}, {"address": "\\"quoted user\\"@defer.test"}]}\n',
  );
  // flush requests reach the running qmgr, pickup and flush services
  const f = await runProgram(join(REPO, 'bin', 'postqueue'), ['-f'], env);
  assert.equal(f.stderr, '');
  assert.equal(f.status, 0);
  const i = await runProgram(join(REPO, 'bin', 'postqueue'), ['-i', '65C4020CD02'], env);
  assert.equal(i.stderr, '');
  assert.equal(i.status, 0);
  await runProgram(join(REPO, 'bin', 'postsuper'), ['-d', 'ALL'], env);
  const empty = await runProgram(join(REPO, 'bin', 'postqueue'), ['-p'], env);
  assert.equal(empty.stdout, 'Mail queue is empty\n');
  await inst.stop();
});

test('a message held by smtpd shows in mailq with "!" and in postcat -q as hold/ID', async () => {
  const { connect } = await import('node:net');
  const inst = await TestInstance.create({
    name: 'queue-hold',
    main: { smtpd_recipient_restrictions: 'check_recipient_access inline:{hold@example.test=HOLD}, permit_mynetworks, reject' },
  });
  after(() => inst.cleanup());
  await inst.start();
  const env = inst.env({ TZ: 'UTC' });
  const replies = await new Promise<string[]>((resolve, reject) => {
    const cmds = ['EHLO client.example', 'MAIL FROM:<carol@example.test>', 'RCPT TO:<hold@example.test>', 'DATA', 'Subject: held\r\n\r\nbody\r\n.', 'QUIT'];
    const got: string[] = [];
    let buf = '';
    const c = connect(inst.smtpPort, '127.0.0.1');
    c.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (/^\d{3} /.test(line)) {
          got.push(line);
          const next = cmds.shift();
          if (next !== undefined) c.write(next + '\r\n');
        }
      }
    });
    c.on('error', reject);
    c.on('close', () => resolve(got));
  });
  const queued = /^250 2\.0\.0 Ok: queued as ([0-9A-F]+)$/.exec(replies[replies.length - 2] ?? '');
  assert.ok(queued, replies.join(' | '));
  const id = queued[1];
  const p = await runProgram(join(REPO, 'bin', 'postqueue'), ['-p'], env);
  assert.equal(p.status, 0);
  assert.match(p.stdout, new RegExp(`^-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\\n${id}! +\\d+ \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d  carol@example\\.test\\n {41}hold@example\\.test\\n\\n-- \\d+ Kbytes in 1 Request\\.\\n$`));
  const c = await runProgram(join(REPO, 'bin', 'postcat'), ['-q', id], env);
  assert.equal(c.status, 0);
  assert.ok(c.stdout.startsWith(`*** ENVELOPE RECORDS hold/${id} ***\nmessage_size: `), c.stdout);
  assert.ok(c.stdout.includes(`\nsender: carol@example.test\n`));
  assert.ok(c.stdout.includes(`\nrecipient: hold@example.test\n*** MESSAGE CONTENTS hold/${id} ***\n`));
  assert.ok(c.stdout.endsWith(`*** HEADER EXTRACTED hold/${id} ***\n*** MESSAGE FILE END hold/${id} ***\n`));
  const h = await runProgram(join(REPO, 'bin', 'postcat'), ['-q', '-b', id], env);
  assert.equal(h.stdout, '\nbody\n');
  await inst.stop();
});

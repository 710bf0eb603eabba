/**
 * pickup: verified maildrop files go to a real cleanup-protocol server on
 * public/cleanup; foreign, incomplete and malformed files do not.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { chmodSync, existsSync, linkSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeInstance, run, maildropFiles, type Instance, GOLDEN } from './helpers.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { encodeRecord, readRecord } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';
import { VStream } from '../../src/util/vstream.js';
import { readAttrs, sendAttrs } from '../../src/util/attr.js';
import { msgAddOutput } from '../../src/util/msg.js';
import { pickupScan } from '../../src/pickup/pickup.js';

interface Session {
  flags: number;
  records: Array<[string, string]>;
  complete: boolean;
}

/** fakeCleanup - a cleanup-protocol server that records what it gets and answers `status`. */
function fakeCleanup(inst: Instance, status: () => number): Promise<{ server: Server; sessions: Session[] }> {
  const sessions: Session[] = [];
  let n = 0;
  const server = createServer((sock) => {
    const stream = new VStream(sock, { timeout: 5000 });
    void (async () => {
      const s: Session = { flags: -1, records: [], complete: false };
      sessions.push(s);
      sendAttrs(stream, [
        ['protocol', 'cleanup_protocol'],
        ['queue_id', `QID${++n}`],
      ]);
      try {
        const flags = await readAttrs(stream);
        s.flags = Number(flags?.get('flags'));
        for (;;) {
          const r = await readRecord(stream);
          if (r.type < 0) return;
          s.records.push([String.fromCharCode(r.type), r.data.toString('latin1')]);
          if (r.type === REC.END) break;
        }
        s.complete = true;
        sendAttrs(stream, [
          ['status', status()],
          ['reason', ''],
        ]);
        stream.close();
      } catch {
        sock.destroy();
      }
    })();
  });
  return new Promise((resolve) => server.listen(join(inst.spool, 'public', 'cleanup'), () => resolve({ server, sessions })));
}

function logCapture(): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const stop = msgAddOutput((_sev, text) => lines.push(text));
  return { lines, stop };
}

function rec(list: Array<[number, string]>): Buffer {
  return Buffer.concat(list.map(([t, d]) => encodeRecord(t, d)));
}

test('pickup sends a sendmail submission to cleanup and removes it', async () => {
  const inst = makeInstance();
  const { server, sessions } = await fakeCleanup(inst, () => 0);
  const log = logCapture();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-F', 'Test User', '-f', 'alice@example.test', 'bob@example.test'], ' indented first line\nbody\n');
    assert.equal(r.status, 0, r.stderr);
    const [name] = maildropFiles(inst);
    const when = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    utimesSync(join(inst.maildrop, name), when, when);
    const config = MailConfig.load(inst.etc);
    const removed = await pickupScan(config);
    assert.equal(removed, 1);
    assert.deepEqual(maildropFiles(inst), []);
    assert.equal(sessions.length, 1);
    const s = sessions[0];
    assert.ok(s.complete);
    assert.equal(s.flags & 0x7f, 1 | 2 | 16 | 32 | 64); // BOUNCE | MASK_EXTERNAL
    const uid = process.getuid!();
    const types = s.records.map(([t]) => t).join('');
    assert.equal(types, 'TAFSRMNNNNNXE');
    assert.deepEqual(s.records[0], ['T', String(when.getTime() / 1000) + ' 0']);
    assert.deepEqual(s.records[1], ['A', 'rewrite_context=local']);
    assert.deepEqual(s.records[3], ['S', 'alice@example.test']);
    assert.deepEqual(s.records[4], ['R', 'bob@example.test']);
    assert.equal(s.records[6][1], `Received: by mail.example.test (Postfix, from userid ${uid})`);
    assert.match(s.records[7][1], /^\tid QID1; \w{3}, [ \d]\d \w{3} 2026 \d\d:\d\d:\d\d [+-]\d{4}/);
    // content that starts with white space gets an empty line first (not part of our Received:)
    assert.deepEqual(s.records[8], ['N', '']);
    assert.deepEqual(s.records[9], ['N', ' indented first line']);
    assert.ok(log.lines.includes(`QID1: uid=${uid} from=<alice@example.test>`), log.lines.join('\n'));
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

test('pickup refuses foreign, incomplete and malformed files', async () => {
  const inst = makeInstance();
  const { server, sessions } = await fakeCleanup(inst, () => 0);
  const log = logCapture();
  try {
    const good = rec([
      [REC.TIME, '1 0'],
      [REC.ATTR, 'rewrite_context=local'],
      [REC.ATTR, 'log_client_address=192.0.2.1'],
      [REC.FROM, 'a@example.test'],
      [REC.RCPT, 'b@example.test'],
      [REC.MESG, ''],
      [REC.NORM, 'Subject: x'],
      [REC.XTRA, ''],
      [REC.END, ''],
    ]);
    const md = inst.maildrop;
    // a symbolic link to somebody else's file
    writeFileSync(join(inst.dir, 'secret'), good);
    chmodSync(join(inst.dir, 'secret'), 0o744);
    symlinkSync(join(inst.dir, 'secret'), join(md, 'AAAAA1'));
    // a hard link (the owner would not be the submitter)
    linkSync(join(inst.dir, 'secret'), join(md, 'AAAAA2'));
    // still being written (owner x bit clear)
    writeFileSync(join(md, 'AAAAA3'), good, { mode: 0o644 });
    // not a queue file name at all
    writeFileSync(join(md, '12345.678'), good, { mode: 0o744 });
    // garbage
    writeFileSync(join(md, 'AAAAA4'), Buffer.from('\x00\xff\xff\xff\xff\xff\xffjunk'), { mode: 0o744 });
    // a record type that only the mail system may write
    writeFileSync(join(md, 'AAAAA5'), rec([[REC.SIZE, '0'], ...([] as Array<[number, string]>)]), { mode: 0o744 });
    // truncated: no END record
    writeFileSync(join(md, 'AAAAA6'), good.subarray(0, good.length - 6), { mode: 0o744 });
    // well-formed, with a forbidden attribute and a forged time: accepted, attribute and time not passed on
    writeFileSync(join(md, 'AAAAA7'), good, { mode: 0o744 });
    chmodSync(join(md, 'AAAAA7'), 0o744);

    const config = MailConfig.load(inst.etc);
    await pickupScan(config);

    assert.deepEqual(maildropFiles(inst), ['12345.678', 'AAAAA1', 'AAAAA2', 'AAAAA3']);
    const text = log.lines.join('\n');
    assert.match(text, /maildrop\/AAAAA1: uid \d+: not a regular file/);
    assert.match(text, /maildrop\/AAAAA2: uid \d+: file has 2 links/);
    assert.match(text, /uid=\d+: unexpected or malformed record type -2/);
    assert.match(text, /uid=\d+: unexpected or malformed record type 67/);
    assert.match(text, /uid=\d+: ignoring attribute record: log_client_address=192\.0\.2\.1/);
    // exactly one message reached cleanup complete; the others were aborted or never sent
    const complete = sessions.filter((s) => s.complete);
    assert.equal(complete.length, 1);
    const recs = complete[0].records;
    assert.ok(!recs.some(([t, d]) => t === 'A' && d.startsWith('log_client')));
    assert.notDeepEqual(recs[0], ['T', '1 0']);
    assert.equal(recs[0][0], 'T');
    assert.ok(existsSync(join(inst.dir, 'secret')));
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

test('pickup keeps a file when cleanup defers, removes it when cleanup rejects it for good', async () => {
  const inst = makeInstance();
  let answer = 256; // CLEANUP_STAT_DEFER
  const { server } = await fakeCleanup(inst, () => answer);
  const log = logCapture();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-f', 'a@example.test', 'b@example.test'], 'x\n');
    assert.equal(r.status, 0, r.stderr);
    const config = MailConfig.load(inst.etc);
    assert.equal(await pickupScan(config), 0);
    assert.equal(maildropFiles(inst).length, 1);
    assert.match(log.lines.join('\n'), /maildrop\/\w+: error writing QID1: service unavailable/);
    answer = 64; // CLEANUP_STAT_RCPT
    assert.equal(await pickupScan(config), 1);
    assert.deepEqual(maildropFiles(inst), []);
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

test('pickup leaves everything in place when cleanup is not running', async () => {
  const inst = makeInstance();
  const log = logCapture();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-f', 'a@example.test', 'b@example.test'], 'x\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await pickupScan(MailConfig.load(inst.etc)), 0);
    assert.equal(maildropFiles(inst).length, 1);
    assert.match(log.lines.join('\n'), /connect to public\/cleanup: /);
  } finally {
    log.stop();
    inst.cleanup();
  }
});

test('pickup sends cleanup the byte stream Postfix 3.7 pickup sends (golden)', async () => {
  const inst = makeInstance('compatibility_level = 3.6\n');
  const { server, sessions } = await fakeCleanup(inst, () => 0);
  const log = logCapture();
  try {
    const r = run('sendmail', ['-C', inst.etc, '-N', 'success', '-F', 'Test User', '-f', 'alice@example.test', 'u@example.test'], ' leading space\nSubject: x\n\nbody\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await pickupScan(MailConfig.load(inst.etc)), 1);
    const s = sessions[0];
    const bytes = Buffer.concat([
      Buffer.from(`flags\0${s.flags}\0\0`, 'latin1'),
      ...s.records.map(([t, d]) => encodeRecord(t.charCodeAt(0), Buffer.from(d, 'latin1'))),
    ]);
    const norm = (b: Buffer) =>
      b
        .toString('latin1')
        .replace(/T[\x00-\x7f]\d+ \d+/, 'T<time>')
        .replace(/T\x11TTTTTTTTTT UUUUUU/, 'T<time>')
        .replace(/N.Received: by mail\.example\.test \(Postfix, from userid \d+\)/, 'N<received>')
        .replace(/; \w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/, '; <date>')
        .replace(/; Ddd, dd Mmm yyyy hh:mm:ss \+zzzz \(UTC\)/, '; <date>')
        .replace(/N[\s\S]\tid \w+; <date>/, 'N<id-and-date>');
    assert.equal(norm(bytes), norm(readFileSync(join(GOLDEN, 'pickup-to-cleanup.bin'))));
  } finally {
    log.stop();
    server.close();
    inst.cleanup();
  }
});

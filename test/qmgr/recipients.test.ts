/** recipients - qmgr reads a queue file's recipients, with their DSN records, whole and in slices. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord, sizeRecordPayload, timeRecordPayload } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';
import { readQueueFile, readRecipientSlice } from '../../src/qmgr/qmgr_message.js';

/** A queue file: envelope with one done and three live recipients, content, an extracted-segment recipient. */
function queueFile(): Buffer {
  const rec = encodeRecord;
  const envelope = (dataOffset: number, dataSize: number) => [
    rec(REC.SIZE, sizeRecordPayload([dataSize, dataOffset, 5, 0, 0, 0])),
    rec(REC.TIME, timeRecordPayload(1700000000, 0)),
    rec(REC.FROM, 'sender@example.test'),
    rec(REC.ATTR, 'envelope_id=ENV1'),
    rec(REC.ORCP, 'gone@example.test'),
    rec(REC.DONE, 'gone@example.test'),
    rec(REC.ORCP, 'Orig-A@example.test'),
    rec(REC.ATTR, 'dsn_orig_rcpt=rfc822;a@example.test'),
    rec(REC.ATTR, 'notify_flags=2'),
    rec(REC.RCPT, 'a@example.test'),
    rec(REC.RCPT, 'b@example.test'),
    rec(REC.DSN_NOTIFY, '4'),
    rec(REC.RCPT, 'c@example.test'),
    rec(REC.MESG, ''),
  ];
  const head = (o: number, s: number) => Buffer.concat(envelope(o, s));
  const content = Buffer.concat([rec(REC.NORM, 'Subject: x'), rec(REC.NORM, ''), rec(REC.NORM, 'body')]);
  const dataOffset = head(0, 0).length;
  const tail = Buffer.concat([rec(REC.XTRA, ''), rec(REC.ORCP, 'Orig-D@example.test'), rec(REC.RCPT, 'd@example.test'), rec(REC.END, '')]);
  return Buffer.concat([head(dataOffset, content.length), content, tail]);
}

test('recipients keep their ORCP and DSN records, whole and in slices of two', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qmgr-rcpt-'));
  try {
    const path = join(dir, 'ABC123');
    writeFileSync(path, queueFile());
    const strip = (rs: Array<{ address: string; orig: string; dsnOrcpt: string; notify: number }>) => rs.map((r) => [r.address, r.orig, r.dsnOrcpt, r.notify]);
    const want = [
      ['a@example.test', 'Orig-A@example.test', 'rfc822;a@example.test', 2],
      ['b@example.test', '', '', 0],
      ['c@example.test', '', '', 4],
      ['d@example.test', 'Orig-D@example.test', '', 0],
    ];
    const whole = await readQueueFile(path, 'ABC123');
    assert.deepEqual(strip(whole.recipients), want);
    assert.equal(whole.attrs.get('envelope_id'), 'ENV1');
    assert.equal(whole.resume, null);

    const first = await readQueueFile(path, 'ABC123', 2);
    assert.deepEqual(strip(first.recipients), want.slice(0, 2));
    assert.equal(first.unread, 2);
    assert.ok(first.resume);
    const rest = await readRecipientSlice(path, first.resume, 2);
    assert.deepEqual(strip(rest.recipients), want.slice(2));
    assert.ok(rest.resume);
    const end = await readRecipientSlice(path, rest.resume, 2);
    assert.deepEqual(end, { recipients: [], resume: null });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

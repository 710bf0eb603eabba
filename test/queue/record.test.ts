/** record codec tests: round trips, length limits, truncated input, pointer following and loop limits. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { openSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord, parseRecordAt, readRecords, readRecord, RecordError, sizeRecordPayload } from '../../src/global/record.js';
import { REC, REC_TYPE_EOF, REC_TYPE_ERROR, recTypeName } from '../../src/global/rec_type.js';
import { RecordFile, REC_FLAG_DEFAULT, REC_FLAG_NONE, asctimeLocal } from '../../src/global/queue_file.js';
import { VStream } from '../../src/util/vstream.js';
import { msgAddOutput } from '../../src/util/msg.js';

test('records round-trip at varint length boundaries', () => {
  for (const len of [0, 1, 127, 128, 16383, 16384, 2_097_152]) {
    const data = Buffer.alloc(len, 0x61);
    const enc = encodeRecord(REC.NORM, data);
    const parsed = parseRecordAt(enc, 0, 4 * 1024 * 1024);
    assert.ok(parsed);
    assert.equal(parsed.record.type, REC.NORM);
    assert.equal(parsed.record.data.length, len);
    assert.equal(parsed.next, enc.length);
  }
  assert.deepEqual([...encodeRecord(REC.RCPT, 'x'.repeat(128)).subarray(0, 3)], [0x52, 0x80, 0x01]);
});

test('truncated and oversized records are rejected', () => {
  const enc = encodeRecord(REC.NORM, 'hello world');
  assert.equal(parseRecordAt(enc.subarray(0, 5), 0), null);
  assert.throws(() => readRecords(enc.subarray(0, 5)), RecordError);
  assert.throws(() => parseRecordAt(encodeRecord(REC.NORM, Buffer.alloc(2000)), 0, 1000), RecordError);
  // six length bytes with the continuation bit: overflow
  assert.throws(() => parseRecordAt(Buffer.from([0x4e, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 0), RecordError);
  const file = Buffer.concat([encodeRecord(REC.TIME, '1 0'), encodeRecord(REC.END, ''), encodeRecord(REC.NORM, 'after end')]);
  assert.deepEqual(readRecords(file).map((r) => r.type), [REC.TIME, REC.END]);
  assert.equal(sizeRecordPayload([326, 674, 1]).length, 6 * 15 + 5);
});

test('readRecord reads from a stream and reports clean EOF vs truncation', async () => {
  const s = new PassThrough();
  const vs = new VStream(s, { timeout: 5000 });
  s.end(Buffer.concat([encodeRecord(REC.RCPT, 'a@b'), Buffer.from([REC.NORM, 5, 0x61])]));
  const r = await readRecord(vs);
  assert.equal(r.type, REC.RCPT);
  assert.equal(r.data.toString(), 'a@b');
  await assert.rejects(readRecord(vs));
  const s2 = new PassThrough();
  s2.end();
  assert.equal((await readRecord(new VStream(s2))).type, REC_TYPE_EOF);
});

test('RecordFile follows pointers, hides padding and stops at END', () => {
  const dir = mkdtempSync(join(tmpdir(), 'queue-rec-'));
  const warnings: string[] = [];
  const off = msgAddOutput((_s, t) => warnings.push(t));
  try {
    const ptr = (n: number) => encodeRecord(REC.PTR, String(n).padStart(15, ' '));
    const head = Buffer.concat([encodeRecord(REC.FROM, 's@x'), encodeRecord(REC.RCPT, 'r1@x')]);
    const ptrLen = ptr(0).length;
    const back = head.length + ptrLen;
    const middle = Buffer.concat([encodeRecord(REC.DTXT, 'pad'), encodeRecord(REC.MESG, ''), encodeRecord(REC.NORM, 'body'), encodeRecord(REC.XTRA, ''), encodeRecord(REC.END, '')]);
    const appended = head.length + ptrLen + middle.length;
    const file = Buffer.concat([head, ptr(appended), middle, encodeRecord(REC.RCPT, 'r2@x'), ptr(back)]);
    writeFileSync(join(dir, 'q'), file);
    const rf = new RecordFile(openSync(join(dir, 'q'), 'r'), 'q');
    const seen: string[] = [];
    for (;;) {
      const r = rf.getRaw(REC_FLAG_DEFAULT);
      if (r.type <= 0) break;
      seen.push(String.fromCharCode(r.type) + r.data.toString());
    }
    rf.close();
    assert.deepEqual(seen, ['Ss@x', 'Rr1@x', 'Rr2@x', 'M', 'Nbody', 'X', 'E']);
    const raw = new RecordFile(openSync(join(dir, 'q'), 'r'), 'q');
    const types: string[] = [];
    for (let r = raw.getRaw(REC_FLAG_NONE); r.type > 0; r = raw.getRaw(REC_FLAG_NONE)) types.push(String.fromCharCode(r.type));
    raw.close();
    assert.deepEqual(types.join(''), 'SRpwMNXERp');

    // A pointer loop ends after REVERSE_JUMP_LIMIT reverse jumps.
    const loop = Buffer.concat([encodeRecord(REC.FROM, 's'), ptr(0)]);
    const selfPtr = Buffer.concat([encodeRecord(REC.FROM, 's'), ptr(encodeRecord(REC.FROM, 's').length)]);
    writeFileSync(join(dir, 'loop'), selfPtr);
    const lf = new RecordFile(openSync(join(dir, 'loop'), 'r'), 'loop');
    let last = 0;
    for (let i = 0; i < 20000; i++) {
      last = lf.getRaw(REC_FLAG_DEFAULT).type;
      if (last <= 0) break;
    }
    lf.close();
    assert.equal(last, REC_TYPE_ERROR);
    assert.ok(warnings.includes('warning: loop: too many reverse jump records'));
    assert.ok(loop.length > 0);

    // Truncated data and a bad length give REC_TYPE_ERROR with Postfix's warning.
    writeFileSync(join(dir, 'trunc'), Buffer.from([REC.NORM, 10, 0x61]));
    const tf = new RecordFile(openSync(join(dir, 'trunc'), 'r'), 'trunc');
    assert.equal(tf.getRaw().type, REC_TYPE_ERROR);
    tf.close();
    assert.ok(warnings.includes('warning: trunc: unexpected EOF in data, record type 78 length 10'));
    writeFileSync(join(dir, 'long'), Buffer.from([REC.NORM, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    const bl = new RecordFile(openSync(join(dir, 'long'), 'r'), 'long');
    assert.equal(bl.getRaw().type, REC_TYPE_ERROR);
    bl.close();
    assert.ok(warnings.includes('warning: long: too many length bits, record type 78'));
  } finally {
    off();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record type names are those of Postfix rec_type.c', () => {
  assert.equal(recTypeName(REC.SIZE), 'message_size');
  assert.equal(recTypeName(REC.FILT), 'content_filter');
  assert.equal(recTypeName(REC.FLGS), 'flags');
  assert.equal(recTypeName(REC.DELAY), 'unknown_record_type');
  assert.equal(recTypeName(REC.MILT_COUNT), 'unknown_record_type');
  const saved = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    assert.equal(asctimeLocal(1795557949), 'Tue Nov 24 22:05:49 2026');
    assert.equal(asctimeLocal(0), 'Thu Jan  1 00:00:00 1970');
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

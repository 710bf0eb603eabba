/** deliver_completed - done marks in a queue file by name, FileHandle or descriptor. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';
import { deliverCompleted } from '../../src/global/deliver_completed.js';

test('deliverCompleted flips R to D through each kind of source and refuses other records', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-completed-'));
  try {
    const path = join(dir, 'Q1');
    const recs = [encodeRecord(REC.FROM, 's@x'), encodeRecord(REC.RCPT, 'a@x'), encodeRecord(REC.RCPT, 'b@x'), encodeRecord(REC.RCPT, 'c@x')];
    const offsets = recs.map((_, i) => recs.slice(0, i).reduce((n, b) => n + b.length, 0));
    writeFileSync(path, Buffer.concat(recs));
    const types = () => offsets.map((o) => String.fromCharCode(readFileSync(path)[o]));

    await deliverCompleted(path, [offsets[1]]);
    const fh = await open(path, 'r+');
    try {
      await deliverCompleted(fh, [offsets[2]]);
    } finally {
      await fh.close();
    }
    const fd = openSync(path, 'r+');
    try {
      await deliverCompleted(fd, [offsets[3], offsets[1]]);
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(types(), ['S', 'D', 'D', 'D']);
    await assert.rejects(deliverCompleted(path, [offsets[0]]), new RegExp(`^Error: ${path}: offset 0: not a recipient record$`));
    assert.equal(types()[0], 'S');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

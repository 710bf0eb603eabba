/** fixture - a deterministic queue for qshape tests (ages in the middle of their buckets). */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildQueueFile } from '../delivery/queue_fixture.js';

/** makeQueue - write deferred/ and active/ files under dir; returns dir. */
export function makeQueue(dir: string): string {
  const now = Date.now();
  const domains = ['example.com', 'a.example.com', 'b.example.com', 'c.example.com', 'd.example.com', 'e.example.com', 'mail.example.org', 'x.y.example.net', 'EXAMPLE.com.', 'very-long-subdomain-name-for-truncation.example.co.uk'];
  const ages = [1, 7, 15, 30, 60, 120, 250, 500, 1000, 3000]; // minutes
  let n = 0;
  for (const q of ['deferred', 'active', 'incoming']) {
    for (let i = 0; i < domains.length; i++) {
      for (let j = 0; j <= (i + (q === 'deferred' ? 2 : 0)) % 4; j++) {
        const age = ages[(i * 3 + j + q.length) % ages.length];
        const rcpts = [{ address: `u${j}@${domains[i]}` }, ...(j % 2 ? [{ address: `v@${domains[(i + 1) % domains.length]}` }] : [])];
        const sender = j === 1 ? '' : `s${i}@Sender${i % 3}.example`;
        const file = buildQueueFile(sender, rcpts, ['Subject: q', '', 'body'], now - age * 60_000 - 10_000);
        const id = `F${(n++).toString(16).toUpperCase().padStart(9, '0')}`;
        const sub = q === 'deferred' ? join(dir, q, id[0]) : join(dir, q);
        mkdirSync(sub, { recursive: true });
        writeFileSync(join(sub, id), file.bytes, { mode: 0o700 });
      }
    }
  }
  // not counted: not ready, bad name, not a queue file
  writeFileSync(join(dir, 'active', 'F99999999A'), buildQueueFile('a@b.c', [{ address: 'z@notready.test' }], ['x']).bytes, { mode: 0o600 });
  writeFileSync(join(dir, 'active', 'abc'), 'x', { mode: 0o700 });
  return dir;
}

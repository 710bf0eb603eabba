/**
 * deliver_completed - mark a recipient as done in its queue file (Postfix
 * global/deliver_completed.c): the type byte of the recipient's R record is
 * overwritten in place with D. As Postfix (rec_put_type + vstream_fflush),
 * the mark is written, not fsynced: it only saves a duplicate delivery
 * after a crash, and the delivery itself (mailbox, next hop) was made
 * durable before it.
 */

import { readSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { REC } from './rec_type.js';

const DONE = Buffer.from([REC.DONE]);

/**
 * deliverCompleted - flip the R records at these offsets to D in the file at
 * path, or in a queue file the caller already has open for reading and
 * writing (then it stays open).
 */
export async function deliverCompleted(source: string | FileHandle | number, offsets: number[]): Promise<void> {
  if (offsets.length === 0) return;
  if (typeof source !== 'string') return completedFd(typeof source === 'number' ? source : source.fd, offsets, 'queue file');
  const fh = await open(source, 'r+');
  try {
    completedFd(fh.fd, offsets, source);
  } finally {
    await fh.close();
  }
}

/**
 * completedFd - the marks on an open descriptor: one-byte reads and writes,
 * synchronous (page cache), no thread-pool round trip.
 */
function completedFd(fd: number, offsets: number[], path: string): void {
  const probe = Buffer.alloc(1);
  for (const offset of offsets) {
    readSync(fd, probe, 0, 1, offset);
    if (probe[0] !== REC.RCPT && probe[0] !== REC.DONE) {
      throw new Error(`${path}: offset ${offset}: not a recipient record`);
    }
    writeSync(fd, DONE, 0, 1, offset);
  }
}

/**
 * record - queue file record codec (Postfix global/record.c).
 *
 * A record is one type byte, the payload length as a little-endian base-128
 * varint (7 bits per byte, 0x80 = more), then the payload. The same codec is
 * used for queue files, the cleanup and postdrop streams, and bounce logs'
 * embedded content. Readers enforce a maximum payload length.
 */

import { REC, REC_TYPE_EOF } from './rec_type.js';
import type { VStream } from '../util/vstream.js';

export interface QueueRecord {
  type: number;
  data: Buffer;
}

/** Largest payload a reader accepts (Postfix uses var_line_limit-derived bounds; we are generous but finite). */
export const MAX_RECORD_LEN = 1024 * 1024;

/** lengthBytes - the varint encoding of a payload length. */
function encodeLength(len: number): number[] {
  const out: number[] = [];
  do {
    let b = len & 0x7f;
    len = Math.floor(len / 128);
    if (len > 0) b |= 0x80;
    out.push(b);
  } while (len > 0);
  return out;
}

/** encodeRecord - one record as bytes. */
export function encodeRecord(type: number, data: Buffer | string): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = encodeLength(payload.length);
  const out = Buffer.allocUnsafe(1 + len.length + payload.length);
  out[0] = type;
  for (let i = 0; i < len.length; i++) out[1 + i] = len[i];
  payload.copy(out, 1 + len.length);
  return out;
}

/** recordSize - encoded size of a record with this payload length. */
export function recordSize(payloadLength: number): number {
  return 1 + encodeLength(payloadLength).length + payloadLength;
}

export class RecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordError';
  }
}

/**
 * parseRecordAt - decode the record that starts at buf[offset]. Returns the
 * record and the offset after it, or null when buf ends before the record does.
 */
export function parseRecordAt(
  buf: Buffer,
  offset: number,
  maxLen = MAX_RECORD_LEN,
): { record: QueueRecord; next: number } | null {
  if (offset >= buf.length) return null;
  const type = buf[offset];
  let len = 0;
  let shift = 1;
  let pos = offset + 1;
  for (let n = 0; ; n++) {
    if (pos >= buf.length) return null;
    const b = buf[pos++];
    len += (b & 0x7f) * shift;
    if ((b & 0x80) === 0) break;
    shift *= 128;
    if (n >= 4) throw new RecordError(`record length overflow at offset ${offset}`);
  }
  if (len > maxLen) throw new RecordError(`illegal record length ${len} at offset ${offset}`);
  if (pos + len > buf.length) return null;
  return { record: { type, data: buf.subarray(pos, pos + len) }, next: pos + len };
}

/** A record together with its position in a file. */
export interface PositionedRecord extends QueueRecord {
  offset: number;
}

/**
 * readRecords - all records of a complete in-memory queue file, in physical
 * order (no pointer following; see followPointers for postcat/qmgr order).
 * Stops after the END record; a truncated file ends with a RecordError.
 */
export function readRecords(buf: Buffer, start = 0): PositionedRecord[] {
  const out: PositionedRecord[] = [];
  let offset = start;
  while (offset < buf.length) {
    const parsed = parseRecordAt(buf, offset);
    if (parsed === null) throw new RecordError(`truncated record at offset ${offset}`);
    out.push({ ...parsed.record, offset });
    offset = parsed.next;
    if (parsed.record.type === REC.END) break;
  }
  return out;
}

/** readRecord - the next record from a stream, or type REC_TYPE_EOF at a clean end of input. */
export async function readRecord(stream: VStream, maxLen = MAX_RECORD_LEN): Promise<QueueRecord> {
  const ready = bufferedRecord(stream, maxLen);
  if (ready !== undefined) return ready;
  const type = await stream.readByte();
  if (type < 0) return { type: REC_TYPE_EOF, data: Buffer.alloc(0) };
  let len = 0;
  let shift = 1;
  for (let n = 0; ; n++) {
    const b = await stream.readByte();
    if (b < 0) throw new RecordError('premature end of input in record length');
    len += (b & 0x7f) * shift;
    if ((b & 0x80) === 0) break;
    shift *= 128;
    if (n >= 4) throw new RecordError('record length overflow');
  }
  if (len > maxLen) throw new RecordError(`illegal record length ${len}`);
  const data = await stream.readBytes(len);
  return { type, data };
}

/**
 * bufferedRecord - the next record when it is complete in the stream's
 * buffer (the common case: no await per byte), else undefined with nothing
 * consumed; anything unusual (bad length, short input) is left to the
 * byte-by-byte path of readRecord, which reports it.
 */
function bufferedRecord(stream: VStream, maxLen: number): QueueRecord | undefined {
  const head = stream.peek(6);
  if (head.length < 2) return undefined;
  const type = head[0];
  let len = 0;
  let shift = 1;
  let i = 1;
  for (let n = 0; ; n++) {
    if (i >= head.length) return undefined;
    const b = head[i++];
    len += (b & 0x7f) * shift;
    if ((b & 0x80) === 0) break;
    shift *= 128;
    if (n >= 4) return undefined;
  }
  if (len > maxLen || stream.available < i + len) return undefined;
  const buf = stream.tryReadBytes(i + len);
  if (buf === undefined) return undefined;
  return { type, data: buf.subarray(i) };
}

/** fixedNumber - a number right-aligned in a %15ld field (SIZE, PTR, WARN payloads). */
export function fixedNumber(n: number, width = 15): string {
  return String(n).padStart(width, ' ');
}

/** sizeRecordPayload - the C record: six %15ld fields separated by spaces. */
export function sizeRecordPayload(fields: number[]): string {
  const six = [...fields, 0, 0, 0, 0, 0, 0].slice(0, 6);
  return six.map((n) => fixedNumber(n)).join(' ');
}

/** timeRecordPayload - the T record: "%ld %ld" seconds and microseconds (REC_TYPE_TIME_FORMAT). */
export function timeRecordPayload(sec: number, usec: number): string {
  return `${Math.trunc(sec)} ${Math.trunc(usec)}`;
}

/** ptrRecordPayload - a p record: the target offset in a %15ld field (0 = a dummy pointer). */
export function ptrRecordPayload(offset: number): string {
  return fixedNumber(offset, 15);
}

/** warnRecordPayload - a W record: the next delay-warning time in a %15ld field. */
export function warnRecordPayload(epochSeconds: number): string {
  return fixedNumber(epochSeconds, 15);
}

/**
 * dict_text - logical-line reader for table source files (Postfix
 * util/readlline.c readllines()).
 *
 * Rules (postmap, postalias, texthash, regexp, pcre, cidr): blank lines and
 * lines whose first non-blank character is `#` are ignored; a line that starts
 * with whitespace continues the previous logical line (the newline goes, the
 * leading whitespace stays); a comment line inside a continued line does not
 * end it. A logical line that would start with whitespace is reported and
 * skipped. Never reads beyond the buffer it is given.
 */

import { msg } from './msg.js';

export interface LogicalLine {
  /** the logical line, decoded as UTF-8 (or byte-for-byte as latin1 when it is not valid UTF-8) */
  text: string;
  /** number of the first physical line */
  lineNo: number;
  /** false when the raw bytes were not valid UTF-8 */
  utf8: boolean;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function decode(buf: Buffer): { text: string; utf8: boolean } {
  try {
    return { text: decoder.decode(buf), utf8: true };
  } catch {
    return { text: buf.toString('latin1'), utf8: false };
  }
}

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** readLogicalLines - split file content into Postfix logical lines. */
export function readLogicalLines(data: Buffer, path: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  // Physical lines first (byte level: a file may hold non-UTF-8 bytes).
  const phys: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0a) {
      phys.push(data.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < data.length) phys.push(data.subarray(start));

  let cur: Buffer[] = [];
  let curLine = 0;
  const flush = (): void => {
    if (cur.length === 0) return;
    const buf = Buffer.concat(cur);
    cur = [];
    const { text, utf8 } = decode(buf);
    if (buf.length > 0 && isSpace(buf[0])) {
      const shown = text.length > 30 ? `${text.slice(0, 30)}...` : text;
      msg.warn(`${path}: logical line must not start with whitespace: "${shown}"`);
      return;
    }
    out.push({ text, lineNo: curLine, utf8 });
  };
  for (let n = 0; n < phys.length; n++) {
    const line = phys[n];
    let j = 0;
    while (j < line.length && isSpace(line[j])) j++;
    if (j === line.length || line[j] === 0x23 /* # */) continue;
    if (!isSpace(line[0])) flush();
    if (cur.length === 0) curLine = n + 1;
    cur.push(line);
  }
  flush();
  return out;
}

/** showInvalid - a non-UTF-8 line (decoded as latin1) as Postfix prints it: bad bytes become '?'. */
export function showInvalid(text: string): string {
  return Buffer.from(text, 'latin1').toString('utf8').replace(/\uFFFD/g, '?');
}

/** trimBlanks - strip trailing whitespace (Postfix trimblanks). */
export function trimBlanks(s: string): string {
  return s.replace(/[ \t\r\n\v\f]+$/, '');
}

/** splitKeyValue - postmap's "key whitespace value" split; quotes keep whitespace in the key. */
export function splitKeyValue(line: string): { key: string; value: string } | { error: 'unbalanced' } {
  let inQuotes = false;
  let i = 0;
  for (; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') {
      if (++i >= line.length) break;
    } else if (/\s/.test(c)) {
      if (!inQuotes) break;
    } else if (c === '"') {
      inQuotes = !inQuotes;
    }
  }
  if (inQuotes) return { error: 'unbalanced' };
  const key = line.slice(0, i);
  const value = trimBlanks(line.slice(i).replace(/^\s+/, ''));
  return { key, value };
}

/**
 * smtpd_addr - envelope address and host name syntax helpers for smtpd
 * (Postfix smtpd.c extract_addr(), global/quote_822_local.c,
 * util/valid_hostname.c, global/valid_mailhost_addr.c).
 *
 * Addresses are kept in internal (unquoted) form, as Postfix stores them in
 * queue files; quoteLocal() gives the external form used in logs and in the
 * Received: header.
 */

import { isIPv4, isIPv6 } from 'node:net';

export interface ExtractResult {
  ok: boolean;
  /** internal form of the address ("" for the null sender) */
  addr: string;
}

/**
 * unquoteAddress - RFC 822 address text to internal form: quoted strings lose
 * their quotes, backslash escapes are resolved, comments are dropped.
 * Returns null for text that is not one address (stray specials, several words).
 */
export function unquoteAddress(text: string): { addr: string; count: number } | null {
  let out = '';
  let words = 0;
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      let q = '';
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        q += text[j];
      }
      if (j >= text.length) return null;
      if (!inWord) words++;
      inWord = true;
      out += q;
      i = j + 1;
    } else if (c === '(') {
      let depth = 1;
      let j = i + 1;
      for (; j < text.length && depth > 0; j++) {
        if (text[j] === '\\') j++;
        else if (text[j] === '(') depth++;
        else if (text[j] === ')') depth--;
      }
      if (depth > 0) return null;
      i = j;
      inWord = false;
    } else if (c === ' ' || c === '\t') {
      i++;
      inWord = false;
    } else if (c === '@' || c === '.') {
      out += c;
      i++;
      inWord = true;
      if (c === '@' || c === '.') {
        // "a . b" style spacing around specials keeps one word
        while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
      }
    } else if (c === '[') {
      const j = text.indexOf(']', i);
      if (j < 0) return null;
      out += text.slice(i, j + 1);
      i = j + 1;
      if (!inWord) words++;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 < text.length) out += text[i + 1];
      i += 2;
      if (!inWord) words++;
      inWord = true;
    } else if ('<>,;:)]'.includes(c)) {
      return null;
    } else {
      if (!inWord) {
        // a new word directly after a word-ending special joins it
        if (out.length === 0 || !out.endsWith('@') && !out.endsWith('.')) words++;
      }
      out += c;
      inWord = true;
      i++;
    }
  }
  return { addr: out, count: words };
}

/**
 * extractAddr - the address in a MAIL FROM / RCPT TO / VRFY argument
 * (extract_addr): strip <>, a source route, and quoting.
 */
export function extractAddr(arg: string, allowEmpty: boolean, strictRfc821: boolean): ExtractResult {
  let text = arg;
  const bracketed = text.startsWith('<') && text.endsWith('>') && text.length >= 2;
  if (bracketed) text = text.slice(1, -1);
  if (text.startsWith('@')) {
    const colon = text.indexOf(':');
    if (colon >= 0) text = text.slice(colon + 1);
  }
  if (strictRfc821 && !bracketed) return { ok: false, addr: '' };
  const parsed = unquoteAddress(text.trim());
  if (parsed === null) return { ok: false, addr: '' };
  const addr = parsed.addr;
  if (addr === '' && !allowEmpty) return { ok: false, addr };
  if (strictRfc821 && addr.startsWith('@')) return { ok: false, addr };
  return { ok: true, addr };
}

const SPECIALS = '()<>@,;:\\".[] \t';

/** quoteLocal - quote the local part when it needs quoting (quote_822_local). */
export function quoteLocal(addr: string): string {
  const at = addr.lastIndexOf('@');
  const local = at >= 0 ? addr.slice(0, at) : addr;
  const rest = at >= 0 ? addr.slice(at) : '';
  if (!needsQuote(local)) return addr;
  return '"' + local.replace(/(["\\])/g, '\\$1') + '"' + rest;
}

function needsQuote(local: string): boolean {
  if (local.length === 0) return false;
  let prev = '.';
  for (const ch of local) {
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) return true;
    if (ch === '.') {
      if (prev === '.') return true;
    } else if (SPECIALS.includes(ch)) {
      return true;
    }
    prev = ch;
  }
  return prev === '.';
}

/** validHostname - util/valid_hostname.c: labels of letters, digits and hyphens, not all-numeric. */
export function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const labels = name.split('.');
  let allDigits = true;
  for (const label of labels) {
    if (label.length === 0 || label.length > 63) return false;
    if (label.startsWith('-') || label.endsWith('-')) return false;
    if (!/^[A-Za-z0-9_-]+$/.test(label) && !/^[\x80-\uffff A-Za-z0-9_-]+$/.test(label)) return false;
    if (!/^\d+$/.test(label)) allDigits = false;
  }
  return !allDigits;
}

/** validHostaddr - an IPv4 dotted quad or an IPv6 address (with or without IPv6: prefix). */
export function validHostaddr(addr: string): boolean {
  if (isIPv4(addr)) return true;
  const v6 = addr.toLowerCase().startsWith('ipv6:') ? addr.slice(5) : addr;
  return isIPv6(v6);
}

/** validMailhostLiteral - "[1.2.3.4]" or "[IPv6:...]". */
export function validMailhostLiteral(text: string): boolean {
  if (!text.startsWith('[') || !text.endsWith(']')) return false;
  const inner = text.slice(1, -1);
  if (isIPv4(inner)) return true;
  return inner.toLowerCase().startsWith('ipv6:') && isIPv6(inner.slice(5));
}

/** neuter - replace characters in a set (smtpd helo names: NEUTER_CHARACTERS). */
export function neuter(text: string, set = ' <>()\\";@', replacement = '?'): string {
  let out = '';
  for (const ch of text) out += set.includes(ch) ? replacement : ch;
  return out;
}

/** isHeader - the token looks like a message header name ("Subject:"). */
export function isHeader(text: string): boolean {
  const m = /^[\x21-\x39\x3b-\x7e]+:/.exec(text);
  return m !== null;
}

/** xtextUnquote - RFC 3461 xtext decoding; null on bad syntax. */
export function xtextUnquote(text: string): string | null {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '+') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else {
      const code = c.charCodeAt(0);
      if (code < 33 || code > 126 || c === '=') return null;
      out += c;
    }
  }
  return out;
}

/** uxtextUnquote - RFC 6533 unitext (\x{HEX}) decoding, also accepting xtext. */
export function uxtextUnquote(text: string): string | null {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      const m = /^\\x\{([0-9A-F]{1,6})\}/.exec(text.slice(i));
      if (!m) return null;
      out += String.fromCodePoint(parseInt(m[1], 16));
      i += m[0].length - 1;
    } else if (c === '+') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else {
      const code = c.codePointAt(0)!;
      if (code < 33 || c === '=') return null;
      out += c;
    }
  }
  return out;
}

/** DSN NOTIFY keywords to mask (global/dsn_mask.c); 0 on bad syntax. */
export function dsnNotifyMask(text: string): number {
  const names: Record<string, number> = { NEVER: 1, SUCCESS: 2, FAILURE: 4, DELAY: 8 };
  let mask = 0;
  for (const word of text.split(',')) {
    const bit = names[word.toUpperCase()];
    if (!bit) return 0;
    mask |= bit;
  }
  if ((mask & 1) && (mask & ~1)) return 0;
  return mask;
}

/** DSN RET keyword to code (FULL 1, HDRS 2); 0 on bad syntax. */
export function dsnRetCode(text: string): number {
  const t = text.toUpperCase();
  return t === 'FULL' ? 1 : t === 'HDRS' ? 2 : 0;
}

/** allPrint - every character is printable ASCII. */
export function allPrint(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

/** mailDate - RFC 2822 date as Postfix writes it: "Tue, 24 Nov 2026 22:04:54 +0000 (UTC)". */
export function mailDate(when: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  const off = -when.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const zone = timeZoneAbbrev(when);
  return (
    `${days[when.getDay()]}, ${p2(when.getDate())} ${months[when.getMonth()]} ${when.getFullYear()} ` +
    `${p2(when.getHours())}:${p2(when.getMinutes())}:${p2(when.getSeconds())} ` +
    `${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}` +
    (zone ? ` (${zone})` : '')
  );
}

function timeZoneAbbrev(when: Date): string {
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(when);
    const name = parts.find((p) => p.type === 'timeZoneName')?.value ?? '';
    if (/^GMT$|^UTC$/.test(name) && when.getTimezoneOffset() === 0) return 'UTC';
    if (/^[A-Z]{2,5}$/.test(name)) return name;
    return '';
  } catch {
    return '';
  }
}

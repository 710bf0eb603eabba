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
import { tok822Parse, tok822Internalize, type Tok822 } from '../global/tok822.js';

export interface ExtractResult {
  ok: boolean;
  /** internal form of the address ("" for the null sender) */
  addr: string;
}

/**
 * extractAddr - the address in a MAIL FROM / RCPT TO / VRFY argument
 * (extract_addr): strip one level of <>, a source route, and RFC 822
 * quoting (tok822 parse and internalize). More than one address, or (with
 * strict_rfc821_envelopes) anything but a bracketed address, is an error.
 */
export function extractAddr(arg: string, allowEmpty: boolean, strictRfc821: boolean): ExtractResult {
  let text = arg;
  if (text.startsWith('<') && text.endsWith('>') && text.length >= 2) text = text.slice(1, -1);
  if (text.startsWith('@')) {
    const colon = text.indexOf(':');
    if (colon >= 0) text = text.slice(colon + 1);
  }
  const tree = tok822Parse(text);
  let naddr = 0;
  let nonAddr = 0;
  let addrNode: Tok822 | null = null;
  for (const tp of tree) {
    if (tp.type === 'addr') {
      addrNode = tp;
      naddr++;
    } else if (tp.type !== '<' && tp.type !== '>') {
      nonAddr++;
    }
  }
  if (naddr > 1 || (strictRfc821 && (nonAddr > 0 || !arg.startsWith('<')))) return { ok: false, addr: '' };
  const head = addrNode?.head ?? [];
  // two adjacent words ("a b@c") are not an address
  for (let k = 1; k < head.length; k++) {
    const word = (x: Tok822) => x.type === 'atom' || x.type === 'qstring';
    if (word(head[k - 1]) && word(head[k])) return { ok: false, addr: '' };
  }
  const addr = addrNode ? tok822Internalize(head) : '';
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

/** xtextUnquote - RFC 3461 xtext decoding as Postfix does it (only "+XX" is checked); null on bad syntax. */
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

/** mailDate - the one Postfix date writer (global/mail_date.ts). */
export { mailDate } from '../global/mail_date.js';

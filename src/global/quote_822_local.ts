/**
 * quote_822_local - quote and unquote the local part of an address
 * (Postfix global/quote_822_local.c).
 *
 * Internal form is unquoted ("user name@example.com"); external form is
 * RFC 822 quoted ("\"user name\"@example.com"). Only the part before the
 * last "@" is ever quoted; a leading source route "@a,@b:" is kept as is.
 */

export const QUOTE_FLAG_8BITCLEAN = 1;
export const QUOTE_FLAG_EXPOSE_AT = 2;
export const QUOTE_FLAG_APPEND = 4;
export const QUOTE_FLAG_BARE_LOCALPART = 8;
export const QUOTE_FLAG_DEFAULT = QUOTE_FLAG_8BITCLEAN;

/** is822DotString - can the local part go out without quotes? */
function is822DotString(local: string, flags: number): boolean {
  if (local.length === 0 || local[0] === '.') return false;
  for (let i = 0; i < local.length; i++) {
    const ch = local.charCodeAt(i);
    const c = local[i];
    if (c === '.' && local[i + 1] === '.') return false;
    if (ch > 127 && !(flags & QUOTE_FLAG_8BITCLEAN)) return false;
    if (c === ' ' || ch < 32 || ch === 127) return false;
    if ('()<>,;:\\"[]'.includes(c) || (c === '@' && !(flags & QUOTE_FLAG_EXPOSE_AT))) return false;
  }
  return local[local.length - 1] !== '.';
}

/** quote822Local - internal to external form. */
export function quote822Local(mbox: string, flags: number = QUOTE_FLAG_DEFAULT): string {
  let start = 0;
  if (mbox[0] === '@') {
    const colon = mbox.indexOf(':');
    if (colon >= 0) start = colon + 1;
  }
  let end = mbox.lastIndexOf('@');
  if (flags & QUOTE_FLAG_BARE_LOCALPART || end < start) end = mbox.length;
  const local = mbox.slice(start, end);
  if (is822DotString(local, flags)) return mbox;
  let q = '"';
  for (const c of local) {
    const ch = c.charCodeAt(0);
    if ((ch > 127 && !(flags & QUOTE_FLAG_8BITCLEAN)) || c === '"' || c === '\\' || c === '\r') q += '\\';
    q += c;
  }
  return mbox.slice(0, start) + q + '"' + mbox.slice(end);
}

/** unquote822Local - external to internal form: remove quotes and backslashes from the local part. */
export function unquote822Local(mbox: string): string {
  let start = 0;
  let out = '';
  if (mbox[0] === '@') {
    const colon = mbox.indexOf(':');
    if (colon >= 0) {
      start = colon + 1;
      out = mbox.slice(0, start);
    }
  }
  let inQuote = false;
  let bareAtDst = -1;
  for (let i = start; i < mbox.length; i++) {
    const c = mbox[i];
    if (c === '@' && !inQuote) {
      bareAtDst = out.length;
      out += c;
      continue;
    }
    if (bareAtDst >= 0) {
      // after an unquoted @: copy verbatim, but an unquoted @ further on restarts
      out += c;
      continue;
    }
    if (c === '"') {
      inQuote = !inQuote;
      continue;
    }
    if (c === '\\' && i + 1 < mbox.length) {
      out += mbox[++i];
      continue;
    }
    out += c;
  }
  return out;
}

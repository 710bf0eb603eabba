/**
 * tok822 - RFC 822 address tokenizer, parser and (un)formatter
 * (Postfix global/tok822_parse.c, tok822_tree.c, tok822_find.c).
 *
 * tok822Scan splits text into tokens (atoms, quoted strings, comments,
 * domain literals and the operators "|%!()<>@,;:\".[]"). tok822ScanAddr
 * scans one address. tok822Parse groups an address list (a header value)
 * into address nodes, moving comments out of the way, so that callers can
 * rewrite the addr-spec of each mailbox and put the header back together.
 * Token values are kept in internal (unquoted) form.
 */

import { quote822Local, QUOTE_FLAG_8BITCLEAN } from './quote_822_local.js';

export type Tok822Type = 'atom' | 'qstring' | 'comment' | 'domlit' | 'addr' | 'startgrp' | string;

export interface Tok822 {
  /** 'atom' | 'qstring' | 'comment' | 'domlit' | 'addr' | 'startgrp' | a one-character operator */
  type: Tok822Type;
  /** atom/qstring/comment/domlit text (internal form; comments include their parentheses) */
  text: string;
  /** children of an 'addr' node */
  head?: Tok822[];
}

const OPCHARS = '|%!()<>@,;:\\".[]';

/** Upper bound on tokens per header (Postfix var_token_limit default 10240). */
export const TOKEN_LIMIT = 10240;

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

/** tok822Scan - tokenize text without grouping. */
export function tok822Scan(str: string, limit = 0): Tok822[] {
  const out: Tok822[] = [];
  let i = 0;
  const n = str.length;
  while (i < n) {
    const c = str[i++];
    if (isSpace(c)) continue;
    let tp: Tok822;
    if (c === '(') {
      let level = 1;
      let text = '(';
      while (i < n) {
        const ch = str[i++];
        text += ch;
        if (ch === '(') level++;
        else if (ch === ')') {
          if (--level === 0) break;
        } else if (ch === '\\') {
          if (i >= n) break;
          text += str[i++];
        }
      }
      tp = { type: 'comment', text };
    } else if (c === '[' || c === '"') {
      const close = c === '[' ? ']' : '"';
      let text = '';
      while (i < n) {
        const ch = str[i++];
        if (ch === close) break;
        if (ch === '\\') {
          if (i >= n) break;
          text += str[i++];
          continue;
        }
        text += ch;
      }
      tp = { type: c === '[' ? 'domlit' : 'qstring', text };
    } else if (c !== '\\' && OPCHARS.includes(c)) {
      tp = { type: c, text: '' };
    } else {
      let text = '';
      i -= 1;
      while (i < n) {
        const ch = str[i];
        if (isSpace(ch) || (ch !== '\\' && OPCHARS.includes(ch))) break;
        i++;
        if (ch === '\\') {
          if (i >= n) break;
          text += str[i++];
          continue;
        }
        text += ch;
      }
      tp = { type: 'atom', text };
      // an atom with specials (from backslash escapes) is really a quoted string
      for (const ch of text) {
        const code = ch.charCodeAt(0);
        if (ch === ' ' || code < 32 || code === 127 || OPCHARS.includes(ch)) {
          tp.type = 'qstring';
          break;
        }
      }
    }
    out.push(tp);
    if (limit > 0 && out.length >= limit) break;
  }
  return out;
}

/** tok822ScanAddr - tokenize one address (no grouping). */
export function tok822ScanAddr(str: string): Tok822[] {
  return tok822Scan(str);
}

/**
 * tok822Parse - parse an address list into a token list in which each
 * address (the addr-spec, or the content of <...>) is one 'addr' node.
 * Phrases, angle brackets, commas and group syntax stay around the nodes;
 * comments inside a mailbox are moved after it. Missing commas between
 * addresses are inserted, as Postfix does.
 */
export function tok822Parse(str: string, limit = TOKEN_LIMIT): Tok822[] {
  const toks = tok822Scan(str, limit);
  const out: Tok822[] = [];
  // split at top-level commas, honouring group syntax "name: a, b;"
  let i = 0;
  const n = toks.length;
  let first = true;
  while (i < n) {
    // collect one mailbox: up to a ',' or ';' at angle depth 0, or a group start ':'
    const seg: Tok822[] = [];
    let depth = 0;
    let groupStart = false;
    while (i < n) {
      const t = toks[i];
      if (t.type === '<') depth++;
      else if (t.type === '>') depth = Math.max(0, depth - 1);
      if (depth === 0 && (t.type === ',' || t.type === ';')) break;
      if (depth === 0 && t.type === ':' && !seg.some((s) => s.type === '<' || s.type === '@')) {
        groupStart = true;
        break;
      }
      seg.push(t);
      i++;
    }
    if (!first && out.length > 0 && out[out.length - 1].type !== ',' && out[out.length - 1].type !== 'startgrp' && seg.length > 0) {
      out.push({ type: ',', text: '' });
    }
    first = false;
    if (groupStart) {
      out.push(...seg, { type: 'startgrp', text: '' });
      i++;
      continue;
    }
    out.push(...groupMailbox(seg));
    if (i < n) {
      out.push(toks[i]);
      i++;
    }
  }
  return out;
}

/** groupMailbox - turn one mailbox's tokens into phrase + <addr> or addr, comments moved to the end. */
function groupMailbox(seg: Tok822[]): Tok822[] {
  if (seg.length === 0) return [];
  const lt = seg.findIndex((t) => t.type === '<');
  if (lt >= 0) {
    let gt = -1;
    for (let j = seg.length - 1; j > lt; j--) if (seg[j].type === '>') {
      gt = j;
      break;
    }
    const inner = seg.slice(lt + 1, gt >= 0 ? gt : seg.length);
    const comments = inner.filter((t) => t.type === 'comment');
    const addrToks = inner.filter((t) => t.type !== 'comment');
    const out: Tok822[] = seg.slice(0, lt);
    out.push({ type: '<', text: '' });
    if (addrToks.length > 0) out.push({ type: 'addr', text: '', head: addrToks });
    out.push(...comments);
    out.push({ type: '>', text: '' });
    if (gt >= 0) out.push(...seg.slice(gt + 1));
    return out;
  }
  const comments = seg.filter((t) => t.type === 'comment');
  const addrToks = seg.filter((t) => t.type !== 'comment');
  const out: Tok822[] = [];
  if (addrToks.length > 0) out.push({ type: 'addr', text: '', head: addrToks });
  out.push(...comments);
  return out;
}

/** tok822Grep - the address nodes of a parsed list. */
export function tok822GrepAddr(tree: Tok822[]): Tok822[] {
  return tree.filter((t) => t.type === 'addr');
}

const NON_OPERATOR = new Set(['atom', 'qstring', 'comment', 'domlit', 'addr']);

function appendSpace(tp: Tok822, next: Tok822 | undefined): boolean {
  if (!next) return false;
  if (tp.type === ',' || tp.type === 'startgrp' || next.type === '<') return true;
  return NON_OPERATOR.has(tp.type) && NON_OPERATOR.has(next.type);
}

/** tok822Internalize - tokens to internal (unquoted) text. */
export function tok822Internalize(tree: Tok822[], line = false): string {
  let out = '';
  for (let i = 0; i < tree.length; i++) {
    const tp = tree[i];
    switch (tp.type) {
      case ',':
        out += ',';
        if (line) {
          out += '\n';
          continue;
        }
        break;
      case 'addr':
        out += tok822Internalize(tp.head ?? []);
        break;
      case 'comment':
      case 'atom':
      case 'qstring':
        out += tp.text;
        break;
      case 'domlit':
        out += '[' + tp.text + ']';
        break;
      case 'startgrp':
        out += ':';
        break;
      default:
        out += tp.type;
    }
    if (appendSpace(tp, tree[i + 1])) out += ' ';
  }
  return out;
}

function copyQuoted(str: string, quoteSet: string): string {
  let out = '';
  for (const c of str) {
    if (quoteSet.includes(c)) out += '\\';
    out += c;
  }
  return out;
}

/** tok822Externalize - tokens to external (quoted) text; line=true puts a newline after each comma. */
export function tok822Externalize(tree: Tok822[], line = false): string {
  let out = '';
  for (let i = 0; i < tree.length; i++) {
    const tp = tree[i];
    switch (tp.type) {
      case ',':
        out += ',' + (line ? '\n' : ' ');
        continue;
      case 'addr':
        out += quote822Local(tok822Internalize(tp.head ?? []), QUOTE_FLAG_8BITCLEAN);
        break;
      case 'atom':
      case 'comment':
        out += tp.text;
        break;
      case 'qstring':
        out += '"' + copyQuoted(tp.text, '"\\\r\n') + '"';
        break;
      case 'domlit':
        out += '[' + copyQuoted(tp.text, '\\\r\n') + ']';
        break;
      case 'startgrp':
        out += ':';
        break;
      default:
        out += tp.type;
    }
    if (appendSpace(tp, tree[i + 1])) out += ' ';
  }
  return out;
}

/** tok822Rfind - index of the last token of a type at or before `from`, or -1. */
export function tok822Rfind(toks: Tok822[], type: string, from = toks.length - 1): number {
  for (let i = from; i >= 0; i--) if (toks[i].type === type) return i;
  return -1;
}

/** tok822Find - index of the first token of a type at or after `from`, or -1. */
export function tok822Find(toks: Tok822[], type: string, from = 0): number {
  for (let i = from; i < toks.length; i++) if (toks[i].type === type) return i;
  return -1;
}

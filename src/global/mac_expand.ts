/**
 * mac_expand - attribute expansion of configuration values (Postfix
 * util/mac_parse.c, util/mac_expand.c, global/compat_level.c).
 *
 * Syntax: $name, ${name}, $(name), $$ (a literal $), ${name?text},
 * ${name:text}, ${name?{text}:{text}}, ${name:{text}}, and the relational
 * form ${{text} op {text}} optionally followed by ?{..} and/or :{..}, with
 * op in == != < <= >= > (numeric when both sides are all digits, else byte
 * order) and the compatibility-level variants <level <=level >level >=level
 * ==level !=level. A relational expression alone yields "true" or "".
 *
 * Errors behave as in Postfix: the first syntax problem is reported with
 * Postfix's warning text (MacroError.message); the caller decides what is
 * fatal. Nesting deeper than 100 calls is "unreasonable macro call nesting",
 * which is how a recursive definition (a = $b, b = $a) is caught.
 *
 * Must never: run anything, or read anything but the lookup it is given.
 */

export class MacroError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MacroError';
  }
}

/** Returns the raw (unexpanded) value of a name, or undefined when the name is not defined. */
export type MacroLookup = (name: string, mode: 'use' | 'test') => string | undefined;

export interface MacExpandOptions {
  /** expand $names inside looked-up values (Postfix MAC_EXP_FLAG_RECURSE); default true */
  recurse?: boolean;
  /** with recurse=false: characters outside this set in looked-up values become '_' */
  filter?: string;
  /** with recurse=false: non-printable characters in looked-up values become '_' */
  printable?: boolean;
  /** scan only (Postfix MAC_EXP_FLAG_SCAN): visit every reference, in both branches, produce nothing */
  scan?: boolean;
}

export interface MacExpandResult {
  value: string;
  /** some referenced name was undefined (Postfix MAC_PARSE_UNDEF) */
  undef: boolean;
}

const MAX_NESTING = 100;
const WHITESPACE = ' \t\r\n';
const isSpace = (c: string | undefined): boolean => c !== undefined && c !== '' && WHITESPACE.includes(c);
const isNameChar = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9_]$/.test(c);
const RELOP_CHARS = '<>!=?+-*/~&|%';
const RELOPS = ['==', '!=', '<', '<=', '>=', '>'];
const RELOP_ANY = '"==" or "!="" or "<"" or "<="" or ">="" or ">"';

interface Ctx {
  out: string;
  opts: MacExpandOptions;
  lookup: MacroLookup;
  level: number;
  undef: boolean;
}

/**
 * macExpand - expand every macro reference in text (recursively by default).
 * Throws MacroError on a syntax error. The third argument may be an options
 * object; a number is accepted for compatibility and ignored.
 */
export function macExpand(text: string, lookup: (name: string) => string | undefined, opts?: MacExpandOptions | number): string {
  return macExpandEx(text, lookup, typeof opts === 'object' ? opts : {}).value;
}

/** macExpandEx - macExpand that also reports whether an undefined name was referenced. */
export function macExpandEx(text: string, lookup: MacroLookup, opts: MacExpandOptions = {}): MacExpandResult {
  const ctx: Ctx = { out: '', opts: { recurse: true, ...opts }, lookup, level: 0, undef: false };
  parse(text, ctx);
  return { value: opts.scan ? '' : ctx.out, undef: ctx.undef };
}

/** macParse - split text into literal and $reference parts (Postfix mac_parse()); exported for postconf. */
export function macParse(value: string, action: (type: 'literal' | 'expr', text: string) => void): void {
  let buf = '';
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (c !== '$') {
      buf += c;
      i++;
      continue;
    }
    if (value[i + 1] === '$') {
      buf += '$';
      i += 2;
      continue;
    }
    if (buf.length > 0) action('literal', buf);
    buf = '';
    i++;
    const open = value[i];
    if (open === '{' || open === '(') {
      const close = open === '{' ? '}' : ')';
      let level = 1;
      let j = i + 1;
      for (; level > 0; j++) {
        if (j >= value.length) throw new MacroError(`truncated macro reference: "${value}"`);
        if (value[j] === open) level++;
        if (value[j] === close) level--;
      }
      buf = value.slice(i + 1, j - 1);
      i = j;
    } else {
      let j = i;
      while (j < value.length && isNameChar(value[j])) j++;
      buf = value.slice(i, j);
      i = j;
    }
    if (buf.length === 0) throw new MacroError(`empty macro name: "${value}"`);
    action('expr', buf);
    buf = '';
  }
  if (buf.length > 0) action('literal', buf);
}

function parse(text: string, ctx: Ctx): void {
  macParse(text, (type, buf) => callback(type, buf, ctx));
}

/** skipSpace - index of the first non-blank at or after pos. */
function skipSpace(s: string, pos: number): number {
  while (pos < s.length && isSpace(s[pos])) pos++;
  return pos;
}

/** curlyPayload - the text of the {...} group at s[pos] and the index after it and its trailing blanks. */
function curlyPayload(s: string, pos: number): { payload: string; next: number } {
  let level = 1;
  let j = pos + 1;
  for (;; j++) {
    if (j >= s.length) throw new MacroError(`unbalanced {} in attribute expression: "${s.slice(pos)}"`);
    if (s[j] === '{') level++;
    else if (s[j] === '}' && --level <= 0) break;
  }
  return { payload: s.slice(pos + 1, j), next: skipSpace(s, j + 1) };
}

const trunc20 = (s: string): string => s.slice(0, 20);

function callback(type: 'literal' | 'expr', buf: string, ctx: Ctx): void {
  if (ctx.level++ > MAX_NESTING) throw new MacroError(`unreasonable macro call nesting: "${buf}"`);
  if (type === 'literal') {
    if (!ctx.opts.scan) ctx.out += buf;
    ctx.level--;
    return;
  }
  let lookup: string | undefined;
  let cp: number;
  let ch: string;
  const s = buf;
  const lead = skipSpace(s, 0);
  if (s[lead] === '{') {
    const rel = relational(s, lead, ctx);
    lookup = rel.result;
    cp = rel.next;
    ch = s[cp] ?? '';
    if (ch !== '') {
      if (ch !== '?' && ch !== ':') throw new MacroError(`"?" or ":" expected at: "...}>>>${trunc20(s.slice(cp))}"`);
      cp++;
    }
  } else {
    const start = lead;
    let mode: 'use' | 'test';
    let end: number;
    for (cp = start; ; cp++) {
      const after = skipSpace(s, cp);
      const c = s[after] ?? '';
      if (c === '') {
        end = cp;
        mode = 'use';
        ch = '';
        cp = after;
        break;
      }
      if (c === '?' || c === ':') {
        end = cp;
        mode = 'test';
        ch = c;
        cp = after + 1;
        break;
      }
      if (!isNameChar(s[cp])) {
        throw new MacroError(`attribute name syntax error at: "...${s.slice(0, cp)}>>>${trunc20(s.slice(cp))}"`);
      }
    }
    lookup = ctx.lookup(s.slice(start, end), mode);
  }
  const truthy = lookup !== undefined && lookup !== '';
  const scan = ctx.opts.scan === true;
  let rest = s.slice(cp);
  if (ch === '?') {
    let iftrue: string;
    const ws = skipSpace(rest, 0);
    if (rest[ws] === '{') {
      const p = curlyPayload(rest, ws);
      iftrue = p.payload;
      rest = rest.slice(p.next);
    } else {
      iftrue = rest;
      rest = '';
    }
    if (truthy || scan) parse(iftrue, ctx);
    if (rest !== '') {
      if (rest[0] !== ':') throw new MacroError(`":" expected at: "...${iftrue}}>>>${trunc20(rest)}"`);
      rest = rest.slice(1);
      ch = ':';
    } else {
      ctx.level--;
      return;
    }
  }
  if (ch === ':') {
    let iffalse: string;
    const ws = skipSpace(rest, 0);
    if (rest[ws] === '{') {
      const p = curlyPayload(rest, ws);
      iffalse = p.payload;
      rest = rest.slice(p.next);
    } else {
      iffalse = rest;
      rest = '';
    }
    if (!truthy || scan) parse(iffalse, ctx);
    if (rest !== '') throw new MacroError(`unexpected input at: "...${iffalse}}>>>${trunc20(rest)}"`);
  } else if (ch === '') {
    if (lookup === undefined) ctx.undef = true;
    else if (lookup === '' || scan) {
      /* nothing */
    } else if (ctx.opts.recurse !== false) parse(lookup, ctx);
    else ctx.out += filterValue(lookup, ctx.opts);
  }
  ctx.level--;
}

function filterValue(value: string, opts: MacExpandOptions): string {
  if (opts.printable) return value.replace(/[^\x20-\x7e]/g, '_');
  if (opts.filter !== undefined) {
    const allowed = opts.filter;
    let out = '';
    for (const c of value) out += allowed.includes(c) ? c : '_';
    return out;
  }
  return value;
}

/** relational - ${{left} op {right} ...}: "true" or "" and the index after the right operand. */
function relational(s: string, pos: number, ctx: Ctx): { result: string | undefined; next: number } {
  const left = curlyPayload(s, pos);
  let cp = left.next;
  let opLen = 0;
  while (cp + opLen < s.length && RELOP_CHARS.includes(s[cp + opLen])) opLen++;
  const op = s.slice(cp, cp + opLen);
  if (!RELOPS.includes(op)) {
    throw new MacroError(`${RELOP_ANY} expected at: "...${left.payload}}>>>${trunc20(s.slice(cp))}"`);
  }
  const opPos = cp;
  cp += opLen;
  let suffix = '';
  if (/[A-Za-z0-9]/.test(s[cp] ?? '')) {
    let n = 1;
    while (/[A-Za-z0-9]/.test(s[cp + n] ?? '')) n++;
    suffix = s.slice(cp, cp + n);
    if (suffix !== 'level') {
      throw new MacroError(`bad operator suffix at: "...${op}>>>${suffix}"`);
    }
    cp += n;
  }
  const ws = skipSpace(s, cp);
  if (s[ws] !== '{') {
    throw new MacroError(`"{expression}" expected at: "...{${left.payload}} ${s.slice(opPos, opPos + opLen)}>>>${trunc20(s.slice(cp))}"`);
  }
  const right = curlyPayload(s, ws);
  const sub = (t: string): string => {
    const inner: Ctx = { out: '', opts: ctx.opts, lookup: ctx.lookup, level: 0, undef: false };
    parse(t, inner);
    if (inner.undef) ctx.undef = true;
    return inner.out;
  };
  const a = sub(left.payload);
  const b = sub(right.payload);
  if (ctx.opts.scan) return { result: undefined, next: right.next };
  const ok = suffix === 'level' ? compareLevel(a, op, b) : compareText(a, op, b);
  return { result: ok ? 'true' : '', next: right.next };
}

const alldig = (s: string): boolean => /^[0-9]+$/.test(s);

function relopResult(delta: number, op: string): boolean {
  switch (op) {
    case '==':
      return delta === 0;
    case '!=':
      return delta !== 0;
    case '<':
      return delta < 0;
    case '<=':
      return delta <= 0;
    case '>=':
      return delta >= 0;
    default:
      return delta > 0;
  }
}

function compareText(a: string, op: string, b: string): boolean {
  let delta: number;
  if (alldig(a) && alldig(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    delta = x < y ? -1 : x > y ? 1 : 0;
  } else {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    delta = Buffer.compare(x, y);
  }
  return relopResult(delta, op);
}

/** compatLevelValue - Postfix compat_level_from_string(): major[.minor[.patch]] as one comparable number. */
export function compatLevelValue(str: string): number {
  const m = /^([0-9]+)(?:\.([0-9]+)(?:\.([0-9]+))?)?$/.exec(str);
  if (!m || Number(m[2] ?? 0) > 1023 || Number(m[3] ?? 0) > 1023) {
    throw new MacroError(`malformed compatibility level syntax: "${str}"`);
  }
  return Number(m[1]) * 1024 * 1024 + Number(m[2] ?? 0) * 1024 + Number(m[3] ?? 0);
}

function compareLevel(a: string, op: string, b: string): boolean {
  const x = compatLevelValue(a);
  const y = compatLevelValue(b);
  return relopResult(x - y, op);
}

/** compareLevels - compare compatibility levels such as 2, 3.6, 3.10.1 (negative, 0, positive). */
export function compareLevels(a: string, b: string): number {
  return compatLevelValue(a) - compatLevelValue(b);
}

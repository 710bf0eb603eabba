/**
 * mac_expand - lazy $name expansion of configuration values (Postfix util/mac_expand.c).
 *
 * Supports $name, ${name}, $(name), ${name?value}, ${name:value},
 * ${name?{text}:{text}}, ${name:{text}} and the Postfix 3.x comparison form
 * ${{text} op {text} ? {x} : {y}} with op in == != < <= > >= <level <=level
 * >level >=level. Expansion is recursive; nesting deeper than 100 levels is an
 * error, as in Postfix ("unreasonable macro call nesting").
 */

export class MacroError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MacroError';
  }
}

/** Returns the raw (unexpanded) value of a name, or undefined when the name is not defined. */
export type MacroLookup = (name: string) => string | undefined;

const MAX_NESTING = 100;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** macExpand - expand every macro reference in text, recursively. */
export function macExpand(text: string, lookup: MacroLookup, level = 0): string {
  if (level > MAX_NESTING) throw new MacroError(`unreasonable macro call nesting: "${text}"`);
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{' || next === '(') {
      const close = matchingClose(text, i + 1);
      if (close < 0) throw new MacroError(`missing '${next === '{' ? '}' : ')'}' in "${text}"`);
      out += expandBraced(text.slice(i + 2, close), lookup, level);
      i = close + 1;
    } else if (next !== undefined && NAME_CHAR.test(next)) {
      let j = i + 1;
      while (j < text.length && NAME_CHAR.test(text[j])) j++;
      out += expandName(text.slice(i + 1, j), lookup, level);
      i = j;
    } else {
      out += '$';
      i++;
    }
  }
  return out;
}

function expandName(name: string, lookup: MacroLookup, level: number): string {
  const raw = lookup(name);
  if (raw === undefined) return '';
  return macExpand(raw, lookup, level + 1);
}

/** matchingClose - index of the bracket closing the one at text[open], counting nested pairs of the same kind. */
function matchingClose(text: string, open: number): number {
  const opener = text[open];
  const closer = opener === '{' ? '}' : ')';
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === opener) depth++;
    else if (text[i] === closer && --depth === 0) return i;
  }
  return -1;
}

/** braceGroup - the text of a {...} group starting at text[pos], and the index after it. */
function braceGroup(text: string, pos: number): { inner: string; end: number } | undefined {
  if (text[pos] !== '{') return undefined;
  let depth = 0;
  for (let i = pos; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return { inner: text.slice(pos + 1, i), end: i + 1 };
  }
  return undefined;
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length && /\s/.test(text[pos])) pos++;
  return pos;
}

function expandBraced(inner: string, lookup: MacroLookup, level: number): string {
  const trimmed = inner.trimStart();
  if (trimmed.startsWith('{')) return expandComparison(inner, lookup, level);
  let j = 0;
  while (j < inner.length && NAME_CHAR.test(inner[j])) j++;
  const name = inner.slice(0, j);
  if (name.length === 0) throw new MacroError(`empty macro name in "\${${inner}}"`);
  if (j === inner.length) return expandName(name, lookup, level);
  const op = inner[j];
  const rest = inner.slice(j + 1);
  if (op !== '?' && op !== ':') throw new MacroError(`unknown operator '${op}' in "\${${inner}}"`);
  const value = lookup(name);
  const nonEmpty = value !== undefined && macExpand(value, lookup, level + 1).length > 0;
  // ${name?{x}:{y}} form (Postfix 3.0 and later).
  const first = braceGroup(rest.trimStart(), 0);
  if (first) {
    const afterFirst = skipSpace(rest.trimStart(), first.end);
    const restTrim = rest.trimStart();
    if (afterFirst === restTrim.length) {
      const chosen = op === '?' ? nonEmpty : !nonEmpty;
      return chosen ? macExpand(first.inner, lookup, level + 1) : '';
    }
    if (op === '?' && restTrim[afterFirst] === ':') {
      const second = braceGroup(restTrim, skipSpace(restTrim, afterFirst + 1));
      if (!second || skipSpace(restTrim, second.end) !== restTrim.length) {
        throw new MacroError(`syntax error in "\${${inner}}"`);
      }
      return macExpand(nonEmpty ? first.inner : second.inner, lookup, level + 1);
    }
  }
  const chosen = op === '?' ? nonEmpty : !nonEmpty;
  return chosen ? macExpand(rest, lookup, level + 1) : '';
}

const COMPARE_OPS = ['<=level', '>=level', '<level', '>level', '==', '!=', '<=', '>=', '<', '>'];

/** expandComparison - ${{a} op {b} ? {x} : {y}}. */
function expandComparison(inner: string, lookup: MacroLookup, level: number): string {
  const syntax = () => new MacroError(`syntax error in "\${${inner}}"`);
  let pos = skipSpace(inner, 0);
  const left = braceGroup(inner, pos);
  if (!left) throw syntax();
  pos = skipSpace(inner, left.end);
  const op = COMPARE_OPS.find((o) => inner.startsWith(o, pos));
  if (!op) throw syntax();
  pos = skipSpace(inner, pos + op.length);
  const right = braceGroup(inner, pos);
  if (!right) throw syntax();
  pos = skipSpace(inner, right.end);
  if (inner[pos] !== '?') throw syntax();
  pos = skipSpace(inner, pos + 1);
  const yes = braceGroup(inner, pos);
  if (!yes) throw syntax();
  pos = skipSpace(inner, yes.end);
  let no: { inner: string; end: number } | undefined;
  if (inner[pos] === ':') {
    no = braceGroup(inner, skipSpace(inner, pos + 1));
    if (!no) throw syntax();
    pos = skipSpace(inner, no.end);
  }
  if (pos !== inner.length) throw syntax();
  const a = macExpand(left.inner, lookup, level + 1).trim();
  const b = macExpand(right.inner, lookup, level + 1).trim();
  const result = compare(a, op, b);
  if (result) return macExpand(yes.inner, lookup, level + 1);
  return no ? macExpand(no.inner, lookup, level + 1) : '';
}

function compare(a: string, op: string, b: string): boolean {
  if (op === '==') return a === b;
  if (op === '!=') return a !== b;
  let cmp: number;
  if (op.endsWith('level')) {
    cmp = compareLevels(a, b);
  } else {
    const na = Number(a);
    const nb = Number(b);
    if (!/^-?\d+$/.test(a) || !/^-?\d+$/.test(b)) {
      throw new MacroError(`non-numerical operand in "{${a}} ${op} {${b}}"`);
    }
    cmp = na - nb;
  }
  const base = op.replace('level', '');
  switch (base) {
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
    default:
      throw new MacroError(`unknown operator ${op}`);
  }
}

/** compareLevels - compare compatibility levels such as 2, 3.6, 3.10.1 (empty counts as 0). */
export function compareLevels(a: string, b: string): number {
  const parse = (s: string): number[] => {
    if (s === '') return [0];
    if (!/^\d+(\.\d+){0,2}$/.test(s)) throw new MacroError(`bad compatibility level syntax: "${s}"`);
    return s.split('.').map(Number);
  };
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

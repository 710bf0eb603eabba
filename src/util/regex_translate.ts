/**
 * regex_translate - turn POSIX regular expressions (regexp: tables, GNU
 * regcomp(3) dialect) and PCRE patterns (pcre: tables) into JavaScript
 * RegExp source, or fail with a message that says what is not supported.
 *
 * What is translated and what is refused is listed in docs/tables.md. The
 * translation never widens a pattern silently: a construct whose meaning
 * cannot be kept (possessive quantifiers, atomic groups, recursion, inline
 * option changes in the middle of a pattern, \G) is an error, so the rule is
 * skipped with a warning, as Postfix does for a pattern that does not compile.
 */

export class RegexSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'RegexSyntaxError';
  }
}

export interface Translated {
  source: string;
  flags: string;
  /** number of capturing groups */
  groups: number;
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: '0-9a-zA-Z',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  print: ' -~',
  graph: '!-~',
  cntrl: '\\x00-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f',
  word: '0-9a-zA-Z_',
};

/**
 * bracket - translate a bracket expression starting at p[i] === '['.
 * posix: backslash is literal inside brackets (POSIX); pcre: backslash escapes.
 */
function bracket(p: string, i: number, posix: boolean, newlineSensitive: boolean): { out: string; end: number } {
  let j = i + 1;
  let out = '[';
  let negate = false;
  if (p[j] === '^') {
    negate = true;
    out += '^';
    j++;
  }
  let first = true;
  for (;;) {
    if (j >= p.length) throw new RegexSyntaxError(posix ? 'Unmatched [, [^, [:, [., or [=' : 'missing terminating ] for character class', i);
    const c = p[j];
    if (c === ']' && !first) break;
    first = false;
    if (c === '[' && (p[j + 1] === ':' || p[j + 1] === '=' || p[j + 1] === '.')) {
      const kind = p[j + 1];
      const close = p.indexOf(kind + ']', j + 2);
      if (close < 0) throw new RegexSyntaxError(posix ? 'Unmatched [, [^, [:, [., or [=' : 'missing terminating ] for character class', i);
      const name = p.slice(j + 2, close);
      if (kind === ':') {
        const cls = POSIX_CLASSES[name];
        if (cls === undefined) throw new RegexSyntaxError(posix ? 'Invalid character class name' : 'unknown POSIX class name', j);
        out += cls;
      } else {
        out += escapeClassChar(name);
      }
      j = close + 2;
      continue;
    }
    if (c === '\\') {
      if (posix) {
        out += '\\\\';
        j++;
        continue;
      }
      const esc = p[j + 1];
      if (esc === undefined) throw new RegexSyntaxError('\\ at end of pattern', j);
      if (esc === 'h') out += '\\t \\xa0';
      else if (esc === 'Q' || esc === 'E') {
        /* PCRE \Q..\E in a class: rare; treat \Q and \E as no-ops */
      } else out += '\\' + esc;
      j += 2;
      continue;
    }
    if (c === '[' || c === ']' || (c === '^' && out.length > 1)) out += '\\' + c;
    else out += c;
    j++;
  }
  if (negate && newlineSensitive) out += '\\n';
  out += ']';
  return { out, end: j + 1 };
}

function escapeClassChar(s: string): string {
  return s.replace(/[\\\]\[^-]/g, (m) => '\\' + m);
}

const JS_SPECIAL = /[\\^$.*+?()[\]{}|\/]/;

function literal(c: string): string {
  return JS_SPECIAL.test(c) ? '\\' + c : c;
}

/**
 * translatePosix - GNU regcomp() pattern to JS. options: extended (REG_EXTENDED),
 * icase (REG_ICASE), newline (REG_NEWLINE).
 */
export function translatePosix(p: string, opts: { extended: boolean; icase: boolean; newline: boolean }): Translated {
  let out = '';
  let groups = 0;
  let depth = 0;
  const ere = opts.extended;
  // atStart: position where '*' is literal (start of pattern or after '(' or '|').
  let atStart = true;
  for (let i = 0; i < p.length; ) {
    const c = p[i];
    if (c === '[') {
      const b = bracket(p, i, true, opts.newline);
      out += b.out;
      i = b.end;
      atStart = false;
      continue;
    }
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined) throw new RegexSyntaxError('Trailing backslash', i);
      i += 2;
      if (!ere && (n === '(' || n === ')' || n === '{' || n === '}' || n === '|' || n === '+' || n === '?')) {
        // BRE: \( \) groups, \{ \} intervals, GNU \| \+ \?
        if (n === '(') {
          groups++;
          depth++;
          out += '(';
          atStart = true;
          continue;
        }
        if (n === ')') {
          if (depth === 0) throw new RegexSyntaxError('Unmatched ) or \\)', i - 2);
          depth--;
          out += ')';
          atStart = false;
          continue;
        }
        out += n === '|' ? '|' : n;
        atStart = n === '|';
        continue;
      }
      if (/[1-9]/.test(n)) {
        if (Number(n) > groups) throw new RegexSyntaxError('Invalid back reference', i - 2);
        out += '\\' + n;
      } else if ('wWsSbB'.includes(n)) out += '\\' + n;
      else if (n === '<') out += '\\b(?=\\w)';
      else if (n === '>') out += '\\b(?<=\\w)';
      else if (n === '`') out += '(?<![\\s\\S])';
      else if (n === "'") out += '(?![\\s\\S])';
      else out += literal(n);
      atStart = false;
      continue;
    }
    if (ere) {
      if (c === '(') {
        groups++;
        depth++;
        out += '(';
        i++;
        atStart = true;
        continue;
      }
      if (c === ')') {
        if (depth === 0) {
          // GNU ERE: an unmatched ) is an ordinary character
          out += '\\)';
          i++;
          atStart = false;
          continue;
        }
        depth--;
        out += ')';
        i++;
        atStart = false;
        continue;
      }
      if (c === '|') {
        out += '|';
        i++;
        atStart = true;
        continue;
      }
      if (c === '*' || c === '+' || c === '?') {
        if (atStart) {
          // GNU: a leading repetition operator is literal
          out += '\\' + c;
        } else out += c;
        i++;
        continue;
      }
      if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
        if (m && atStart) throw new RegexSyntaxError('Invalid preceding regular expression', i);
        if (m) {
          if (m[3] !== undefined && m[3] !== '' && Number(m[3]) < Number(m[1])) {
            throw new RegexSyntaxError('Invalid content of \\{\\}', i);
          }
          out += m[0];
          i += m[0].length;
        } else {
          out += '\\{';
          i++;
        }
        continue;
      }
      if (c === '}') {
        out += '\\}';
        i++;
        atStart = false;
        continue;
      }
    } else {
      // BRE: ( ) | + ? { } are literal, * is literal at the start
      if ('()|+?{}'.includes(c)) {
        out += '\\' + c;
        i++;
        atStart = false;
        continue;
      }
      if (c === '*') {
        out += atStart ? '\\*' : '*';
        i++;
        continue;
      }
      if (c === '^' && !atStart) {
        out += '\\^';
        i++;
        continue;
      }
      if (c === '$' && !(i + 1 === p.length || p.startsWith('\\)', i + 1) || p.startsWith('\\|', i + 1))) {
        out += '\\$';
        i++;
        atStart = false;
        continue;
      }
    }
    if (c === '^') {
      out += '^';
      i++;
      continue; // '*' after '^' is literal too
    }
    if (c === '$') {
      out += '$';
      i++;
      atStart = false;
      continue;
    }
    if (c === '.') {
      out += opts.newline ? '[^\n]' : '.';
      i++;
      atStart = false;
      continue;
    }
    if (c === '/') {
      out += '\\/';
      i++;
      atStart = false;
      continue;
    }
    out += c;
    i++;
    atStart = false;
  }
  if (depth !== 0) throw new RegexSyntaxError('Unmatched ( or \\(', p.length);
  let flags = '';
  if (opts.icase) flags += 'i';
  flags += opts.newline ? 'm' : 's';
  try {
    new RegExp(out, flags);
  } catch (e) {
    const text = (e as Error).message;
    throw new RegexSyntaxError(/out of order/.test(text) ? 'Invalid range end' : text.replace(/^Invalid regular expression: /, ''), 0);
  }
  return { source: out, flags, groups };
}

export interface PcreOptions {
  icase: boolean;
  multiline: boolean;
  dotall: boolean;
  extended: boolean;
  anchored: boolean;
  dollarEndOnly: boolean;
  ungreedy: boolean;
}

/** translatePcre - a PCRE pattern to JS. Unsupported constructs throw RegexSyntaxError. */
export function translatePcre(pattern: string, o: PcreOptions): Translated {
  const opts = { ...o };
  let p = pattern;
  // Leading option settings, e.g. (?i) or (?im-sx), become global flags.
  for (;;) {
    const m = /^\(\?([imsxU]*)(?:-([imsxU]*))?\)/.exec(p);
    if (!m || (m[1] === '' && m[2] === undefined)) break;
    const set = (ch: string, v: boolean): void => {
      if (ch === 'i') opts.icase = v;
      if (ch === 'm') opts.multiline = v;
      if (ch === 's') opts.dotall = v;
      if (ch === 'x') opts.extended = v;
      if (ch === 'U') opts.ungreedy = v;
    };
    for (const ch of m[1]) set(ch, true);
    for (const ch of m[2] ?? '') set(ch, false);
    p = p.slice(m[0].length);
  }
  let out = '';
  let groups = 0;
  let depth = 0;
  const dollar = opts.multiline ? '$' : opts.dollarEndOnly ? '(?![\\s\\S])' : '(?=\\n?(?![\\s\\S]))';
  for (let i = 0; i < p.length; ) {
    const c = p[i];
    if (opts.extended && /\s/.test(c)) {
      i++;
      continue;
    }
    if (opts.extended && c === '#') {
      while (i < p.length && p[i] !== '\n') i++;
      continue;
    }
    if (c === '[') {
      const b = bracket(p, i, false, false);
      out += b.out;
      i = b.end;
      out += quantifierSuffix(p, i, opts);
      i = skipQuantifier(p, i);
      continue;
    }
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined) throw new RegexSyntaxError('\\ at end of pattern', i);
      if (n === 'Q') {
        const end = p.indexOf('\\E', i + 2);
        const lit = end < 0 ? p.slice(i + 2) : p.slice(i + 2, end);
        out += lit.replace(/[\\^$.*+?()[\]{}|\/]/g, (m) => '\\' + m);
        i = end < 0 ? p.length : end + 2;
        continue;
      }
      if (n === 'E') {
        i += 2;
        continue;
      }
      i += 2;
      let t: string;
      switch (n) {
        case 'A':
          t = '(?<![\\s\\S])';
          break;
        case 'z':
          t = '(?![\\s\\S])';
          break;
        case 'Z':
          t = '(?=\\n?(?![\\s\\S]))';
          break;
        case 'G':
        case 'K':
        case 'X':
        case 'C':
          throw new RegexSyntaxError(`\\${n} is not supported`, i - 2);
        case 'h':
          t = '[\\t \\xa0]';
          break;
        case 'H':
          t = '[^\\t \\xa0]';
          break;
        case 'R':
          t = '(?:\\r\\n|[\\n\\v\\f\\r\\x85])';
          break;
        case 'e':
          t = '\\x1b';
          break;
        case 'a':
          t = '\\x07';
          break;
        case 'x':
          if (p[i] === '{') {
            const close = p.indexOf('}', i);
            if (close < 0) throw new RegexSyntaxError('missing } after \\x{', i);
            const hex = p.slice(i + 1, close);
            if (!/^[0-9a-fA-F]{1,4}$/.test(hex)) throw new RegexSyntaxError('character value in \\x{} is too large', i);
            t = '\\u' + hex.padStart(4, '0');
            i = close + 1;
          } else {
            const m = /^[0-9a-fA-F]{0,2}/.exec(p.slice(i))![0];
            t = '\\x' + m.padStart(2, '0');
            i += m.length;
          }
          break;
        default:
          t = /[A-Za-z0-9]/.test(n) ? '\\' + n : literal(n);
      }
      out += t + quantifierSuffix(p, i, opts);
      i = skipQuantifier(p, i);
      continue;
    }
    if (c === '(') {
      if (p[i + 1] === '?') {
        const rest = p.slice(i + 2);
        if (rest.startsWith('#')) {
          const close = p.indexOf(')', i);
          if (close < 0) throw new RegexSyntaxError('missing ) after comment', i);
          i = close + 1;
          continue;
        }
        if (rest.startsWith(':') || rest.startsWith('=') || rest.startsWith('!') || rest.startsWith('<=') || rest.startsWith('<!')) {
          const len = rest.startsWith('<') ? 4 : 3;
          depth++;
          out += p.slice(i, i + len);
          i += len;
          continue;
        }
        const named = /^(?:P?<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')/.exec(rest);
        if (named) {
          groups++;
          depth++;
          out += `(?<${named[1] ?? named[2]}>`;
          i += 2 + named[0].length;
          continue;
        }
        const setting = /^([imsxU]*)(?:-([imsxU]*))?\)/.exec(rest);
        if (setting && (setting[1] !== '' || setting[2] !== undefined)) {
          // A mid-pattern option setting is only possible when it changes nothing.
          const cur: Record<string, boolean> = { i: opts.icase, m: opts.multiline, s: opts.dotall, x: opts.extended, U: opts.ungreedy };
          const same = [...setting[1]].every((f) => cur[f]) && [...(setting[2] ?? '')].every((f) => !cur[f]);
          if (!same) throw new RegexSyntaxError(`option setting (?${setting[0]} inside a pattern is not supported`, i);
          i += 2 + setting[0].length;
          continue;
        }
        const backref = /^P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest);
        if (backref) {
          out += `\\k<${backref[1]}>`;
          i += 2 + backref[0].length;
          continue;
        }
        throw new RegexSyntaxError(`unsupported group construct (?${rest.slice(0, 2)}`, i);
      }
      groups++;
      depth++;
      out += '(';
      i++;
      continue;
    }
    if (c === ')') {
      if (depth === 0) throw new RegexSyntaxError('unmatched closing parenthesis', i);
      depth--;
      out += ')' + quantifierSuffix(p, i + 1, opts);
      i = skipQuantifier(p, i + 1);
      continue;
    }
    if (c === '$') {
      out += dollar;
      i++;
      continue;
    }
    if (c === '^') {
      out += opts.multiline ? '^' : '(?<![\\s\\S])';
      i++;
      continue;
    }
    if (c === '/') {
      out += '\\/' + quantifierSuffix(p, i + 1, opts);
      i = skipQuantifier(p, i + 1);
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || c === '{') {
      // a quantifier with nothing before it, or a literal {
      if (c === '{' && !/^\{\d+(,\d*)?\}/.test(p.slice(i))) {
        out += '\\{';
        i++;
        continue;
      }
      throw new RegexSyntaxError('quantifier does not follow a repeatable item', i);
    }
    out += (c === '.' ? (opts.dotall ? '.' : '[^\n]') : c === '}' || c === ']' ? '\\' + c : c) + quantifierSuffix(p, i + 1, opts);
    i = skipQuantifier(p, i + 1);
  }
  if (depth > 0) throw new RegexSyntaxError('missing closing parenthesis', p.length);
  let flags = '';
  if (opts.icase) flags += 'i';
  if (opts.multiline) flags += 'm';
  if (opts.dotall) flags += 's';
  if (opts.anchored) flags += 'y';
  try {
    new RegExp(out, flags);
  } catch (e) {
    throw new RegexSyntaxError((e as Error).message.replace(/^Invalid regular expression: /, ''), 0);
  }
  return { source: out, flags, groups };
}

const QUANT = /^(?:[*+?]|\{\d+(?:,\d*)?\})/;

/** quantifierSuffix - the quantifier after position i (translated for ungreedy / refused when possessive). */
function quantifierSuffix(p: string, i: number, opts: PcreOptions): string {
  const m = QUANT.exec(p.slice(i));
  if (!m) return '';
  let q = m[0];
  const next = p[i + q.length];
  if (next === '+') throw new RegexSyntaxError('possessive quantifiers are not supported', i);
  const lazy = next === '?';
  if (opts.ungreedy !== lazy) q += '?';
  return q;
}

function skipQuantifier(p: string, i: number): number {
  const m = QUANT.exec(p.slice(i));
  if (!m) return i;
  i += m[0].length;
  if (p[i] === '?' || p[i] === '+') i++;
  return i;
}

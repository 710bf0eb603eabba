/**
 * dict_regexp - `regexp:/file` (POSIX regular expressions) and `pcre:/file`
 * (Perl-compatible) pattern tables (Postfix util/dict_regexp.c, dict_pcre.c).
 *
 * File syntax: `/pattern/flags result`, `!/pattern/ result`,
 * `/pattern1/!/pattern2/ result`, `if /pattern/flags` ... `endif` (nested),
 * `$1`/`${1}` substitution in the result, first match wins. Patterns are
 * translated to JavaScript RegExp (see regex_translate.ts and docs/tables.md);
 * a rule whose pattern cannot be translated is skipped with a warning, like a
 * rule that does not compile in Postfix. The file is read once at open time.
 */

import { strerror } from './msg_logwriter.js';
import { readFileSync } from 'node:fs';
import { msg } from './msg.js';
import { DICT_FLAG, DictBase, DictOpenError } from './dict.js';
import { readLogicalLines } from './dict_text.js';
import { RegexSyntaxError, translatePcre, translatePosix, type Translated } from './regex_translate.js';

interface Pattern {
  re: RegExp;
  match: boolean; // false = negated (!)
}

type Rule =
  | { op: 'match'; line: number; first: Pattern; second?: Pattern; maxSub: number; replacement: string }
  | { op: 'if'; line: number; pat: Pattern; endif: number }
  | { op: 'endif'; line: number };

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9]/.test(c);

/** parseReplacement - the $number references of a replacement text (Postfix mac_parse); error text or max index. */
export function scanReplacement(text: string): { maxSub: number } | { error: string } {
  let maxSub = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$') continue;
    const n = text[i + 1];
    if (n === '$') {
      i++;
      continue;
    }
    let name: string;
    if (n === '{' || n === '(') {
      const close = text.indexOf(n === '{' ? '}' : ')', i + 2);
      if (close < 0) return { error: 'bad replacement syntax' };
      name = text.slice(i + 2, close);
      i = close;
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(text.slice(i + 1));
      if (!m) continue; // a lone $ is literal
      name = m[0];
      i += m[0].length;
    }
    if (!/^\d+$/.test(name)) return { error: `non-numeric replacement index "${name}"` };
    const num = Number(name);
    if (num < 1) return { error: `out-of-range replacement index "${name}"` };
    if (num > maxSub) maxSub = num;
  }
  return { maxSub };
}

/** expandReplacement - substitute $n with the matched substrings ("" for unmatched groups). */
export function expandReplacement(text: string, m: RegExpExecArray): string {
  return text.replace(/\$(\$|\{(\d+)\}|\((\d+)\)|(\d+))/g, (_all, what, a, b, c) => {
    if (what === '$') return '$';
    const n = Number(a ?? b ?? c);
    return m[n] ?? '';
  });
}

export class DictRegexp extends DictBase {
  private readonly rules: Rule[] = [];
  private readonly kind: 'regexp' | 'pcre';

  constructor(type: 'regexp' | 'pcre', name: string, _openFlags: number, dictFlags: number) {
    super(type, name, dictFlags | DICT_FLAG.PATTERN);
    this.kind = type;
    let data: Buffer;
    try {
      data = readFileSync(name);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const text = strerror(err);
      throw new DictOpenError(`open ${name}: ${text}`);
    }
    const ifStack: number[] = [];
    for (const { text, lineNo } of readLogicalLines(data, name)) {
      const rule = this.parseLine(text, lineNo, ifStack.length);
      if (!rule) continue;
      if (rule.op === 'if') ifStack.push(this.rules.length);
      if (rule.op === 'endif') {
        const at = ifStack.pop()!;
        (this.rules[at] as Extract<Rule, { op: 'if' }>).endif = this.rules.length;
      }
      this.rules.push(rule);
    }
    for (const at of ifStack.reverse()) {
      msg.warn(`${this.kind} map ${name}, line ${this.rules[at].line}: IF has no matching ENDIF`);
    }
  }

  private warn(line: number, text: string): undefined {
    msg.warn(`${this.kind} map ${this.name}, line ${line}: ${text}`);
    return undefined;
  }

  /** getPattern - one delimited pattern with its negation and flags; advances pos. */
  private getPattern(line: number, s: string, pos: { i: number }): Pattern | undefined {
    let match = true;
    let i = pos.i;
    for (;;) {
      if (s[i] === '!') match = !match;
      else if (!isSpace(s[i])) break;
      i++;
    }
    if (i >= s.length) return this.warn(line, 'no regexp: skipping this rule');
    const delim = s[i++];
    const start = i;
    while (i < s.length) {
      if (s[i] === '\\') {
        if (i + 1 < s.length) i++;
        else break;
      } else if (s[i] === delim) break;
      i++;
    }
    if (i >= s.length) return this.warn(line, `no closing regexp delimiter "${delim}": skipping this rule`);
    const source = s.slice(start, i++);
    let t: Translated;
    try {
      if (this.kind === 'regexp') {
        const o = { extended: true, icase: true, newline: false };
        while (i < s.length && !isSpace(s[i]) && s[i] !== '!') {
          const f = s[i];
          if (f === 'i') o.icase = !o.icase;
          else if (f === 'm') o.newline = !o.newline;
          else if (f === 'x') o.extended = !o.extended;
          else return this.warn(line, `unknown regexp option "${f}": skipping this rule`);
          i++;
        }
        t = translatePosix(source, o);
      } else {
        const o = { icase: true, multiline: false, dotall: false, extended: false, anchored: false, dollarEndOnly: false, ungreedy: false };
        while (i < s.length && !isSpace(s[i])) {
          const f = s[i];
          if (f === 'i') o.icase = !o.icase;
          else if (f === 'm') o.multiline = !o.multiline;
          else if (f === 's') o.dotall = !o.dotall;
          else if (f === 'x') o.extended = !o.extended;
          else if (f === 'A') o.anchored = !o.anchored;
          else if (f === 'E') o.dollarEndOnly = !o.dollarEndOnly;
          else if (f === 'U') o.ungreedy = !o.ungreedy;
          else if (f === 'X') {
            /* PCRE_EXTRA: stricter escapes; nothing to translate */
          } else return this.warn(line, `unknown regexp option "${f}": skipping this rule`);
          i++;
        }
        t = translatePcre(source, o);
      }
    } catch (e) {
      if (!(e instanceof RegexSyntaxError)) throw e;
      if (this.kind === 'pcre') return this.warn(line, `error in regex at offset ${e.offset}: ${e.message}`);
      return this.warn(line, e.message);
    }
    pos.i = i;
    const re = new RegExp(t.source, t.flags);
    (re as RegExp & { groupCount?: number }).groupCount = t.groups;
    return { re, match };
  }

  private parseLine(s: string, line: number, nesting: number): Rule | undefined {
    if (!isAlnum(s[0])) {
      const pos = { i: 0 };
      const first = this.getPattern(line, s, pos);
      if (!first) return undefined;
      let second: Pattern | undefined;
      if (this.kind === 'regexp' && s[pos.i] === '!') {
        second = this.getPattern(line, s, pos);
        if (!second) return undefined;
      }
      while (pos.i < s.length && isSpace(s[pos.i])) pos.i++;
      const replacement = s.slice(pos.i);
      if (replacement === '') this.warn(line, 'no replacement text: using empty string');
      const scan = scanReplacement(replacement);
      if ('error' in scan) {
        this.warn(line, scan.error);
        return this.warn(line, 'bad replacement syntax: skipping this rule');
      }
      if (scan.maxSub > 0 && !first.match) {
        return this.warn(line, '$number found in negative match replacement text: skipping this rule');
      }
      if (scan.maxSub > 0 && this.flags & DICT_FLAG.NO_REGSUB) {
        return this.warn(line, 'regular expression substitution is not allowed: skipping this rule');
      }
      const groups = (first.re as RegExp & { groupCount?: number }).groupCount ?? 0;
      if (scan.maxSub > groups) {
        return this.warn(line, `out of range replacement index "${scan.maxSub}": skipping this rule`);
      }
      return { op: 'match', line, first, second, maxSub: scan.maxSub, replacement: scan.maxSub ? replacement : replacement.replace(/\$\$/g, '$') };
    }
    if (/^if(?![A-Za-z0-9])/i.test(s)) {
      const pos = { i: 2 };
      while (pos.i < s.length && isSpace(s[pos.i])) pos.i++;
      const pat = this.getPattern(line, s, pos);
      if (!pat) return undefined;
      while (pos.i < s.length && isSpace(s[pos.i])) pos.i++;
      if (pos.i < s.length) {
        this.warn(line, `ignoring extra text after IF statement: "${s.slice(pos.i)}"`);
        this.warn(line, 'do not prepend whitespace to statements between IF and ENDIF');
      }
      return { op: 'if', line, pat, endif: -1 };
    }
    if (/^endif(?![A-Za-z0-9])/i.test(s)) {
      if (nesting === 0) return this.warn(line, 'ignoring ENDIF without matching IF');
      if (s.slice(5).trim() !== '') this.warn(line, 'ignoring extra text after ENDIF');
      return { op: 'endif', line };
    }
    return this.warn(line, 'ignoring unrecognized request');
  }

  private test(p: Pattern, key: string): RegExpExecArray | null | boolean {
    p.re.lastIndex = 0;
    const m = p.re.exec(key);
    return p.match ? m : m === null;
  }

  async lookup(key: string): Promise<string | null> {
    const k = this.flags & DICT_FLAG.FOLD_MUL ? key.toLowerCase() : key;
    for (let n = 0; n < this.rules.length; n++) {
      const rule = this.rules[n];
      if (rule.op === 'match') {
        const m = this.test(rule.first, k);
        if (!m) continue;
        if (rule.second && !this.test(rule.second, k)) continue;
        if (rule.maxSub === 0) return rule.replacement;
        return expandReplacement(rule.replacement, m as RegExpExecArray);
      }
      if (rule.op === 'if') {
        if (this.test(rule.pat, k)) continue;
        if (rule.endif < 0) return null;
        n = rule.endif;
      }
    }
    return null;
  }
}

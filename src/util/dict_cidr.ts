/**
 * dict_cidr - `cidr:/file` tables of `network/length result` rules, first
 * match wins, `!` negation, `if`/`endif` blocks (Postfix util/dict_cidr.c,
 * cidr_match.c). Also exports the CIDR parser and matcher that match lists
 * (mynetworks) use. The file is read once at open time.
 */

import { strerror } from './msg_logwriter.js';
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { msg } from './msg.js';
import { DICT_FLAG, DictBase, DictOpenError } from './dict.js';
import { readLogicalLines } from './dict_text.js';

export interface CidrPattern {
  family: 4 | 6;
  net: bigint;
  mask: bigint;
  bits: number;
  match: boolean;
}

/** ipToBigint - an IPv4 or IPv6 text address as a number, or undefined when it is not one. */
export function ipToBigint(addr: string): { family: 4 | 6; value: bigint } | undefined {
  if (isIPv4(addr)) {
    const parts = addr.split('.').map(Number);
    return { family: 4, value: BigInt(((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3]) };
  }
  let a = addr;
  const pct = a.indexOf('%');
  if (pct >= 0) a = a.slice(0, pct);
  if (!isIPv6(a)) return undefined;
  // Expand an embedded IPv4 tail and the :: shorthand.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const n = ipToBigint(v4[1])!.value;
    a = a.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(parseInt(g, 16));
  return { family: 6, value };
}

/** bigintToIp - the canonical text form (for the "perhaps you should use" hint). */
export function bigintToIp(family: 4 | 6, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((v >> s) & 0xffffn).toString(16));
  // compress the longest run of zero groups
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * parseCidr - `addr`, `addr/len`, `[addr]`, `[addr]/len`, `[addr/len]`;
 * returns the pattern or Postfix's error text.
 */
export function parseCidr(text: string, match = true): CidrPattern | { error: string } {
  let pattern = text;
  let maskSearch: string;
  if (pattern.startsWith('[')) {
    pattern = pattern.slice(1);
    const close = pattern.indexOf(']');
    if (close < 0) return { error: `missing ']' character after "[${pattern}"` };
    const after = pattern.slice(close + 1);
    pattern = pattern.slice(0, close);
    if (!after.startsWith('/')) {
      if (after !== '') return { error: `garbage after "[${pattern}]"` };
      maskSearch = pattern;
    } else {
      maskSearch = pattern + after;
    }
  } else {
    maskSearch = pattern;
  }
  const slash = maskSearch.indexOf('/');
  if (slash >= 0) {
    const addr = maskSearch.slice(0, slash);
    const mask = maskSearch.slice(slash + 1);
    const family = addr.includes(':') ? 6 : 4;
    const bits = family === 4 ? 32 : 128;
    let error: string | undefined;
    const ip = ipToBigint(addr);
    if (!/^\d+$/.test(mask)) error = 'bad mask value';
    else if (Number(mask) > bits) error = 'bad mask length';
    else if (!ip || ip.family !== family) error = 'bad network value';
    if (error) return { error: `${error} in "${addr}/${mask}"` };
    const len = Number(mask);
    const all = (1n << BigInt(bits)) - 1n;
    const m = len === 0 ? 0n : (all << BigInt(bits - len)) & all;
    if (ip!.value & ~m & all) {
      return {
        error: `non-null host address bits in "${addr}/${mask}", perhaps you should use "${bigintToIp(family, ip!.value & m)}/${len}" instead`,
      };
    }
    return { family, net: ip!.value, mask: m, bits: len, match };
  }
  const ip = ipToBigint(maskSearch);
  const family = maskSearch.includes(':') ? 6 : 4;
  if (!ip || ip.family !== family) return { error: `bad address pattern: "${maskSearch}"` };
  const bits = family === 4 ? 32 : 128;
  return { family, net: ip.value, mask: (1n << BigInt(bits)) - 1n, bits, match };
}

/** cidrMatch - does the address match the pattern (negation applied)? */
export function cidrMatch(p: CidrPattern, addr: { family: 4 | 6; value: bigint } | undefined): boolean {
  if (!addr || addr.family !== p.family) return false;
  return ((addr.value & p.mask) === p.net) === p.match;
}

type RuleBody =
  | { op: 'match'; pat: CidrPattern; value: string }
  | { op: 'if'; pat: CidrPattern; endif: number }
  | { op: 'endif' };
type Rule = RuleBody & { line: number };

export class DictCidr extends DictBase {
  private readonly rules: Rule[] = [];

  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('cidr', name, dictFlags | DICT_FLAG.PATTERN);
    let data: Buffer;
    try {
      data = readFileSync(name);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const text = strerror(err);
      throw new DictOpenError(`open ${name}: ${text}`);
    }
    const stack: number[] = [];
    for (const { text, lineNo } of readLogicalLines(data, name)) {
      const r = this.parse(text, stack.length);
      if ('error' in r) {
        msg.warn(`cidr map ${name}, line ${lineNo}: ${r.error}: skipping this rule`);
        continue;
      }
      const rule = { ...r, line: lineNo } as Rule;
      if (rule.op === 'if') stack.push(this.rules.length);
      if (rule.op === 'endif') (this.rules[stack.pop()!] as Extract<Rule, { op: 'if' }>).endif = this.rules.length;
      this.rules.push(rule);
    }
    for (const at of stack.reverse()) msg.warn(`cidr map ${name}, line ${this.rules[at].line}: IF has no matching ENDIF`);
  }

  private parse(s: string, nesting: number): RuleBody | { error: string } {
    let match = true;
    let p = s;
    if (/^if(?![A-Za-z0-9])/i.test(p)) {
      p = p.slice(2);
      for (;;) {
        if (p[0] === '!') match = !match;
        else if (!/^\s/.test(p)) break;
        p = p.slice(1);
      }
      p = p.trimEnd();
      if (p === '') return { error: 'no address pattern' };
      const pat = parseCidr(p, match);
      if ('error' in pat) return pat;
      return { op: 'if', pat, endif: -1 };
    }
    if (/^endif(?![A-Za-z0-9])/i.test(p)) {
      if (p.slice(5).trim() !== '') return { error: 'garbage after ENDIF' };
      if (nesting === 0) return { error: 'ENDIF without IF' };
      return { op: 'endif' };
    }
    for (;;) {
      if (p[0] === '!') match = !match;
      else if (!/^\s/.test(p)) break;
      p = p.slice(1);
    }
    const m = /^(\S*)\s*([\s\S]*)$/.exec(p)!;
    const value = m[2].trimEnd();
    if (m[1] === '') return { error: 'no address pattern' };
    const pat = parseCidr(m[1], match);
    if ('error' in pat) return pat;
    if (value === '') return { error: 'no lookup result' };
    return { op: 'match', pat, value };
  }

  async lookup(key: string): Promise<string | null> {
    const addr = ipToBigint(key);
    if (!addr) return null;
    for (let n = 0; n < this.rules.length; n++) {
      const r = this.rules[n];
      if (r.op === 'match') {
        if (cidrMatch(r.pat, addr)) return r.value;
      } else if (r.op === 'if') {
        if (cidrMatch(r.pat, addr)) continue;
        if (r.endif < 0) return null;
        n = r.endif;
      }
    }
    return null;
  }
}

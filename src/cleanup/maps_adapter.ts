/**
 * maps_adapter - the one place where cleanup and trivial-rewrite open
 * lookup tables (Postfix global/maps.c, mail_addr_find.c), until the shared
 * table layer (src/global/maps.ts) is available.
 *
 * openMaps(title, "type:name, type:name ...") returns a Maps-like object
 * whose lookup() gives the first hit, null when no table has the key, and
 * throws when a table fails. When src/global/maps.ts exports a `Maps`
 * class it is used; otherwise a small built-in reader handles regexp:,
 * pcre:, inline:, static:, and the indexed types (hash:, lmdb:, btree:,
 * cdb:, texthash:) by reading the postmap *source* file. mailAddrFind()
 * applies Postfix's address lookup order.
 */

import { readFileSync } from 'node:fs';
import { msg } from '../util/msg.js';
import { splitList, stripBraces } from '../global/mail_conf.js';

export interface MapsLike {
  readonly title: string;
  lookup(key: string): Promise<string | null>;
  /** true when every table is a pattern table (regexp:, pcre:, static:) */
  readonly isPattern?: boolean;
}

export class MapsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MapsError';
  }
}

interface Table {
  pattern: boolean;
  lookup(key: string): string | null;
}

/** expandSubst - $1..$9, ${n}, $$ in a regexp table result. */
function expandSubst(result: string, m: RegExpExecArray): string {
  return result.replace(/\$(\$|\d|\{(\d+)\})/g, (_all, what: string, braced?: string) => {
    if (what === '$') return '$';
    const n = Number(braced ?? what);
    return m[n] ?? '';
  });
}

/** parseRegexpTable - Postfix regexp_table(5)/pcre_table(5) syntax, translated to JavaScript RegExp. */
function parseRegexpTable(path: string, text: string, pcre: boolean): Table {
  interface Rule {
    re: RegExp;
    negate: boolean;
    result: string | null; // null: "if" rule
    endifAt: number;
  }
  const rules: Rule[] = [];
  const stack: number[] = [];
  const lines = text.split('\n');
  let logical: Array<{ text: string; no: number }> = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    if (/^\s*(#|$)/.test(raw)) continue;
    if (/^\s/.test(raw) && logical.length > 0) logical[logical.length - 1].text += ' ' + raw.trim();
    else logical.push({ text: raw.trim(), no: i + 1 });
  }
  for (const { text: line, no } of logical) {
    if (/^endif\b/i.test(line)) {
      const at = stack.pop();
      if (at === undefined) throw new MapsError(`${path}, line ${no}: ignoring ENDIF without matching IF`);
      rules[at].endifAt = rules.length;
      continue;
    }
    let rest = line;
    let isIf = false;
    const ifm = /^if\s+/i.exec(rest);
    if (ifm) {
      isIf = true;
      rest = rest.slice(ifm[0].length);
    }
    let negate = false;
    if (rest.startsWith('!')) {
      negate = true;
      rest = rest.slice(1);
    }
    const delim = rest[0];
    if (!delim) throw new MapsError(`${path}, line ${no}: no regexp`);
    let j = 1;
    let pat = '';
    while (j < rest.length && rest[j] !== delim) {
      if (rest[j] === '\\' && rest[j + 1] === delim) {
        pat += delim;
        j += 2;
        continue;
      }
      if (rest[j] === '\\' && j + 1 < rest.length) {
        pat += rest[j] + rest[j + 1];
        j += 2;
        continue;
      }
      pat += rest[j++];
    }
    if (j >= rest.length) throw new MapsError(`${path}, line ${no}: no closing regexp delimiter "${delim}"`);
    j++;
    let icase = true;
    let flags = '';
    while (j < rest.length && /[A-Za-z]/.test(rest[j])) {
      const f = rest[j++];
      if (f === 'i') icase = !icase;
      else if (f === 'm') flags += 'm';
      else if (f === 's' && pcre) flags += 's';
      else if (f === 'x') pat = pat.replace(/\s+|#.*$/gm, '');
    }
    const result = rest.slice(j).trim();
    let re: RegExp;
    try {
      re = new RegExp(pat, (icase ? 'i' : '') + flags);
    } catch (e) {
      throw new MapsError(`${path}, line ${no}: ${(e as Error).message}`);
    }
    if (isIf) {
      stack.push(rules.length);
      rules.push({ re, negate, result: null, endifAt: -1 });
    } else {
      if (result === '') throw new MapsError(`${path}, line ${no}: no replacement text`);
      rules.push({ re, negate, result, endifAt: -1 });
    }
  }
  for (const at of stack) rules[at].endifAt = rules.length;
  return {
    pattern: true,
    lookup(key: string): string | null {
      for (let i = 0; i < rules.length; i++) {
        const r = rules[i];
        const m = r.re.exec(key);
        const hit = r.negate ? m === null : m !== null;
        if (r.result === null) {
          if (!hit) i = r.endifAt - 1;
          continue;
        }
        if (hit) return m ? expandSubst(r.result, m) : r.result;
      }
      return null;
    },
  };
}

/** parseSourceTable - a postmap source file: "key value" lines, keys folded to lower case. */
function parseSourceTable(text: string): Table {
  const map = new Map<string, string>();
  const lines = text.split('\n');
  let cur: [string, string] | null = null;
  const flush = () => {
    if (cur && !map.has(cur[0])) map.set(cur[0], cur[1]);
    cur = null;
  };
  for (const raw0 of lines) {
    const raw = raw0.replace(/\r$/, '');
    if (/^\s*(#|$)/.test(raw)) continue;
    if (/^\s/.test(raw) && cur) {
      cur[1] += ' ' + raw.trim();
      continue;
    }
    flush();
    const m = /^(\S+)(?:\s+(.*))?$/.exec(raw.trim());
    if (!m) continue;
    let key = m[1];
    const value = m[2] ?? '';
    if (key.endsWith(':')) key = key.slice(0, -1); // aliases(5) syntax
    cur = [key.toLowerCase(), value.trim()];
  }
  flush();
  return { pattern: false, lookup: (key) => map.get(key.toLowerCase()) ?? null };
}

function parseInline(spec: string): Table {
  const map = new Map<string, string>();
  for (const item of splitList(stripBraces(spec))) {
    const kv = stripBraces(item);
    const eq = kv.indexOf('=');
    if (eq < 0) throw new MapsError(`inline:${spec}: missing '=' in "${kv}"`);
    map.set(kv.slice(0, eq).trim().toLowerCase(), kv.slice(eq + 1).trim());
  }
  return { pattern: false, lookup: (key) => map.get(key.toLowerCase()) ?? null };
}

function openTable(spec: string): Table {
  const colon = spec.indexOf(':');
  if (colon < 0) throw new MapsError(`table "${spec}": missing table type`);
  const type = spec.slice(0, colon).toLowerCase();
  const name = spec.slice(colon + 1);
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new MapsError(`open database ${path}: ${(e as Error).message}`);
    }
  };
  switch (type) {
    case 'regexp':
    case 'pcre':
      return parseRegexpTable(name, read(name), type === 'pcre');
    case 'static':
      return { pattern: true, lookup: () => stripBraces(name) };
    case 'inline':
      return parseInline(name);
    case 'hash':
    case 'btree':
    case 'lmdb':
    case 'cdb':
    case 'dbm':
    case 'texthash':
      return parseSourceTable(read(name));
    default:
      throw new MapsError(`unsupported dictionary type: ${type}`);
  }
}

/** openMaps - open a list of tables as one Maps, or null when the list is empty. */
export async function openMaps(title: string, specList: string): Promise<MapsLike | null> {
  const specs = splitList(specList);
  if (specs.length === 0) return null;
  const modPath = '../global/maps.js';
  const mod = (await import(modPath).catch(() => null)) as
    | { Maps?: new (title: string, specs: string, flags?: number) => MapsLike }
    | null;
  if (mod?.Maps) {
    try {
      const m = new mod.Maps(title, specList);
      if (typeof m.lookup === 'function') return m;
    } catch (e) {
      msg.warn(`${title}: ${(e as Error).message}`);
    }
  }
  const tables: Table[] = [];
  const broken: string[] = [];
  for (const spec of specs) {
    try {
      tables.push(openTable(spec));
    } catch (e) {
      msg.warn(`${title}: ${(e as Error).message}`);
      broken.push(spec);
    }
  }
  return {
    title,
    isPattern: tables.every((t) => t.pattern),
    async lookup(key: string): Promise<string | null> {
      for (const t of tables) {
        const v = t.lookup(key);
        if (v !== null) return v;
      }
      if (broken.length > 0) throw new MapsError(`${title}: table lookup problem: ${broken.join(', ')}`);
      return null;
    },
  };
}

export interface AddrFindOptions {
  /** recipient_delimiter characters ("" = none) */
  delimiter: string;
  /** is the domain one of ours ($myorigin, $mydestination, interfaces)? */
  isLocalDomain(domain: string): boolean;
  /** propagate an unmatched extension into the result (propagate_unmatched_extensions) */
  propagate?: boolean;
}

/** splitExtension - "user+ext" to ["user", "+ext"] using the first delimiter character found. */
export function splitExtension(local: string, delimiters: string): [string, string] {
  if (!delimiters) return [local, ''];
  for (let i = 1; i < local.length; i++) {
    if (delimiters.includes(local[i])) return [local.slice(0, i), local.slice(i)];
  }
  return [local, ''];
}

/**
 * mailAddrFind - look up an internal-form address in Postfix order:
 * user+ext@domain, user@domain, then (local domains only) user+ext and user,
 * then @domain. Pattern tables see only the full address.
 */
export async function mailAddrFind(maps: MapsLike, address: string, opts: AddrFindOptions): Promise<string | null> {
  if (maps.isPattern) return maps.lookup(address);
  const at = address.lastIndexOf('@');
  const local = at >= 0 ? address.slice(0, at) : address;
  const domain = at >= 0 ? address.slice(at + 1) : '';
  const [bare, ext] = splitExtension(local, opts.delimiter);
  const withExt = (result: string): string => {
    if (!ext || !opts.propagate) return result;
    const rat = result.lastIndexOf('@');
    return rat >= 0 ? result.slice(0, rat) + ext + result.slice(rat) : result + ext;
  };
  let v = await maps.lookup(address);
  if (v !== null) return v;
  if (ext && at >= 0) {
    v = await maps.lookup(`${bare}@${domain}`);
    if (v !== null) return withExt(v);
  }
  if (at < 0 || opts.isLocalDomain(domain)) {
    if (at >= 0) {
      v = await maps.lookup(local);
      if (v !== null) return v;
    }
    if (ext) {
      v = await maps.lookup(bare);
      if (v !== null) return withExt(v);
    }
  }
  if (at >= 0) {
    v = await maps.lookup(`@${domain}`);
    if (v !== null) return v;
  }
  return null;
}

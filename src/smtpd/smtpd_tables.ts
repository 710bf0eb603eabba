/**
 * smtpd_tables - the lookup tables smtpd consults (access maps,
 * local_recipient_maps, canonical and virtual maps ...), behind one small
 * interface (Postfix util/dict_*.c, global/maps.c).
 *
 * This adapter reads the simple table types itself (static:, inline:,
 * texthash:, regexp:, cidr:, unix:passwd.byname, proxy: wrapping any of
 * them) and hands every other type (hash:, lmdb:, btree:, sqlite: ...) to
 * src/global/maps.ts when that module is present. Keys are folded to lower
 * case as Postfix does for indexed tables.
 */

import { readFileSync } from 'node:fs';
import { msg } from '../util/msg.js';
import { splitList, stripBraces } from '../global/mail_conf.js';

/** A lookup failed temporarily (DICT_ERR_RETRY) or the table is unusable (DICT_ERR_CONFIG). */
export class TableError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
    this.name = 'TableError';
  }
}

export interface Table {
  readonly spec: string;
  /** lookup - the value for a key, or undefined; throws TableError */
  lookup(key: string): Promise<string | undefined>;
}

type Matcher = (key: string) => string | undefined;

class FnTable implements Table {
  constructor(
    readonly spec: string,
    private readonly fn: Matcher,
  ) {}
  async lookup(key: string): Promise<string | undefined> {
    return this.fn(key);
  }
}

class FailTable implements Table {
  constructor(
    readonly spec: string,
    private readonly why: string,
  ) {}
  async lookup(): Promise<string | undefined> {
    throw new TableError(`${this.spec}: ${this.why}`, false);
  }
}

/** parseTextTable - "key value" lines with continuation and comments (postmap input syntax). */
function parseTextTable(text: string): Map<string, string> {
  const map = new Map<string, string>();
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (/^\s*(#|$)/.test(line)) continue;
    if (/^\s/.test(line) && lines.length > 0) lines[lines.length - 1] += ' ' + line.trim();
    else lines.push(line.trim());
  }
  for (const line of lines) {
    const m = /^("(?:[^"\\]|\\.)*"|\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    let key = m[1];
    if (key.startsWith('"')) key = key.slice(1, -1).replace(/\\(.)/g, '$1');
    let value = m[2];
    // postalias syntax "key: value"
    if (key.endsWith(':') && !value.startsWith(':')) key = key.slice(0, -1);
    value = value.trim();
    const k = key.toLowerCase();
    if (!map.has(k)) map.set(k, value);
  }
  return map;
}

/** regexpTable - Postfix regexp: syntax, /pattern/flags result, first match wins. */
function regexpMatcher(lines: string[]): Matcher {
  const rules: Array<{ re: RegExp; negate: boolean; result: string }> = [];
  for (const line of lines) {
    const m = /^(!?)\/((?:[^/\\]|\\.)*)\/([imx]*)\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    const flags = m[3].includes('i') ? '' : 'i';
    rules.push({ re: new RegExp(m[2], flags), negate: m[1] === '!', result: m[4] });
  }
  return (key) => {
    for (const r of rules) {
      const hit = r.re.exec(key);
      if (r.negate ? !hit : hit) {
        return hit ? r.result.replace(/\$(\d)|\$\{(\d)\}/g, (_s, a, b) => hit[Number(a ?? b)] ?? '') : r.result;
      }
    }
    return undefined;
  };
}

function passwdMatcher(): Matcher {
  let names: Set<string> | null = null;
  return (key) => {
    if (names === null) {
      names = new Set();
      try {
        for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
          const name = line.split(':')[0];
          if (name) names.add(name);
        }
      } catch {
        // an unreadable passwd file matches nobody
      }
    }
    // unix:passwd.byname is case-sensitive and has no domain part
    return names.has(key) ? key : undefined;
  };
}

const tableCache = new Map<string, Table>();

/** Optional bridge to src/global/maps.ts (loaded on first need). */
let globalMaps: { open?: (spec: string) => unknown; dictOpen?: (spec: string) => unknown } | null | undefined;

async function loadGlobalMaps(): Promise<typeof globalMaps> {
  if (globalMaps !== undefined) return globalMaps;
  const path = '../global/maps.js';
  try {
    globalMaps = (await import(path)) as typeof globalMaps;
  } catch {
    globalMaps = null;
  }
  return globalMaps;
}

/** openTable - a table by its "type:name"; unknown types fail at lookup time, as Postfix surrogates. */
export function openTable(spec: string): Table {
  const cached = tableCache.get(spec);
  if (cached) return cached;
  const table = makeTable(spec);
  tableCache.set(spec, table);
  return table;
}

/** clearTableCache - forget opened tables (tests, reload). */
export function clearTableCache(): void {
  tableCache.clear();
}

function makeTable(spec: string): Table {
  const colon = spec.indexOf(':');
  if (colon < 0) return new FailTable(spec, 'no table type');
  const type = spec.slice(0, colon).toLowerCase();
  const name = spec.slice(colon + 1);
  switch (type) {
    case 'proxy':
      return openTable(name);
    case 'static':
      return new FnTable(spec, () => stripBraces(name));
    case 'fail':
      return new FailTable(spec, 'table lookup failure');
    case 'inline': {
      const map = new Map<string, string>();
      for (const item of splitList(stripBraces(name))) {
        const body = stripBraces(item);
        const eq = body.indexOf('=');
        if (eq < 0) continue;
        map.set(body.slice(0, eq).trim().toLowerCase(), body.slice(eq + 1).trim());
      }
      return new FnTable(spec, (k) => map.get(k.toLowerCase()));
    }
    case 'texthash': {
      let map: Map<string, string>;
      try {
        map = parseTextTable(readFileSync(name, 'utf8'));
      } catch (e) {
        msg.warn(`open ${name}: ${(e as Error).message}`);
        return new FailTable(spec, 'open failed');
      }
      return new FnTable(spec, (k) => map.get(k.toLowerCase()));
    }
    case 'regexp':
    case 'pcre': {
      let lines: string[];
      if (name.startsWith('{')) {
        lines = splitList(stripBraces(name)).map(stripBraces);
      } else {
        try {
          lines = readFileSync(name, 'utf8')
            .split('\n')
            .filter((l) => !/^\s*(#|$)/.test(l));
        } catch {
          return new FailTable(spec, 'open failed');
        }
      }
      return new FnTable(spec, regexpMatcher(lines));
    }
    case 'unix':
      if (name === 'passwd.byname') return new FnTable(spec, passwdMatcher());
      return new FailTable(spec, 'unsupported unix map');
    case 'nis':
    case 'nisplus':
    case 'ldap':
      // not built in (as a Postfix built without them); matches nothing
      return new FnTable(spec, () => undefined);
    default:
      return new BridgeTable(spec);
  }
}

/** BridgeTable - any other type, served by src/global/maps.ts. */
class BridgeTable implements Table {
  private inner: { lookup?: (k: string) => unknown; get?: (k: string) => unknown } | null = null;
  constructor(readonly spec: string) {}
  async lookup(key: string): Promise<string | undefined> {
    if (!this.inner) {
      const maps = await loadGlobalMaps();
      const opener = maps?.dictOpen ?? maps?.open;
      if (!opener) throw new TableError(`${this.spec}: unsupported dictionary type`, false);
      this.inner = (await opener(this.spec)) as typeof this.inner;
    }
    const fn = this.inner?.lookup ?? this.inner?.get;
    if (!fn) throw new TableError(`${this.spec}: no lookup method`, false);
    const v = await fn.call(this.inner, key.toLowerCase());
    if (v === null || v === undefined) return undefined;
    return String(v);
  }
}

/** Maps - a list of tables searched in order (global/maps.c maps_find). */
export class Maps {
  readonly tables: Table[];
  constructor(
    readonly title: string,
    specs: string[],
  ) {
    this.tables = specs.filter((s) => s.includes(':')).map(openTable);
  }
  static fromParam(title: string, value: string): Maps {
    return new Maps(title, splitList(value));
  }
  get empty(): boolean {
    return this.tables.length === 0;
  }
  async find(key: string): Promise<string | undefined> {
    for (const t of this.tables) {
      const v = await t.lookup(key);
      if (v !== undefined) return v;
    }
    return undefined;
  }
}

/**
 * mailAddrFind - look up an address in maps the way Postfix does for
 * non-regexp tables (global/mail_addr_find.c): user@domain (with and without
 * the recipient_delimiter extension), then user (when the domain is local,
 * handled by the caller through localPart), then @domain.
 */
export async function mailAddrFind(maps: Maps, address: string, delimiter: string, localDomain: boolean): Promise<string | undefined> {
  // Postfix case-folds the address before the lookups
  const addr = address.toLowerCase();
  const at = addr.lastIndexOf('@');
  const local = at >= 0 ? addr.slice(0, at) : addr;
  const domain = at >= 0 ? addr.slice(at + 1) : '';
  const stripped = stripExtension(local, delimiter);
  const keys: string[] = [addr];
  if (stripped !== local) keys.push(domain ? `${stripped}@${domain}` : stripped);
  if (localDomain || !domain) {
    keys.push(local);
    if (stripped !== local) keys.push(stripped);
  }
  if (domain) keys.push(`@${domain}`);
  for (const key of keys) {
    const v = await maps.find(key);
    if (v !== undefined) return v;
  }
  return undefined;
}

function stripExtension(local: string, delimiter: string): string {
  if (!delimiter) return local;
  for (const d of delimiter) {
    const i = local.indexOf(d);
    if (i > 0) return local.slice(0, i);
  }
  return local;
}

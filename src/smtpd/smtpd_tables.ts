/**
 * smtpd_tables - the lookup tables smtpd consults (access maps,
 * local_recipient_maps, canonical and virtual maps ...), behind one small
 * interface (Postfix util/dict_*.c, global/maps.c).
 *
 * Every table type comes from the shared dictionary layer (src/util/dict*,
 * lmdb/hash/btree, texthash, inline, static, regexp, pcre, cidr, unix ...),
 * opened read-only with the access-map flags (case folding as Postfix).
 * A "proxy:" prefix is read directly instead of through proxymap.
 */

import { msg } from '../util/msg.js';
import { splitList } from '../global/mail_conf.js';
import { DICT_FLAG_DEFAULT_MAPS, DictError, O_RDONLY, type Dict } from '../util/dict.js';

/**
 * The dictionary layer is loaded on the first table lookup: it pulls in the
 * native lmdb and sqlite modules (about 4 MiB per process), which a relay-only
 * smtpd with the default settings never needs.
 */
let dictOpenMod: Promise<typeof import('../util/dict_open.js')> | undefined;
function dictOpenLoad(): Promise<typeof import('../util/dict_open.js')> {
  dictOpenMod ??= import('../util/dict_open.js');
  return dictOpenMod;
}

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

class FailTable implements Table {
  constructor(
    readonly spec: string,
    private readonly why: string,
  ) {}
  async lookup(): Promise<string | undefined> {
    throw new TableError(`${this.spec}: ${this.why}`, false);
  }
}

const tableCache = new Map<string, Table>();

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
  if (type === 'proxy') return openTable(name);
  return new DictTable(spec);
}

/** DictTable - a table served by the shared dictionary layer (src/util/dict*.ts). */
class DictTable implements Table {
  private dict: Dict | null = null;
  constructor(readonly spec: string) {}
  async lookup(key: string): Promise<string | undefined> {
    try {
      if (!this.dict) this.dict = (await dictOpenLoad()).dictOpenShared(this.spec, O_RDONLY, DICT_FLAG_DEFAULT_MAPS);
      const v = await this.dict.lookup(key);
      return v === null ? undefined : v;
    } catch (e) {
      if (e instanceof DictError) throw new TableError(`${this.spec}: ${e.message}`, e.kind === 'retry');
      throw e;
    }
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

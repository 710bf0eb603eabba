/**
 * dict_sqlite - `sqlite:/etc/postfix/file.cf` tables (Postfix
 * global/dict_sqlite.c, db_common.c, sqlite_table(5)) on better-sqlite3.
 *
 * The .cf file uses main.cf syntax: `dbpath`, `query` (or the legacy
 * `table`/`select_field`/`where_field`/`additional_conditions`),
 * `result_format`, `domain`, `expansion_limit`. Query templates expand %s
 * (key), %u (local part), %d (domain), %1..%9 (domain labels from the right),
 * %% ; values are quoted for SQL ('' doubling). Result templates use the
 * lower-case forms for the result and the upper-case forms for the key.
 * Several rows are joined with commas. The database is opened read-only.
 */

import { strerror } from './msg_logwriter.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { parseMainCf, splitList, ConfigFileError } from '../global/mail_conf.js';
import { msg } from './msg.js';
import { DICT_FLAG, DictBase, DictError, DictOpenError, dictMainConfig } from './dict.js';

/** better-sqlite3 is loaded on first use (only sqlite: tables need it). */
let sqliteModule: typeof Database | undefined;
function openSqlite(path: string, options: Database.Options): Database.Database {
  sqliteModule ??= createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  return new sqliteModule(path, options);
}

const KEY_DOMAIN = 1;
const KEY_USER = 2;
const VALUE_DOMAIN = 4;
const VALUE_USER = 8;
const KEY_PARTS = 16;

/** DbCommon - the query/result template logic shared by Postfix's SQL and LDAP tables (db_common.c). */
export class DbCommon {
  flags = 0;
  nparts = 0;

  constructor(
    readonly dictName: string,
    readonly query: string,
    readonly resultFormat: string,
    readonly domains: string[] | undefined,
  ) {
    this.scan(query, true);
    this.scan(resultFormat, false);
  }

  private scan(format: string, isQuery: boolean): void {
    for (let i = 0; i < format.length; i++) {
      if (format[i] !== '%') continue;
      const c = format[++i];
      if (c === 'd') this.flags |= isQuery ? KEY_DOMAIN : VALUE_DOMAIN;
      else if (c === 'u') this.flags |= isQuery ? KEY_USER : VALUE_USER;
      else if (c === 'D') this.flags |= KEY_DOMAIN;
      else if (c === 'U') this.flags |= KEY_USER;
      else if (c >= '1' && c <= '9') {
        this.flags |= KEY_PARTS | (isQuery ? KEY_DOMAIN : 0);
        this.nparts = Math.max(this.nparts, Number(c));
      } else if (c === 's' || c === 'S' || c === '%') {
        /* ok */
      } else throw new DictOpenError(`db_common_parse: ${this.dictName}: Invalid ${isQuery ? 'query' : 'result'} template: ${format}`);
    }
  }

  /** checkDomain - may this key be looked up at all (domain restriction, %d/%u needs)? */
  keyOk(key: string): boolean {
    const at = key.lastIndexOf('@');
    if (this.domains) {
      if (at < 0) return false;
      const d = key.slice(at + 1).toLowerCase();
      if (!this.domains.some((x) => x.toLowerCase() === d)) return false;
    }
    const domain = at >= 0 ? key.slice(at + 1) : '';
    if (this.flags & KEY_DOMAIN && domain === '') return false;
    if (this.flags & KEY_USER && at === 0) return false;
    if (this.nparts > 0) {
      const parts = domain.split('.');
      if (parts.length < this.nparts) return false;
      for (let i = 0; i < this.nparts; i++) if (parts[parts.length - 1 - i] === '') return false;
    }
    return true;
  }

  /** expand - fill in a template; value = key for queries, result value for result formats. */
  expand(format: string, value: string, key: string | undefined, quote: (s: string) => string): string | undefined {
    const vat = value.lastIndexOf('@');
    const vdomain = vat >= 0 ? value.slice(vat + 1) : undefined;
    if (key !== undefined) {
      if ((this.flags & VALUE_DOMAIN && !vdomain) || (this.flags & VALUE_USER && vat === 0)) return undefined;
    }
    const kat = key !== undefined ? key.lastIndexOf('@') : vat;
    const kdomain = key !== undefined ? (kat >= 0 ? key.slice(kat + 1) : undefined) : vdomain;
    const kuser = key !== undefined ? (kat >= 0 ? key.slice(0, kat) : key) : undefined;
    const labels = (kdomain ?? '').split('.');
    let out = '';
    for (let i = 0; i < format.length; i++) {
      const ch = format[i];
      if (ch !== '%') {
        out += ch;
        continue;
      }
      const c = format[++i];
      switch (c) {
        case '%':
          out += '%';
          break;
        case 's':
          out += quote(value);
          break;
        case 'u':
          out += quote(vat >= 0 ? value.slice(0, vat) : value);
          break;
        case 'd':
          if (vdomain === undefined) return undefined;
          out += quote(vdomain);
          break;
        case 'S':
          out += quote(key ?? value);
          break;
        case 'U':
          out += quote(kuser ?? '');
          break;
        case 'D':
          if (kdomain === undefined) return undefined;
          out += quote(kdomain);
          break;
        default: {
          const n = Number(c);
          const label = labels[labels.length - n];
          if (label === undefined) return undefined;
          out += quote(label);
        }
      }
    }
    return out;
  }
}

export class DictSqlite extends DictBase {
  private readonly db: Database.Database;
  private readonly common: DbCommon;
  private readonly expansionLimit: number;

  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('sqlite', name, dictFlags);
    const cf = new Map<string, string>();
    const fromFile = name.startsWith('/') || name.startsWith('.');
    if (fromFile) {
      let text: string;
      try {
        text = readFileSync(name, 'utf8');
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new DictOpenError(`open ${name}: ${strerror(err)}`);
      }
      try {
        for (const e of parseMainCf(text, name)) cf.set(e.name, e.value);
      } catch (e) {
        if (e instanceof ConfigFileError) throw new DictOpenError(e.message);
        throw e;
      }
    } else {
      for (const p of ['dbpath', 'query', 'table', 'select_field', 'where_field', 'additional_conditions', 'result_format', 'domain', 'expansion_limit']) {
        const v = dictMainConfig(`${name}_${p}`);
        if (v !== undefined) cf.set(p, v);
      }
    }
    if ((cf.get('dbpath') ?? '') === '') {
      throw new DictOpenError(`bad string length 0 < 1: ${fromFile ? `${name}: ` : `${name}_`}dbpath = `);
    }
    const dbpath = cf.get('dbpath') ?? '';
    let query = cf.get('query');
    if (query === undefined) {
      const table = cf.get('table') ?? '';
      const select = cf.get('select_field') ?? '';
      const where = cf.get('where_field') ?? '';
      const extra = cf.get('additional_conditions') ?? '';
      query = `SELECT ${select} FROM ${table} WHERE ${where} = '%s' ${extra}`;
    }
    const domain = cf.get('domain');
    this.expansionLimit = Number(cf.get('expansion_limit') ?? '0') || 0;
    this.common = new DbCommon(name, query, cf.get('result_format') ?? '%s', domain ? splitList(domain) : undefined);
    // Queries on parts of the key (%u, %d, %1..) take only full keys (Postfix db_common_dict_partial).
    this.flags |= this.common.flags & (KEY_DOMAIN | KEY_USER | KEY_PARTS) ? DICT_FLAG.PATTERN : DICT_FLAG.FIXED;
    try {
      this.db = openSqlite(dbpath, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw new DictOpenError(`sqlite:${name}: Can't open database: ${(e as Error).message}`);
    }
  }

  async lookup(key: string): Promise<string | null> {
    const k = this.fold(key);
    if (!this.common.keyOk(k)) return null;
    const sql = this.common.expand(this.common.query, k, undefined, (s) => s.replace(/'/g, "''"));
    if (sql === undefined) return null;
    let stmt: Database.Statement;
    try {
      stmt = this.db.prepare(sql);
    } catch (e) {
      return msg.fatal(`dict_sqlite_lookup: ${this.name}: SQL prepare failed: ${(e as Error).message}?`);
    }
    let rows: unknown[][];
    try {
      rows = (stmt.reader ? stmt.raw(true).all() : []) as unknown[][];
    } catch (e) {
      msg.warn(`dict_sqlite_lookup: ${this.name}: SQL step failed for query '${sql}': ${(e as Error).message}`);
      throw new DictError(`SQL step failed: ${(e as Error).message}`);
    }
    const results: string[] = [];
    for (const row of rows) {
      const v = row[0];
      if (v === null || v === undefined) continue;
      const s = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
      if (s === '') {
        msg.warn(`table "sqlite:${this.name}": empty lookup result for: "${k}" -- ignored`);
        continue;
      }
      const r = this.common.expand(this.common.resultFormat, s, k, (x) => x);
      if (r === undefined) continue;
      results.push(r);
      if (this.expansionLimit > 0 && results.length > this.expansionLimit) {
        msg.warn(`dict_sqlite_lookup: ${this.name}: Expansion limit exceeded for key '${k}'`);
        throw new DictError('expansion limit exceeded');
      }
    }
    return results.length ? results.join(',') : null;
  }

  override async close(): Promise<void> {
    this.db.close();
  }
}

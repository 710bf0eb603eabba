/**
 * maps - lookups over a list of tables, as named by one parameter value
 * (Postfix global/maps.c): `virtual_alias_maps = lmdb:/etc/postfix/virtual,
 * regexp:/etc/postfix/virtual.re`.
 *
 * find() tries each table in order; the first hit wins. A table error stops
 * the search: it is logged (`type:name lookup error for "key"`) and thrown
 * as a MapsError, so the caller defers instead of treating the key as
 * unknown. An empty result is a configuration error, as in Postfix. Tables
 * are shared through the per-process cache (dictOpenShared); a table that
 * cannot be opened becomes a surrogate whose every lookup is an error.
 */

import { msg, msgVerbose } from '../util/msg.js';
import { DICT_FLAG, DICT_FLAG_DEFAULT_MAPS, DictError, O_RDONLY, setDictMainConfig, type Dict } from '../util/dict.js';
import { dictOpenShared, dictSplit } from '../util/dict_open.js';
import { splitList, type MailConfig } from './mail_conf.js';

/** Lookup restrictions for find(): FULL = every table, PARTIAL = only fixed-key tables (not regexp/pcre/cidr). */
export const MAPS_FULL = 0;
export const MAPS_PARTIAL = DICT_FLAG.FIXED;

/** A table error seen by maps.find (Postfix maps->error != 0). */
export class MapsError extends DictError {
  constructor(
    message: string,
    kind: 'retry' | 'config',
    readonly title: string,
  ) {
    super(message, kind);
    this.name = 'MapsError';
  }
}

export class Maps {
  readonly dicts: Dict[] = [];

  private constructor(
    readonly title: string,
    readonly names: string[],
    readonly dictFlags: number,
  ) {}

  /**
   * create - open every table named in mapNames (comma/space separated,
   * { } groups kept). A name without "type:" is fatal, as in Postfix.
   */
  static create(title: string, mapNames: string, dictFlags: number = DICT_FLAG_DEFAULT_MAPS): Maps {
    const names = splitList(mapNames);
    const maps = new Maps(title, names, dictFlags);
    for (const name of names) {
      if (!dictSplit(name)) msg.fatal(`open dictionary: expecting "type:name" form instead of "${name}"`);
      maps.dicts.push(dictOpenShared(name, O_RDONLY, dictFlags));
    }
    return maps;
  }

  /** fromConfig - the maps named by a parameter; UTF-8 folding follows smtputf8_enable. */
  static fromConfig(config: MailConfig, param: string, dictFlags: number = DICT_FLAG_DEFAULT_MAPS): Maps {
    setDictMainConfig((name) => (config.isDefined(name) ? config.str(name) : undefined));
    return Maps.create(param, config.str(param), withUtf8(config, dictFlags));
  }

  get empty(): boolean {
    return this.dicts.length === 0;
  }

  /**
   * find - the value for key, or null. flags = MAPS_PARTIAL skips tables
   * that cannot answer partial-address queries. Throws MapsError.
   */
  async find(key: string, flags = MAPS_FULL): Promise<string | null> {
    if (key === '') return null;
    for (const dict of this.dicts) {
      if (flags !== 0 && (dict.flags & flags) === 0) continue;
      let value: string | null;
      try {
        value = await dict.lookup(key);
      } catch (e) {
        if (!(e instanceof DictError)) throw e;
        msg.warn(`${dict.type}:${dict.name} lookup error for "${key}"`);
        throw new MapsError(e.message, e.kind, this.title);
      }
      if (value !== null) {
        if (value === '') {
          msg.warn(`${this.title} lookup of ${key} returns an empty string result`);
          msg.warn(`${this.title} should return NO RESULT in case of NOT FOUND`);
          throw new MapsError(`${this.title}: empty string result`, 'config', this.title);
        }
        if (msgVerbose) msg.info(`maps_find: ${this.title}: ${dict.type}:${dict.name}: ${key} = ${value.slice(0, 100)}${value.length > 100 ? '...' : ''}`);
        return value;
      }
    }
    if (msgVerbose) msg.info(`maps_find: ${this.title}: ${key}: not found`);
    return null;
  }

  /** changed - the first table whose file changed since it was opened ("table X has changed -- restarting"). */
  changed(): string | undefined {
    for (const d of this.dicts) if (d.changed()) return `${d.type}:${d.name}`;
    return undefined;
  }

  async close(): Promise<void> {
    const dicts = this.dicts.splice(0);
    for (const d of dicts) await d.close();
  }
}

/** withUtf8 - add DICT_FLAG_UTF8_ACTIVE when requested and smtputf8_enable is on. */
export function withUtf8(config: MailConfig, dictFlags: number): number {
  if (!(dictFlags & DICT_FLAG.UTF8_REQUEST)) return dictFlags;
  const v = config.str('smtputf8_enable').trim().toLowerCase();
  return v === 'yes' || v === 'true' ? dictFlags | DICT_FLAG.UTF8_ACTIVE : dictFlags;
}

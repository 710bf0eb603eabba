/**
 * local_maps - alias_maps lookups for the local agent (Postfix
 * local/alias.c): the tables named in alias_maps, searched in order, first
 * hit wins; a table error defers the recipient (never "not found"). The
 * owner of the table's file decides the rights for commands and files in
 * the alias (default_privs when that owner is root).
 */

import { statSync } from 'node:fs';
import type { MailConfig } from '../global/mail_conf.js';
import { DICT_FLAG_DEFAULT_MAPS, O_RDONLY, type Dict } from '../util/dict.js';
import type { Identity } from './local_deliver.js';

/**
 * openTables - open the tables of a *_maps value. The table code (every
 * dictionary type) is loaded on first use only: a local process whose maps
 * are all empty (alias_maps = with mailboxes in the spool) starts ~15 ms of
 * CPU faster, and local is restarted every max_use deliveries.
 */
async function openTables(value: string[]): Promise<Dict[]> {
  if (value.length === 0) return [];
  const { dictOpenShared } = await import('../util/dict_open.js');
  return value.map((spec) => dictOpenShared(spec, O_RDONLY, DICT_FLAG_DEFAULT_MAPS));
}

export class LocalMaps {
  private tables: Dict[] | undefined;
  private readonly other = new Map<string, Dict[]>();

  constructor(private readonly config: MailConfig) {}

  private async open(): Promise<Dict[]> {
    if (!this.tables) this.tables = await openTables(this.config.list('alias_maps'));
    return this.tables;
  }

  /** alias - the value for a local part and the identity of its table's owner, or null. */
  async alias(key: string): Promise<{ value: string; owner: Identity | undefined } | null> {
    for (const dict of await this.open()) {
      const value = await dict.lookup(key);
      if (value === null) continue;
      let owner: Identity | undefined;
      if (dict.path) {
        try {
          const st = statSync(dict.path);
          owner = { uid: st.uid, gid: st.gid };
        } catch {
          owner = undefined;
        }
      }
      return { value, owner };
    }
    return null;
  }

  /**
   * transportFor - the value for a key in one of the *_maps parameters
   * (mailbox_transport_maps, fallback_transport_maps, mailbox_command_maps):
   * the full address first, then the local part; null when not found or the
   * parameter is empty.
   */
  async transportFor(param: string, key: string): Promise<string | null> {
    let tables = this.other.get(param);
    if (!tables) {
      tables = await openTables(this.config.list(param));
      this.other.set(param, tables);
    }
    if (tables.length === 0) return null;
    const keys = [key.toLowerCase()];
    const at = key.lastIndexOf('@');
    if (at > 0) keys.push(key.slice(0, at).toLowerCase());
    for (const k of keys) {
      for (const dict of tables) {
        const v = await dict.lookup(k);
        if (v !== null) return v;
      }
    }
    return null;
  }
}

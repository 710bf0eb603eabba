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
import { dictOpenShared } from '../util/dict_open.js';
import type { Identity } from './local_deliver.js';

export class LocalMaps {
  private tables: Dict[] | undefined;

  constructor(private readonly config: MailConfig) {}

  private open(): Dict[] {
    if (!this.tables) {
      this.tables = this.config.list('alias_maps').map((spec) => dictOpenShared(spec, O_RDONLY, DICT_FLAG_DEFAULT_MAPS));
    }
    return this.tables;
  }

  /** alias - the value for a local part and the identity of its table's owner, or null. */
  async alias(key: string): Promise<{ value: string; owner: Identity | undefined } | null> {
    for (const dict of this.open()) {
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
}

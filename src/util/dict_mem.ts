/**
 * dict_mem - an in-memory table (the htable behind Postfix texthash:,
 * inline: and internal:). Keys are folded on the way in and out when the
 * table folds (DICT_FLAG_FOLD_FIX); duplicates follow the DUP_* flags.
 */

import { msg } from './msg.js';
import { DICT_FLAG, DictBase, DictError, dupAction, type UpdateResult } from './dict.js';

export class DictMem extends DictBase {
  readonly table: Map<string, string>;

  constructor(type: string, name: string, flags: number, path?: string, table?: Map<string, string>) {
    super(type, name, flags | DICT_FLAG.FIXED, path);
    this.table = table ?? new Map();
  }

  async lookup(key: string): Promise<string | null> {
    return this.table.get(this.fold(key)) ?? null;
  }

  /** put - load-time insert; returns false for a duplicate (the caller warns with file and line). */
  put(key: string, value: string): boolean {
    const k = this.fold(key);
    if (this.table.has(k) && !(this.flags & DICT_FLAG.DUP_REPLACE)) return false;
    this.table.set(k, value);
    return true;
  }

  override async update(key: string, value: string): Promise<UpdateResult> {
    const k = this.fold(key);
    if (this.table.has(k)) {
      const action = dupAction(this.flags);
      if (action === 'warn') msg.warn(`${this.type}:${this.name}: duplicate entry: "${key}"`);
      if (action === 'fatal') throw new DictError(`${this.type}:${this.name}: duplicate entry: "${key}"`, 'config');
      if (action !== 'replace') return 'duplicate';
    }
    this.table.set(k, value);
    return 'stored';
  }

  override async delete(key: string): Promise<boolean> {
    return this.table.delete(this.fold(key));
  }

  override async *sequence(): AsyncIterable<[string, string]> {
    // Postfix's hash order is unspecified (it varies between runs); insertion order is used here.
    yield* [...this.table.entries()];
  }
}

/**
 * dict_proxy - `proxy:type:name` (Postfix global/dict_proxy.c).
 *
 * For now the inner table is opened directly in the calling process instead
 * of through the proxymap(8)/proxywrite services: lookups give the same
 * answers, but the process needs its own access to the table (file
 * permissions, database connections), and connection sharing across
 * processes does not happen. Updates are allowed only when the caller opened
 * the table for writing, as with proxywrite.
 */

import { DICT_FLAG, DictBase, type Dict, type UpdateResult } from './dict.js';
import { dictOpen } from './dict_open.js';

export class DictProxy extends DictBase {
  readonly inner: Dict;

  constructor(name: string, openFlags: number, dictFlags: number) {
    super('proxy', name, dictFlags);
    this.inner = dictOpen(name, openFlags, dictFlags);
    this.flags |= this.inner.flags & (DICT_FLAG.FIXED | DICT_FLAG.PATTERN);
  }

  lookup(key: string): Promise<string | null> {
    return this.inner.lookup(key);
  }

  override update(key: string, value: string): Promise<UpdateResult> {
    return this.inner.update(key, value);
  }

  override delete(key: string): Promise<boolean> {
    return this.inner.delete(key);
  }

  override sequence(): AsyncIterable<[string, string]> {
    return this.inner.sequence();
  }

  override changed(): boolean {
    return this.inner.changed();
  }

  override close(): Promise<void> {
    return this.inner.close();
  }
}

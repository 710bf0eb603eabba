/**
 * dict_unionmap - `unionmap:{type:name, ...}`: the results of every table
 * that has the key, joined with commas (Postfix util/dict_union.c).
 */

import { DICT_FLAG, DictBase, type Dict } from './dict.js';
import { openComponents } from './dict_pipemap.js';

export class DictUnionmap extends DictBase {
  private readonly maps: Dict[];

  constructor(name: string, openFlags: number, dictFlags: number) {
    super('unionmap', name, dictFlags);
    this.maps = openComponents('unionmap', name, openFlags, dictFlags);
    for (const m of this.maps) this.flags |= m.flags & (DICT_FLAG.FIXED | DICT_FLAG.PATTERN);
  }

  async lookup(key: string): Promise<string | null> {
    const results: string[] = [];
    for (const map of this.maps) {
      const v = await map.lookup(key);
      if (v !== null) results.push(v);
    }
    return results.length ? results.join(',') : null;
  }

  override changed(): boolean {
    return this.maps.some((m) => m.changed());
  }

  override async close(): Promise<void> {
    for (const m of this.maps) await m.close();
  }
}

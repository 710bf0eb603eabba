/**
 * dict_pipemap - `pipemap:{type:name, type:name, ...}`: each table's result
 * is the next table's lookup key; the last result is the answer (Postfix
 * util/dict_pipe.c). A miss anywhere is a miss; an error anywhere is an error.
 */

import { splitList, stripBraces } from '../global/mail_conf.js';
import { DICT_FLAG, DictBase, DictOpenError, type Dict } from './dict.js';
import { dictOpen } from './dict_open.js';

/** openComponents - parse `{a:x, b:y}` and open each table with the caller's flags. */
export function openComponents(type: string, name: string, openFlags: number, dictFlags: number): Dict[] {
  const need = `need "${type}:{type:name...}"`;
  if (!name.startsWith('{') || !name.endsWith('}')) throw new DictOpenError(`bad syntax: "${type}:${name}"; ${need}`);
  const items = splitList(name.slice(1, -1)).map(stripBraces);
  if (items.length === 0) throw new DictOpenError(`bad syntax: "${type}:${name}"; ${need}`);
  return items.map((spec) => dictOpen(spec, openFlags, dictFlags));
}

export class DictPipemap extends DictBase {
  private readonly maps: Dict[];

  constructor(name: string, openFlags: number, dictFlags: number) {
    super('pipemap', name, dictFlags);
    this.maps = openComponents('pipemap', name, openFlags, dictFlags);
    for (const m of this.maps) this.flags |= m.flags & (DICT_FLAG.FIXED | DICT_FLAG.PATTERN);
  }

  async lookup(key: string): Promise<string | null> {
    let current: string | null = key;
    for (const map of this.maps) {
      current = await map.lookup(current);
      if (current === null) return null;
    }
    return current;
  }

  override changed(): boolean {
    return this.maps.some((m) => m.changed());
  }

  override async close(): Promise<void> {
    for (const m of this.maps) await m.close();
  }
}

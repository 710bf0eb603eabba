/**
 * dict_internal - `internal:name`: a process-private in-memory table, empty
 * at start (Postfix util/dict_ht.c). Every open of the same name in one
 * process shares the same data.
 */

import { DictMem } from './dict_mem.js';

const tables = new Map<string, Map<string, string>>();

export class DictInternal extends DictMem {
  constructor(name: string, _openFlags: number, dictFlags: number) {
    let table = tables.get(name);
    if (!table) tables.set(name, (table = new Map()));
    super('internal', name, dictFlags, undefined, table);
  }
}

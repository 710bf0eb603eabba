/**
 * dict_static - `static:value` / `static:{text with spaces}`: every lookup
 * returns the same value (Postfix util/dict_static.c).
 */

import { DICT_FLAG, DictBase, DictOpenError } from './dict.js';

export class DictStatic extends DictBase {
  private readonly value: string;

  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('static', name, dictFlags | DICT_FLAG.FIXED);
    if (name.startsWith('{')) {
      if (!name.endsWith('}')) throw new DictOpenError(`bad static:name syntax: missing '}' in "${name}"`);
      this.value = name.slice(1, -1).trim();
    } else {
      this.value = name;
    }
  }

  async lookup(_key: string): Promise<string | null> {
    return this.value;
  }
}

/**
 * dict_randmap - `randmap:{value1, value2, ...}`: every lookup returns one of
 * the values at random (Postfix util/dict_random.c), e.g. for load balancing
 * in transport_maps.
 */

import { randomInt } from 'node:crypto';
import { splitList, stripBraces } from '../global/mail_conf.js';
import { DICT_FLAG, DictBase, DictOpenError } from './dict.js';

export class DictRandmap extends DictBase {
  private readonly values: string[];

  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('randmap', name, dictFlags | DICT_FLAG.PATTERN);
    const need = `need "randmap:{value...}"`;
    if (!name.startsWith('{') || !name.endsWith('}')) throw new DictOpenError(`bad syntax: "randmap:${name}"; ${need}`);
    this.values = splitList(name.slice(1, -1)).map(stripBraces);
    if (this.values.length === 0) throw new DictOpenError(`bad syntax: "randmap:${name}"; ${need}`);
  }

  async lookup(_key: string): Promise<string | null> {
    return this.values[randomInt(this.values.length)];
  }
}

/**
 * dict_environ - `environ:name`: look keys up in the process environment
 * (Postfix util/dict_env.c). Updates change this process's environment only;
 * delete and sequence are not supported, as in Postfix.
 */

import { DICT_FLAG, DictBase, type UpdateResult } from './dict.js';

export class DictEnviron extends DictBase {
  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('environ', name, dictFlags | DICT_FLAG.FIXED);
  }

  async lookup(key: string): Promise<string | null> {
    return process.env[this.fold(key)] ?? null;
  }

  override async update(key: string, value: string): Promise<UpdateResult> {
    process.env[this.fold(key)] = value;
    return 'stored';
  }
}

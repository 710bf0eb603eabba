/**
 * dict_fail - `fail:name`: every operation fails with a table error
 * (Postfix util/dict_fail.c). Used to test that callers defer on errors.
 */

import { DICT_FLAG, DictBase, DictError, type UpdateResult } from './dict.js';

export class DictFail extends DictBase {
  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('fail', name, dictFlags | DICT_FLAG.PATTERN);
  }

  async lookup(_key: string): Promise<string | null> {
    throw new DictError('Application error');
  }

  override async update(_key: string, _value: string): Promise<UpdateResult> {
    throw new DictError('Application error');
  }

  override async delete(_key: string): Promise<boolean> {
    throw new DictError('Application error');
  }

  override async *sequence(): AsyncIterable<[string, string]> {
    throw new DictError('Application error');
  }
}

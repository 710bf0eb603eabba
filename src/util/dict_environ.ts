/**
 * dict_environ - `environ:name`: look keys up in the process environment
 * (Postfix util/dict_env.c). Updates change this process's environment only.
 */

import { DictBase, type UpdateResult } from './dict.js';

export class DictEnviron extends DictBase {
  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('environ', name, dictFlags);
  }

  async lookup(key: string): Promise<string | null> {
    return process.env[this.fold(key)] ?? null;
  }

  override async update(key: string, value: string): Promise<UpdateResult> {
    process.env[this.fold(key)] = value;
    return 'stored';
  }

  override async delete(key: string): Promise<boolean> {
    const k = this.fold(key);
    if (!(k in process.env)) return false;
    delete process.env[k];
    return true;
  }

  override async *sequence(): AsyncIterable<[string, string]> {
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) yield [k, v];
  }
}

/**
 * dict_inline - `inline:{ key=value, { key = text with spaces } }`
 * (Postfix util/dict_inline.c): a small read-only table written in main.cf.
 * Bad syntax cannot be opened (postmap makes that fatal).
 */

import { splitList, stripBraces } from '../global/mail_conf.js';
import { DictOpenError, DictUnsupportedError, type UpdateResult } from './dict.js';
import { DictMem } from './dict_mem.js';

export class DictInline extends DictMem {
  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('inline', name, dictFlags);
    const need = `need "inline:{name=value...}"`;
    if (!name.startsWith('{') || !name.endsWith('}')) {
      throw new DictOpenError(`bad syntax: "inline:${name}"; ${need}`);
    }
    const items = splitList(name.slice(1, -1));
    if (items.length === 0) throw new DictOpenError(`bad syntax: "inline:${name}"; ${need}`);
    for (const item of items) {
      const text = stripBraces(item);
      const eq = text.indexOf('=');
      const key = eq < 0 ? '' : text.slice(0, eq).trim();
      if (eq < 0 || key === '') {
        throw new DictOpenError(`missing '=' after attribute name: "inline:${name}"; ${need}`);
      }
      this.put(key, text.slice(eq + 1).trim());
    }
  }

  override async update(_key: string, _value: string): Promise<UpdateResult> {
    throw new DictUnsupportedError(this.type, this.name, 'update');
  }

  override async delete(_key: string): Promise<boolean> {
    throw new DictUnsupportedError(this.type, this.name, 'delete');
  }
}

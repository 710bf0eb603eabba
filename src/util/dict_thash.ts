/**
 * dict_thash - `texthash:/path`: a postmap(1) source file read straight into
 * memory at open time (Postfix util/dict_thash.c). Same syntax and the same
 * warnings as postmap; read-only; cannot be built in bulk mode.
 */

import { strerror } from './msg_logwriter.js';
import { readFileSync } from 'node:fs';
import { msg } from './msg.js';
import { DICT_FLAG, DictOpenError, DictUnsupportedError, dupAction, type UpdateResult } from './dict.js';
import { DictMem } from './dict_mem.js';
import { readLogicalLines, showInvalid, splitKeyValue } from './dict_text.js';

export class DictThash extends DictMem {
  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('texthash', name, dictFlags);
    let data: Buffer;
    try {
      data = readFileSync(name);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const text = strerror(err);
      throw new DictOpenError(`open database ${name}: ${text}`);
    }
    const utf8 = (dictFlags & DICT_FLAG.UTF8_REQUEST) !== 0;
    for (const { text, lineNo, utf8: valid } of readLogicalLines(data, name)) {
      if (utf8 && !valid) {
        msg.warn(`${name}, line ${lineNo}: non-UTF-8 input "${showInvalid(text)}" -- ignoring this line`);
        continue;
      }
      const kv = splitKeyValue(text);
      if ('error' in kv) {
        msg.warn(`${name}, line ${lineNo}: unbalanced '"' in '${text}' -- ignoring this line`);
        continue;
      }
      if (kv.key === '' || kv.value === '') {
        msg.warn(`${name}, line ${lineNo}: expected format: key whitespace value -- ignoring this line`);
        continue;
      }
      if (kv.key.endsWith(':')) {
        msg.warn(`${name}, line ${lineNo}: record is in "key: value" format; is this an alias file?`);
      }
      const k = this.fold(kv.key);
      if (this.table.has(k)) {
        const action = dupAction(this.flags);
        if (action === 'replace') this.table.set(k, kv.value);
        else if (action !== 'ignore') msg.warn(`${name}, line ${lineNo}: duplicate entry: "${kv.key}"`);
        continue;
      }
      this.table.set(k, kv.value);
    }
  }

  override async update(_key: string, _value: string): Promise<UpdateResult> {
    throw new DictUnsupportedError(this.type, this.name, 'update');
  }

  override async delete(_key: string): Promise<boolean> {
    throw new DictUnsupportedError(this.type, this.name, 'delete');
  }
}

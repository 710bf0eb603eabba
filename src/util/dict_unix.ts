/**
 * dict_unix - `unix:passwd.byname` and `unix:group.byname` (Postfix
 * util/dict_unix.c). Node has no getpwnam(3), so the files /etc/passwd and
 * /etc/group are read (at each lookup, so changes are seen); NSS sources such
 * as LDAP or sssd are not consulted. Results have the getpwnam/getgrnam line
 * form: `name:passwd:uid:gid:gecos:dir:shell` and `name:passwd:gid:members`.
 */

import { readFileSync } from 'node:fs';
import { DICT_FLAG, DictBase, DictError, DictOpenError } from './dict.js';

/** Overridable for tests: where the passwd and group files are. */
export const unixFiles = {
  passwd: process.env.POSTFIX_TS_PASSWD_FILE || '/etc/passwd',
  group: process.env.POSTFIX_TS_GROUP_FILE || '/etc/group',
};

export class DictUnix extends DictBase {
  private readonly which: 'passwd' | 'group';

  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('unix', name, dictFlags | DICT_FLAG.FIXED);
    if (name === 'passwd.byname') this.which = 'passwd';
    else if (name === 'group.byname') this.which = 'group';
    else throw new DictOpenError(`unknown table: unix:${name}`);
  }

  private lines(): string[] {
    try {
      return readFileSync(unixFiles[this.which], 'utf8').split('\n');
    } catch (e) {
      throw new DictError(`open ${unixFiles[this.which]}: ${(e as Error).message}`);
    }
  }

  async lookup(key: string): Promise<string | null> {
    const k = this.fold(key);
    for (const line of this.lines()) {
      if (line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
      const fields = line.split(':');
      if (fields[0] !== k) continue;
      if (this.which === 'passwd' && fields.length >= 7) return fields.slice(0, 7).join(':');
      if (this.which === 'group' && fields.length >= 4) return fields.slice(0, 4).join(':');
    }
    return null;
  }
}

/**
 * mypwd - password file lookups (Postfix util/mypwd.c). Node has no
 * getpwnam(3); we read the passwd file (overridable for tests through
 * unixFiles in dict_unix.ts) and cache it until its mtime changes.
 */

import { readFileSync, statSync } from 'node:fs';
import { unixFiles } from './dict_unix.js';

export interface Passwd {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  dir: string;
  shell: string;
}

let cache: { stamp: string; byName: Map<string, Passwd>; byUid: Map<number, Passwd> } | undefined;

function load(): NonNullable<typeof cache> {
  const path = unixFiles.passwd;
  let stamp = '';
  try {
    const st = statSync(path);
    stamp = `${st.ino}:${st.mtimeMs}`;
  } catch {
    stamp = 'missing';
  }
  if (cache && cache.stamp === stamp) return cache;
  const byName = new Map<string, Passwd>();
  const byUid = new Map<number, Passwd>();
  let text = '';
  try {
    // bounded: a passwd file is small; a huge one is not worth parsing whole
    text = readFileSync(path).subarray(0, 4 * 1024 * 1024).toString('utf8');
  } catch {
    text = '';
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || f[0].startsWith('#')) continue;
    const pw: Passwd = { name: f[0], uid: Number(f[2]), gid: Number(f[3]), gecos: f[4], dir: f[5], shell: f[6] };
    if (!Number.isInteger(pw.uid) || !Number.isInteger(pw.gid)) continue;
    if (!byName.has(pw.name)) byName.set(pw.name, pw);
    if (!byUid.has(pw.uid)) byUid.set(pw.uid, pw);
  }
  cache = { stamp, byName, byUid };
  return cache;
}

export function getpwnam(name: string): Passwd | undefined {
  return load().byName.get(name);
}

export function getpwuid(uid: number): Passwd | undefined {
  return load().byUid.get(uid);
}

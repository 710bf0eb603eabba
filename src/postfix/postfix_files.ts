/**
 * postfix_files - the directories a Postfix instance needs, with owner,
 * group and mode (Postfix conf/postfix-files, post-install create-missing
 * and set-permissions).
 *
 * Differences from Postfix, because a Node script cannot be set-gid:
 * maildrop is sticky and world-writable (1733, Postfix's own historical
 * fallback) and public is 755; see docs/postfix.md. When not run by root,
 * nothing is chowned and every directory belongs to the invoking user.
 */

import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MailConfig } from '../global/mail_conf.js';
import { getgrnam, getpwnam } from '../master/mail_owner.js';

export interface FileEntry {
  path: string;
  /** "root" or "$mail_owner" */
  owner: 'root' | 'mail_owner';
  /** "-" = leave alone, or "$setgid_group" */
  group: '-' | 'setgid_group';
  mode: number;
  /** create when missing */
  create: boolean;
  /** set-permissions applies recursively */
  recursive: boolean;
}

/** The queue subdirectories, in postfix-files order. */
export const QUEUE_DIRS: Array<[string, FileEntry['owner'], FileEntry['group'], number, boolean]> = [
  ['active', 'mail_owner', '-', 0o700, true],
  ['bounce', 'mail_owner', '-', 0o700, true],
  ['corrupt', 'mail_owner', '-', 0o700, true],
  ['defer', 'mail_owner', '-', 0o700, true],
  ['deferred', 'mail_owner', '-', 0o700, true],
  ['flush', 'mail_owner', '-', 0o700, true],
  ['hold', 'mail_owner', '-', 0o700, true],
  ['incoming', 'mail_owner', '-', 0o700, true],
  ['private', 'mail_owner', '-', 0o700, false],
  ['maildrop', 'mail_owner', 'setgid_group', 0o1733, false],
  ['public', 'mail_owner', 'setgid_group', 0o755, false],
  ['pid', 'root', '-', 0o755, false],
  ['saved', 'mail_owner', '-', 0o700, true],
  ['trace', 'mail_owner', '-', 0o700, true],
];

/** postfixFiles - the directory entries of an instance. */
export function postfixFiles(config: MailConfig): FileEntry[] {
  const q = config.str('queue_directory');
  const out: FileEntry[] = [
    { path: config.str('data_directory'), owner: 'mail_owner', group: '-', mode: 0o700, create: true, recursive: false },
    { path: q, owner: 'root', group: '-', mode: 0o755, create: true, recursive: false },
  ];
  for (const [name, owner, group, mode, recursive] of QUEUE_DIRS) {
    out.push({ path: join(q, name), owner, group, mode, create: true, recursive });
  }
  return out;
}

export interface Ids {
  root: number;
  mailOwner: number;
  mailOwnerGid: number;
  setgidGroup: number;
}

/** instanceIds - who should own what; undefined when not root (then nothing is chowned). */
export function instanceIds(config: MailConfig): Ids | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const pw = getpwnam(config.str('mail_owner'));
  const gr = getgrnam(config.str('setgid_group'));
  if (!pw || !gr) return undefined;
  return { root: 0, mailOwner: pw.uid, mailOwnerGid: pw.gid, setgidGroup: gr.gid };
}

function applyOwner(path: string, e: FileEntry, ids: Ids | undefined): void {
  if (!ids) return;
  const st = lstatSync(path);
  const uid = e.owner === 'root' ? 0 : ids.mailOwner;
  const gid = e.group === 'setgid_group' ? ids.setgidGroup : st.gid;
  if (st.uid !== uid || st.gid !== gid) chownSync(path, uid, gid);
}

/** createMissing - post-install create-missing: make absent directories with their owner and mode. */
export function createMissing(config: MailConfig): string[] {
  const ids = instanceIds(config);
  const made: string[] = [];
  for (const e of postfixFiles(config)) {
    if (!e.create || existsSync(e.path)) continue;
    mkdirSync(e.path, { recursive: true, mode: e.mode & 0o777 });
    chmodSync(e.path, e.mode);
    applyOwner(e.path, e, ids);
    made.push(e.path);
  }
  return made;
}

/** setPermissions - post-install set-permissions: owner, group and mode of every entry (recursively where marked). */
export function setPermissions(config: MailConfig): void {
  createMissing(config);
  const ids = instanceIds(config);
  for (const e of postfixFiles(config)) {
    if (!existsSync(e.path)) continue;
    chmodSync(e.path, e.mode);
    applyOwner(e.path, e, ids);
    if (e.recursive && ids) {
      const walk = (dir: string) => {
        for (const name of readdirSync(dir)) {
          const p = join(dir, name);
          const st = lstatSync(p);
          if (st.uid !== ids.mailOwner) chownSync(p, ids.mailOwner, st.gid);
          if (st.isDirectory()) walk(p);
        }
      };
      walk(e.path);
    }
  }
}

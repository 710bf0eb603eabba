/** helpers - a throw-away instance (main.cf + queue directory) for submission tests. */

import { mkdtempSync, mkdirSync, writeFileSync, chmodSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

/** repository root (tests run from dist/test/submission) */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const GOLDEN = join(ROOT, 'test', 'submission', 'golden');

export interface Instance {
  dir: string;
  etc: string;
  spool: string;
  maildrop: string;
  cleanup(): void;
}

export function makeInstance(extra = ''): Instance {
  const dir = mkdtempSync(join(tmpdir(), 'submission-'));
  const etc = join(dir, 'etc');
  const spool = join(dir, 'spool');
  const maildrop = join(spool, 'maildrop');
  mkdirSync(etc);
  mkdirSync(spool);
  mkdirSync(maildrop);
  chmodSync(maildrop, 0o1733);
  mkdirSync(join(spool, 'public'));
  writeFileSync(
    join(etc, 'main.cf'),
    `queue_directory = ${spool}\ncommand_directory = ${join(ROOT, 'bin')}\ndaemon_directory = ${join(ROOT, 'libexec')}\n` +
      `myhostname = mail.example.test\n${extra}`,
  );
  return { dir, etc, spool, maildrop, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** run - run one of our commands (bin/<name>) with input. */
export function run(name: string, args: string[], input: string | Buffer = '', env: NodeJS.ProcessEnv = {}): RunResult {
  const r = spawnSync(join(ROOT, 'bin', name), args, { input, env: { ...process.env, MAIL_CONFIG: '', ...env } });
  return { status: r.status, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
}

/** maildropFiles - the names in maildrop/. */
export function maildropFiles(inst: Instance): string[] {
  return readdirSync(inst.maildrop).sort();
}

/** withoutTime - a maildrop file's bytes after the leading T record (the only record that varies). */
export function withoutTime(buf: Buffer): Buffer {
  if (buf[0] !== 0x54) throw new Error('maildrop file does not start with a T record');
  return buf.subarray(2 + buf[1]);
}

export function golden(name: string): Buffer {
  return readFileSync(join(GOLDEN, name));
}

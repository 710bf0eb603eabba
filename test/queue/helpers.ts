/**
 * helpers - shared set-up for the queue tests: the golden directory, temp
 * instances built from golden queue files (test/queue/golden/mailq-layout.txt),
 * and running the real bin/ programs as child processes.
 */

import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getpwnam } from '../../src/util/mypwd.js';

/** Repository root (tests run from dist/test/queue). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const GOLDEN = join(ROOT, 'test', 'queue', 'golden');

export const QUEUES = ['maildrop', 'active', 'incoming', 'deferred', 'hold', 'defer', 'bounce', 'trace', 'flush', 'saved', 'corrupt', 'public', 'private'];

export const isRoot = process.getuid?.() === 0;

/** testOwner - mail_owner for a test instance: the invoking user, or an unprivileged account when root. */
export function testOwner(): { name: string; uid: number; gid: number } {
  if (!isRoot) {
    const u = userInfo();
    return { name: u.username, uid: u.uid, gid: u.gid };
  }
  const pw = getpwnam('nobody') ?? getpwnam('daemon');
  if (!pw) throw new Error('no unprivileged account for mail_owner');
  return { name: pw.name, uid: pw.uid, gid: pw.gid };
}

export interface TestInstance {
  top: string;
  etc: string;
  spool: string;
  cleanup(): void;
}

/** makeInstance - a temp config + queue directory; `layout` places golden files as in mailq-layout.txt. */
export function makeInstance(layout: 'short' | 'long' | 'none', mainCf = ''): TestInstance {
  const top = mkdtempSync(join(tmpdir(), 'queue-test-'));
  chmodSync(top, 0o755);
  const etc = join(top, 'etc');
  const spool = join(top, 'spool');
  mkdirSync(etc);
  mkdirSync(spool);
  for (const q of QUEUES) mkdirSync(join(spool, q), { mode: 0o700 });
  const owner = testOwner();
  writeFileSync(
    join(etc, 'main.cf'),
    `queue_directory = ${spool}\ncompatibility_level = 3.6\nmail_owner = ${owner.name}\n` +
      `enable_long_queue_ids = ${layout === 'long' ? 'yes' : 'no'}\n` +
      `maillog_file = ${join(top, 'maillog')}\nmaillog_file_prefixes = ${top}\nmyhostname = mail.example.test\n${mainCf}`,
  );
  // The commands append to maillog_file directly (no postlogd here); postsuper does so as mail_owner.
  writeFileSync(join(top, 'maillog'), '');
  chmodSync(join(top, 'maillog'), 0o666);
  if (layout !== 'none') {
    for (const line of readFileSync(join(GOLDEN, 'mailq-layout.txt'), 'utf8').split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const [src, dst, mode, cfg] = line.trim().split(/\s+/);
      if (cfg !== layout) continue;
      mkdirSync(dirname(join(spool, dst)), { recursive: true, mode: 0o700 });
      copyFileSync(join(GOLDEN, 'files', src), join(spool, dst));
      chmodSync(join(spool, dst), parseInt(mode, 8));
    }
  }
  return { top, etc, spool, cleanup: () => rmSync(top, { recursive: true, force: true }) };
}

/** giveToOwner - chown the spool to the test mail_owner (root only; postsuper works as mail_owner). */
export function giveToOwner(inst: TestInstance): void {
  if (!isRoot) return;
  const { uid, gid } = testOwner();
  const walk = (p: string) => {
    chownSync(p, uid, gid);
    if (statSync(p).isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(inst.spool);
}

export interface RunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** run - a bin/ or libexec/ program with TZ=UTC and MAIL_CONFIG set. */
export function run(program: string, args: string[], opts: { etc?: string; cwd?: string; input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const env: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', ...opts.env };
  delete env.MAIL_VERBOSE;
  if (opts.etc) env.MAIL_CONFIG = opts.etc;
  const r = spawnSync(process.execPath, [join(ROOT, program), ...args], {
    cwd: opts.cwd ?? ROOT,
    env,
    input: opts.input,
    timeout: 60000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

export function golden(...parts: string[]): Buffer {
  return readFileSync(join(GOLDEN, ...parts));
}

/**
 * util - shared set-up for the logging tests: temp instances, configs,
 * datagram listeners that collect records.
 */

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listenUnixDgram, type DgramListener } from '../../src/util/msg_dgram.js';

/** The repository root (tests run from dist/test/logging). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GOLDEN = join(ROOT, 'test/logging/golden');

export interface Instance {
  dir: string;
  etc: string;
  spool: string;
  maillog: string;
  socket: string;
  cleanup(): void;
}

/** makeInstance - a temp config + queue directory with maillog_file inside it. */
export function makeInstance(extra = ''): Instance {
  const dir = mkdtempSync(join(tmpdir(), 'logging-'));
  const etc = join(dir, 'etc');
  const spool = join(dir, 'spool');
  mkdirSync(etc);
  mkdirSync(join(spool, 'public'), { recursive: true });
  const maillog = join(dir, 'maillog');
  const owner = process.getuid && process.getuid() === 0 ? 'nobody' : (process.env.USER ?? 'nobody');
  writeFileSync(
    join(etc, 'main.cf'),
    [
      `queue_directory = ${spool}`,
      `maillog_file = ${maillog}`,
      `maillog_file_prefixes = ${dir}`,
      'myhostname = mail.example.test',
      `mail_owner = ${owner}`,
      extra,
    ].join('\n') + '\n',
  );
  return {
    dir,
    etc,
    spool,
    maillog,
    socket: join(spool, 'public', 'postlog'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Collector - a bound datagram socket that keeps what it receives. */
export class Collector {
  readonly records: string[] = [];
  private readonly listener: DgramListener;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(readonly path: string) {
    this.listener = listenUnixDgram(path, (buf) => {
      this.records.push(buf.toString('utf8'));
      this.waiters = this.waiters.filter((w) => {
        if (this.records.length >= w.n) w.resolve();
        return this.records.length < w.n;
      });
    });
  }

  /** waitFor - resolves once n records have arrived. */
  waitFor(n: number): Promise<void> {
    if (this.records.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  close(): void {
    this.listener.close();
  }
}

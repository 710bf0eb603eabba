/**
 * sys - the two systems the benchmarks compare: an instance of this
 * repository (built on test/helpers/instance.ts) and an instance of the
 * installed Postfix (a secondary configuration directory under a temporary
 * directory, its own loopback port, the stock master.cf with chroot off and
 * a postlog service, as /work/shared/ORACLE.md describes). Both get the
 * same main.cf parameters.
 */

import { chmodSync, existsSync, utimesSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedMasterCf, setMainCf } from '../../Makefile.js';
import { ensureAccounts } from '../../test/helpers/accounts.js';
import { freePort, REPO, TestInstance } from '../../test/helpers/instance.js';
import { alive, cmdline, identity, run, sleep, tree, waitPort, type Run } from './proc.js';

export type Kind = 'ours' | 'postfix';

export const REAL = {
  postfix: '/usr/sbin/postfix',
  sendmail: '/usr/sbin/sendmail',
  postqueue: '/usr/sbin/postqueue',
  smtpSource: '/usr/sbin/smtp-source',
  smtpSink: '/usr/sbin/smtp-sink',
  masterCf: '/usr/share/postfix/master.cf.dist',
};

/** realPostfixUsable - real Postfix is installed and we are root (its instance needs root). */
export function realPostfixUsable(): boolean {
  return process.getuid?.() === 0 && [REAL.postfix, REAL.sendmail, REAL.postqueue, REAL.smtpSource, REAL.smtpSink].every((p) => existsSync(p));
}

/** the main.cf parameters common to both systems */
export function commonSettings(): Record<string, string> {
  return {
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    myhostname: 'mail.example.test',
    mydomain: 'example.test',
    mynetworks: '127.0.0.0/8',
    alias_maps: '',
    alias_database: '',
    biff: 'no',
    default_destination_concurrency_limit: '20',
    smtpd_client_connection_count_limit: '0',
    smtpd_client_connection_rate_limit: '0',
    smtpd_client_message_rate_limit: '0',
    smtpd_client_recipient_rate_limit: '0',
  };
}

/** LogTail - counts maillog lines by pattern, reading only what was appended. */
export class LogTail {
  private offset = 0;
  private partial = '';
  private buf: Buffer | undefined;
  readonly counts = new Map<string, number>();
  readonly delays: number[] = [];

  constructor(
    private readonly path: string,
    private readonly patterns: Record<string, RegExp>,
  ) {
    for (const k of Object.keys(patterns)) this.counts.set(k, 0);
  }

  count(name: string): number {
    this.poll();
    return this.counts.get(name) ?? 0;
  }

  poll(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return;
    }
    try {
      // One read buffer for the tail's life: this runs every 20 ms during a workload,
      // and the bench's CPU is taken from the systems it measures.
      const buf = (this.buf ??= Buffer.allocUnsafe(1 << 20));
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        const text = this.partial + buf.toString('latin1', 0, n);
        const lines = text.split('\n');
        this.partial = lines.pop() ?? '';
        for (const line of lines) this.line(line);
      }
    } finally {
      closeSync(fd);
    }
  }

  private line(line: string): void {
    for (const [k, re] of Object.entries(this.patterns)) {
      if (re.test(line)) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    }
    if (line.includes(' status=sent ')) {
      const m = / delay=([\d.]+),/.exec(line);
      if (m) this.delays.push(Number(m[1]));
    }
  }

  /** waitFor - until count(name) >= n or the time is up; returns the count. */
  async waitFor(name: string, n: number, timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const c = this.count(name);
      if (c >= n || Date.now() > end) return c;
      await sleep(20);
    }
  }
}

/** Sys - one instance of one of the systems, stopped when created. */
export class Sys {
  /** processes still running 30 s after `postfix stop` (a finding worth reporting) */
  leftAfterStop: string[] = [];

  private constructor(
    readonly kind: Kind,
    readonly dir: string,
    readonly smtpPort: number,
    private readonly inst?: TestInstance,
  ) {}

  get configDir(): string {
    return join(this.dir, 'etc');
  }
  get queueDir(): string {
    return join(this.dir, 'spool');
  }
  get mailDir(): string {
    return join(this.dir, 'mail');
  }
  get logFile(): string {
    return join(this.dir, 'log', 'maillog');
  }

  static async create(kind: Kind, main: Record<string, string>): Promise<Sys> {
    const settings = { ...commonSettings(), ...main };
    if (kind === 'ours') {
      const inst = await TestInstance.create({ name: 'bench-ours', main: settings });
      return new Sys(kind, inst.dir, inst.smtpPort, inst);
    }
    const dir = mkdtempSync(join(tmpdir(), 'bench-pfx-'));
    chmodSync(dir, 0o755);
    const port = await freePort();
    for (const d of ['etc', 'spool', 'log']) mkdirSync(join(dir, d), { mode: 0o755 });
    mkdirSync(join(dir, 'mail'), { mode: 0o1777 });
    chmodSync(join(dir, 'mail'), 0o1777);
    const acc = ensureAccounts();
    const all: Record<string, string> = {
      compatibility_level: '3.7',
      queue_directory: join(dir, 'spool'),
      data_directory: join(dir, 'data'),
      mail_spool_directory: join(dir, 'mail'),
      maillog_file: join(dir, 'log', 'maillog'),
      maillog_file_prefixes: join(dir, 'log'),
      mail_owner: acc.mailOwner,
      setgid_group: acc.setgidGroup,
      ...settings,
    };
    writeFileSync(join(dir, 'etc', 'main.cf'), setMainCf('', Object.entries(all)));
    writeFileSync(join(dir, 'etc', 'master.cf'), embeddedMasterCf(readFileSync(REAL.masterCf, 'utf8'), `127.0.0.1:${port}`));
    return new Sys(kind, dir, port);
  }

  /** setMain - change main.cf settings (before start). */
  setMain(settings: Record<string, string>): void {
    const p = join(this.configDir, 'main.cf');
    writeFileSync(p, setMainCf(readFileSync(p, 'utf8'), Object.entries(settings)));
  }

  /** extra environment for `postfix start` (the master passes what import_environment names) */
  startEnv: NodeJS.ProcessEnv = {};

  env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, MAIL_CONFIG: this.configDir };
    delete env.MAIL_VERBOSE;
    return env;
  }

  /** the path of one of the system's user commands */
  command(name: 'postfix' | 'sendmail' | 'postqueue'): string {
    if (this.kind === 'ours') return join(REPO, 'bin', name);
    return REAL[name];
  }

  exec(name: 'postfix' | 'sendmail' | 'postqueue', args: string[], input?: string, timeoutMs = 120000): Promise<Run> {
    return run(this.command(name), args, { env: this.env(), input, timeoutMs });
  }

  masterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.queueDir, 'pid', 'master.pid'), 'utf8').trim());
      return tree(pid).length > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** processes - the master and all its descendants */
  processes(): number[] {
    return tree(this.masterPid());
  }

  /** start - `postfix start`; ms until the SMTP port accepts. Throws on failure. */
  async start(): Promise<number> {
    // Postfix pauses at start when main.cf is younger than a second: age the
    // configuration files instead of waiting (the same for both systems).
    const past = new Date(Date.now() - 5000);
    for (const f of ['main.cf', 'master.cf']) {
      const p = join(this.configDir, f);
      if (existsSync(p)) utimesSync(p, past, past);
    }
    const t0 = performance.now();
    const r = await run(this.command('postfix'), ['-c', this.configDir, 'start'], { env: { ...this.env(), ...this.startEnv }, timeoutMs: 60000 });
    if (r.status !== 0) throw new Error(`${this.kind}: postfix start failed (${r.status}): ${r.stderr}\n${this.tailLog()}`);
    if (!(await waitPort(this.smtpPort, 30000))) throw new Error(`${this.kind}: nothing listens on port ${this.smtpPort}\n${this.tailLog()}`);
    return performance.now() - t0;
  }

  /** stop - `postfix stop`; ms until every process of the instance is gone (NaN when not running). */
  async stop(): Promise<number> {
    const ids = identity(this.processes());
    if (ids.length === 0) return NaN;
    const t0 = performance.now();
    await this.exec('postfix', ['-c', this.configDir, 'stop'], undefined, 60000);
    const end = Date.now() + 30000;
    while (alive(ids).length > 0 && Date.now() < end) await sleep(5);
    const left = alive(ids);
    if (left.length > 0) {
      this.leftAfterStop = left.map((p) => `${p} ${cmdline(p)}`);
      process.stderr.write(`bench: ${this.kind}: still running 30 s after postfix stop: ${this.leftAfterStop.join('; ')}\n`);
      return NaN;
    }
    return performance.now() - t0;
  }

  tailLog(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  }

  /** cleanup - stop, kill what is left, remove the directory; safe to call twice. */
  async cleanup(): Promise<void> {
    if (!existsSync(this.dir)) return;
    const ids = identity(this.processes());
    try {
      if (ids.length > 0) await this.exec('postfix', ['-c', this.configDir, 'stop'], undefined, 20000);
    } catch {
      // fall through to the kill
    }
    const end = Date.now() + 5000;
    while (alive(ids).length > 0 && Date.now() < end) await sleep(20);
    for (const p of alive(ids)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (this.inst) await this.inst.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * instance - a throw-away Postfix instance for integration tests.
 *
 *   const inst = await TestInstance.create({ main: { max_idle: '5s' } });
 *   after(() => inst.cleanup());          // always: stops it, kills leftovers, removes the directory
 *   await inst.start();                   // `postfix -c DIR start`, then waits until it answers
 *   ... talk to 127.0.0.1:inst.smtpPort, inst.servicePath('private', 'smtp') ...
 *   await inst.waitForLog(/status=sent/);
 *   await inst.stop();
 *
 * Everything lives in a temporary directory (etc/ spool/ data/ mail/ log/);
 * the SMTP listener is on a free loopback port; the programs are this
 * repository's bin/ and libexec/. As root the daemons run as postfix (the
 * account is created when missing); otherwise as the invoking user.
 */

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MAIN_CF, DEFAULT_MASTER_CF, embeddedMasterCf, setMainCf } from '../../Makefile.js';
import { ensureAccounts, isRoot, type Accounts } from './accounts.js';

/** The repository root (this file runs as dist/test/helpers/instance.js). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface InstanceOptions {
  /** extra or replacement main.cf settings */
  main?: Record<string, string>;
  /** the complete master.cf text ({SMTP} is replaced by 127.0.0.1:<port>) */
  masterCf?: string;
  /** lines appended to the default master.cf */
  extraMasterCf?: string;
  /** a prefix for the temporary directory name */
  name?: string;
}

/** freePort - a TCP port on 127.0.0.1 that nothing listens on right now. */
/** childCommandLines - the argv of every live process whose parent is pid. */
export function childCommandLines(pid: number): string[][] {
  const out: string[][] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** runNode - run a Node program of this repository; collects its output. */
export function runProgram(path: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    child.on('close', (code, signal) => resolve({ status: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TestInstance {
  readonly dir: string;
  readonly configDir: string;
  readonly queueDir: string;
  readonly dataDir: string;
  readonly mailDir: string;
  readonly logFile: string;
  readonly smtpPort: number;
  readonly accounts: Accounts;

  private constructor(dir: string, smtpPort: number, accounts: Accounts) {
    this.dir = dir;
    this.configDir = join(dir, 'etc');
    this.queueDir = join(dir, 'spool');
    this.dataDir = join(dir, 'data');
    this.mailDir = join(dir, 'mail');
    this.logFile = join(dir, 'log', 'maillog');
    this.smtpPort = smtpPort;
    this.accounts = accounts;
  }

  /** create - write the instance's directories and configuration (not started). */
  static async create(opts: InstanceOptions = {}): Promise<TestInstance> {
    const accounts = ensureAccounts();
    const dir = mkdtempSync(join(tmpdir(), `${opts.name ?? 'pfx'}-`));
    chmodSync(dir, 0o755);
    const port = await freePort();
    const inst = new TestInstance(dir, port, accounts);
    for (const d of ['etc', 'spool', 'log']) mkdirSync(join(dir, d), { mode: 0o755 });
    mkdirSync(inst.mailDir);
    chmodSync(inst.mailDir, isRoot() ? 0o1777 : 0o755);
    const shippedMain = join(REPO, 'conf', 'main.cf');
    const baseMain = existsSync(shippedMain) ? readFileSync(shippedMain, 'utf8') : DEFAULT_MAIN_CF;
    const settings: Record<string, string> = {
      queue_directory: inst.queueDir,
      data_directory: inst.dataDir,
      daemon_directory: join(REPO, 'libexec'),
      command_directory: join(REPO, 'bin'),
      meta_directory: inst.configDir,
      mail_spool_directory: inst.mailDir,
      maillog_file: inst.logFile,
      maillog_file_prefixes: join(dir, 'log'),
      inet_interfaces: '127.0.0.1',
      inet_protocols: 'ipv4',
      myhostname: 'mail.example.test',
      mydomain: 'example.test',
      mynetworks: '127.0.0.0/8',
      mail_owner: accounts.mailOwner,
      setgid_group: accounts.setgidGroup,
      alias_maps: '',
      alias_database: '',
      ...(accounts.privileged ? {} : { default_privs: accounts.mailOwner }),
      ...(opts.main ?? {}),
    };
    writeFileSync(join(inst.configDir, 'main.cf'), setMainCf(baseMain, Object.entries(settings)));
    let masterCf: string;
    if (opts.masterCf !== undefined) {
      masterCf = opts.masterCf.replaceAll('{SMTP}', `127.0.0.1:${port}`);
    } else {
      const shipped = join(REPO, 'conf', 'master.cf');
      const base = existsSync(shipped) ? readFileSync(shipped, 'utf8') : DEFAULT_MASTER_CF;
      masterCf = embeddedMasterCf(base, `127.0.0.1:${port}`);
    }
    if (opts.extraMasterCf) masterCf = masterCf.replace(/\n*$/, '\n') + opts.extraMasterCf.replace(/\n*$/, '\n');
    writeFileSync(join(inst.configDir, 'master.cf'), masterCf);
    return inst;
  }

  /** env - the environment for this instance's commands. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, MAIL_CONFIG: this.configDir, ...extra };
    delete env.MAIL_VERBOSE;
    return env;
  }

  /** command - run bin/<name> against this instance. */
  command(name: string, args: string[], input?: string): Promise<RunResult> {
    return runProgram(join(REPO, 'bin', name), args, this.env(), input);
  }

  /** postfix - `postfix -c DIR args...` */
  postfix(...args: string[]): Promise<RunResult> {
    return this.command('postfix', ['-c', this.configDir, ...args]);
  }

  /** writeMasterCf / appendMainCf - change the configuration (then reload). */
  writeMasterCf(text: string): void {
    writeFileSync(join(this.configDir, 'master.cf'), text.replaceAll('{SMTP}', `127.0.0.1:${this.smtpPort}`));
  }

  setMain(settings: Record<string, string>): void {
    const p = join(this.configDir, 'main.cf');
    writeFileSync(p, setMainCf(readFileSync(p, 'utf8'), Object.entries(settings)));
  }

  /** masterPid - the running master's pid (from pid/master.pid), or undefined. */
  masterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.queueDir, 'pid', 'master.pid'), 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** start - `postfix start`; throws with the log when it fails; waits until SMTP answers when configured. */
  async start(): Promise<void> {
    const r = await this.postfix('start');
    if (r.status !== 0) {
      throw new Error(`postfix start failed (${r.status}): ${r.stderr}\n--- maillog:\n${this.readLog()}`);
    }
    const master = readFileSync(join(this.configDir, 'master.cf'), 'utf8');
    if (master.includes(`127.0.0.1:${this.smtpPort} `)) await this.waitForPort(this.smtpPort);
  }

  /** stop - `postfix stop` when running. */
  async stop(): Promise<RunResult | undefined> {
    if (this.masterPid() === undefined) return undefined;
    return this.postfix('stop');
  }

  /** waitForPort - until a TCP connect to 127.0.0.1:port succeeds. */
  async waitForPort(port: number, timeoutMs = 20000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port}`);
      await sleep(50);
    }
  }

  /** servicePath - $queue_directory/{public,private}/name */
  servicePath(cls: 'public' | 'private', name: string): string {
    return join(this.queueDir, cls, name);
  }

  /** readLog - the maillog so far ("" when there is none yet). */
  readLog(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** logLines - maillog lines matching a pattern. */
  logLines(re: RegExp): string[] {
    return this.readLog()
      .split('\n')
      .filter((l) => re.test(l));
  }

  /** waitForLog - the first maillog line matching re (after `count - 1` earlier matches). */
  async waitForLog(re: RegExp, timeoutMs = 20000, count = 1): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.logLines(re);
      if (lines.length >= count) return lines[count - 1];
      if (Date.now() > end) throw new Error(`no maillog line matches ${re} after ${timeoutMs} ms\n--- maillog:\n${this.readLog()}`);
      await sleep(50);
    }
  }

  /** processes - pids of processes that belong to this instance (MAIL_CONFIG in their environment). */
  processes(): number[] {
    const needle = `MAIL_CONFIG=${this.configDir}\0`;
    const out: number[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      try {
        const env = readFileSync(`/proc/${name}/environ`, 'latin1');
        if (env.includes(needle)) out.push(Number(name));
      } catch {
        // gone or not ours
      }
    }
    return out;
  }

  /** waitNoProcesses - until nothing of this instance runs; returns what is left after the timeout. */
  async waitNoProcesses(timeoutMs = 10000): Promise<number[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const left = this.processes();
      if (left.length === 0 || Date.now() > end) return left;
      await sleep(50);
    }
  }

  /** cleanup - stop, kill anything left, remove the directory. Safe to call twice. */
  async cleanup(): Promise<void> {
    if (!existsSync(this.dir)) return;
    try {
      await this.stop();
    } catch {
      // fall through to the kill
    }
    for (const pid of await this.waitNoProcesses(3000)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * mail_server_common - what every server skeleton does before and around
 * its service routine (the shared parts of Postfix single_server.c,
 * multi_server.c, trigger_server.c and dgram_server.c).
 *
 * Parse the options master passes (-c -d -D -i -l -m -n -o -s -S -t -u -v
 * -V -z), load main.cf with the -o overrides, name the process, start
 * logging, run pre-init, drop privileges, run post-init, then serve: either
 * clients that master hands over the IPC channel, or (stand-alone) one client
 * on stdin/stdout (-S) or a listener of our own (-L path|host:port, an
 * extension for tests and development). The skeleton also keeps the
 * max_use / max_idle accounting and reports busy/idle to master.
 *
 * It must never: serve a client before post-init, keep root privileges for a
 * service master runs with -u unless the daemon asked for it, or exit while
 * a client is being served (except on a fatal error).
 */

import { basename } from 'node:path';
import { Duplex } from 'node:stream';
import { Socket } from 'node:net';
import { msg, msgAddOutput, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { MailConfig, defaultConfigDirectory, errnoText } from '../global/mail_conf.js';
import type { ServerContext, ServerHooks } from './mail_server.js';
import { isMasterMessage, MASTER_CHILD_ENV, type ChildMessage } from './master_proto.js';
import { dropPrivileges, checkMailOwner } from './mail_owner.js';
import { maillogClientInit } from '../global/maillog_client.js';

/** getopt - POSIX getopt over argv; yields [option, argument] and leaves the operands. */
export function getopt(
  argv: string[],
  spec: string,
): { opts: Array<[string, string | undefined]>; rest: string[]; bad?: string } {
  const opts: Array<[string, string | undefined]> = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j];
      const pos = spec.indexOf(c);
      if (pos < 0 || c === ':') return { opts, rest: argv.slice(i + 1), bad: c };
      if (spec[pos + 1] === ':') {
        let val = arg.slice(j + 1);
        if (val === '') {
          if (i + 1 >= argv.length) return { opts, rest: [], bad: c };
          val = argv[++i];
        }
        opts.push([c, val]);
        break;
      }
      opts.push([c, undefined]);
    }
  }
  return { opts, rest: argv.slice(i) };
}

/** What the skeleton options say. */
export interface ServerArgs {
  transport?: string;
  serviceName: string;
  overrides: Array<[string, string]>;
  verbose: number;
  debug: boolean;
  chroot: boolean;
  unprivileged: boolean;
  solitary: boolean;
  zeroLimit: boolean;
  /** -S: one client on stdin/stdout */
  stdinClient: boolean;
  /** -L: stand-alone listener (extension) */
  listen?: string;
  maxIdle?: string;
  maxUse?: string;
  socketCount: number;
  /** the master.cf command arguments after the options */
  args: string[];
}

/** How long a retiring process waits for master's "stop" before it leaves anyway. */
const RETIRE_WAIT_MS = 10_000;

/** The union of the option letters the Postfix skeletons take, plus -L. */
const SERVER_OPTS = 'cdDi:lm:n:o:s:St:uvVzL:';

/** parseServerArgs - the daemon's command line (argv after the program name). */
export function parseServerArgs(argv: string[], processName: string): ServerArgs {
  const parsed = getopt(argv, SERVER_OPTS);
  if (parsed.bad !== undefined) msg.fatal(`invalid option: ${parsed.bad}`);
  const a: ServerArgs = {
    serviceName: processName,
    overrides: [],
    verbose: process.env.MAIL_VERBOSE ? 1 : 0,
    debug: !!process.env.MAIL_DEBUG,
    chroot: false,
    unprivileged: false,
    solitary: false,
    zeroLimit: false,
    stdinClient: false,
    socketCount: 1,
    args: parsed.rest,
  };
  for (const [c, v] of parsed.opts) {
    switch (c) {
      case 'c':
        a.chroot = true;
        break;
      case 'd':
        break; // historical "don't detach"; children never detach
      case 'D':
        a.debug = true;
        break;
      case 'i':
        a.maxIdle = v;
        break;
      case 'l':
        a.solitary = true;
        break;
      case 'm':
        a.maxUse = v;
        break;
      case 'n':
        a.serviceName = v!;
        break;
      case 'o': {
        const eq = v!.indexOf('=');
        a.overrides.push(eq < 0 ? [v!.trim(), ''] : [v!.slice(0, eq).trim(), v!.slice(eq + 1).trim()]);
        break;
      }
      case 's': {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0) msg.fatal(`invalid socket_count: ${v}`);
        a.socketCount = n;
        break;
      }
      case 'S':
        a.stdinClient = true;
        break;
      case 't':
        a.transport = v;
        break;
      case 'u':
        a.unprivileged = true;
        break;
      case 'v':
        a.verbose++;
        break;
      case 'V':
        break; // verbose stream logging in Postfix; the log already carries everything
      case 'z':
        a.zeroLimit = true;
        break;
      case 'L':
        a.listen = v;
        break;
    }
  }
  return a;
}

/** stderrOutput - a Postfix-style "name[pid]: text" stderr back-end (fallback and -S/-L use). */
export function stderrOutput(tag: string) {
  return (_sev: string, text: string) => {
    process.stderr.write(`${tag}[${process.pid}]: ${text}\n`);
  };
}

/**
 * initLogging - start the maillog client (postlogd when maillog_file is
 * set, else syslog), optionally also to stderr ("name: text").
 */
export function initLogging(config: MailConfig, processName: string, alsoStderr: boolean): void {
  maillogClientInit(config, processName, { stderr: alsoStderr });
}

/** serverConfig - load main.cf (MAIL_CONFIG) and apply -o overrides and run-time names. */
export function serverConfig(a: ServerArgs, processName: string): MailConfig {
  const config = MailConfig.load(defaultConfigDirectory());
  for (const [name, value] of a.overrides) config.override(name, value);
  if (a.maxIdle !== undefined) config.override('max_idle', a.maxIdle);
  if (a.maxUse !== undefined) config.override('max_use', a.maxUse);
  config.setRuntime('process_name', processName);
  config.setRuntime('service_name', a.serviceName);
  config.setRuntime('process_id', String(process.pid));
  return config;
}

/** processNameOf - basename of the program (argv[1] of node), as Postfix uses basename(argv[0]). */
export function processNameOf(): string {
  return basename(process.argv[1] ?? 'unknown').replace(/\.js$/, '');
}

/** The server-side state shared by every skeleton. */
export class ServerRuntime {
  readonly ctx: ServerContext;
  readonly args: ServerArgs;
  readonly hooks: ServerHooks;
  /** clients in progress */
  active = 0;
  /** clients served so far */
  useCount = 0;
  private retiring = false;
  /** master will hand us no more clients (it said "stop", or it is gone) */
  private masterDone = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly maxIdle: number;
  /** clients this process serves before it exits (0: no limit); see setSlots */
  maxUse: number;
  private exiting = false;
  /** true when master runs us (IPC channel present) */
  readonly underMaster: boolean;

  constructor(ctx: ServerContext, args: ServerArgs, hooks: ServerHooks) {
    this.ctx = ctx;
    this.args = args;
    this.hooks = hooks;
    this.underMaster = typeof process.send === 'function' && !!process.env[MASTER_CHILD_ENV];
    const unlimited = hooks.unlimited === true;
    this.maxIdle = unlimited ? 0 : ctx.config.time('max_idle');
    this.maxUse = unlimited ? 0 : ctx.config.int('max_use');
  }

  /**
   * setSlots - the process serves `cap` clients at once. max_use counts
   * clients per process in Postfix, where a process serves one client at a
   * time; here a process stands for `cap` Postfix processes, so it serves
   * max_use clients per slot (max_use x cap) before it exits. An admin's
   * max_use then means what it means in Postfix: how many clients one
   * server "instance" handles before it is replaced. (Counting max_use
   * per Node process would restart a process of 20 slots every 5 rounds of
   * clients, at about 90 ms of CPU per start.) cap 0 (no limit:
   * multi_server) keeps max_use as is, like Postfix multi_server.
   */
  setSlots(cap: number): void {
    if (this.maxUse > 0 && cap > 1) this.maxUse *= cap;
  }

  /** send - a status message to master (no-op when stand-alone). */
  send(m: ChildMessage): void {
    if (this.underMaster && process.connected) {
      try {
        process.send!(m);
      } catch {
        // master went away; the disconnect handler ends the process
      }
    }
  }

  /** watchMaster - exit when master goes away; obey "stop"; pass connections to onConn. */
  watchMaster(onConn?: (handle: unknown) => void): void {
    if (!this.underMaster) return;
    process.on('disconnect', () => {
      msg.debug(1, 'master disconnect -- exiting');
      this.masterDone = true;
      this.retire('master disconnect');
    });
    process.on('message', (m: unknown, raw: unknown) => {
      if (!isMasterMessage(m)) return;
      if (m.t === 'conn') {
        // master passes the bare connection handle ('net.Native'); wrap it once here
        const handle = raw && !(raw instanceof Socket) ? new Socket({ handle: raw, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]) : raw;
        if (onConn && handle) onConn(handle);
        else if (handle && typeof (handle as { destroy?: unknown }).destroy === 'function') {
          (handle as { destroy(): void }).destroy();
        }
      } else if (m.t === 'stop') {
        // Master sends nothing after this: every client it handed us has arrived.
        this.masterDone = true;
        this.retire('reload');
      }
    });
  }

  /** begin - a client arrives. */
  begin(): void {
    this.active++;
    this.useCount++;
    this.stopIdleTimer();
    if (this.maxUse > 0 && this.useCount >= this.maxUse && !this.retiring) this.retire('max_use');
  }

  /** end - a client is done; tell master when it handed the client over. */
  end(counted = true): void {
    this.active--;
    if (counted) this.send({ t: 'done' });
    if (this.retiring) this.maybeExit();
    else if (this.active === 0) this.startIdleTimer();
  }

  startIdleTimer(): void {
    this.stopIdleTimer();
    if (this.maxIdle > 0 && this.underMaster) {
      this.idleTimer = setTimeout(() => {
        msg.debug(1, 'idle timeout -- exiting');
        this.retire('idle timeout');
      }, this.maxIdle * 1000);
    }
  }

  stopIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /**
   * retire - stop taking work; exit once the current clients are done and
   * master has confirmed (with "stop") that no more clients are on their way.
   */
  retire(why: string): void {
    if (!this.retiring) {
      this.retiring = true;
      this.stopIdleTimer();
      msg.debug(1, `time to retire -- ${why}`);
      if (this.underMaster && !this.masterDone) {
        this.send({ t: 'retire' });
        // Should master never answer, leave anyway after a while.
        setTimeout(() => {
          this.masterDone = true;
          this.maybeExit();
        }, RETIRE_WAIT_MS).unref();
      }
    }
    this.maybeExit();
  }

  private maybeExit(): void {
    if (this.active === 0 && (this.masterDone || !this.underMaster)) void this.exit(0);
  }

  get isRetiring(): boolean {
    return this.retiring;
  }

  /** set by a skeleton that must finish work of its own before the process leaves (dgram: drain the socket) */
  beforeExit: (() => Promise<void>) | undefined;

  /** exit - run the daemon's exit hook and leave. */
  async exit(status: number): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    this.stopIdleTimer();
    if (this.beforeExit) await this.beforeExit();
    try {
      if (this.hooks.exit) await this.hooks.exit(this.ctx);
    } catch (e) {
      msg.warn(`exit handler: ${(e as Error).message}`);
    }
    // Let pending log writes and IPC flush.
    setImmediate(() => process.exit(status));
  }
}

/**
 * serverStart - everything up to "ready to serve": options, configuration,
 * logging, pre-init, privileges, post-init.
 */
export async function serverStart(argv: string[], hooks: ServerHooks, kind: string): Promise<ServerRuntime> {
  const processName = processNameOf();
  // Until logging is set up, problems go to stderr (master passes its stderr).
  const early = msgAddOutput(stderrOutput(`postfix/${processName}`));
  const a = parseServerArgs(argv, processName);
  setMsgVerbose(Math.max(msgVerbose, a.verbose));
  const config = serverConfig(a, processName);
  early();
  const standAlone = a.stdinClient || a.listen !== undefined;
  if (!standAlone && !process.env[MASTER_CHILD_ENV]) {
    if (process.stdin.isTTY) {
      msgAddOutput(stderrOutput(processName));
      msg.fatal('do not run this command by hand');
    }
  }
  initLogging(config, processName, a.listen !== undefined);
  msg.debug(1, 'daemon started');
  if (!standAlone) {
    if (a.transport === undefined) msg.fatal('no transport type specified');
    const ok = kind === 'dgram' ? ['unix-dgram'] : kind === 'trigger' ? ['unix', 'fifo', 'inet', 'pass'] : ['inet', 'unix', 'pass'];
    if (!ok.includes(a.transport!.toLowerCase())) msg.fatal(`unsupported transport type: ${a.transport}`);
  }
  const ctx: ServerContext = {
    config,
    serviceName: a.serviceName,
    transport: a.transport ?? (a.stdinClient ? 'stdin' : 'unix'),
    processName,
    args: a.args,
  };
  if (hooks.solitary && !a.solitary && !standAlone) msg.fatal(`service ${a.serviceName} requires a process limit of 1`);
  if (hooks.privileged && a.unprivileged) msg.fatal(`service ${a.serviceName} requires privileged operation`);
  const rt = new ServerRuntime(ctx, a, hooks);
  if (hooks.preInit) await hooks.preInit(ctx);
  try {
    process.chdir(config.str('queue_directory'));
  } catch (e) {
    msg.fatal(`chdir("${config.str('queue_directory')}"): ${errText(e)}`);
  }
  if (process.getuid && process.getuid() === 0) {
    checkMailOwner(config);
    if (a.unprivileged) dropPrivileges(config.str('mail_owner'));
  }
  if (hooks.postInit) await hooks.postInit(ctx);
  process.on('SIGPIPE', () => undefined);
  // A bug must not vanish into a closed stderr: log it like msg_fatal, then exit 1 (master respawns).
  process.on('uncaughtException', (e) => {
    const err = e as Error;
    const where = (err.stack ?? '').split('\n').find((l) => /^\s+at /.test(l))?.trim() ?? '';
    msg.fatal(`uncaught exception: ${err.message}${where ? ` (${where})` : ''}`);
  });
  // Under start-fg a ^C reaches every process; master decides when children stop.
  if (process.env[MASTER_CHILD_ENV]) process.on('SIGINT', () => undefined);
  return rt;
}

/** stdinDuplex - stdin/stdout as one duplex stream for -S. */
export function stdinDuplex(): Duplex {
  return Duplex.from({ readable: process.stdin, writable: process.stdout });
}

/** errText - a Postfix-style "%m" text for an error (strerror text for system errors). */
export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && err.syscall) return errnoText(err);
  return err?.message ?? String(e);
}

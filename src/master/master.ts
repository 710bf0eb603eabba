/**
 * master - Postfix master process (Postfix master(8), master/master*.c).
 *
 * Reads master.cf, creates every listener (inet, unix, fifo, unix-dgram,
 * pass), starts one Node child per service instance on demand, hands it
 * client connections, sends wakeup triggers, limits processes per service
 * (maxproc), throttles services whose processes fail at startup, and reloads
 * (SIGHUP) or terminates (SIGTERM) on request. Writes
 * $queue_directory/pid/master.pid and $data_directory/master.lock.
 *
 * SYNOPSIS: master [-Ddtvwis] [-c config_dir] [-e exit_time]
 *
 * Started as root, master stays root (it must bind privileged ports and
 * start privileged services); children drop privileges themselves. Started
 * as an ordinary user, nothing here makes a privilege call.
 *
 * It must never: read what a client sends (it only accepts and hands over),
 * block, or exit on a signal while leaving children behind.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  constants as fsc,
} from 'node:fs';
import { connect, createServer, isIP, type Server } from 'node:net';
import { lookup } from 'node:dns/promises';
import { join } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { msg, msgAddOutput, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { MailConfig, defaultConfigDirectory, errnoText, splitList } from '../global/mail_conf.js';
import { getopt, initLogging, errText } from './mail_server_common.js';
import { maillogClientFlush } from '../global/maillog_client.js';
import { parseMasterEntries, childArgs, serviceKey, MasterCfError, type MasterEntry } from './master_ent.js';
import { closeHandle, isFdSendMessage, type FdSendMessage } from './fd_relay.js';
import { isChildMessage, MASTER_CHILD_ENV, MASTER_GEN_NAME, type ChildMessage } from './master_proto.js';
import { getpwnam, accountProblem } from './mail_owner.js';

const USAGE =
  'usage: master [-c config_dir] [-D (debug)] [-d (don\'t detach from terminal)] [-e exit_time] [-t (test)] [-v] [-w (wait for initialization)]';

/** Connections master keeps waiting per service while no process can take them. */
const MAX_PENDING = 1000;
/** Lines of a child's stderr that master logs. */
const STDERR_LINES = 20;
/** How long a new process may take to report that it is ready. */
const CHILD_READY_TIMEOUT_MS = 60_000;
/** How long master waits for children on termination before SIGKILL. */
const CHILD_EXIT_GRACE_MS = 3000;
/** Environment variable: descriptor on which a -w child reports its initialisation status. */
const INIT_FD_ENV = 'POSTFIX_MASTER_INIT_FD';

/** One running child process. */
interface Child {
  pid: number;
  proc: ChildProcess;
  gen: number;
  ready: boolean;
  cap: number;
  active: number;
  retiring: boolean;
  useCount: number;
  /** resolves when the process has exited */
  exited: Promise<void>;
  /** connections given to send() but not yet written to the channel */
  unsent: Set<Conn>;
  /** clients it serves before it exits (0 = no limit) */
  maxUse: number;
}

/**
 * Conn - an accepted client connection as master holds it: the bare libuv
 * handle (TCP or Pipe wrap), never wrapped in a net.Socket. Master never
 * reads from it; it only passes it to a child (send() as 'net.Native') and
 * closes its own copy. Wrapping every accepted connection in a Socket and
 * destroying it again cost about 20 % of master's CPU in W1.
 */
class Conn {
  destroyed = false;
  constructor(readonly handle: { close(cb?: () => void): void }) {}
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.handle.close();
    } catch {
      // already closed
    }
  }
}

/** Where a service listens (for wakeups and cleanup). */
type Address = { path: string } | { host: string; port: number };

class Service {
  ent: MasterEntry;
  readonly key: string;
  servers: Server[] = [];
  addrs: Address[] = [];
  /** socket path for unix/fifo/unix-dgram */
  fsPath = '';
  children = new Set<Child>();
  pending: Conn[] = [];
  throttled = false;
  throttleTimer: NodeJS.Timeout | undefined;
  wakeupTimer: NodeJS.Timeout | undefined;
  condWake: boolean;
  busyWarnTime = 0;
  /** capacity the last ready child reported (0 = unlimited); 1 until known */
  lastCap = 1;
  /** true once a child of this service reported its capacity */
  capKnown = false;
  removed = false;

  constructor(ent: MasterEntry) {
    this.ent = ent;
    this.key = serviceKey(ent);
    this.condWake = ent.condWakeup;
  }

  /** Postfix serv->name: the transport endpoint (private/smtp, 127.0.0.1:25, ...). */
  get endpoint(): string {
    if (this.ent.type === 'inet') {
      const { host, port } = splitHostPort(this.ent.name);
      const num = servicePort(port) ?? port;
      return host ? `${host}:${num}` : String(num);
    }
    return `${this.ent.private ? 'private' : 'public'}/${this.ent.name}`;
  }

  /** Eagerly started: master cannot see activity on these. */
  get eager(): boolean {
    return this.ent.type === 'unix-dgram' || this.ent.type === 'fifo';
  }

  activeClients(): number {
    let n = 0;
    for (const c of this.children) n += c.active;
    return n;
  }

  liveChildren(): number {
    let n = 0;
    for (const c of this.children) if (!c.retiring) n++;
    return n;
  }

  /**
   * countedChildren - the processes that count against the process limit. A
   * service limited to one process (qmgr, pickup, anvil ...) gets its new
   * process only after the retiring one has exited (Postfix counts every
   * process in total_proc), so that after a reload two queue managers never
   * work on the same active queue.
   */
  countedChildren(): number {
    return this.ent.maxproc === 1 ? this.children.size : this.liveChildren();
  }
}

/** pidText - Postfix's pid file contents: right-aligned in sizeof(unsigned long)*4 columns. */
export function pidText(pid: number): string {
  return String(pid).padStart(32) + '\n';
}

/** readPidFile - the pid in a master.pid file, or undefined. */
export function readPidFile(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * masterRunning - the pid of a live master for this queue directory, or
 * undefined. Node cannot flock(); a live process whose command line names
 * the master program stands in for "the lock is held".
 */
export function masterRunning(queueDir: string): number | undefined {
  const pid = readPidFile(join(queueDir, 'pid', 'master.pid'));
  if (pid === undefined) return undefined;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!cmd.some((a) => /(^|\/)master(\.js)?$/.test(a))) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

/** servicePort - a port number or a name from /etc/services. */
export function servicePort(text: string): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n > 0 && n < 65536 ? n : undefined;
  }
  try {
    for (const line of readFileSync('/etc/services', 'utf8').split('\n')) {
      const f = line.replace(/#.*/, '').trim().split(/\s+/);
      if (f.length < 2) continue;
      const m = /^(\d+)\/tcp$/.exec(f[1]);
      if (m && (f[0] === text || f.slice(2).includes(text))) return Number(m[1]);
    }
  } catch {
    // fall through to the built-in names
  }
  const builtin: Record<string, number> = { smtp: 25, submission: 587, submissions: 465, smtps: 465, lmtp: 24, qmqp: 628 };
  return builtin[text];
}

/** splitHostPort - "[::1]:25", "127.0.0.1:smtp", "smtp" to host (maybe empty) and port text. */
export function splitHostPort(name: string): { host: string; port: string } {
  const m = /^\[([^\]]*)\]:(.+)$/.exec(name);
  if (m) return { host: m[1], port: m[2] };
  const i = name.lastIndexOf(':');
  if (i < 0) return { host: '', port: name };
  return { host: name.slice(0, i), port: name.slice(i + 1) };
}

/** inetAddresses - where an inet service without host: binds (inet_interfaces, inet_protocols). */
export async function inetAddresses(interfaces: string[], protocols: string[]): Promise<string[]> {
  const v4 = protocols.includes('all') || protocols.includes('ipv4');
  const v6 = protocols.includes('all') || protocols.includes('ipv6');
  const out: string[] = [];
  for (const itf of interfaces.length ? interfaces : ['all']) {
    const l = itf.toLowerCase();
    if (l === 'all') {
      if (v4) out.push('0.0.0.0');
      if (v6) out.push('::');
    } else if (l === 'loopback-only') {
      if (v4) out.push('127.0.0.1');
      if (v6) out.push('::1');
    } else {
      const bare = itf.replace(/^\[(.*)\]$/, '$1');
      if (isIP(bare)) {
        if ((isIP(bare) === 4 && v4) || (isIP(bare) === 6 && v6)) out.push(bare);
      } else {
        try {
          for (const a of await lookup(bare, { all: true })) {
            if ((a.family === 4 && v4) || (a.family === 6 && v6)) out.push(a.address);
          }
        } catch {
          msg.fatal(`bad hostname or network address: ${itf}`);
        }
      }
    }
  }
  return [...new Set(out)];
}

/** importEnvironment - the child environment: import_environment, plus PATH and NODE_* for Node itself. */
function importEnvironment(config: MailConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const item of splitList(config.str('import_environment') || 'MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME')) {
    const eq = item.indexOf('=');
    if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
    else if (process.env[item] !== undefined) env[item] = process.env[item];
  }
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'PATH' || k.startsWith('NODE_')) env[k] = v;
  }
  return env;
}

/**
 * programCommand - what to spawn for a program and its arguments: a Node
 * program (shim or .js file) runs under this Node with the options of its
 * `#!` line, as exec would give them; anything else is executed itself.
 */
export function programCommand(path: string, args: string[]): { file: string; argv: string[] } {
  const options = nodeProgramOptions(path);
  return options ? { file: process.execPath, argv: [...options, path, ...args] } : { file: path, argv: args };
}

/**
 * nodeProgramOptions - the Node options a Node program asks for on its
 * `#!/usr/bin/env -S node OPTIONS` line (V8 heap settings that cannot be
 * changed once the process runs), so that master gives them as exec would;
 * undefined when the program is not a Node program.
 */
function nodeProgramOptions(path: string): string[] | undefined {
  if (path.endsWith('.js') || path.endsWith('.mjs')) return [];
  try {
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    closeSync(fd);
    const line = buf.subarray(0, n).toString('latin1').split('\n')[0];
    if (!/^#!.*\bnode\b/.test(line)) return undefined;
    return line.slice(line.search(/\bnode\b/) + 4).split(/\s+/).filter((o) => o.startsWith('--'));
  } catch {
    return []; // let Node report the missing file, like exec would
  }
}

export interface MasterFlags {
  configDir: string;
  debug: boolean;
  detach: boolean;
  exitTime: number;
  initMode: boolean;
  keepStdout: boolean;
  test: boolean;
  verbose: number;
  wait: boolean;
  /** started by `master -w` in the background (stderr goes nowhere) */
  background: boolean;
}

export class Master {
  config!: MailConfig;
  readonly flags: MasterFlags;
  services = new Map<string, Service>();
  private generation = 0;
  private terminating = false;
  private ownerIds: { uid: number; gid: number } | undefined;
  private inetInterfaces = '';
  private inetProtocols = '';

  /** log what children write to stderr (master runs in the background) */
  private get captureStderr(): boolean {
    return this.flags.background;
  }

  /** removes the early stderr logging once the real logging is set up */
  private readonly quietStderr: () => void;

  constructor(flags: MasterFlags, quietStderr: () => void = () => undefined) {
    this.flags = flags;
    this.quietStderr = quietStderr;
  }

  get isRoot(): boolean {
    return typeof process.getuid === 'function' && process.getuid() === 0;
  }

  /** loadConfig - main.cf (with compatibility defaults) and master.cf entries. */
  private loadConfig(): { config: MailConfig; entries: MasterEntry[] } {
    const config = MailConfig.load(this.flags.configDir);
    config.setRuntime('process_name', 'master');
    const path = join(this.flags.configDir, 'master.cf');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      return msg.fatal(`open ${path}: ${errnoText(e as NodeJS.ErrnoException)}`);
    }
    try {
      const entries = parseMasterEntries(
        text,
        path,
        config.int('default_process_limit'),
        config.str('compatibility_level'),
        (t) => msg.warn(t),
      );
      return { config, entries };
    } catch (e) {
      if (e instanceof MasterCfError) return msg.fatal(e.message);
      throw e;
    }
  }

  /** start - everything up to "daemon started". */
  async start(): Promise<void> {
    const { config, entries } = this.loadConfig();
    this.config = config;
    setMsgVerbose(Math.max(msgVerbose, this.flags.verbose));
    this.quietStderr();
    initLogging(config, 'master', !this.flags.detach);
    process.on('uncaughtException', (e) => {
      const err = e as Error;
      const where = (err.stack ?? '').split('\n').find((l) => /^\s+at /.test(l))?.trim() ?? '';
      msg.fatal(`uncaught exception: ${err.message}${where ? ` (${where})` : ''}`);
    });
    const queueDir = config.str('queue_directory');
    try {
      process.chdir(queueDir);
    } catch (e) {
      msg.fatal(`chdir ${queueDir}: ${errnoText(e as NodeJS.ErrnoException)}`);
    }
    if (this.isRoot) {
      const problem = accountProblem(config);
      if (problem) {
        msg.warn(problem.hint);
        msg.fatal(problem.message);
      }
      const pw = getpwnam(config.str('mail_owner'))!;
      this.ownerIds = { uid: pw.uid, gid: pw.gid };
    }
    if (masterRunning(queueDir) !== undefined) msg.fatal('the Postfix mail system is already running');
    this.writeLocks();
    this.inetInterfaces = config.str('inet_interfaces');
    this.inetProtocols = config.str('inet_protocols');
    const protos = splitList(this.inetProtocols.toLowerCase());
    if (protos.length === 0) msg.fatal(`all network protocols are disabled (inet_protocols = ${this.inetProtocols})`);
    for (const ent of entries) {
      const svc = new Service(ent);
      await this.openListeners(svc);
      this.services.set(svc.key, svc);
    }
    this.installSignals();
    msg.info(`daemon started -- version ${config.str('mail_version')}, configuration ${this.flags.configDir}`);
    for (const svc of this.services.values()) this.startService(svc);
    if (this.flags.exitTime > 0) {
      setTimeout(() => {
        msg.info('master exit time has arrived');
        void this.terminate(0);
      }, this.flags.exitTime * 1000);
    }
  }

  /** writeLocks - pid/master.pid and $data_directory/master.lock. */
  private writeLocks(): void {
    const text = pidText(process.pid);
    const pidFile = join(this.config.str('queue_directory'), 'pid', 'master.pid');
    try {
      writeFileSync(pidFile, text, { mode: 0o600 });
    } catch (e) {
      msg.fatal(`open lock file ${pidFile}: cannot open file: ${errnoText(e as NodeJS.ErrnoException)}`);
    }
    const dataDir = this.config.str('data_directory');
    const lockFile = join(dataDir, 'master.lock');
    try {
      if (!existsSync(dataDir)) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(lockFile, text, { mode: 0o600 });
      if (this.ownerIds) chownSync(lockFile, this.ownerIds.uid, this.ownerIds.gid);
    } catch (e) {
      msg.fatal(`open lock file ${lockFile}: cannot open file: ${errnoText(e as NodeJS.ErrnoException)}`);
    }
  }

  /** lockFile - the empty pid/<type>.<name> lock files Postfix children create. */
  private touchPidLock(svc: Service, name: string): void {
    try {
      const p = join(this.config.str('queue_directory'), 'pid', `${svc.ent.type}.${name}`);
      closeSync(openSync(p, fsc.O_CREAT | fsc.O_RDWR, 0o600));
    } catch {
      // advisory only
    }
  }

  /** listenOn - start a net.Server; resolves when bound, rejects with the bind error. */
  private listenOn(svc: Service, opts: { path: string } | { host: string; port: number; ipv6Only?: boolean }): Promise<Server> {
    return new Promise((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true });
      server.once('error', reject);
      server.listen({ ...opts, backlog: Math.max(svc.ent.maxproc, this.config.int('default_process_limit'), 100) }, () => {
        server.off('error', reject);
        // Take each accepted connection as the bare handle (see Conn).
        const listenHandle = (server as unknown as { _handle: { onconnection: (err: number, h: Conn['handle']) => void } | null })._handle;
        if (listenHandle) {
          listenHandle.onconnection = (err, clientHandle) => {
            if (err) msg.warn(`${svc.endpoint}: accept: ${getSystemErrorName(err)}`);
            else if (clientHandle) this.dispatch(svc, new Conn(clientHandle));
          };
        }
        server.on('error', (e) => msg.warn(`${svc.endpoint}: ${errText(e)}`));
        resolve(server);
      });
    });
  }

  /** openListeners - create the service's sockets (Postfix master_listen_init). */
  private async openListeners(svc: Service): Promise<void> {
    const ent = svc.ent;
    const queueDir = this.config.str('queue_directory');
    if (ent.type === 'inet') {
      const { host, port: portText } = splitHostPort(ent.name);
      const port = servicePort(portText) ?? msg.fatal(`${ent.name}: unknown service: ${portText}/tcp`);
      let hosts: string[];
      if (host) {
        const bare = host.replace(/^\[(.*)\]$/, '$1');
        if (isIP(bare)) hosts = [bare];
        else {
          try {
            hosts = (await lookup(bare, { all: true })).map((a) => a.address);
          } catch {
            return msg.fatal(`bad hostname or network address: ${host}`);
          }
        }
      } else {
        hosts = await inetAddresses(splitList(this.inetInterfaces), splitList(this.inetProtocols.toLowerCase()));
      }
      for (const h of hosts) {
        try {
          const server = await this.listenOn(svc, { host: h, port, ipv6Only: isIP(h) === 6 });
          svc.servers.push(server);
          svc.addrs.push({ host: h, port });
          this.touchPidLock(svc, `${h}:${port}`);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (isIP(h) === 6 && !host && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) {
            msg.warn(`${h}:${port}: IPv6 is not available: ${errText(err)}`);
            continue;
          }
          msg.fatal(`bind ${h} port ${port}: ${errnoText(err)}`);
        }
      }
      return;
    }
    const dir = join(queueDir, ent.private ? 'private' : 'public');
    const path = join(dir, ent.name);
    svc.fsPath = path;
    if (ent.type === 'unix' || ent.type === 'pass') {
      try {
        unlinkSync(path);
      } catch {
        // not there
      }
      try {
        svc.servers.push(await this.listenOn(svc, { path }));
      } catch (e) {
        msg.fatal(`bind ${path}: ${errnoText(e as NodeJS.ErrnoException)}`);
      }
      chmodSync(path, 0o666);
      if (this.ownerIds) chownSync(path, this.ownerIds.uid, this.ownerIds.gid);
      svc.addrs.push({ path });
      this.touchPidLock(svc, ent.name);
    } else if (ent.type === 'fifo') {
      let ok = false;
      try {
        ok = statSync(path).isFIFO();
      } catch {
        ok = false;
      }
      if (!ok) {
        try {
          unlinkSync(path);
        } catch {
          // not there
        }
        const r = spawnSync('mkfifo', ['-m', '622', path]);
        if (r.status !== 0) msg.fatal(`create fifo ${path}: ${(r.stderr?.toString() || 'mkfifo failed').trim()}`);
      }
      chmodSync(path, 0o622);
      if (this.ownerIds) chownSync(path, this.ownerIds.uid, this.ownerIds.gid);
      svc.addrs.push({ path });
    } else {
      // unix-dgram: the child binds it (see dgram_server.ts); remove a stale one now.
      try {
        unlinkSync(path);
      } catch {
        // not there
      }
    }
  }

  private closeListeners(svc: Service): void {
    for (const s of svc.servers) s.close();
    svc.servers = [];
  }

  /** startService - wakeup timer and eager process (after listeners exist). */
  private startService(svc: Service): void {
    this.wakeupInit(svc);
    if (svc.eager) this.ensureEager(svc);
  }

  private ensureEager(svc: Service): void {
    if (this.terminating || svc.removed || svc.throttled) return;
    if (this.idlePostlog(svc)) return;
    if (svc.countedChildren() === 0) this.spawnChild(svc);
  }

  /**
   * idlePostlog - the postlog service while maillog_file is empty: nothing
   * sends it a record (every program logs to syslog then), so it is not
   * started, as in Postfix, where master starts postlogd only when a
   * datagram arrives. A reload that sets maillog_file starts it.
   */
  private idlePostlog(svc: Service): boolean {
    return svc.ent.type === 'unix-dgram' && svc.ent.name === this.config.str('postlog_service_name') && this.config.str('maillog_file') === '';
  }

  // ---------------------------------------------------------------- dispatch

  /** dispatch - a client connected to a service's listener. */
  private dispatch(svc: Service, sock: Conn): void {
    if (this.terminating || svc.removed || svc.pending.length >= MAX_PENDING) {
      sock.destroy();
      return;
    }
    svc.pending.push(sock);
    this.pump(svc);
  }

  /** pickChild - the least busy ready child with room, if any. */
  private pickChild(svc: Service): Child | undefined {
    let best: Child | undefined;
    for (const c of svc.children) {
      if (!c.ready || c.retiring || !c.proc.connected) continue;
      if (c.cap > 0 && c.active >= c.cap) continue;
      if (c.maxUse > 0 && c.useCount >= c.maxUse) continue; // it retires after those
      if (!best || c.active < best.active) best = c;
    }
    return best;
  }

  /** pump - hand waiting clients to children; start children when needed and allowed. */
  private pump(svc: Service): void {
    while (svc.pending.length > 0) {
      const first = svc.pending[0];
      if (first.destroyed) {
        svc.pending.shift();
        continue;
      }
      const ent = svc.ent;
      const clientLimited = svc.lastCap > 0;
      if (clientLimited && ent.maxproc > 0 && svc.activeClients() >= ent.maxproc) {
        this.limitWarning(svc);
        return;
      }
      const child = this.pickChild(svc);
      if (child) {
        svc.pending.shift();
        this.sendConn(svc, child, first);
        continue;
      }
      if (svc.throttled) return;
      // Children that are starting will take what they can.
      let starting = 0;
      for (const c of svc.children) if (!c.ready && !c.retiring) starting++;
      // Until a process has said how many clients it takes, start one at a time.
      if (starting > 0 && (!svc.capKnown || svc.lastCap === 0 || svc.pending.length <= starting * svc.lastCap)) return;
      if (svc.countedChildren() >= this.procLimit(svc)) {
        this.limitWarning(svc);
        return;
      }
      this.spawnChild(svc);
      if (svc.liveChildren() === 0) return; // spawn failed
    }
  }

  /** procLimit - how many processes the service may have: maxproc, or maxproc clients' worth of multi-client processes. */
  private procLimit(svc: Service): number {
    const ent = svc.ent;
    if (ent.maxproc === 0) return Infinity;
    return svc.lastCap > 0 ? Math.ceil(ent.maxproc / svc.lastCap) : ent.maxproc;
  }

  /**
   * startSuccessor - a child was just handed the last client that max_use
   * allows it: start the process that will take over now, while the old
   * one serves that client, unless another process can take the next
   * client already. A Node process needs ≈ 0.1 s of CPU and 0.2-0.3 s of
   * wall time before it serves its first client; started only when the
   * next client connects (Postfix's way, free for a C process), that start
   * is a pause in every busy service every max_use clients (local: every
   * 100 deliveries). The limits are the same: the new process counts
   * against maxproc, and one that gets no client leaves after max_idle.
   */
  private startSuccessor(svc: Service): void {
    if (this.terminating || svc.removed || svc.throttled || svc.ent.maxproc === 1) return;
    for (const c of svc.children) {
      if (c.retiring) continue;
      if (!c.ready) return; // one is on its way
      const usesLeft = c.maxUse === 0 || c.useCount < c.maxUse;
      if (usesLeft && (c.cap === 0 || c.active < c.cap)) return;
    }
    if (svc.countedChildren() >= this.procLimit(svc)) return;
    this.spawnChild(svc);
  }

  /** limitWarning - Postfix's process limit warning (public inet services, at most every 1000s). */
  private limitWarning(svc: Service): void {
    if (svc.ent.type !== 'inet') return;
    const now = Date.now() / 1000;
    if (svc.busyWarnTime >= now - 1000) return;
    svc.busyWarnTime = now;
    msg.warn(
      `service "${svc.ent.name}" (${svc.endpoint}) has reached its process limit "${svc.ent.maxproc}": new clients may experience noticeable delays`,
    );
    msg.warn('to avoid this condition, increase the process count in master.cf or reduce the service time per client');
    msg.warn('see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings');
  }

  /**
   * sendConn - pass a connection to a child. Master keeps its copy until the
   * descriptor is written to the channel (the kernel then holds a reference
   * of its own), so that a connection still queued when the child dies can
   * go to another child instead of hanging.
   */
  private sendConn(svc: Service, child: Child, sock: Conn): void {
    child.active++;
    child.useCount++;
    child.unsent.add(sock);
    if (child.maxUse > 0 && child.useCount >= child.maxUse) this.startSuccessor(svc);
    const failed = () => {
      child.active = Math.max(0, child.active - 1);
      if (sock.destroyed) return;
      svc.pending.unshift(sock);
      setImmediate(() => this.pump(svc));
    };
    try {
      child.proc.send({ t: 'conn' }, sock.handle as never, { keepOpen: true }, (err) => {
        if (!child.unsent.delete(sock)) return;
        if (err) failed();
        else sock.destroy();
      });
    } catch {
      if (child.unsent.delete(sock)) failed();
    }
  }

  // ---------------------------------------------------------------- processes

  private commandPath(ent: MasterEntry): string {
    return ent.command.startsWith('/') ? ent.command : join(this.config.str('daemon_directory'), ent.command);
  }

  /** spawnChild - start one process of a service (Postfix master_spawn). */
  private spawnChild(svc: Service): void {
    const ent = svc.ent;
    const path = this.commandPath(ent);
    this.generation++;
    const env = importEnvironment(this.config);
    env.MAIL_CONFIG = this.flags.configDir;
    env[MASTER_GEN_NAME] = this.generation.toString(8);
    env[MASTER_CHILD_ENV] = '1';
    if (svc.fsPath) env.POSTFIX_LISTEN_PATH = svc.fsPath;
    if (this.flags.verbose) env.MAIL_VERBOSE = String(this.flags.verbose);
    const args = childArgs(ent, 0);
    const command = programCommand(path, args);
    let proc: ChildProcess;
    try {
      proc = spawn(command.file, command.argv, {
        stdio: ['ignore', this.flags.keepStdout ? 'inherit' : 'ignore', this.captureStderr ? 'pipe' : 'inherit', 'ipc'],
        env,
        cwd: this.config.str('queue_directory'),
        serialization: 'json',
      });
    } catch (e) {
      msg.warn(`master_spawn: fork: ${errText(e)} -- throttling`);
      this.throttle(svc);
      return;
    }
    if (proc.pid === undefined) {
      msg.warn(`master_spawn: fork: ${path} -- throttling`);
      proc.on('error', () => undefined);
      this.throttle(svc);
      return;
    }
    let resolveExit: () => void = () => undefined;
    const exited = new Promise<void>((r) => (resolveExit = r));
    const child: Child = {
      exited,
      unsent: new Set(),
      maxUse: 0,
      pid: proc.pid,
      proc,
      gen: this.generation,
      ready: false,
      cap: 1,
      active: 0,
      retiring: false,
      useCount: 0,
    };
    msg.debug(1, `spawn command ${path}; pid ${child.pid}`);
    if (this.captureStderr && proc.stderr) this.logStderr(path, proc.pid, proc.stderr);
    svc.children.add(child);
    proc.on('error', (e) => msg.warn(`${path}: ${errText(e)}`));
    proc.on('message', (m: unknown, h: unknown) => {
      if (isFdSendMessage(m)) {
        this.relayFd(child, m, h);
        return;
      }
      // only a valid 'fd' message carries a handle: never keep one open for nobody
      if (h) closeHandle(h);
      this.onChildMessage(svc, child, m);
    });
    // A process that never reports "ready" would hold its clients forever; treat it as a failed start.
    const readyTimer = setTimeout(() => {
      if (!child.ready) proc.kill('SIGKILL');
    }, CHILD_READY_TIMEOUT_MS);
    readyTimer.unref();
    proc.on('exit', (code, signal) => {
      clearTimeout(readyTimer);
      this.reap(svc, child, path, code, signal);
      resolveExit();
    });
    if (svc.condWake) {
      svc.condWake = false;
      msg.debug(1, `start conditional timer for ${ent.name}`);
      this.wakeupInit(svc);
    }
  }

  /**
   * logStderr - when master runs in the background its stderr goes nowhere;
   * what a child writes there (a Node crash before its logging is up, a
   * module that cannot be loaded) is logged instead, a few lines at most.
   */
  private logStderr(path: string, pid: number, stream: NodeJS.ReadableStream): void {
    let buf = '';
    let lines = 0;
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trimEnd();
        buf = buf.slice(nl + 1);
        if (line && lines < STDERR_LINES) {
          lines++;
          msg.warn(`${path}: pid ${pid}: ${line.slice(0, 500)}`);
        }
      }
      if (buf.length > 4096) buf = '';
    });
    stream.on('error', () => undefined);
  }

  private onChildMessage(svc: Service, child: Child, m: unknown): void {
    if (!isChildMessage(m)) return;
    const cm: ChildMessage = m;
    switch (cm.t) {
      case 'ready':
        child.ready = true;
        child.cap = Math.max(0, Math.floor(cm.cap));
        child.maxUse = Math.max(0, Math.floor(cm.uses ?? 0));
        svc.lastCap = child.cap;
        svc.capKnown = true;
        break;
      case 'done':
        child.active = Math.max(0, child.active - 1);
        break;
      case 'used':
        child.useCount++;
        break;
      case 'retire':
        // Confirm: nothing more will come; the child may leave when its clients are done.
        if (!child.retiring && child.proc.connected) child.proc.send({ t: 'stop' });
        child.retiring = true;
        break;
    }
    this.pump(svc);
  }

  /**
   * relayFd - pass a connection handle from one child to another (a unix
   * service by name, or a process by id): the descriptor passing of
   * scache(8), see fd_relay.ts. Master closes its copy once it is on its way.
   */
  private relayFd(from: Child, m: FdSendMessage, handle: unknown): void {
    if (!handle) return;
    let target: Child | undefined;
    for (const svc of this.services.values()) {
      if (typeof m.to === 'number') {
        for (const c of svc.children) if (c.pid === m.to) target = c;
      } else if (svc.ent.name === m.to && svc.ent.type === 'unix' && !svc.removed) {
        for (const c of svc.children) if (c.ready && !c.retiring && c.proc.connected) target = c;
      }
      if (target) break;
    }
    if (!target || !target.proc.connected || this.terminating) {
      closeHandle(handle);
      return;
    }
    try {
      target.proc.send({ t: 'fd', token: m.token, from: from.pid }, handle as never, { keepOpen: true }, () => closeHandle(handle));
    } catch {
      closeHandle(handle);
    }
  }

  /** reap - a child exited (Postfix master_reap_child). */
  private reap(svc: Service, child: Child, path: string, code: number | null, signal: NodeJS.Signals | null): void {
    svc.children.delete(child);
    // Connections that never reached the child go to another one.
    const unsent = [...child.unsent].filter((s) => !s.destroyed);
    child.unsent.clear();
    if (this.terminating || svc.removed) for (const s of unsent) s.destroy();
    else svc.pending.unshift(...unsent);
    // Our own SIGTERM, or (while terminating) the terminal's ^C reaching the whole process group.
    const sentSignal =
      ((svc.removed || this.terminating) && signal === 'SIGTERM') ||
      (this.terminating && (signal === 'SIGINT' || signal === 'SIGQUIT' || signal === 'SIGKILL'));
    const abnormal = (code !== null && code !== 0) || (signal !== null && !sentSignal);
    if (code !== null && code !== 0) msg.warn(`process ${path} pid ${child.pid} exit status ${code}`);
    if (signal !== null && !sentSignal) {
      const num = (signalNumbers as Record<string, number>)[signal] ?? signal;
      msg.warn(`process ${path} pid ${child.pid} killed by signal ${num}`);
    }
    if (abnormal && !this.terminating && child.useCount === 0 && !svc.throttled) {
      msg.warn(`${path}: bad command startup -- throttling`);
      this.throttle(svc);
    }
    if (this.terminating || svc.removed) return;
    if (svc.eager) this.ensureEager(svc);
    this.pump(svc);
  }

  /** throttle - stop creating processes for service_throttle_time. */
  private throttle(svc: Service): void {
    if (svc.throttled) return;
    svc.throttled = true;
    msg.debug(1, `throttling command ${this.commandPath(svc.ent)}`);
    svc.throttleTimer = setTimeout(() => {
      svc.throttled = false;
      svc.throttleTimer = undefined;
      msg.debug(1, `throttle released for command ${this.commandPath(svc.ent)}`);
      if (svc.eager) this.ensureEager(svc);
      this.pump(svc);
    }, this.config.time('service_throttle_time') * 1000);
  }

  // ---------------------------------------------------------------- wakeups

  /** wakeupInit - start the wakeup timer: at once, then every N seconds (Postfix master_wakeup_init). */
  private wakeupInit(svc: Service): void {
    if (svc.ent.wakeup === 0 || svc.condWake || svc.wakeupTimer) return;
    msg.debug(1, `master_wakeup_init: service ${svc.ent.name} time ${svc.ent.wakeup}`);
    this.wakeupEvent(svc);
  }

  private wakeupEvent(svc: Service): void {
    if (this.terminating || svc.removed) return;
    if (!svc.throttled) this.sendWakeup(svc);
    svc.wakeupTimer = setTimeout(() => {
      svc.wakeupTimer = undefined;
      this.wakeupEvent(svc);
    }, svc.ent.wakeup * 1000);
  }

  private wakeupCleanup(svc: Service): void {
    if (svc.wakeupTimer) clearTimeout(svc.wakeupTimer);
    svc.wakeupTimer = undefined;
  }

  /** sendWakeup - the "W" trigger, through the service's own endpoint. */
  private sendWakeup(svc: Service): void {
    const fail = (e: unknown) =>
      msg.warn(`master_wakeup_timer_event: service ${svc.ent.name}(${svc.endpoint}): ${errnoText(e as NodeJS.ErrnoException)}`);
    const addr = svc.addrs[0];
    if (!addr) return;
    if (svc.ent.type === 'fifo' && 'path' in addr) {
      try {
        const fd = openSync(addr.path, fsc.O_WRONLY | fsc.O_NONBLOCK);
        try {
          writeSync(fd, 'W');
        } finally {
          closeSync(fd);
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENXIO') fail(e);
      }
      return;
    }
    let target: Address = addr;
    if (!('path' in addr)) {
      const host = addr.host === '0.0.0.0' ? '127.0.0.1' : addr.host === '::' ? '::1' : addr.host;
      target = { host, port: addr.port };
    }
    const sock = 'path' in target ? connect(target.path) : connect(target.port, target.host);
    sock.setTimeout(1000, () => sock.destroy());
    sock.on('error', fail);
    sock.on('connect', () => sock.end('W'));
  }

  // ---------------------------------------------------------------- signals

  private installSignals(): void {
    // Reloads run one after the other: a HUP during a reload is handled after it.
    let reloading: Promise<void> = Promise.resolve();
    process.on('SIGHUP', () => {
      reloading = reloading.then(() => this.reload());
    });
    process.on('SIGTERM', () => void this.terminate(15));
    process.on('SIGINT', () => void this.terminate(2));
    process.on('SIGQUIT', () => void this.terminate(3));
    process.on('SIGPIPE', () => undefined);
  }

  /** reload - SIGHUP: re-read main.cf and master.cf; add, change and remove services. */
  async reload(): Promise<void> {
    if (this.terminating) return;
    msg.info(`reload -- version ${this.config.str('mail_version')}, configuration ${this.flags.configDir}`);
    const { config, entries } = this.loadConfig();
    for (const [name, old] of [
      ['inet_interfaces', this.inetInterfaces],
      ['inet_protocols', this.inetProtocols],
    ] as const) {
      const now = config.str(name);
      if (now !== old) {
        msg.warn(`ignoring ${name} parameter value change`);
        msg.warn(`old value: "${old}", new value: "${now}"`);
        msg.warn(`to change ${name}, stop and start Postfix`);
        config.override(name, old);
      }
    }
    this.config = config;
    const keep = new Set<string>();
    for (const ent of entries) {
      const key = serviceKey(ent);
      keep.add(key);
      const svc = this.services.get(key);
      if (svc) {
        const privChanged = svc.ent.private !== ent.private;
        svc.ent = ent;
        svc.condWake = ent.condWakeup && svc.condWake;
        this.wakeupCleanup(svc);
        for (const c of svc.children) {
          if (!c.retiring && c.proc.connected) c.proc.send({ t: 'stop' });
          c.retiring = true;
        }
        if (privChanged) {
          this.closeListeners(svc);
          svc.addrs = [];
          await this.openListeners(svc);
        }
        this.startService(svc);
      } else {
        const fresh = new Service(ent);
        await this.openListeners(fresh);
        this.services.set(key, fresh);
        this.startService(fresh);
      }
    }
    for (const [key, svc] of this.services) {
      if (keep.has(key)) continue;
      this.removeService(svc);
      this.services.delete(key);
    }
  }

  /** removeService - a service left master.cf: close it and kill its processes. */
  private removeService(svc: Service): void {
    svc.removed = true;
    this.wakeupCleanup(svc);
    if (svc.throttleTimer) clearTimeout(svc.throttleTimer);
    this.closeListeners(svc);
    for (const s of svc.pending) s.destroy();
    svc.pending = [];
    for (const c of svc.children) c.proc.kill('SIGTERM');
  }

  /**
   * terminate - stop everything, wait for the children, exit. Logging
   * services (unix-dgram: postlogd) go last, so that the other processes'
   * final records, and ours, still reach the log.
   */
  async terminate(signum: number): Promise<void> {
    if (this.terminating) return;
    this.terminating = true;
    if (signum) msg.info(`terminating on signal ${signum}`);
    const services = [...this.services.values()];
    const waitFor = (list: Service[]) =>
      Promise.all(list.flatMap((svc) => [...svc.children].map((c) => c.exited)));
    const killer = setTimeout(() => {
      for (const svc of services) for (const c of svc.children) c.proc.kill('SIGKILL');
    }, CHILD_EXIT_GRACE_MS);
    const late = services.filter((svc) => svc.ent.type === 'unix-dgram');
    const early = services.filter((svc) => svc.ent.type !== 'unix-dgram');
    for (const svc of early) this.removeService(svc);
    for (const svc of late) {
      this.wakeupCleanup(svc);
      if (svc.throttleTimer) clearTimeout(svc.throttleTimer);
    }
    await waitFor(early);
    await maillogClientFlush();
    for (const svc of late) this.removeService(svc);
    await waitFor(late);
    clearTimeout(killer);
    setImmediate(() => process.exit(0));
  }
}

const signalNumbers: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/** parseMasterFlags - the master command line; usage errors are fatal. */
export function parseMasterFlags(argv: string[]): MasterFlags {
  const p = getopt(argv, 'c:Dde:istvw');
  if (p.bad !== undefined || p.rest.length > 0) msg.fatal(USAGE);
  const f: MasterFlags = {
    configDir: defaultConfigDirectory(),
    debug: false,
    detach: true,
    exitTime: 0,
    initMode: false,
    keepStdout: false,
    test: false,
    verbose: 0,
    wait: false,
    background: false,
  };
  for (const [c, v] of p.opts) {
    if (c === 'c') f.configDir = v!;
    else if (c === 'D') f.debug = true;
    else if (c === 'd') f.detach = false;
    else if (c === 'e') f.exitTime = Number(v);
    else if (c === 'i') {
      f.initMode = true;
      f.detach = false;
    } else if (c === 's') f.keepStdout = true;
    else if (c === 't') f.test = true;
    else if (c === 'v') f.verbose++;
    else if (c === 'w') f.wait = true;
  }
  if (!Number.isFinite(f.exitTime) || f.exitTime < 0) msg.fatal(`bad exit time: ${argv.join(' ')}`);
  if (process.env.MAIL_VERBOSE && f.verbose === 0) f.verbose = 1; // postfix -v
  if (process.env.MAIL_DEBUG) f.debug = true;
  return f;
}

/** waitForChildMaster - master -w: start the real master in the background and wait for its init status. */
function waitForChildMaster(argv: string[], flags: MasterFlags): Promise<never> {
  const args = argv.filter((a) => a !== '-w');
  const child = spawn(process.execPath, [process.argv[1], ...args], {
    detached: true,
    stdio: ['ignore', flags.keepStdout ? 'inherit' : 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, MAIL_CONFIG: flags.configDir, [INIT_FD_ENV]: '3' },
  });
  return new Promise(() => {
    const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
    let status = '';
    const done = () => {
      child.unref();
      process.exit(status.startsWith('0') ? 0 : 1);
    };
    if (!pipe) done();
    pipe!.on('data', (d: Buffer) => {
      status += d.toString();
      if (status.length > 0) done();
    });
    pipe!.on('end', done);
    pipe!.on('error', done);
    child.on('exit', () => setTimeout(done, 50));
  });
}

/** main - the master program. */
export async function main(argv: string[]): Promise<void> {
  const removeEarly = msgAddOutput((_s, text) => process.stderr.write(`master: ${text}\n`));
  const flags = parseMasterFlags(argv);
  process.env.MAIL_CONFIG = flags.configDir;
  if (flags.test) {
    const config = MailConfig.load(flags.configDir);
    process.exit(masterRunning(config.str('queue_directory')) === undefined ? 0 : 1);
  }
  if (flags.wait) {
    await waitForChildMaster(argv, flags);
    return;
  }
  const initFd = process.env[INIT_FD_ENV] ? Number(process.env[INIT_FD_ENV]) : undefined;
  delete process.env[INIT_FD_ENV];
  flags.background = initFd !== undefined;
  const master = new Master(flags, removeEarly);
  await master.start();
  if (initFd !== undefined) {
    try {
      writeSync(initFd, '0');
      closeSync(initFd);
    } catch {
      // the waiting parent is gone; carry on
    }
  }
}

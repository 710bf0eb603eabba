/**
 * bench - `npm run bench`: the benchmarks of issue 7, side by side with the
 * installed Postfix 3.7 when there is one (and we are root).
 *
 * Usage: node dist/scripts/bench/bench.js [--quick] [--tools=ours|postfix]
 *          [--only=W1,W2,W3,W4,W5,S] [--no-postfix] [--rounds=R] [--cpu-prof=/DIR]
 *          [--n1=N] [--n2=N] [--n3=N] [--n5=N] [--set=name=value ...]
 *
 *   --rounds=R  run each workload R times per system, alternating the order; every
 *              figure is the median of its rounds (default 1)
 *   --cpu-prof=/DIR  every Node process of our instances writes a V8 CPU profile
 *              to /DIR (NODE_OPTIONS passed through import_environment); see
 *              scripts/bench/profile.ts to sum them by function.
 *   --set=name=value  an extra main.cf setting for both systems (experiments;
 *              the run is then -partial)
 *
 *   W1 relay   smtp-source -s 20 -l 4096 -m N into smtpd, relayhost = [127.0.0.1]:PORT
 *              (smtp-sink): end-to-end msgs/s, smtpd accept rate, p50/p99 of delay=
 *   W2 local   the same injection to a local recipient: mbox, then Maildir
 *   W3 submit  N sequential `sendmail -t -i`: median wall time, msgs/s until delivered
 *   W4 footprint  RSS/PSS of the whole instance idle and peak during W1;
 *              `postfix start` until the port accepts; `postfix stop` until all gone
 *   W5 queue   N messages deferred (relayhost down), mailq time, then relayhost up and
 *              `postqueue -f`: drain time, qmgr RSS
 *   S  start-up costs behind W3 (node -e 0, sendmail no-op paths)
 *
 * Each workload runs on a fresh instance of each system, the two systems
 * interleaved (the order alternates between workloads). Everything is on
 * loopback, durability stays on, every wait is bounded, and every instance
 * and child is stopped at the end, on error and on SIGINT/SIGTERM.
 * Prints one table and writes bench/results/<date>[THHMM][-quick][-postfix-tools][-partial].json
 * (-partial: some workloads, other sizes, no real Postfix, or --cpu-prof).
 */

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO } from '../../test/helpers/instance.js';
import {
  background,
  children,
  CpuTracker,
  cmdline,
  footprint,
  memOf,
  percentile,
  program,
  run,
  Sampler,
  sleep,
  stopChild,
  waitPort,
  type Mem,
} from './proc.js';
import { LogTail, REAL, realPostfixUsable, Sys, type Kind } from './sys.js';

interface Options {
  quick: boolean;
  tools: 'ours' | 'postfix';
  only: Set<string>;
  withPostfix: boolean;
  /** write V8 CPU profiles of every process of our instances here (NODE_OPTIONS=--cpu-prof) */
  cpuProf?: string;
  /** how many times each workload runs per system (figures are medians) */
  rounds: number;
  /** some --nX= was given */
  nGiven?: boolean;
  n: { w1: number; w2: number; w3: number; w5: number };
  /** --set=name=value: extra main.cf settings for both systems (experiments) */
  set: Record<string, string>;
}

const FULL = { w1: 20000, w2: 20000, w3: 500, w5: 100000 };
const QUICK = { w1: 300, w2: 150, w3: 30, w5: 500 };

function usage(text: string): never {
  process.stderr.write(`bench: ${text}\nusage: bench [--quick] [--tools=ours|postfix] [--only=W1,W2,W3,W4,W5,S] [--no-postfix] [--rounds=R] [--cpu-prof=/DIR] [--n1=N] [--n2=N] [--n3=N] [--n5=N] [--set=name=value]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 1, quick: false, tools: 'ours', only: new Set(['W1', 'W2', 'W3', 'W4', 'W5', 'S']), withPostfix: true, n: { ...FULL }, set: {} };
  const counts: Partial<Options['n']> = {};
  for (const a of argv) {
    let m: RegExpExecArray | null;
    if (a === '--quick') o.quick = true;
    else if (a === '--no-postfix') o.withPostfix = false;
    else if ((m = /^--rounds=(\d{1,2})$/.exec(a)) && Number(m[1]) > 0) o.rounds = Number(m[1]);
    else if ((m = /^--cpu-prof=(\/.+)$/.exec(a))) o.cpuProf = m[1];
    else if ((m = /^--tools=(ours|postfix)$/.exec(a))) o.tools = m[1] as Options['tools'];
    else if ((m = /^--only=([A-Za-z0-9,]+)$/.exec(a))) o.only = new Set(m[1].toUpperCase().split(',').filter(Boolean));
    else if ((m = /^--n([1235])=(\d{1,7})$/.exec(a)) && Number(m[2]) > 0) counts[`w${m[1]}` as keyof Options['n']] = Number(m[2]);
    else if ((m = /^--set=([a-z0-9_]+)=(.*)$/.exec(a))) o.set[m[1]] = m[2];
    else usage(`bad argument: ${a}`);
  }
  o.n = { ...(o.quick ? QUICK : FULL), ...counts };
  o.nGiven = Object.keys(counts).length > 0;
  if (o.only.has('W4')) o.only.add('W1'); // W4's peak is taken during W1
  return o;
}

// ---- cleanup on every exit path -------------------------------------------

const active = new Set<Sys>();
let interrupted = false;

async function cleanupAll(): Promise<void> {
  for (const s of [...active]) {
    await s.cleanup().catch(() => undefined);
    active.delete(s);
  }
  for (const c of [...children]) await stopChild(c).catch(() => undefined);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${sig}: stopping every instance\n`);
    void cleanupAll().then(() => process.exit(130));
  });
}

async function withSys<T>(kind: Kind, main: Record<string, string>, fn: (s: Sys) => Promise<T>): Promise<T> {
  const extra: Record<string, string> = {};
  if (kind === 'ours' && opts.cpuProf) {
    mkdirSync(opts.cpuProf, { recursive: true });
    extra.import_environment = 'MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME NODE_OPTIONS BENCH_CPU_PROF';
  }
  const s = await Sys.create(kind, { ...opts.set, ...main, ...extra });
  if (kind === 'ours' && opts.cpuProf) {
    chmodSync(opts.cpuProf, 0o1777);
    s.startEnv = { NODE_OPTIONS: `--import=${join(REPO, 'dist', 'scripts', 'bench', 'cpuprof_preload.js')}`, BENCH_CPU_PROF: opts.cpuProf };
  }
  active.add(s);
  try {
    return await fn(s);
  } finally {
    await s.cleanup();
    active.delete(s);
  }
}

// ---- the test tools ---------------------------------------------------------

let opts: Options;

function sourceCmd(): string {
  return opts.tools === 'postfix' ? REAL.smtpSource : join(REPO, 'bin', 'smtp-source');
}

/** startSink - smtp-sink on 127.0.0.1:port; resolves when it accepts. */
async function startSink(port: number): Promise<ReturnType<typeof background>> {
  const cmd = opts.tools === 'postfix' ? REAL.smtpSink : join(REPO, 'bin', 'smtp-sink');
  const user = process.getuid?.() === 0 ? ['-u', 'postfix'] : [];
  const child = background(cmd, [...user, `127.0.0.1:${port}`, '256']);
  if (!(await waitPort(port, 15000))) {
    await stopChild(child);
    throw new Error(`smtp-sink does not listen on ${port}`);
  }
  return child;
}

/** inject - smtp-source -s 20 -l len -m n into the instance; ms. */
async function inject(s: Sys, n: number, rcpt: string, len: number): Promise<number> {
  const r = await run(sourceCmd(), ['-s', '20', '-l', String(len), '-m', String(n), '-f', 'bench@example.test', '-t', rcpt, `127.0.0.1:${s.smtpPort}`], {
    timeoutMs: 60000 + n * 100,
  });
  if (r.status !== 0) throw new Error(`${s.kind}: smtp-source failed (${r.status}): ${r.stderr.slice(0, 500)}\n${s.tailLog()}`);
  return r.ms;
}

const localUser = (): string => userInfo().username;
const drainBudget = (n: number): number => 30000 + n * 60;
const mib = (kib: number): number => kib / 1024;

function patterns(): Record<string, RegExp> {
  return { sent: / status=sent /, removed: /: removed$/, deferred: / status=deferred /, bounced: / status=bounced / };
}

function check(s: Sys, log: LogTail, what: string, got: number, want: number): void {
  if (got < want) {
    throw new Error(`${s.kind}: only ${got} of ${want} ${what} in time (sent=${log.count('sent')} deferred=${log.count('deferred')} bounced=${log.count('bounced')})\n${s.tailLog()}`);
  }
}

// ---- workloads ---------------------------------------------------------------

type Figures = Record<string, number>;

/** CPU seconds by program during W1 (sampled every W1_SAMPLE_MS; short-lived processes are undercounted) */
const cpuProfiles: Record<Kind, Array<[string, number]>> = { ours: [], postfix: [] };
/** CPU seconds by program during the W5 drain (from postqueue -f until the queue is empty) */
const drainCpuProfiles: Record<Kind, Array<[string, number]>> = { ours: [], postfix: [] };
/** CPU seconds the bench itself used during W1 (sampling /proc, reading the log): the observer's share of the machine */
const benchCpu: Record<Kind, number> = { ours: NaN, postfix: NaN };
/**
 * How often W1 samples the instance's processes. Each sample reads
 * /proc/PID/smaps_rollup, which walks the page tables of every process: at
 * 100 ms that took ≈ 4 % of the machine during our W1 (Node processes map
 * ≈ 1 GB each), CPU the system under test then lacked. Both systems are
 * sampled alike.
 */
const W1_SAMPLE_MS = 250;

/** idle PSS and RSS (MiB) of each process after start (W4) */
const idleByProgram: Record<Kind, Array<[string, number, number]>> = { ours: [], postfix: [] };

async function w1(kind: Kind): Promise<Figures> {
  const n = opts.n.w1;
  const sinkPort = await freePort();
  const sink = await startSink(sinkPort);
  try {
    return await withSys(kind, { relayhost: `[127.0.0.1]:${sinkPort}` }, async (s) => {
      const startMs = await s.start();
      await sleep(2000);
      const idlePids = s.processes();
      const idle = footprint(idlePids);
      idleByProgram[kind] = idlePids.map((p) => {
        const m = memOf(p);
        return [program(p), Number((m.pss / 1024).toFixed(1)), Number((m.rss / 1024).toFixed(1))] as [string, number, number];
      });
      const log = new LogTail(s.logFile, patterns());
      const cpu = new CpuTracker();
      cpu.sample(s.processes(), true);
      const sampler = new Sampler(() => {
        const pids = s.processes();
        cpu.sample(pids);
        return footprint(pids);
      }, W1_SAMPLE_MS);
      let peak: Mem;
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      let acceptMs: number;
      try {
        acceptMs = await inject(s, n, 'rcpt@relay.example', 4096);
        const got = await log.waitFor('removed', n, drainBudget(n));
        check(s, log, 'messages relayed', got, n);
      } finally {
        peak = sampler.stop();
      }
      const e2eMs = performance.now() - t0;
      const used = process.cpuUsage(cpu0);
      benchCpu[kind] = (used.user + used.system) / 1e6;
      cpuProfiles[kind] = cpu.byProgram().map(([p, sec]) => [p, Number(sec.toFixed(2))]);
      const stopMs = await s.stop();
      return {
        w1_e2e: (n / e2eMs) * 1000,
        w1_accept: (n / acceptMs) * 1000,
        w1_p50: percentile(log.delays, 50),
        w1_p99: percentile(log.delays, 99),
        w4_start: startMs,
        w4_stop: stopMs,
        w4_idle_pss: mib(idle.pssKiB),
        w4_idle_rss: mib(idle.rssKiB),
        w4_idle_procs: idle.procs,
        w4_peak_pss: mib(peak.pssKiB),
        w4_peak_rss: mib(peak.rssKiB),
        w4_peak_procs: peak.procs,
      };
    });
  } finally {
    await stopChild(sink);
  }
}

async function w2(kind: Kind): Promise<Figures> {
  const n = opts.n.w2;
  const out: Figures = {};
  for (const format of ['mbox', 'maildir'] as const) {
    out[`w2_${format}`] = await withSys(kind, {}, async (s) => {
      let rcpt = `${localUser()}@mail.example.test`;
      if (format === 'maildir') {
        s.setMain({ alias_maps: `inline:{benchbox=${join(s.mailDir, 'Maildir')}/}` });
        rcpt = 'benchbox@mail.example.test';
      }
      await s.start();
      const log = new LogTail(s.logFile, patterns());
      const t0 = performance.now();
      await inject(s, n, rcpt, 4096);
      const got = await log.waitFor('removed', n, drainBudget(n));
      check(s, log, `messages delivered (${format})`, got, n);
      return (n / (performance.now() - t0)) * 1000;
    });
  }
  return out;
}

async function w3(kind: Kind): Promise<Figures> {
  const n = opts.n.w3;
  return withSys(kind, {}, async (s) => {
    await s.start();
    const log = new LogTail(s.logFile, patterns());
    const rcpt = `${localUser()}@mail.example.test`;
    const times: number[] = [];
    const t0 = performance.now();
    const end = Date.now() + 30000 + n * 1000;
    for (let i = 0; i < n && Date.now() < end; i++) {
      const text = `From: bench@example.test\nTo: ${rcpt}\nSubject: bench ${i}\n\nmessage ${i}\n`;
      const r = await s.exec('sendmail', ['-t', '-i'], text, 30000);
      if (r.status !== 0) throw new Error(`${kind}: sendmail failed (${r.status}): ${r.stderr.slice(0, 500)}`);
      times.push(r.ms);
    }
    if (times.length < n) throw new Error(`${kind}: only ${times.length} of ${n} sendmail runs in time`);
    const got = await log.waitFor('removed', n, drainBudget(n));
    check(s, log, 'submitted messages delivered', got, n);
    return { w3_median: percentile(times, 50), w3_rate: (n / (performance.now() - t0)) * 1000 };
  });
}

async function w5(kind: Kind): Promise<Figures> {
  const n = opts.n.w5;
  const port = await freePort();
  let sink: ReturnType<typeof background> | undefined;
  try {
    return await withSys(kind, { relayhost: `[127.0.0.1]:${port}` }, async (s) => {
      await s.start();
      const log = new LogTail(s.logFile, patterns());
      await inject(s, n, 'rcpt@relay.example', 1024);
      check(s, log, 'messages deferred', await log.waitFor('deferred', n, drainBudget(n)), n);
      await sleep(500);
      const q = await s.exec('postqueue', ['-c', s.configDir, '-p'], undefined, 300000);
      const listed = (q.stdout.match(/^[0-9A-F]{6,}[*!]?\s/gm) ?? []).length;
      if (q.status !== 0 || listed < n) throw new Error(`${kind}: postqueue -p listed ${listed} of ${n} (status ${q.status}): ${q.stderr.slice(0, 300)}`);
      const qmgr = s.processes().find((p) => /qmgr/.test(cmdline(p)));
      const idleQmgr = qmgr ? memOf(qmgr) : { rss: NaN, pss: NaN };
      sink = await startSink(port);
      const cpu = new CpuTracker();
      cpu.sample(s.processes(), true);
      const sampler = new Sampler(() => {
        cpu.sample(s.processes());
        const m = qmgr ? memOf(qmgr) : { rss: 0, pss: 0 };
        return { rssKiB: m.rss, pssKiB: m.pss, procs: 1 };
      }, 100);
      const t0 = performance.now();
      let peak: Mem;
      try {
        const f = await s.exec('postqueue', ['-c', s.configDir, '-f'], undefined, 60000);
        if (f.status !== 0) throw new Error(`${kind}: postqueue -f failed: ${f.stderr}`);
        check(s, log, 'deferred messages drained', await log.waitFor('removed', n, drainBudget(n)), n);
      } finally {
        peak = sampler.stop();
      }
      drainCpuProfiles[kind] = cpu.byProgram().map(([p, sec]) => [p, Number(sec.toFixed(2))]);
      return {
        w5_drain: (performance.now() - t0) / 1000,
        w5_rate: (n / (performance.now() - t0)) * 1000,
        w5_qmgr_rss_deferred: mib(idleQmgr.rss),
        w5_qmgr_rss_peak: mib(peak.rssKiB),
        w5_qmgr_pss_deferred: mib(idleQmgr.pss),
        w5_qmgr_pss_peak: mib(peak.pssKiB),
        w5_mailq: q.ms,
      };
    });
  } finally {
    if (sink) await stopChild(sink);
  }
}

/** median wall time (ms) of `count` runs of a command */
async function startup(cmd: string, args: string[], env: NodeJS.ProcessEnv, count: number): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < count; i++) t.push((await run(cmd, args, { env, timeoutMs: 20000 })).ms);
  return percentile(t, 50);
}

/**
 * buildSnapshot - a user-land V8 startup snapshot (node --build-snapshot) of a
 * script that does nothing at run time: what Node's start costs when the
 * application is deserialized instead of loaded. Undefined when unsupported.
 */
async function buildSnapshot(dir: string): Promise<string | undefined> {
  const entry = join(dir, 'snap-entry.cjs');
  const blob = join(dir, 'snap.blob');
  writeFileSync(entry, "const v8 = require('node:v8');\nv8.startupSnapshot.setDeserializeMainFunction(() => {});\n");
  const r = await run(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', entry], { timeoutMs: 60000 });
  return r.status === 0 ? blob : undefined;
}

/** S - what a process start costs: the floor under W3 (both instances running). */
async function startupCosts(): Promise<Record<string, { ours: number; postfix: number }>> {
  const count = opts.quick ? 10 : 30;
  const out: Record<string, { ours: number; postfix: number }> = {};
  await withSys('ours', {}, async (ours) => {
    await ours.start();
    const envOurs = ours.env();
    out.s_true = { ours: NaN, postfix: await startup('/bin/true', [], process.env, count) };
    out.s_node = { ours: await startup(process.execPath, ['-e', '0'], process.env, count), postfix: NaN };
    const blob = await buildSnapshot(ours.dir);
    out.s_node_snapshot = { ours: blob ? await startup(process.execPath, ['--snapshot-blob', blob], process.env, count) : NaN, postfix: NaN };
    out.s_sendmail_noop = { ours: await startup(join(REPO, 'bin', 'sendmail'), ['-bh'], envOurs, count), postfix: NaN };
    out.s_postqueue_p = { ours: await startup(join(REPO, 'bin', 'postqueue'), ['-c', ours.configDir, '-p'], envOurs, Math.min(count, 10)), postfix: NaN };
  });
  if (opts.withPostfix && realPostfixUsable()) {
    await withSys('postfix', {}, async (pfx) => {
      await pfx.start();
      const env = pfx.env();
      out.s_sendmail_noop.postfix = await startup(REAL.sendmail, ['-bh'], env, count);
      out.s_postqueue_p.postfix = await startup(REAL.postqueue, ['-c', pfx.configDir, '-p'], env, Math.min(count, 10));
    });
  }
  return out;
}

// ---- the table -------------------------------------------------------------------

interface Figure {
  key: string;
  id: string;
  label: string;
  unit: string;
  /** the target as a ratio ours/Postfix, with its direction */
  target?: { op: '>=' | '<='; ratio: number };
  /** an absolute target on our figure */
  abs?: { op: '<='; value: number };
}

const FIGURES: Figure[] = [
  { key: 'w1_e2e', id: 'W1 relay', label: 'end-to-end', unit: 'msg/s', target: { op: '>=', ratio: 1 } },
  { key: 'w1_accept', id: 'W1 relay', label: 'smtpd accept rate', unit: 'msg/s', target: { op: '>=', ratio: 1 } },
  { key: 'w1_p50', id: 'W1 relay', label: 'delay= p50', unit: 's' },
  { key: 'w1_p99', id: 'W1 relay', label: 'delay= p99', unit: 's' },
  { key: 'w2_mbox', id: 'W2 local', label: 'mbox end-to-end', unit: 'msg/s', target: { op: '>=', ratio: 1 } },
  { key: 'w2_maildir', id: 'W2 local', label: 'Maildir end-to-end', unit: 'msg/s', target: { op: '>=', ratio: 1 } },
  { key: 'w3_median', id: 'W3 submit', label: 'sendmail median wall', unit: 'ms', target: { op: '<=', ratio: 3 } },
  { key: 'w3_rate', id: 'W3 submit', label: 'until delivered', unit: 'msg/s' },
  { key: 'w4_idle_pss', id: 'W4 footprint', label: 'idle PSS (all procs)', unit: 'MiB', abs: { op: '<=', value: 60 } },
  { key: 'w4_idle_rss', id: 'W4 footprint', label: 'idle RSS (all procs)', unit: 'MiB' },
  { key: 'w4_idle_procs', id: 'W4 footprint', label: 'idle processes', unit: '' },
  { key: 'w4_peak_pss', id: 'W4 footprint', label: 'W1 peak PSS', unit: 'MiB', target: { op: '<=', ratio: 3 } },
  { key: 'w4_peak_rss', id: 'W4 footprint', label: 'W1 peak RSS', unit: 'MiB' },
  { key: 'w4_peak_procs', id: 'W4 footprint', label: 'W1 peak processes', unit: '' },
  { key: 'w4_start', id: 'W4 footprint', label: 'postfix start -> port', unit: 'ms', target: { op: '<=', ratio: 3 } },
  { key: 'w4_stop', id: 'W4 footprint', label: 'postfix stop -> all gone', unit: 'ms' },
  { key: 'w5_drain', id: 'W5 queue', label: 'drain after postqueue -f', unit: 's', target: { op: '<=', ratio: 1 } },
  { key: 'w5_rate', id: 'W5 queue', label: 'drain rate', unit: 'msg/s' },
  { key: 'w5_qmgr_rss_deferred', id: 'W5 queue', label: 'qmgr RSS, all deferred', unit: 'MiB' },
  { key: 'w5_qmgr_rss_peak', id: 'W5 queue', label: 'qmgr RSS peak, drain', unit: 'MiB', target: { op: '<=', ratio: 2 } },
  // PSS: the pages qmgr shares with other processes (for Node, ≈ 40 MiB of the node binary's) counted by share
  { key: 'w5_qmgr_pss_deferred', id: 'W5 queue', label: 'qmgr PSS, all deferred', unit: 'MiB' },
  { key: 'w5_qmgr_pss_peak', id: 'W5 queue', label: 'qmgr PSS peak, drain', unit: 'MiB', target: { op: '<=', ratio: 2 } },
  { key: 'w5_mailq', id: 'W5 queue', label: 'postqueue -p (mailq)', unit: 'ms' },
  { key: 's_true', id: 'S start-up', label: '/bin/true (spawn floor)', unit: 'ms' },
  { key: 's_node', id: 'S start-up', label: 'node -e 0', unit: 'ms' },
  { key: 's_node_snapshot', id: 'S start-up', label: 'node, user V8 snapshot', unit: 'ms' },
  { key: 's_sendmail_noop', id: 'S start-up', label: 'sendmail -bh (no-op)', unit: 'ms' },
  { key: 's_postqueue_p', id: 'S start-up', label: 'postqueue -p, empty queue', unit: 'ms' },
];

function fmt(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

interface Row {
  id: string;
  figure: string;
  unit: string;
  ours: number | null;
  postfix: number | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

function rows(ours: Figures, pfx: Figures): Row[] {
  const out: Row[] = [];
  for (const f of FIGURES) {
    if (!(f.key in ours) && !(f.key in pfx)) continue;
    const o = ours[f.key];
    const p = pfx[f.key];
    const ratio = o !== undefined && p !== undefined && !Number.isNaN(o) && !Number.isNaN(p) && p !== 0 ? o / p : NaN;
    let target = '';
    let met: boolean | null = null;
    if (f.target) {
      target = `${f.target.op} ${f.target.ratio}x`;
      if (!Number.isNaN(ratio)) met = f.target.op === '>=' ? ratio >= f.target.ratio : ratio <= f.target.ratio;
    } else if (f.abs) {
      target = `${f.abs.op} ${f.abs.value} ${f.unit}`;
      if (o !== undefined && !Number.isNaN(o)) met = o <= f.abs.value;
    }
    const num = (v: number | undefined): number | null => (v === undefined || Number.isNaN(v) ? null : Number(v.toFixed(4)));
    out.push({ id: f.id, figure: f.label, unit: f.unit, ours: num(o), postfix: num(p), ratio: num(ratio), target, met });
  }
  return out;
}

function table(rs: Row[], withPostfix: boolean): string {
  const head = withPostfix ? ['workload', 'figure', 'unit', 'ours', 'Postfix', 'ours/Postfix', 'target', 'met'] : ['workload', 'figure', 'unit', 'ours', 'target'];
  const body = rs.map((r) => {
    const met = r.met === null ? '' : r.met ? 'yes' : 'NO';
    return withPostfix
      ? [r.id, r.figure, r.unit, fmt(r.ours ?? NaN), fmt(r.postfix ?? NaN), r.ratio === null ? '-' : `${fmt(r.ratio)}x`, r.target, met]
      : [r.id, r.figure, r.unit, fmt(r.ours ?? NaN), r.target];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

// ---- main ----------------------------------------------------------------------------

async function main(): Promise<void> {
  opts = parseArgs(process.argv.slice(2));
  const withPostfix = opts.withPostfix && realPostfixUsable();
  if (opts.withPostfix && !withPostfix) process.stderr.write('bench: real Postfix not usable (needs /usr/sbin/postfix and root): our figures only\n');
  if (opts.tools === 'postfix' && !realPostfixUsable()) usage('--tools=postfix needs the installed smtp-source/smtp-sink');
  const kinds: Kind[] = withPostfix ? ['ours', 'postfix'] : ['ours'];
  const results: Record<Kind, Figures> = { ours: {}, postfix: {} };
  const errors: string[] = [];
  const tStart = Date.now();
  const workloads: Array<[string, (k: Kind) => Promise<Figures>]> = [
    ['W1', w1],
    ['W2', w2],
    ['W3', w3],
    ['W5', w5],
  ];
  // Each workload runs `rounds` times per system, the order alternating, and
  // every figure is the median over the rounds (the machines drift).
  const samples: Record<Kind, Record<string, number[]>> = { ours: {}, postfix: {} };
  let turn = 0;
  for (const [id, fn] of workloads) {
    if (!opts.only.has(id)) continue;
    for (let r = 0; r < opts.rounds; r++) {
      const order = turn++ % 2 === 0 ? kinds : [...kinds].reverse();
      for (const k of order) {
        if (interrupted) return;
        const t = Date.now();
        process.stderr.write(`bench: ${id} ${k}${opts.rounds > 1 ? ` round ${r + 1}/${opts.rounds}` : ''} ...`);
        try {
          for (const [key, v] of Object.entries(await fn(k))) (samples[k][key] ??= []).push(v);
          process.stderr.write(` ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
        } catch (err) {
          process.stderr.write(` FAILED\n`);
          errors.push(`${id} ${k}: ${(err as Error).message}`);
          process.stderr.write(`bench: ${id} ${k}: ${(err as Error).message}\n`);
        }
      }
    }
  }
  for (const k of kinds) {
    for (const [key, list] of Object.entries(samples[k])) results[k][key] = percentile(list.filter((v) => !Number.isNaN(v)), 50);
  }
  if (opts.only.has('S') && !interrupted) {
    process.stderr.write('bench: S start-up costs ...');
    try {
      const s = await startupCosts();
      for (const [k, v] of Object.entries(s)) {
        results.ours[k] = v.ours;
        results.postfix[k] = v.postfix;
      }
      process.stderr.write(' done\n');
    } catch (err) {
      errors.push(`S: ${(err as Error).message}`);
      process.stderr.write(` FAILED: ${(err as Error).message}\n`);
    }
  }
  if (interrupted) return;
  const rs = rows(results.ours, withPostfix ? results.postfix : {});
  const date = new Date().toISOString();
  const pfxVersion = withPostfix ? (await run('/usr/sbin/postconf', ['-d', '-h', 'mail_version'])).stdout.trim() : null;
  process.stdout.write(
    `\nbench ${opts.quick ? '--quick ' : ''}(tools: ${opts.tools}; rounds: ${opts.rounds}; N: W1=${opts.n.w1} W2=${opts.n.w2} W3=${opts.n.w3} W5=${opts.n.w5}; ` +
      `${cpus().length} cores; node ${process.version}${pfxVersion ? `; Postfix ${pfxVersion}` : ''})\n\n${table(rs, withPostfix)}\n`,
  );
  for (const k of kinds) {
    if (idleByProgram[k].length > 0) {
      process.stdout.write(`\nW4 idle PSS/RSS MiB by process, ${k}: ${idleByProgram[k].map(([p, pss, rss]) => `${p} ${pss}/${rss}`).join(', ')}\n`);
    }
    if (cpuProfiles[k].length > 0) {
      process.stdout.write(`\nW1 CPU seconds by program, ${k}: ${cpuProfiles[k].map(([p, s]) => `${p} ${s.toFixed(1)}`).join(', ')} (the bench itself: ${benchCpu[k].toFixed(1)})\n`);
    }
    if (drainCpuProfiles[k].length > 0) {
      process.stdout.write(`\nW5 drain CPU seconds by program, ${k}: ${drainCpuProfiles[k].map(([p, s]) => `${p} ${s.toFixed(1)}`).join(', ')}\n`);
    }
  }
  if (errors.length > 0) process.stdout.write(`\nerrors:\n${errors.map((e) => '  ' + e.split('\n')[0]).join('\n')}\n`);
  const out = {
    date,
    quick: opts.quick,
    tools: opts.tools,
    counts: opts.n,
    set: opts.set,
    rounds: opts.rounds,
    samples: { ours: samples.ours, postfix: withPostfix ? samples.postfix : null },
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? '', memMiB: Math.round(totalmem() / 1048576) },
    node: process.version,
    postfix: pfxVersion,
    seconds: Math.round((Date.now() - tStart) / 1000),
    rows: rs,
    raw: { ours: results.ours, postfix: withPostfix ? results.postfix : null },
    w1CpuSecondsByProgram: cpuProfiles,
    w1BenchCpuSeconds: benchCpu,
    w5DrainCpuSecondsByProgram: drainCpuProfiles,
    w4IdlePssRssMiBByProcess: idleByProgram,
    errors,
  };
  const dir = join(REPO, 'bench', 'results');
  // only a run of every workload at the standard sizes with our tools gets the plain name
  const partial = ['W1', 'W2', 'W3', 'W4', 'W5', 'S'].some((w) => !opts.only.has(w)) || opts.nGiven || !withPostfix || opts.cpuProf !== undefined || Object.keys(opts.set).length > 0;
  const suffix = `${opts.quick ? '-quick' : ''}${opts.tools === 'postfix' ? '-postfix-tools' : ''}${partial ? '-partial' : ''}`;
  // partial runs are many: they also carry the time of day
  const stamp = partial ? `${date.slice(0, 10)}T${date.slice(11, 16).replace(':', '')}` : date.slice(0, 10);
  let file = join(dir, `${stamp}${suffix}.json`);
  const json = JSON.stringify(out, null, 2) + '\n';
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, json);
  } catch (err) {
    // e.g. an ordinary user running a checkout owned by root: keep the figures anyway
    process.stderr.write(`bench: cannot write ${file}: ${(err as Error).message}\n`);
    file = join(tmpdir(), `bench-${stamp}${suffix}.json`);
    writeFileSync(file, json);
  }
  process.stdout.write(`\nwritten: ${file} (${out.seconds} s)\n`);
  if (errors.length > 0) process.exitCode = 1;
}

main()
  .catch((err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());

/**
 * proc - process helpers for the benchmarks: bounded child runs, the
 * process tree of an instance, and its memory (RSS/PSS from
 * /proc/PID/smaps_rollup), all from /proc (Linux).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** every child still running, so that an interrupt can end them */
export const children = new Set<ChildProcess>();

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** run - run a program to its end (killed after timeoutMs); wall time in ms. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120000);
    child.stdout!.on('data', (d: Buffer) => {
      if (stdout.length < 64 << 20) stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 1 << 20) stderr += d.toString();
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
    child.on('error', (err) => {
      stderr += String(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ status: code ?? (signal ? 128 : 1), stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** background - start a long-running program (a sink); stop it with kill(). */
export function background(cmd: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.stderr!.on('data', () => undefined);
  child.on('close', () => children.delete(child));
  return child;
}

/** stopChild - SIGTERM, then SIGKILL after a second; resolves when it has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('close', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 1000);
  await done;
  clearTimeout(t);
}

/** portAccepts - one TCP connect attempt to 127.0.0.1:port. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** waitPort - until 127.0.0.1:port accepts (polled every 5 ms); false on timeout. */
export async function waitPort(port: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await portAccepts(port)) return true;
    await sleep(5);
  }
  return false;
}

interface ProcStat {
  pid: number;
  ppid: number;
  start: string;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(rest[1]), start: rest[19] };
  } catch {
    return undefined;
  }
}

/** tree - pid and all its descendants (pid first); [] when pid is not running. */
export function tree(pid: number | undefined): number[] {
  if (pid === undefined || !procStat(pid)) return [];
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (!st) continue;
    const list = byParent.get(st.ppid) ?? [];
    list.push(st.pid);
    byParent.set(st.ppid, list);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0 && out.length < 10000) {
    const p = todo.shift()!;
    out.push(p);
    todo.push(...(byParent.get(p) ?? []));
  }
  return out;
}

/** identity - pid plus start time, so a recycled pid is not mistaken for ours. */
export function identity(pids: number[]): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const p of pids) {
    const st = procStat(p);
    if (st) out.push([p, st.start]);
  }
  return out;
}

/** alive - those of the identities still running (zombies count as gone). */
export function alive(ids: Array<[number, string]>): number[] {
  return ids
    .filter(([p, start]) => {
      const st = procStat(p);
      if (!st || st.start !== start) return false;
      try {
        return !/^State:\s+Z/m.test(readFileSync(`/proc/${p}/status`, 'latin1'));
      } catch {
        return false;
      }
    })
    .map(([p]) => p);
}

export interface Mem {
  rssKiB: number;
  pssKiB: number;
  procs: number;
}

/** memOf - RSS and PSS (KiB) of one process from smaps_rollup; zeros when gone. */
export function memOf(pid: number): { rss: number; pss: number } {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
    const rss = /^Rss:\s+(\d+)/m.exec(t);
    const pss = /^Pss:\s+(\d+)/m.exec(t);
    return { rss: rss ? Number(rss[1]) : 0, pss: pss ? Number(pss[1]) : 0 };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** footprint - summed RSS and PSS of a process tree. */
export function footprint(pids: number[]): Mem {
  let rssKiB = 0;
  let pssKiB = 0;
  let procs = 0;
  for (const p of pids) {
    const m = memOf(p);
    if (m.rss === 0) continue;
    rssKiB += m.rss;
    pssKiB += m.pss;
    procs += 1;
  }
  return { rssKiB, pssKiB, procs };
}

/** cmdline - a process's argv joined by spaces ("" when gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** program - the program a process runs: basename of the script under node (after its options), else of argv[0]. */
export function program(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    const base = (s: string): string => s.slice(s.lastIndexOf('/') + 1);
    const script = argv.slice(1).find((a) => !a.startsWith('-'));
    if (/^node$|\/node$/.test(argv[0]) && script) return base(script);
    return base(argv[0]).split(' ')[0] || '?';
  } catch {
    return '?';
  }
}

/** cpuTicks - user+system clock ticks a process has used so far (0 when gone). */
export function cpuTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** CpuTracker - CPU seconds used per program by a changing set of processes (last sample of each pid counts). */
export class CpuTracker {
  private readonly last = new Map<string, { prog: string; ticks: number; base: number }>();

  /** track - sample these pids; `fresh` marks the first call (their CPU so far becomes the baseline). */
  sample(pids: number[], fresh = false): void {
    for (const p of pids) {
      const st = procStat(p);
      if (!st) continue;
      const key = `${p}/${st.start}`;
      const ticks = cpuTicks(p);
      const prev = this.last.get(key);
      if (prev) prev.ticks = ticks;
      else this.last.set(key, { prog: program(p), ticks, base: fresh ? ticks : 0 });
    }
  }

  /** seconds by program (100 ticks a second, Linux USER_HZ), largest first */
  byProgram(): Array<[string, number]> {
    const sum = new Map<string, number>();
    for (const v of this.last.values()) sum.set(v.prog, (sum.get(v.prog) ?? 0) + (v.ticks - v.base) / 100);
    return [...sum.entries()].filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]);
  }
}

/** Sampler - polls a footprint function and keeps the peak. */
export class Sampler {
  peak: Mem = { rssKiB: 0, pssKiB: 0, procs: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sample: () => Mem, intervalMs = 250) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.tick();
  }

  private tick(): void {
    const m = this.sample();
    if (m.pssKiB > this.peak.pssKiB) this.peak.pssKiB = m.pssKiB;
    if (m.rssKiB > this.peak.rssKiB) this.peak.rssKiB = m.rssKiB;
    if (m.procs > this.peak.procs) this.peak.procs = m.procs;
  }

  stop(): Mem {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tick();
    return this.peak;
  }
}

/** median / percentile of numbers (nearest rank); NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

/**
 * profile - sum V8 CPU profiles (written by `bench --cpu-prof=/DIR`) by
 * program and function: self time and inclusive time, largest first.
 *
 * Usage: node dist/scripts/bench/profile.js /DIR [program] [top]
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
const [dir, only, topArg] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: profile /DIR [program] [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const self = new Map<string, number>();
const incl = new Map<string, number>();
let total = 0;
let files = 0;
for (const f of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
  const prog = f.split('.')[0];
  if (only && prog !== only) continue;
  files++;
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: Node): string => {
    const url = n.callFrame.url.replace(/^file:\/\/.*?\/dist\//, '').replace(/^file:\/\/.*node_modules\//, 'nm/');
    return `${n.callFrame.functionName || '(anon)'} ${url}${url ? ':' + (n.callFrame.lineNumber + 1) : ''}`;
  };
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const n = byId.get(p.samples[i]);
    if (!n || n.callFrame.functionName === '(idle)') continue;
    total += dt;
    const k = `${prog}: ${label(n)}`;
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const m = byId.get(id)!;
      const key = `${prog}: ${label(m)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + dt);
    }
  }
}
const show = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title} (ms, ${files} profiles, ${total.toFixed(0)} ms busy)\n`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${v.toFixed(0).padStart(8)} ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}\n`);
  }
};
show('self time', self);
show('inclusive time', incl);

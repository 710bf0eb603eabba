/**
 * cpuprof_preload - loaded with `node --import` (NODE_OPTIONS) into every Node
 * process of a benchmarked instance when `bench --cpu-prof=/DIR` is given:
 * starts the V8 CPU profiler and writes /DIR/<program>.<pid>.cpuprofile when
 * the process exits normally (Node 20 refuses --cpu-prof in NODE_OPTIONS).
 */

import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  // A daemon without its own SIGTERM handler would die without an 'exit' event:
  // keep the default outcome (exit on SIGTERM) but leave through process.exit.
  const onTerm = (): void => {
    if (process.listenerCount('SIGTERM') === 1) process.exit(143);
  };
  process.on('SIGTERM', onTerm);
  process.on('exit', () => {
    // an in-thread session answers synchronously
    session.post('Profiler.stop', (err, res) => {
      if (err || !res) return;
      const name = basename(process.argv[1] ?? 'node');
      try {
        writeFileSync(join(dir, `${name}.${process.pid}.cpuprofile`), JSON.stringify(res.profile));
      } catch {
        // the profile is a diagnostic; never fail the daemon for it
      }
    });
  });
}

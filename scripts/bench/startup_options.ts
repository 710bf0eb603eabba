/**
 * startup_options - what the W3 options would give: the start-up of
 * `sendmail -bh` (a no-op path) as shipped, as one bundled file, as a bundle
 * without the native dictionary addons (lmdb, better-sqlite3), and as a V8
 * startup snapshot of that bundle; against /bin/true, `node -e 0`, node from
 * an empty snapshot, and Postfix's sendmail when installed.
 *
 * Usage: node dist/scripts/bench/startup_options.js --esbuild=/path/to/esbuild [--runs=N]
 *
 * esbuild is not a dependency of the project: install it anywhere, e.g.
 * `npm install --prefix /tmp/esb esbuild@0.24.2` and pass
 * --esbuild=/tmp/esb/node_modules/.bin/esbuild. The bundles are written under
 * node_modules/.cache/bench/ (so that the externals still resolve) and the
 * runs are interleaved; medians and minimums in ms.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from '../../test/helpers/instance.js';
import { percentile } from './proc.js';

const args = process.argv.slice(2);
const esbuild = args.find((a) => a.startsWith('--esbuild='))?.slice(10);
const runs = Math.min(200, Math.max(3, Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 30)));
if (!esbuild || !existsSync(esbuild)) {
  process.stderr.write('usage: startup_options --esbuild=/path/to/esbuild [--runs=N]\n');
  process.exit(2);
}

const out = join(REPO, 'node_modules', '.cache', 'bench');
mkdirSync(out, { recursive: true });
const cfg = mkdtempSync(join(tmpdir(), 'bench-startup-'));
writeFileSync(join(cfg, 'main.cf'), 'compatibility_level = 3.7\n');
const sendmailJs = join(REPO, 'dist', 'src', 'sendmail', 'sendmail.js');
const installDefaults = pathToFileURL(join(REPO, 'dist', 'src', 'global', 'install_defaults.js')).href;
writeFileSync(join(out, 'entry.mjs'), `import { main } from ${JSON.stringify(sendmailJs)};\nmain(process.argv.slice(2));\n`);
writeFileSync(
  join(out, 'snapentry.mjs'),
  `import { main } from ${JSON.stringify(sendmailJs)};\nimport v8 from 'node:v8';\n` +
    `v8.startupSnapshot.setDeserializeMainFunction(() => main(process.argv.slice(2)));\n`,
);
writeFileSync(join(out, 'stub.mjs'), "export const open = () => { throw new Error('not bundled'); };\nexport default {};\n");
writeFileSync(join(out, 'empty.cjs'), "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => {});\n");

function must(cmd: string, a: string[]): void {
  const r = spawnSync(cmd, a, { cwd: out, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')}: ${r.stderr}`);
}
const common = ['--bundle', '--platform=node', '--log-level=error', '--external:fs-ext', '--external:unix-dgram'];
const noNative = ['--alias:lmdb=./stub.mjs', '--alias:better-sqlite3=./stub.mjs'];
must(esbuild, ['entry.mjs', ...common, '--format=esm', '--external:lmdb', '--external:better-sqlite3', '--outfile=sendmail.bundle.mjs']);
must(esbuild, ['entry.mjs', ...common, '--format=esm', ...noNative, '--outfile=sendmail.nonative.mjs']);
must(esbuild, ['snapentry.mjs', ...common, '--format=cjs', ...noNative, `--define:import.meta.url=${JSON.stringify(installDefaults)}`, '--outfile=snap.cjs']);
must(process.execPath, ['--snapshot-blob', 'sendmail.blob', '--build-snapshot', 'snap.cjs']);
must(process.execPath, ['--snapshot-blob', 'empty.blob', '--build-snapshot', 'empty.cjs']);

const node = process.execPath;
const cases: Array<[string, string, string[]]> = [
  ['/bin/true (spawn floor)', '/bin/true', []],
  ['node -e 0', node, ['-e', '0']],
  ['node, empty V8 snapshot', node, ['--snapshot-blob', join(out, 'empty.blob')]],
  ['bin/sendmail -bh (as shipped)', join(REPO, 'bin', 'sendmail'), ['-bh']],
  ['one bundled file', node, [join(out, 'sendmail.bundle.mjs'), '-bh']],
  ['bundle without lmdb/sqlite', node, [join(out, 'sendmail.nonative.mjs'), '-bh']],
  ['V8 snapshot of that bundle', node, ['--snapshot-blob', join(out, 'sendmail.blob'), '--', 'sendmail', '-bh']],
];
if (existsSync('/usr/sbin/sendmail')) cases.splice(1, 0, ['Postfix sendmail -bh', '/usr/sbin/sendmail', ['-bh']]);
const env = { ...process.env, MAIL_CONFIG: cfg };
const times = new Map<string, number[]>(cases.map(([k]) => [k, []]));
try {
  for (let i = 0; i < runs; i++) {
    for (const [k, cmd, a] of cases) {
      const t0 = performance.now();
      const r = spawnSync(cmd, a, { env, stdio: 'ignore', timeout: 20000 });
      times.get(k)!.push(performance.now() - t0);
      if (i === 0 && r.status !== 0) process.stderr.write(`startup_options: ${k}: exit ${r.status}\n`);
    }
  }
} finally {
  rmSync(cfg, { recursive: true, force: true });
}
process.stdout.write(`| what | median ms | min ms |\n|---|---|---|\n`);
for (const [k, v] of times) process.stdout.write(`| ${k} | ${percentile(v, 50).toFixed(1)} | ${Math.min(...v).toFixed(1)} |\n`);

/**
 * run-tests - `npm test`: run every compiled test file (dist/test/**\/*.test.js)
 * with Node's built-in test runner and exit with its status. The runner
 * prints its own summary (tests / pass / fail).
 *
 * Usage: node dist/scripts/run-tests.js [filter ...]
 *   a filter keeps only test files whose path contains it (e.g. "master").
 */

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const testDir = join(root, 'dist', 'test');

/** findTests - every *.test.js below dir, sorted. */
export function findTests(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = findTests(testDir).filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)));
if (files.length === 0) {
  process.stderr.write(`run-tests: no test files under ${relative(root, testDir) || testDir}\n`);
  process.exit(1);
}
const child = spawn(
  process.execPath,
  ['--test', '--test-timeout=120000', ...files.map((f) => relative(root, f))],
  { cwd: root, stdio: 'inherit' },
);
const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

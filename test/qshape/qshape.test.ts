/**
 * qshape - the queue shape report against outputs recorded from Postfix
 * 3.7's qshape on the same fixture queue (golden/caseN.args / caseN.txt).
 * Rows with equal counts and name lengths come out in Perl hash order in
 * Postfix (random), so rows are compared as a set after the header and
 * TOTAL lines, and our order is checked to be count, then length.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/instance.js';
import { makeQueue } from './fixture.js';

const GOLDEN = join(REPO, 'test', 'qshape', 'golden');
const PROG = join(REPO, 'bin', 'qshape');
const dir = mkdtempSync(join(tmpdir(), 'qshape-'));

before(() => {
  makeQueue(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): string {
  const r = spawnSync(process.execPath, [PROG, ...args], { encoding: 'utf8' });
  return r.stdout + r.stderr + `rc=${r.status}\n`;
}

for (let i = 1; i <= 7; i++) {
  const args = readFileSync(join(GOLDEN, `case${i}.args`), 'utf8').trim().split(/\s+/).map((a) => a.replaceAll('/tmp/qshape-fix', dir));
  test(`qshape ${args.join(' ').replaceAll(dir, 'Q')}`, () => {
    const want = readFileSync(join(GOLDEN, `case${i}.txt`), 'utf8').replaceAll('/usr/sbin/qshape', PROG);
    const got = run(args);
    const w = want.split('\n');
    const g = got.split('\n');
    assert.deepEqual(g.slice(0, 2), w.slice(0, 2));
    assert.deepEqual([...g].sort(), [...w].sort());
    if (!got.startsWith(PROG)) {
      const rows = g.slice(2).filter((l) => /^\s*\S+\s+\d+/.test(l) && !l.startsWith('rc=')).map((l) => {
        const m = /^\s*(\S+)\s+(\d+)/.exec(l)!;
        return { name: m[1], count: Number(m[2]) };
      });
      for (let k = 1; k < rows.length; k++) {
        const a = rows[k - 1];
        const b = rows[k];
        assert.ok(a.count > b.count || (a.count === b.count && a.name.length <= b.name.length), `${a.name} before ${b.name}`);
      }
    }
  });
}

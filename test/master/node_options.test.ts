/**
 * node_options.test - master starts a Node daemon with the Node options of
 * its `#!/usr/bin/env -S node OPTIONS` line, as exec(2) of the program would
 * (qmgr's V8 heap settings; docs/qmgr.md "Memory").
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { programCommand } from '../../src/master/master.js';
import { TestInstance, childCommandLines } from '../helpers/instance.js';
import { waitUntil } from '../helpers/wait.js';

let inst: TestInstance | undefined;
after(async () => {
  await inst?.cleanup();
});

test('programCommand: node with the options of a node #! line; none for a plain node line; other programs run themselves', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodeopts-'));
  try {
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const a = write('a', '#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=15\nimport("x");\n');
    assert.deepEqual(programCommand(a, ['-t']), { file: process.execPath, argv: ['--max-semi-space-size=2', '--heap-growing-percent=15', a, '-t'] });
    const b = write('b', '#!/usr/bin/env node\n// --not-an-option\n');
    assert.deepEqual(programCommand(b, []), { file: process.execPath, argv: [b] });
    const c = write('c', '#!/usr/local/bin/node --stack-size=900\n');
    assert.deepEqual(programCommand(c, ['x']), { file: process.execPath, argv: ['--stack-size=900', c, 'x'] });
    const d = write('d', '#!/bin/sh\nexec node --x "$@"\n');
    assert.deepEqual(programCommand(d, ['-w']), { file: d, argv: ['-w'] });
    const js = join(dir, 'prog.js');
    assert.deepEqual(programCommand(js, []), { file: process.execPath, argv: [js] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('master runs qmgr with the V8 options of its #! line, before the script', async () => {
  inst = await TestInstance.create({ name: 'node-options' });
  await inst.start();
  const master = inst.masterPid();
  assert.ok(master, 'master is running');
  let qmgr: string[] | undefined;
  await waitUntil('the qmgr process', () => (qmgr = childCommandLines(master).find((argv) => argv.some((a) => a.endsWith('/libexec/qmgr')))) !== undefined, {
    timeoutMs: 20000,
  });
  const script = qmgr!.findIndex((a) => a.endsWith('/libexec/qmgr'));
  const options = qmgr!.slice(1, script);
  assert.ok(options.includes('--max-semi-space-size=2'), `qmgr's options: ${options.join(' ')}`);
  assert.ok(options.includes('--heap-growing-percent=15'), `qmgr's options: ${options.join(' ')}`);
});

/**
 * postlog_ondemand.test - master does not start postlogd while maillog_file
 * is empty (Postfix starts it only when a datagram arrives, and nothing
 * sends one then); a reload that sets maillog_file starts it.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestInstance, REPO, childCommandLines } from '../helpers/instance.js';
import { waitUntil } from '../helpers/wait.js';

const TRIG = join(REPO, 'dist', 'test', 'master', 'fixtures', 'trigger_daemon.js');

let inst: TestInstance | undefined;
after(async () => {
  await inst?.cleanup();
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  await waitUntil(what, cond, { timeoutMs: ms });
}

test('postlogd is not started while maillog_file is empty; a reload that sets it starts it', async () => {
  inst = await TestInstance.create({ name: 'postlog-ondemand' });
  const logFile = inst.logFile;
  const trigLog = join(inst.dir, 'trig.log');
  inst.writeMasterCf(
    [`fifotrig  fifo  n       -       n       1       1       ${TRIG} ${trigLog}`, 'postlog   unix-dgram n  -       n       -       1       postlogd', ''].join('\n'),
  );
  inst.setMain({ maillog_file: '' });
  const r = await inst.postfix('start');
  assert.equal(r.status, 0, r.stderr);
  await until(() => inst!.masterPid() !== undefined, 20000, 'master');
  const master = inst.masterPid()!;
  // Eager services are started together: once the FIFO's daemon runs, postlogd would too.
  await until(() => childCommandLines(master).map((argv) => argv.join(' ')).some((c) => c.includes('trigger_daemon')), 20000, 'the fifo service process');
  assert.equal(childCommandLines(master).map((argv) => argv.join(' ')).filter((c) => c.includes('postlogd')).length, 0, 'no postlogd without maillog_file');
  inst.setMain({ maillog_file: logFile });
  const rl = await inst.postfix('reload');
  assert.equal(rl.status, 0, rl.stderr);
  await until(() => childCommandLines(master).map((argv) => argv.join(' ')).some((c) => c.includes('postlogd')), 20000, 'postlogd after the reload');
  // the postlog command now sends its record to postlogd, which writes it
  const pl = await inst.command('postlog', ['-t', 'postfix/ondemand', 'hello from the test']);
  assert.equal(pl.status, 0, pl.stderr);
  await until(() => existsSync(logFile) && /postfix\/ondemand\[\d+\]: hello from the test/.test(readFileSync(logFile, 'utf8')), 20000, 'the record in maillog_file');
});

/**
 * startfg.test - `postfix start-fg` (what `npm start` runs): master stays
 * in the foreground under the postfix command; a signal to the postfix
 * command stops the whole system and nothing is left behind.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { TestInstance, REPO } from '../helpers/instance.js';

const ECHO = join(REPO, 'dist', 'test', 'master', 'fixtures', 'echo_daemon.js');

let inst: TestInstance | undefined;
after(async () => {
  await inst?.cleanup();
});

test('start-fg runs until signalled, then stops everything', async () => {
  inst = await TestInstance.create({ name: 'startfg-test' });
  inst.writeMasterCf(
    [`{SMTP}    inet  n       -       n       -       -       ${ECHO}`, 'postlog   unix-dgram n  -       n       -       1       postlogd', ''].join('\n'),
  );
  const fg = spawn(process.execPath, [join(REPO, 'bin', 'postfix'), '-c', inst.configDir, 'start-fg'], {
    env: inst.env(),
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => fg.on('exit', (code) => resolve(code)));
  await inst.waitForPort(inst.smtpPort);
  const pid = inst.masterPid();
  assert.ok(pid);
  const st = await inst.postfix('status');
  assert.equal(st.status, 0);
  fg.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.deepEqual(await inst.waitNoProcesses(10000), []);
  await inst.waitForLog(new RegExp(`postfix/master\\[${pid}\\]: terminating on signal 15`));
});

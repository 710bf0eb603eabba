/**
 * e2e - logging in a running instance: master starts postlogd, commands
 * and daemons log through it, `postfix logrotate` starts a new file that
 * postlogd follows, and after `postfix stop` commands append directly.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';

let inst: TestInstance | undefined;
after(async () => {
  await inst?.cleanup();
});

test('postlog through postlogd in a running instance; logrotate; fallback after stop', async () => {
  inst = await TestInstance.create({ name: 'logging-e2e', main: { maillog_file_compressor: 'gzip' } });
  await inst.start();
  const master = inst.masterPid();
  await inst.waitForLog(new RegExp(`postfix/master\\[${master}\\]: daemon started`));
  // postlogd's socket is there once it runs.
  const sock = inst.servicePath('public', 'postlog');
  for (const end = Date.now() + 20_000; !existsSync(sock); ) {
    assert.ok(Date.now() < end, 'no postlog socket');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(statSync(sock).isSocket());
  assert.equal(statSync(sock).mode & 0o777, 0o666);

  const r = await inst.command('postlog', ['-c', inst.configDir, '-p', 'warn', 'through postlogd']);
  assert.equal(r.status, 0);
  await inst.waitForLog(/^\w{3} \d\d \d\d:\d\d:\d\d mail postfix\/postlog\[\d+\]: warning: through postlogd$/m);

  const rot = await inst.postfix('logrotate');
  assert.equal(rot.status, 0, rot.stderr);
  const logDir = join(inst.dir, 'log');
  const rotated = readdirSync(logDir).filter((f) => /^maillog\.\d{8}-\d{6}/.test(f));
  assert.equal(rotated.length, 1, readdirSync(logDir).join(' '));
  const r2 = await inst.command('postlog', ['-c', inst.configDir, 'after rotation']);
  assert.equal(r2.status, 0);
  await inst.waitForLog(/postfix\/postlog\[\d+\]: after rotation$/m);
  assert.doesNotMatch(inst.readLog(), /through postlogd/);

  await inst.stop();
  const r3 = await inst.command('postlog', ['-c', inst.configDir, 'master is down']);
  assert.equal(r3.status, 0);
  assert.match(inst.readLog(), /postfix\/postlog\[\d+\]: master is down\n$/);
});

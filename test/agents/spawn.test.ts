/**
 * spawn.test - spawn(8) hands a client connection to a command: a tiny
 * policy server (Postfix policy delegation protocol) answers over the
 * socket; exit statuses are logged as Postfix does.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { MailConfig } from '../../src/global/mail_conf.js';
import { VStream } from '../../src/util/vstream.js';
import { msgAddOutput } from '../../src/util/msg.js';
import { parseSpawnArgs, SpawnService } from '../../src/spawn/spawn.js';

const runAs = process.getuid?.() === 0 ? 'nobody' : userInfo().username;

async function withSpawn(args: string[], body: (dir: string, path: string) => Promise<void>, warnings: string[] = []): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'spawn-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc', 'main.cf'), `queue_directory = ${dir}\npolicy_time_limit = 20s\n`);
  const config = MailConfig.load(join(dir, 'etc'));
  const stop = msgAddOutput((sev, text) => sev === 'warning' && warnings.push(text));
  const svc = new SpawnService(config, parseSpawnArgs(args.map((a) => a.replace('@DIR@', dir))), 'policy');
  const path = join(dir, 'sock');
  const done: Promise<void>[] = [];
  const server = createServer((sock) => {
    done.push(svc.service(new VStream(sock, { timeout: 5000 })).finally(() => sock.destroy()));
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  try {
    await body(dir, path);
    await Promise.all(done);
  } finally {
    stop();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

function talk(path: string, text: string, until: (got: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let got = '';
    sock.on('data', (d) => {
      got += d.toString();
      if (until(got)) {
        sock.end();
        resolve(got);
      }
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    sock.write(text);
  });
}

test('spawn: a policy server on the client socket answers each request', async () => {
  const w: string[] = [];
  await withSpawn([`user=${runAs}`, 'argv=/bin/sh', '@DIR@/policy.sh'], async (dir, path) => {
    writeFileSync(join(dir, 'policy.sh'), '#!/bin/sh\nwhile read line; do\n  case "$line" in\n    recipient=*) r="${line#recipient=}";;\n    "") echo "action=REJECT no mail for $r"; echo;;\n  esac\ndone\n', { mode: 0o755 });
    const req = (r: string) => `request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=${r}\n\n`;
    const got = await talk(path, req('a@x.test') + req('b@x.test'), (g) => g.split('\n\n').length > 2);
    assert.equal(got + w.join(';'), 'action=REJECT no mail for a@x.test\n\naction=REJECT no mail for b@x.test\n\n');
  }, w);
});

test('spawn: a command that fails is logged with its exit status; argument errors are explicit', async () => {
  const warnings: string[] = [];
  await withSpawn([`user=${runAs}`, 'argv=/bin/sh', '-c', 'exit 3'], async (_dir, path) => {
    await talk(path, 'x\n', () => false);
  }, warnings);
  assert.deepEqual(warnings, ['warning: command /bin/sh exit status 3']);
  assert.throws(() => parseSpawnArgs(['argv=/bin/true']), /missing user= command-line attribute/);
  assert.throws(() => parseSpawnArgs(['user=nobody']), /missing argv= command-line attribute/);
  assert.throws(() => parseSpawnArgs(['flags=x', 'user=nobody', 'argv=/bin/true']), /unknown command-line attribute: flags=x/);
});

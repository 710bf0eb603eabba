/**
 * pipe.test - pipe(8) driven as qmgr drives it, with the same commands and
 * master.cf attributes that were run through Postfix 3.7.11 pipe(8); the
 * log lines must match (golden/oracle-pipe-3.7.11.txt). Also argv macro
 * expansion and the R flag (Return-Path:) on the command's input.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { msgAddOutput } from '../../src/util/msg.js';
import { PipeAgent, parsePipeArgs, exitOutcome } from '../../src/pipe/pipe.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent } from '../delivery/queue_fixture.js';

const here = dirname(fileURLToPath(import.meta.url));
const golden = readFileSync(join(here, '..', '..', '..', 'test', 'agents', 'golden', 'oracle-pipe-3.7.11.txt'), 'utf8').split('\n').filter(Boolean);
const runAs = process.getuid?.() === 0 ? 'nobody' : userInfo().username;

let dir: string;
const SCRIPTS: Record<string, string> = {
  ok: 'echo hello; echo "$@" >> @DIR@/pipeargs; cat >> @DIR@/pipeargs; exit 0',
  quiet: 'exit 0',
  fail1: 'echo oops; exit 1',
  nouser: 'echo who; exit 67',
  tmp: 'exit 75',
  tmpout: 'echo later; exit 75',
  sig: 'kill -9 $$',
  noout1: 'exit 1',
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipe-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'pipeargs'), '');
  chmodSync(join(dir, 'pipeargs'), 0o666);
  for (const [name, body] of Object.entries(SCRIPTS)) writeFileSync(join(dir, `s_${name}.sh`), `#!/bin/sh\n${body.replace(/@DIR@/g, dir)}\n`, { mode: 0o755 });
});

after(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;

for (const name of Object.keys(SCRIPTS)) {
  test(`pipe ${name}: log line as Postfix`, async () => {
    const inst = makeInstance('');
    const lines: string[] = [];
    const stop = msgAddOutput((_s, t) => lines.push(t));
    const attrs = parsePipeArgs(['flags=Rq', `user=${runAs}`, 'argv=/bin/sh', '$nexthop', '${sender}', '${recipient}', '${user}', '${extension}', '${domain}', '${mailbox}', '${size}']);
    const agent = new PipeAgent(inst.config, attrs, 'p0');
    const server = await serveAgent(inst, 'p0', (s) => agent.service(s));
    try {
      const id = `9E${(0x100 + seq++).toString(16).toUpperCase()}`;
      const rs = [{ address: `bob+ext@${name}.ptest` }];
      const file = buildQueueFile('s@example.org', rs, ['Subject: x', '', 'hi']);
      placeQueueFile(inst, id, file);
      await deliverVia(inst, 'p0', requestFor(id, file, 's@example.org', rs, join(dir, `s_${name}.sh`)));
      const got = lines.filter((l) => l.startsWith(`${id}: to=`)).map((l) => l.replace(/^[0-9A-F]+: /, '').replace(/delay=[^ ]* delays=[^ ]* /, ''));
      assert.deepEqual(got, golden.filter((l) => l.includes(`@${name}.ptest>`)));
      if (name === 'ok') {
        const argsOut = readFileSync(join(dir, 'pipeargs'), 'utf8').split('\n');
        assert.equal(argsOut[0], `s@example.org bob+ext@ok.ptest bob+ext  ok.ptest bob+ext ${file.dataSize}`);
        assert.equal(argsOut[1], 'Return-Path: <s@example.org>');
        assert.deepEqual(argsOut.slice(2, 5), ['Subject: x', '', 'hi']);
      }
    } finally {
      stop();
      server.close();
      inst.cleanup();
    }
  });
}

test('pipe argv: ${recipient} multiplies the argument; recipient_delimiter splits user/extension', async () => {
  const { expandArgv } = await import('../../src/pipe/pipe.js');
  const file = buildQueueFile('s@example.org', [{ address: 'a+x@d.test' }, { address: 'B@D.test' }], ['x']);
  const req = requestFor('Q1', file, 's@example.org', [{ address: 'a+x@d.test' }, { address: 'B@D.test' }], 'hop');
  assert.deepEqual(expandArgv(['cmd', '-f', '$sender', '--', '${recipient}'], req, ['a+x@d.test', 'B@D.test'], '', '+'), ['cmd', '-f', 's@example.org', '--', 'a+x@d.test', 'B@D.test']);
  assert.deepEqual(expandArgv(['${user}', '${extension}', '${domain}', '${nexthop}'], req, ['a+x@d.test'], '', '+'), ['a', 'x', 'd.test', 'hop']);
  assert.deepEqual(expandArgv(['${recipient}'], req, ['B@D.test'], 'hu', ''), ['b@d.test']);
});

test('pipe exit statuses: sysexits table, signals, time limit', () => {
  assert.deepEqual(exitOutcome('p', '/bin/x', 77, null, '', false), { kind: 'bounce', dsn: '5.7.0', text: 'permission denied' });
  assert.deepEqual(exitOutcome('p', '/bin/x', 71, null, 'no fork\n', false), { kind: 'defer', dsn: '4.3.0', text: 'system resource problem. Command output: no fork ' });
  assert.deepEqual(exitOutcome('p', '/bin/x', null, 'SIGTERM', '', false), { kind: 'defer', dsn: '4.3.0', text: 'Command died with signal 15: "/bin/x"' });
  assert.equal(exitOutcome('p', '/bin/x', null, 'SIGKILL', '', true).text, 'Command time limit exceeded: "/bin/x"');
});

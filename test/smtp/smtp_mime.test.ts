/**
 * smtp_mime.test - 8BITMIME downgrade (Postfix mime_state(3) downgrade mode
 * in smtp(8)): the converted content equals, byte for byte, what real
 * Postfix 3.7.11 sent to an `smtp-sink -8` (golden/mime/NAME.out from
 * NAME.in), and the smtp agent converts only for a server without 8BITMIME.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mimeDowngrade, qpEncodeLine } from '../../src/smtp/smtp_mime.js';
import { SmtpAgent } from '../../src/smtp/smtp.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent } from '../delivery/queue_fixture.js';
import { startOddServer } from './odd_server.js';

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = join(here, '..', '..', '..', 'test', 'smtp', 'golden', 'mime');

function linesOf(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0a) {
      out.push(data.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < data.length) out.push(data.subarray(start));
  return out;
}

async function downgrade(input: Buffer, nestingLimit = 100): Promise<Buffer> {
  async function* src(): AsyncGenerator<Buffer> {
    yield* linesOf(input);
  }
  const parts: Buffer[] = [];
  for await (const line of mimeDowngrade(src(), { nestingLimit })) parts.push(line, Buffer.from('\n'));
  return Buffer.concat(parts);
}

for (const name of ['plain', 'single', 'single7', 'multi']) {
  test(`downgrade of "${name}" equals what Postfix 3.7 sent to a server without 8BITMIME`, async () => {
    const input = readFileSync(join(goldenDir, `${name}.in`));
    const expected = readFileSync(join(goldenDir, `${name}.out`));
    assert.equal((await downgrade(input)).toString('latin1'), expected.toString('latin1'));
  });
}

test('quoted-printable lines stay within 76 characters; =, controls and trailing white space are encoded', () => {
  const long = qpEncodeLine(Buffer.from('='.repeat(100) + 'abc\t', 'latin1'));
  for (const l of long) assert.ok(l.length <= 76, `line of ${l.length}: ${l}`);
  assert.ok(long.slice(0, -1).every((l) => l[l.length - 1] === 0x3d), 'soft breaks end in =');
  const decoded = long.map((l, i) => (i < long.length - 1 ? l.subarray(0, -1) : l)).join('').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  assert.equal(decoded, '='.repeat(100) + 'abc\t');
  assert.equal(qpEncodeLine(Buffer.from('a\rb\x00 c ')).toString(), 'a=0Db=00 c=20');
  assert.equal(qpEncodeLine(Buffer.alloc(0)).toString(), '');
});

test('a folded 8bit Content-Transfer-Encoding header is replaced; deep nesting past mime_nesting_limit passes unchanged', async () => {
  const folded = Buffer.from('Content-Type: text/plain\nContent-Transfer-Encoding:\n 8bit\nX: y\n\n\xe9\n', 'latin1');
  assert.equal((await downgrade(folded)).toString('latin1'), 'Content-Type: text/plain\nX: y\nContent-Transfer-Encoding: quoted-printable\n\n=E9\n');
  const nested = Buffer.from('Content-Type: multipart/mixed; boundary=A\n\n--A\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n\xe9\n--A--\n', 'latin1');
  assert.equal(
    (await downgrade(nested, 1)).toString('latin1'),
    'Content-Type: multipart/mixed; boundary=A\n\n--A\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n=E9\n--A--\n',
  );
  assert.equal((await downgrade(nested, 0)).toString('latin1'), nested.toString('latin1'), 'limit 0: no structure is interpreted');
});

for (const announce of [false, true]) {
  test(`the smtp agent ${announce ? 'sends 8bit mail unchanged with BODY=8BITMIME to a server with' : 'downgrades 8bit mail for a server without'} 8BITMIME`, async () => {
    const peer = await startOddServer({ extensions: announce ? ['PIPELINING', '8BITMIME'] : ['PIPELINING'] });
    const inst = makeInstance('smtp_connection_cache_on_demand = no');
    const server = await serveAgent(inst, 'smtp', (s) => new SmtpAgent(inst.config, 'smtp').service(s));
    try {
      const lines = ['Subject: x', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', 'h\u00e9llo', '.dot'];
      const file = buildQueueFile('s@example.org', [{ address: 'a@remote.test' }], lines);
      placeQueueFile(inst, '5AB0C1', file);
      const req = requestFor('5AB0C1', file, 's@example.org', [{ address: 'a@remote.test' }], `[127.0.0.1]:${peer.port}`);
      req.encoding = '8bit';
      const reply = await deliverVia(inst, 'smtp', req);
      assert.equal(reply.status, 0);
      const mail = peer.seen.commands.find((c) => c.startsWith('MAIL'))!;
      assert.equal(mail, announce ? 'MAIL FROM:<s@example.org> BODY=8BITMIME' : 'MAIL FROM:<s@example.org>');
      const body = Buffer.from(peer.seen.messages[0], 'latin1').toString('utf8');
      if (announce) assert.equal(body, lines.join('\r\n').replace('\r\n.dot', '\r\n..dot') + '\r\n');
      else assert.equal(body, 'Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9llo\r\n..dot\r\n');
    } finally {
      server.close();
      await peer.close();
      inst.cleanup();
    }
  });
}

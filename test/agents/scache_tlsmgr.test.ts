/**
 * scache_tlsmgr.test - the scache and tlsmgr services answer their
 * protocols over a real UNIX socket (scache's connection passing is
 * tested in test/scache/; tlsmgr never holds sessions).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VStream } from '../../src/util/vstream.js';
import { attrExpectProtocol, readAttrs, sendAttrs, type AttrPairs } from '../../src/util/attr.js';
import { scacheService, SCACHE_STAT_FAIL, SCACHE_STAT_BAD } from '../../src/scache/scache.js';
import { tlsmgrService, TLS_MGR_STAT_OK, TLS_MGR_STAT_ERR } from '../../src/tlsmgr/tlsmgr.js';

async function session(service: (s: VStream) => Promise<void>, proto: string, body: (ask: (p: AttrPairs) => Promise<Map<string, string>>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'svc-'));
  const path = join(dir, 'sock');
  const server = createServer((sock) => void service(new VStream(sock, { timeout: 5000 })).finally(() => sock.end()));
  await new Promise<void>((r) => server.listen(path, () => r()));
  const sock = connect(path);
  const stream = new VStream(sock, { timeout: 5000 });
  try {
    await attrExpectProtocol(stream, proto);
    await body(async (p) => {
      sendAttrs(stream, p);
      await stream.flush();
      const r = await readAttrs(stream);
      assert.ok(r);
      return new Map(r.pairs);
    });
  } finally {
    sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('scache: finds miss, unknown requests are bad', async () => {
  await session(scacheService, 'scache_protocol', async (ask) => {
    assert.equal((await ask([['request', 'find_dest'], ['label', 'smtp:example.com']])).get('status'), String(SCACHE_STAT_FAIL));
    assert.equal((await ask([['request', 'find_endp'], ['label', 'smtp:1.2.3.4:25']])).get('status'), String(SCACHE_STAT_FAIL));
    // save_dest always succeeds, as in Postfix (the endpoint may come later); see test/scache/
    assert.equal((await ask([['request', 'save_dest'], ['ttl', 2], ['label', 'x'], ['dest_prop', ''], ['endp_label', 'y']])).get('status'), '0');
    assert.equal((await ask([['request', 'bogus']])).get('status'), String(SCACHE_STAT_BAD));
  });
});

test('tlsmgr: seed gives random bytes; session cache requests are declined', async () => {
  await session(tlsmgrService, 'tlsmgr_protocol', async (ask) => {
    const a = await ask([['request', 'seed'], ['size', 32]]);
    const b = await ask([['request', 'seed'], ['size', 32]]);
    assert.equal(a.get('status'), String(TLS_MGR_STAT_OK));
    assert.equal(Buffer.from(a.get('seed')!, 'base64').length, 32);
    assert.notEqual(a.get('seed'), b.get('seed'));
    assert.equal(Buffer.from((await ask([['request', 'seed'], ['size', 1e6]])).get('seed')!, 'base64').length, 1024);
    assert.equal((await ask([['request', 'lookup'], ['cache_type', 'smtp'], ['session_id', 'x']])).get('status'), String(TLS_MGR_STAT_ERR));
  });
});

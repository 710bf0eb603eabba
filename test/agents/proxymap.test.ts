/**
 * proxymap.test - the proxymap/proxywrite service over a real UNIX socket,
 * spoken to as Postfix's dict_proxy client does (attribute lists).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailConfig } from '../../src/global/mail_conf.js';
import { VStream } from '../../src/util/vstream.js';
import { attrExpectProtocol, readAttrs, sendAttrs, type AttrPairs } from '../../src/util/attr.js';
import { msgAddOutput } from '../../src/util/msg.js';
import { ProxyState, proxymapService, PROXY_STAT } from '../../src/proxymap/proxymap.js';

async function withProxy(service: string, mainCf: (dir: string) => string, body: (ask: (p: AttrPairs) => Promise<Map<string, string>>, dir: string, warnings: string[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'proxymap-'));
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc', 'main.cf'), `queue_directory = ${dir}\n${mainCf(dir)}\n`);
  const config = MailConfig.load(join(dir, 'etc'));
  const st = new ProxyState(config, service);
  const warnings: string[] = [];
  const stop = msgAddOutput((sev, text) => sev === 'warning' && warnings.push(text));
  const path = join(dir, 'sock');
  const server = createServer((sock) => {
    proxymapService(new VStream(sock, { timeout: 5000 }), st).finally(() => sock.end());
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  const sock = connect(path);
  const stream = new VStream(sock, { timeout: 5000 });
  try {
    await attrExpectProtocol(stream, 'proxymap_protocol');
    const ask = async (p: AttrPairs) => {
      sendAttrs(stream, p);
      await stream.flush();
      const r = await readAttrs(stream);
      assert.ok(r);
      return new Map(r.pairs);
    };
    await body(ask, dir, warnings);
  } finally {
    stop();
    sock.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('proxymap: open and lookup of an approved table; key not found', async () => {
  await withProxy('proxymap', (d) => `proxy_read_maps = proxy:texthash:${d}/tbl`, async (ask, dir) => {
    // texthash reads the file at open time: write it before the first request.
    writeFileSync(join(dir, 'tbl'), 'alice@example.org ok\n');
    const table = `texthash:${dir}/tbl`;
    const open = await ask([['request', 'open'], ['table', table], ['flags', 0]]);
    assert.equal(open.get('status'), String(PROXY_STAT.OK));
    const hit = await ask([['request', 'lookup'], ['table', table], ['flags', 0], ['key', 'alice@example.org']]);
    assert.deepEqual([hit.get('status'), hit.get('value')], ['0', 'ok']);
    const miss = await ask([['request', 'lookup'], ['table', table], ['flags', 0], ['key', 'bob@example.org']]);
    assert.deepEqual([miss.get('status'), miss.get('value')], ['1', '']);
  });
});

test('proxymap: a table not in proxy_read_maps is refused with Postfix warnings', async () => {
  await withProxy('proxymap', () => 'proxy_read_maps = ', async (ask, dir, warnings) => {
    const table = `texthash:${dir}/secret`;
    const r = await ask([['request', 'lookup'], ['table', table], ['flags', 0], ['key', 'x']]);
    assert.equal(r.get('status'), String(PROXY_STAT.DENY));
    assert.deepEqual(warnings, [`warning: request for unapproved table: "${table}"`, `warning: to approve this table for read-only access, list proxy:${table} in main.cf:proxy_read_maps`]);
  });
});

test('proxymap: updates only through proxywrite; bad requests answered, connection kept', async () => {
  await withProxy('proxymap', (d) => `proxy_read_maps = proxy:texthash:${d}/tbl`, async (ask, dir) => {
    writeFileSync(join(dir, 'tbl'), 'a b\n');
    const table = `texthash:${dir}/tbl`;
    const up = await ask([['request', 'update'], ['table', table], ['flags', 0], ['key', 'k'], ['value', 'v']]);
    assert.equal(up.get('status'), String(PROXY_STAT.BAD));
    const weird = await ask([['request', 'frobnicate'], ['table', table], ['flags', 0]]);
    assert.equal(weird.get('status'), String(PROXY_STAT.BAD));
    const ok = await ask([['request', 'lookup'], ['table', table], ['flags', 0], ['key', 'a']]);
    assert.equal(ok.get('value'), 'b');
  });
  await withProxy('proxywrite', (d) => `proxy_write_maps = proxy:lmdb:${d}/db`, async (ask, dir) => {
    const table = `lmdb:${dir}/db`;
    const up = await ask([['request', 'update'], ['table', table], ['flags', 0], ['key', 'k'], ['value', 'v']]);
    assert.equal(up.get('status'), '0');
    const got = await ask([['request', 'lookup'], ['table', table], ['flags', 0], ['key', 'k']]);
    assert.equal(got.get('value'), 'v');
    const del = await ask([['request', 'delete'], ['table', table], ['flags', 0], ['key', 'k']]);
    assert.equal(del.get('status'), '0');
    const gone = await ask([['request', 'lookup'], ['table', table], ['flags', 0], ['key', 'k']]);
    assert.equal(gone.get('status'), '1');
  });
});

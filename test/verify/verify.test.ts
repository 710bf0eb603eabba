/**
 * verify - the address verification service: driven directly over a real
 * UNIX socket (cache rules, probes, refresh and expiry with a fake clock),
 * and in a real instance where probes go through qmgr and the delivery
 * agents in DEL_REQ_FLAG_MTA_VRFY mode and come back as updates.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { VStream } from '../../src/util/vstream.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { verifyQuery, verifyUpdate, DEL_RCPT_STAT, VRFY_STAT } from '../../src/global/verify_clnt.js';
import { VerifyCache, verifyService, parseEntry, formatEntry, type VerifyState } from '../../src/verify/verify.js';
import { TestInstance, freePort } from '../helpers/instance.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withService(mainCf: string, fn: (config: MailConfig, st: VerifyState, probes: string[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'verify-'));
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'spool', 'private'), { recursive: true });
  writeFileSync(join(dir, 'etc', 'main.cf'), `queue_directory = ${join(dir, 'spool')}\naddress_verify_map =\n${mainCf}\n`);
  const config = MailConfig.load(join(dir, 'etc'));
  const probes: string[] = [];
  let clock = 1_000_000;
  const st: VerifyState = { config, cache: new VerifyCache(config), probe: async (a) => void probes.push(a), now: () => clock };
  (st as unknown as { tick: (s: number) => void }).tick = (s: number) => (clock += s);
  await st.cache.open();
  const server = createServer((sock) => void verifyService(new VStream(sock, { timeout: 5000 }), st).finally(() => sock.end()));
  await new Promise<void>((r) => server.listen(join(dir, 'spool', 'private', 'verify'), () => r()));
  try {
    await fn(config, st, probes);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const tick = (st: VerifyState, s: number) => (st as unknown as { tick: (s: number) => void }).tick(s);

test('an unknown address is "in progress" and probed once; updates are answered from the cache', async () => {
  await withService('', async (config, st, probes) => {
    const a = await verifyQuery(config, 'u@example.test');
    assert.deepEqual(a, { status: VRFY_STAT.OK, addrStatus: DEL_RCPT_STAT.TODO, reason: 'Address verification in progress' });
    await verifyQuery(config, 'u@example.test');
    assert.deepEqual(probes, ['u@example.test'], 'one probe per PROBE_TTL');
    assert.equal(await verifyUpdate(config, 'u@example.test', DEL_RCPT_STAT.BOUNCE, 'unknown user: "u"'), VRFY_STAT.OK);
    const b = await verifyQuery(config, 'U@Example.test');
    assert.deepEqual(b, { status: VRFY_STAT.OK, addrStatus: DEL_RCPT_STAT.BOUNCE, reason: 'unknown user: "u"' });
    // negative refresh (3h): a new probe, the old answer still given
    tick(st, 3 * 3600 + 1);
    const c = await verifyQuery(config, 'u@example.test');
    assert.equal(c.addrStatus, DEL_RCPT_STAT.BOUNCE);
    assert.equal(probes.length, 2);
    // negative expiry (3d): unknown again
    tick(st, 3 * 86400);
    assert.equal((await verifyQuery(config, 'u@example.test')).addrStatus, DEL_RCPT_STAT.TODO);
  });
});

test('a temporary failure does not replace a valid positive result; negative cache off forgets failures', async () => {
  await withService('address_verify_negative_cache = no', async (config) => {
    await verifyUpdate(config, 'ok@example.test', DEL_RCPT_STAT.OK, 'delivers to mailbox');
    await verifyUpdate(config, 'ok@example.test', DEL_RCPT_STAT.DEFER, 'connect to x: Connection refused');
    assert.equal((await verifyQuery(config, 'ok@example.test')).addrStatus, DEL_RCPT_STAT.OK);
    await verifyUpdate(config, 'bad@example.test', DEL_RCPT_STAT.BOUNCE, 'unknown user');
    assert.equal((await verifyQuery(config, 'bad@example.test')).addrStatus, DEL_RCPT_STAT.TODO);
  });
});

test('cache entries are Postfix\'s status:probed:updated:text; bad requests get VRFY_STAT_BAD', async () => {
  assert.equal(formatEntry({ status: 2, probed: 0, updated: 1700000000, text: 'unknown user: "x"' }), '2:0:1700000000:unknown user: "x"');
  assert.deepEqual(parseEntry('0:5:6:a:b'), { status: 0, probed: 5, updated: 6, text: 'a:b' });
  assert.equal(parseEntry('9:0:0:x'), undefined);
  await withService('', async (config) => {
    assert.equal(await verifyUpdate(config, 'x@example.test', 7, 'bogus'), VRFY_STAT.BAD);
  });
});

test('in an instance, probes travel through qmgr and the agents and come back as results', async () => {
  const dead = await freePort();
  const inst = await TestInstance.create({ name: 'verify-e2e', main: { relayhost: `[127.0.0.1]:${dead}`, address_verify_map: '' } });
  try {
    await inst.start();
    const config = MailConfig.load(inst.configDir);
    const me = userInfo().username;
    const want = async (addr: string) => {
      const end = Date.now() + 30000;
      for (;;) {
        const a = await verifyQuery(config, addr);
        assert.equal(a.status, VRFY_STAT.OK);
        if (a.addrStatus !== DEL_RCPT_STAT.TODO) return a;
        if (Date.now() > end) throw new Error(`no answer for ${addr}\n${inst.readLog()}`);
        await sleep(200);
      }
    };
    const bad = await want('nosuch@mail.example.test');
    assert.deepEqual([bad.addrStatus, bad.reason], [DEL_RCPT_STAT.BOUNCE, 'unknown user: "nosuch"']);
    const far = await want('far@remote.example');
    assert.deepEqual([far.addrStatus, far.reason], [DEL_RCPT_STAT.DEFER, `connect to 127.0.0.1[127.0.0.1]:${dead}: Connection refused`]);
    const good = await want(`${me}@mail.example.test`);
    assert.equal(good.addrStatus, DEL_RCPT_STAT.OK);
    await inst.waitForLog(/: to=<nosuch@mail\.example\.test>, relay=local, .*dsn=5\.1\.1, status=undeliverable \(unknown user: "nosuch"\)$/);
    assert.equal(inst.logLines(/status=deferred|status=bounced|notification/).length, 0, 'probes are never deferred and never bounce');
  } finally {
    await inst.cleanup();
  }
});

/**
 * scache.test - the shared connection cache: the cache tables, expiry and
 * statistics lines of scache(8) (Postfix 3.7's texts), and end to end in a
 * whole instance: a connection that one smtp process finished with travels
 * smtp -> master -> scache -> master -> another smtp process, which sends
 * the next message on it (one TCP session at the peer, conn_use=2), and
 * smtp_connection_reuse_count_limit ends it; while deliveries to a next hop
 * overlap in one smtp process, a finished session stays in that process.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnCache, SCACHE_STAT_BAD, SCACHE_STAT_FAIL, SCACHE_STAT_OK } from '../../src/scache/scache.js';
import { AttrList } from '../../src/util/attr.js';
import { SMTPServer } from 'smtp-server';
import { TestInstance, freePort } from '../helpers/instance.js';
import { waitUntil } from '../helpers/wait.js';
import { startOddServer } from '../smtp/odd_server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeHandle() {
  const h = { closed: 0, close: () => void h.closed++ };
  return h;
}

test('cache tables: find_dest through save_dest to the endpoint, find_endp, statistics as Postfix logs them', () => {
  const c = new ConnCache(10, 100);
  const h1 = fakeHandle();
  const h2 = fakeHandle();
  assert.equal(c.findDest('smtp:example.com'), undefined);
  assert.equal(c.saveEndp(2, 'smtp:192.0.2.1:25', 'p1', h1), true);
  assert.equal(c.saveEndp(2, 'smtp:192.0.2.1:25', 'p2', h2), true);
  c.saveDest(2, 'smtp:example.com', 'example.com', 'smtp:192.0.2.1:25');
  const hit = c.findDest('smtp:example.com');
  assert.equal(hit?.destProp, 'example.com');
  assert.equal(hit?.session.prop, 'p2', 'the most recently saved connection first');
  assert.equal(c.findEndp('smtp:192.0.2.1:25')?.prop, 'p1');
  assert.equal(c.findEndp('smtp:192.0.2.1:25'), undefined);
  const lines = c.statusDump();
  assert.equal(lines.length, 4);
  assert.match(lines[0], /^statistics: start interval [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/);
  assert.deepEqual(lines.slice(1), [
    'statistics: domain lookup hits=1 miss=1 success=50%',
    'statistics: address lookup hits=1 miss=1 success=50%',
    'statistics: max simultaneous domains=1 addresses=1 connection=2',
  ]);
  // counters start over; nothing to say about an interval without activity
  assert.deepEqual(c.statusDump(), []);
  c.closeAll();
});

test('expiry: a connection is closed after its time to live, capped by connection_cache_ttl_limit', async () => {
  const c = new ConnCache(1, 100);
  const h = fakeHandle();
  c.saveEndp(3600, 'smtp:192.0.2.1:25', 'p', h);
  c.saveDest(3600, 'smtp:example.com', 'example.com', 'smtp:192.0.2.1:25');
  for (let i = 0; i < 100 && h.closed === 0; i++) await sleep(100);
  assert.equal(h.closed, 1);
  assert.equal(c.findDest('smtp:example.com'), undefined);
  c.closeAll();
});

test('protocol: bad and incomplete requests; a find without a way to pass the connection is a miss', async () => {
  const c = new ConnCache(2, 100);
  const ask = (pairs: Array<[string, string]>) => c.request(new AttrList(pairs)).then((r) => new Map(r.map(([k, v]) => [k, String(v)])));
  assert.equal((await ask([['request', 'save_endp'], ['ttl', '0'], ['label', 'x']])).get('status'), String(SCACHE_STAT_BAD));
  assert.equal((await ask([['request', 'save_endp'], ['ttl', '2'], ['label', 'x']])).get('status'), String(SCACHE_STAT_FAIL));
  assert.equal((await ask([['request', 'save_endp'], ['ttl', '2'], ['label', 'x'], ['fd_token', '1.abc']])).get('status'), String(SCACHE_STAT_FAIL), 'no connection arrived');
  assert.equal((await ask([['request', 'save_dest'], ['ttl', '2'], ['label', 'd'], ['dest_prop', 'd'], ['endp_label', 'x']])).get('status'), String(SCACHE_STAT_OK));
  assert.equal((await ask([['request', 'find_dest'], ['label', 'd']])).get('status'), String(SCACHE_STAT_FAIL));
  assert.equal((await ask([['request', 'find_endp'], ['label', 'x'], ['fd_token', 'junk']])).get('status'), String(SCACHE_STAT_FAIL));
  assert.equal((await ask([['request', 'find_dest'], ['label', 'x'.repeat(2000)]])).get('status'), String(SCACHE_STAT_BAD));
  c.closeAll();
});

test('instance: two smtp processes deliver consecutive messages over ONE connection passed through scache (conn_use=2)', async () => {
  const peer = await startOddServer({ extensions: ['PIPELINING', '8BITMIME', 'SIZE 10240000'] });
  const inst = await TestInstance.create({
    name: 'scache',
    main: {
      relayhost: `[127.0.0.1]:${peer.port}`,
      default_transport: 'cachesmtp',
      // always cache for this next hop (on demand, qmgr asks only when deliveries come back to back)
      smtp_connection_cache_destinations: `[127.0.0.1]:${peer.port}`,
      smtp_connection_cache_time_limit: '60s',
      connection_cache_ttl_limit: '60s',
      connection_cache_status_update_time: '2s',
      smtp_connection_reuse_count_limit: '2',
    },
    // an smtp process that leaves as soon as it is idle: the next message needs another process
    extraMasterCf: 'cachesmtp unix - - n - - smtp -o max_idle=1s',
  });
  try {
    await inst.start();
    const send = async (rcpt: string) => {
      const r = await inst.command('sendmail', ['-f', 'sender@example.test', rcpt], `Subject: ${rcpt}\n\nbody\n`);
      assert.equal(r.status, 0, r.stderr);
    };
    await send('one@remote.test');
    const first = await inst.waitForLog(/smtp\[(\d+)\]: \w+: to=<one@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, delay=\S+, delays=\S+, dsn=2\.0\.0, status=sent/, 30000);
    const pid1 = Number(/smtp\[(\d+)\]/.exec(first)![1]);
    // wait until that process has left
    for (let i = 0; i < 300; i++) {
      try {
        process.kill(pid1, 0);
      } catch {
        break;
      }
      await sleep(100);
    }
    assert.throws(() => process.kill(pid1, 0), 'the first smtp process has exited');
    await send('two@remote.test');
    const second = await inst.waitForLog(/smtp\[(\d+)\]: \w+: to=<two@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, conn_use=2, delay=\S+, delays=\S+, dsn=2\.0\.0, status=sent/, 30000);
    const pid2 = Number(/smtp\[(\d+)\]/.exec(second)![1]);
    assert.notEqual(pid2, pid1, 'a different smtp process');
    assert.equal(peer.seen.sessions, 1, 'ONE TCP connection carried both transactions');
    assert.equal(peer.seen.messages.length, 2);
    assert.equal(peer.seen.commands.filter((c) => /^EHLO /.test(c)).length, 1);
    // smtp_connection_reuse_count_limit = 2: after its second use the connection is closed with QUIT, not saved
    for (let i = 0; i < 300 && !peer.seen.commands.includes('QUIT'); i++) await sleep(100);
    assert.ok(peer.seen.commands.includes('QUIT'), 'QUIT after the last allowed use');
    await send('three@remote.test');
    await inst.waitForLog(/smtp\[\d+\]: \w+: to=<three@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, delay=\S+, delays=\S+, dsn=2\.0\.0, status=sent/, 30000);
    assert.equal(peer.seen.sessions, 2, 'a new connection for the third message');
    // scache's statistics after its status interval (the lookups may fall in different intervals)
    await inst.waitForLog(/scache\[\d+\]: statistics: start interval [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d$/m, 30000);
    await inst.waitForLog(/scache\[\d+\]: statistics: domain lookup hits=1 miss=[0-2] success=(33|50|100)%/, 30000);
    await inst.waitForLog(/scache\[\d+\]: statistics: max simultaneous domains=1 addresses=1 connection=1/, 30000);
    assert.doesNotMatch(inst.readLog(), /warning|fatal|panic/);
    await inst.stop();
    assert.deepEqual(await inst.waitNoProcesses(), [], 'no process left behind');
  } finally {
    await inst.cleanup();
    await peer.close();
  }
});

test('instance: while deliveries to a next hop overlap in one smtp process, a finished session stays in that process (conn_use=2, no scache lookup)', async () => {
  // The peer holds back the end of DATA of the first two messages until both are
  // there, so that their deliveries overlap in the one smtp process.
  const held: Array<() => void> = [];
  let gated = 0;
  let sessions = 0;
  const peer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(_session, cb) {
      sessions++;
      cb();
    },
    onData(stream, _session, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        if (++gated > 2) return cb();
        held.push(() => cb());
        if (held.length === 2) for (const release of held.splice(0)) release();
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => peer.listen(port, '127.0.0.1', () => resolve()));
  const inst = await TestInstance.create({
    name: 'scache-local',
    main: {
      relayhost: `[127.0.0.1]:${port}`,
      smtp_connection_cache_destinations: `[127.0.0.1]:${port}`,
      smtp_connection_cache_time_limit: '60s',
      connection_cache_ttl_limit: '60s',
      connection_cache_status_update_time: '2s',
      // two deliveries at a time: the third message waits for one of the first two
      smtp_destination_concurrency_limit: '2',
    },
  });
  try {
    await inst.start();
    for (const rcpt of ['one', 'two', 'three']) {
      const r = await inst.command('sendmail', ['-f', 'sender@example.test', `${rcpt}@remote.test`], `Subject: ${rcpt}\n\nbody\n`);
      assert.equal(r.status, 0, r.stderr);
    }
    // pickup may take the three in any order: the third delivered is the one logged last
    const sent = /smtp\[\d+\]: \w+: to=<\w+@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, (conn_use=\d+, )?delay=\S+, delays=\S+, dsn=2\.0\.0, status=sent/;
    await waitUntil('three deliveries', () => inst.logLines(sent).length === 3, { timeoutMs: 30000, context: () => inst.readLog() });
    const third = inst.logLines(sent)[2];
    assert.match(third, /conn_use=2, /, 'the third message went over a session of the first two');
    assert.equal(sessions, 2, 'two TCP connections for three messages');
    // The reuse happened in the smtp process: scache(8) was asked (and missed) only
    // for the first two deliveries; let its status interval pass before reading its statistics.
    await inst.waitForLog(/scache\[\d+\]: statistics: domain lookup hits=\d+ miss=\d+/, 30000);
    await sleep(5000);
    const lookups = inst.logLines(/scache\[\d+\]: statistics: domain lookup hits=\d+ miss=\d+/);
    assert.ok(lookups.length > 0);
    for (const line of lookups) assert.match(line, /domain lookup hits=0 miss=[12] /, line);
    assert.doesNotMatch(inst.readLog(), /warning|fatal|panic/);
    await inst.stop();
  } finally {
    await inst.cleanup();
    await new Promise<void>((resolve) => peer.close(() => resolve()));
  }
});

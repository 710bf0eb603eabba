/**
 * nqmgr - the preemptive scheduler and the recipient slices of the queue
 * manager, driven through the Qmgr class over real UNIX sockets: queue
 * files in incoming/, the real trivial-rewrite service routine on
 * private/rewrite and a fake, slow delivery agent on private/slow that
 * records the order of the requests it receives.
 *
 * (1) a big message (many recipients, one destination, one delivery at a
 *     time) is being delivered when small messages arrive: they preempt it
 *     and are delivered before it finishes; with default_delivery_slot_cost
 *     = 0 (and in oqmgr) they wait until it is done;
 * (2) a message with more recipients than qmgr_message_recipient_limit and
 *     <transport>_recipient_limit is delivered completely, read in slices,
 *     with no more recipients in memory than the limit.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:net';
import { makeInstance, buildQueueFile, placeQueueFile, serveAgent, type Instance } from '../delivery/queue_fixture.js';
import { readDeliverRequest, sendDeliverReply, emptyHop, DELIVER_STAT_OK, DEL_REQ_FLAG } from '../../src/global/deliver_request.js';
import { trivialRewriteInit, rewriteService } from '../../src/trivial-rewrite/trivial-rewrite.js';
import { Qmgr } from '../../src/qmgr/qmgr.js';
import { setLogSink } from './logsink.js';
import { sleep, waitUntil } from '../helpers/wait.js';


interface Delivery {
  queueId: string;
  recipients: string[];
  flags: number;
}

interface Rig {
  inst: Instance;
  qmgr: Qmgr;
  deliveries: Delivery[];
  logs: { lines: string[]; restore: () => void };
  close(): void;
}

/** rig - an instance whose default transport "slow" is a fake agent answering after holdMs. */
async function rig(mainCf: string, holdMs: number, opts: { preempt?: boolean } = {}, gate?: Promise<void>): Promise<Rig> {
  const inst = makeInstance(['default_transport = slow', 'queue_run_delay = 3600s', mainCf].join('\n'));
  const logs = setLogSink();
  const deliveries: Delivery[] = [];
  const servers: Server[] = [];
  const st = await trivialRewriteInit(inst.config);
  servers.push(await serveAgent(inst, 'rewrite', (stream) => rewriteService(stream, st)));
  servers.push(
    await serveAgent(inst, 'slow', async (stream) => {
      const req = await readDeliverRequest(stream);
      if (!req) return;
      deliveries.push({ queueId: req.queue_id, recipients: req.rcpt.map((r) => r.address), flags: req.flags });
      await (gate ?? sleep(holdMs));
      await sendDeliverReply(stream, { hop: emptyHop(), status: DELIVER_STAT_OK });
    }),
  );
  const qmgr = new Qmgr(inst.config, opts);
  return {
    inst,
    qmgr,
    deliveries,
    logs,
    close() {
      qmgr.stop();
      for (const s of servers) s.close();
      logs.restore();
      inst.cleanup();
    },
  };
}

function queueFile(r: Rig, id: string, rcpts: string[]): void {
  const file = buildQueueFile('sender@example.org', rcpts.map((address) => ({ address })), ['Subject: x', '', 'body']);
  placeQueueFile(r.inst, id, file, 'incoming');
}

async function waitFor(what: string, r: Rig, fn: () => boolean, timeoutMs = 60000): Promise<void> {
  await waitUntil(what, fn, { timeoutMs, intervalMs: 20, context: () => r.logs.lines.join('\n') });
}

function removed(r: Rig, id: string): boolean {
  return r.logs.lines.includes(`${id}: removed`) && !existsSync(join(r.inst.config.str('queue_directory'), 'active', id));
}

const BIG = Array.from({ length: 40 }, (_, i) => `big${i}@dest.test`);
const SMALL = ['S1', 'S2', 'S3'];

function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => undefined as void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const b0 = (n: number) => Array.from({ length: n }, () => 'B0');

/**
 * bigThenSmall - the big message first; while the agent holds its first
 * delivery, three one-recipient messages enter the active queue; then the
 * agent answers (one delivery at a time from then on).
 */
async function bigThenSmall(r: Rig, open: () => void, big = BIG): Promise<string[]> {
  queueFile(r, 'B0', big);
  await r.qmgr.start();
  await waitFor('the first delivery of the big message', r, () => r.deliveries.length >= 1);
  for (const id of SMALL) queueFile(r, id, [`${id.toLowerCase()}@dest.test`]);
  await r.qmgr.trigger(Buffer.from('I'));
  await waitFor('the small messages in the active queue', r, () =>
    SMALL.every((id) => r.logs.lines.some((l) => l.startsWith(`${id}: from=<sender@example.org>`) && l.endsWith('(queue active)'))),
  );
  open();
  await waitFor('all messages removed', r, () => ['B0', ...SMALL].every((id) => removed(r, id)));
  assert.equal(r.deliveries.filter((d) => d.queueId === 'B0').length, big.length / 2);
  return r.deliveries.map((d) => d.queueId);
}

// One delivery at a time to dest.test, two recipients per delivery (the big
// message makes 20 requests). With a recipient limit of 1 the concurrency
// limit would be per recipient (see the last test).
const SERIAL = 'slow_destination_concurrency_limit = 1\nslow_destination_recipient_limit = 2';

test('small messages preempt a big one: they are delivered before it finishes', async () => {
  const g = gate();
  const r = await rig(SERIAL, 0, {}, g.promise);
  try {
    const order = await bigThenSmall(r, g.open);
    const lastBig = order.lastIndexOf('B0');
    for (const id of SMALL) {
      const at = order.indexOf(id);
      assert.ok(at > 0 && at < lastBig, `${id} delivered at ${at}, the big message finished at ${lastBig}: ${order.join(' ')}`);
    }
    // One request of the big message was out when they came: the first one
    // slips in at once (the slot loan), then one per delivery_slot_cost (5)
    // requests of the big message, the pattern Postfix 3.7 shows.
    assert.deepEqual(order, ['B0', 'S1', ...b0(5), 'S2', ...b0(5), 'S3', ...b0(9)]);
  } finally {
    g.open();
    r.close();
  }
});

test('without the slot loan and discount a small message waits for a whole delivery slot', async () => {
  const g = gate();
  const r = await rig(`${SERIAL}\nslow_delivery_slot_loan = 0\nslow_delivery_slot_discount = 0`, 0, {}, g.promise);
  try {
    // as Postfix 3.7: five requests of the big message, then a small one
    assert.deepEqual(await bigThenSmall(r, g.open), [...b0(5), 'S1', ...b0(5), 'S2', ...b0(5), 'S3', ...b0(5)]);
  } finally {
    g.open();
    r.close();
  }
});

test('default_delivery_slot_cost = 0 turns preemption off: small messages wait for the big one', async () => {
  const g = gate();
  const r = await rig(`${SERIAL}\ndefault_delivery_slot_cost = 0`, 0, {}, g.promise);
  try {
    const order = await bigThenSmall(r, g.open);
    assert.deepEqual(order, [...b0(20), ...SMALL]);
  } finally {
    r.close();
  }
});

test('oqmgr does not preempt; per-transport slot cost overrides the default', async () => {
  const g1 = gate();
  const o = await rig(SERIAL, 0, { preempt: false }, g1.promise);
  try {
    assert.deepEqual(await bigThenSmall(o, g1.open), [...b0(20), ...SMALL]);
  } finally {
    g1.open();
    o.close();
  }
  const g2 = gate();
  const t = await rig(`${SERIAL}\nslow_delivery_slot_cost = 0`, 0, {}, g2.promise);
  try {
    assert.deepEqual(await bigThenSmall(t, g2.open), [...b0(20), ...SMALL]);
  } finally {
    g2.open();
    t.close();
  }
});

test('a message with more recipients than the in-memory limits is delivered completely, read in slices', async () => {
  const limits = [
    'qmgr_message_recipient_limit = 30',
    'qmgr_message_recipient_minimum = 5',
    'slow_recipient_limit = 30',
    'slow_recipient_refill_limit = 10',
    'slow_destination_recipient_limit = 7',
    'slow_destination_concurrency_limit = 2',
  ].join('\n');
  const r = await rig(limits, 2);
  try {
    const rcpts = Array.from({ length: 500 }, (_, i) => `u${i}@d${i % 3}.test`);
    queueFile(r, 'H0', rcpts);
    queueFile(r, 'H1', ['one@d0.test', 'two@d1.test']);
    await r.qmgr.start();
    await waitFor('both messages removed', r, () => removed(r, 'H0') && removed(r, 'H1'));
    assert.ok(r.logs.lines.includes('H0: from=<sender@example.org>, size=20, nrcpt=500 (queue active)'), r.logs.lines.join('\n'));
    const got = r.deliveries.filter((d) => d.queueId === 'H0').flatMap((d) => d.recipients);
    assert.deepEqual([...got].sort(), [...rcpts].sort(), 'every recipient exactly once');
    assert.ok(r.deliveries.every((d) => d.recipients.length <= 7));
    // later slices top up queued requests: 3 destinations x ceil(167 / 7) when all are full
    const requests = r.deliveries.filter((d) => d.queueId === 'H0').length;
    assert.ok(requests < 2 * 72, `${requests} requests for 500 recipients`);
    assert.ok(r.qmgr.refills >= 500 / 30 - 1, `read in slices (${r.qmgr.refills} refills)`);
    assert.ok(r.qmgr.peakRecipients <= 30, `at most qmgr_message_recipient_limit in memory (peak ${r.qmgr.peakRecipients})`);
    assert.equal(r.qmgr.recipientsInMemory, 0);
  } finally {
    r.close();
  }
});

test('with <transport>_destination_recipient_limit = 1 the concurrency limit is per recipient', async () => {
  // as postconf(5) says, and as local (local_destination_recipient_limit = 1) works
  const { promise, open } = gate();
  const r = await rig('slow_destination_concurrency_limit = 1\nslow_destination_recipient_limit = 1', 0, {}, promise);
  try {
    queueFile(r, 'P0', ['a@dest.test', 'b@dest.test', 'c@dest.test']);
    await r.qmgr.start();
    // no agent answers until all three requests are out: they run in parallel
    await waitFor('three deliveries in parallel', r, () => r.deliveries.length === 3);
    open();
    assert.ok(r.deliveries.every((d) => d.recipients.length === 1));
    await waitFor('removed', r, () => removed(r, 'P0'));
  } finally {
    open();
    r.close();
  }
});

test('a destination holding more than a fifth of qmgr_message_active_limit entries is reported (qmgr_clog_warn_time)', async () => {
  const { promise, open } = gate();
  const r = await rig(`qmgr_message_active_limit = 10\n${SERIAL}`, 0, {}, promise);
  try {
    for (const id of ['C1', 'C2', 'C3', 'C4']) queueFile(r, id, [`${id.toLowerCase()}@dest.test`]);
    await r.qmgr.start();
    await waitFor('four messages active', r, () => r.logs.lines.filter((l) => l.endsWith('(queue active)')).length === 4);
    open();
    await waitFor('all removed', r, () => ['C1', 'C2', 'C3', 'C4'].every((id) => removed(r, id)));
    // the lines of Postfix 3.7 (oracle: qmgr_message_active_limit = 10, concurrency limit 1), once per qmgr_clog_warn_time
    // (the test sink puts the severity in front of the text msg.warn formats)
    assert.deepEqual(
      r.logs.lines.filter((l) => l.startsWith('warning: ')).map((l) => l.slice('warning: '.length)),
      [
        'warning: mail for dest.test is using up 3 of 3 active queue entries',
        'warning: you may need to increase the main.cf slow_destination_concurrency_limit from 1',
        'warning: please avoid flushing the whole queue when you have',
        'warning: lots of deferred mail, that is bad for performance',
        'warning: to turn off these warnings specify: qmgr_clog_warn_time = 0',
      ],
    );
  } finally {
    open();
    r.close();
  }
});

test('qmgr_clog_warn_time = 0 turns the clog warning off', async () => {
  const r = await rig(`qmgr_message_active_limit = 10\nqmgr_clog_warn_time = 0\n${SERIAL}`, 1);
  try {
    for (const id of ['C1', 'C2', 'C3', 'C4']) queueFile(r, id, [`${id.toLowerCase()}@dest.test`]);
    await r.qmgr.start();
    await waitFor('all removed', r, () => ['C1', 'C2', 'C3', 'C4'].every((id) => removed(r, id)));
    assert.deepEqual(r.logs.lines.filter((l) => l.startsWith('warning: ')), []);
  } finally {
    r.close();
  }
});

test('a job that can never earn <transport>_minimum_delivery_slots is not preempted', async () => {
  // 7 requests < 3 slots x cost 5: the small messages wait
  const medium = BIG.slice(0, 14);
  const g1 = gate();
  const r1 = await rig(SERIAL, 0, {}, g1.promise);
  try {
    assert.deepEqual(await bigThenSmall(r1, g1.open, medium), [...b0(7), ...SMALL]);
  } finally {
    g1.open();
    r1.close();
  }
  // with a minimum of 1 slot the same job is preempted, once: 7 requests earn
  // one slot (7 / 5), and S1 used it
  const g2 = gate();
  const r2 = await rig(`${SERIAL}\nslow_minimum_delivery_slots = 1`, 0, {}, g2.promise);
  try {
    assert.deepEqual(await bigThenSmall(r2, g2.open, medium), ['B0', 'S1', ...b0(6), 'S2', 'S3']);
  } finally {
    g2.open();
    r2.close();
  }
});

test('on-demand connection caching: requests ask the agent to use and keep connections once deliveries come back to back', async () => {
  const r = await rig('slow_destination_recipient_limit = 2\nslow_destination_concurrency_limit = 1\ninitial_destination_concurrency = 1', 50);
  try {
    queueFile(r, 'C1', ['a@dest.test', 'b@dest.test', 'c@dest.test', 'd@dest.test', 'e@dest.test', 'f@dest.test']);
    await r.qmgr.start();
    await waitFor('C1 removed', r, () => removed(r, 'C1'));
    const both = DEL_REQ_FLAG.CONN_LOAD | DEL_REQ_FLAG.CONN_STORE;
    // the first request has no previous delivery to follow; the next ones come back to back
    assert.deepEqual(
      r.deliveries.map((d) => d.flags & both),
      [0, both, both],
    );
  } finally {
    r.close();
  }
});

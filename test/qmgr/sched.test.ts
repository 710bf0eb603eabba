/**
 * sched - the scheduler driven directly against fake delivery agents on
 * real UNIX sockets: the concurrency window (<transport>_destination_
 * concurrency_limit), request size (<transport>_destination_recipient_limit,
 * local: 1 recipient per request), a later recipient slice joining the
 * queued request of each of a message's next hops, Postfix's failed-cohort dead-destination
 * rule with the rest of the destination's mail redirected to the retry
 * agent, and the feedback value syntax.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeInstance, buildQueueFile, placeQueueFile, serveAgent, type Instance } from '../delivery/queue_fixture.js';
import { readDeliverRequest, sendDeliverReply, emptyHop, DELIVER_STAT_OK, DELIVER_STAT_DEFER, type DeliverRequest } from '../../src/global/deliver_request.js';
import { Scheduler, parseFeedback, requestAttrs, type ActiveMessage } from '../../src/qmgr/qmgr_sched.js';
import { setLogSink } from './logsink.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function activeMessage(inst: Instance, id: string, rcpts: string[], done: () => void): { message: ActiveMessage; rcpts: Array<{ address: string; orig: string; offset: number; dsnOrcpt: string; notify: number }> } {
  const file = buildQueueFile('sender@example.org', rcpts.map((address) => ({ address })), ['Subject: x', '', 'body']);
  placeQueueFile(inst, id, file);
  const now = Date.now();
  const message: ActiveMessage = {
    queueId: id,
    queueName: 'active',
    sender: 'sender@example.org',
    arrival: now,
    activeArrival: now,
    dataOffset: file.dataOffset,
    dataSize: file.dataSize,
    sendopts: 0,
    encoding: '',
    envid: '',
    ret: 0,
    deliveryFlags: 0,
    attrs: requestAttrs(new Map()),
    pending: 1,
    deferred: false,
    onDone: done,
  };
  return { message, rcpts: rcpts.map((address, i) => ({ address, orig: address, offset: file.rcptOffsets[i], dsnOrcpt: '', notify: 0 })) };
}

interface Agent {
  requests: DeliverRequest[];
  maxBusy: number;
  close(): void;
}

/** fakeAgent - answers every request after holdMs; fail=true reports a site failure (hop status 4.4.1). */
async function fakeAgent(inst: Instance, name: string, holdMs: number, fail = false): Promise<Agent> {
  const agent: Agent = { requests: [], maxBusy: 0, close: () => undefined };
  let busy = 0;
  const server = await serveAgent(inst, name, async (stream) => {
    const req = await readDeliverRequest(stream);
    if (!req) return;
    agent.requests.push(req);
    busy++;
    agent.maxBusy = Math.max(agent.maxBusy, busy);
    await sleep(holdMs);
    busy--;
    const hop = fail ? { ...emptyHop(), status: '4.4.1', reason: 'connect to x[192.0.2.1]:25: Connection refused' } : emptyHop();
    await sendDeliverReply(stream, { hop, status: fail ? DELIVER_STAT_DEFER : DELIVER_STAT_OK });
  });
  agent.close = () => server.close();
  return agent;
}

async function run(inst: Instance, build: (sched: Scheduler, done: () => void) => number): Promise<void> {
  const sched = new Scheduler(inst.config);
  let left = 0;
  await new Promise<void>((resolve) => {
    left = build(sched, () => {
      if (--left === 0) resolve();
    });
  });
  sched.stop();
}

test('the concurrency window never exceeds <transport>_destination_concurrency_limit, and reaches it', async () => {
  const inst = makeInstance('relay_destination_concurrency_limit = 3\ninitial_destination_concurrency = 5');
  const logs = setLogSink();
  const agent = await fakeAgent(inst, 'relay', 40);
  try {
    await run(inst, (sched, done) => {
      for (let i = 0; i < 12; i++) {
        const { message, rcpts } = activeMessage(inst, `C${i}`, [`u${i}@remote.test`], done);
        sched.enqueue(message, 'relay', 'remote.test', rcpts);
        if (--message.pending === 0) message.onDone(message);
      }
      return 12;
    });
    assert.equal(agent.requests.length, 12);
    assert.equal(agent.maxBusy, 3);
  } finally {
    agent.close();
    logs.restore();
    inst.cleanup();
  }
});

test('a message to many next hops: a later slice joins the queued request of each next hop (peers found by scan, then by map)', async () => {
  const inst = makeInstance('relay_destination_recipient_limit = 5');
  const logs = setLogSink();
  const relay = await fakeAgent(inst, 'relay', 1);
  // 12 next hops for one message: more than a job finds by scanning its list, so its
  // lookup map is used; 3 for the other: found by the scan
  const hops = Array.from({ length: 12 }, (_, i) => `h${i}.test`);
  const few = ['f0.test', 'f1.test', 'f2.test'];
  try {
    await run(inst, (sched, done) => {
      for (const [id, list] of [['M1', hops], ['M2', few]] as const) {
        const first = activeMessage(inst, id, list.map((h) => `a@${h}`), done);
        const second = activeMessage(inst, `${id}x`, list.map((h) => `b@${h}`), () => undefined);
        // two slices of the same message, enqueued before the scheduler runs
        list.forEach((h, i) => sched.enqueue(first.message, 'relay', h, [first.rcpts[i]]));
        list.forEach((h, i) => sched.enqueue(first.message, 'relay', h, [second.rcpts[i]]));
        if (--first.message.pending === 0) first.message.onDone(first.message);
      }
      return 2;
    });
    assert.equal(relay.requests.length, hops.length + few.length, 'one request per next hop');
    for (const r of relay.requests) {
      assert.deepEqual(r.rcpt.map((x) => x.address).sort(), [`a@${r.nexthop}`, `b@${r.nexthop}`]);
    }
    assert.deepEqual(relay.requests.map((r) => r.nexthop).sort(), [...hops, ...few].sort());
  } finally {
    relay.close();
    logs.restore();
    inst.cleanup();
  }
});

test('requests carry at most <transport>_destination_recipient_limit recipients; local gets one each', async () => {
  const inst = makeInstance('relay_destination_recipient_limit = 3');
  const logs = setLogSink();
  const relay = await fakeAgent(inst, 'relay', 1);
  const local = await fakeAgent(inst, 'local', 1);
  try {
    await run(inst, (sched, done) => {
      const a = activeMessage(inst, 'R1', ['a@r.test', 'b@r.test', 'c@r.test', 'd@r.test', 'e@r.test', 'f@r.test', 'g@r.test'], done);
      sched.enqueue(a.message, 'relay', 'r.test', a.rcpts);
      if (--a.message.pending === 0) a.message.onDone(a.message);
      const b = activeMessage(inst, 'L1', ['x@localhost', 'y@localhost', 'z@localhost'], done);
      sched.enqueue(b.message, 'local', 'localhost', b.rcpts);
      if (--b.message.pending === 0) b.message.onDone(b.message);
      return 2;
    });
    assert.deepEqual(relay.requests.map((r) => r.rcpt.length).sort(), [1, 3, 3]);
    assert.deepEqual(
      relay.requests.flatMap((r) => r.rcpt.map((x) => x.address)).sort(),
      ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((x) => `${x}@r.test`),
    );
    assert.deepEqual(local.requests.map((r) => r.rcpt.length), [1, 1, 1]);
    assert.ok(local.requests.every((r) => r.nexthop === 'localhost' && r.queue_name === 'active'));
  } finally {
    relay.close();
    local.close();
    logs.restore();
    inst.cleanup();
  }
});

test('failed cohorts kill the destination; its queued mail goes to the retry agent with "delivery temporarily suspended"', async () => {
  // initial window 5, negative feedback 1: cohorts 1/5 + 1/4 + 1/3 + 1/2 >= 1 after four failures (as Postfix)
  const inst = makeInstance('initial_destination_concurrency = 5\nsmtp_destination_concurrency_limit = 20\nminimal_backoff_time = 300s');
  writeFileSync(join(inst.dir, 'etc', 'master.cf'), 'smtp unix - - n - 1 smtp\nretry unix - - n - - error\n');
  const logs = setLogSink();
  const smtp = await fakeAgent(inst, 'smtp', 1, true);
  const retry = await fakeAgent(inst, 'retry', 1);
  try {
    await run(inst, (sched, done) => {
      for (let i = 0; i < 10; i++) {
        const { message, rcpts } = activeMessage(inst, `D${i}`, [`u${i}@dead.test`], done);
        sched.enqueue(message, 'smtp', 'dead.test', rcpts);
        if (--message.pending === 0) message.onDone(message);
      }
      return 10;
    });
    assert.equal(smtp.maxBusy, 1, 'master.cf maxproc 1 limits the transport');
    assert.equal(smtp.requests.length, 4);
    assert.equal(retry.requests.length, 6);
    for (const r of retry.requests) {
      assert.equal(r.nexthop, '4.4.1 delivery temporarily suspended: connect to x[192.0.2.1]:25: Connection refused');
    }
  } finally {
    smtp.close();
    retry.close();
    logs.restore();
    inst.cleanup();
  }
});

test('concurrency feedback values: N, N/concurrency, N/M', () => {
  assert.deepEqual(parseFeedback('1'), { base: 1, perWindow: false });
  assert.deepEqual(parseFeedback('1/concurrency'), { base: 1, perWindow: true });
  assert.deepEqual(parseFeedback('1/4'), { base: 0.25, perWindow: false });
});

/**
 * local_owner_notice - local(8)'s immediate notices to list owners (Postfix
 * bounce_workaround + bounce_one) and command results, driven over the
 * delivery protocol with a recording bounce service on private/bounce: a
 * failed command of a list with an owner- alias is sent to the owner as a
 * ONE request (the attributes of Postfix's rcpt_print and dsn_print), a
 * failing bounce service defers the recipient, a list without an owner
 * uses the bounce logfile, and "D.S.N text" command output sets the status.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { msgAddOutput } from '../../src/util/msg.js';
import { attrSendProtocol, readAttrs, sendAttrs } from '../../src/util/attr.js';
import { REC } from '../../src/global/rec_type.js';
import { mailQueuePath } from '../../src/global/mail_queue.js';
import { LocalAgent } from '../../src/local/local.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent, type Instance } from '../delivery/queue_fixture.js';

interface Run {
  status: number;
  log: string[];
  requests: Array<Map<string, string>>;
  inst: Instance;
  path: string;
  offset: number;
}

/** deliver - one message to `address` through local(8); the bounce service answers bounceStatus. */
async function deliver(mainCf: string, address: string, id: string, bounceStatus = 0): Promise<Run> {
  const inst = makeInstance(`${mainCf}\nbiff = no`);
  const log: string[] = [];
  const stop = msgAddOutput((_sev, text) => log.push(text));
  const requests: Array<Map<string, string>> = [];
  const bounce = await serveAgent(inst, 'bounce', async (s) => {
    attrSendProtocol(s, 'delivery_status_protocol');
    await s.flush();
    const req = await readAttrs(s);
    if (req === null) return;
    const m = new Map<string, string>();
    for (const name of ['nrequest', 'flags', 'queue_name', 'queue_id', 'sender', 'original_recipient', 'recipient', 'offset', 'dsn_orig_rcpt', 'notify_flags', 'status', 'diag_type', 'diag_text', 'action', 'reason']) {
      const v = req.get(name);
      if (v !== undefined) m.set(name, v);
    }
    requests.push(m);
    sendAttrs(s, [['status', bounceStatus]]);
    await s.flush();
  });
  const agent = new LocalAgent(inst.config);
  const server = await serveAgent(inst, 'local', (s) => agent.service(s));
  try {
    const rcpt = { address };
    const file = buildQueueFile('poster@example.org', [rcpt], ['Subject: to list', '', 'hello list']);
    const path = placeQueueFile(inst, id, file);
    const reply = await deliverVia(inst, 'local', requestFor(id, file, 'poster@example.org', [rcpt]));
    return { status: reply.status, log, requests, inst, path, offset: file.rcptOffsets[0] };
  } finally {
    stop();
    server.close();
    bounce.close();
  }
}

function logfile(r: Run, queue: string, id: string): string {
  const p = mailQueuePath(r.inst.config, queue, id);
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

test('a failed |command of a list with owner-list: a ONE request to the owner, logged bounced without orig_to, marked done', async () => {
  const r = await deliver('alias_maps = inline:{ {cmdlist = "|exit 67"}, {owner-cmdlist = boss} }', 'cmdlist@mail.example.test', 'C0A1');
  try {
    assert.equal(r.status, 0, r.log.join('\n'));
    assert.equal(r.requests.length, 1, r.log.join('\n'));
    assert.deepEqual(Object.fromEntries(r.requests[0]), {
      nrequest: '4',
      flags: '0',
      queue_name: 'active',
      queue_id: 'C0A1',
      sender: 'owner-cmdlist@mail.example.test',
      original_recipient: '',
      recipient: 'cmdlist@mail.example.test',
      offset: String(r.offset),
      dsn_orig_rcpt: '',
      notify_flags: '0',
      status: '5.1.1',
      diag_type: 'x-unix',
      diag_text: 'user unknown',
      action: 'failed',
      reason: 'user unknown',
    });
    assert.ok(r.log.some((l) => /^C0A1: to=<cmdlist@mail\.example\.test>, relay=local, .*dsn=5\.1\.1, status=bounced \(user unknown\)$/.test(l)), r.log.join('\n'));
    assert.equal(logfile(r, 'bounce', 'C0A1'), '');
    assert.equal(readFileSync(r.path)[r.offset], REC.DONE);
  } finally {
    r.inst.cleanup();
  }
});

test('expand_owner_alias = yes: the notice goes to the owner alias value; owner-<user> of a user+ext is found without the extension', async () => {
  const r = await deliver('alias_maps = inline:{ {cmdlist = "|exit 67"}, {owner-cmdlist = boss@example.net} }\nexpand_owner_alias = yes', 'cmdlist@mail.example.test', 'C0A2');
  try {
    assert.equal(r.requests[0]?.get('sender'), 'boss@example.net', r.log.join('\n'));
  } finally {
    r.inst.cleanup();
  }
  const r2 = await deliver('alias_maps = inline:{ {cmdlist = "|exit 67"}, {owner-cmdlist = boss} }\nrecipient_delimiter = +', 'cmdlist+tag@mail.example.test', 'C0A3');
  try {
    assert.equal(r2.requests[0]?.get('sender'), 'owner-cmdlist@mail.example.test', r2.log.join('\n'));
    assert.equal(r2.requests[0]?.get('recipient'), 'cmdlist+tag@mail.example.test');
  } finally {
    r2.inst.cleanup();
  }
});

test('the bounce service fails: the recipient is deferred with "bounce or trace service failure", not marked done', async () => {
  const r = await deliver('alias_maps = inline:{ {cmdlist = "|exit 67"}, {owner-cmdlist = boss} }', 'cmdlist@mail.example.test', 'C0A4', -1);
  try {
    assert.notEqual(r.status, 0);
    assert.ok(r.log.some((l) => /^C0A4: to=<cmdlist@mail\.example\.test>, relay=local, .*dsn=4\.3\.0, status=deferred \(bounce or trace service failure\)$/.test(l)), r.log.join('\n'));
    assert.match(logfile(r, 'defer', 'C0A4'), /\nreason=bounce or trace service failure\n/);
    assert.equal(readFileSync(r.path)[r.offset], REC.RCPT);
  } finally {
    r.inst.cleanup();
  }
});

test('without an owner- alias the failure goes into the bounce logfile (x-unix diagnostic); "D.S.N text" output sets the status', async () => {
  const r = await deliver('alias_maps = inline:{ {cmdlist = "|exit 67"} }', 'cmdlist@mail.example.test', 'C0A5');
  try {
    assert.equal(r.requests.length, 0);
    const text = logfile(r, 'bounce', 'C0A5');
    assert.match(text, /\nstatus=5\.1\.1\ndiag_type=x-unix\ndiag_text=user unknown\naction=failed\nreason=user unknown\n/);
  } finally {
    r.inst.cleanup();
  }
  const r2 = await deliver('alias_maps = inline:{ {full = "|echo 5.2.2 mailbox is full; exit 1"} }', 'full@mail.example.test', 'C0A6');
  try {
    assert.ok(r2.log.some((l) => /^C0A6: to=<full@mail\.example\.test>, relay=local, .*dsn=5\.2\.2, status=bounced \(mailbox is full\)$/.test(l)), r2.log.join('\n'));
  } finally {
    r2.inst.cleanup();
  }
  const r3 = await deliver('alias_maps = inline:{ {odd = "|echo oops; exit 3"} }', 'odd@mail.example.test', 'C0A7');
  try {
    assert.ok(r3.log.some((l) => /^C0A7: to=<odd@mail\.example\.test>, relay=local, .*dsn=5\.3\.0, status=bounced \(Command died with status 3: "echo oops; exit 3"\. Command output: oops\)$/.test(l)), r3.log.join('\n'));
    assert.match(logfile(r3, 'bounce', 'C0A7'), /\ndiag_type=x-unix\ndiag_text=oops\n/);
  } finally {
    r3.inst.cleanup();
  }
});

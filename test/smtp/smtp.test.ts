/**
 * smtp.test - the smtp(8)/lmtp(8) client against real peers on loopback:
 * scripted odd servers (odd_server.ts) for every error path, compared line
 * by line with what real Postfix 3.7.11 smtp(8) logged for the same
 * scenarios (golden/oracle-smtp-3.7.11.txt), plus smtp-server as a
 * well-behaved remote MTA, DSN parameters, connection reuse and LMTP over a
 * UNIX socket.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { msgAddOutput } from '../../src/util/msg.js';
import { SmtpAgent } from '../../src/smtp/smtp.js';
import { bounceLogRead } from '../../src/global/bounce_log.js';
import { DSN_NOTIFY, DSN_RET } from '../../src/global/rec_type.js';
import { DEL_REQ_FLAG } from '../../src/global/deliver_request.js';
import { buildQueueFile, deliverVia, makeInstance, placeQueueFile, requestFor, serveAgent, type Instance } from '../delivery/queue_fixture.js';
import { SCENARIOS, startOddServer, type Scenario } from './odd_server.js';
import type { DeliverReply, DeliverRequest } from '../../src/global/deliver_request.js';

const here = dirname(fileURLToPath(import.meta.url));
const goldenPath = join(here, '..', '..', '..', 'test', 'smtp', 'golden', 'oracle-smtp-3.7.11.txt');
const golden = readFileSync(goldenPath, 'utf8').split('\n').filter(Boolean);

const timeouts = (v: string) => ['helo', 'mail', 'rcpt', 'data_init', 'data_done', 'quit'].flatMap((t) => [`smtp_${t}_timeout = ${v}`, `lmtp_${t}_timeout = ${v}`]).concat([`lmtp_lhlo_timeout = ${v}`]);
/** Generous deadlines for servers that answer; 1s only where a test waits for a timeout on purpose. */
const TIMEOUTS = [...timeouts('20s'), 'smtp_connection_cache_on_demand = no', 'lmtp_connection_cache_on_demand = no'];
const HANG_TIMEOUTS = timeouts('1s');

/** normalize - drop the queue ID, delay fields and port so that our lines compare with Postfix's. */
function normalize(line: string): string {
  return line
    .replace(/^[0-9A-F]+: /, '')
    .replace(/delay=[^ ]* delays=[^ ]* /, '')
    .replace(/(\]):\d+/g, '$1:PORT')
    .replace(/message size \d+/, 'message size N');
}

interface Run {
  lines: string[];
  reply: DeliverReply;
  inst: Instance;
  id: string;
}

let seq = 0;

/** deliverTo - one delivery request through our agent to nexthop; returns the normalized log lines. */
async function deliverTo(nexthop: string, rcpts: string[], opts: { cf?: string[]; lmtp?: boolean; lines?: string[]; tweak?: (r: DeliverRequest) => void; keep?: boolean; agent?: SmtpAgent; inst?: Instance } = {}): Promise<Run> {
  const inst = opts.inst ?? makeInstance([...TIMEOUTS, ...(opts.cf ?? [])].join('\n'));
  const lines: string[] = [];
  const stop = msgAddOutput((_sev, text) => lines.push(text));
  const agent = opts.agent ?? new SmtpAgent(inst.config, opts.lmtp ? 'lmtp' : 'smtp');
  const name = `agent${seq++}`;
  const server = await serveAgent(inst, name, (s) => agent.service(s));
  const id = `5A${(0x100 + seq).toString(16).toUpperCase()}`;
  try {
    const rs = rcpts.map((address) => ({ address }));
    const file = buildQueueFile('s@example.org', rs, opts.lines ?? ['Subject: test', '', 'x'.repeat(300)]);
    placeQueueFile(inst, id, file);
    const req = requestFor(id, file, 's@example.org', rs, nexthop);
    opts.tweak?.(req);
    const reply = await deliverVia(inst, name, req);
    return { lines: lines.map(normalize), reply, inst, id };
  } finally {
    stop();
    server.close();
    if (!opts.keep && !opts.inst) inst.cleanup();
  }
}

function expected(domain: string): string[] {
  return golden.filter((l) => l.includes(`@${domain}>`)).map(normalize).sort();
}

function deliveries(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith('to=<')).sort();
}

async function oracleCase(name: string, rcpts: string[], sc: Scenario = SCENARIOS[name], lmtp = false): Promise<Run> {
  const peer = await startOddServer(sc);
  try {
    const hop = lmtp ? `inet:127.0.0.1:${peer.port}` : `[127.0.0.1]:${peer.port}`;
    const run = await deliverTo(hop, rcpts.map((r) => `${r}@${name}.test`), { lmtp, cf: name.endsWith('hang') ? HANG_TIMEOUTS : [] });
    assert.deepEqual(deliveries(run.lines), expected(`${name}.test`), `${name}: log lines as Postfix`);
    return run;
  } finally {
    await peer.close();
  }
}

const FIVE = ['ok', 'busy', 'nouser', 'over', 'later'];

for (const name of ['greetclose', 'greethang', 'ehloclose', 'mailclose', 'rcptclose', 'dataclose', 'dotclose', 'dothang', 'rcpthang']) {
  test(`${name}: lost connection / timeout text, relay and hop status as Postfix`, async () => {
    const run = await oracleCase(name, ['ok']);
    assert.equal(run.reply.status, 1, 'deferred');
    assert.equal(run.reply.hop.status, '4.4.2', 'site failure reported to qmgr');
  });
}

for (const name of ['ehlo502', 'mail553', 'allbad', 'data554', 'dot552', 'size100', 'multiline', 'nocode']) {
  test(`${name}: reply texts as Postfix`, async () => {
    const run = await oracleCase(name, ['ok']);
    assert.equal(run.reply.hop.status, '', 'no site failure for a server that answered');
  });
}

test('greet554: 5xx greeting is skipped (smtp_skip_5xx_greeting) and deferred as 4.7.1', async () => {
  const run = await oracleCase('greet554', ['ok']);
  assert.equal(run.reply.status, 1);
});

test('greet554 with smtp_skip_5xx_greeting = no bounces', async () => {
  const peer = await startOddServer(SCENARIOS.greet554);
  try {
    const run = await deliverTo(`[127.0.0.1]:${peer.port}`, ['ok@greet554.test'], { cf: ['smtp_skip_5xx_greeting = no'] });
    assert.deepEqual(deliveries(run.lines), ['to=<ok@greet554.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=5.7.1, status=bounced (host 127.0.0.1[127.0.0.1] refused to talk to me: 554 5.7.1 odd.example.test go away)']);
  } finally {
    await peer.close();
  }
});

test('per-recipient 4xx/5xx with PIPELINING: one command batch, replies as Postfix', async () => {
  const peer = await startOddServer(SCENARIOS.mixed);
  try {
    const run = await deliverTo(`[127.0.0.1]:${peer.port}`, FIVE.map((r) => `${r}@mixed.test`), { keep: true });
    try {
      assert.deepEqual(deliveries(run.lines), expected('mixed.test'));
      assert.equal(run.reply.status, 1, 'one recipient deferred');
      const bounces = await bounceLogRead(run.inst.config, 'bounce', run.id);
      assert.deepEqual(bounces.map((b) => b.recipient), ['nouser@mixed.test']);
      assert.equal(bounces[0].diag_text, '550 5.1.1 <nouser@mixed.test>: Recipient address rejected: User unknown');
      const defers = await bounceLogRead(run.inst.config, 'defer', run.id);
      assert.deepEqual(defers.map((b) => b.recipient), ['busy@mixed.test']);
    } finally {
      run.inst.cleanup();
    }
    assert.equal(peer.seen.messages.length, 1);
  } finally {
    await peer.close();
  }
});

test('per-recipient 4xx/5xx without PIPELINING: one command at a time', async () => {
  const peer = await startOddServer(SCENARIOS.mixednopipe);
  try {
    const run = await deliverTo(`[127.0.0.1]:${peer.port}`, FIVE.map((r) => `${r}@mixednopipe.test`));
    assert.deepEqual(deliveries(run.lines), expected('mixednopipe.test'));
    assert.deepEqual(peer.seen.commands.map((c) => c.split(/[: ]/)[0]), ['EHLO', 'MAIL', 'RCPT', 'RCPT', 'RCPT', 'RCPT', 'RCPT', 'DATA', 'QUIT']);
  } finally {
    await peer.close();
  }
});

test('connect refused: relay=none, 4.4.1, the connect line, and a hop status for qmgr', async () => {
  const peer = await startOddServer({});
  const port = peer.port;
  await peer.close();
  const run = await deliverTo(`[127.0.0.1]:${port}`, ['ok@refused.test']);
  const exp = golden.filter((l) => l.includes('refused.test') || l.startsWith('connect to')).map(normalize).sort();
  assert.deepEqual(run.lines.filter((l) => l.startsWith('to=') || l.startsWith('connect to')).sort(), exp);
  assert.equal(run.reply.status, 1);
  assert.equal(run.reply.hop.status, '4.4.1');
  assert.equal(run.reply.hop.action, 'delayed');
  assert.match(run.reply.hop.reason, /^connect to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: Connection refused$/);
});

test('LMTP over TCP: one reply per recipient after DATA, as Postfix', async () => {
  const run = await oracleCase('lmtp', FIVE, SCENARIOS.lmtp, true);
  assert.equal(run.reply.status, 1);
});

test('LMTP over a unix: socket', async () => {
  const inst = makeInstance(TIMEOUTS.join('\n'));
  const path = join(inst.dir, 'lmtp.sock');
  const peer = await startOddServer(SCENARIOS.lmtp, path);
  try {
    const run = await deliverTo(`unix:${path}`, ['ok@x.test', 'over@x.test'], { lmtp: true, inst });
    assert.deepEqual(deliveries(run.lines), [
      `to=<ok@x.test>, relay=mail.example.test[${path}], dsn=2.0.0, status=sent (250 2.0.0 <ok@x.test> Ok)`,
      `to=<over@x.test>, relay=mail.example.test[${path}], dsn=5.2.2, status=bounced (host mail.example.test[${path}] said: 552 5.2.2 <over@x.test>: Mailbox full (in reply to end of DATA command))`,
    ]);
    assert.match(peer.seen.commands[0], /^LHLO /);
  } finally {
    await peer.close();
    inst.cleanup();
  }
});

test('LMTP to a unix: path relative to the queue directory is logged as written (Postfix 3.7.11: relay=myhostname[private/x])', async () => {
  const inst = makeInstance(TIMEOUTS.join('\n'));
  const peer = await startOddServer(SCENARIOS.lmtp, join(inst.config.str('queue_directory'), 'private', 'lmtptest'));
  try {
    const run = await deliverTo('unix:private/lmtptest', ['ok@lu1.test', 'over@lu1.test'], { lmtp: true, inst });
    assert.deepEqual(deliveries(run.lines), [
      'to=<ok@lu1.test>, relay=mail.example.test[private/lmtptest], dsn=2.0.0, status=sent (250 2.0.0 <ok@lu1.test> Ok)',
      'to=<over@lu1.test>, relay=mail.example.test[private/lmtptest], dsn=5.2.2, status=bounced (host mail.example.test[private/lmtptest] said: 552 5.2.2 <over@lu1.test>: Mailbox full (in reply to end of DATA command))',
    ]);
  } finally {
    await peer.close();
    inst.cleanup();
  }
});

test('DSN parameters pass through: RET, ENVID (xtext), NOTIFY, ORCPT', async () => {
  const peer = await startOddServer({ extensions: ['PIPELINING', 'SIZE 10000000', 'DSN', '8BITMIME'] });
  try {
    await deliverTo(`[127.0.0.1]:${peer.port}`, ['a@dsn.test', 'b@dsn.test'], {
      tweak(r) {
        r.dsn_ret = DSN_RET.HDRS;
        r.dsn_envid = 'id+1=x';
        r.rcpt[0].dsn_notify = DSN_NOTIFY.SUCCESS | DSN_NOTIFY.FAILURE;
        r.rcpt[1].dsn_notify = DSN_NOTIFY.NEVER;
      },
    });
    const mail = peer.seen.commands.find((c) => c.startsWith('MAIL'))!;
    assert.match(mail, /^MAIL FROM:<s@example\.org> SIZE=\d+ RET=HDRS ENVID=id\+2B1\+3Dx$/);
    const rcpts = peer.seen.commands.filter((c) => c.startsWith('RCPT'));
    assert.deepEqual(rcpts, ['RCPT TO:<a@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@dsn.test', 'RCPT TO:<b@dsn.test> NOTIFY=NEVER ORCPT=rfc822;b@dsn.test']);
  } finally {
    await peer.close();
  }
});

test('no DSN keyword: no DSN parameters are sent', async () => {
  const peer = await startOddServer({ extensions: ['PIPELINING'] });
  try {
    await deliverTo(`[127.0.0.1]:${peer.port}`, ['a@nodsn.test'], { tweak: (r) => { r.dsn_ret = DSN_RET.FULL; r.rcpt[0].dsn_notify = DSN_NOTIFY.SUCCESS; } });
    assert.ok(peer.seen.commands.includes('MAIL FROM:<s@example.org>'));
    assert.ok(peer.seen.commands.includes('RCPT TO:<a@nodsn.test>'));
  } finally {
    await peer.close();
  }
});

test('dot-stuffing and CRLF on the wire', async () => {
  const peer = await startOddServer({});
  try {
    await deliverTo(`[127.0.0.1]:${peer.port}`, ['a@dots.test'], { lines: ['Subject: dots', '', '.', '..two', 'end'] });
    assert.equal(peer.seen.messages[0], 'Subject: dots\r\n\r\n..\r\n...two\r\nend\r\n');
  } finally {
    await peer.close();
  }
});

test('connection reuse: the second request to the same next hop uses the cached session (conn_use=2)', async () => {
  const peer = await startOddServer({});
  const inst = makeInstance(TIMEOUTS.filter((l) => !l.includes('cache_on_demand')).join('\n'));
  try {
    const agent = new SmtpAgent(inst.config, 'smtp');
    const hop = `[127.0.0.1]:${peer.port}`;
    // qmgr asks for on-demand caching (load and store) once deliveries come back to back
    const backToBack = (r: DeliverRequest) => {
      r.flags |= DEL_REQ_FLAG.CONN_LOAD | DEL_REQ_FLAG.CONN_STORE;
    };
    const one = await deliverTo(hop, ['a@reuse.test'], { agent, inst, tweak: backToBack });
    const two = await deliverTo(hop, ['b@reuse.test'], { agent, inst, tweak: backToBack });
    assert.equal(peer.seen.sessions, 1, 'one TCP session for two deliveries');
    assert.equal(peer.seen.messages.length, 2);
    assert.doesNotMatch(deliveries(one.lines)[0], /conn_use/);
    assert.match(deliveries(two.lines)[0], /^to=<b@reuse\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:PORT, conn_use=2, dsn=2\.0\.0, status=sent/);
    // Without the flags (no backlog) a cached session is neither looked for nor kept.
    const three = await deliverTo(hop, ['c@reuse.test'], { agent, inst });
    assert.doesNotMatch(deliveries(three.lines)[0], /conn_use/);
    await deliverTo(hop, ['d@reuse.test'], { agent, inst });
    assert.equal(peer.seen.sessions, 3, 'a new session for each delivery without the flags');
    SmtpAgent.closeIdle();
  } finally {
    await peer.close();
    inst.cleanup();
  }
});

test('smtp-server as the remote MTA receives the message and the envelope', async () => {
  const got: { from: string; to: string[]; data: string }[] = [];
  const peer = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        got.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks).toString() });
        cb();
      });
    },
  });
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', () => r()));
  const port = (peer.server.address() as { port: number }).port;
  try {
    const run = await deliverTo(`[127.0.0.1]:${port}`, ['a@peer.test', 'b@peer.test']);
    assert.equal(run.reply.status, 0);
    assert.equal(got.length, 1);
    assert.equal(got[0].from, 's@example.org');
    assert.deepEqual(got[0].to, ['a@peer.test', 'b@peer.test']);
    assert.match(got[0].data, /^Subject: test\r\n\r\nx{300}\r\n$/);
    assert.equal(deliveries(run.lines).length, 2);
    for (const l of deliveries(run.lines)) assert.match(l, /relay=127\.0\.0\.1\[127\.0\.0\.1\]:PORT, dsn=2\.0\.0, status=sent \(250 /);
  } finally {
    await new Promise<void>((r) => peer.close(() => r()));
  }
});

test('MX order: by preference, equal preferences shuffled only with smtp_randomize_addresses', async () => {
  const { sortMx } = await import('../../src/smtp/smtp_connect.js');
  const mx = [
    { exchange: 'c', priority: 20 },
    { exchange: 'a1', priority: 10 },
    { exchange: 'a2', priority: 10 },
    { exchange: 'b', priority: 15 },
  ];
  assert.deepEqual(sortMx(mx, false).map((m) => m.exchange), ['a1', 'a2', 'b', 'c']);
  const seq = [0.9, 0.6, 0.2, 0.5];
  let i = 0;
  assert.deepEqual(sortMx(mx, true, () => seq[i++]).map((m) => m.exchange), ['a2', 'a1', 'b', 'c']);
});

test('smtp_mx_session_limit: stop after N servers that answered; the others are not contacted', async () => {
  // Three addresses for one next hop are not available without DNS; two
  // fallback relays after a broken primary give three sessions to count.
  const peers = await Promise.all([startOddServer(SCENARIOS.greetclose), startOddServer(SCENARIOS.greetclose), startOddServer({})]);
  try {
    const [p1, p2, p3] = peers;
    const run = await deliverTo(`[127.0.0.1]:${p1.port}`, ['ok@limit.test'], { cf: ['smtp_mx_session_limit = 1', `smtp_fallback_relay = [127.0.0.1]:${p2.port}, [127.0.0.1]:${p3.port}`] });
    // The session limit applies to the next hop's own servers; fallback relays are still tried.
    assert.equal(p1.seen.sessions, 1);
    assert.equal(p2.seen.sessions, 1);
    assert.equal(p3.seen.messages.length, 1);
    assert.match(deliveries(run.lines)[0], /status=sent/);
  } finally {
    for (const p of peers) await p.close();
  }
});

test('smtp_generic_maps rewrites the envelope and the primary header addresses on output', async () => {
  const peer = await startOddServer({});
  const inst = makeInstance(TIMEOUTS.join('\n'));
  try {
    const table = join(inst.dir, 'generic');
    writeFileSync(table, 's@example.org outside@isp.example\n@inside.test @outside.test\n');
    const cfInst = makeInstance([...TIMEOUTS, `smtp_generic_maps = texthash:${table}`].join('\n'));
    try {
      await deliverTo(`[127.0.0.1]:${peer.port}`, ['bob@inside.test', 'carol@else.test'], {
        inst: cfInst,
        lines: ['From: Sender Name <s@example.org>', 'To: bob@inside.test,', ' carol@else.test', 'Subject: bob@inside.test stays', 'X-Other: <bob@inside.test>', '', 'To: bob@inside.test in the body stays'],
      });
    } finally {
      cfInst.cleanup();
    }
    assert.ok(peer.seen.commands.includes('MAIL FROM:<outside@isp.example>'));
    assert.ok(peer.seen.commands.includes('RCPT TO:<bob@outside.test>'));
    assert.ok(peer.seen.commands.includes('RCPT TO:<carol@else.test>'));
    assert.equal(
      peer.seen.messages[0],
      'From: Sender Name <outside@isp.example>\r\nTo: bob@outside.test,\r\n\tcarol@else.test\r\nSubject: bob@inside.test stays\r\nX-Other: <bob@inside.test>\r\n\r\nTo: bob@inside.test in the body stays\r\n',
    );
  } finally {
    await peer.close();
    inst.cleanup();
  }
});

test('MX lookup through DNS (a test server on loopback): preference order, smtp_mx_session_limit, smtp_mx_address_limit, NXDOMAIN, no MX', async () => {
  const dns = await import('node:dns');
  const { startDnsServer } = await import('./dns_server.js');
  const zone = {
    'mx.test': { mx: [[20, 'c.mx.test'], [10, 'a.mx.test'], [10, 'b.mx.test']] as Array<[number, string]> },
    'a.mx.test': { a: ['127.0.0.2'] },
    'b.mx.test': { a: ['127.0.0.3'] },
    'c.mx.test': { a: ['127.0.0.4'] },
    'amx.test': { a: ['127.0.0.4'] },
  };
  const server = await startDnsServer(zone);
  const saved = dns.getServers();
  dns.setServers([`127.0.0.1:${server.port}`]);
  dns.promises.setServers([`127.0.0.1:${server.port}`]);
  const probe = await startOddServer({}, undefined, 0, '127.0.0.4');
  const port = probe.port;
  await probe.close();
  const a = await startOddServer(SCENARIOS.greetclose, undefined, port, '127.0.0.2');
  const b = await startOddServer(SCENARIOS.greetclose, undefined, port, '127.0.0.3');
  const c = await startOddServer({}, undefined, port, '127.0.0.4');
  try {
    const base = ['inet_protocols = ipv4'];
    const limited = await deliverTo(`mx.test:${port}`, ['u@mx.test'], { cf: [...base, 'smtp_mx_session_limit = 2'] });
    assert.equal(a.seen.sessions + b.seen.sessions, 2, 'both preference-10 hosts tried');
    assert.equal(c.seen.sessions, 0, 'the preference-20 host is beyond the session limit');
    assert.match(deliveries(limited.lines)[0], /^to=<u@mx\.test>, relay=[ab]\.mx\.test\[127\.0\.0\.[23]\]:PORT, dsn=4\.4\.2, status=deferred \(lost connection with [ab]\.mx\.test\[127\.0\.0\.[23]\] while receiving the initial server greeting\)$/);
    const all = await deliverTo(`mx.test:${port}`, ['u@mx.test'], { cf: [...base, 'smtp_mx_session_limit = 3'] });
    assert.match(deliveries(all.lines)[0], /^to=<u@mx\.test>, relay=c\.mx\.test\[127\.0\.0\.4\]:PORT, dsn=2\.0\.0, status=sent/);
    const before = a.seen.sessions + b.seen.sessions;
    await deliverTo(`mx.test:${port}`, ['u@mx.test'], { cf: [...base, 'smtp_mx_address_limit = 1', 'smtp_mx_session_limit = 5'] });
    assert.equal(a.seen.sessions + b.seen.sessions - before, 1, 'one address only');
    const nx = await deliverTo(`nx.test:${port}`, ['u@nx.test'], { cf: base });
    assert.deepEqual(deliveries(nx.lines), ['to=<u@nx.test>, relay=none, dsn=5.4.4, status=bounced (Host or domain name not found. Name service error for name=nx.test type=MX: Host not found)']);
    const amx = await deliverTo(`amx.test:${port}`, ['u@amx.test'], { cf: base });
    assert.match(deliveries(amx.lines)[0], /^to=<u@amx\.test>, relay=amx\.test\[127\.0\.0\.4\]:PORT, dsn=2\.0\.0, status=sent/);
  } finally {
    dns.setServers(saved);
    dns.promises.setServers(saved);
    for (const p of [a, b, c]) await p.close();
    await server.close();
  }
});

test('smtp_connection_cache_destinations caches a listed next hop even without on-demand caching', async () => {
  const peer = await startOddServer({});
  const hop = `[127.0.0.1]:${peer.port}`;
  const inst = makeInstance([...TIMEOUTS, `smtp_connection_cache_destinations = ${hop}`].join('\n'));
  try {
    const agent = new SmtpAgent(inst.config, 'smtp');
    await deliverTo(hop, ['a@cache.test'], { agent, inst });
    const two = await deliverTo(hop, ['b@cache.test'], { agent, inst });
    assert.equal(peer.seen.sessions, 1);
    assert.match(deliveries(two.lines)[0], /conn_use=2/);
    SmtpAgent.closeIdle();
  } finally {
    await peer.close();
    inst.cleanup();
  }
});

test('our smtp-sink as the peer: a clean delivery, then injected RCPT and DATA errors', async () => {
  const { spawn } = await import('node:child_process');
  const { freePort } = await import('../helpers/instance.js');
  const { userInfo } = await import('node:os');
  const bin = join(here, '..', '..', '..', 'bin', 'smtp-sink');
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : ['-u', userInfo().username];
  const runSink = async (flags: string[], body: (port: number) => Promise<void>) => {
    const port = await freePort();
    const child = spawn(process.execPath, [bin, ...user, ...flags, `127.0.0.1:${port}`, '10'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      for (let i = 0; i < 200; i++) {
        const ok = await new Promise<boolean>((r) => {
          const s = connect(port, '127.0.0.1', () => {
            s.destroy();
            r(true);
          });
          s.on('error', () => r(false));
        });
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await body(port);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  const { connect } = await import('node:net');
  await runSink([], async (port) => {
    const run = await deliverTo(`[127.0.0.1]:${port}`, ['a@sink.test']);
    assert.deepEqual(deliveries(run.lines), ['to=<a@sink.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=2.0.0, status=sent (250 2.0.0 Ok)']);
  });
  await runSink(['-r', 'rcpt'], async (port) => {
    const run = await deliverTo(`[127.0.0.1]:${port}`, ['a@sink.test']);
    assert.deepEqual(deliveries(run.lines), ['to=<a@sink.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=4.3.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed (in reply to RCPT TO command))']);
  });
  await runSink(['-f', 'data'], async (port) => {
    const run = await deliverTo(`[127.0.0.1]:${port}`, ['a@sink.test']);
    assert.deepEqual(deliveries(run.lines), ['to=<a@sink.test>, relay=127.0.0.1[127.0.0.1]:PORT, dsn=5.3.0, status=bounced (host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to DATA command))']);
  });
});

/**
 * trivial-rewrite tests: rewrite/resolve/verify requests over a real UNIX
 * socket, through the real clients, compared with answers recorded from
 * Postfix 3.7.11's trivial-rewrite on the same configuration
 * (golden/oracle-rewrite-resolve.jsonl: one JSON array per request with the
 * inputs followed by the oracle's outputs).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MailConfig } from '../../src/global/mail_conf.js';
import { VStream } from '../../src/util/vstream.js';
import { TrivialClient, RewriteClient } from '../../src/global/rewrite_clnt.js';
import { ResolveClient } from '../../src/global/resolve_clnt.js';
import { rewriteService, trivialRewriteInit } from '../../src/trivial-rewrite/trivial-rewrite.js';
import { readAttrs, sendAttrs } from '../../src/util/attr.js';
import { mailConnect } from '../../src/global/mail_connect.js';

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = join(here, '../../../test/trivial-rewrite/golden');
const goldenPath = join(goldenDir, 'oracle-rewrite-resolve.jsonl');

/** replay - run every recorded request through our server and compare with the recorded answer. */
async function replay(cfg: MailConfig, file: string): Promise<void> {
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Array<string | number>);
  assert.ok(lines.length >= 10);
  const tc = new TrivialClient(cfg);
  const rw = new RewriteClient(tc);
  const rs = new ResolveClient(tc);
  try {
    for (const row of lines) {
      if (row[0] === 'rewrite') {
        assert.equal(await rw.rewrite(String(row[1]), String(row[2])), row[3], `rewrite ${row[1]} ${row[2]}`);
      } else {
        const r = await rs.resolve(String(row[1]), String(row[2]), row[0] as 'resolve' | 'verify');
        assert.deepEqual([r.transport, r.nexthop, r.recipient, r.flags], row.slice(3), `${row[0]} <${row[2]}>`);
      }
    }
  } finally {
    tc.disconnect();
  }
}

/** round2 - the second recorded configuration (append_dot_mydomain, no bang/percent hacks, relocated ...). */
function round2(wildcard: boolean): (dir: string) => string[] {
  return (dir) => {
    writeFileSync(join(dir, 'relocated'), 'moved@example.test new@elsewhere.example\n@oldco.example contact@newco.example\n');
    writeFileSync(
      join(dir, 'transport2'),
      'special.example smtp:[10.0.0.1]:2525\n' + (wildcard ? '* relay:[wild.example]\n' : '') + 'nexthoponly.example :[nh2]\n',
    );
    return [
      'append_dot_mydomain = yes',
      'allow_percent_hack = no',
      'swap_bangpath = no',
      'mydestination = $myhostname, localhost.$mydomain, localhost, $mydomain',
      `relocated_maps = texthash:${join(dir, 'relocated')}`,
      'sender_dependent_default_transport_maps = inline:{ bob@example.test=uucp:gw, carol@example.test=DUNNO }',
      `transport_maps = texthash:${join(dir, 'transport2')}`,
      'relayhost =',
      'default_transport = smtp:[default.gw]',
      'local_transport = local',
      'virtual_transport = virtual:vhost',
      'address_verify_default_transport = verifyxp',
    ];
  };
}

test('second configuration, with a "*" transport: answers match Postfix 3.7', async () => {
  await withServer((cfg) => replay(cfg, join(goldenDir, 'oracle-round2-wildcard.jsonl')), round2(true));
});

test('second configuration, without "*": answers match Postfix 3.7', async () => {
  await withServer((cfg) => replay(cfg, join(goldenDir, 'oracle-round3.jsonl')), round2(false));
});

async function withServer(fn: (cfg: MailConfig) => Promise<void>, extra: (dir: string) => string[] = () => []): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'trivial-rewrite-'));
  mkdirSync(join(dir, 'private'));
  const transport = join(dir, 'transport');
  writeFileSync(
    transport,
    'special.example smtp:[10.0.0.1]:2525\n.parent.example relay:\nuser@tx.example error:5.1.1 nope\nnh.example :[nh.host]\n',
  );
  const cfg = MailConfig.fromText(
    [
      `queue_directory = ${dir}`,
      'compatibility_level = 3.6',
      'myhostname = mail.example.test',
      'mydomain = example.test',
      'inet_interfaces = 127.0.0.1',
      'relay_domains = relay.example, .relaysub.example',
      'virtual_alias_domains = valias.example',
      'virtual_mailbox_domains = vmbox.example',
      `transport_maps = texthash:${transport}`,
      'relayhost = [relay.host]:587',
      'recipient_delimiter = +',
      'remote_header_rewrite_domain = domain.invalid',
      'sender_dependent_relayhost_maps = inline:{ alice@example.test=[alice.relay] }',
      ...extra(dir),
      '',
    ].join('\n'),
    dir,
  );
  const st = await trivialRewriteInit(cfg);
  const srv: Server = createServer((s) => {
    void rewriteService(new VStream(s, { timeout: 30000 }), st).finally(() => s.destroy());
  });
  await new Promise<void>((r) => srv.listen(join(dir, 'private', 'rewrite'), r));
  try {
    await fn(cfg);
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('rewrite, resolve and verify answers match Postfix 3.7', async () => {
  const lines = readFileSync(goldenPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Array<string | number>);
  assert.ok(lines.length >= 40);
  await withServer(async (cfg) => {
    const tc = new TrivialClient(cfg);
    const rw = new RewriteClient(tc);
    const rs = new ResolveClient(tc);
    try {
      for (const row of lines) {
        if (row[0] === 'rewrite') {
          const got = await rw.rewrite(String(row[1]), String(row[2]));
          assert.equal(got, row[3], `rewrite ${row[1]} ${row[2]}`);
        } else {
          const r = await rs.resolve(String(row[1]), String(row[2]), row[0] as 'resolve' | 'verify');
          assert.deepEqual([r.transport, r.nexthop, r.recipient, r.flags], row.slice(3), `${row[0]} <${row[2]}>`);
        }
      }
    } finally {
      tc.disconnect();
    }
  });
});

test('protocol: greeting, two flags attributes, bad request disconnects', async () => {
  await withServer(async (cfg) => {
    const s = await mailConnect(cfg, 'private', 'rewrite', 30000);
    const hello = await readAttrs(s);
    assert.equal(hello?.get('protocol'), 'trivial_rewrite_protocol');
    sendAttrs(s, [
      ['request', 'resolve'],
      ['sender', ''],
      ['address', 'user@example.org'],
    ]);
    const r = await readAttrs(s);
    assert.deepEqual(
      r?.pairs.map(([k]) => k),
      ['flags', 'transport', 'nexthop', 'recipient', 'flags'],
    );
    sendAttrs(s, [
      ['request', 'rewrite'],
      ['rule', 'bogus'],
      ['address', 'x'],
    ]);
    assert.equal(await readAttrs(s), null);
    s.close();
  });
});

test('clients reconnect after the server drops the connection', async () => {
  await withServer(async (cfg) => {
    const tc = new TrivialClient(cfg);
    const rw = new RewriteClient(tc);
    assert.equal(await rw.rewrite('local', 'a'), 'a@mail.example.test');
    tc.disconnect();
    assert.equal(await rw.rewriteInternal('local', 'b c'), 'b c@mail.example.test');
    tc.disconnect();
  });
});

test('own addresses: inet_interfaces by name, proxy_interfaces', async () => {
  await withServer(
    async (cfg) => {
      const tc = new TrivialClient(cfg);
      const rs = new ResolveClient(tc);
      try {
        for (const [addr, flags] of [
          ['u@[127.0.0.1]', 256],
          ['u@[192.0.2.7]', 256],
          ['u@[192.0.2.8]', 4096],
        ] as const) {
          const r = await rs.resolve('', addr);
          assert.equal(r.flags, flags, addr);
        }
      } finally {
        tc.disconnect();
      }
    },
    () => ['inet_interfaces = localhost', 'proxy_interfaces = 192.0.2.7'],
  );
});

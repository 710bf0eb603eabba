/**
 * cleanup against recorded Postfix behaviour: every input of
 * golden/cases.json was sent to Postfix 3.7.11's own cleanup server (over
 * its public/cleanup socket, with the configuration below) and the queue
 * file it wrote was saved as golden/case-NAME.jsonl (first line: the
 * status reply; then the records, run-time values replaced by
 * placeholders), with its log lines in golden/case-NAME.log. The same
 * input must give the same reply, records and log lines here.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CleanupClient } from '../../src/global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_FLAG_MASK_EXTERNAL } from '../../src/global/cleanup_user.js';
import { startHarness, type Rec } from './harness.js';
import { parseBounceLog } from '../../src/global/bounce_log.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '../../../test/cleanup/golden');

const MAIN = [
  'recipient_delimiter = +',
  'remote_header_rewrite_domain = domain.invalid',
  'virtual_alias_domains = valias.example',
  'virtual_alias_maps = texthash:$ETC/virtual',
  'canonical_maps = texthash:$ETC/canonical',
  'masquerade_domains = masq.example',
  'sender_canonical_maps = texthash:$ETC/sender_canonical',
  'recipient_canonical_maps = texthash:$ETC/recipient_canonical',
  'always_bcc = archive@example.net',
  'sender_bcc_maps = texthash:$ETC/sbcc',
  'recipient_bcc_maps = texthash:$ETC/rbcc',
  'header_checks = regexp:$ETC/header_checks',
  'body_checks = regexp:$ETC/body_checks',
  'message_size_limit = 100000',
  'message_reject_characters = \\001',
  'message_strip_characters = \\002\\177',
].join('\n');

const FILES = {
  virtual: [
    'valias@example.test a1@example.org, a2@example.org',
    'self@example.test self@example.test, copy@example.org',
    'chain1@example.test chain2@example.test',
    'chain2@example.test chain3@example.org',
    '@catch.example catchall@example.org',
    'bare@example.test localuser',
    'ext@example.test extdest@example.org',
    'loop1@example.test loop2@example.test',
    'loop2@example.test loop1@example.test',
    'big@example.test ' + Array.from({ length: 1001 }, (_, i) => `t${i}@example.org`).join(', '),
    '',
  ].join('\n'),
  sender_canonical: 's-old@example.org s-new@example.org\n',
  sbcc: 'joe@example.test sbcc@example.net\n',
  rbcc: 'plain@example.org rbcc@example.net\n',
  recipient_canonical: 'r-old@example.org r-new@example.org\n',
  canonical: 'old@example.org new@example.org\n@olddomain.example @newdomain.example\n',
  header_checks: [
    '/^Received:/ HOLD',
    '/^Subject: replace (.*)/ REPLACE Subject: replaced $1',
    '/^X-Drop:/ IGNORE',
    '/^X-Prepend:/ PREPEND X-Added: yes',
    '/^X-Bcc:/ BCC bcc-target@example.org',
    '/^X-Filter:/ FILTER smtp:[127.0.0.1]:10025',
    '/^X-Redirect:/ REDIRECT elsewhere@example.org',
    '/^Subject: reject me/ REJECT Go away',
    '/^Subject: reject plain/ REJECT',
    '/^Subject: defer me/ REJECT 4.7.0 later',
    '/^Subject: discard/ DISCARD',
    '/^Content-Disposition:.*\\.exe/ REJECT attachment not allowed',
    '',
  ].join('\n'),
  body_checks: '/^replace body (.*)/ REPLACE new body $1\n/^ignore body/ IGNORE\n',
};

function normalize(recs: Rec[], id: string): Rec[] {
  return recs.map(([t, d]) => {
    let x = d
      .split(id)
      .join('{ID}')
      .replace(/^create_time=\d+$/, 'create_time={NOW}')
      .replace(/\d{14}\.\{ID\}/, '{STAMP}.{ID}')
      .replace(/\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \([^)]*\)/, '{DATE}');
    if (t === 'T') x = '{T}';
    return [t, x];
  });
}

const cases = JSON.parse(readFileSync(join(GOLDEN, 'cases.json'), 'utf8')) as Record<string, Rec[]>;

test('cleanup writes the same queue files as Postfix for recorded inputs', async (t) => {
  const h = await startHarness(MAIN, FILES);
  try {
    for (const [name, input] of Object.entries(cases)) {
      await t.test(name, async () => {
        const [head, ...rest] = readFileSync(join(GOLDEN, `case-${name}.jsonl`), 'utf8').trim().split('\n');
        const want = JSON.parse(head) as { status: number; reason: string };
        const wantRecs = rest.map((l) => JSON.parse(l) as Rec);
        const flags = CLEANUP_FLAG_MASK_EXTERNAL | (name.endsWith('-auto') ? CLEANUP_FLAG.AUTOUTF8 : 0);
        const c = await CleanupClient.open(h.config, flags, { timeoutMs: 30000 });
        const id = c.queueId;
        for (const [ty, d] of input) {
          if (ty !== 'E') await c.record(ty.charCodeAt(0), Buffer.from(d.split('QUEUEID').join(id), 'latin1'));
        }
        const r = await c.finish();
        assert.deepEqual({ status: r.status, reason: r.reason }, want);
        const wantLog = readFileSync(join(GOLDEN, `case-${name}.log`), 'utf8').split('\n').filter((l) => l !== '');
        const gotLog = h.logs
          .filter((l) => l.includes(`${id}:`))
          .map((l) => l.split(id).join('{ID}').replace(/\d{14}\.\{ID\}/, '{STAMP}.{ID}'));
        assert.deepEqual(gotLog, wantLog);
        if (name === 'dsn-success') {
          // Postfix's trace/ID for this input had one "alias expanded" entry per expanded NOTIFY=SUCCESS recipient.
          const trace = parseBounceLog(readFileSync(join(h.dir, 'trace', id), 'utf8'));
          assert.deepEqual(
            trace.map((e) => [e.recipient, e.dsn_orig_rcpt, e.notify_flags, e.status, e.action, e.reason]),
            [
              ['valias@example.test', 'rfc822;valias@example.test', 2, '2.0.0', 'expanded', 'alias expanded'],
              ['valias@example.test', 'rfc822;valias@example.test', 6, '2.0.0', 'expanded', 'alias expanded'],
            ],
          );
        }
        if (wantRecs.length === 0) {
          assert.ok(!h.files('hold').includes(id) && !h.files('incoming').includes(id), 'no queue file');
        } else {
          assert.deepEqual(normalize(h.records('hold', id), id), wantRecs);
        }
      });
    }
  } finally {
    await h.close();
  }
});

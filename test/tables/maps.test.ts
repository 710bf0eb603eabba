/**
 * maps, mail_addr_find and match_list: lookup orders over real tables,
 * error propagation, CIDR, parent domains, negation, /file and type:table.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msgAddOutput } from '../../src/util/msg.js';
import { DICT_FLAG, O_CREAT, O_RDWR, O_TRUNC } from '../../src/util/dict.js';
import { dictOpen } from '../../src/util/dict_open.js';
import { Maps, MapsError, MAPS_PARTIAL } from '../../src/global/maps.js';
import {
  mailAddrFind,
  mailAccessKeys,
  hostAccessKeys,
  addrAccessKeys,
  findAccess,
  splitAddrExtension,
  parentDomains,
  quote822Local,
  parentStyle,
  MA_FIND_DOMAIN,
  MA_FIND_PDMS,
} from '../../src/global/mail_addr_find.js';
import { addrMatchList, domainList, namadrList, stringList, MatchListError } from '../../src/global/match_list.js';
import { MailConfig } from '../../src/global/mail_conf.js';

const dir = mkdtempSync(join(tmpdir(), 'tables-maps-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const warnings: string[] = [];
msgAddOutput((_s, t) => warnings.push(t));

/** A recording table: remembers every key it was asked for. */
const asked: string[] = [];

async function lmdbTable(name: string, entries: Record<string, string>): Promise<string> {
  const path = join(dir, name);
  const d = dictOpen(`lmdb:${path}`, O_RDWR | O_CREAT | O_TRUNC, DICT_FLAG.FOLD_FIX);
  for (const [k, v] of Object.entries(entries)) await d.update(k, v);
  await d.close();
  return `lmdb:${path}`;
}

test('maps: first hit wins across tables, PARTIAL skips pattern tables, errors stop the search', async () => {
  const t1 = await lmdbTable('m1', { a: 'from-lmdb' });
  const re = join(dir, 'm.re');
  writeFileSync(re, '/^a/ from-regexp\n/^b/ b-regexp\n');
  const maps = Maps.create('virtual_alias_maps', `${t1}, regexp:${re}`);
  assert.equal(await maps.find('A'), 'from-lmdb');
  assert.equal(await maps.find('b'), 'b-regexp');
  assert.equal(await maps.find('b', MAPS_PARTIAL), null);
  assert.equal(await maps.find('zzz'), null);
  assert.equal(await maps.find(''), null);

  const failing = Maps.create('transport_maps', `inline:{x=1}, fail:broken, inline:{y=2}`);
  assert.equal(await failing.find('x'), '1');
  warnings.length = 0;
  await assert.rejects(failing.find('y'), (e: unknown) => e instanceof MapsError && e.title === 'transport_maps');
  assert.deepEqual(warnings, ['warning: fail:broken lookup error for "y"']);

  // Pattern-style tables (fail, tcp, socketmap, randmap, regexp, cidr) are skipped for partial keys
  assert.equal(await failing.find('y', MAPS_PARTIAL), '2');
  assert.equal(await Maps.create('x', 'static:s').find('k', MAPS_PARTIAL), 's');
  assert.equal(await Maps.create('x', 'randmap:{r}').find('k', MAPS_PARTIAL), null);

  warnings.length = 0;
  const empty = Maps.create('canonical_maps', 'static:{}');
  await assert.rejects(empty.find('k'), MapsError);
  assert.deepEqual(warnings, [
    'warning: canonical_maps lookup of k returns an empty string result',
    'warning: canonical_maps should return NO RESULT in case of NOT FOUND',
  ]);
  assert.equal(Maps.create('x', '').empty, true);
});

test('maps: a table that cannot be opened makes lookups fail, not miss', async () => {
  const maps = Maps.create('alias_maps', `lmdb:${join(dir, 'does-not-exist')}`);
  await assert.rejects(maps.find('root'), MapsError);
});

test('splitAddrExtension, parentDomains, quote822Local', () => {
  assert.deepEqual(splitAddrExtension('user+ext@dom', '+'), { bare: 'user@dom', ext: '+ext' });
  assert.deepEqual(splitAddrExtension('user-a+b@dom', '+-'), { bare: 'user@dom', ext: '-a+b' });
  assert.equal(splitAddrExtension('owner-list@dom', '-'), undefined);
  assert.equal(splitAddrExtension('list-request@dom', '-'), undefined);
  assert.equal(splitAddrExtension('user@dom', '+'), undefined);
  assert.equal(splitAddrExtension('user+x@dom', ''), undefined);
  assert.deepEqual(parentDomains('a.b.example.com', 'plain'), ['a.b.example.com', 'b.example.com', 'example.com', 'com']);
  assert.deepEqual(parentDomains('a.example.com', 'dot'), ['a.example.com', '.example.com', '.com']);
  assert.equal(quote822Local('joe@x'), 'joe@x');
  assert.equal(quote822Local('joe smith@x'), '"joe smith"@x');
});

test('mailAddrFind: virtual order user+ext@domain, user@domain, user (local only), @domain', async () => {
  const opts = { delimiter: '+', myorigin: 'origin.example', isLocal: (d: string) => d === 'local.example' };
  const check = async (entries: Record<string, string>, addr: string): Promise<unknown> => {
    const maps = Maps.create('virtual_alias_maps', await lmdbTable(`v${asked.push(addr)}`, entries));
    return mailAddrFind(maps, addr, opts);
  };
  const all = { 'user+ext@dom.example': 'full', 'user@dom.example': 'bare', '@dom.example': 'catchall' };
  assert.deepEqual(await check(all, 'user+ext@dom.example'), { value: 'full' });
  assert.deepEqual(await check({ 'user@dom.example': 'bare', '@dom.example': 'c' }, 'user+ext@dom.example'), { value: 'bare', extension: '+ext' });
  assert.deepEqual(await check({ '@dom.example': 'c' }, 'user+ext@dom.example'), { value: 'c' });
  // user+ext / user only when the domain is $myorigin or local
  assert.deepEqual(await check({ 'user+ext': 'lp-ext', user: 'lp' }, 'user+ext@origin.example'), { value: 'lp-ext' });
  assert.deepEqual(await check({ user: 'lp' }, 'user+ext@local.example'), { value: 'lp', extension: '+ext' });
  assert.equal(await check({ user: 'lp' }, 'user@remote.example'), null);
  // regexp tables see only the full address
  const re = join(dir, 'v.re');
  writeFileSync(re, '/^user@/ re-bare\n/^@/ re-at\n');
  const maps = Maps.create('virtual_alias_maps', `regexp:${re}`);
  assert.equal(await mailAddrFind(maps, 'user+x@dom.example', opts), null);
  assert.deepEqual(await mailAddrFind(maps, 'user@dom.example', opts), { value: 're-bare' });
  // domain strategy with parent domains (transport-style)
  const tmaps = Maps.create('transport_maps', await lmdbTable('tr', { 'example.com': 'smtp:[relay]' }));
  assert.deepEqual(await mailAddrFind(tmaps, 'u@a.b.example.com', { ...opts, strategy: MA_FIND_DOMAIN | MA_FIND_PDMS }), { value: 'smtp:[relay]' });
  assert.equal(await mailAddrFind(tmaps, 'u@a.b.example.com', { ...opts, strategy: MA_FIND_DOMAIN }), null);
  // errors propagate
  await assert.rejects(mailAddrFind(Maps.create('x', 'fail:x'), 'u@d', opts), MapsError);
});

test('access orders: mail address, host name, client address', async () => {
  const config = MailConfig.fromText('parent_domain_matches_subdomains = debug_peer_list smtpd_access_maps\n');
  assert.equal(parentStyle(config, 'smtpd_access_maps'), 'plain');
  assert.equal(parentStyle(config, 'transport_maps'), 'dot');
  assert.deepEqual(
    mailAccessKeys('user+ext@sub.example.com', { delimiter: '+', parentStyle: 'plain' }).map((k) => k.key),
    ['user+ext@sub.example.com', 'user@sub.example.com', 'sub.example.com', 'example.com', 'com', 'user+ext@', 'user@'],
  );
  assert.deepEqual(
    mailAccessKeys('user@sub.example.com', { delimiter: '+', parentStyle: 'dot' }).map((k) => k.key),
    ['user@sub.example.com', 'sub.example.com', '.example.com', '.com', 'user@'],
  );
  assert.deepEqual(mailAccessKeys('', { delimiter: '+', parentStyle: 'plain' }), [{ key: '<>', partial: false }]);
  assert.deepEqual(hostAccessKeys('mail.example.com', 'plain').map((k) => k.key), ['mail.example.com', 'example.com', 'com']);
  assert.deepEqual(addrAccessKeys('1.2.3.4').map((k) => k.key), ['1.2.3.4', '1.2.3', '1.2', '1']);
  assert.deepEqual(addrAccessKeys('2001:db8:0:1:0:0:0:5').map((k) => k.key).slice(0, 3), ['2001:db8:0:1:0:0:0:5', '2001:db8:0:1:0:0:0', '2001:db8:0:1:0:0']);
  const maps = Maps.create('smtpd_access_maps', await lmdbTable('acc', { 'example.com': 'REJECT', 'user@': 'OK' }));
  assert.deepEqual(await findAccess(maps, mailAccessKeys('joe@mail.example.com', { delimiter: '+', parentStyle: 'plain' })), {
    key: 'example.com',
    value: 'REJECT',
  });
  assert.deepEqual(await findAccess(maps, mailAccessKeys('user@other.org', { delimiter: '+', parentStyle: 'plain' })), { key: 'user@', value: 'OK' });
});

test('match lists: CIDR, [ipv6]/len, negation, /file, type:table', async () => {
  const nets = join(dir, 'nets');
  writeFileSync(nets, '# trusted\n192.0.2.0/24\n');
  const cidr = join(dir, 'n.cidr');
  writeFileSync(cidr, '198.51.100.0/24 ok\n');
  const list = addrMatchList('mynetworks', `127.0.0.0/8 [::1]/128 !10.1.1.1 10.0.0.0/8 ${nets} cidr:${cidr} [fe80::]/64 172.16.0.1`);
  assert.equal(await list.match('127.0.0.1'), true);
  assert.equal(await list.match('::1'), true);
  assert.equal(await list.match('10.1.1.1'), false, 'negation decides first');
  assert.equal(await list.match('10.2.3.4'), true);
  assert.equal(await list.match('192.0.2.77'), true, '/file item');
  assert.equal(await list.match('198.51.100.5'), true, 'cidr table');
  assert.equal(await list.match('fe80::1234'), true);
  assert.equal(await list.match('172.16.0.1'), true);
  assert.equal(await list.match('8.8.8.8'), false);
  assert.equal(await list.match('not-an-address'), false);
  const bad = addrMatchList('mynetworks', '1.2.3.4/24');
  await assert.rejects(bad.match('1.2.3.4'), MatchListError);
});

test('domain lists: parent_domain_matches_subdomains, .domain, negation, tables', async () => {
  const config = MailConfig.fromText('parent_domain_matches_subdomains = relay_domains\n');
  const relay = domainList('relay_domains', 'example.com, !bad.example.org, .example.org', config);
  assert.equal(relay.parent, true);
  assert.equal(await relay.match('example.com'), true);
  assert.equal(await relay.match('sub.example.com'), true);
  assert.equal(await relay.match('notexample.com'), false);
  assert.equal(await relay.match('bad.example.org'), false);
  const dest = domainList('mydestination', 'example.com, .example.org', config);
  assert.equal(dest.parent, false);
  assert.equal(await dest.match('sub.example.com'), false);
  assert.equal(await dest.match('EXAMPLE.com'), true);
  assert.equal(await dest.match('a.example.org'), true);
  assert.equal(await dest.match('example.org'), false);
  const t = await lmdbTable('domains', { 'example.net': 'x' });
  const tl = domainList('relay_domains', t, undefined, true);
  assert.equal(await tl.match('deep.sub.example.net'), true);
  assert.equal(await tl.match('example.org'), false);
  const failing = domainList('relay_domains', 'fail:x', undefined, true);
  await assert.rejects(failing.match('example.com'), MatchListError);
});

test('namadr and string lists', async () => {
  const l = namadrList('debug_peer_list', 'mail.example.com 192.0.2.0/24', undefined, true);
  assert.equal(await l.match('mail.example.com', '203.0.113.1'), true);
  assert.equal(await l.match('unknown', '192.0.2.9'), true);
  assert.equal(await l.match('unknown', '203.0.113.1'), false);
  const s = stringList('smtpd_sasl_exceptions_networks', 'abc, !def, inline:{ghi=1}');
  assert.equal(await s.match('abc'), true);
  assert.equal(await s.match('def'), false);
  assert.equal(await s.match('ghi'), true);
});

test('mailAddrFind reproduces the cases of Postfix global/mail_addr_find.in', async () => {
  const { MA_FIND_FULL, MA_FIND_NOEXT, MA_FIND_LOCALPART_AT_IF_LOCAL, MA_FIND_LOCALPART_AT, MA_FIND_PDDMDS, MA_FIND_DEFAULT } = await import(
    '../../src/global/mail_addr_find.js'
  );
  const names: Record<string, number> = {
    default: MA_FIND_DEFAULT,
    full: MA_FIND_FULL,
    noext: MA_FIND_NOEXT,
    domain: MA_FIND_DOMAIN,
    pdms: MA_FIND_PDMS,
    pddms: MA_FIND_PDDMDS,
    localpart_at_if_local: MA_FIND_LOCALPART_AT_IF_LOCAL,
    localpart_at: MA_FIND_LOCALPART_AT,
  };
  const base = { delimiter: '+', myorigin: 'localdomain', isLocal: (d: string) => d === 'localhost.localdomain' };
  // [maps, strategy, internal-form address, expected result, expected extension]
  const cases: Array<[string, string, string, string | null, string?]> = [
    ['inline:{plain1@1.example=plain2@2.example,{"aa bb"@cc.example="dd ee"@dd.example}}', 'default', 'plain1@1.example', 'plain2@2.example'],
    ['inline:{plain1@1.example=plain2@2.example,{"aa bb"@cc.example="dd ee"@dd.example}}', 'default', 'aa bb@cc.example', '"dd ee"@dd.example'],
    ['inline:{plain1@1.example=plain2@2.example,{"aa bb"@cc.example="dd ee"@dd.example}}', 'default', 'plain1+ext@1.example', 'plain2@2.example', '+ext'],
    ['inline:{plain1@1.example=plain2@2.example,{"aa bb"@cc.example="dd ee"@dd.example}}', 'default', 'aa bb+ax bx@cc.example', '"dd ee"@dd.example', '+ax bx'],
    ['inline:{"a@b"=foo@example,"a.b."=bar@example}', 'default', 'a@b@localhost.localdomain', 'foo@example'],
    ['inline:{"a@b"=foo@example,"a.b."=bar@example}', 'default', 'a@b+ext@localhost.localdomain', 'foo@example', '+ext'],
    ['inline:{"a@b"=foo@example,"a.b."=bar@example}', 'default', 'a.b.@localhost.localdomain', 'bar@example'],
    ['inline:{"a@b"=extern-1@example,a@b=intern-1@example,a.b.=intern-2@example}', 'default', 'a@b@localhost.localdomain', 'extern-1@example'],
    ['inline:{"a@b"=extern-1@example,a@b=intern-1@example,a.b.=intern-2@example}', 'default', 'a.b.@localhost.localdomain', 'intern-2@example'],
    ['inline:{plain1@1.example=plain2@2.example,@3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'default', 'plain1+ext@1.example', 'plain2@2.example', '+ext'],
    ['inline:{plain1@1.example=plain2@2.example,@3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'default', 'plain2@2.example', null],
    ['inline:{plain1@1.example=plain2@2.example,@3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'default', 'plain3@3.example', 'plain4@4.example'],
    ['inline:{plain1@1.example=plain2@2.example,@3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'default', 'plain5@3.example', 'plain6@6.example'],
    ['inline:{plain1@1.example=plain2@2.example,3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'full|noext|domain', 'plain1+ext@1.example', 'plain2@2.example', '+ext'],
    ['inline:{plain1@1.example=plain2@2.example,3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'full|noext|domain', 'plain2@2.example', null],
    ['inline:{plain1@1.example=plain2@2.example,3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'full|noext|domain', 'plain3@3.example', 'plain4@4.example'],
    ['inline:{plain1@1.example=plain2@2.example,3.example=plain4@4.example,plain5@3.example=plain6@6.example}', 'full|noext|domain', 'plain5@3.example', 'plain6@6.example'],
    ['inline:{ab=foo@example,@localhost.localdomain=@bar.example}', 'default', 'ab@localhost.localdomain', 'foo@example'],
    ['inline:{ab=foo@example,@localhost.localdomain=@bar.example}', 'default', 'cd@localhost.localdomain', '@bar.example'],
    ['inline:{ab@=foo@example,localhost.localdomain=@bar.example}', 'localpart_at_if_local|domain', 'ab@localhost.localdomain', 'foo@example'],
    ['inline:{ab@=foo@example,localhost.localdomain=@bar.example}', 'localpart_at_if_local|noext|domain', 'ab+ext@localhost.localdomain', 'foo@example', '+ext'],
    ['inline:{ab@=foo@example,localhost.localdomain=@bar.example}', 'localpart_at_if_local|domain', 'cd@localhost.localdomain', '@bar.example'],
    ['inline:{ab@=foo@example,localhost.localdomain=@bar.example}', 'localpart_at|domain', 'ab@localhost.localdomain', '@bar.example'],
    ['inline:{ab@=foo@example,localhost.localdomain=@bar.example}', 'localpart_at|domain', 'ab@foo', 'foo@example'],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain', 'plain1+ext@1.example', null],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain', 'foo@sub.example', null],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain', 'foo@example', 'example-result'],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain|pdms', 'foo@sub.example', 'example-result'],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain|pdms', 'foo@sub.sub.example', 'example-result'],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain|pddms', 'foo@example', 'example-result'],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain|pddms', 'foo@sub.example', 'dot-example-result'],
    ['inline:{example=example-result,.example=dot-example-result}', 'domain|pddms', 'foo@sub.sub.example', 'dot-example-result'],
  ];
  for (const [spec, strategy, addr, value, ext] of cases) {
    const maps = Maps.create('mail_addr_find', spec);
    const s = strategy.split('|').reduce((a, n) => a | names[n], 0);
    const r = await mailAddrFind(maps, addr, { ...base, strategy: s });
    const label = `${spec} ${strategy} ${addr}`;
    if (value === null) assert.equal(r, null, label);
    else assert.deepEqual(r, ext ? { value, extension: ext } : { value }, label);
  }
});

test('namadr lists reproduce the cases of Postfix global/namadr_list.in', async () => {
  const junk = join(dir, 'junk');
  writeFileSync(junk, 'foo !bar baz\n');
  process.env.foo = 'x';
  // [pattern list, host name, address, expected: YES / NO / ERROR]
  const cases: Array<[string, string, string, 'YES' | 'NO' | 'ERROR']> = [
    ['168.100.3.0/28', 'dummy', '168.100.3.2', 'YES'],
    ['!168.100.3.2 168.100.3.0/28', 'dummy', '168.100.3.2', 'NO'],
    ['!168.100.3.2 168.100.3.0/28', 'dummy', '168.100.3.3', 'YES'],
    ['168.100.3.0/28', 'dummy', '168.100.3.16', 'NO'],
    ['168.100.3.0/98', 'dummy', '168.100.3.16', 'ERROR'],
    ['168.100.589.0/28', 'dummy', '168.100.3.16', 'ERROR'],
    ['168.100.3.0/28', 'dummy', '168.100.989.16', 'NO'],
    ['2001:240:5c7:0:2d0:b7ff:fe88:2ca7', 'dummy', '2001:240:5c7:0:2d0:b7ff:fe88:2ca7', 'ERROR'],
    ['[2001:240:5c7:0:2d0:b7ff:fe88:2ca7]', 'dummy', '2001:240:5c7:0:2d0:b7ff:fe88:2ca7', 'YES'],
    ['[2001:240:5c7:0:2d0:b7ff:fe88:2ca7]', 'dummy', '2001:240:5c7:0:2d0:b7ff:fe88:2ca8', 'NO'],
    ['[2001:240:5c7:0:2d0:b7ff:fe88:2ca7]/64', 'dummy', '2001:240:5c7:0:2d0:b7ff:fe88:2ca8', 'ERROR'],
    ['[2001:240:5c7::]/64', 'dummy', '2001:240:5c7:0:2d0:b7ff:fe88:2ca8', 'YES'],
    ['[2001:240:5c7::]/64', 'dummy', '2001:24:5c7:0:2d0:b7ff:fe88:2ca8', 'NO'],
    ['[2001:24:5c7:0:2d0:b7ff:fe88:2ca8]', 'dummy', '2001:24:5c7:0:2d0:b7ff:fe88:2ca8', 'YES'],
    ['[2001:24:5c7:0:2d0:b7ff:fe88:2ca8]', 'dummy', '2001:24:5c7:0:2d0:b7ff:fe88:2ca7', 'NO'],
    ['168.100.3.2', 'dummy', '168.100.3.2', 'YES'],
    ['168.100.3.2', 'dummy', '168.100.3.3', 'NO'],
    ['[168.100.3.2]', 'dummy', '168.100.3.2', 'YES'],
    ['[168.100.3.2]', 'dummy', '168.100.3.3', 'NO'],
    [`!${junk}`, 'dummy', '168.100.3.3', 'NO'],
    [`!${junk}`, 'foo', '168.100.3.3', 'NO'],
    [`!${junk}`, 'bar', '168.100.3.3', 'YES'],
    [`!${junk}`, 'baz', '168.100.3.3', 'NO'],
    [junk, 'dummy', '168.100.3.3', 'NO'],
    [junk, 'foo', '168.100.3.3', 'YES'],
    [junk, 'bar', '168.100.3.3', 'NO'],
    [junk, 'baz', '168.100.3.3', 'YES'],
    ['be.be', 'x.x.x', '127.0.0.1', 'NO'],
    ['be/be', 'x.x.x', '127.0.0.1', 'ERROR'],
    ['[be:be]', 'x.x.x', '127.0.0.1', 'NO'],
    ['[be:be]', 'x.x.x', '::1', 'ERROR'],
    ['environ:junk', 'foo', '168.100.3.3', 'YES'],
    ['environ:junk', 'bar', '168.100.3.3', 'NO'],
    ['!environ:junk', 'foo', '168.100.3.3', 'NO'],
    ['!environ:junk', 'bar', '168.100.3.3', 'NO'],
    ['!!environ:junk', 'foo', '168.100.3.3', 'YES'],
    ['!!environ:junk', 'bar', '168.100.3.3', 'NO'],
    ['fail:1', 'bar', '168.100.3.3', 'ERROR'],
    ['!fail:1', 'bar', '168.100.3.3', 'ERROR'],
    [join(dir, 'nosuchfile'), 'bar', '168.100.3.3', 'ERROR'],
  ];
  warnings.length = 0;
  for (const [pattern, name, addr, expected] of cases) {
    const list = namadrList('command line', pattern, undefined, false);
    let got: string;
    try {
      got = (await list.match(name, addr)) ? 'YES' : 'NO';
    } catch (e) {
      assert.ok(e instanceof MatchListError, String(e));
      got = 'ERROR';
    }
    assert.equal(got, expected, `${pattern} ${name}/${addr}`);
  }
  delete process.env.foo;
  assert.ok(warnings.includes('warning: command line: bad mask length in "168.100.3.0/98"'));
  assert.ok(warnings.includes('warning: command line: bad network value in "168.100.589.0/28"'));
  assert.ok(warnings.includes('error: unsupported dictionary type: 2001'));
  assert.ok(warnings.includes('warning: command line: 2001:240:5c7:0:2d0:b7ff:fe88:2ca7: table lookup problem'));
  assert.ok(warnings.includes(`error: open file ${join(dir, 'nosuchfile')}: No such file or directory`));
  assert.ok(warnings.includes(`warning: command line: non-existent:${join(dir, 'nosuchfile')}: table lookup problem`));
  assert.ok(warnings.includes('warning: command line: fail:1: table lookup problem'));
});

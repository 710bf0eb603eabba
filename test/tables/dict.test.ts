/**
 * dict tests: every table type against real files, sockets and databases;
 * the three lookup outcomes (found / not found / error) stay apart.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, statSync, renameSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import Database from 'better-sqlite3';
import { Lmdb1Reader } from '../../src/util/dict_lmdb1.js';
import { msgAddOutput } from '../../src/util/msg.js';
import { DICT_FLAG, DictError, DictOpenError, O_CREAT, O_RDONLY, O_RDWR, O_TRUNC } from '../../src/util/dict.js';
import { dictOpen, dictOpenShared, dictTypes, DictSurrogate } from '../../src/util/dict_open.js';
import { unixFiles } from '../../src/util/dict_unix.js';

const dir = mkdtempSync(join(tmpdir(), 'tables-dict-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const warnings: string[] = [];
msgAddOutput((_s, text) => warnings.push(text));
function takeWarnings(): string[] {
  return warnings.splice(0);
}

const FOLD = DICT_FLAG.FOLD_FIX;
const BUILD = O_RDWR | O_CREAT | O_TRUNC;

async function all(it: AsyncIterable<[string, string]>): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const e of it) out.push(e);
  return out;
}

test('registry lists the Postfix types and rejects unknown or malformed names', () => {
  assert.deepEqual(dictTypes(), [
    'btree', 'cidr', 'environ', 'fail', 'hash', 'inline', 'internal', 'lmdb', 'pcre', 'pipemap', 'proxy',
    'randmap', 'regexp', 'socketmap', 'sqlite', 'static', 'tcp', 'texthash', 'unionmap', 'unix',
  ]);
  assert.throws(() => dictOpen('bogus:x', O_RDONLY, 0), /^DictOpenError: unsupported dictionary type: bogus$/);
  assert.throws(() => dictOpen('static:', O_RDONLY, 0), { message: 'open dictionary: expecting "type:name" form instead of "static:"' });
  assert.throws(() => dictOpen('noname', O_RDONLY, 0), DictOpenError);
});

test('lmdb: bulk build is atomic, trailing NULs, folding, duplicates, update/delete/sequence', async () => {
  const name = join(dir, 'map1');
  const d = dictOpen(`lmdb:${name}`, BUILD, FOLD | DICT_FLAG.DUP_WARN);
  await d.update('Foo@Example.COM', 'Value One');
  await d.update('a', '1');
  assert.equal(await d.update('A', '2'), 'duplicate');
  assert.deepEqual(takeWarnings(), [`warning: lmdb:${name}: duplicate entry: "A"`]);
  assert.equal(existsSync(`${name}.lmdb`), false, 'nothing visible before close');
  await d.close();
  assert.equal(existsSync(`${name}.lmdb`), true);

  // Raw file content (LMDB data format 1, as C Postfix writes): keys and values
  // carry a trailing NUL, keys are folded.
  const raw = new Lmdb1Reader(`${name}.lmdb`);
  assert.deepEqual([...raw.entries()].map(([k, v]) => [k.toString('latin1'), v.toString('latin1')]), [
    ['a\0', '1\0'],
    ['foo@example.com\0', 'Value One\0'],
  ]);
  raw.close();
  assert.equal(existsSync(`${name}.lmdb-lock`), false, 'format 1 needs no lock file');

  const r = dictOpen(`lmdb:${name}`, O_RDONLY, FOLD);
  assert.equal(await r.lookup('FOO@example.com'), 'Value One');
  assert.equal(await r.lookup('missing'), null);
  assert.deepEqual(await all(r.sequence()), [['a', '1'], ['foo@example.com', 'Value One']]);
  assert.equal(r.changed(), false);
  await r.close();

  const w = dictOpen(`lmdb:${name}`, O_RDWR, FOLD | DICT_FLAG.DUP_REPLACE);
  await w.update('b', 'two');
  assert.equal(await w.lookup('b'), 'two');
  assert.equal(await w.delete('a'), true);
  assert.equal(await w.delete('a'), false);
  await w.close();
  const r2 = dictOpen(`lmdb:${name}`, O_RDONLY, FOLD);
  assert.deepEqual(await all(r2.sequence()), [['b', 'two'], ['foo@example.com', 'Value One']]);
  await r2.close();
});

test('lmdb: reads keys stored without NUL (-n) and with NUL (-N) alike', async () => {
  const name = join(dir, 'nul');
  const d = dictOpen(`lmdb:${name}`, BUILD, FOLD | DICT_FLAG.TRY0NULL);
  await d.update('k', 'v');
  await d.close();
  const r = dictOpen(`lmdb:${name}`, O_RDONLY, FOLD);
  assert.equal(await r.lookup('k'), 'v');
  await r.close();
});

test('lmdb: missing file, foreign files and mtime change detection', async () => {
  assert.throws(() => dictOpen(`lmdb:${join(dir, 'none')}`, O_RDONLY, 0), {
    message: `open database ${join(dir, 'none')}.lmdb: No such file or directory`,
  });
  writeFileSync(join(dir, 'junk.lmdb'), 'this is not a database, just text that is long enough to look at');
  assert.throws(() => dictOpen(`lmdb:${join(dir, 'junk')}`, O_RDONLY, 0), /File is not an LMDB file/);
  // Berkeley DB files (hash:/btree: of C Postfix) get a clear message.
  const bdb = Buffer.alloc(4096);
  bdb.writeUInt32LE(0x061561, 12);
  writeFileSync(join(dir, 'bdb.db'), bdb);
  assert.throws(() => dictOpen(`hash:${join(dir, 'bdb')}`, O_RDONLY, 0), /Berkeley DB file \(made by C Postfix\); rebuild it/);
  // A truncated LMDB data format 1 file (liblmdb 0.9, C Postfix) is a clean error.
  const v1 = Buffer.alloc(4096);
  v1.writeUInt32LE(0xbeefc0de, 16);
  v1.writeUInt32LE(1, 20);
  writeFileSync(join(dir, 'old.lmdb'), v1);
  assert.throws(() => dictOpen(`lmdb:${join(dir, 'old')}`, O_RDONLY, 0), /open database .*old.lmdb: no valid meta page/);

  const name = join(dir, 'chg');
  let b = dictOpen(`lmdb:${name}`, BUILD, 0);
  await b.update('x', '1');
  await b.close();
  const r = dictOpen(`lmdb:${name}`, O_RDONLY, 0);
  assert.equal(r.changed(), false);
  const ino = statSync(`${name}.lmdb`).ino;
  b = dictOpen(`lmdb:${name}`, BUILD, 0);
  await b.update('x', '2');
  await b.close();
  assert.notEqual(statSync(`${name}.lmdb`).ino, ino, 'replaced by rename');
  assert.equal(r.changed(), true);
  await r.close();
});

test('hash and btree are stored as LMDB in file.db', async () => {
  for (const type of ['hash', 'btree']) {
    const name = join(dir, `db-${type}`);
    const d = dictOpen(`${type}:${name}`, BUILD, FOLD);
    await d.update('K', 'v');
    await d.close();
    assert.equal(existsSync(`${name}.db`), true);
    const r = dictOpen(`${type}:${name}`, O_RDONLY, FOLD);
    assert.equal(await r.lookup('k'), 'v');
    await r.close();
  }
});

test('texthash reads the source file with postmap rules', async () => {
  const f = join(dir, 'th');
  writeFileSync(f, 'A 1\na 2\n# comment\nb two words\n  continued\nc: x\nnovalue\n');
  const d = dictOpen(`texthash:${f}`, O_RDONLY, FOLD);
  assert.equal(await d.lookup('a'), '1');
  assert.equal(await d.lookup('B'), 'two words  continued');
  assert.equal(await d.lookup('c:'), 'x');
  assert.deepEqual(takeWarnings(), [
    `warning: ${f}, line 2: duplicate entry: "a"`,
    `warning: ${f}, line 6: record is in "key: value" format; is this an alias file?`,
    `warning: ${f}, line 7: expected format: key whitespace value -- ignoring this line`,
  ]);
  await assert.rejects(d.update('x', 'y'), /update operation is not supported/);
});

test('inline, static, randmap: syntax and results', async () => {
  const i = dictOpen('inline:{A=b, { c = d e }}', O_RDONLY, FOLD);
  assert.equal(await i.lookup('a'), 'b');
  assert.equal(await i.lookup('C'), 'd e');
  assert.equal(await i.lookup('x'), null);
  assert.deepEqual(await all(i.sequence()), [['a', 'b'], ['c', 'd e']]);
  assert.throws(() => dictOpen('inline:{a=b', O_RDONLY, 0), { message: 'bad syntax: "inline:{a=b"; need "inline:{name=value...}"' });
  assert.throws(() => dictOpen('inline:{a}', O_RDONLY, 0), {
    message: `missing '=' after attribute name: "inline:{a}"; need "inline:{name=value...}"`,
  });
  assert.equal(await dictOpen('static:{a b}', O_RDONLY, 0).lookup('x'), 'a b');
  assert.equal(await dictOpen('static:abc', O_RDONLY, 0).lookup('x'), 'abc');
  assert.throws(() => dictOpen('static:{a b', O_RDONLY, 0), { message: `bad static:name syntax: missing '}' in "{a b"` });
  await assert.rejects(all(dictOpen('static:x', O_RDONLY, 0).sequence()), { message: 'table static:x: sequence operation is not supported' });
  const r = dictOpen('randmap:{a, b}', O_RDONLY, 0);
  for (let n = 0; n < 10; n++) assert.ok(['a', 'b'].includes((await r.lookup('k'))!));
  assert.throws(() => dictOpen('randmap:{}', O_RDONLY, 0), /need "randmap:\{value...\}"/);
});

test('three outcomes: found, not found, error (fail:, surrogate)', async () => {
  const f = dictOpen('fail:x', O_RDONLY, 0);
  await assert.rejects(f.lookup('k'), (e: unknown) => e instanceof DictError && e.message === 'Application error');
  const s = dictOpenShared(`lmdb:${join(dir, 'absent')}`, O_RDONLY, 0);
  assert.ok(s instanceof DictSurrogate);
  await assert.rejects(s.lookup('k'), DictError);
  assert.deepEqual(takeWarnings(), [
    `error: open database ${join(dir, 'absent')}.lmdb: No such file or directory`,
    `warning: lmdb:${join(dir, 'absent')} is unavailable. open database ${join(dir, 'absent')}.lmdb: No such file or directory`,
  ]);
  await s.close();
});

test('pipemap and unionmap compose tables; errors propagate', async () => {
  assert.equal(await dictOpen('pipemap:{inline:{x=y}, inline:{y=z}}', O_RDONLY, 0).lookup('x'), 'z');
  assert.equal(await dictOpen('pipemap:{inline:{x=y}, inline:{q=z}}', O_RDONLY, 0).lookup('x'), null);
  assert.equal(await dictOpen('unionmap:{inline:{x=y}, inline:{x=z}, inline:{a=b}}', O_RDONLY, 0).lookup('x'), 'y,z');
  assert.equal(await dictOpen('unionmap:{inline:{x=y}}', O_RDONLY, 0).lookup('nope'), null);
  await assert.rejects(dictOpen('unionmap:{inline:{x=y}, fail:f}', O_RDONLY, 0).lookup('x'), DictError);
  assert.throws(() => dictOpen('pipemap:x', O_RDONLY, 0), /need "pipemap:\{type:name...\}"/);
});

test('environ and internal', async () => {
  process.env.TABLES_TEST_VAR = 'hello';
  const e = dictOpen('environ:x', O_RDONLY, 0);
  assert.equal(await e.lookup('TABLES_TEST_VAR'), 'hello');
  assert.equal(await e.lookup('TABLES_TEST_NONE'), null);
  const a = dictOpen('internal:t', O_RDWR, FOLD | DICT_FLAG.DUP_REPLACE);
  await a.update('K', 'v');
  assert.equal(await dictOpen('internal:t', O_RDONLY, FOLD).lookup('k'), 'v');
  assert.equal(await dictOpen('internal:other', O_RDONLY, FOLD).lookup('k'), null);
});

test('unix:passwd.byname and group.byname', async () => {
  const pw = join(dir, 'passwd');
  const gr = join(dir, 'group');
  writeFileSync(pw, 'root:x:0:0:root:/root:/bin/bash\njoe:x:1000:1000:Joe User:/home/joe:/bin/sh\n');
  writeFileSync(gr, 'root:x:0:\nstaff:x:50:joe,ann\n');
  const saved = { ...unixFiles };
  Object.assign(unixFiles, { passwd: pw, group: gr });
  try {
    assert.equal(await dictOpen('unix:passwd.byname', O_RDONLY, FOLD).lookup('JOE'), 'joe:x:1000:1000:Joe User:/home/joe:/bin/sh');
    assert.equal(await dictOpen('unix:group.byname', O_RDONLY, FOLD).lookup('staff'), 'staff:x:50:joe,ann');
    assert.equal(await dictOpen('unix:passwd.byname', O_RDONLY, FOLD).lookup('nobody'), null);
    assert.throws(() => dictOpen('unix:foo', O_RDONLY, 0), { message: 'unknown table: unix:foo' });
  } finally {
    Object.assign(unixFiles, saved);
  }
});

test('regexp: POSIX ERE, flags, negation, if/endif, $n, warnings', async () => {
  const f = join(dir, 're');
  writeFileSync(
    f,
    [
      '/^(.*)@example\\.com$/   $1 at example',
      '/^admin@/i      ADMIN',
      '/[[:digit:]]{3}/ three digits',
      '!/@/    no at sign',
      'if /\\.org$/',
      '/^a/ starts-a in org',
      'endif',
      '/^b(x)?/ b-rule [$1]',
      '/foo\\/bar/ slash',
      '/ unterminated',
      '/x/q badflag',
      '/(a)/ $2',
      '',
    ].join('\n'),
  );
  const d = dictOpen(`regexp:${f}`, O_RDONLY, FOLD);
  assert.deepEqual(takeWarnings(), [
    `warning: regexp map ${f}, line 10: no closing regexp delimiter "/": skipping this rule`,
    `warning: regexp map ${f}, line 11: unknown regexp option "q": skipping this rule`,
    `warning: regexp map ${f}, line 12: out of range replacement index "2": skipping this rule`,
  ]);
  assert.equal(await d.lookup('Joe@Example.com'), 'Joe at example');
  assert.equal(await d.lookup('admin@foo'), 'ADMIN');
  assert.equal(await d.lookup('ADMIN@foo'), null, 'the i flag toggles case-insensitivity off');
  assert.equal(await d.lookup('x123y@z'), 'three digits');
  assert.equal(await d.lookup('plain'), 'no at sign');
  assert.equal(await d.lookup('a@x.org'), 'starts-a in org');
  assert.equal(await d.lookup('a@x.net'), null);
  assert.equal(await d.lookup('b@x.net'), 'b-rule []');
  assert.equal(await d.lookup('bx@x.net'), 'b-rule [x]');
  assert.equal(await d.lookup('foo/bar@x'), 'slash');
});

test('pcre: Perl syntax translated, unsupported constructs skipped with a warning', async () => {
  const f = join(dir, 'pc');
  writeFileSync(
    f,
    [
      '/^(?<user>\\w+)\\+(\\w+)@/ ext=$2',
      '/^(?i)CASE$/ case',
      '/^\\d+$/ digits',
      '/^x.y$/s dotall',
      '/^a(?=b)/ look',
      '/end$/ endrule',
      '/^atomic(?>x)/ atom',
      '/^poss a++/ poss',
      '/^(?-i)Exact$/ exact',
      'if !/\\.net$/',
      '/^n/ not-net-n',
      'endif',
      '',
    ].join('\n'),
  );
  const d = dictOpen(`pcre:${f}`, O_RDONLY, FOLD);
  assert.deepEqual(takeWarnings(), [
    `warning: pcre map ${f}, line 7: error in regex at offset 7: unsupported group construct (?>x`,
    `warning: pcre map ${f}, line 8: error in regex at offset 7: possessive quantifiers are not supported`,
    `warning: pcre map ${f}, line 9: error in regex at offset 1: option setting (?-i) inside a pattern is not supported`,
  ]);
  assert.equal(await d.lookup('joe+tag@x.net'), 'ext=tag');
  assert.equal(await d.lookup('case'), 'case');
  assert.equal(await d.lookup('12345'), 'digits');
  assert.equal(await d.lookup('x\ny'), 'dotall');
  assert.equal(await d.lookup('ab'), 'look');
  assert.equal(await d.lookup('the end\n'), 'endrule', 'PCRE $ matches before a final newline');
  assert.equal(await d.lookup('n@x.org'), 'not-net-n');
  assert.equal(await d.lookup('n@x.net'), null);
});

test('cidr: first match, negation, IPv6, bad rules', async () => {
  const f = join(dir, 'ci');
  writeFileSync(
    f,
    '192.168.0.0/16 private\n!10.0.0.0/8 not-ten\n10.1.2.3 ten-host\n1.2.3.4/24 bad\n[2001:db8::]/32 v6doc\n::1 lo6\nif 172.16.0.0/12\n172.16.1.1 inner\nendif\n0.0.0.0/0 any\n',
  );
  const d = dictOpen(`cidr:${f}`, O_RDONLY, 0);
  assert.deepEqual(takeWarnings(), [
    `warning: cidr map ${f}, line 4: non-null host address bits in "1.2.3.4/24", perhaps you should use "1.2.3.0/24" instead: skipping this rule`,
  ]);
  assert.equal(await d.lookup('192.168.1.1'), 'private');
  assert.equal(await d.lookup('10.1.2.3'), 'ten-host');
  assert.equal(await d.lookup('8.8.8.8'), 'not-ten');
  assert.equal(await d.lookup('2001:db8::5'), 'v6doc');
  assert.equal(await d.lookup('::1'), 'lo6');
  assert.equal(await d.lookup('10.9.9.9'), 'any');
  assert.equal(await d.lookup('172.16.1.1'), 'not-ten');
  assert.equal(await d.lookup('not-an-ip'), null);
});

test('sqlite: sqlite_table(5) config, %s/%u/%d expansion, result_format, domain filter', async () => {
  const db = join(dir, 'v.sqlite');
  const sq = new Database(db);
  sq.exec("CREATE TABLE alias (address TEXT, goto TEXT); INSERT INTO alias VALUES ('joe@example.com', 'joe@real.example'), ('list@example.com', 'a@x'), ('list@example.com', 'b@x'), ('o''neil@example.com', 'quote')");
  sq.close();
  const cf = join(dir, 'v.cf');
  writeFileSync(cf, `dbpath = ${db}\nquery = SELECT goto FROM alias WHERE address='%s'\ndomain = example.com\n`);
  const d = dictOpen(`sqlite:${cf}`, O_RDONLY, FOLD);
  assert.equal(await d.lookup('Joe@Example.com'), 'joe@real.example');
  assert.equal(await d.lookup('list@example.com'), 'a@x,b@x');
  assert.equal(await d.lookup("o'neil@example.com"), 'quote');
  assert.equal(await d.lookup('joe@other.com'), null, 'domain filter');
  assert.equal(await d.lookup('nobody@example.com'), null);
  await d.close();

  const cf2 = join(dir, 'v2.cf');
  writeFileSync(cf2, `dbpath = ${db}\nquery = SELECT goto FROM alias WHERE address='%u@%d'\nresult_format = <%s> for %U\nexpansion_limit = 1\n`);
  const d2 = dictOpen(`sqlite:${cf2}`, O_RDONLY, FOLD);
  assert.equal(await d2.lookup('joe@example.com'), '<joe@real.example> for joe');
  assert.equal(await d2.lookup('joe'), null, '%d needs a domain');
  await assert.rejects(d2.lookup('list@example.com'), DictError);
  takeWarnings();
  await d2.close();

  const cf3 = join(dir, 'v3.cf');
  writeFileSync(cf3, `dbpath = ${join(dir, 'none.sqlite')}\nquery = SELECT 1\n`);
  assert.throws(() => dictOpen(`sqlite:${cf3}`, O_RDONLY, 0), DictOpenError);
});

test('proxy: opens the inner table directly', async () => {
  const d = dictOpen('proxy:inline:{a=b}', O_RDONLY, 0);
  assert.equal(d.type, 'proxy');
  assert.equal(await d.lookup('a'), 'b');
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

test('tcp: get/200/500/400 protocol with %XX encoding', async () => {
  const server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const key = line.slice(4);
        if (key === 'has%20space') sock.write('200 value%20with%25\n');
        else if (key === 'broken') sock.write('400 temporary%20trouble\n');
        else sock.write('500 not found\n');
      }
    });
  });
  const port = await listen(server);
  try {
    const d = dictOpen(`tcp:127.0.0.1:${port}`, O_RDONLY, 0);
    assert.equal(await d.lookup('has space'), 'value with%');
    assert.equal(await d.lookup('other'), null);
    await assert.rejects(d.lookup('broken'), /temporary trouble/);
    await d.close();
  } finally {
    server.close();
  }
});

test('socketmap: netstring protocol over a UNIX socket', async () => {
  const path = join(dir, 'sockmap.sock');
  const server = createServer((sock) => {
    sock.on('data', (d) => {
      const s = d.toString();
      const body = s.slice(s.indexOf(':') + 1, -1);
      const [, key] = body.split(' ');
      const reply = key === 'known' ? 'OK the value' : key === 'bad' ? 'TEMP try later' : 'NOTFOUND ';
      sock.write(`${Buffer.byteLength(reply)}:${reply},`);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const d = dictOpen(`socketmap:unix:${path}:mymap`, O_RDONLY, 0);
    assert.equal(await d.lookup('known'), 'the value');
    assert.equal(await d.lookup('unknown'), null);
    await assert.rejects(d.lookup('bad'), /TEMP try later/);
    await d.close();
  } finally {
    server.close();
  }
});

test('changed(): only indexed files are watched, as Postfix dict_changed_name', async () => {
  const f = join(dir, 'th2');
  writeFileSync(f, 'a 1\n');
  const d = dictOpen(`texthash:${f}`, O_RDONLY, 0);
  writeFileSync(`${f}.new`, 'a 2\n');
  renameSync(`${f}.new`, f);
  assert.equal(d.changed(), false, 'text and pattern tables are read at open time only');
  // hash: (not multi-writer) is changed by any modification
  const h = join(dir, 'hchg');
  const c = dictOpen(`hash:${h}`, O_RDWR | O_CREAT, 0);
  await c.update('a', '1');
  await c.close();
  const r = dictOpen(`hash:${h}`, O_RDONLY, 0);
  const w = dictOpen(`hash:${h}`, O_RDWR, 0);
  await w.update('b', '2');
  await w.close();
  assert.equal(r.changed(), true);
  await r.close();
});

/** The source of golden/postfix-3.7.11-v1tree.lmdb, which real Postfix 3.7.11 built with `postmap lmdb:v1tree`. */
function v1treeSource(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < 300; i++) out.push([`key${i}`, `value-${i}-${'v'.repeat(i % 150)}`]);
  out.push(['huge', 'y'.repeat(6000)]);
  return out;
}

test('lmdb: tables built by C Postfix (LMDB format 1) are read, and edited in place in the same format', async () => {
  const fixture = new URL('../../../test/tables/golden/postfix-3.7.11-v1tree.lmdb', import.meta.url);
  const name = join(dir, 'v1tree');
  writeFileSync(`${name}.lmdb`, readFileSync(fixture));
  const expected = v1treeSource().sort((a, b) => Buffer.compare(Buffer.from(a[0] + '\0'), Buffer.from(b[0] + '\0')));
  const r = dictOpen(`lmdb:${name}`, O_RDONLY, FOLD);
  for (const [k, v] of v1treeSource()) assert.equal(await r.lookup(k), v, k);
  assert.equal(await r.lookup('key300'), null);
  assert.deepEqual(await all(r.sequence()), expected);
  await r.close();
  assert.equal(existsSync(`${name}.lmdb-lock`), false, 'no lock file for format 1 reads');

  const w = dictOpen(`lmdb:${name}`, O_RDWR, FOLD | DICT_FLAG.DUP_REPLACE);
  await w.update('added', 'yes');
  assert.equal(await w.delete('key0'), true);
  await w.close();
  assert.equal(existsSync(`${name}.lmdb.editlock`), false);
  const head = readFileSync(`${name}.lmdb`).subarray(0, 24);
  assert.equal(head.readUInt32LE(20), 1, 'still LMDB data format 1');
  const r2 = dictOpen(`lmdb:${name}`, O_RDONLY, FOLD);
  assert.equal(await r2.lookup('huge'), 'y'.repeat(6000));
  assert.equal(await r2.lookup('added'), 'yes');
  assert.equal(await r2.lookup('key0'), null);
  assert.equal((await all(r2.sequence())).length, 301);
  await r2.close();
});

test('lmdb: format 1 writer and reader agree on large trees, big values and empty tables', async () => {
  const { buildLmdb1 } = await import('../../src/util/dict_lmdb1.js');
  const entries: Array<[Buffer, Buffer]> = [];
  for (let i = 0; i < 20000; i++) entries.push([Buffer.from(`k${i}\0`), Buffer.from(`${'v'.repeat(i % 300)}${i}\0`)]);
  entries.push([Buffer.from('big\0'), Buffer.alloc(70000, 0x41)]);
  entries.push([Buffer.from('x'.repeat(511)), Buffer.from('longest key')]);
  const file = join(dir, 'w1.lmdb');
  writeFileSync(file, buildLmdb1(entries));
  const r = new Lmdb1Reader(file);
  for (const [k, v] of entries) assert.deepEqual(r.get(k), v);
  assert.equal(r.get(Buffer.from('nothere')), undefined);
  assert.equal([...r.entries()].length, entries.length);
  r.close();
  writeFileSync(file, buildLmdb1([]));
  const e = new Lmdb1Reader(file);
  assert.equal(e.get(Buffer.from('a')), undefined);
  assert.deepEqual([...e.entries()], []);
  e.close();
  assert.throws(() => buildLmdb1([[Buffer.alloc(512, 0x61), Buffer.from('v')]]), /MDB_BAD_VALSIZE/);
});

test('lmdb: updates by another process (postmap -i): format 1 is replaced (changed), format 2 is live', async () => {
  const { spawn } = await import('node:child_process');
  mkdirSync(join(dir, 'liveetc'), { recursive: true });
  writeFileSync(join(dir, 'liveetc', 'main.cf'), 'default_database_type = lmdb\n');
  const bin = new URL('../../../bin/postmap', import.meta.url).pathname;
  const postmapI = async (spec: string, input: string): Promise<void> => {
    const child = spawn(bin, ['-c', join(dir, 'liveetc'), '-i', spec], { stdio: ['pipe', 'inherit', 'inherit'] });
    child.stdin.end(input);
    assert.equal(await new Promise<number | null>((resolve) => child.on('exit', resolve)), 0);
  };

  // Built by postmap (format 1): -i rewrites and renames; open handles see "changed".
  const built = join(dir, 'live1');
  const b = dictOpen(`lmdb:${built}`, BUILD, FOLD);
  await b.update('old', '1');
  await b.close();
  const r1 = dictOpen(`lmdb:${built}`, O_RDONLY, FOLD);
  assert.equal(await r1.lookup('old'), '1');
  await postmapI(`lmdb:${built}`, 'new 2\n');
  assert.equal(r1.changed(), true);
  await r1.close();
  const r1b = dictOpen(`lmdb:${built}`, O_RDONLY, FOLD);
  assert.equal(await r1b.lookup('new'), '2');
  assert.equal(await r1b.lookup('old'), '1');
  await r1b.close();

  // Created by a process (format 2, like a cache): updates are seen without reopening.
  const live = join(dir, 'live2');
  const c = dictOpen(`lmdb:${live}`, O_RDWR | O_CREAT, FOLD);
  await c.update('old', '1');
  await c.close();
  const r2 = dictOpen(`lmdb:${live}`, O_RDONLY, FOLD);
  assert.equal(await r2.lookup('new'), null);
  await postmapI(`lmdb:${live}`, 'new 2\n');
  assert.equal(await r2.lookup('new'), '2');
  assert.equal(r2.changed(), false, 'lmdb is multi-writer: updates in place are not a change');
  await r2.close();
});

test('lmdb: the same table opened several times in one process (readers and a writer) shares one environment', async () => {
  const name = join(dir, 'shared');
  const b = dictOpen(`lmdb:${name}`, O_RDWR | O_CREAT, 0);
  await b.update('a', '1');
  await b.close();
  const r1 = dictOpen(`lmdb:${name}`, O_RDONLY, 0);
  const r2 = dictOpen(`lmdb:${name}`, O_RDONLY, 0);
  assert.equal(await r1.lookup('a'), '1');
  await r1.close();
  assert.equal(await r2.lookup('a'), '1');
  const w = dictOpen(`lmdb:${name}`, O_RDWR, DICT_FLAG.DUP_REPLACE);
  await w.update('b', '2');
  await w.close();
  assert.equal(await r2.lookup('b'), '2');
  await r2.close();
});

test('lmdb: damaged format 1 files give table errors, never a crash or a hang', async () => {
  const fixture = readFileSync(new URL('../../../test/tables/golden/postfix-3.7.11-v1tree.lmdb', import.meta.url));
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const name = join(dir, 'fuzz');
  let errors = 0;
  for (let round = 0; round < 150; round++) {
    const data = Buffer.from(fixture);
    for (let n = 0; n < 1 + rand(8); n++) data[rand(data.length)] = rand(256);
    if (round % 10 === 0) data.fill(0xff, 4096 * 2 + rand(4000), 4096 * 2 + 4096); // a smashed page
    writeFileSync(`${name}.lmdb`, round % 7 === 0 ? data.subarray(0, rand(data.length)) : data);
    let d;
    try {
      d = dictOpen(`lmdb:${name}`, O_RDONLY, FOLD);
    } catch (e) {
      assert.ok(e instanceof DictOpenError, String(e));
      errors++;
      continue;
    }
    for (const key of ['key1', 'key150', 'key299', 'huge', 'nothing']) {
      try {
        const v = await d.lookup(key);
        assert.ok(v === null || typeof v === 'string');
      } catch (e) {
        assert.ok(e instanceof DictError, String(e));
        errors++;
      }
    }
    try {
      await all(d.sequence());
    } catch (e) {
      assert.ok(e instanceof DictError, String(e));
      errors++;
    }
    await d.close();
  }
  assert.ok(errors > 0, 'some damage was detected');
});

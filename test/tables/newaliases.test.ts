/**
 * newaliases(config): postalias over every table in $alias_database.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailConfig } from '../../src/global/mail_conf.js';
import { newaliases } from '../../src/postalias/postalias.js';
import { dictOpen } from '../../src/util/dict_open.js';
import { DICT_FLAG, O_RDONLY } from '../../src/util/dict.js';
import { msgAddOutput } from '../../src/util/msg.js';

const dir = mkdtempSync(join(tmpdir(), 'tables-newaliases-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('newaliases rebuilds each alias_database table, with the @ sentinel and warnings', async () => {
  const warnings: string[] = [];
  const remove = msgAddOutput((_s, t) => warnings.push(t));
  writeFileSync(join(dir, 'aliases'), 'postmaster: root\nRoot: admin@example.com, \\root\nbad@dom: x\n');
  writeFileSync(join(dir, 'aliases2'), 'abuse: postmaster\n');
  const config = MailConfig.fromText(
    `myhostname = mail.example.test\nalias_database = lmdb:${join(dir, 'aliases')}, hash:${join(dir, 'aliases2')}\n`,
    dir,
  );
  await newaliases(config);
  remove();
  assert.deepEqual(warnings, [`warning: ${join(dir, 'aliases')}, line 3: name must be local`]);
  assert.ok(existsSync(join(dir, 'aliases.lmdb')));
  assert.ok(existsSync(join(dir, 'aliases2.db')));
  const a = dictOpen(`lmdb:${join(dir, 'aliases')}`, O_RDONLY, DICT_FLAG.FOLD_FIX);
  assert.equal(await a.lookup('root'), 'admin@example.com, root');
  assert.equal(await a.lookup('@'), '@');
  await a.close();
  // no NIS entries (a build without NIS)
  const nis = dictOpen(`lmdb:${join(dir, 'aliases')}`, O_RDONLY, 0);
  assert.equal(await nis.lookup('YP_MASTER_NAME'), null);
  await nis.close();
  const b = dictOpen(`hash:${join(dir, 'aliases2')}`, O_RDONLY, DICT_FLAG.FOLD_FIX);
  assert.equal(await b.lookup('ABUSE'), 'postmaster');
  await b.close();
});

/**
 * bigqueue - measure the queue manager with a big deferred queue (bench W5):
 *
 *   npx tsc -p . && node dist/test/qmgr/bigqueue.js [count=100000] [rcpt]
 *
 * With "rcpt", one message with <count> recipients instead (the recipient
 * slices keep qmgr's memory bounded).
 *
 * Writes <count> ready deferred messages (due now) into a stopped test
 * instance whose default_transport is discard, starts it, and reports the
 * time to drain the queue and qmgr's resident memory (VmRSS sampled, VmHWM
 * at the end). Not run by `node --test` (no .test. in the name).
 */

import { chownSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TestInstance } from '../helpers/instance.js';
import { buildQueueFile } from '../delivery/queue_fixture.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { mailQueuePath } from '../../src/global/mail_queue.js';
import { getpwnam } from '../../src/util/mypwd.js';

const count = Number(process.argv[2] ?? 100000);
const oneMessage = process.argv[3] === 'rcpt';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function countFiles(dir: string): number {
  let n = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : 1;
  } catch {
    // missing
  }
  return n;
}

function qmgrStatus(inst: TestInstance): { pid: number; rss: number; hwm: number; cpu: number } | undefined {
  for (const pid of inst.processes()) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('libexec/qmgr')) continue;
      const st = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(st)?.[1] ?? 0);
      // utime + stime (fields 14 and 15 of /proc/PID/stat, after the parenthesised name), in clock ticks
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(f[11]) + Number(f[12])) / 100;
      return { pid, rss: kb('VmRSS'), hwm: kb('VmHWM'), cpu };
    } catch {
      // gone
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const inst = await TestInstance.create({
    name: 'qmgr-big',
    main: { default_transport: 'discard', relay_transport: 'discard', discard_destination_concurrency_limit: '20' },
  });
  try {
    await inst.start();
    await inst.stop();
    const config = MailConfig.load(inst.configDir);
    const owner = getpwnam(inst.accounts.mailOwner);
    const root = process.getuid?.() === 0;
    const rcpts = oneMessage ? Array.from({ length: count }, (_, i) => ({ address: `rcpt${i}@remote${i % 10}.example` })) : [{ address: 'rcpt@remote.example' }];
    const file = buildQueueFile('sender@example.org', rcpts, ['Subject: big queue', '', 'body'], Date.now() - 60_000);
    const tmp = join(inst.queueDir, 'deferred', 'tmp-file');
    const past = new Date(Date.now() - 10_000);
    const t0 = Date.now();
    for (let i = 0; i < (oneMessage ? 1 : count); i++) {
      writeFileSync(tmp, file.bytes, { mode: 0o700 });
      const ino = statSync(tmp).ino;
      const id = (i % 0xfffff).toString(16).toUpperCase().padStart(5, '0') + ino.toString(16).toUpperCase();
      const path = mailQueuePath(config, 'deferred', id);
      mkdirSync(dirname(path), { recursive: true });
      renameSync(tmp, path);
      utimesSync(path, past, past);
      if (root && owner) chownSync(path, owner.uid, owner.gid);
    }
    if (root && owner) for (const d of readdirSync(join(inst.queueDir, 'deferred'))) chownSync(join(inst.queueDir, 'deferred', d), owner.uid, owner.gid);
    const what = oneMessage ? `1 message with ${count} recipients` : `${count} messages`;
    console.log(`wrote ${what} (deferred) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = Date.now();
    await inst.start();
    let peakRss = 0;
    let last = qmgrStatus(inst);
    for (;;) {
      await sleep(1000);
      const s = qmgrStatus(inst);
      if (s) {
        last = s;
        peakRss = Math.max(peakRss, s.rss);
      }
      const left = countFiles(join(inst.queueDir, 'deferred')) + countFiles(join(inst.queueDir, 'active')) + countFiles(join(inst.queueDir, 'incoming'));
      const secs = (Date.now() - t1) / 1000;
      if (Math.round(secs) % 10 === 0) console.log(`${secs.toFixed(0)} s: ${left} left, qmgr RSS ${(s?.rss ?? 0) / 1024 | 0} MB`);
      if (left === 0) break;
      if (secs > 3600) throw new Error('not drained after an hour');
    }
    const secs = (Date.now() - t1) / 1000;
    const end = qmgrStatus(inst) ?? last;
    console.log(
      `drained ${what} in ${secs.toFixed(1)} s (${(count / secs).toFixed(0)} ${oneMessage ? 'rcpt' : 'msg'}/s); qmgr peak RSS ${(peakRss / 1024).toFixed(0)} MB, ` +
        `VmHWM ${((end?.hwm ?? 0) / 1024).toFixed(0)} MB, CPU ${(end?.cpu ?? 0).toFixed(1)} s`,
    );
  } finally {
    await inst.cleanup();
  }
}

void main();

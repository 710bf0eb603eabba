/**
 * master.test - integration tests of master and the postfix command on real
 * instances: start/status/stop, client hand-over, process limit warning,
 * bad-startup throttling, max_idle exit, wakeup timers, reload (add and
 * remove services), and no process left behind.
 */

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TestInstance, REPO, freePort } from '../helpers/instance.js';
import { waitUntil } from '../helpers/wait.js';

const FIX = join(REPO, 'dist', 'test', 'master', 'fixtures');
const ECHO = join(FIX, 'echo_daemon.js');
const TRIG = join(FIX, 'trigger_daemon.js');

/** A line-oriented client of the echo daemon. */
class Client {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }
  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  static openOnce(target: number | string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
      s.once('connect', () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }
  /** open - connect; a socket that master is still setting up (reload) gets a few more tries. */
  static async open(target: number | string): Promise<Client> {
    for (let i = 0; ; i++) {
      try {
        return await Client.openOnce(target);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (i >= 50 || (code !== 'ECONNREFUSED' && code !== 'ENOENT')) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  async line(timeoutMs = 15000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf('\n');
      if (i >= 0) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        return l;
      }
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > end) throw new Error('timeout waiting for a line');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  send(text: string) {
    this.sock.write(text + '\n');
  }
  async quit() {
    this.send('quit');
    assert.equal(await this.line(), 'bye');
    this.sock.destroy();
  }
}

/** pids of running processes whose command line contains text and that belong to the instance. */
function procsOf(inst: TestInstance, text: string): number[] {
  return inst.processes().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  });
}

async function until(cond: () => boolean, timeoutMs = 15000, what = 'condition'): Promise<void> {
  await waitUntil(what, cond, { timeoutMs });
}

let inst: TestInstance;
let trigLog: string;
let echoPort: number;
let barePort: number;
let fifoLog: string;

before(async () => {
  echoPort = await freePort();
  barePort = await freePort();
  inst = await TestInstance.create({ name: 'master-test', main: { max_idle: '100s' } });
  const trigDir = join(inst.dir, 'trig');
  mkdirSync(trigDir);
  chmodSync(trigDir, 0o777); // the trigger daemon runs as mail_owner
  trigLog = join(trigDir, 'trig.log');
  fifoLog = join(trigDir, 'fifo.log');
  inst.writeMasterCf(
    [
      `127.0.0.1:${echoPort} inet n - n - 1 ${ECHO}`,
      `  -o syslog_name=postfix/echotest`,
      `echo      unix  -       -       n       -       -       ${ECHO} concurrency=2`,
      `idle      unix  -       -       n       -       -       ${ECHO}`,
      `  -o max_idle=1s`,
      `busy      unix  -       -       n       -       6       ${ECHO} -o max_use=4 concurrency=3`,
      `use2      unix  -       -       n       -       -       ${ECHO}`,
      `  -o max_use=2`,
      `use2b     unix  -       -       n       -       -       ${ECHO}`,
      `  -o max_use=2`,
      `trig      unix  n       -       n       1       1       ${TRIG} ${trigLog}`,
      `fifotrig  fifo  n       -       n       1       1       ${TRIG} ${fifoLog}`,
      `${barePort} inet n       -       n       -       -       ${ECHO}`,
      'postlog   unix-dgram n  -       n       -       1       postlogd',
      '',
    ].join('\n'),
  );
});

after(async () => {
  await inst.cleanup();
});

test('postfix status before start: not running, exit 1', async () => {
  const r = await inst.postfix('status');
  assert.equal(r.status, 1);
  assert.match(inst.readLog(), /postfix\/postfix-script\[\d+\]: the Postfix mail system is not running/);
});

test('postfix start: master runs, pid file, log lines', async () => {
  await inst.start();
  const pid = inst.masterPid();
  assert.ok(pid, 'master.pid names a live process');
  const pidText = readFileSync(join(inst.queueDir, 'pid', 'master.pid'), 'utf8');
  assert.equal(pidText.length, 33);
  assert.equal(pidText, String(pid).padStart(32) + '\n');
  assert.equal(readFileSync(join(inst.dataDir, 'master.lock'), 'utf8'), pidText);
  await inst.waitForLog(/postfix\/postfix-script\[\d+\]: starting the Postfix mail system/);
  await inst.waitForLog(
    new RegExp(`postfix/master\\[${pid}\\]: daemon started -- version 3\\.7\\.11, configuration ${inst.configDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'),
  );
  const st = await inst.postfix('status');
  assert.equal(st.status, 0);
  await inst.waitForLog(new RegExp(`the Postfix mail system is running: PID: ${pid}`));
  const again = await inst.postfix('start');
  assert.equal(again.status, 1);
  await inst.waitForLog(/postfix\/postfix-script\[\d+\]: fatal: the Postfix mail system is already running/);
  // Postfix's queue directories and socket modes.
  assert.equal(statSync(join(inst.queueDir, 'private')).mode & 0o7777, 0o700);
  assert.equal(statSync(join(inst.queueDir, 'pid')).mode & 0o7777, 0o755);
  assert.equal(statSync(inst.servicePath('private', 'echo')).mode & 0o777, 0o666);
  assert.ok(statSync(inst.servicePath('public', 'trig')).isSocket());
});

test('clients are handed to children; -n, -o and the service name reach the daemon', async () => {
  const c = await Client.open(echoPort);
  const hello = await c.line();
  assert.match(hello, new RegExp(`^hello 127\\.0\\.0\\.1:${echoPort} \\d+ postfix/echotest$`));
  c.send('one');
  assert.equal(await c.line(), 'echo one');
  await c.quit();
  const u = await Client.open(inst.servicePath('private', 'echo'));
  assert.match(await u.line(), /^hello echo \d+ postfix$/);
  await u.quit();
});

test('a daemon with concurrency 2 serves two clients in one process', async () => {
  const a = await Client.open(inst.servicePath('private', 'echo'));
  const b = await Client.open(inst.servicePath('private', 'echo'));
  const pa = (await a.line()).split(' ')[2];
  const pb = (await b.line()).split(' ')[2];
  assert.equal(pa, pb);
  await a.quit();
  await b.quit();
});

test('process limit: the warning appears and the next client waits for a free process', async () => {
  const first = await Client.open(echoPort);
  await first.line();
  const second = await Client.open(echoPort);
  await inst.waitForLog(
    new RegExp(
      `postfix/master\\[\\d+\\]: warning: service "127\\.0\\.0\\.1:${echoPort}" \\(127\\.0\\.0\\.1:${echoPort}\\) has reached its process limit "1": new clients may experience noticeable delays`,
    ),
  );
  await inst.waitForLog(/warning: to avoid this condition, increase the process count in master\.cf or reduce the service time per client/);
  await inst.waitForLog(/warning: see http:\/\/www\.postfix\.org\/STRESS_README\.html for examples of stress-adapting configuration settings/);
  await first.quit();
  assert.match(await second.line(), /^hello /);
  await second.quit();
});

test('max_idle: an idle process exits by itself', async () => {
  const c = await Client.open(inst.servicePath('private', 'idle'));
  assert.match(await c.line(), /^hello idle /);
  await c.quit();
  assert.equal(procsOf(inst, '-n\0idle').length, 1, 'one idle process right after the client left');
  await until(() => procsOf(inst, '-n\0idle').length === 0, 15000, 'the idle process to exit');
  // and a new client gets a new process
  const d = await Client.open(inst.servicePath('private', 'idle'));
  assert.match(await d.line(), /^hello idle /);
  await d.quit();
});

test('many clients, few processes retiring all the time: every client is served', async () => {
  let served = 0;
  const pids = new Set<string>();
  const perPid = new Map<string, number>();
  const worker = async () => {
    for (let i = 0; i < 10; i++) {
      const c = await Client.open(inst.servicePath('private', 'busy'));
      const pid = (await c.line()).split(' ')[2];
      pids.add(pid);
      perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
      c.send('x');
      assert.equal(await c.line(), 'echo x');
      await c.quit();
      served++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.equal(served, 80);
  // max_use counts per client slot: 4 clients x concurrency 3 = 12 per process
  for (const [pid, n] of perPid) assert.ok(n <= 12, `process ${pid} served ${n} clients, max_use=4 x 3 slots allows 12`);
  assert.ok(pids.size >= 7, `80 clients at 12 per process means at least 7 processes, saw ${pids.size}`);
  assert.equal(inst.logLines(/warning: process .* (exit status|killed by)/).length, 0);
});

test('max_use: a process exits after serving max_use clients', async () => {
  const pids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await Client.open(inst.servicePath('private', 'use2'));
    pids.push((await c.line()).split(' ')[2]);
    await c.quit();
  }
  assert.equal(pids[0], pids[1]);
  assert.notEqual(pids[1], pids[2]);
  await until(() => {
    try {
      process.kill(Number(pids[0]), 0);
      return false;
    } catch {
      return true;
    }
  }, 10000, 'the used-up process to exit');
});

/** servicePids - the live processes that master runs for a service (by their "-n NAME" argument). */
function servicePids(name: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const at = argv.indexOf('-n');
      if (argv.includes(ECHO) && at >= 0 && argv[at + 1] === name) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

test('max_use: the successor starts while the used-up process serves its last client', async () => {
  // One process busy with a client, the other one serving its last client
  // (max_use=2): master starts the next process now, not when the next client
  // comes (a Node start-up would otherwise be a pause every max_use clients).
  const svc = inst.servicePath('private', 'use2b');
  const hold = await Client.open(svc);
  const busy = Number((await hold.line()).split(' ')[2]);
  let c = await Client.open(svc);
  const other = Number((await c.line()).split(' ')[2]);
  assert.notEqual(other, busy);
  await c.quit();
  // Let master hear that the process is free again: a client that comes before
  // that starts a process of its own (as in Postfix), which is not what is tested.
  await new Promise((r) => setTimeout(r, 500));
  c = await Client.open(svc);
  assert.equal(Number((await c.line()).split(' ')[2]), other, 'the second use of the idle process');
  const seen = new Set([busy, other]);
  await until(() => servicePids('use2b').some((p) => !seen.has(p)), 10000, 'a new use2b process while both are busy');
  await c.quit();
  await hold.quit();
});

test('wakeup timer: master sends "W" triggers to a trigger server', async () => {
  await until(() => existsSync(trigLog) && readFileSync(trigLog, 'utf8').split('\n').filter((l) => / W$/.test(l)).length >= 2, 15000, 'two wakeups');
});

test('fifo services: master creates the FIFO and its wakeups reach the daemon', async () => {
  const st = statSync(inst.servicePath('public', 'fifotrig'));
  assert.ok(st.isFIFO());
  assert.equal(st.mode & 0o777, 0o622);
  await until(() => existsSync(fifoLog) && readFileSync(fifoLog, 'utf8').split('\n').filter((l) => / W$/.test(l)).length >= 2, 15000, 'two FIFO wakeups');
});

test('an inet service without a host binds inet_interfaces', async () => {
  const c = await Client.open(barePort);
  assert.match(await c.line(), new RegExp(`^hello ${barePort} \\d+ postfix$`));
  await c.quit();
  assert.ok(existsSync(join(inst.queueDir, 'pid', `inet.127.0.0.1:${barePort}`)));
});

test('reload: services are added and removed', async () => {
  inst.writeMasterCf(
    readFileSync(join(inst.configDir, 'master.cf'), 'utf8').replace(/^idle .*\n.*\n/m, '') +
      `added     unix  -       -       n       -       -       ${ECHO}\n`,
  );
  const r = await inst.postfix('reload');
  assert.equal(r.status, 0);
  await inst.waitForLog(/postfix-script\[\d+\]: refreshing the Postfix mail system/);
  await inst.waitForLog(/postfix\/master\[\d+\]: reload -- version 3\.7\.11, configuration /);
  await until(() => existsSync(inst.servicePath('private', 'added')), 10000, 'the new socket');
  const c = await Client.open(inst.servicePath('private', 'added'));
  assert.match(await c.line(), /^hello added /);
  await c.quit();
  // the removed service no longer accepts clients
  const refused = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(inst.servicePath('private', 'idle'));
      s.on('error', () => resolve(true));
      s.on('connect', () => {
        s.destroy();
        resolve(false);
      });
    });
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = await refused();
    if (!gone) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(gone, 'the removed service refuses connections');
});

test('postfix stop: master and every child are gone; status says not running', async () => {
  const pid = inst.masterPid();
  assert.ok(pid);
  assert.ok(inst.processes().length >= 2, 'master and children run');
  const r = await inst.postfix('stop');
  assert.equal(r.status, 0);
  assert.deepEqual(inst.processes(), [], 'no process left behind');
  await inst.waitForLog(/postfix-script\[\d+\]: stopping the Postfix mail system/);
  await inst.waitForLog(new RegExp(`postfix/master\\[${pid}\\]: terminating on signal 15`));
  const st = await inst.postfix('status');
  assert.equal(st.status, 1);
  const again = await inst.postfix('stop');
  assert.equal(again.status, 1);
  await inst.waitForLog(/postfix-script\[\d+\]: fatal: the Postfix mail system is not running/);
  assert.ok(!readdirSync(join(inst.queueDir, 'private')).includes('nonexistent'));
});

/**
 * harness - test fixtures for smtpd: a private configuration directory, a
 * cleanup server on a real UNIX socket that records what it receives (the
 * cleanup protocol), smtpd on a loopback TCP port, captured log lines, and
 * an SMTP client that sends scripted steps and collects the raw replies.
 */

import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailConfig } from '../../src/global/mail_conf.js';
import { msgAddOutput } from '../../src/util/msg.js';
import { VStream } from '../../src/util/vstream.js';
import { readAttrs, sendAttrs } from '../../src/util/attr.js';
import { readRecord } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';
import { smtpdService, smtpdInit } from '../../src/smtpd/smtpd.js';
import { clearTableCache } from '../../src/smtpd/smtpd_tables.js';
import { trivialRewriteInit, rewriteService } from '../../src/trivial-rewrite/trivial-rewrite.js';
import { AnvilState, anvilService } from '../../src/anvil/anvil.js';
import { waitUntil } from '../helpers/wait.js';

export interface ReceivedMessage {
  queueId: string;
  flags: number;
  records: Array<{ type: string; data: string }>;
}

export interface Fixture {
  dir: string;
  config: MailConfig;
  port: number;
  logs: string[];
  messages: ReceivedMessage[];
  /** status the fake cleanup returns (0 = accepted) */
  cleanupStatus: { status: number; reason: string };
  close(): Promise<void>;
}

let idCounter = 0x1a2b3;

/** startFixture - smtpd with main.cf text appended to a small base configuration. */
export async function startFixture(
  mainCf = '',
  opts: { noCleanup?: boolean; tables?: Record<string, string> } = {},
): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'smtpd-test-'));
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'spool', 'public'), { recursive: true });
  mkdirSync(join(dir, 'spool', 'private'), { recursive: true });
  const base = [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/spool`,
    'myhostname = mail.example.test',
    'mydomain = example.test',
    'inet_interfaces = 127.0.0.1',
    'mynetworks = 127.0.0.0/8',
    `alias_maps = texthash:${dir}/etc/aliases`,
    'smtpd_error_sleep_time = 0',
  ].join('\n');
  writeFileSync(join(dir, 'etc', 'aliases'), 'postmaster root\nalias1 root\n');
  for (const [name, text] of Object.entries(opts.tables ?? {})) writeFileSync(join(dir, 'etc', name), text);
  writeFileSync(join(dir, 'etc', 'main.cf'), base + '\n' + mainCf + '\n');
  clearTableCache();
  const config = MailConfig.load(join(dir, 'etc'));
  smtpdInit(config);
  const logs: string[] = [];
  const removeLog = msgAddOutput((_sev, text) => logs.push(text));
  const messages: ReceivedMessage[] = [];
  const cleanupStatus = { status: 0, reason: '' };
  let cleanupServer: Server | null = null;
  if (!opts.noCleanup) {
    cleanupServer = createServer((sock) => {
      void (async () => {
        const stream = new VStream(sock, { timeout: 10000 });
        const queueId = (idCounter++).toString(16).toUpperCase() + 'F0';
        sendAttrs(stream, [
          ['protocol', 'cleanup_protocol'],
          ['queue_id', queueId],
        ]);
        const flags = await readAttrs(stream);
        const msgRec: ReceivedMessage = { queueId, flags: flags?.int('flags') ?? -1, records: [] };
        try {
          for (;;) {
            const rec = await readRecord(stream);
            if (rec.type < 0) return;
            msgRec.records.push({ type: String.fromCharCode(rec.type), data: rec.data.toString('utf8') });
            if (rec.type === REC.END) break;
          }
          if (cleanupStatus.status === 0) messages.push(msgRec);
          sendAttrs(stream, [
            ['status', cleanupStatus.status],
            ['reason', cleanupStatus.reason],
          ]);
          await stream.flush();
        } catch {
          // client went away: message discarded
        } finally {
          sock.end();
        }
      })();
    });
    await new Promise<void>((r) => cleanupServer!.listen(join(dir, 'spool', 'public', 'cleanup'), r));
  }
  // the trivial-rewrite service smtpd resolves addresses with (private/rewrite)
  const rewriteState = await trivialRewriteInit(config);
  const rewriteSockets = new Set<Socket>();
  const rewriteServer = createServer((sock) => {
    rewriteSockets.add(sock);
    sock.on('close', () => rewriteSockets.delete(sock));
    sock.on('error', () => undefined);
    void rewriteService(new VStream(sock, { timeout: 60000 }), rewriteState).finally(() => sock.end());
  });
  await new Promise<void>((r) => rewriteServer.listen(join(dir, 'spool', 'private', 'rewrite'), r));
  // the anvil service for connection and rate limits (private/anvil)
  const anvil = new AnvilState(60);
  const anvilServer = createServer((sock) => {
    rewriteSockets.add(sock);
    sock.on('close', () => rewriteSockets.delete(sock));
    sock.on('error', () => undefined);
    void anvilService(new VStream(sock, { timeout: 60000 }), anvil).finally(() => sock.end());
  });
  await new Promise<void>((r) => anvilServer.listen(join(dir, 'spool', 'private', 'anvil'), r));
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    const stream = new VStream(sock, { timeout: 30000 });
    void smtpdService(stream, { config, serviceName: 'smtp', transport: 'inet', processName: 'smtpd', args: [] })
      .catch((e) => logs.push(`TEST: service failed: ${(e as Error).stack}`))
      .finally(() => sock.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    dir,
    config,
    port,
    logs,
    messages,
    cleanupStatus,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      if (cleanupServer) await new Promise<void>((r) => cleanupServer!.close(() => r()));
      for (const s of rewriteSockets) s.destroy();
      await new Promise<void>((r) => rewriteServer.close(() => r()));
      await new Promise<void>((r) => anvilServer.close(() => r()));
      anvil.stop();
      removeLog();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A raw SMTP client: send bytes, wait for N complete replies. */
export class RawClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(private readonly sock: Socket) {
    sock.on('data', (d) => {
      this.buf += d.toString('latin1');
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** replies - wait until n complete replies (final lines "NNN ") are buffered, return them raw. */
  async replies(n: number, timeoutMs = 10000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const finals = this.buf.split('\r\n').filter((l) => /^\d{3}( |$)/.test(l)).length;
      if (finals >= n || this.closed) {
        // take exactly up to the n-th final line
        let count = 0;
        let idx = 0;
        const lines = this.buf.split('\r\n');
        let out = '';
        for (; idx < lines.length - 1 && count < n; idx++) {
          out += lines[idx] + '\r\n';
          if (/^\d{3}( |$)/.test(lines[idx])) count++;
        }
        this.buf = lines.slice(idx).join('\r\n');
        return out;
      }
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${n} replies; have: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  send(text: string): void {
    this.sock.write(text);
  }
  /** cmd - send one line, return its reply. */
  async cmd(line: string): Promise<string> {
    this.send(line + '\r\n');
    return this.replies(1);
  }
  async waitClose(timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection not closed');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  get pending(): string {
    return this.buf;
  }
  close(): void {
    this.sock.destroy();
  }
}

/** waitFor - poll until a condition holds (log lines are written after replies). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  await waitUntil(what, cond, { timeoutMs, intervalMs: 20 });
}

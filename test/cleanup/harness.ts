/**
 * harness - a private queue directory with trivial-rewrite on
 * private/rewrite and cleanup on public/cleanup (real UNIX sockets, service
 * routines driven without master), and helpers to read queue files back.
 */

import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailConfig } from '../../src/global/mail_conf.js';
import { VStream } from '../../src/util/vstream.js';
import { rewriteService, trivialRewriteInit } from '../../src/trivial-rewrite/trivial-rewrite.js';
import { cleanupInit, type CleanupGlobals } from '../../src/cleanup/cleanup_init.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { readRecords } from '../../src/global/record.js';
import { CleanupClient, type CleanupResult } from '../../src/global/cleanup_clnt.js';
import { REC } from '../../src/global/rec_type.js';
import { FatalError, msgAddOutput, setFatalAction } from '../../src/util/msg.js';

// The golden files were recorded with TZ=UTC; the Date: header's zone name changes the file size.
process.env.TZ = 'UTC';

// A fatal error must fail the test, not end the test process.
setFatalAction((text, status) => {
  throw new FatalError(text, status);
});

export interface Harness {
  dir: string;
  config: MailConfig;
  globals: CleanupGlobals;
  logs: string[];
  close(): Promise<void>;
  /** files - names in a queue directory */
  files(queue: string): string[];
  /** records - [type, text] of a queue file */
  records(queue: string, id: string): Array<[string, string]>;
  raw(queue: string, id: string): Buffer;
}

export async function startHarness(mainCf: string, files: Record<string, string> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'cleanup-test-'));
  for (const q of ['incoming', 'hold', 'active', 'deferred', 'trace', 'private', 'public', 'etc']) mkdirSync(join(dir, q));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'etc', name), text);
  const config = MailConfig.fromText(
    [
      `queue_directory = ${dir}`,
      'compatibility_level = 3.6',
      'myhostname = mail.example.test',
      'mydomain = example.test',
      'inet_interfaces = 127.0.0.1',
      mainCf.replace(/\$ETC/g, join(dir, 'etc')),
      '',
    ].join('\n'),
    join(dir, 'etc'),
  );
  const logs: string[] = [];
  const removeLog = msgAddOutput((_sev, text) => logs.push(text));
  const tr = await trivialRewriteInit(config);
  const globals = await cleanupInit(config);
  globals.triggerQmgr = false;
  const servers: Server[] = [
    createServer((s) => void rewriteService(new VStream(s, { timeout: 30000 }), tr).finally(() => s.destroy())),
    createServer((s) => {
      s.on('error', () => undefined);
      void cleanupService(new VStream(s, { timeout: 30000 }), globals).finally(() => s.end());
    }),
  ];
  await new Promise<void>((r) => servers[0].listen(join(dir, 'private', 'rewrite'), r));
  await new Promise<void>((r) => servers[1].listen(join(dir, 'public', 'cleanup'), r));
  return {
    dir,
    config,
    globals,
    logs,
    async close() {
      globals.rewrite.trivial.disconnect();
      for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
      removeLog();
      rmSync(dir, { recursive: true, force: true });
    },
    files: (queue) => readdirSync(join(dir, queue)),
    raw: (queue, id) => readFileSync(join(dir, queue, id)),
    records(queue, id) {
      return readRecords(readFileSync(join(dir, queue, id))).map((r) => [String.fromCharCode(r.type), r.data.toString('latin1')]);
    },
  };
}

export type Rec = [string, string];

/** submit - send records through the real client; returns the server's verdict. */
export async function submit(h: Harness, flags: number, recs: Rec[]): Promise<CleanupResult> {
  const c = await CleanupClient.open(h.config, flags, { timeoutMs: 30000 });
  for (const [t, d] of recs) {
    if (t === 'E') break;
    await c.record(t.charCodeAt(0), Buffer.from(d, 'latin1'));
  }
  return c.finish();
}

/** normalize - replace run-time values the way the golden files were made. */
export function normalize(recs: Rec[], id: string): Rec[] {
  return recs.map(([t, d]) => {
    let x = d
      .split(id)
      .join('{ID}')
      .replace(/^create_time=\d+$/, 'create_time={NOW}')
      .replace(/\d{14}\.\{ID\}/, '{STAMP}.{ID}')
      .replace(/\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \([^)]*\)/, '{DATE}');
    if (t === 'T') x = '{T}';
    if (t === 'C') x = '{C}';
    return [t, x];
  });
}

/** readGolden - a JSON-lines golden file of [type, text]. */
export function readGolden(path: string): Rec[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Rec);
}

/** checkSizeRecord - the C record's numbers agree with the file layout. */
export function sizeFields(buf: Buffer): { fields: number[]; dataOffset: number; xtraOffset: number; rcpts: number } {
  const recs = readRecords(buf);
  const fields = recs[0].data.toString('latin1').trim().split(/\s+/).map(Number);
  const m = recs.findIndex((r) => r.type === REC.MESG);
  const x = recs.findIndex((r) => r.type === REC.XTRA);
  return {
    fields,
    dataOffset: recs[m + 1].offset,
    xtraOffset: recs[x].offset,
    rcpts: recs.filter((r) => r.type === REC.RCPT).length,
  };
}

/**
 * queue_fixture - build small, valid queue files for delivery tests, in the
 * record layout cleanup writes (C T A S A O R ... M N... X E), and drive a
 * delivery agent's service routine over a real UNIX-domain socket.
 */

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord, sizeRecordPayload } from '../../src/global/record.js';
import { REC } from '../../src/global/rec_type.js';
import { MailConfig } from '../../src/global/mail_conf.js';
import { VStream } from '../../src/util/vstream.js';
import { mailConnect } from '../../src/global/mail_connect.js';
import { sendDeliverRequest, readDeliverReply, DEL_REQ_FLAG_DEFLT, type DeliverReply, type DeliverRequest } from '../../src/global/deliver_request.js';

export interface FixtureRecipient {
  address: string;
  orig?: string;
}

export interface BuiltFile {
  bytes: Buffer;
  dataOffset: number;
  dataSize: number;
  rcptOffsets: number[];
}

/** buildQueueFile - a complete queue file for sender, recipients and content lines. */
export function buildQueueFile(sender: string, rcpts: FixtureRecipient[], lines: string[], arrival = Date.now()): BuiltFile {
  const head: Buffer[] = [];
  const sizePlaceholder = encodeRecord(REC.SIZE, sizeRecordPayload([0, 0, 0, 0, 0, 0]));
  head.push(sizePlaceholder);
  head.push(encodeRecord(REC.TIME, `${Math.floor(arrival / 1000)} ${(arrival % 1000) * 1000}`));
  head.push(encodeRecord(REC.ATTR, `create_time=${Math.floor(arrival / 1000)}`));
  head.push(encodeRecord(REC.ATTR, 'rewrite_context=local'));
  head.push(encodeRecord(REC.FROM, sender));
  const rcptOffsets: number[] = [];
  let offset = head.reduce((n, b) => n + b.length, 0);
  for (const r of rcpts) {
    const dsn = encodeRecord(REC.ATTR, `dsn_orig_rcpt=rfc822;${r.orig ?? r.address}`);
    const orig = encodeRecord(REC.ORCP, r.orig ?? r.address);
    head.push(dsn, orig);
    offset += dsn.length + orig.length;
    rcptOffsets.push(offset);
    const rec = encodeRecord(REC.RCPT, r.address);
    head.push(rec);
    offset += rec.length;
  }
  const mesg = encodeRecord(REC.MESG, '');
  head.push(mesg);
  offset += mesg.length;
  const dataOffset = offset;
  const content = lines.map((l) => encodeRecord(REC.NORM, l));
  const dataSize = content.reduce((n, b) => n + b.length, 0);
  const tail = [encodeRecord(REC.XTRA, ''), encodeRecord(REC.END, '')];
  const size = encodeRecord(REC.SIZE, sizeRecordPayload([dataSize, dataOffset, rcpts.length, 0, dataSize, 0]));
  if (size.length !== sizePlaceholder.length) throw new Error('size record changed length');
  head[0] = size;
  return { bytes: Buffer.concat([...head, ...content, ...tail]), dataOffset, dataSize, rcptOffsets };
}

export interface Instance {
  dir: string;
  config: MailConfig;
  cleanup(): void;
}

/** makeInstance - a scratch queue directory and configuration (no master). */
export function makeInstance(extraMainCf = ''): Instance {
  const dir = mkdtempSync(join(tmpdir(), 'pfx-delivery-'));
  const queue = join(dir, 'spool');
  for (const q of ['active', 'incoming', 'deferred', 'defer', 'bounce', 'trace', 'private', 'public', 'corrupt', 'hold', 'maildrop']) {
    mkdirSync(join(queue, q), { recursive: true });
  }
  mkdirSync(join(dir, 'mail'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  const mainCf = [
    `queue_directory = ${queue}`,
    `mail_spool_directory = ${join(dir, 'mail')}`,
    'myhostname = mail.example.test',
    'mydestination = $myhostname, localhost',
    'alias_maps =',
    'compatibility_level = 3.7',
    extraMainCf,
  ].join('\n');
  writeFileSync(join(dir, 'etc', 'main.cf'), mainCf);
  const config = MailConfig.load(join(dir, 'etc'));
  return { dir, config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** placeQueueFile - write a built file as active/<id> (hash dirs are not used for active). */
export function placeQueueFile(inst: Instance, id: string, file: BuiltFile, queue = 'active'): string {
  const path = join(inst.config.str('queue_directory'), queue, id);
  writeFileSync(path, file.bytes, { mode: 0o700 });
  return path;
}

/** serveAgent - listen on private/<name> with the agent's service routine; returns a closer. */
export function serveAgent(inst: Instance, name: string, service: (s: VStream) => Promise<void>): Promise<Server> {
  const path = join(inst.config.str('queue_directory'), 'private', name);
  const server = createServer((sock) => {
    const stream = new VStream(sock, { timeout: 10000 });
    service(stream)
      .catch(() => undefined)
      .finally(() => sock.end());
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

/** request - a delivery request for a placed file. */
export function requestFor(id: string, file: BuiltFile, sender: string, rcpts: FixtureRecipient[], nexthop = ''): DeliverRequest {
  const now = Date.now();
  return {
    flags: DEL_REQ_FLAG_DEFLT,
    queue_name: 'active',
    queue_id: id,
    data_offset: file.dataOffset,
    data_size: file.dataSize,
    nexthop,
    encoding: '',
    sendopts: 0,
    sender,
    dsn_envid: '',
    dsn_ret: 0,
    stats: { arrival: now, activeArrival: now, agentHandoff: now },
    client_name: '',
    client_addr: '',
    client_port: '',
    client_proto: '',
    client_helo: '',
    sasl_method: '',
    sasl_username: '',
    sasl_sender: '',
    log_ident: id,
    rewrite_context: 'local',
    rcpt: rcpts.map((r, i) => ({ orig_addr: r.orig ?? r.address, address: r.address, offset: file.rcptOffsets[i], dsn_orcpt: `rfc822;${r.orig ?? r.address}`, dsn_notify: 0 })),
  };
}

/** deliverVia - act as qmgr: connect to private/<name>, send the request, read the reply. */
export async function deliverVia(inst: Instance, name: string, req: DeliverRequest): Promise<DeliverReply> {
  const stream = await mailConnect(inst.config, 'private', name, 10000);
  try {
    await sendDeliverRequest(stream, req);
    return await readDeliverReply(stream);
  } finally {
    stream.close();
  }
}

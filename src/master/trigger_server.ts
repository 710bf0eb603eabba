/**
 * trigger_server - skeleton for daemons that are woken by a few request
 * bytes and send no reply (Postfix master/trigger_server.c): qmgr, pickup,
 * and master's own wakeup timer ("W").
 *
 * A trigger is one connection on which the client writes up to 1024 bytes
 * and closes (unix, inet), or bytes written to a FIFO (fifo). Triggers are
 * handled one at a time, in arrival order; a service routine that is still
 * busy when the next trigger arrives sees it afterwards, as in Postfix.
 */

import { openSync, constants as fsc } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { msg } from '../util/msg.js';
import type { TriggerServerOptions } from './mail_server.js';
import { serverStart, stdinDuplex, errText, type ServerRuntime } from './mail_server_common.js';
import { closeClient, standaloneListen } from './stream_server.js';

/** Postfix TRIGGER_BUF_SIZE: the most a trigger may carry. */
export const TRIGGER_BUF_SIZE = 1024;
/** How long a trigger client may take to send its bytes. */
const TRIGGER_READ_TIMEOUT_MS = 10_000;

/** readTrigger - collect a trigger's bytes until EOF, the size limit, or a timeout. */
export function readTrigger(sock: Duplex): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let len = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.removeListener('data', onData);
      resolve(Buffer.concat(chunks, len).subarray(0, TRIGGER_BUF_SIZE));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      len += chunk.length;
      if (len >= TRIGGER_BUF_SIZE) finish();
    };
    const timer = setTimeout(finish, TRIGGER_READ_TIMEOUT_MS);
    sock.on('data', onData);
    sock.once('end', finish);
    sock.once('close', finish);
    sock.once('error', finish);
  });
}

/** A serial queue of trigger requests. */
class TriggerQueue {
  private readonly queue: Array<[Buffer, boolean]> = [];
  private running = false;

  constructor(
    private readonly rt: ServerRuntime,
    private readonly opts: TriggerServerOptions,
  ) {}

  push(request: Buffer, counted: boolean): void {
    this.rt.begin();
    this.queue.push([request, counted]);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const [request, counted] = this.queue.shift()!;
      try {
        await this.opts.service(request, this.rt.ctx);
      } catch (e) {
        msg.warn(`${this.rt.ctx.serviceName}: ${errText(e)}`);
      }
      this.rt.end(counted);
    }
    this.running = false;
  }
}

/** triggerServerMain - run a trigger server; resolves once it is serving. */
export async function triggerServerMain(argv: string[], opts: TriggerServerOptions): Promise<void> {
  const rt = await serverStart(argv, opts, 'trigger');
  const q = new TriggerQueue(rt, opts);
  const fromSocket = async (sock: Duplex) => {
    sock.on('error', () => undefined);
    const request = await readTrigger(sock);
    closeClient(sock);
    q.push(request, true);
  };

  if (rt.args.stdinClient) {
    const request = await readTrigger(stdinDuplex());
    rt.begin();
    try {
      await opts.service(request, rt.ctx);
    } finally {
      rt.active--;
    }
    await rt.exit(0);
    return;
  }
  if (rt.args.listen !== undefined) {
    standaloneListen(rt, rt.args.listen, (sock) => void fromSocket(sock));
    return;
  }
  if ((rt.args.transport ?? '').toLowerCase() === 'fifo') {
    const path = process.env.POSTFIX_LISTEN_PATH ?? msg.fatal('no FIFO path from master');
    let fd: number;
    try {
      fd = openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK);
    } catch (e) {
      return msg.fatal(`open ${path}: ${errText(e)}`);
    }
    const fifo = new Socket({ fd, readable: true, writable: false });
    let used = false;
    fifo.on('data', (chunk: Buffer) => {
      if (!used) {
        used = true;
        rt.send({ t: 'used' });
      }
      for (let off = 0; off < chunk.length; off += TRIGGER_BUF_SIZE) {
        q.push(chunk.subarray(off, off + TRIGGER_BUF_SIZE), false);
      }
    });
    fifo.on('error', (e) => msg.fatal(`read ${path}: ${errText(e)}`));
  }
  rt.watchMaster((handle) => void fromSocket(handle as Socket));
  rt.send({ t: 'ready', cap: 0, uses: rt.maxUse });
  rt.startIdleTimer();
}

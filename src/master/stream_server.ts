/**
 * stream_server - the connection-serving core shared by single_server and
 * multi_server (Postfix master/single_server.c, multi_server.c).
 *
 * Clients arrive from master over the IPC channel (see master_proto.ts), on
 * stdin/stdout (-S), or on a listener of our own (-L, stand-alone). Each
 * client becomes a VStream handed to the daemon's service routine; the
 * skeleton closes it afterwards and does the max_use/max_idle bookkeeping.
 * single_server serves `concurrency` clients at once (default 1);
 * multi_server serves any number.
 */

import { createServer, type Socket } from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { msg } from '../util/msg.js';
import { VStream } from '../util/vstream.js';
import type { StreamServerOptions } from './mail_server.js';
import { serverStart, stdinDuplex, type ServerRuntime, errText } from './mail_server_common.js';

/** parseListen - "path" (UNIX-domain) or "host:port" / "port" (TCP) for -L. */
export function parseListen(spec: string): { path: string } | { host: string; port: number } {
  if (spec.includes('/')) return { path: spec };
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(spec);
  if (!m) return { path: spec };
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

/** streamServerMain - run a stream server; `cap` 0 means no per-process client limit. */
export async function streamServerMain(
  argv: string[],
  opts: StreamServerOptions,
  cap: number,
  kind: 'single' | 'multi',
): Promise<void> {
  const rt = await serverStart(argv, opts, kind);
  rt.setSlots(cap);
  const timeout = rt.ctx.config.time('ipc_timeout') * 1000;

  const serve = async (sock: Duplex): Promise<void> => {
    rt.begin();
    const stream = new VStream(sock, { timeout });
    try {
      await opts.service(stream, rt.ctx);
    } catch (e) {
      msg.warn(`${rt.ctx.serviceName}: ${errText(e)}`);
    } finally {
      closeClient(sock);
      rt.end();
    }
  };

  if (rt.args.stdinClient) {
    rt.begin();
    const sock = stdinDuplex();
    try {
      await opts.service(new VStream(sock, { timeout }), rt.ctx);
    } finally {
      sock.end();
    }
    await rt.exit(0);
    return;
  }
  if (rt.args.listen !== undefined) {
    standaloneListen(rt, rt.args.listen, (sock) => void serve(sock));
    return;
  }
  rt.watchMaster((handle) => {
    const sock = handle as Socket;
    sock.on('error', () => undefined);
    void serve(sock);
  });
  rt.send({ t: 'ready', cap, uses: rt.maxUse });
  rt.startIdleTimer();
}

/** closeClient - flush and close a client connection without waiting on the peer. */
export function closeClient(sock: Duplex): void {
  const s = sock as Duplex & { destroySoon?: () => void };
  if (s.destroyed) return;
  if (typeof s.destroySoon === 'function') s.destroySoon();
  else s.end();
}

/** standaloneListen - -L: accept clients ourselves (tests, development). */
export function standaloneListen(rt: ServerRuntime, spec: string, onConn: (sock: Socket) => void): void {
  const where = parseListen(spec);
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    onConn(sock);
  });
  server.on('error', (e) => msg.fatal(`bind ${spec}: ${errText(e)}`));
  if ('path' in where) {
    try {
      unlinkSync(where.path);
    } catch {
      // not there: fine
    }
    server.listen(where.path, () => {
      chmodSync(where.path, 0o666);
      msg.debug(1, `listening on ${where.path}`);
    });
  } else {
    server.listen(where.port, where.host);
  }
  const stop = () => {
    server.close();
    void rt.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

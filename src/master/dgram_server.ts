/**
 * dgram_server - skeleton for daemons that receive UNIX-domain datagrams
 * (Postfix master/dgram_server.c): postlogd.
 *
 * Node has no AF_UNIX datagram sockets, so the socket comes from a native
 * package (`unix-dgram`, or `node-unix-socket`). Because master cannot watch
 * such a socket, the daemon binds it itself before dropping privileges, at
 * the path master passes in POSTFIX_LISTEN_PATH (or -L when stand-alone),
 * and master starts the service eagerly and keeps one process running.
 */

import { chmodSync, renameSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { msg } from '../util/msg.js';
import type { DgramServerOptions, ServerHooks, ServerContext } from './mail_server.js';
import { serverStart, errText } from './mail_server_common.js';

/** The most a datagram may carry (Postfix: 256 kB minus a bit; log records are much smaller). */
export const DGRAM_MAX = 65536;
/** A terminating datagram server reads until the socket was quiet this long ... */
const DRAIN_MS = 50;
/** ... but no longer than this. */
const DRAIN_MAX_MS = 2000;

/** A bound datagram socket: close() releases it. */
export interface DgramSocket {
  close(): void;
}

/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH_MAX = 108;

/**
 * bindPublic - bind at a temporary name, make it writable for everyone, then
 * rename it into place: a client never finds the socket before its mode is
 * right (an ordinary user's postlog would get EACCES in that window).
 */
function bindPublic(path: string, bind: (p: string) => void): void {
  const tmp = `${path}.${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    // not there: the usual case
  }
  if (Buffer.byteLength(tmp) >= SUN_PATH_MAX) {
    // the longer name would not fit in sun_path: bind in place
    bind(path);
    chmodSync(path, 0o666);
    return;
  }
  bind(tmp);
  chmodSync(tmp, 0o666);
  renameSync(tmp, path);
}

/**
 * bindUnixDgram - bind a UNIX-domain datagram socket at path and call
 * onDatagram for every datagram. Throws when no native package is installed.
 */
export function bindUnixDgram(path: string, onDatagram: (buf: Buffer) => void): DgramSocket {
  const require = createRequire(import.meta.url);
  try {
    unlinkSync(path);
  } catch {
    // nothing to remove
  }
  let unixDgram: {
    createSocket(type: string, cb: (buf: Buffer) => void): {
      bind(path: string): void;
      on(ev: string, cb: (...a: unknown[]) => void): void;
      close(): void;
    };
  } | undefined;
  try {
    unixDgram = require('unix-dgram');
  } catch {
    unixDgram = undefined;
  }
  if (unixDgram) {
    const sock = unixDgram.createSocket('unix_dgram', (buf: Buffer) => onDatagram(buf));
    sock.on('error', (e: unknown) => msg.warn(`datagram socket ${path}: ${errText(e)}`));
    bindPublic(path, (p) => sock.bind(p));
    return sock;
  }
  let nus: { DgramSocket: new () => { on(ev: string, cb: (...a: unknown[]) => void): void; bind(p: string): void; close(): void } } | undefined;
  try {
    nus = require('node-unix-socket');
  } catch {
    nus = undefined;
  }
  if (nus) {
    const sock = new nus.DgramSocket();
    sock.on('data', (buf: unknown) => onDatagram(buf as Buffer));
    sock.on('error', (e: unknown) => msg.warn(`datagram socket ${path}: ${errText(e)}`));
    bindPublic(path, (p) => sock.bind(p));
    return sock;
  }
  throw new Error('no UNIX-domain datagram support installed (npm package unix-dgram)');
}

/** Bytes of datagrams kept while the service starts (anyone may write to the socket); a start-up takes well under a second. */
const EARLY_MAX_BYTES = 4 * 1024 * 1024;
/** How long a SIGTERM during start-up may wait for the start to finish. */
const EARLY_STOP_MS = 5000;

/** dgramServerMain - run a datagram server; resolves once it is serving. */
export async function dgramServerMain(argv: string[], opts: DgramServerOptions): Promise<void> {
  let sock: DgramSocket | undefined;
  let pending: Promise<void> = Promise.resolve();
  // Records can arrive as soon as the socket is bound, before the service is
  // ready (postfix start, then at once postfix abort): keep them until then.
  const early: Buffer[] = [];
  let earlyBytes = 0;
  let deliver: (buf: Buffer) => void = (buf) => {
    if (earlyBytes + buf.length > EARLY_MAX_BYTES) return;
    earlyBytes += buf.length;
    early.push(buf);
  };
  // A SIGTERM during start-up must not kill the process with records unread.
  let stopWhenReady = false;
  const earlyStop = () => {
    stopWhenReady = true;
    setTimeout(() => process.exit(0), EARLY_STOP_MS).unref();
  };
  process.on('SIGTERM', earlyStop);
  // Bind before privileges are dropped: the socket directory belongs to root or mail_owner.
  const hooks: ServerHooks = {
    ...opts,
    preInit: async (ctx: ServerContext) => {
      if (opts.preInit) await opts.preInit(ctx);
      const a = process.argv.slice(2);
      const li = a.indexOf('-L');
      const path = li >= 0 ? a[li + 1] : process.env.POSTFIX_LISTEN_PATH;
      if (!path) return msg.fatal('no datagram socket path from master');
      try {
        sock = bindUnixDgram(path, (buf) => deliver(buf));
      } catch (e) {
        msg.fatal(`bind ${path}: ${errText(e)}`);
      }
    },
  };
  const rt = await serverStart(argv, hooks, 'dgram');
  let used = false;
  let lastDatagram = 0;
  deliver = (buf: Buffer) => {
    lastDatagram = Date.now();
    if (!used) {
      used = true;
      rt.send({ t: 'used' });
    }
    rt.begin();
    pending = pending
      .then(() => opts.service(buf.subarray(0, DGRAM_MAX), rt.ctx))
      .catch((e) => msg.warn(`${rt.ctx.serviceName}: ${errText(e)}`))
      .finally(() => rt.end(false));
  };
  // Whenever this process leaves (SIGTERM, or a reload's retirement), read what
  // is still queued on its socket first: master does not own this socket, so
  // records sent to it would otherwise be lost with it (the reload's own
  // "reload --" line among them).
  rt.beforeExit = () =>
    new Promise<void>((resolve) => {
      const started = Date.now();
      const check = () => {
        const now = Date.now();
        if (now - lastDatagram < DRAIN_MS && now - started < DRAIN_MAX_MS) {
          setTimeout(check, DRAIN_MS);
          return;
        }
        sock?.close();
        void pending.then(() => resolve());
      };
      setTimeout(check, DRAIN_MS);
    });
  for (const buf of early.splice(0)) deliver(buf);
  const stop = () => void rt.exit(0);
  process.off('SIGTERM', earlyStop);
  process.on('SIGTERM', stop);
  if (stopWhenReady) stop();
  process.on('SIGINT', rt.args.listen !== undefined ? stop : () => undefined);
  if (rt.args.listen !== undefined) return;
  rt.watchMaster();
  rt.send({ t: 'ready', cap: 0, uses: rt.maxUse });
  rt.startIdleTimer();
}

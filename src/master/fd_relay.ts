/**
 * fd_relay - pass an open connection from one child of master to another
 * (the descriptor passing that Postfix does with LOCAL_SEND_FD/LOCAL_RECV_FD
 * over the scache(8) socket).
 *
 * Node cannot send a descriptor over a UNIX-domain stream socket, but it can
 * send a handle over the IPC channel between parent and child, and master is
 * the parent of every daemon. So a child sends the handle to master with a
 * message { t: 'fd', to, token }, where "to" is a service name (the handle
 * goes to a ready process of that unix service, e.g. "scache") or a process
 * id; master relays it as { t: 'fd', token, from } to that child and closes
 * its own copy. The token ties the handle to a request that travels on the
 * ordinary service socket (scache's fd_token attribute); a handle whose
 * request never comes is closed after a while.
 *
 * Handles travel as bare libuv handles ('net.Native'): nobody reads from
 * them on the way, so no byte of the SMTP session is lost in transit.
 */

import { Socket } from 'node:net';
import { MASTER_CHILD_ENV } from './master_proto.js';

/** Child -> master: pass the handle that comes with this message to "to". */
export interface FdSendMessage {
  t: 'fd';
  /** a service name (unix services of this master) or a process id */
  to: string | number;
  token: string;
}

/** Master -> child: a handle for the request that carries this token. */
export interface FdRecvMessage {
  t: 'fd';
  token: string;
  /** the process id of the sender */
  from: number;
}

const TOKEN_RE = /^[0-9]{1,10}\.[0-9A-Za-z._-]{1,64}$/;

export function isFdSendMessage(m: unknown): m is FdSendMessage {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as { t?: unknown; to?: unknown; token?: unknown };
  if (o.t !== 'fd' || typeof o.token !== 'string' || !TOKEN_RE.test(o.token)) return false;
  return (typeof o.to === 'number' && Number.isInteger(o.to) && o.to > 0) || (typeof o.to === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(o.to));
}

function isFdRecvMessage(m: unknown): m is FdRecvMessage {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as { t?: unknown; token?: unknown; from?: unknown };
  return o.t === 'fd' && typeof o.token === 'string' && typeof o.from === 'number';
}

/** A bare libuv handle as it arrives over the IPC channel. */
export interface RawHandle {
  close(cb?: () => void): void;
}

export function closeHandle(h: unknown): void {
  try {
    (h as RawHandle | undefined)?.close?.();
  } catch {
    // already closed
  }
}

/** fdRelayAvailable - true in a child of master with a working IPC channel. */
export function fdRelayAvailable(): boolean {
  return typeof process.send === 'function' && process.connected && !!process.env[MASTER_CHILD_ENV];
}

let seq = 0;

/** newToken - a token unique to this process; it starts with our pid (where found handles go). */
export function newToken(): string {
  seq = (seq + 1) % 1e9;
  return `${process.pid}.${seq.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** tokenPid - the process id a token names. */
export function tokenPid(token: string): number {
  return TOKEN_RE.test(token) ? Number(token.slice(0, token.indexOf('.'))) : 0;
}

/** How long a handle nobody asked for is kept before it is closed. */
const UNCLAIMED_MS = 10_000;

const waiting = new Map<string, { resolve: (h: RawHandle | null) => void; timer: NodeJS.Timeout }>();
const unclaimed = new Map<string, { handle: RawHandle; timer: NodeJS.Timeout }>();
let listening = false;

/**
 * fdRelayListen - start taking handles from master. Call it before the
 * process tells master it is ready (a handle that arrives with no listener
 * would stay open for nobody).
 */
export function fdRelayListen(): void {
  if (listening || typeof process.send !== 'function') return;
  listening = true;
  process.on('message', (m: unknown, raw: unknown) => {
    if (!isFdRecvMessage(m)) return;
    if (!raw) return;
    const handle = raw as RawHandle;
    const w = waiting.get(m.token);
    if (w) {
      waiting.delete(m.token);
      clearTimeout(w.timer);
      w.resolve(handle);
      return;
    }
    const old = unclaimed.get(m.token);
    if (old) {
      clearTimeout(old.timer);
      closeHandle(old.handle);
    }
    const timer = setTimeout(() => {
      unclaimed.delete(m.token);
      closeHandle(handle);
    }, UNCLAIMED_MS);
    timer.unref();
    unclaimed.set(m.token, { handle, timer });
  });
}

/** expectFd - the handle for a token, or null when none arrives in time. */
export function expectFd(token: string, timeoutMs: number): Promise<RawHandle | null> {
  fdRelayListen();
  // a second wait for the same token replaces the first (its timer must not end this one)
  cancelFd(token);
  const early = unclaimed.get(token);
  if (early) {
    unclaimed.delete(token);
    clearTimeout(early.timer);
    return Promise.resolve(early.handle);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(token);
      resolve(null);
    }, timeoutMs);
    waiting.set(token, { resolve, timer });
  });
}

/** cancelFd - give up waiting for a token (a handle that still comes is closed). */
export function cancelFd(token: string): void {
  const w = waiting.get(token);
  if (w) {
    waiting.delete(token);
    clearTimeout(w.timer);
    w.resolve(null);
  }
}

/**
 * sendHandle - pass a bare handle to "to" through master; resolves true once
 * it is written to the channel. Our copy is closed either way.
 */
export function sendHandle(to: string | number, token: string, handle: RawHandle): Promise<boolean> {
  return new Promise((resolve) => {
    if (!fdRelayAvailable()) {
      closeHandle(handle);
      resolve(false);
      return;
    }
    const msg: FdSendMessage = { t: 'fd', to, token };
    try {
      process.send!(msg, handle as never, { keepOpen: true }, (err) => {
        closeHandle(handle);
        resolve(!err);
      });
    } catch {
      closeHandle(handle);
      resolve(false);
    }
  });
}

/**
 * sendSocket - pass a connected net.Socket to "to" through master; our copy
 * is closed (without shutting the connection down) once it is on its way.
 */
export function sendSocket(to: string | number, token: string, sock: Socket): Promise<boolean> {
  const handle = (sock as unknown as { _handle?: RawHandle & { readStop?: () => number; readStart?: () => number } })._handle;
  if (!handle || sock.destroyed || !fdRelayAvailable()) return Promise.resolve(false);
  // Nothing of the session may be read here while it travels.
  try {
    handle.readStop?.();
  } catch {
    // not reading
  }
  const failed = (resolve: (ok: boolean) => void) => {
    try {
      if (!sock.destroyed) handle.readStart?.();
    } catch {
      // closed meanwhile
    }
    resolve(false);
  };
  return new Promise((resolve) => {
    const msg: FdSendMessage = { t: 'fd', to, token };
    try {
      process.send!(msg, handle as never, { keepOpen: true }, (err) => {
        if (err) {
          failed(resolve);
          return;
        }
        // close(2) our descriptor only: no FIN reaches the peer while another process holds it
        sock.removeAllListeners('close');
        sock.on('error', () => undefined);
        sock.destroy();
        resolve(true);
      });
    } catch {
      failed(resolve);
    }
  });
}

/** socketOf - a net.Socket for a handle received from master. */
export function socketOf(handle: RawHandle): Socket {
  return new Socket({ handle, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
}

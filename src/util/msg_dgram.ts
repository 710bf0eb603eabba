/**
 * msg_dgram - UNIX-domain datagram sockets for logging (the parts of Postfix
 * util/unix_dgram_connect.c, unix_dgram_listen.c that msg_logger, msg_syslog
 * and postlogd need).
 *
 * Node has no AF_UNIX datagram sockets; the `unix-dgram` package provides
 * them. Sending never blocks: the socket is non-blocking, and a full peer
 * queue is reported as "congestion" with a later "writable" event, so a
 * caller can hold records in a bounded queue instead of stalling.
 */

import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';

/** The subset of the unix-dgram socket API used here. */
interface RawDgramSocket {
  fd: number;
  on(event: 'message', cb: (buf: Buffer) => void): void;
  on(event: 'error', cb: (err: Error & { errno?: number }) => void): void;
  on(event: 'writable' | 'congestion' | 'listening' | 'connect', cb: () => void): void;
  removeAllListeners(event?: string): void;
  bind(path: string): void;
  connect(path: string): void;
  send(buf: Buffer, cb: (err?: Error & { errno?: number; code?: number }) => void): void;
  close(): void;
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram', listener?: (buf: Buffer) => void): RawDgramSocket;
}

let loaded: UnixDgramModule | undefined;

function unixDgram(): UnixDgramModule {
  if (!loaded) loaded = createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
  return loaded;
}

const ERRNO_NAMES = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) {
  if (!ERRNO_NAMES.has(num)) ERRNO_NAMES.set(num, name);
}

/** DgramError - a socket error with the errno name in `code` (ENOENT, ECONNREFUSED ...). */
export class DgramError extends Error {
  constructor(readonly code: string, readonly syscall: string) {
    super(`${syscall}: ${code}`);
    this.name = 'DgramError';
  }
}

/** toDgramError - unix-dgram reports negative errno numbers; name them. */
function toDgramError(err: Error & { errno?: number; code?: number | string }, syscall: string): DgramError {
  const n = typeof err.errno === 'number' ? err.errno : typeof err.code === 'number' ? err.code : NaN;
  const code = Number.isFinite(n) ? ERRNO_NAMES.get(Math.abs(n)) ?? `errno ${n}` : String(err.message);
  return new DgramError(code, syscall);
}

export type SendResult = 'sent' | 'congested';

/**
 * DgramSender - a socket connected to one datagram endpoint.
 * connect() throws DgramError (ENOENT: nothing there; ECONNREFUSED: nobody
 * bound; EACCES ...). send() returns 'sent', or 'congested' when the peer's
 * queue is full (the record was NOT sent; wait for onWritable and retry), and
 * throws DgramError on other errors (ECONNREFUSED when the peer went away).
 */
export class DgramSender {
  private sock: RawDgramSocket | undefined;
  private writableCb: (() => void) | undefined;

  constructor(readonly path: string) {}

  get connected(): boolean {
    return this.sock !== undefined;
  }

  connect(): void {
    if (this.sock) return;
    const sock = unixDgram().createSocket('unix_dgram');
    let failure: DgramError | undefined;
    sock.on('error', (e) => {
      failure = toDgramError(e, 'connect');
    });
    sock.on('congestion', () => undefined);
    sock.on('writable', () => this.writableCb?.());
    sock.connect(this.path);
    if (failure) {
      try {
        sock.close();
      } catch {
        // the descriptor is gone either way
      }
      throw failure;
    }
    this.sock = sock;
  }

  /** onWritable - called once the peer can take datagrams again after 'congested'. */
  onWritable(cb: () => void): void {
    this.writableCb = cb;
  }

  send(buf: Buffer): SendResult {
    if (!this.sock) throw new DgramError('ENOTCONN', 'send');
    let result: SendResult = 'sent';
    let failure: DgramError | undefined;
    this.sock.send(buf, (err) => {
      if (!err) return;
      if (err.message === 'congestion') result = 'congested';
      else failure = toDgramError(err, 'send');
    });
    if (failure) throw failure;
    return result;
  }

  close(): void {
    const sock = this.sock;
    this.sock = undefined;
    if (!sock) return;
    sock.removeAllListeners();
    try {
      sock.close();
    } catch {
      // already closed
    }
  }
}

/** DgramListener - a bound datagram socket (postlogd, tests). */
export interface DgramListener {
  close(): void;
}

/**
 * listenUnixDgram - bind a datagram socket at path (an old socket file is
 * removed first) with the given mode, and call onDatagram for each datagram
 * in arrival order.
 */
export function listenUnixDgram(
  path: string,
  onDatagram: (buf: Buffer) => void,
  onError: (err: DgramError) => void = () => undefined,
): DgramListener {
  const sock = unixDgram().createSocket('unix_dgram', (buf) => onDatagram(buf));
  let failure: DgramError | undefined;
  sock.on('error', (e) => {
    const err = toDgramError(e, 'bind');
    if (!failure) failure = err;
    onError(err);
  });
  sock.bind(path);
  if (failure) {
    try {
      sock.close();
    } catch {
      // nothing to close
    }
    throw failure;
  }
  return {
    close() {
      sock.removeAllListeners();
      try {
        sock.close();
      } catch {
        // already closed
      }
    },
  };
}

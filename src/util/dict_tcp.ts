/**
 * dict_tcp - `tcp:host:port` client (Postfix util/dict_tcp.c, tcp_table(5)).
 *
 * Request `get SPACE key NEWLINE`; reply `200 value`, `500 text` (not found),
 * `400 text` (error), anything else is an error. Key and value are %XX-encoded
 * for bytes <= 32, > 126 and '%'. Replies are limited to 4096 bytes and 100s.
 * One connection per table, opened at the first lookup and re-opened once
 * after a failure.
 */

import { Socket, connect } from 'node:net';
import { DICT_FLAG, DictBase, DictError, DictOpenError } from './dict.js';

const MAX_REPLY = 4096;
const TIMEOUT_MS = 100_000;

export function tcpEncode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b <= 32 || b > 126 || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}

export function tcpDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** LineClient - one request/one line reply over a stream socket, with limits. */
export class LineClient {
  private sock?: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter?: { resolve: (line: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  private failure?: Error;

  constructor(
    private readonly target: { host: string; port: number } | { path: string },
    private readonly frame: (buf: Buffer) => { msg: Buffer; rest: Buffer } | undefined | Error,
  ) {}

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.buf = Buffer.alloc(0);
      this.failure = undefined;
      const sock = 'path' in this.target ? connect(this.target.path) : connect(this.target.port, this.target.host);
      const onError = (e: Error): void => {
        sock.destroy();
        reject(e);
      };
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        this.sock = sock;
        sock.on('data', (d) => this.onData(d));
        sock.on('error', (e) => this.fail(e));
        sock.on('close', () => this.fail(new Error('connection closed')));
        resolve();
      });
    });
  }

  private fail(e: Error): void {
    this.failure = e;
    this.sock?.destroy();
    this.sock = undefined;
    if (this.waiter) {
      clearTimeout(this.waiter.timer);
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(e);
    }
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.waiter) return;
    const r = this.frame(this.buf);
    if (r instanceof Error) return this.fail(r);
    if (!r) return;
    this.buf = r.rest;
    clearTimeout(this.waiter.timer);
    const w = this.waiter;
    this.waiter = undefined;
    w.resolve(r.msg);
  }

  /** request - send and wait for one framed reply; retries once on a broken connection. */
  async request(data: Buffer): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (!this.sock || this.failure) await this.open();
        return await new Promise<Buffer>((resolve, reject) => {
          const timer = setTimeout(() => this.fail(new Error('timeout')), TIMEOUT_MS);
          this.waiter = { resolve, reject, timer };
          this.sock!.write(data);
        });
      } catch (e) {
        this.sock?.destroy();
        this.sock = undefined;
        if (attempt >= 1) throw e;
      }
    }
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}

export class DictTcp extends DictBase {
  private readonly client: LineClient;

  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('tcp', name, dictFlags | DICT_FLAG.PATTERN);
    const colon = name.lastIndexOf(':');
    const port = Number(name.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new DictOpenError(`open dictionary: expecting "tcp:host:port" form instead of "tcp:${name}"`);
    }
    const host = name.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.client = new LineClient({ host, port }, (buf) => {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return buf.length > MAX_REPLY ? new Error('reply too long') : undefined;
      if (nl > MAX_REPLY) return new Error('reply too long');
      return { msg: buf.subarray(0, nl), rest: buf.subarray(nl + 1) };
    });
  }

  async lookup(key: string): Promise<string | null> {
    let line: string;
    try {
      line = (await this.client.request(Buffer.from(`get ${tcpEncode(this.fold(key))}\n`))).toString('latin1').replace(/\r$/, '');
    } catch (e) {
      throw new DictError(`${this.name}: ${(e as Error).message}`);
    }
    const m = /^(\d{3})[ -]?(.*)$/.exec(line);
    if (!m) throw new DictError(`${this.name}: malformed reply: ${line.slice(0, 100)}`);
    if (m[1] === '200') return tcpDecode(m[2]);
    if (m[1] === '500') return null;
    throw new DictError(`${this.name}: ${tcpDecode(m[2])}`);
  }

  override async close(): Promise<void> {
    this.client.close();
  }
}

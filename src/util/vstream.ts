/**
 * vstream - buffered, pull-style reading of a byte stream with deadlines
 * (Postfix util/vstream.c, timed_read.c).
 *
 * Protocol code asks for exactly what it expects next (a byte, N bytes, a
 * line up to a bound, an attribute list) and awaits it; every wait has a
 * deadline, and every read is bounded, so a slow or hostile peer can neither
 * stall a daemon forever nor make it buffer without limit.
 */

import type { Duplex } from 'node:stream';

export class TimeoutError extends Error {
  constructor(message = 'timeout') {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** Thrown when input breaks a length limit (line too long, record too large). */
export class LimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitError';
  }
}

export interface VStreamOptions {
  /** read deadline per wait, in milliseconds (0 = none) */
  timeout?: number;
  /** pause the socket when this much is buffered (back-pressure) */
  highWater?: number;
}

export class VStream {
  readonly sock: Duplex;
  timeout: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly highWater: number;
  /** total bytes consumed by readers (for offsets and statistics) */
  consumed = 0;

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered >= this.highWater) this.sock.pause();
    this.notify();
  };

  constructor(sock: Duplex, opts: VStreamOptions = {}) {
    this.sock = sock;
    this.timeout = opts.timeout ?? 0;
    this.highWater = opts.highWater ?? 256 * 1024;
    sock.on('data', this.onData);
    sock.on('end', () => {
      this.ended = true;
      this.notify();
    });
    sock.on('close', () => {
      this.ended = true;
      this.notify();
    });
    sock.on('error', (err: Error) => {
      this.failure = err;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    if (w) w();
  }

  /**
   * detach - stop reading the socket (another reader takes over, e.g. the TLS
   * layer in smtps wrapper mode); take what is buffered with readSome() first.
   * The VStream must not be used after.
   */
  detach(): Duplex {
    this.sock.off('data', this.onData);
    return this.sock;
  }

  /** bytes available without waiting */
  get available(): number {
    return this.buffered;
  }

  /** true when the peer has closed and everything was read */
  get eof(): boolean {
    return this.ended && this.buffered === 0;
  }

  /** waitData - wait until more input arrives, the stream ends, or the deadline passes. */
  private waitData(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve();
    if (this.sock.isPaused()) this.sock.resume();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      this.wake = () => {
        if (timer) clearTimeout(timer);
        if (this.failure) reject(this.failure);
        else resolve();
      };
      if (this.timeout > 0) {
        timer = setTimeout(() => {
          this.wake = undefined;
          reject(new TimeoutError());
        }, this.timeout);
      }
    });
  }

  /** fill - make at least n bytes available; false if the stream ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.buffered < n) {
      if (this.ended) return false;
      await this.waitData();
      if (this.failure) throw this.failure;
    }
    return true;
  }

  private take(n: number): Buffer {
    let out: Buffer;
    if (this.chunks[0].length >= n) {
      const first = this.chunks[0];
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.concat(this.chunks, this.buffered);
      const rest = out.subarray(n);
      out = out.subarray(0, n);
      this.chunks = rest.length > 0 ? [rest] : [];
    }
    this.buffered -= n;
    this.consumed += n;
    if (this.buffered < this.highWater / 2 && this.sock.isPaused() && !this.ended) this.sock.resume();
    return out;
  }

  /** readByte - the next byte, or -1 at end of input. */
  async readByte(): Promise<number> {
    if (!(await this.fill(1))) return -1;
    return this.take(1)[0];
  }

  /** readBytes - exactly n bytes; throws at premature end of input. */
  async readBytes(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    if (!(await this.fill(n))) throw new Error(`premature end of input (wanted ${n} bytes, have ${this.buffered})`);
    return this.take(n);
  }

  /** readSome - up to max bytes that are available now (waits for at least one); empty at EOF. */
  async readSome(max: number): Promise<Buffer> {
    if (!(await this.fill(1))) return Buffer.alloc(0);
    return this.take(Math.min(max, this.buffered));
  }

  /** indexOf - position of a byte in the buffered input, or -1. */
  private indexOf(byte: number, limit: number): number {
    let base = 0;
    for (const chunk of this.chunks) {
      const idx = chunk.indexOf(byte);
      if (idx >= 0 && base + idx < limit) return base + idx;
      base += chunk.length;
      if (base >= limit) break;
    }
    return -1;
  }

  /**
   * readUntil - bytes up to and including the delimiter byte. When `max`
   * bytes arrive without one, returns those max bytes (the caller decides:
   * Postfix splits long lines). Returns null at end of input with nothing
   * buffered; a final unterminated piece is returned as is.
   */
  async readUntil(delimiter: number, max: number): Promise<Buffer | null> {
    for (;;) {
      const idx = this.indexOf(delimiter, max);
      if (idx >= 0) return this.take(idx + 1);
      if (this.buffered >= max) return this.take(max);
      if (this.ended) return this.buffered > 0 ? this.take(this.buffered) : null;
      await this.waitData();
    }
  }

  /** peek - up to n buffered bytes from the front, not consumed (fewer when fewer are buffered). */
  peek(n: number): Buffer {
    if (this.chunks.length === 0 || n <= 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length >= n || this.chunks.length === 1) return first.subarray(0, n);
    const parts: Buffer[] = [];
    let have = 0;
    for (const c of this.chunks) {
      parts.push(c);
      have += c.length;
      if (have >= n) break;
    }
    return Buffer.concat(parts, have).subarray(0, n);
  }

  /** tryReadBytes - exactly n bytes when that many are buffered, else undefined (nothing consumed). */
  tryReadBytes(n: number): Buffer | undefined {
    if (n === 0) return Buffer.alloc(0);
    if (this.buffered < n) return undefined;
    return this.take(n);
  }

  /**
   * tryReadUntil - readUntil() without waiting: the same result when it is
   * already decided by the buffered input, else undefined (then call
   * readUntil). Saves the promise round trip per line of bulk input.
   */
  tryReadUntil(delimiter: number, max: number): Buffer | null | undefined {
    const idx = this.indexOf(delimiter, max);
    if (idx >= 0) return this.take(idx + 1);
    if (this.buffered >= max) return this.take(max);
    if (this.ended) return this.buffered > 0 ? this.take(this.buffered) : null;
    return undefined;
  }

  /** write - queue bytes for the peer (the socket buffers; use flush() to wait for drain). */
  write(data: Buffer | string): boolean {
    return this.sock.write(data);
  }

  /** flush - resolve when the socket's write buffer has drained. */
  flush(): Promise<void> {
    const sock = this.sock as Duplex & { writableNeedDrain?: boolean };
    if (!sock.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        sock.off('error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        sock.off('drain', onDrain);
        reject(err);
      };
      sock.once('drain', onDrain);
      sock.once('error', onError);
    });
  }

  /** close - end the write side and release the socket. */
  close(): void {
    this.sock.end();
  }
}

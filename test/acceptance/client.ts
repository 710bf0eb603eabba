/**
 * client - a raw SMTP client for the acceptance tests: writes bytes as given
 * and collects the server's reply lines, so that tests compare them with
 * Postfix's texts byte for byte (no library in between to hide a difference).
 */

import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export class RawClient {
  private sock: Socket | TLSSocket;
  private buf = '';
  closed = false;
  error: Error | undefined;
  private waiters: Array<() => void> = [];

  private constructor(sock: Socket) {
    this.sock = sock;
    this.attach(sock);
  }

  private attach(sock: Socket | TLSSocket): void {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', (e) => {
      this.error = e;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** openTls - a connection that is TLS from the first byte (smtps); any server certificate is accepted. */
  static openTls(port: number, opts: ConnectionOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ rejectUnauthorized: false, ...opts, host: '127.0.0.1', port });
      s.once('secureConnect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** lines - every complete reply line received so far (CRLF removed). */
  lines(): string[] {
    const parts = this.buf.split('\r\n');
    return parts.slice(0, -1);
  }

  /** finals - the number of complete replies (last lines: "ddd " or a bare code). */
  private finals(): number {
    return this.lines().filter((l) => /^\d{3}( |$)/.test(l)).length;
  }

  /** replies - wait until n complete replies are in (or the connection closed, or the time is up). */
  async replies(n: number, timeoutMs = 15000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    while (this.finals() < n && !this.closed && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.lines();
  }

  /** waitClosed - until the server closes (or the time is up); true when closed. */
  async waitClosed(timeoutMs = 15000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.sock.write(data);
  }

  /**
   * starttls - switch the connection to TLS (after the 220 reply); forgets
   * what was read. opts adds to the defaults (any server certificate is
   * accepted): a client certificate, maxVersion, ca, servername.
   */
  starttls(opts: ConnectionOptions = {}): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const plain = this.sock as Socket;
      plain.removeAllListeners('data');
      plain.removeAllListeners('close');
      plain.removeAllListeners('error');
      const t = tlsConnect({ rejectUnauthorized: false, ...opts, socket: plain }, () => {
        this.buf = '';
        resolve(t);
      });
      t.once('error', reject);
      this.sock = t;
      this.attach(t);
    });
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/**
 * tls_client - a raw SMTP client for the client-certificate tests: plain
 * greeting and EHLO, STARTTLS, then the TLS handshake with an optional client
 * certificate; collects reply lines byte for byte.
 */

import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Credentials {
  cert: Buffer;
  key: Buffer;
}

export class TlsClient {
  private sock: Socket | TLSSocket;
  private buf = '';
  closed = false;
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
    sock.on('error', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static open(port: number): Promise<TlsClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new TlsClient(s)));
      s.once('error', reject);
    });
  }

  lines(): string[] {
    return this.buf.split('\r\n').slice(0, -1);
  }

  private finals(): number {
    return this.lines().filter((l) => /^\d{3}( |$)/.test(l)).length;
  }

  /** replies - wait until n complete replies are in (or the connection closed, or 20 s passed). */
  async replies(n: number, timeoutMs = 20000): Promise<string[]> {
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

  write(data: string): void {
    if (!this.closed) this.sock.write(data);
  }

  /** starttls - TLS over the connection (after "220 2.0.0 Ready to start TLS"); the reply lines start afresh. */
  starttls(creds: Credentials | null, maxVersion?: 'TLSv1.2' | 'TLSv1.3'): Promise<void> {
    return new Promise((resolve, reject) => {
      const plain = this.sock as Socket;
      plain.removeAllListeners('data');
      plain.removeAllListeners('close');
      plain.removeAllListeners('error');
      const t = tlsConnect({ socket: plain, rejectUnauthorized: false, ...(creds ?? {}), ...(maxVersion ? { maxVersion } : {}) }, () => {
        this.buf = '';
        resolve();
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

/**
 * tlsSession - greeting, EHLO, STARTTLS and the handshake with creds, then
 * each [command, replies] step; returns the reply lines after the handshake.
 */
export async function tlsSession(port: number, creds: Credentials | null, steps: Array<[string, number]>, maxVersion?: 'TLSv1.2' | 'TLSv1.3'): Promise<string[]> {
  const c = await TlsClient.open(port);
  try {
    await c.replies(1);
    c.write('EHLO client.example.test\r\n');
    await c.replies(2);
    c.write('STARTTLS\r\n');
    const got = await c.replies(3);
    if (!got.includes('220 2.0.0 Ready to start TLS')) throw new Error(`no STARTTLS: ${got.join(' | ')}`);
    await c.starttls(creds, maxVersion);
    let n = 0;
    for (const [data, replies] of steps) {
      c.write(data);
      n += replies;
      await c.replies(n);
    }
    return c.lines();
  } finally {
    c.destroy();
  }
}

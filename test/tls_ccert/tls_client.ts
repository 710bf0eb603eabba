/**
 * tls_client - the client-certificate tests' SMTP session: plain greeting
 * and EHLO, STARTTLS, then the TLS handshake with an optional client
 * certificate, over the acceptance tests' raw client (reply lines byte for
 * byte).
 */

import { RawClient } from '../acceptance/client.js';

export interface Credentials {
  cert: Buffer;
  key: Buffer;
}

/**
 * tlsSession - greeting, EHLO, STARTTLS and the handshake with creds, then
 * each [command, replies] step; returns the reply lines after the handshake.
 */
export async function tlsSession(port: number, creds: Credentials | null, steps: Array<[string, number]>, maxVersion?: 'TLSv1.2' | 'TLSv1.3'): Promise<string[]> {
  const c = await RawClient.open(port);
  try {
    await c.replies(1, 20000);
    c.write('EHLO client.example.test\r\n');
    await c.replies(2, 20000);
    c.write('STARTTLS\r\n');
    const got = await c.replies(3, 20000);
    if (!got.includes('220 2.0.0 Ready to start TLS')) throw new Error(`no STARTTLS: ${got.join(' | ')}`);
    await c.starttls({ ...(creds ?? {}), ...(maxVersion ? { maxVersion } : {}) });
    let n = 0;
    for (const [data, replies] of steps) {
      c.write(data);
      n += replies;
      await c.replies(n, 20000);
    }
    return c.lines();
  } finally {
    c.destroy();
  }
}

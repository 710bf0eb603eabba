/**
 * tls_misc - what Postfix says about a finished TLS handshake (Postfix
 * src/tls/tls_misc.c tls_log_summary(), tls_session.c), shared by smtpd and
 * the smtp client:
 *
 *   TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
 *     key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256
 *
 * Node reports the key-exchange group only on the client side; smtpd
 * predicts it from the ClientHello (helloKeyExchange) as OpenSSL picks it.
 * The "server" is the peer for the client and ourselves for the server; a
 * "client-signature ..." part follows when a client certificate was used.
 * As in Postfix, the key-exchange and signature parts exist for TLS 1.3
 * only ("TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)").
 */

import type { PeerCertificate, TLSSocket } from 'node:tls';

/** cipherBits - the symmetric key size of a cipher suite name. */
export function cipherBits(name: string): number {
  if (/AES_?256|AES256|CHACHA20/i.test(name)) return 256;
  if (/AES_?128|AES128/i.test(name)) return 128;
  if (/3DES|DES-CBC3/i.test(name)) return 168;
  return 0;
}

export interface TlsParts {
  protocol: string;
  cipher: string;
  bits: number;
  /** " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256[ client-signature ...]", or "" */
  details: string;
}

type SigCert = PeerCertificate & { asn1Curve?: string; nistCurve?: string; bits?: number; modulus?: string };

/** signature - " server-signature RSA-PSS (2048 bits) server-digest SHA256" for a certificate's key, or "". */
function signature(role: 'server' | 'client', cert: SigCert | null, protocol: string): string {
  if (!cert || Object.keys(cert).length === 0) return '';
  if (cert.modulus) return ` ${role}-signature ${protocol === 'TLSv1.3' ? 'RSA-PSS' : 'RSA'} (${cert.bits} bits) ${role}-digest SHA256`;
  if (cert.asn1Curve || cert.nistCurve) return ` ${role}-signature ECDSA (${cert.nistCurve ?? cert.asn1Curve}) ${role}-digest SHA256`;
  return '';
}

/** keyExchange - " key-exchange X25519", " key-exchange ECDHE (prime256v1)", " key-exchange DHE (2048 bits)", or "". */
function keyExchange(kx: { type?: string; name?: string; size?: number } | null): string {
  if (!kx || !kx.type) return '';
  if (kx.type === 'DH') return ` key-exchange DHE${kx.size ? ` (${kx.size} bits)` : ''}`;
  if (kx.name === 'X25519' || kx.name === 'X448') return ` key-exchange ${kx.name}`;
  if (kx.type === 'ECDH') return ` key-exchange ECDHE${kx.name ? ` (${kx.name})` : ''}`;
  return kx.name ? ` key-exchange ${kx.name}` : '';
}

/** OpenSSL 3's default groups, in its order (what a Node TLS server supports). */
const SERVER_GROUPS = [29, 23, 30, 25, 24, 256, 257, 258, 259, 260];

const GROUP_KEX: Record<number, string> = {
  29: ' key-exchange X25519',
  30: ' key-exchange X448',
  23: ' key-exchange ECDHE (prime256v1)',
  24: ' key-exchange ECDHE (secp384r1)',
  25: ' key-exchange ECDHE (secp521r1)',
  256: ' key-exchange DHE (2048 bits)',
  257: ' key-exchange DHE (3072 bits)',
  258: ' key-exchange DHE (4096 bits)',
  259: ' key-exchange DHE (6144 bits)',
  260: ' key-exchange DHE (8192 bits)',
};

/**
 * helloKeyExchange - the TLS 1.3 key exchange a Node server will choose for
 * a ClientHello record (Node tells a server nothing about it): the first
 * key share the client sent in a group OpenSSL supports, else (after a
 * HelloRetryRequest) the first such group of the client's supported_groups.
 * "" when the record is not a readable ClientHello. Bounds-checked: the
 * bytes come from the network.
 */
export function helloKeyExchange(rec: Buffer): string {
  try {
    if (rec.length < 9 || rec[0] !== 0x16 || rec[5] !== 0x01) return '';
    const end = Math.min(rec.length, 9 + rec.readUIntBE(6, 3));
    let p = 9 + 2 + 32;
    p += 1 + rec[p]; // session id
    p += 2 + rec.readUInt16BE(p); // cipher suites
    p += 1 + rec[p]; // compression methods
    const extEnd = Math.min(end, p + 2 + rec.readUInt16BE(p));
    p += 2;
    const shares: number[] = [];
    const groups: number[] = [];
    while (p + 4 <= extEnd) {
      const type = rec.readUInt16BE(p);
      const len = rec.readUInt16BE(p + 2);
      const data = p + 4;
      if (data + len > extEnd) break;
      if (type === 10 && len >= 2) {
        for (let q = data + 2; q + 2 <= Math.min(data + 2 + rec.readUInt16BE(data), data + len); q += 2) groups.push(rec.readUInt16BE(q));
      } else if (type === 51 && len >= 2) {
        let q = data + 2;
        const sharesEnd = Math.min(data + 2 + rec.readUInt16BE(data), data + len);
        while (q + 4 <= sharesEnd) {
          shares.push(rec.readUInt16BE(q));
          q += 4 + rec.readUInt16BE(q + 2);
        }
      }
      p = data + len;
    }
    const chosen = shares.find((g) => SERVER_GROUPS.includes(g)) ?? groups.find((g) => SERVER_GROUPS.includes(g));
    return chosen === undefined ? '' : GROUP_KEX[chosen] ?? '';
  } catch (e) {
    if (e instanceof RangeError) return ''; // a truncated hello: the handshake will fail on its own
    throw e;
  }
}

/**
 * tlsParts - protocol, cipher and the key-exchange/signature details of a
 * session; a server passes the key exchange it learned from the ClientHello.
 */
export function tlsParts(t: TLSSocket, side: 'client' | 'server', serverKex = ''): TlsParts {
  const protocol = t.getProtocol() ?? 'unknown';
  const cipher = t.getCipher();
  const bits = cipherBits(cipher.standardName ?? cipher.name);
  let details = '';
  // Postfix reports key exchange and signatures for TLS 1.3 sessions only
  if (protocol !== 'TLSv1.3') return { protocol, cipher: cipher.name, bits, details };
  details += side === 'server' ? serverKex : keyExchange(t.getEphemeralKeyInfo() as { type?: string; name?: string; size?: number } | null);
  // The server's signature comes from its certificate: the peer's, or our own.
  details += signature('server', (side === 'client' ? t.getPeerCertificate() : t.getCertificate()) as SigCert | null, protocol);
  // The client signs only when the server asked for a certificate and got one:
  // the server sees the peer's; the client knows it was asked when the server
  // sent signature algorithms for it (CertificateRequest).
  if (side === 'server') details += signature('client', t.getPeerCertificate() as SigCert | null, protocol);
  else if (t.getSharedSigalgs().length > 0) details += signature('client', t.getCertificate() as SigCert | null, protocol);
  return { protocol, cipher: cipher.name, bits, details };
}

/** tlsSummary - the one-line form used in log lines. */
export function tlsSummary(t: TLSSocket, side: 'client' | 'server'): string {
  const p = tlsParts(t, side);
  return `${p.protocol} with cipher ${p.cipher} (${p.bits}/${p.bits} bits)${p.details}`;
}

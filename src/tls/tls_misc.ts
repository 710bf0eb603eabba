/**
 * tls_misc - what Postfix says about a finished TLS handshake (Postfix
 * src/tls/tls_misc.c tls_log_summary(), tls_session.c), shared by smtpd and
 * the smtp client:
 *
 *   TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
 *     key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256
 *
 * The "server" is the peer for the client and ourselves for the server.
 * Node reports the key-exchange group only on the client side
 * (getEphemeralKeyInfo() is empty on a server socket), so smtpd's lines
 * lack "key-exchange X25519"; everything else is as Postfix writes it.
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
  /** " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256", or "" */
  details: string;
}

/** tlsParts - protocol, cipher and the key-exchange/signature details of a session. */
export function tlsParts(t: TLSSocket, side: 'client' | 'server'): TlsParts {
  const protocol = t.getProtocol() ?? 'unknown';
  const cipher = t.getCipher();
  const bits = cipherBits(cipher.standardName ?? cipher.name);
  let details = '';
  const kx = t.getEphemeralKeyInfo() as { name?: string } | null;
  if (kx && kx.name) details += ` key-exchange ${kx.name}`;
  // The server's signature comes from its certificate: the peer's, or our own.
  const cert = (side === 'client' ? t.getPeerCertificate() : t.getCertificate()) as
    | (PeerCertificate & { asn1Curve?: string; nistCurve?: string; bits?: number; modulus?: string })
    | null;
  if (cert && Object.keys(cert).length) {
    if (cert.modulus) details += ` server-signature ${protocol === 'TLSv1.3' ? 'RSA-PSS' : 'RSA'} (${cert.bits} bits) server-digest SHA256`;
    else if (cert.asn1Curve || cert.nistCurve) details += ` server-signature ECDSA (${cert.nistCurve ?? cert.asn1Curve}) server-digest SHA256`;
  }
  return { protocol, cipher: cipher.name, bits, details };
}

/** tlsSummary - the one-line form used in log lines. */
export function tlsSummary(t: TLSSocket, side: 'client' | 'server'): string {
  const p = tlsParts(t, side);
  return `${p.protocol} with cipher ${p.cipher} (${p.bits}/${p.bits} bits)${p.details}`;
}

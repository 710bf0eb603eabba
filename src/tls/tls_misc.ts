/**
 * tls_misc - what Postfix says about a finished TLS handshake (Postfix
 * src/tls/tls_misc.c tls_log_summary(), tls_session.c), shared by smtpd and
 * the smtp client:
 *
 *   TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
 *     key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256
 *
 * The "server" is the peer for the client and ourselves for the server; a
 * "client-signature ..." part follows when a client certificate was used.
 * As in Postfix, the key-exchange and signature parts exist for TLS 1.3
 * only ("TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)").
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

/** tlsParts - protocol, cipher and the key-exchange/signature details of a session. */
export function tlsParts(t: TLSSocket, side: 'client' | 'server'): TlsParts {
  const protocol = t.getProtocol() ?? 'unknown';
  const cipher = t.getCipher();
  const bits = cipherBits(cipher.standardName ?? cipher.name);
  let details = '';
  // Postfix reports key exchange and signatures for TLS 1.3 sessions only
  if (protocol !== 'TLSv1.3') return { protocol, cipher: cipher.name, bits, details };
  details += keyExchange(t.getEphemeralKeyInfo() as { type?: string; name?: string; size?: number } | null);
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

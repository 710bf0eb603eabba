/**
 * tls_fprint - certificate and public-key fingerprints (Postfix
 * src/tls/tls_fprint.c tls_cert_fprint(), tls_pkey_fprint(),
 * tls_digest_encode()).
 *
 * A fingerprint is the digest (smtpd_tls_fingerprint_digest,
 * smtp_tls_fingerprint_digest: md5, sha1, sha256 ...) of the DER form of the
 * certificate, or of its DER SubjectPublicKeyInfo, written as uppercase hex
 * byte pairs joined by colons ("E0:C7:04:..."), as Postfix writes it in log
 * lines, policy requests and access-table keys.
 */

import { createHash, getHashes, type X509Certificate } from 'node:crypto';
import type { MailConfig } from '../global/mail_conf.js';

/** digestEncode - "AB:CD:..." from raw digest bytes. */
export function digestEncode(raw: Buffer): string {
  const out: string[] = [];
  for (const b of raw) out.push(b.toString(16).toUpperCase().padStart(2, '0'));
  return out.join(':');
}

/** validDigest - whether the named digest algorithm is available (Postfix: "digest algorithm not found"). */
export function validDigest(mdalg: string): boolean {
  return getHashes().includes(mdalg.toLowerCase());
}

/** certFprint - digest of the certificate's DER encoding. */
export function certFprint(cert: X509Certificate, mdalg: string): string {
  return digestEncode(createHash(mdalg.toLowerCase()).update(cert.raw).digest());
}

/** pkeyFprint - digest of the certificate's DER SubjectPublicKeyInfo. */
export function pkeyFprint(cert: X509Certificate, mdalg: string): string {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return digestEncode(createHash(mdalg.toLowerCase()).update(spki).digest());
}

/** digestLength - output size in bytes of a digest algorithm. */
export function digestLength(mdalg: string): number {
  return createHash(mdalg.toLowerCase()).digest().length;
}

/**
 * hexDecodeOpt - Postfix hex_decode_opt(HEX_DECODE_FLAG_ALLOW_COLON): hex
 * byte pairs, optionally separated by single colons; null when malformed.
 */
export function hexDecodeOpt(text: string): Buffer | null {
  if (!/^[0-9A-Fa-f]{2}(:?[0-9A-Fa-f]{2})*$/.test(text)) return null;
  return Buffer.from(text.replace(/:/g, ''), 'hex');
}

/** fingerprintDigest - the digest named by a *_tls_fingerprint_digest parameter. */
export function fingerprintDigest(config: MailConfig, param: string): string {
  return config.str(param).trim().toLowerCase() || 'sha256';
}

/**
 * fprintCompatText - Postfix's note when the md5 default of
 * compatibility_level < 3.6 is in effect for a fingerprint digest
 * parameter that main.cf does not set; null otherwise.
 */
export function fprintCompatText(config: MailConfig, param: string): string | null {
  if (!config.compatWarnings().has(param)) return null;
  return `using backwards-compatible default setting ${param}=md5 to compute certificate fingerprints`;
}

/**
 * tls_verify - what Postfix learns and logs about a peer certificate
 * (Postfix src/tls/tls_verify.c tls_peer_CN(), tls_issuer_CN(),
 * tls_log_verify_error(), tls_verify_certificate_callback(), and the
 * peer-certificate part of tls_server.c tls_server_post_accept()).
 *
 * Node verifies the chain itself (TLSSocket.authorized/authorizationError);
 * this module turns the result into Postfix's facts: the peer CommonName,
 * the issuer CommonName (or Organization), fingerprints, the trust flag, and
 * the log texts. It never trusts anything Node did not verify.
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { certFprint, pkeyFprint } from './tls_fprint.js';

/**
 * caCerts - the trust anchors: the PEM text of a CAfile and of the
 * certificates in a CApath (*.pem, *.crt and the hashed "xxxxxxxx.0" names),
 * in name order. Throws when one cannot be read.
 */
export function caCerts(file: string, dir: string): Buffer[] {
  const out: Buffer[] = [];
  if (file) out.push(readFileSync(file));
  if (dir) {
    for (const f of readdirSync(dir).sort()) if (/\.(pem|crt|\d+)$/.test(f)) out.push(readFileSync(join(dir, f)));
  }
  return out;
}

/** What a session knows about the peer certificate (TLS_SESS_STATE peer_*). */
export interface PeerCertInfo {
  /** a certificate was presented (TLS_CERT_FLAG_PRESENT) */
  present: boolean;
  /** it chains to a trusted CA within the depth limit (TLS_CERT_FLAG_TRUSTED) */
  trusted: boolean;
  peerCN: string;
  issuerCN: string;
  certFprint: string;
  pkeyFprint: string;
  /** "/C=US/O=Example/CN=name" (X509_NAME_oneline) */
  subject: string;
  issuer: string;
  /** Node's verification error code ("DEPTH_ZERO_SELF_SIGNED_CERT"), or "" */
  error: string;
  /** the issuer of the last certificate of the peer's chain ("untrusted issuer ...") */
  topIssuer: string;
}

export const NO_PEER_CERT: PeerCertInfo = {
  present: false,
  trusted: false,
  peerCN: '',
  issuerCN: '',
  certFprint: '',
  pkeyFprint: '',
  subject: '',
  issuer: '',
  error: '',
  topIssuer: '',
};

/** nameEntries - the RDN entries of an X509Certificate subject/issuer string, in order. */
function nameEntries(name: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of name.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}

/** nameOneline - X509_NAME_oneline(): "/C=US/O=Test CA/CN=Test Root CA". */
export function nameOneline(name: string): string {
  return nameEntries(name)
    .map(([k, v]) => `/${k}=${v}`)
    .join('');
}

/** textName - the first value of an attribute type, made printable, or null (tls_text_name). */
function textName(name: string, type: string): string | null {
  const e = nameEntries(name).find(([k]) => k === type);
  if (!e) return null;
  const v = e[1].replace(/\0+$/, '');
  if (v.length === 0 || v.includes('\0')) return null;
  return printable(v);
}

/** printable - control characters become '?' (Postfix printable()). */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, '?');
}

/**
 * peerCN - the subject CommonName, else "" (tls_peer_CN; its fallback, the
 * name a client matched the server by, never applies to a client
 * certificate).
 */
export function peerCN(cert: X509Certificate): string {
  return textName(cert.subject, 'CN') ?? '';
}

/** issuerCN - the issuer CommonName, else its Organization, else "" (tls_issuer_CN). */
export function issuerCN(cert: X509Certificate): string {
  return textName(cert.issuer, 'CN') ?? textName(cert.issuer, 'O') ?? '';
}

/** chainLength - certificates from the peer's leaf up to its root as Node assembled them. */
function chainLength(t: TLSSocket): number {
  let c = t.getPeerCertificate(true) as DetailedPeerCertificate | PeerCertificate;
  let n = 0;
  const seen = new Set<string>();
  while (c && Object.keys(c).length > 0 && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    n++;
    c = (c as DetailedPeerCertificate).issuerCertificate;
  }
  return n;
}

/**
 * peerX509 - the peer certificate as an X509Certificate, or undefined.
 * Built from getPeerCertificate().raw: Node 20's getPeerX509Certificate()
 * takes the certificate out of a client socket's peer chain, after which
 * the socket reports no peer certificate at all.
 */
export function peerX509(t: TLSSocket): X509Certificate | undefined {
  const c = t.getPeerCertificate();
  return c && c.raw ? new X509Certificate(c.raw) : undefined;
}

/**
 * verifyError - OpenSSL's verification result for the peer certificate
 * ("" when it verified). Node sets TLSSocket.authorized only for sockets of
 * a tls.Server or tls.connect(); smtpd wraps accepted sockets itself
 * (STARTTLS), so the result is read where Node itself reads it.
 */
function verifyError(t: TLSSocket): string {
  const handle = (t as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
  if (handle && typeof handle.verifyError === 'function') {
    const e = handle.verifyError();
    return e ? String(e.code ?? 'UNSPECIFIED') : '';
  }
  return t.authorized ? '' : String(t.authorizationError ?? 'UNSPECIFIED');
}

/**
 * peerCertInfo - the facts about the peer certificate of a finished
 * handshake. verifyDepth is *_tls_ccert_verifydepth / *_tls_scert_verifydepth:
 * Postfix gives OpenSSL depth+1, which admits chains of up to depth+3
 * certificates counting the trust anchor.
 */
export function peerCertInfo(t: TLSSocket, mdalg: string, verifyDepth: number): PeerCertInfo {
  const x509 = peerX509(t);
  if (!x509) return NO_PEER_CERT;
  let error = verifyError(t);
  if (!error && chainLength(t) > verifyDepth + 3) error = 'CERT_CHAIN_TOO_LONG';
  return {
    present: true,
    trusted: error === '',
    peerCN: peerCN(x509),
    issuerCN: issuerCN(x509),
    certFprint: certFprint(x509, mdalg),
    pkeyFprint: pkeyFprint(x509, mdalg),
    subject: printable(nameOneline(x509.subject)),
    issuer: printable(nameOneline(x509.issuer)),
    error,
    topIssuer: printable(chainTopIssuer(t)),
  };
}

/** chainTopIssuer - "/C=../CN=.." of the issuer of the last certificate of the peer's chain (OpenSSL's error certificate when no issuer is found). */
export function chainTopIssuer(t: TLSSocket): string {
  let c = t.getPeerCertificate(true) as DetailedPeerCertificate;
  const seen = new Set<string>();
  while (c?.issuerCertificate && Object.keys(c.issuerCertificate).length > 0 && !seen.has(c.fingerprint256) && c.issuerCertificate.fingerprint256 !== c.fingerprint256) {
    seen.add(c.fingerprint256);
    c = c.issuerCertificate;
  }
  return Object.entries(c?.issuer ?? {})
    .map(([k, v]) => (Array.isArray(v) ? v.map((x) => `/${k}=${x}`).join('') : `/${k}=${v}`))
    .join('');
}

/**
 * verifyDepthLines - the "depth=N verify=V subject=..." lines Postfix logs
 * at loglevel 2 from its verification callback, for the chain Node built:
 * from the top down; an untrusted leaf is reported once failing, then
 * accepted (Postfix always continues the handshake).
 */
export function verifyDepthLines(t: TLSSocket, info: PeerCertInfo, namaddr: string): string[] {
  if (!info.present) return [];
  if (!info.trusted) {
    return [`${namaddr}: depth=0 verify=0 subject=${info.subject}`, `${namaddr}: depth=0 verify=1 subject=${info.subject}`];
  }
  const subjects: string[] = [];
  const oneline = (name: object | undefined) =>
    printable(Object.entries(name ?? {}).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `/${k}=${x}`) : [`/${k}=${v}`])).join(''));
  let c = t.getPeerCertificate(true) as DetailedPeerCertificate;
  let last: DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (c && Object.keys(c).length > 0 && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    subjects.push(oneline(c.subject));
    last = c;
    c = c.issuerCertificate;
  }
  // the trust anchor came from our CA file, not from the peer (the client side does not list it)
  if (last && oneline(last.issuer) !== oneline(last.subject)) subjects.push(oneline(last.issuer));
  subjects[0] = info.subject;
  return subjects.map((s, depth) => `${namaddr}: depth=${depth} verify=1 subject=${s}`).reverse();
}

/**
 * verifyErrorText - tls_log_verify_error(): why a peer certificate was not
 * trusted, in Postfix's words ("certificate verification failed for
 * host[addr]: self-signed certificate"); role is "client" in smtpd.
 */
export function verifyErrorText(info: PeerCertInfo, namaddr: string, role: 'client' | 'server', verifyDepth = 9): string {
  switch (info.error) {
    case '':
      return '';
    case 'CERT_UNTRUSTED':
      return `certificate verification failed for ${namaddr}: not trusted by local or TLSA policy`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `certificate verification failed for ${namaddr}: self-signed certificate`;
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return `certificate verification failed for ${namaddr}: untrusted issuer ${info.topIssuer || info.issuer}`;
    case 'CERT_NOT_YET_VALID':
      return `${role} certificate verification failed for ${namaddr}: certificate not yet valid`;
    case 'CERT_HAS_EXPIRED':
      return `${role} certificate verification failed for ${namaddr}: certificate has expired`;
    case 'INVALID_PURPOSE':
      return `certificate verification failed for ${namaddr}: not designated for use as a ${role} certificate`;
    case 'CERT_CHAIN_TOO_LONG':
      return `certificate verification failed for ${namaddr}: certificate chain longer than limit(${verifyDepth + 1})`;
    default:
      return `${role} certificate verification failed for ${namaddr}: num=1:${info.error.toLowerCase().replace(/_/g, ' ')}`;
  }
}

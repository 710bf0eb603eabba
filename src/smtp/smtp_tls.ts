/**
 * smtp_tls - STARTTLS for the SMTP/LMTP client (Postfix smtp/smtp_tls_policy.c,
 * tls/tls_client.c, tls/tls_verify.c).
 *
 * The security level comes from smtp_tls_policy_maps (looked up by the
 * next hop as written, e.g. "[mx.example.com]:587", then by its domain) or
 * from smtp_tls_security_level (smtp_enforce_tls / smtp_use_tls as the
 * compatible fallback): none, may, encrypt, fingerprint, verify, secure
 * ("dane" levels are treated as "may"/"secure", see docs/smtp.md). At the
 * fingerprint level the server certificate, or its public key, must have a
 * digest (smtp_tls_fingerprint_digest) listed in the policy's "match="
 * ("|"-separated) or in smtp_tls_fingerprint_cert_match. A client
 * certificate is presented from smtp_tls_chain_files, or
 * smtp_tls_cert_file/smtp_tls_key_file. Only smtp_tls_CAfile
 * and smtp_tls_CApath are trusted (tls_append_default_CA = no), as in
 * Postfix. The session summary line is logged at smtp_tls_loglevel >= 1 in
 * Postfix's words ("Verified/Trusted/Untrusted/Anonymous TLS connection
 * established to host[addr]:port: TLSv1.3 with cipher ...").
 */

import { connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import type { MailConfig } from '../global/mail_conf.js';
import { Maps } from '../global/maps.js';
import { splitList } from '../global/mail_conf.js';
import { tlsSummary } from '../tls/tls_misc.js';
import { certFprint, digestLength, fingerprintDigest, fprintCompatText, hexDecodeOpt, pkeyFprint, validDigest } from '../tls/tls_fprint.js';
import { msg } from '../util/msg.js';
import { caCerts, chainTopIssuer, issuerCN, peerCN, peerCertInfo, peerX509, verifyDepthLines } from '../tls/tls_verify.js';

export type TlsLevel = 'none' | 'may' | 'encrypt' | 'fingerprint' | 'verify' | 'secure';

export interface TlsPolicy {
  level: TlsLevel;
  /** certificate name patterns for verify/secure (hostname, nexthop, dot-nexthop or literal names), or fingerprints */
  match: string[];
}

/** Thrown when a next hop's TLS policy cannot be used (Postfix TLS_LEV_INVALID). */
export class TlsPolicyInvalid extends Error {
  constructor() {
    super('client TLS configuration problem');
  }
}

/** param - the lmtp_ variant when the lmtp client has one, else the smtp_ parameter. */
export function param(config: MailConfig, prefix: string, name: string): string {
  if (prefix !== 'smtp') {
    try {
      return config.str(`${prefix}_${name}`);
    } catch {
      /* no lmtp_ twin of this parameter: use smtp_'s */
    }
  }
  return config.str(`smtp_${name}`);
}

const LEVELS = new Set(['none', 'may', 'encrypt', 'verify', 'secure', 'dane', 'dane-only', 'fingerprint']);

/** parsePolicy - "level [match=a:b] [...]" from smtp_tls_policy_maps, or null when invalid. */
export function parsePolicy(value: string, config: MailConfig, prefix: string): TlsPolicy | null {
  const words = value.trim().split(/\s+/);
  let lvl = (words.shift() ?? '').toLowerCase();
  if (!LEVELS.has(lvl)) return null;
  if (lvl === 'dane') lvl = 'may';
  if (lvl === 'dane-only') lvl = 'secure';
  const level = lvl as TlsLevel;
  let match: string[] | null = null;
  for (const w of words) {
    const m = /^match=(.*)$/i.exec(w);
    if (!m) continue;
    // fingerprints are "|"-separated (a digest contains ":"); every match= adds
    if (level === 'fingerprint') match = [...(match ?? []), ...m[1].split('|').filter(Boolean)];
    else match = [...(match ?? []), ...m[1].split(':').filter(Boolean)];
  }
  if (match === null) match = defaultMatch(config, prefix, level);
  return { level, match };
}

/** defaultMatch - the main.cf match list of a level. */
function defaultMatch(config: MailConfig, prefix: string, level: TlsLevel): string[] {
  if (level === 'verify') return splitList(param(config, prefix, 'tls_verify_cert_match'));
  if (level === 'secure') return splitList(param(config, prefix, 'tls_secure_cert_match'));
  if (level === 'fingerprint') return param(config, prefix, 'tls_fingerprint_cert_match').split(/[\s,]+/).filter(Boolean);
  return [];
}

/**
 * checkPolicy - a fingerprint level needs fingerprints: Postfix warns and
 * marks the policy invalid (mail is deferred with "client TLS configuration
 * problem").
 */
function checkPolicy(policy: TlsPolicy, nexthop: string): TlsPolicy {
  if (policy.level === 'fingerprint' && policy.match.length === 0) {
    msg.warn(`nexthop domain ${nexthop}: configured at fingerprint security level, but with no fingerprints to match.`);
    throw new TlsPolicyInvalid();
  }
  return policy;
}

/** defaultLevel - smtp_tls_security_level, or the smtp_enforce_tls/smtp_use_tls compatibility settings. */
export function defaultLevel(config: MailConfig, prefix: string): TlsLevel {
  const v = param(config, prefix, 'tls_security_level').trim().toLowerCase();
  if (v) return (parsePolicy(v, config, prefix)?.level ?? 'none') as TlsLevel;
  if (config.bool('smtp_enforce_tls')) return 'encrypt';
  if (config.bool('smtp_use_tls')) return 'may';
  return 'none';
}

const policyMaps = new Map<string, Maps>();

/** lookupPolicy - the TLS policy for a next hop ("[host]:port" as written, then the bare domain). */
export async function lookupPolicy(config: MailConfig, prefix: string, nexthop: string, domain: string): Promise<TlsPolicy> {
  const spec = param(config, prefix, 'tls_policy_maps');
  const base = defaultLevel(config, prefix);
  const fallback: TlsPolicy = { level: base, match: defaultMatch(config, prefix, base) };
  if (!spec.trim()) return checkPolicy(fallback, nexthop);
  let maps = policyMaps.get(spec);
  if (!maps) {
    maps = Maps.create(`${prefix}_tls_policy_maps`, spec);
    policyMaps.set(spec, maps);
  }
  for (const key of [nexthop, domain]) {
    if (!key) continue;
    const v = await maps.find(key);
    if (v !== null) return checkPolicy(parsePolicy(v, config, prefix) ?? { level: 'encrypt', match: [] }, nexthop);
  }
  return checkPolicy(fallback, nexthop);
}

/** caList - the trust anchors (smtp_tls_CAfile, smtp_tls_CApath); never the system store. */
export function caList(config: MailConfig, prefix: string): Buffer[] {
  let dir = '';
  try {
    dir = param(config, prefix, 'tls_CApath');
  } catch {
    dir = '';
  }
  return caCerts(param(config, prefix, 'tls_CAfile'), dir);
}

export interface TlsResult {
  sock: TLSSocket;
  trusted: boolean;
  matched: boolean;
  /** X509 verification failure in OpenSSL's words ("num=62:hostname mismatch"), or "" */
  failure: string;
  /** the verification failure as Postfix logs it after "for host[addr]:port: " */
  failureLine?: (label: string) => string;
  summary: string;
  peerCert: boolean;
}

export type Credentials = { cert: Buffer | Buffer[]; key: Buffer | Buffer[] };

const credentials = new WeakMap<MailConfig, Map<string, Credentials | null | 'unavailable'>>();

const STRERROR: Record<string, string> = { ENOENT: 'No such file or directory', EACCES: 'Permission denied', EISDIR: 'Is a directory' };

/**
 * clientCredentials - our certificate and key (smtp_tls_chain_files, else
 * smtp_tls_cert_file/smtp_tls_key_file), null when none is configured, or
 * "unavailable" when a file cannot be read or the fingerprint digest is
 * unknown: as Postfix's TLS engine that failed to initialize, logged once
 * per process ("error opening chain file: ...").
 */
export function clientCredentials(config: MailConfig, prefix: string): Credentials | null | 'unavailable' {
  let cache = credentials.get(config);
  if (!cache) credentials.set(config, (cache = new Map()));
  if (cache.has(prefix)) return cache.get(prefix)!;
  let result: Credentials | null | 'unavailable' = null;
  if ((Number(param(config, prefix, 'tls_loglevel')) || 0) >= 2) msg.info('initializing the client-side TLS engine');
  const mdalg = fingerprintDigest(config, `${prefix}_tls_fingerprint_digest`);
  if (!validDigest(mdalg)) {
    // Postfix tls_client_init(): the digest is checked first, and TLS is off
    msg.warn(`Digest algorithm "${mdalg}" not found`);
    msg.warn('disabling TLS support');
    cache.set(prefix, 'unavailable');
    return 'unavailable';
  }
  // Postfix tls_certkey.c: chain files, or one file with both, are "chain files"
  const read = (file: string, what = ''): Buffer | null => {
    try {
      return readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      msg.warn(what ? `cannot get RSA ${what} from file "${file}": disabling TLS support` : `error opening chain file: ${file}: ${STRERROR[code] ?? (e as Error).message}`);
      return null;
    }
  };
  const chain = splitList(param(config, prefix, 'tls_chain_files'));
  const certFile = param(config, prefix, 'tls_cert_file');
  if (chain.length > 0) {
    const pems = chain.map((f) => read(f));
    result = pems.every((p) => p !== null) ? { cert: pems as Buffer[], key: pems as Buffer[] } : 'unavailable';
  } else if (certFile) {
    const keyFile = param(config, prefix, 'tls_key_file') || certFile;
    const cert = read(certFile, keyFile === certFile ? '' : 'certificate');
    const key = cert === null ? null : keyFile === certFile ? cert : read(keyFile, 'private key');
    result = cert !== null && key !== null ? { cert, key } : 'unavailable';
  }
  cache.set(prefix, result);
  return result;
}

const contexts = new WeakMap<MailConfig, Map<string, SecureContext | Error>>();

/**
 * clientContext - the client TLS context of this process: the trust anchors
 * (caList) and our credentials, built once (Postfix tls_client_init), not
 * per connection; an error (e.g. an unreadable CAfile) is kept and thrown
 * again for each handshake.
 */
export function clientContext(config: MailConfig, prefix: string, creds: Credentials | null): SecureContext {
  let cache = contexts.get(config);
  if (!cache) contexts.set(config, (cache = new Map()));
  let ctx = cache.get(prefix);
  if (ctx === undefined) {
    try {
      // ca: [] keeps Node's own root store out
      ctx = createSecureContext({ ca: caList(config, prefix), ...(creds ?? {}) });
    } catch (e) {
      ctx = e as Error;
    }
    cache.set(prefix, ctx);
  }
  if (ctx instanceof Error) throw ctx;
  return ctx;
}

/** startTls - client handshake over an open socket (after "220 Ready to start TLS"). */
export function startTls(sock: Socket, servername: string, secureContext: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const opts = {
      socket: sock,
      secureContext,
      rejectUnauthorized: false,
      ...(servername && !isIP(servername) ? { servername } : {}),
    };
    const t = tlsConnect(opts);
    const timer = setTimeout(() => {
      t.destroy();
      reject(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    t.once('secureConnect', () => {
      clearTimeout(timer);
      t.removeAllListeners('error');
      resolve(t);
    });
    t.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const OPENSSL_ERRORS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'num=18:self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'num=19:self-signed certificate in certificate chain',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'num=20:unable to get local issuer certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'num=21:unable to verify the first certificate',
  CERT_HAS_EXPIRED: 'num=10:certificate has expired',
  CERT_NOT_YET_VALID: 'num=9:certificate is not yet valid',
};

/**
 * verifyFailureLine - tls_log_verify_error() for the smtp client: some
 * causes have their own words, the rest "server certificate verification
 * failed for LABEL: num=N:text".
 */
function verifyFailureLine(code: string, failure: string, t: TLSSocket): (label: string) => string {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return (label) => `certificate verification failed for ${label}: self-signed certificate`;
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE': // OpenSSL's final word for error 20 on a lone certificate
    case 'SELF_SIGNED_CERT_IN_CHAIN': {
      const issuer = chainTopIssuer(t);
      return (label) => `certificate verification failed for ${label}: untrusted issuer ${issuer}`;
    }
    case 'CERT_HAS_EXPIRED':
      return (label) => `server certificate verification failed for ${label}: certificate has expired`;
    case 'CERT_NOT_YET_VALID':
      return (label) => `server certificate verification failed for ${label}: certificate not yet valid`;
    default:
      return (label) => `server certificate verification failed for ${label}: ${failure}`;
  }
}

/** certNames - the DNS names of a certificate (subjectAltName DNS entries, else the CN). */
export function certNames(cert: PeerCertificate): string[] {
  const alt = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((x) => x.startsWith('DNS:'))
    .map((x) => x.slice(4).toLowerCase());
  if (alt.length) return alt;
  const cn = cert.subject?.CN;
  return cn ? [String(cn).toLowerCase()] : [];
}

/** nameMatches - Postfix tls_verify.c matching: exact, "*.x" wildcard one label, ".domain" patterns for dot-nexthop. */
export function nameMatches(names: string[], patterns: string[], host: string, nexthop: string): boolean {
  const wanted: Array<{ name: string; sub: boolean }> = [];
  for (const p of patterns) {
    const lp = p.toLowerCase();
    if (lp === 'hostname') wanted.push({ name: host.toLowerCase(), sub: false });
    else if (lp === 'nexthop') wanted.push({ name: nexthop.toLowerCase(), sub: false });
    else if (lp === 'dot-nexthop') wanted.push({ name: nexthop.toLowerCase(), sub: true });
    else if (lp.startsWith('.')) wanted.push({ name: lp.slice(1), sub: true });
    else wanted.push({ name: lp, sub: false });
  }
  for (const w of wanted) {
    if (isIP(w.name)) continue;
    for (const n of names) {
      if (!w.sub && n === w.name) return true;
      if (!w.sub && n.startsWith('*.') && w.name.endsWith(n.slice(1)) && !w.name.slice(0, -n.length + 1).includes('.')) return true;
      if (w.sub && n.endsWith('.' + w.name)) return true;
    }
  }
  return false;
}

/**
 * fingerprintMatch - the fingerprint level (Postfix tls_dane.c with
 * private-use TLSA records "3 0 255"/"3 1 255"): the server certificate or
 * its public key must have one of the configured digests. Entries that are
 * not hex, or not as long as the digest, are unusable and logged.
 */
export function fingerprintMatch(t: TLSSocket, fprints: string[], mdalg: string, label: string): { matched: boolean; failure: string } {
  const x509 = peerX509(t);
  const usable: string[] = [];
  const size = validDigest(mdalg) ? digestLength(mdalg) : -1;
  const unusable: string[] = [];
  for (const f of fprints) {
    const raw = f.length > 3 * 64 ? null : hexDecodeOpt(f);
    if (raw === null) {
      msg.warn(f.length > 3 * 64 ? `malformed fingerprint value: ${f.slice(0, 100)}...` : `malformed fingerprint value: ${f.slice(0, 384)}`);
      continue;
    }
    const hex = raw.toString('hex').toUpperCase();
    if (raw.length !== size) unusable.unshift(`${label}: unusable TLSA RR: 3 1 255 ${hex}`, `${label}: unusable TLSA RR: 3 0 255 ${hex}`);
    else usable.push(hex);
  }
  for (const line of unusable) msg.warn(line);
  if (usable.length === 0) {
    if (unusable.length > 0) msg.warn(`${label}: all fingerprints unusable`);
    return { matched: false, failure: 'num=1:unspecified certificate verification error' };
  }
  if (x509) {
    const mine = [certFprint(x509, mdalg), pkeyFprint(x509, mdalg)].map((x) => x.replace(/:/g, ''));
    if (usable.some((u) => mine.includes(u))) return { matched: true, failure: '' };
  }
  return { matched: false, failure: 'num=65:no matching DANE TLSA records' };
}

/** assess - trust and name checks for a finished handshake. */
export function assess(t: TLSSocket, policy: TlsPolicy, host: string, nexthop: string, config?: MailConfig, prefix = 'smtp', label = host): TlsResult {
  const cert = t.getPeerCertificate();
  const peerCert = !!cert && Object.keys(cert).length > 0;
  if (policy.level === 'fingerprint' && config) {
    const digestParam = `${prefix}_tls_fingerprint_digest`;
    const note = fprintCompatText(config, digestParam);
    if (note) msg.info(note);
    const r = fingerprintMatch(t, policy.match, fingerprintDigest(config, digestParam), label);
    return { sock: t, trusted: r.matched, matched: r.matched, failure: peerCert ? r.failure : '', summary: tlsSummary(t, 'client'), peerCert };
  }
  const trusted = peerCert && t.authorized;
  let failure = '';
  let failureLine: ((label: string) => string) | undefined;
  if (peerCert && !t.authorized) {
    const code = String((t.authorizationError as unknown as string) ?? '');
    failure = OPENSSL_ERRORS[code] ?? `num=0:${code.toLowerCase().replace(/_/g, ' ')}`;
    failureLine = verifyFailureLine(code, failure, t);
  }
  let matched = false;
  if (trusted && (policy.level === 'verify' || policy.level === 'secure')) {
    matched = nameMatches(certNames(cert), policy.match, host, nexthop);
    if (!matched) failure = isIP(host) && policy.level === 'verify' ? 'num=64:IP address mismatch' : 'num=62:hostname mismatch';
  }
  return { sock: t, trusted, matched, failure, failureLine, summary: tlsSummary(t, 'client'), peerCert };
}

/** peerCertLine - the loglevel-2 line "LABEL: subject_CN=.., issuer_CN=.., fingerprint=.., pkey_fingerprint=..". */
export function peerCertLine(t: TLSSocket, config: MailConfig, prefix: string, label: string): string {
  const x509 = peerX509(t);
  if (!x509) return '';
  const mdalg = fingerprintDigest(config, `${prefix}_tls_fingerprint_digest`);
  return `${label}: subject_CN=${peerCN(x509)}, issuer_CN=${issuerCN(x509)}, fingerprint=${certFprint(x509, mdalg)}, pkey_fingerprint=${pkeyFprint(x509, mdalg)}`;
}

/** peerDepthLines - the loglevel-2 "LABEL: depth=N verify=V subject=..." lines of the server's chain. */
export function peerDepthLines(t: TLSSocket, label: string): string[] {
  return verifyDepthLines(t, peerCertInfo(t, 'sha256', 100), label);
}

/** verifyLevel - levels at which an unverified server certificate defers the mail. */
export function verifyLevel(level: TlsLevel): boolean {
  return level === 'verify' || level === 'secure' || level === 'fingerprint';
}

/** trustWord - Verified, Trusted, Untrusted or Anonymous, as in the Postfix log line. */
export function trustWord(r: TlsResult, level: TlsLevel): string {
  if (!r.peerCert) return 'Anonymous';
  if (r.trusted && r.matched && verifyLevel(level)) return 'Verified';
  if (r.trusted && !verifyLevel(level)) return 'Trusted';
  return r.trusted && !r.failure ? 'Trusted' : 'Untrusted';
}

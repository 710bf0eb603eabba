/**
 * smtpd_tls - STARTTLS for the SMTP server (Postfix smtpd.c starttls_cmd(),
 * smtpd_start_tls(), tls/tls_server.c) over node:tls.
 *
 * The server certificate comes from smtpd_tls_chain_files or
 * smtpd_tls_cert_file/smtpd_tls_key_file; without one TLS is not offered,
 * as Postfix does ("No server certs available"). smtpd_tls_security_level
 * (or the obsolete smtpd_use_tls/smtpd_enforce_tls) decides whether
 * STARTTLS is offered ("may") or required ("encrypt").
 *
 * Client certificates (Postfix tls_server.c, smtpd.c smtpd_start_tls()):
 * smtpd_tls_ask_ccert asks for one (so does smtpd_tls_req_ccert at level
 * "encrypt"); it is verified against smtpd_tls_CAfile/smtpd_tls_CApath
 * within smtpd_tls_ccert_verifydepth, and fingerprinted with
 * smtpd_tls_fingerprint_digest. smtpd_tls_req_ccert at level "encrypt"
 * ends the session with 421 when the certificate is missing or untrusted.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Duplex, PassThrough } from 'node:stream';
import type { SecureContext } from 'node:tls';
import type { Socket } from 'node:net';
import { msg } from '../util/msg.js';
import { VStream } from '../util/vstream.js';
import type { MailConfig } from '../global/mail_conf.js';
import { splitList } from '../global/mail_conf.js';
import { MAIL_ERROR, type SmtpdState } from './smtpd_state.js';
import { helloKeyExchange, tlsParts, type TlsParts } from '../tls/tls_misc.js';
import { fingerprintDigest, validDigest } from '../tls/tls_fprint.js';
import { NO_PEER_CERT, caCerts, peerCertInfo, verifyDepthLines, verifyErrorText, type PeerCertInfo } from '../tls/tls_verify.js';
import { smtpdChatQuery, smtpdChatReply } from './smtpd_chat.js';

export type TlsLevel = 'none' | 'may' | 'encrypt';

/** tlsLevel - the effective smtpd TLS security level. */
export function tlsLevel(config: MailConfig): TlsLevel {
  const level = config.str('smtpd_tls_security_level').trim().toLowerCase();
  if (level === 'may' || level === 'encrypt') return level;
  if (level === 'none') return 'none';
  if (level !== '') {
    msg.warn(`invalid smtpd_tls_security_level value: "${level}"; TLS disabled`);
    return 'none';
  }
  if (config.bool('smtpd_enforce_tls')) return 'encrypt';
  if (config.bool('smtpd_use_tls')) return 'may';
  return 'none';
}

/** node:tls, loaded when TLS is first used (about 1 MiB per process that never needs it) */
let tlsMod: typeof import('node:tls') | undefined;
function nodeTls(): typeof import('node:tls') {
  tlsMod ??= createRequire(import.meta.url)('node:tls') as typeof import('node:tls');
  return tlsMod;
}

const contexts = new WeakMap<MailConfig, SecureContext | null>();

/** The client-certificate settings of a server TLS context. */
export interface CcertPolicy {
  /** send a CertificateRequest (ask_ccert, or req_ccert at level encrypt) */
  askCert: boolean;
  /** 421 unless the certificate is present and trusted (req_ccert at level encrypt) */
  requireCert: boolean;
  mdalg: string;
  verifyDepth: number;
}

/** ccertPolicy - smtpd's client-certificate settings. */
export function ccertPolicy(config: MailConfig): CcertPolicy {
  const enforce = tlsLevel(config) === 'encrypt' || config.bool('smtpd_tls_wrappermode');
  const requireCert = config.bool('smtpd_tls_req_ccert') && enforce;
  return {
    askCert: config.bool('smtpd_tls_ask_ccert') || requireCert,
    requireCert,
    mdalg: fingerprintDigest(config, 'smtpd_tls_fingerprint_digest'),
    verifyDepth: config.int('smtpd_tls_ccert_verifydepth'),
  };
}

/** Thrown after a certificate or key file could not be read (already logged). */
class PemError extends Error {}

const STRERROR: Record<string, string> = { ENOENT: 'No such file or directory', EACCES: 'Permission denied', EISDIR: 'Is a directory' };

/** readPem - a certificate or key file; logs Postfix's text and throws PemError when unreadable. */
function readPem(file: string, text: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    msg.warn(text.startsWith('error opening chain file') ? `${text}: ${STRERROR[code] ?? (e as Error).message}` : text);
    throw new PemError(text);
  }
}

/** tlsContext - the server TLS context (null: no usable certificate; logged once). */
export function tlsContext(config: MailConfig): SecureContext | null {
  if (contexts.has(config)) return contexts.get(config)!;
  let ctx: SecureContext | null = null;
  try {
    const chain = splitList(config.str('smtpd_tls_chain_files'));
    let key: Buffer | Buffer[];
    let cert: Buffer | Buffer[];
    const certFile = config.str('smtpd_tls_cert_file');
    if (chain.length > 0) {
      const pems = chain.map((f) => readPem(f, `error opening chain file: ${f}`));
      key = pems;
      cert = pems;
    } else if (certFile) {
      const keyFile = config.str('smtpd_tls_key_file') || certFile;
      // Postfix tls_certkey.c: one file holds both, or each is loaded by itself
      cert = readPem(certFile, keyFile === certFile ? `error opening chain file: ${certFile}` : `cannot get RSA certificate from file "${certFile}": disabling TLS support`);
      key = keyFile === certFile ? cert : readPem(keyFile, `cannot get RSA private key from file "${keyFile}": disabling TLS support`);
    } else {
      if (ccertPolicy(config).askCert) msg.warn('Need a server cert to request client certs');
      msg.warn("No server certs available. TLS won't be enabled");
      contexts.set(config, null);
      return null;
    }
    const ccert = ccertPolicy(config);
    if (config.bool('smtpd_tls_req_ccert') && !ccert.requireCert) msg.warn("Can't require client certs unless TLS is required");
    if (!validDigest(ccert.mdalg)) {
      // Postfix tls_validate_digest(): TLS is not offered at all
      msg.warn(`Digest algorithm "${ccert.mdalg}" not found`);
      msg.warn('disabling TLS support');
      contexts.set(config, null);
      return null;
    }
    let ca: Buffer[] = [];
    try {
      ca = caCerts(config.str('smtpd_tls_CAfile'), config.str('smtpd_tls_CApath'));
    } catch {
      // Postfix tls_set_ca_certificate_info(): unusable CA data turns TLS off
      const file = config.str('smtpd_tls_CAfile');
      const dir = config.str('smtpd_tls_CApath');
      const where = [file ? `CAfile="${file}"` : '', dir ? `CApath="${dir}"` : ''].filter(Boolean).join(', ');
      msg.info(`cannot load Certification Authority data, ${where}: disabling TLS support`);
      contexts.set(config, null);
      return null;
    }
    if (config.int('smtpd_tls_loglevel') >= 2) msg.info('initializing the server-side TLS engine');
    // only smtpd_tls_CAfile/CApath are trusted (tls_append_default_CA = no); an
    // empty list keeps Node from loading its own root store
    const roots = ccert.askCert && config.bool('tls_append_default_CA') ? [...nodeTls().rootCertificates] : [];
    ctx = nodeTls().createSecureContext({ key, cert, minVersion: 'TLSv1', ca: [...ca, ...roots] });
  } catch (e) {
    // logged by readPem, or OpenSSL refused what was read
    if (!(e instanceof PemError)) msg.warn(`cannot load the server certificate and key: ${(e as Error).message}: disabling TLS support`);
    ctx = null;
  }
  contexts.set(config, ctx);
  return ctx;
}

/** A TLS session as smtpd knows it: the summary parts and the client certificate. */
export interface TlsInfo extends TlsParts {
  ccert: PeerCertInfo;
}

/**
 * startTls - run the server handshake on the client connection and switch
 * the session to the encrypted stream. Throws when the handshake fails
 * (the session then ends as a lost connection).
 */
export async function startTls(state: SmtpdState, ctx: SecureContext, wrapperMode = false): Promise<TlsInfo> {
  let raw: Socket | Duplex;
  let kex = '';
  const c = state.config;
  const timeoutMs = c.time('smtpd_starttls_timeout') * 1000;
  if (!wrapperMode) {
    // anything the client sent after STARTTLS is discarded (vstream_fpurge)
    while (state.client.available > 0) await state.client.readSome(state.client.available);
  }
  // Node does not tell a server the key-exchange group that Postfix logs and
  // puts in Received: read the client's hello first and predict it, only when
  // it is shown (not on the default path).
  const wantKex = c.int('smtpd_tls_loglevel') >= 1 || c.bool('smtpd_tls_received_header');
  if (wrapperMode || wantKex) {
    // TLS reads a net.Socket's handle directly, so it then gets a stream that
    // replays what we read (in smtps the hello may already sit in our buffer)
    // and follows the socket.
    const sock = state.client.sock as Socket;
    if (wantKex) {
      // The hello is the start of the handshake: smtpd_starttls_timeout bounds it, not smtpd_timeout.
      const saved = state.client.timeout;
      state.client.timeout = timeoutMs;
      try {
        if (await state.client.fill(5)) {
          const head = state.client.peek(5);
          const len = head.readUInt16BE(3);
          if (head[0] === 0x16 && len <= 18432 && (await state.client.fill(5 + len))) kex = helloKeyExchange(state.client.peek(5 + len));
        }
      } finally {
        state.client.timeout = saved;
      }
    }
    const early = state.client.available > 0 ? await state.client.readSome(state.client.available) : Buffer.alloc(0);
    state.client.detach();
    const input = new PassThrough();
    if (early.length > 0) input.write(early);
    sock.pipe(input);
    raw = Duplex.from({ readable: input, writable: sock });
    sock.on('close', () => (raw as Duplex).destroy());
  } else {
    raw = state.client.sock as Socket;
  }
  const ccert = ccertPolicy(state.config);
  if (state.config.int('smtpd_tls_loglevel') >= 2) msg.info(`setting up TLS connection from ${state.namaddr}`);
  // Postfix continues the handshake whatever the certificate; trust is decided afterwards.
  const tlsSock = new (nodeTls().TLSSocket)(raw, { isServer: true, secureContext: ctx, requestCert: ccert.askCert, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      tlsSock.destroy();
      reject(new Error('TLS handshake timeout'));
    }, timeoutMs);
    tlsSock.once('secure', () => {
      clearTimeout(timer);
      resolve();
    });
    tlsSock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  tlsSock.on('error', () => undefined);
  const parts = tlsParts(tlsSock, 'server', kex);
  const peer = ccert.askCert ? peerCertInfo(tlsSock, ccert.mdalg, ccert.verifyDepth) : NO_PEER_CERT;
  const info: TlsInfo = { ...parts, ccert: peer };
  state.client = new VStream(tlsSock, { timeout: state.client.timeout });
  const logLevel = state.config.int('smtpd_tls_loglevel');
  if (peer.present) {
    if (logLevel >= 2) {
      for (const line of verifyDepthLines(tlsSock, peer, state.namaddr)) msg.info(line);
      msg.info(`subject=${peer.subject}`);
      msg.info(`issuer=${peer.issuer}`);
      msg.info(`${state.namaddr}: subject_CN=${peer.peerCN}, issuer=${peer.issuerCN}, fingerprint=${peer.certFprint}, pkey_fingerprint=${peer.pkeyFprint}`);
    }
    // the reason a required certificate failed is logged (TLS_LOG_UNTRUSTED)
    if (!peer.trusted && ccert.requireCert) msg.info(verifyErrorText(peer, state.namaddr, 'client', ccert.verifyDepth));
  }
  if (logLevel >= 1) {
    const trust = peer.present ? (peer.trusted ? 'Trusted' : 'Untrusted') : 'Anonymous';
    msg.info(`${trust} TLS connection established from ${state.namaddr}: ${info.protocol} with cipher ${info.cipher} (${info.bits}/${info.bits} bits)${info.details}`);
  }
  if (ccert.requireCert && !peer.trusted) await requireCertAbort(state, peer.present, wrapperMode);
  return info;
}

/**
 * requireCertAbort - smtpd_tls_req_ccert without a trusted certificate:
 * log it, read the client's next command (after STARTTLS), answer 421 and
 * hang up (the reply sets the session's hangup flag).
 */
async function requireCertAbort(state: SmtpdState, present: boolean, wrapperMode: boolean): Promise<void> {
  const why = present ? 'Client certificate not trusted' : 'No client certificate presented';
  msg.info(`NOQUEUE: abort: TLS from ${state.namaddr}: ${why}`);
  if (!wrapperMode) await smtpdChatQuery(state);
  await smtpdChatReply(state, `421 4.7.1 ${state.config.str('myhostname')} Error: ${why}`);
  state.errorMask |= MAIL_ERROR.POLICY;
}

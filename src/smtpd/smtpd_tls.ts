/**
 * smtpd_tls - STARTTLS for the SMTP server (Postfix smtpd.c starttls_cmd(),
 * smtpd_start_tls(), tls/tls_server.c) over node:tls.
 *
 * The server certificate comes from smtpd_tls_chain_files or
 * smtpd_tls_cert_file/smtpd_tls_key_file; without one TLS is not offered,
 * as Postfix does ("No server certs available"). smtpd_tls_security_level
 * (or the obsolete smtpd_use_tls/smtpd_enforce_tls) decides whether
 * STARTTLS is offered ("may") or required ("encrypt").
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
import type { SmtpdState } from './smtpd_state.js';
import { tlsParts, type TlsParts } from '../tls/tls_misc.js';

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

/** tlsContext - the server TLS context (null: no usable certificate; logged once). */
export function tlsContext(config: MailConfig): SecureContext | null {
  if (contexts.has(config)) return contexts.get(config)!;
  let ctx: SecureContext | null = null;
  try {
    const chain = splitList(config.str('smtpd_tls_chain_files'));
    let key: Buffer | Buffer[];
    let cert: Buffer | Buffer[];
    if (chain.length > 0) {
      const pems = chain.map((f) => readFileSync(f));
      key = pems;
      cert = pems;
    } else {
      const certFile = config.str('smtpd_tls_cert_file');
      if (!certFile) throw new Error('no certificate configured');
      cert = readFileSync(certFile);
      key = readFileSync(config.str('smtpd_tls_key_file') || certFile);
    }
    ctx = nodeTls().createSecureContext({ key, cert, minVersion: 'TLSv1' });
  } catch (e) {
    msg.warn(`No server certs available. TLS won't be enabled (${(e as Error).message})`);
    ctx = null;
  }
  contexts.set(config, ctx);
  return ctx;
}

export type TlsInfo = TlsParts;

/**
 * startTls - run the server handshake on the client connection and switch
 * the session to the encrypted stream. Throws when the handshake fails
 * (the session then ends as a lost connection).
 */
export async function startTls(state: SmtpdState, ctx: SecureContext, wrapperMode = false): Promise<TlsInfo> {
  let raw: Socket | Duplex;
  if (wrapperMode) {
    // smtps: the client's first bytes (its TLS hello) may already sit in our
    // buffer; TLS reads a net.Socket's handle directly, so give it a stream that
    // replays them and then follows the socket.
    const sock = state.client.sock as Socket;
    const early = state.client.available > 0 ? await state.client.readSome(state.client.available) : Buffer.alloc(0);
    state.client.detach();
    const input = new PassThrough();
    if (early.length > 0) input.write(early);
    sock.pipe(input);
    raw = Duplex.from({ readable: input, writable: sock });
    sock.on('close', () => (raw as Duplex).destroy());
  } else {
    raw = state.client.sock as Socket;
    // anything the client sent after STARTTLS is discarded (vstream_fpurge)
    while (state.client.available > 0) await state.client.readSome(state.client.available);
  }
  const timeoutMs = state.config.time('smtpd_starttls_timeout') * 1000;
  const tlsSock = new (nodeTls().TLSSocket)(raw, { isServer: true, secureContext: ctx });
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
  const info: TlsInfo = tlsParts(tlsSock, 'server');
  const bits = info.bits;
  state.client = new VStream(tlsSock, { timeout: state.client.timeout });
  if (state.config.int('smtpd_tls_loglevel') >= 1) {
    msg.info(`Anonymous TLS connection established from ${state.namaddr}: ${info.protocol} with cipher ${info.cipher} (${bits}/${bits} bits)${info.details}`);
  }
  return info;
}

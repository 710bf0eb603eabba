/**
 * smtpd - Postfix SMTP server (Postfix smtpd(8)).
 *
 * main() declares smtpd's parameters and hands smtpdService() to the
 * single-server skeleton; smtpdService() talks SMTP with one client over
 * a VStream and sends accepted mail to the cleanup service. smtpdStandAlone()
 * is the "sendmail -bs" mode: SMTP on stdin/stdout, no restrictions, and
 * mail goes to a destination the caller provides (the sendmail submission
 * path). See docs/smtpd.md.
 */

import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { msg } from '../util/msg.js';
import { VStream } from '../util/vstream.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { singleServerMain, MULTI_CLIENT_SLOTS } from '../master/single_server.js';
import { tlsContext, tlsLevel } from './smtpd_tls.js';
import './smtpd_params.js';
import { smtpdCheckInit } from './smtpd_check.js';
import { setDestOpener } from './smtpd_cmds.js';
import { cleanupOpener, maildropOpener, type DestOpener } from './smtpd_dest.js';
import { peerInfo } from './smtpd_glue.js';
import { formatCmdStats, smtpdProto } from './smtpd_proto.js';
import { saslDeactivate } from './smtpd_sasl.js';
import { PEER_CODE, newState, type PeerInfo } from './smtpd_state.js';

export { type MessageDest, type DestOpener, type DestResult } from './smtpd_dest.js';

/** smtpdInit - per-process initialisation: validates the restriction configuration (fatal when wrong). */
export function smtpdInit(config: MailConfig): void {
  smtpdCheckInit(config);
}

/** smtpdService - one SMTP session on a connected socket. */
export async function smtpdService(stream: VStream, ctx: ServerContext, opener?: DestOpener): Promise<void> {
  const config = ctx.config;
  if (ctx.transport === 'stdin' || !(stream.sock instanceof Socket)) {
    // "smtpd -S" as run by "sendmail -bs": SMTP on stdin/stdout, submission through maildrop
    return standAloneSession(config, stream, opener ?? maildropOpener(config));
  }
  const sock = stream.sock as Socket;
  const peer = await peerInfo(config, sock);
  const state = newState(config, stream, peer, ctx.serviceName, false);
  setDestOpener(state, opener ?? cleanupOpener(config));
  msg.info(`connect from ${state.namaddr}`);
  await smtpdProto(state);
  await closeTls(state.client.sock, sock);
  saslDeactivate(state);
  msg.info(`disconnect from ${state.namaddr}${formatCmdStats(state)}`);
}

/** Options of the stand-alone ("sendmail -bs") mode. */
export interface StandAloneOptions {
  config: MailConfig;
  /** client input (stdin) and output (stdout) as one duplex stream */
  io: Duplex;
  /** opens the submission for each message; maildropOpener(config) is the postdrop path */
  openDest: DestOpener;
}

/**
 * smtpdStandAlone - "sendmail -bs": SMTP on a local stream. No restriction
 * is applied and no client attributes are recorded; the client is
 * localhost[127.0.0.1] as in Postfix.
 */
export async function smtpdStandAlone(opts: StandAloneOptions): Promise<void> {
  return standAloneSession(opts.config, new VStream(opts.io, { timeout: 0 }), opts.openDest);
}

async function standAloneSession(config: MailConfig, stream: VStream, openDest: DestOpener): Promise<void> {
  const peer: PeerInfo = {
    name: 'localhost',
    reverseName: 'localhost',
    addr: '127.0.0.1',
    port: 'unknown',
    nameStatus: PEER_CODE.OK,
    reverseNameStatus: PEER_CODE.OK,
    addrFamily: 2,
    destAddr: '127.0.0.1',
    destPort: 'unknown',
  };
  const state = newState(config, stream, peer, 'sendmail', true);
  setDestOpener(state, openDest);
  msg.info(`connect from ${state.namaddr}`);
  await smtpdProto(state);
  msg.info(`disconnect from ${state.namaddr}${formatCmdStats(state)}`);
}

/** main - the daemon entry point (master runs it as "smtpd -n smtp -t inet"). */
export function main(argv: string[]): Promise<void> {
  return singleServerMain(argv, {
    // Session state is private to each call, so one process serves several
    // clients at once (a Node process costs far more than a C one); master
    // still counts every client against the master.cf process limit.
    concurrency: MULTI_CLIENT_SLOTS,
    // Certificates and keys are read before privileges are dropped (Postfix's
    // pre-jail init): a key file is usually readable by root only.
    preInit: (ctx) => {
      if (tlsLevel(ctx.config) !== 'none' || ctx.config.bool('smtpd_tls_wrappermode')) tlsContext(ctx.config);
    },
    postInit: (ctx) => smtpdInit(ctx.config),
    service: (stream, ctx) => smtpdService(stream, ctx),
  });
}

/**
 * closeTls - after STARTTLS or in wrapper mode the session talks through a TLS
 * layer: end it and let its last records (the 221 reply, close_notify) reach
 * the socket before the skeleton closes the connection (at most 1 second).
 */
function closeTls(current: Duplex, raw: Socket): Promise<void> {
  if (current === raw || current.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    current.end(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * bounce_clnt - client of the bounce, defer and trace services (Postfix
 * global/bounce.c, abounce.c, defer.c, trace.c, bounce_flush...).
 *
 * The per-recipient logfiles are written by the agents (bounce_log.ts); this
 * client asks the bounce daemon to turn a logfile into a notice:
 * FLUSH (non-delivery notice from bounce/ID), WARN (delay warning from
 * defer/ID), TRACE (delivery report from trace/ID), VERP (FLUSH with one
 * notice per recipient, each to its VERP'ed sender; adds verp_delimiters). Request attributes are
 * Postfix's: nrequest, flags, queue_name, queue_id, encoding, sendopts,
 * sender, envelope_id, ret_flags; the reply is status=0 on success.
 */

import { attrExpectProtocol, readAttrs, sendAttrs } from '../util/attr.js';
import type { MailConfig } from './mail_conf.js';
import { mailConnect } from './mail_connect.js';

export const BOUNCE_PROTOCOL = 'delivery_status_protocol';

export const BOUNCE_CMD = { APPEND: 0, FLUSH: 1, WARN: 2, VERP: 3, ONE: 4, TRACE: 5 } as const;

/** BOUNCE_FLAG_* (global/bounce.h) */
export const BOUNCE_FLAG = { NONE: 0, CLEAN: 1 << 0, DELRCPT: 1 << 2 } as const;

export interface BounceFlushRequest {
  command: number;
  flags: number;
  queueName: string;
  queueId: string;
  encoding: string;
  sendopts: number;
  sender: string;
  envid: string;
  ret: number;
  /** VERP: the two delimiters (sent as verp_delimiters) */
  verpDelims?: string;
}

/** bounceRequest - send one request to the service (bounce, defer or trace); resolves to the status (0 = ok). */
export async function bounceRequest(config: MailConfig, service: 'bounce' | 'defer' | 'trace', r: BounceFlushRequest): Promise<number> {
  const stream = await mailConnect(config, 'private', service);
  try {
    await attrExpectProtocol(stream, BOUNCE_PROTOCOL);
    sendAttrs(stream, [
      ['nrequest', r.command],
      ['flags', r.flags],
      ['queue_name', r.queueName],
      ['queue_id', r.queueId],
      ['encoding', r.encoding],
      ['sendopts', r.sendopts],
      ['sender', r.sender],
      ['envelope_id', r.envid],
      ['ret_flags', r.ret],
      ...(r.command === BOUNCE_CMD.VERP ? [['verp_delimiters', r.verpDelims ?? ''] as [string, string]] : []),
    ]);
    await stream.flush();
    const reply = await readAttrs(stream);
    if (reply === null) throw new Error(`${service} service: no reply`);
    return reply.int('status');
  } finally {
    stream.close();
  }
}

/** The recipient and status of a ONE request (Postfix rcpt_print and dsn_print, in their attribute order). */
export interface BounceOneRecipient {
  orig_addr: string;
  address: string;
  offset: number;
  dsn_orcpt: string;
  dsn_notify: number;
  status: string;
  diag_type: string;
  diag_text: string;
  mta_type: string;
  mta_mname: string;
  action: string;
  reason: string;
}

/**
 * bounceOneRequest - ask the bounce service for an immediate notice about
 * one recipient (BOUNCE_CMD.ONE, Postfix bounce_one): no logfile is
 * involved; resolves to the status (0 = the notice is queued).
 */
export async function bounceOneRequest(config: MailConfig, r: BounceFlushRequest, rcpt: BounceOneRecipient): Promise<number> {
  const stream = await mailConnect(config, 'private', config.str('bounce_service_name') || 'bounce');
  try {
    await attrExpectProtocol(stream, BOUNCE_PROTOCOL);
    sendAttrs(stream, [
      ['nrequest', BOUNCE_CMD.ONE],
      ['flags', r.flags],
      ['queue_name', r.queueName],
      ['queue_id', r.queueId],
      ['encoding', r.encoding],
      ['sendopts', r.sendopts],
      ['sender', r.sender],
      ['envelope_id', r.envid],
      ['ret_flags', r.ret],
      ['original_recipient', rcpt.orig_addr],
      ['recipient', rcpt.address],
      ['offset', rcpt.offset],
      ['dsn_orig_rcpt', rcpt.dsn_orcpt],
      ['notify_flags', rcpt.dsn_notify],
      ['status', rcpt.status],
      ['diag_type', rcpt.diag_type],
      ['diag_text', rcpt.diag_text],
      ['mta_type', rcpt.mta_type],
      ['mta_mname', rcpt.mta_mname],
      ['action', rcpt.action],
      ['reason', rcpt.reason],
    ]);
    await stream.flush();
    const reply = await readAttrs(stream);
    if (reply === null) throw new Error('bounce service: no reply');
    return reply.int('status');
  } finally {
    stream.close();
  }
}

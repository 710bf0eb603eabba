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

import { attrExpectProtocol, readAttrs, sendAttrs, type AttrPairs } from '../util/attr.js';
import type { MailConfig } from './mail_conf.js';
import { mailConnect } from './mail_connect.js';
import { rcptAttrs, type DeliverRecipient, type HopStatus } from './deliver_request.js';

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

/** The request attributes every bounce service command starts with (Postfix bounce_flush, bounce_one ...). */
function requestAttrs(command: number, r: BounceFlushRequest): AttrPairs {
  return [
    ['nrequest', command],
    ['flags', r.flags],
    ['queue_name', r.queueName],
    ['queue_id', r.queueId],
    ['encoding', r.encoding],
    ['sendopts', r.sendopts],
    ['sender', r.sender],
    ['envelope_id', r.envid],
    ['ret_flags', r.ret],
  ];
}

/** bounceCall - one request to a bounce service and its status reply. */
async function bounceCall(config: MailConfig, service: string, attrs: AttrPairs): Promise<number> {
  const stream = await mailConnect(config, 'private', service);
  try {
    await attrExpectProtocol(stream, BOUNCE_PROTOCOL);
    sendAttrs(stream, attrs);
    await stream.flush();
    const reply = await readAttrs(stream);
    if (reply === null) throw new Error(`${service} service: no reply`);
    return reply.int('status');
  } finally {
    stream.close();
  }
}

/** bounceRequest - send one request to the service (bounce, defer or trace); resolves to the status (0 = ok). */
export async function bounceRequest(config: MailConfig, service: 'bounce' | 'defer' | 'trace', r: BounceFlushRequest): Promise<number> {
  const attrs = requestAttrs(r.command, r);
  if (r.command === BOUNCE_CMD.VERP) attrs.push(['verp_delimiters', r.verpDelims ?? '']);
  return bounceCall(config, service, attrs);
}

/**
 * bounceOneRequest - ask the bounce service for an immediate notice about
 * one recipient (BOUNCE_CMD.ONE, Postfix bounce_one): no logfile is
 * involved; resolves to the status (0 = the notice is queued). The
 * recipient and its status follow Postfix's rcpt_print and dsn_print.
 */
export async function bounceOneRequest(config: MailConfig, r: BounceFlushRequest, rcpt: DeliverRecipient, dsn: HopStatus): Promise<number> {
  return bounceCall(config, config.str('bounce_service_name') || 'bounce', [
    ...requestAttrs(BOUNCE_CMD.ONE, r),
    ...rcptAttrs(rcpt),
    ['status', dsn.status],
    ['diag_type', dsn.diag_type],
    ['diag_text', dsn.diag_text],
    ['mta_type', dsn.mta_type],
    ['mta_mname', dsn.mta_mname],
    ['action', dsn.action],
    ['reason', dsn.reason],
  ]);
}

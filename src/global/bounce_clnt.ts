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

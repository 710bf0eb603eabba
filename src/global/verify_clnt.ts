/**
 * verify_clnt - client of the address verification service (Postfix
 * global/verify_clnt.c).
 *
 * verifyQuery(addr) asks private/verify (address_verify_service_name) for
 * the cached status of an address; the service answers at once with what it
 * knows (DEL_RCPT_STAT_TODO while a probe is under way) and sends a probe
 * when needed. verifyUpdate() is how delivery agents, in probe mode
 * (DEL_REQ_FLAG_MTA_VRFY), report the outcome. Attributes are Postfix's:
 * request=query|update, address, recipient_status, reason; the reply has
 * status (VRFY_STAT_*) and, for a query, recipient_status and reason.
 */

import { attrExpectProtocol, readAttrs, sendAttrs } from '../util/attr.js';
import type { MailConfig } from './mail_conf.js';
import { mailConnect } from './mail_connect.js';

export const VERIFY_PROTOCOL = 'address_verify_protocol';
export const VRFY_REQ_QUERY = 'query';
export const VRFY_REQ_UPDATE = 'update';

/** VRFY_STAT_* (the service's own status) */
export const VRFY_STAT = { OK: 0, FAIL: -1, BAD: -2 } as const;

/** DEL_RCPT_STAT_* (the address's status) */
export const DEL_RCPT_STAT = { OK: 0, DEFER: 1, BOUNCE: 2, TODO: 3 } as const;

export interface VerifyAnswer {
  status: number;
  addrStatus: number;
  reason: string;
}

async function call(config: MailConfig, attrs: Array<[string, string | number]>): Promise<Map<string, string>> {
  const stream = await mailConnect(config, 'private', config.str('address_verify_service_name'), config.time('ipc_timeout') * 1000);
  try {
    await attrExpectProtocol(stream, VERIFY_PROTOCOL);
    sendAttrs(stream, attrs);
    await stream.flush();
    const reply = await readAttrs(stream);
    if (reply === null) throw new Error('verify service: no reply');
    const out = new Map<string, string>();
    for (const name of ['status', 'recipient_status', 'reason']) {
      const v = reply.get(name);
      if (v !== undefined) out.set(name, v);
    }
    return out;
  } finally {
    stream.close();
  }
}

/** verifyQuery - the status of an address (VRFY_STAT_FAIL when the service cannot be reached). */
export async function verifyQuery(config: MailConfig, address: string): Promise<VerifyAnswer> {
  try {
    const r = await call(config, [
      ['request', VRFY_REQ_QUERY],
      ['address', address],
    ]);
    return {
      status: Number(r.get('status') ?? VRFY_STAT.FAIL),
      addrStatus: Number(r.get('recipient_status') ?? DEL_RCPT_STAT.TODO),
      reason: r.get('reason') ?? '',
    };
  } catch {
    return { status: VRFY_STAT.FAIL, addrStatus: DEL_RCPT_STAT.TODO, reason: '' };
  }
}

/** verifyUpdate - record the outcome of a probe; resolves to the service status. */
export async function verifyUpdate(config: MailConfig, address: string, addrStatus: number, reason: string): Promise<number> {
  const r = await call(config, [
    ['request', VRFY_REQ_UPDATE],
    ['address', address],
    ['recipient_status', addrStatus],
    ['reason', reason],
  ]);
  return Number(r.get('status') ?? VRFY_STAT.FAIL);
}

/**
 * flush_clnt - client of the fast flush service (Postfix global/flush_clnt.c),
 * used by postqueue -f/-s/-i, sendmail -q/-qR/-qI and smtpd ETRN.
 */

import { attrExpectProtocol, readAttrs, sendAttrs, type AttrPairs } from '../util/attr.js';
import type { MailConfig } from './mail_conf.js';
import { mailConnect } from './mail_connect.js';

export const FLUSH_PROTOCOL = 'queue_flush_protocol'; // MAIL_ATTR_PROTO_FLUSH (Postfix mail_proto.h)
export const FLUSH_STAT = { OK: 0, FAIL: -1, BAD: 3, DENY: 4 } as const;

async function flushRequest(config: MailConfig, pairs: AttrPairs): Promise<number> {
  const stream = await mailConnect(config, 'public', config.str('flush_service_name') || 'flush', 100_000);
  try {
    await attrExpectProtocol(stream, FLUSH_PROTOCOL);
    sendAttrs(stream, pairs);
    await stream.flush();
    const reply = await readAttrs(stream);
    if (reply === null) return FLUSH_STAT.FAIL;
    return reply.int('status');
  } finally {
    stream.close();
  }
}

/** flushPurge - postqueue -f: deliver everything now. */
export function flushPurge(config: MailConfig): Promise<number> {
  return flushRequest(config, [['request', 'purge']]);
}

/** flushSendSite - ETRN, postqueue -s site. */
export function flushSendSite(config: MailConfig, site: string): Promise<number> {
  return flushRequest(config, [['request', 'send_site'], ['site', site]]);
}

/** flushSendFile - postqueue -i id. */
export function flushSendFile(config: MailConfig, queueId: string): Promise<number> {
  return flushRequest(config, [['request', 'send_file'], ['queue_id', queueId]]);
}

/** flushAdd - remember a deferred message for a fast-flush site. */
export function flushAdd(config: MailConfig, site: string, queueId: string): Promise<number> {
  return flushRequest(config, [['request', 'add'], ['site', site], ['queue_id', queueId]]);
}

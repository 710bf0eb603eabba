/**
 * deliver_pass - hand one recipient of a delivery request to another
 * delivery agent (Postfix global/deliver_pass.c), as local does for
 * mailbox_transport and fallback_transport. The other agent logs and
 * marks the recipient itself; the caller only learns its final status.
 */

import type { MailConfig } from './mail_conf.js';
import { mailConnect } from './mail_connect.js';
import { readDeliverReply, sendDeliverRequest, DELIVER_STAT_CRASH, type DeliverRecipient, type DeliverRequest } from './deliver_request.js';

/** splitTransport - "transport:nexthop" (the nexthop defaults to the request's). */
export function splitTransport(spec: string, defaultNexthop: string): { transport: string; nexthop: string } {
  const colon = spec.indexOf(':');
  if (colon < 0) return { transport: spec, nexthop: defaultNexthop };
  return { transport: spec.slice(0, colon), nexthop: spec.slice(colon + 1) || defaultNexthop };
}

/** deliverPass - the agent's final status (0 done, 1 deferred, -1 no answer). */
export async function deliverPass(config: MailConfig, spec: string, req: DeliverRequest, rcpt: DeliverRecipient): Promise<number> {
  const { transport, nexthop } = splitTransport(spec, req.nexthop);
  const stream = await mailConnect(config, 'private', transport, config.time('ipc_timeout') * 1000);
  try {
    await sendDeliverRequest(stream, { ...req, nexthop, rcpt: [rcpt], stats: { ...req.stats, agentHandoff: Date.now() } });
    const reply = await readDeliverReply(stream);
    return reply.status === DELIVER_STAT_CRASH ? -1 : reply.status;
  } finally {
    stream.close();
  }
}

/**
 * discard - the discard mail delivery agent (Postfix discard(8)).
 *
 * Every recipient is marked delivered without delivering anything; the
 * nexthop text is the reason logged (`status=sent (text)`, dsn 2.0.0,
 * relay=none).
 */

import type { VStream } from '../util/vstream.js';
import type { ServerContext } from '../master/mail_server.js';
import { readDeliverRequest, sendDeliverReply, emptyHop } from '../global/deliver_request.js';
import { DeliveryStatus } from '../global/deliver_status.js';
import { dsnSplit } from '../global/dsn_split.js';

export async function discardService(stream: VStream, ctx: ServerContext): Promise<void> {
  const req = await readDeliverRequest(stream);
  if (req === null) return;
  const { dsn, text } = dsnSplit('2.0.0', req.nexthop);
  const status = new DeliveryStatus(ctx.config, req);
  for (const rcpt of req.rcpt) {
    await status.sent(rcpt, { dsn: dsn.startsWith('2') ? dsn : '2.0.0', text, relay: 'none' });
  }
  await sendDeliverReply(stream, { hop: emptyHop(), status: status.status });
}

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  singleServerMain(argv, { service: discardService });
}

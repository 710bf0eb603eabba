/**
 * error - the error and retry mail delivery agents (Postfix error(8)).
 *
 * Every recipient of a request fails with the nexthop text as reason:
 * `error:[d.d.d ]text` bounces (default 5.0.0); the same program run as the
 * `retry` service defers (default 4.0.0). Both log relay=none.
 */

import type { VStream } from '../util/vstream.js';
import type { ServerContext } from '../master/mail_server.js';
import { readDeliverRequest, sendDeliverReply, emptyHop } from '../global/deliver_request.js';
import { DeliveryStatus } from '../global/deliver_status.js';
import { dsnSplit } from '../global/dsn_split.js';

export async function errorService(stream: VStream, ctx: ServerContext): Promise<void> {
  const req = await readDeliverRequest(stream);
  if (req === null) return;
  const retry = ctx.serviceName === 'retry';
  const { dsn, text } = dsnSplit(retry ? '4.0.0' : '5.0.0', req.nexthop);
  const status = new DeliveryStatus(ctx.config, req);
  for (const rcpt of req.rcpt) {
    const outcome = { dsn: retry ? '4' + dsn.slice(1) : dsn, text, relay: 'none' };
    if (retry || dsn.startsWith('4')) await status.defer(rcpt, outcome);
    else await status.bounce(rcpt, outcome);
  }
  await sendDeliverReply(stream, { hop: emptyHop(), status: status.status });
}

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  singleServerMain(argv, { service: errorService });
}

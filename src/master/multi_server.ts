/**
 * multi_server - skeleton for daemons that serve many clients at once on
 * one event loop (Postfix master/multi_server.c): trivial-rewrite, proxymap,
 * anvil, scache, verify, tlsmgr.
 *
 * Every client connection stays open for as long as the client wants; the
 * service routine is called once per connection and usually loops over
 * requests until the client disconnects. master.cf maxproc counts processes
 * for these services, as in Postfix.
 */

import type { StreamServerOptions } from './mail_server.js';
import { streamServerMain } from './stream_server.js';

/** multiServerMain - run a multi-connection server; `concurrency` 0/absent = no limit. */
export function multiServerMain(argv: string[], opts: StreamServerOptions): Promise<void> {
  const cap = opts.concurrency && opts.concurrency > 0 ? Math.floor(opts.concurrency) : 0;
  return streamServerMain(argv, opts, cap, 'multi');
}

/**
 * single_server - skeleton for daemons that serve one client per call of
 * their service routine (Postfix master/single_server.c): smtpd, cleanup,
 * local, smtp, bounce, showq, error, discard, flush ...
 *
 * Unlike Postfix, one process may serve `concurrency` clients at the same
 * time (default 1), because a Node process is much more expensive than a C
 * one; master still counts clients against the master.cf process limit.
 */

import type { StreamServerOptions } from './mail_server.js';
import { streamServerMain } from './stream_server.js';

/**
 * MULTI_CLIENT_SLOTS - the clients a busy multi-client daemon (smtpd,
 * cleanup; smtp has its own) serves at once: twice the 20 of a busy sender or
 * destination (default_destination_concurrency_limit). master hears that a
 * client is done only after it is, so with exactly 20 slots the next client
 * found the process "full" and a second process was started; both then
 * warmed up and kept a young generation of their own (docs/PERFORMANCE.md,
 * stop 11).
 */
export const MULTI_CLIENT_SLOTS = 40;

/** singleServerMain - run a single-connection server; resolves once it is serving. */
export function singleServerMain(argv: string[], opts: StreamServerOptions): Promise<void> {
  const cap = Math.max(1, Math.floor(opts.concurrency ?? 1));
  return streamServerMain(argv, opts, cap, 'single');
}

/**
 * master_proto - the master <-> child process protocol (Postfix
 * master/master_proto.h, master_status.c).
 *
 * Postfix children accept() on listening sockets that master passes as
 * inherited descriptors and report "taken"/"available" on a status pipe.
 * A Node process cannot stop accepting on a shared listening socket without
 * closing it for good, so here master accepts and hands each connection to
 * the child of its choice over the Node IPC channel (descriptor 3), using
 * SCM_RIGHTS descriptor passing. The child reports its capacity and max_use
 * once it is initialised, one "done" per finished client, and "retire" when
 * it wants to exit (max_use/max_idle); master answers "stop" (nothing more
 * is on its way) and the child exits once its clients are done. Master
 * tracks the busy/available state from that, as Postfix tracks
 * MASTER_STAT_TAKEN/AVAIL. See docs/ARCHITECTURE.md.
 *
 * All messages are small JSON objects produced by this code only; both
 * sides validate the "t" field and ignore anything else.
 */

/** Child -> master. */
export type ChildMessage =
  /**
   * initialised; cap = clients it serves at once (0 = no limit: multi/trigger
   * servers); uses = clients it serves before it exits (max_use; 0 = no limit)
   */
  | { t: 'ready'; cap: number; uses?: number }
  /** one client (connection, trigger or datagram batch) finished */
  | { t: 'done' }
  /** the child saw activity that master did not hand it (datagrams, fifo bytes) */
  | { t: 'used' }
  /** the child wants to exit: send it nothing more, and confirm with "stop" */
  | { t: 'retire' };

/** Master -> child. */
export type MasterMessage =
  /** a new client connection; its bare libuv handle comes with the message (the child wraps it in a net.Socket) */
  | { t: 'conn' }
  /** nothing more will come: finish the current clients and exit (reload, or the answer to "retire") */
  | { t: 'stop' };

/** Environment variable with the generation number of a child (Postfix MASTER_GEN_NAME). */
export const MASTER_GEN_NAME = 'GENERATION';

/** Internal flag set on children that master started (so a daemon run by hand can tell). */
export const MASTER_CHILD_ENV = 'POSTFIX_MASTER_CHILD';

export function isChildMessage(m: unknown): m is ChildMessage {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { t?: unknown }).t;
  if (t === 'ready') return typeof (m as { cap?: unknown }).cap === 'number';
  return t === 'done' || t === 'used' || t === 'retire';
}

export function isMasterMessage(m: unknown): m is MasterMessage {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { t?: unknown }).t;
  return t === 'conn' || t === 'stop';
}

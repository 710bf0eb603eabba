/**
 * qmgr_sched - transports, destinations and the delivery loop of the queue
 * manager (Postfix qmgr/qmgr_transport.c, qmgr_queue.c, qmgr_entry.c,
 * qmgr_deliver.c; the round-robin scheduler of oqmgr).
 *
 * Recipients are grouped per (transport, nexthop) destination queue. Each
 * destination has a concurrency window that starts at
 * initial_destination_concurrency, grows by 1/window per success up to
 * <transport>_destination_concurrency_limit and shrinks per failure; after
 * <transport>_destination_concurrency_failed_cohort_limit failed cohorts
 * the destination is dead and its pending recipients are deferred with the
 * last failure reason. A transport whose agent cannot be reached is
 * suspended for transport_retry_time. One delivery request carries at most
 * <transport>_destination_recipient_limit recipients of one message.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import { parseMasterCf } from '../global/master_cf.js';
import type { MailConfig } from '../global/mail_conf.js';
import { mailConnect } from '../global/mail_connect.js';
import {
  readDeliverReply,
  sendDeliverRequest,
  DELIVER_STAT_CRASH,
  DELIVER_STAT_OK,
  DEL_REQ_FLAG_DEFLT,
  emptyHop,
  type DeliverRecipient,
  type DeliverRequest,
  type HopStatus,
} from '../global/deliver_request.js';
import { DeliveryStatus } from '../global/deliver_status.js';
import type { QmgrRecipient } from './qmgr_message.js';
import { verpSender } from '../global/verp_sender.js';

/** A message in the active queue, as the scheduler sees it. */
export interface ActiveMessage {
  queueId: string;
  queueName: string;
  sender: string;
  arrival: number;
  activeArrival: number;
  dataOffset: number;
  dataSize: number;
  sendopts: number;
  encoding: string;
  envid: string;
  ret: number;
  deliveryFlags: number;
  attrs: Map<string, string>;
  /** deliveries still outstanding for this message */
  pending: number;
  /** some recipient was deferred in this pass */
  deferred: boolean;
  /** postsuper -e: expire without delivering */
  forcedExpire?: boolean;
  /** activated after a flush ('F'): defer_transports do deliver */
  dfxp?: boolean;
  /** called once when pending drops to zero */
  onDone(msg: ActiveMessage): void;
  /** V record: the two VERP delimiters; each recipient then gets a request of its own (Postfix single_rcpt) */
  verpDelims?: string;
}

interface Entry {
  message: ActiveMessage;
  recipients: QmgrRecipient[];
}

/** A per-transport number: <transport>_<suffix>, else default_<suffix>. */
function transportParam(config: MailConfig, transport: string, suffix: string, fallback = `default_${suffix}`): number {
  const specific = `${transport}_${suffix}`;
  if (config.raw(specific) !== undefined) return config.int(specific);
  return config.int(fallback);
}

/** A concurrency feedback value: "N" (constant) or "N/concurrency" (divided by the window), Postfix qmgr_feedback.c. */
export interface Feedback {
  base: number;
  perWindow: boolean;
}

export function parseFeedback(text: string): Feedback {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(concurrency|\d+(?:\.\d+)?))?\s*$/.exec(text);
  if (!m) {
    msg.warn(`bad concurrency feedback value: "${text}"; using 1`);
    return { base: 1, perWindow: false };
  }
  const base = Number(m[1]);
  if (m[2] === undefined) return { base: Math.min(1, base), perWindow: false };
  if (m[2] === 'concurrency') return { base: Math.min(1, base), perWindow: true };
  const div = Number(m[2]);
  return { base: div > 0 ? Math.min(1, base / div) : 1, perWindow: false };
}

function feedbackValue(fb: Feedback, window: number): number {
  return fb.perWindow ? fb.base / Math.max(1, window) : fb.base;
}

/** transportProcessLimit - the maxproc of the transport's master.cf unix service (0 = unlimited), else default_process_limit. */
function transportProcessLimit(config: MailConfig, transport: string): number {
  const fallback = Math.max(1, config.int('default_process_limit'));
  try {
    const text = readFileSync(join(config.configDir, 'master.cf'), 'utf8');
    const entries = parseMasterCf(text, 'master.cf', { defaultProcessLimit: fallback, warn: () => undefined });
    const e = entries.find((x) => x.service === transport && x.type === 'unix');
    if (!e) return fallback;
    return e.maxproc > 0 ? e.maxproc : Number.MAX_SAFE_INTEGER;
  } catch {
    return fallback;
  }
}

export class Destination {
  readonly todo: Entry[] = [];
  busy = 0;
  window: number;
  success = 0;
  failure = 0;
  failCohorts = 0;
  deadUntil = 0;
  deadReason: HopStatus | undefined;

  constructor(
    readonly transport: Transport,
    readonly nexthop: string,
  ) {
    this.window = transport.initialConcurrency;
  }

  get name(): string {
    return this.nexthop;
  }
}

export class Transport {
  readonly destinations = new Map<string, Destination>();
  busy = 0;
  suspendedUntil = 0;
  readonly initialConcurrency: number;
  readonly concurrencyLimit: number;
  readonly recipientLimit: number;
  readonly failedCohortLimit: number;
  readonly positiveFeedback: Feedback;
  readonly negativeFeedback: Feedback;
  readonly processLimit: number;
  private rr = 0;

  constructor(
    readonly name: string,
    config: MailConfig,
  ) {
    const limit = transportParam(config, name, 'destination_concurrency_limit');
    this.concurrencyLimit = limit > 0 ? limit : Number.MAX_SAFE_INTEGER;
    const initial = transportParam(config, name, 'initial_destination_concurrency', 'initial_destination_concurrency');
    this.initialConcurrency = Math.min(this.concurrencyLimit, Math.max(1, initial));
    const rl = transportParam(config, name, 'destination_recipient_limit');
    this.recipientLimit = rl > 0 ? rl : Number.MAX_SAFE_INTEGER;
    this.failedCohortLimit = transportParam(config, name, 'destination_concurrency_failed_cohort_limit');
    const fb = (suffix: string) => {
      const specific = `${name}_destination_concurrency_${suffix}_feedback`;
      const v = config.raw(specific) !== undefined ? config.str(specific) : config.str(`default_destination_concurrency_${suffix}_feedback`);
      return parseFeedback(v);
    };
    this.positiveFeedback = fb('positive');
    this.negativeFeedback = fb('negative');
    this.processLimit = transportProcessLimit(config, name);
  }

  destination(nexthop: string): Destination {
    let d = this.destinations.get(nexthop);
    if (!d) {
      d = new Destination(this, nexthop);
      this.destinations.set(nexthop, d);
    }
    return d;
  }

  /** nextReady - round-robin over destinations with work and room in their window. */
  nextReady(now: number): Destination | undefined {
    const list = [...this.destinations.values()];
    for (let n = 0; n < list.length; n++) {
      const d = list[(this.rr + n) % list.length];
      if (d.todo.length > 0 && d.deadUntil <= now && d.busy < Math.floor(d.window)) {
        this.rr = (this.rr + n + 1) % list.length;
        return d;
      }
    }
    return undefined;
  }
}

/** The transport that defers recipients on qmgr's behalf (Postfix MAIL_SERVICE_RETRY). */
export const RETRY_TRANSPORT = 'retry';

export class Scheduler {
  private readonly transports = new Map<string, Transport>();
  private scheduled = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly config: MailConfig) {}

  private transport(name: string): Transport {
    let t = this.transports.get(name);
    if (!t) {
      t = new Transport(name, this.config);
      this.transports.set(name, t);
    }
    return t;
  }

  /** busyCount - deliveries in progress (for idle detection and tests). */
  get busyCount(): number {
    let n = 0;
    for (const t of this.transports.values()) n += t.busy;
    return n;
  }

  /** stop - cancel the unthrottle timers. */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** forgetDead - 'F' trigger: forget dead destinations and suspended transports. */
  forgetDead(): void {
    for (const t of this.transports.values()) {
      t.suspendedUntil = 0;
      for (const d of t.destinations.values()) this.unthrottle(d);
    }
    this.kick();
  }

  private unthrottle(d: Destination): void {
    d.deadUntil = 0;
    d.deadReason = undefined;
    d.failCohorts = 0;
    d.success = 0;
    d.failure = 0;
    d.window = d.transport.initialConcurrency;
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref?.();
    this.timers.add(timer);
  }

  /** enqueue - add one message's recipients for (transport, nexthop), split into request-sized entries. */
  enqueue(message: ActiveMessage, transportName: string, nexthop: string, recipients: QmgrRecipient[]): void {
    const t = this.transport(transportName);
    const now = Date.now();
    if (transportName !== RETRY_TRANSPORT) {
      // A suspended transport or a dead destination: the retry agent defers the
      // recipients with the reason (Postfix qmgr_error_transport/qmgr_error_nexthop).
      if (t.suspendedUntil > now) {
        this.enqueue(message, RETRY_TRANSPORT, '4.3.0 mail transport unavailable', recipients);
        return;
      }
      const dead = t.destinations.get(nexthop);
      if (dead && dead.deadUntil > now) {
        this.enqueue(message, RETRY_TRANSPORT, suspendedNexthop(dead.deadReason), recipients);
        return;
      }
    }
    const d = t.destination(nexthop);
    const limit = message.verpDelims ? 1 : t.recipientLimit;
    for (let i = 0; i < recipients.length; i += limit) {
      d.todo.push({ message, recipients: recipients.slice(i, i + limit) });
      message.pending++;
    }
    this.kick();
  }

  /** kick - run the scheduling loop soon (coalesces many enqueues into one pass). */
  kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private run(): void {
    const now = Date.now();
    for (const t of this.transports.values()) {
      if (t.suspendedUntil > now) continue;
      while (t.busy < t.processLimit) {
        const d = t.nextReady(now);
        if (!d) break;
        const entry = d.todo.shift()!;
        d.busy++;
        t.busy++;
        void this.deliver(t, d, entry).finally(() => {
          d.busy--;
          t.busy--;
          this.entryDone(entry.message);
          if (d.todo.length === 0 && d.busy === 0 && d.deadUntil <= Date.now()) t.destinations.delete(d.nexthop);
          this.kick();
        });
      }
    }
  }

  private entryDone(message: ActiveMessage): void {
    if (--message.pending === 0) message.onDone(message);
  }

  private request(entry: Entry, nexthop: string): DeliverRequest {
    const m = entry.message;
    const a = m.attrs;
    return {
      flags: m.deliveryFlags || DEL_REQ_FLAG_DEFLT,
      queue_name: m.queueName,
      queue_id: m.queueId,
      data_offset: m.dataOffset,
      data_size: m.dataSize,
      nexthop,
      encoding: m.encoding,
      sendopts: m.sendopts,
      // VERP: prefix@origin becomes prefix+user=domain@origin (one recipient per request).
      sender: m.verpDelims && entry.recipients.length > 0 ? verpSender(m.verpDelims, m.sender, entry.recipients[0]) : m.sender,
      dsn_envid: m.envid,
      dsn_ret: m.ret,
      stats: { arrival: m.arrival, activeArrival: m.activeArrival, agentHandoff: Date.now() },
      client_name: a.get('log_client_name') ?? '',
      client_addr: a.get('log_client_address') ?? '',
      client_port: a.get('log_client_port') ?? '',
      client_proto: a.get('log_protocol_name') ?? '',
      client_helo: a.get('log_helo_name') ?? '',
      sasl_method: a.get('sasl_method') ?? '',
      sasl_username: a.get('sasl_username') ?? '',
      sasl_sender: a.get('sasl_sender') ?? '',
      log_ident: a.get('log_ident') ?? m.queueId,
      rewrite_context: a.get('rewrite_context') ?? '',
      rcpt: entry.recipients.map(toDeliverRecipient),
    };
  }

  private async deliver(t: Transport, d: Destination, entry: Entry): Promise<void> {
    let stream;
    try {
      stream = await mailConnect(this.config, 'private', t.name, this.config.time('ipc_timeout') * 1000);
    } catch (err) {
      msg.warn(`connect to transport private/${t.name}: ${connectError(err as NodeJS.ErrnoException)}`);
      this.suspendTransport(t, entry);
      return;
    }
    try {
      await sendDeliverRequest(stream, this.request(entry, d.nexthop));
      const reply = await readDeliverReply(stream);
      if (reply.status === DELIVER_STAT_CRASH) {
        msg.warn(`private/${t.name} socket: malformed response`);
        this.suspendTransport(t, entry);
        return;
      }
      if (reply.status !== DELIVER_STAT_OK) entry.message.deferred = true;
      this.feedback(d, reply.hop);
    } catch (err) {
      msg.warn(`private/${t.name}: ${(err as Error).message}`);
      this.feedback(d, { ...emptyHop(), status: '4.3.0', reason: 'unknown mail transport error' });
      await this.deferEntry(entry, 'unknown mail transport error');
    } finally {
      stream.close();
    }
  }

  /** suspendTransport - the agent cannot be reached: suspend the transport for transport_retry_time. */
  private suspendTransport(t: Transport, entry: Entry): void {
    const ms = this.config.time('transport_retry_time') * 1000;
    t.suspendedUntil = Date.now() + ms;
    this.later(ms, () => {
      t.suspendedUntil = 0;
      this.kick();
    });
    entry.message.pending++; // the in-flight entry is also finished by deliver()'s caller
    const pending = [entry];
    for (const d of t.destinations.values()) pending.push(...d.todo.splice(0));
    for (const e of pending) this.redirect(e, t.name === RETRY_TRANSPORT ? undefined : '4.3.0 mail transport unavailable');
  }

  /** redirect - hand a counted entry to the retry agent (or, when that is the problem, defer it here). */
  private redirect(e: Entry, nexthop: string | undefined): void {
    if (nexthop === undefined) {
      void this.deferEntry(e, 'mail transport unavailable').finally(() => this.entryDone(e.message));
    } else {
      this.enqueue(e.message, RETRY_TRANSPORT, nexthop, e.recipients);
      this.entryDone(e.message);
    }
  }

  /**
   * feedback - concurrency window and dead-site bookkeeping from the hop
   * status (Postfix qmgr_queue_unthrottle/qmgr_queue_throttle): a success
   * grows the window by the positive feedback; a failure adds 1/window to the
   * failed cohorts (the destination is dead when they reach the limit) and
   * shrinks the window by the negative feedback.
   */
  private feedback(d: Destination, hop: HopStatus): void {
    const t = d.transport;
    if (!hop.status) {
      d.failCohorts = 0;
      d.failure = 0;
      if (d.window < t.concurrencyLimit) {
        d.success += feedbackValue(t.positiveFeedback, d.window);
        if (d.success >= 1) {
          d.window = Math.min(t.concurrencyLimit, d.window + 1);
          d.success = 0;
        }
      }
      return;
    }
    if (d.deadUntil > Date.now()) return;
    d.success = 0;
    d.failCohorts += 1 / Math.max(1, d.window);
    if (t.failedCohortLimit > 0 && d.failCohorts >= t.failedCohortLimit) {
      const ms = this.config.time('minimal_backoff_time') * 1000;
      d.deadUntil = Date.now() + ms;
      d.deadReason = hop;
      this.later(ms, () => {
        this.unthrottle(d);
        if (d.todo.length === 0 && d.busy === 0) t.destinations.delete(d.nexthop);
        this.kick();
      });
      if (t.name !== RETRY_TRANSPORT) {
        for (const e of d.todo.splice(0)) this.redirect(e, suspendedNexthop(hop));
      }
      return;
    }
    d.failure += feedbackValue(t.negativeFeedback, d.window);
    if (d.failure >= 1) {
      d.window = Math.max(1, d.window - 1);
      d.failure = 0;
    }
  }

  /** deferEntry - defer every recipient of an entry from within qmgr (relay=none). */
  private async deferEntry(entry: Entry, text: string): Promise<void> {
    entry.message.deferred = true;
    const req = this.request(entry, '');
    const status = new DeliveryStatus(this.config, req);
    for (const r of req.rcpt) await status.defer(r, { dsn: '4.3.0', text, relay: 'none' });
  }

  /** bounceNow / deferNow - qmgr-level outcomes for recipients that never reach an agent. */
  async outcome(message: ActiveMessage, recipients: QmgrRecipient[], kind: 'bounce' | 'defer' | 'sent', dsn: string, text: string): Promise<void> {
    const req = this.request({ message, recipients }, '');
    const status = new DeliveryStatus(this.config, req);
    for (const r of req.rcpt) {
      if (kind === 'bounce') await status.bounce(r, { dsn, text, relay: 'none' });
      else if (kind === 'defer') await status.defer(r, { dsn, text, relay: 'none' });
      else await status.sent(r, { dsn, text, relay: 'none' });
    }
    if (kind === 'defer' || status.status !== DELIVER_STAT_OK) message.deferred = true;
  }
}

/** suspendedNexthop - the retry agent's nexthop for a dead destination: "X.Y.Z delivery temporarily suspended: reason". */
function suspendedNexthop(hop: HopStatus | undefined): string {
  const dsn = hop?.status && /^4\.\d{1,3}\.\d{1,3}$/.test(hop.status) ? hop.status : '4.0.0';
  return `${dsn} delivery temporarily suspended: ${hop?.reason || 'unknown mail transport error'}`;
}

function connectError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return 'No such file or directory';
  if (err.code === 'ECONNREFUSED') return 'Connection refused';
  return err.message;
}

function toDeliverRecipient(r: QmgrRecipient): DeliverRecipient {
  return { orig_addr: r.orig, address: r.address, offset: r.offset, dsn_orcpt: r.dsnOrcpt, dsn_notify: r.notify };
}

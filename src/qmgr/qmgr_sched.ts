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

import { msg } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';
import { mailConnect } from '../global/mail_connect.js';
import {
  readDeliverReply,
  sendDeliverRequest,
  DELIVER_STAT_CRASH,
  DELIVER_STAT_OK,
  DEL_REQ_FLAG_DEFLT,
  type DeliverRecipient,
  type DeliverRequest,
  type HopStatus,
} from '../global/deliver_request.js';
import { DeliveryStatus } from '../global/deliver_status.js';
import type { QmgrRecipient } from './qmgr_message.js';

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
  /** called once when pending drops to zero */
  onDone(msg: ActiveMessage): void;
}

interface Entry {
  message: ActiveMessage;
  recipients: QmgrRecipient[];
}

/** A per-transport number: <transport>_<suffix>, else default_<suffix>. */
function transportParam(config: MailConfig, transport: string, suffix: string): number {
  const specific = `${transport}_${suffix}`;
  if (config.raw(specific) !== undefined) return config.int(specific);
  return config.int(`default_${suffix}`);
}

class Destination {
  readonly todo: Entry[] = [];
  busy = 0;
  window: number;
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

class Transport {
  readonly destinations = new Map<string, Destination>();
  busy = 0;
  suspendedUntil = 0;
  readonly initialConcurrency: number;
  readonly concurrencyLimit: number;
  readonly recipientLimit: number;
  readonly failedCohortLimit: number;
  private rr = 0;

  constructor(
    readonly name: string,
    config: MailConfig,
  ) {
    this.concurrencyLimit = Math.max(1, transportParam(config, name, 'destination_concurrency_limit'));
    this.initialConcurrency = Math.min(this.concurrencyLimit, Math.max(1, config.int('initial_destination_concurrency')));
    const rl = transportParam(config, name, 'destination_recipient_limit');
    this.recipientLimit = rl > 0 ? rl : Number.MAX_SAFE_INTEGER;
    this.failedCohortLimit = Math.max(1, transportParam(config, name, 'destination_concurrency_failed_cohort_limit'));
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

export class Scheduler {
  private readonly transports = new Map<string, Transport>();
  private scheduled = false;
  private readonly processLimit: number;

  constructor(private readonly config: MailConfig) {
    this.processLimit = Math.max(1, config.int('default_process_limit'));
  }

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

  /** forgetDead - 'F' trigger: forget dead destinations and suspended transports. */
  forgetDead(): void {
    for (const t of this.transports.values()) {
      t.suspendedUntil = 0;
      for (const d of t.destinations.values()) {
        d.deadUntil = 0;
        d.failCohorts = 0;
        d.window = t.initialConcurrency;
      }
    }
    this.kick();
  }

  /** enqueue - add one message's recipients for (transport, nexthop), split into request-sized entries. */
  enqueue(message: ActiveMessage, transportName: string, nexthop: string, recipients: QmgrRecipient[]): void {
    const t = this.transport(transportName);
    const d = t.destination(nexthop);
    const now = Date.now();
    if (t.suspendedUntil > now || d.deadUntil > now) {
      const reason = d.deadUntil > now && d.deadReason ? d.deadReason : undefined;
      message.pending++;
      void this.deferEntry({ message, recipients }, transportName, reason, 'delivery temporarily suspended: ').finally(() => this.entryDone(message));
      return;
    }
    for (let i = 0; i < recipients.length; i += t.recipientLimit) {
      d.todo.push({ message, recipients: recipients.slice(i, i + t.recipientLimit) });
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
      while (t.busy < this.processLimit) {
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
      sender: m.sender,
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
      msg.warn(`connect to transport private/${t.name}: ${(err as Error).message.replace(/^connect \w+ \S+$/, 'Connection refused')}`);
      t.suspendedUntil = Date.now() + this.config.time('transport_retry_time') * 1000;
      await this.deferEntry(entry, t.name, undefined, '', 'mail transport unavailable');
      return;
    }
    try {
      await sendDeliverRequest(stream, this.request(entry, d.nexthop));
      const reply = await readDeliverReply(stream);
      if (reply.status === DELIVER_STAT_CRASH) {
        msg.warn(`private/${t.name} socket: malformed response`);
        t.suspendedUntil = Date.now() + this.config.time('transport_retry_time') * 1000;
        await this.deferEntry(entry, t.name, undefined, '', 'unknown mail transport error');
        return;
      }
      if (reply.status !== DELIVER_STAT_OK) entry.message.deferred = true;
      this.feedback(d, reply.hop);
    } catch (err) {
      msg.warn(`private/${t.name}: ${(err as Error).message}`);
      await this.deferEntry(entry, t.name, undefined, '', 'unknown mail transport error');
    } finally {
      stream.close();
    }
  }

  /** feedback - concurrency window and dead-site bookkeeping from the hop status. */
  private feedback(d: Destination, hop: HopStatus): void {
    if (!hop.status) {
      d.failCohorts = 0;
      d.window = Math.min(d.transport.concurrencyLimit, d.window + 1 / Math.max(1, d.window));
      return;
    }
    d.window = Math.max(1, d.window - 1 / Math.max(1, d.window));
    d.failCohorts += 1 / Math.max(1, Math.floor(d.window));
    if (d.failCohorts >= d.transport.failedCohortLimit) {
      d.deadUntil = Date.now() + this.config.time('minimal_backoff_time') * 1000;
      d.deadReason = hop;
      const pending = d.todo.splice(0);
      for (const e of pending) {
        void this.deferEntry(e, d.transport.name, hop, 'delivery temporarily suspended: ').finally(() => this.entryDone(e.message));
      }
    }
  }

  /** deferEntry - defer every recipient of an entry from within qmgr (relay=none, as Postfix). */
  private async deferEntry(entry: Entry, transport: string, hop: HopStatus | undefined, prefix: string, fallbackText = 'delivery temporarily suspended'): Promise<void> {
    entry.message.deferred = true;
    const req = this.request(entry, '');
    const status = new DeliveryStatus(this.config, req);
    const text = hop ? prefix + hop.reason : fallbackText;
    const dsn = hop?.status && hop.status.startsWith('4') ? hop.status : '4.3.0';
    for (const r of req.rcpt) {
      await status.defer(r, { dsn, text, relay: 'none' });
    }
    void transport;
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
    if (kind === 'defer') message.deferred = true;
  }
}

function toDeliverRecipient(r: QmgrRecipient): DeliverRecipient {
  return { orig_addr: r.orig, address: r.address, offset: r.offset, dsn_orcpt: r.dsnOrcpt, dsn_notify: r.notify };
}

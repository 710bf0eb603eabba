/**
 * qmgr_sched - transports, destinations, jobs and the delivery loop of the
 * queue manager (Postfix qmgr/qmgr_transport.c, qmgr_queue.c, qmgr_job.c,
 * qmgr_peer.c, qmgr_entry.c, qmgr_deliver.c; the nqmgr scheduler described
 * in Postfix's SCHEDULER_README).
 *
 * Recipients are grouped per (transport, nexthop) destination queue, and per
 * transport into one job per message; a peer is one job's share of one
 * destination and lists that message's entries (requests) for it. Per
 * transport the scheduler walks the job list (pick-up order), takes the
 * first job with a peer whose destination has room in its concurrency
 * window (jobs without one are "blockers" and are skipped), and hands the
 * next entry of that peer (round-robin over the job's peers) to the agent.
 *
 * Preemption: every entry selected for a job adds one to its slot counter;
 * <transport>_delivery_slot_cost entries earn one delivery slot. A later job
 * that needs no more slots than the current job can still earn may preempt
 * it (the one with the largest waiting time per needed entry is chosen) as
 * soon as the current job has a positive counter and its slots plus
 * <transport>_delivery_slot_loan reach the candidate's need less
 * <transport>_delivery_slot_discount percent; the
 * candidate moves in front of the current job and its need is charged to
 * the current job's counter. Jobs that can never earn
 * <transport>_minimum_delivery_slots are not preempted; a slot cost of 0
 * turns preemption off (and oqmgr never preempts).
 *
 * Each destination has a concurrency window that starts at
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
  DEL_REQ_FLAG,
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
  /** what each delivery request passes on about the client (see RequestAttrs) */
  attrs: RequestAttrs;
  /** deliveries still outstanding for this message */
  pending: number;
  /** some recipient was deferred in this pass */
  deferred: boolean;
  /** postsuper -e: expire without delivering */
  forcedExpire?: boolean;
  /** activated after a flush ('F'): defer_transports do deliver */
  dfxp?: boolean;
  /** W record: when the next delay warning is due (epoch seconds, 0 = none) and where the record is */
  warnTime?: number;
  warnOffset?: number;
  /** called once when pending drops to zero */
  onDone(msg: ActiveMessage): void;
  /** V record: the two VERP delimiters; each recipient then gets a request of its own (Postfix single_rcpt) */
  verpDelims?: string;
  /** recipients of this message held by the scheduler (queued or being delivered) */
  inCore?: number;
  /** recipients still unread in the queue file (they keep the message's jobs) */
  unread?: number;
  /** called after each finished entry: qmgr may read more recipients */
  refill?(msg: ActiveMessage): void;
}

/**
 * RequestAttrs - the queue file's named attributes that a delivery request
 * carries (Postfix QMGR_MESSAGE keeps these as separate fields too). Up to
 * qmgr_message_active_limit messages are in core at once, so each keeps
 * these few strings rather than the file's whole attribute map.
 */
export interface RequestAttrs {
  clientName: string;
  clientAddr: string;
  clientPort: string;
  clientProto: string;
  clientHelo: string;
  saslMethod: string;
  saslUsername: string;
  saslSender: string;
  /** '' = the queue ID */
  logIdent: string;
  rewriteContext: string;
}

/** requestAttrs - pick the request attributes out of a queue file's attribute map. */
export function requestAttrs(attrs: ReadonlyMap<string, string>): RequestAttrs {
  return {
    clientName: attrs.get('log_client_name') ?? '',
    clientAddr: attrs.get('log_client_address') ?? '',
    clientPort: attrs.get('log_client_port') ?? '',
    clientProto: attrs.get('log_protocol_name') ?? '',
    clientHelo: attrs.get('log_helo_name') ?? '',
    saslMethod: attrs.get('sasl_method') ?? '',
    saslUsername: attrs.get('sasl_username') ?? '',
    saslSender: attrs.get('sasl_sender') ?? '',
    logIdent: attrs.get('log_ident') ?? '',
    rewriteContext: attrs.get('rewrite_context') ?? '',
  };
}

/** The one empty array that empty lists share (frozen: a push to it would throw; push replaces it). */
const NO_ITEMS = Object.freeze([]) as never[];

/**
 * A first-in first-out list with O(1) shift (entries of a peer can number
 * many thousands). Most peers hold one entry: the first push makes an array
 * of exactly one element (an empty array grown by push reserves 17 slots,
 * ≈ 150 bytes, and there is a peer per in-core message).
 */
class Fifo<T> {
  private items: T[] = NO_ITEMS;
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.items.length === 0) this.items = [item];
    else this.items.push(item);
  }

  /** last - the most recently pushed item still in the list. */
  last(): T | undefined {
    return this.items.length > this.head ? this.items[this.items.length - 1] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head === this.items.length) {
      this.items = NO_ITEMS;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** drain - remove and return everything. */
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = NO_ITEMS;
    this.head = 0;
    return out;
  }
}

export class Destination {
  /** peers (jobs) with entries for this destination */
  readonly peers = new Set<Peer>();
  /** entries waiting (the queue's todo list, counted) */
  pending = 0;
  busy = 0;
  window: number;
  success = 0;
  failure = 0;
  failCohorts = 0;
  deadUntil = 0;
  deadReason: HopStatus | undefined;
  /** no "clogging up the active queue" warning before this time */
  clogWarnAt = 0;
  /** on-demand connection caching: DEL_REQ_FLAG.CONN_LOAD/CONN_STORE for this destination's requests */
  connFlags = 0;
  /** when (seconds) a delivery to this destination last finished, for back-to-back detection */
  lastDone = 0;

  /**
   * name is the queue name: the nexthop, or, when the transport's
   * destination_recipient_limit is 1, the recipient (localpart@nexthop), so
   * that the concurrency limit applies per recipient (postconf(5)).
   */
  constructor(
    readonly transport: Transport,
    readonly name: string,
    readonly nexthop: string,
  ) {
    this.window = transport.initialConcurrency;
  }

  /** ready - entries wait, the destination is alive and its window has room. */
  ready(now: number): boolean {
    return this.pending > 0 && this.deadUntil <= now && this.busy < Math.floor(this.window);
  }
}

/** One job's entries for one destination (Postfix QMGR_PEER). */
export class Peer {
  readonly todo = new Fifo<Entry>();
  removed = false;

  constructor(
    readonly job: Job,
    readonly dest: Destination,
  ) {}
}

/** Above this many peers a job looks its peers up in a map rather than by a scan. */
const PEER_SCAN_LIMIT = 8;

/** One message within one transport (Postfix QMGR_JOB). */
export class Job {
  prev: Job | undefined;
  next: Job | undefined;
  inList = false;
  /**
   * Its peers, in round-robin order; removed ones are skipped and swept out
   * now and then. A job of one message usually has one peer: a lookup map is
   * made only for a job with many (a Map per in-core message was ≈ 200 bytes).
   */
  private peerList: Peer[] = NO_ITEMS;
  private peerIndex: Map<string, Peer> | undefined;
  /** peers not removed */
  private livePeers = 0;
  private rr = 0;
  /** entries waiting in this job's peers */
  todo = 0;
  /** entries of this job being delivered */
  busy = 0;
  /** entries selected so far */
  selected = 0;
  /** entries selected while current, less the slots (x cost) lent to preempting jobs */
  slotsAvailable = 0;
  /** slots used by jobs that preempted this one */
  slotsUsed = 0;
  /** this job preempted another and may use the transport's extra recipient pool */
  preempting = false;

  constructor(
    readonly transport: Transport,
    readonly message: ActiveMessage,
  ) {}

  get enqueueTime(): number {
    return this.message.activeArrival;
  }

  peer(d: Destination): Peer {
    let p = this.findPeer(d.name);
    if (!p) {
      p = new Peer(this, d);
      if (this.peerList.length === 0) this.peerList = [p];
      else this.peerList.push(p);
      if (this.peerIndex) this.peerIndex.set(d.name, p);
      else if (this.peerList.length > PEER_SCAN_LIMIT) this.peerIndex = new Map(this.livePeerEntries());
      this.livePeers++;
      d.peers.add(p);
    }
    return p;
  }

  /** findPeer - the live peer for a destination name. */
  private findPeer(name: string): Peer | undefined {
    if (this.peerIndex) return this.peerIndex.get(name);
    for (const p of this.peerList) if (!p.removed && p.dest.name === name) return p;
    return undefined;
  }

  private livePeerEntries(): [string, Peer][] {
    return this.peerList.filter((p) => !p.removed).map((p) => [p.dest.name, p]);
  }

  dropPeer(p: Peer): void {
    if (p.removed) return;
    p.removed = true;
    this.livePeers--;
    this.peerIndex?.delete(p.dest.name);
    p.dest.peers.delete(p);
    if (this.peerList.length > 16 && this.livePeers * 2 < this.peerList.length) {
      this.peerList = this.peerList.filter((x) => !x.removed);
      this.rr = 0;
    }
  }

  /** readyPeer - the next peer (round-robin by destination) whose destination can take an entry. */
  readyPeer(now: number): Peer | undefined {
    const n = this.peerList.length;
    for (let i = 0; i < n; i++) {
      const p = this.peerList[(this.rr + i) % n];
      if (!p.removed && p.todo.length > 0 && p.dest.ready(now)) {
        this.rr = (this.rr + i + 1) % n;
        return p;
      }
    }
    if (n > 0 && this.livePeers === 0) {
      this.peerList = NO_ITEMS;
      this.peerIndex = undefined;
      this.rr = 0;
    }
    return undefined;
  }

  /** maxEntries - the most entries this job can still have: selected, queued, and unread recipients. */
  maxEntries(): number {
    return this.selected + this.todo + (this.message.unread ?? 0);
  }

  /** need - the entries it takes to finish this job (at most). */
  need(): number {
    return this.todo + (this.message.unread ?? 0);
  }
}

export interface Entry {
  message: ActiveMessage;
  recipients: QmgrRecipient[];
  peer?: Peer;
}

/** A per-transport number: <transport>_<suffix>, else default_<suffix>. */
function transportParam(config: MailConfig, transport: string, suffix: string, fallback = `default_${suffix}`): number {
  const specific = `${transport}_${suffix}`;
  if (config.raw(specific) !== undefined) return config.int(specific);
  return config.int(fallback);
}

function transportTime(config: MailConfig, transport: string, suffix: string): number {
  const specific = `${transport}_${suffix}`;
  if (config.raw(specific) !== undefined) return config.time(specific);
  return config.time(`default_${suffix}`);
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

export interface SchedulerOptions {
  /** false: never preempt (oqmgr) */
  preempt?: boolean;
  /** messages in the active queue (for the clog warning) */
  activeCount?: () => number;
}

export class Transport {
  readonly destinations = new Map<string, Destination>();
  /** the scheduler's job list: pick-up order, preempting jobs moved in front of the job they preempt */
  head: Job | undefined;
  tail: Job | undefined;
  /** jobs per message */
  readonly jobs = new Map<ActiveMessage, Job>();
  busy = 0;
  suspendedUntil = 0;
  /** recipients of this transport's entries held in memory */
  recipientsInCore = 0;
  readonly initialConcurrency: number;
  readonly concurrencyLimit: number;
  readonly recipientLimit: number;
  readonly failedCohortLimit: number;
  readonly positiveFeedback: Feedback;
  readonly negativeFeedback: Feedback;
  readonly processLimit: number;
  /** delivery slots: cost (0 = no preemption), loan, discount (percent), minimum */
  readonly slotCost: number;
  readonly slotLoan: number;
  readonly slotDiscount: number;
  readonly minSlots: number;
  /** in-memory recipient pools: <transport>_recipient_limit, _extra_recipient_limit; refills */
  readonly rcptLimit: number;
  readonly extraRcptLimit: number;
  readonly refillLimit: number;
  readonly refillDelay: number;
  /** candidate cache: valid while the job list is unchanged, within the same second */
  private listVersion = 0;
  private cache: { version: number; second: number; current: Job; candidate: Job | undefined } | undefined;

  constructor(
    readonly name: string,
    config: MailConfig,
    opts: SchedulerOptions = {},
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
    const cost = Math.max(0, transportParam(config, name, 'delivery_slot_cost'));
    // 0 turns preemption off; the least cost the algorithm can use is 2 (postconf(5))
    this.slotCost = opts.preempt === false || cost === 0 ? 0 : Math.max(2, cost);
    this.slotLoan = Math.max(0, transportParam(config, name, 'delivery_slot_loan'));
    this.slotDiscount = Math.min(100, Math.max(0, transportParam(config, name, 'delivery_slot_discount')));
    this.minSlots = Math.max(0, transportParam(config, name, 'minimum_delivery_slots'));
    this.rcptLimit = Math.max(1, transportParam(config, name, 'recipient_limit'));
    this.extraRcptLimit = Math.max(0, transportParam(config, name, 'extra_recipient_limit'));
    this.refillLimit = Math.max(1, transportParam(config, name, 'recipient_refill_limit'));
    this.refillDelay = Math.max(0, transportTime(config, name, 'recipient_refill_delay'));
  }

  destination(name: string, nexthop: string): Destination {
    let d = this.destinations.get(name);
    if (!d) {
      d = new Destination(this, name, nexthop);
      this.destinations.set(name, d);
    }
    return d;
  }

  /** job - the message's job on this transport, created in pick-up order. */
  job(message: ActiveMessage): Job {
    let j = this.jobs.get(message);
    if (!j) {
      j = new Job(this, message);
      this.jobs.set(message, j);
      // insert by pick-up time, searching from the end (usually O(1))
      let after = this.tail;
      while (after && after.enqueueTime > j.enqueueTime) after = after.prev;
      this.insertAfter(j, after);
    }
    return j;
  }

  private insertAfter(j: Job, after: Job | undefined): void {
    j.prev = after;
    j.next = after ? after.next : this.head;
    if (j.next) j.next.prev = j;
    else this.tail = j;
    if (after) after.next = j;
    else this.head = j;
    j.inList = true;
    this.listVersion++;
  }

  private unlink(j: Job): void {
    if (j.prev) j.prev.next = j.next;
    else this.head = j.next;
    if (j.next) j.next.prev = j.prev;
    else this.tail = j.prev;
    j.prev = j.next = undefined;
    j.inList = false;
    this.listVersion++;
  }

  /** dropJob - the job has nothing queued or in flight: leave the job list. */
  dropJob(j: Job): void {
    if (!j.inList) return;
    this.unlink(j);
    this.jobs.delete(j.message);
  }

  /** anyReady - some destination could take an entry now (cheap test before walking the job list). */
  anyReady(now: number): boolean {
    if (this.destinations.size > 64) return true; // many (per-recipient) queues: let the walk find out
    for (const d of this.destinations.values()) if (d.ready(now)) return true;
    return false;
  }

  /**
   * select - the next entry to deliver, starting the job-list walk at `from`
   * (jobs before it were found blocked in this pass). Returns the entry and
   * the job it came from, after trying to preempt that job.
   */
  select(now: number, from: Job | undefined): { entry: Entry; job: Job } | undefined {
    let current = from;
    let peer: Peer | undefined;
    for (; current; current = current.next) {
      peer = current.readyPeer(now);
      if (peer) break;
    }
    if (!current || !peer) return undefined;
    const preemptor = this.preempt(current, now);
    if (preemptor) {
      const p = preemptor.readyPeer(now);
      if (p) {
        current = preemptor;
        peer = p;
      }
    }
    const entry = peer.todo.shift()!;
    peer.dest.pending--;
    current.todo--;
    current.busy++;
    current.selected++;
    current.slotsAvailable++;
    if (peer.todo.length === 0) current.dropPeer(peer);
    return { entry, job: current };
  }

  /** preempt - move the best candidate in front of the current job when it has earned enough slots. */
  private preempt(current: Job, now: number): Job | undefined {
    if (this.slotCost === 0) return undefined;
    const cost = this.slotCost;
    // Jobs that can never earn the minimum number of slots are not preempted.
    if (current.maxEntries() < this.minSlots * cost) return undefined;
    const candidate = this.candidate(current, now);
    if (!candidate) return undefined;
    const need = candidate.need();
    // A job must have earned something since it was last charged: the loan
    // lets a job be preempted early, not again and again (as Postfix 3.7
    // behaves: S1 B B S2 B B B B B S3 ...).
    if (current.slotsAvailable <= 0) return undefined;
    if (current.slotsAvailable / cost + this.slotLoan < (need * (100 - this.slotDiscount)) / 100) return undefined;
    current.slotsAvailable -= need * cost;
    current.slotsUsed += need;
    candidate.preempting = true;
    this.unlink(candidate);
    this.insertAfter(candidate, current.prev);
    return candidate;
  }

  /**
   * candidate - among the jobs after the current one that are not blocked
   * and need no more slots than the current job can still earn, the one
   * with the largest waiting time per needed entry (cached while the job
   * list and the second stay the same).
   */
  private candidate(current: Job, now: number): Job | undefined {
    const second = Math.floor(now / 1000);
    const c = this.cache;
    if (c && c.version === this.listVersion && c.second === second && c.current === current) {
      if (!c.candidate || (c.candidate.inList && c.candidate.readyPeer(now))) return c.candidate;
    }
    const cost = this.slotCost;
    const room = Math.floor(current.maxEntries() / cost) - current.slotsUsed;
    let best: Job | undefined;
    let bestScore = -1;
    if (room > 0) {
      for (let j = current.next; j; j = j.next) {
        const need = j.need();
        if (need <= 0 || need > room) continue;
        const score = (now - j.enqueueTime + 1) / need;
        if (score <= bestScore) continue;
        if (!j.readyPeer(now)) continue;
        best = j;
        bestScore = score;
      }
    }
    this.cache = { version: this.listVersion, second, current, candidate: best };
    return best;
  }

  /** recipientRoom - how many more recipients the transport's pool lets this job's message read. */
  recipientRoom(job: Job | undefined): number {
    const limit = this.rcptLimit + (job?.preempting ? this.extraRcptLimit : 0);
    return limit - this.recipientsInCore;
  }
}

/** The transport that defers recipients on qmgr's behalf (Postfix MAIL_SERVICE_RETRY). */
export const RETRY_TRANSPORT = 'retry';

export class Scheduler {
  private readonly transports = new Map<string, Transport>();
  private scheduled = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** recipients held in entries (queued or being delivered), all transports */
  recipientsInCore = 0;
  private readonly activeLimit: number;

  constructor(
    private readonly config: MailConfig,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.activeLimit = Math.max(1, config.int('qmgr_message_active_limit'));
  }

  private transport(name: string): Transport {
    let t = this.transports.get(name);
    if (!t) {
      t = new Transport(name, this.config, this.opts);
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

  /**
   * recipientRoom - how many more recipients of this message the
   * per-transport pools allow in memory (the least over its jobs), or
   * undefined when the message has no job.
   */
  recipientRoom(message: ActiveMessage): number | undefined {
    let room: number | undefined;
    for (const t of this.transports.values()) {
      const j = t.jobs.get(message);
      if (!j) continue;
      const r = t.recipientRoom(j);
      room = room === undefined ? r : Math.min(room, r);
    }
    return room;
  }

  /** refillParams - the least refill limit and delay (ms) over the message's transports. */
  refillParams(message: ActiveMessage): { limit: number; delayMs: number } {
    let limit = Number.MAX_SAFE_INTEGER;
    let delayMs = Number.MAX_SAFE_INTEGER;
    for (const t of this.transports.values()) {
      if (!t.jobs.has(message)) continue;
      limit = Math.min(limit, t.refillLimit);
      delayMs = Math.min(delayMs, t.refillDelay * 1000);
    }
    if (limit === Number.MAX_SAFE_INTEGER) {
      limit = Math.max(1, this.config.int('default_recipient_refill_limit'));
      delayMs = this.config.time('default_recipient_refill_delay') * 1000;
    }
    return { limit, delayMs };
  }

  /** dropMessage - the message is finished: its (empty) jobs leave their transports. */
  dropMessage(message: ActiveMessage): void {
    for (const t of this.transports.values()) {
      const j = t.jobs.get(message);
      if (j && j.todo === 0 && j.busy === 0) t.dropJob(j);
    }
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
    if (t.recipientLimit === 1 && transportName !== RETRY_TRANSPORT) {
      // one queue per recipient: the concurrency limit is per recipient
      for (const r of recipients) this.enqueueQueue(message, t, perRecipientQueue(r.address, nexthop), nexthop, [r]);
    } else {
      this.enqueueQueue(message, t, nexthop, nexthop, recipients);
    }
  }

  private enqueueQueue(message: ActiveMessage, t: Transport, queueName: string, nexthop: string, recipients: QmgrRecipient[]): void {
    const transportName = t.name;
    const now = Date.now();
    if (transportName !== RETRY_TRANSPORT) {
      // A suspended transport or a dead destination: the retry agent defers the
      // recipients with the reason (Postfix qmgr_error_transport/qmgr_error_nexthop).
      if (t.suspendedUntil > now) {
        this.enqueue(message, RETRY_TRANSPORT, '4.3.0 mail transport unavailable', recipients);
        return;
      }
      const dead = t.destinations.get(queueName);
      if (dead && dead.deadUntil > now) {
        this.enqueue(message, RETRY_TRANSPORT, suspendedNexthop(dead.deadReason), recipients);
        return;
      }
    }
    const d = t.destination(queueName, nexthop);
    const job = t.job(message);
    const peer = job.peer(d);
    const limit = message.verpDelims ? 1 : t.recipientLimit;
    // Top up the peer's last queued entry first (a later slice of the same
    // message), so that requests stay full however the recipients were read.
    let start = 0;
    const last = peer.todo.last();
    if (last && last.recipients.length < limit) {
      start = Math.min(recipients.length, limit - last.recipients.length);
      for (let k = 0; k < start; k++) last.recipients.push(recipients[k]);
    }
    for (let i = start; i < recipients.length; i += limit) {
      const entry: Entry = { message, recipients: recipients.slice(i, i + limit), peer };
      peer.todo.push(entry);
      d.pending++;
      job.todo++;
      message.pending++;
    }
    message.inCore = (message.inCore ?? 0) + recipients.length;
    t.recipientsInCore += recipients.length;
    this.recipientsInCore += recipients.length;
    this.clogWarning(d, now);
    this.kick();
  }

  /**
   * clogWarning - one destination holds more than a fifth of
   * qmgr_message_active_limit entries: say so, at most once per
   * qmgr_clog_warn_time per destination (the lines of Postfix 3.7).
   */
  private clogWarning(d: Destination, now: number): void {
    const entries = d.pending + d.busy;
    if (entries * 5 <= this.activeLimit || now < d.clogWarnAt) return;
    const every = this.config.time('qmgr_clog_warn_time');
    if (every <= 0) return;
    d.clogWarnAt = now + every * 1000;
    const t = d.transport;
    const active = Math.max(entries, this.opts.activeCount?.() ?? entries);
    msg.warn(`mail for ${d.name} is using up ${entries} of ${active} active queue entries`);
    if (entries < active) msg.warn('this may slow down other mail deliveries');
    if (t.concurrencyLimit < Number.MAX_SAFE_INTEGER && d.window >= t.concurrencyLimit) {
      msg.warn(`you may need to increase the main.cf ${t.name}_destination_concurrency_limit from ${t.concurrencyLimit}`);
    } else {
      msg.warn(`you may need to reduce ${t.name} connect and helo timeouts`);
      msg.warn('so that Postfix quickly skips unavailable hosts');
      msg.warn('you may need to increase the main.cf minimal_backoff_time and maximal_backoff_time');
      msg.warn('so that Postfix wastes less time on undeliverable mail');
      msg.warn(`you may need to increase the master.cf ${t.name} process limit`);
    }
    msg.warn('please avoid flushing the whole queue when you have');
    msg.warn('lots of deferred mail, that is bad for performance');
    msg.warn('to turn off these warnings specify: qmgr_clog_warn_time = 0');
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
      // Jobs found blocked earlier in this pass stay blocked: destinations only fill up.
      let from = t.head;
      while (t.busy < t.processLimit && from && t.anyReady(now)) {
        const sel = t.select(now, from);
        if (!sel) break;
        from = sel.job;
        this.launch(t, sel.job, sel.entry);
      }
    }
  }

  private launch(t: Transport, job: Job, entry: Entry): void {
    const d = entry.peer!.dest;
    d.busy++;
    t.busy++;
    updateConnCaching(d);
    void this.deliver(t, d, entry).then((consumed) => {
      d.lastDone = Math.floor(Date.now() / 1000);
      d.busy--;
      t.busy--;
      job.busy--;
      if (!consumed) this.finishEntry(t, entry);
      if (job.todo === 0 && job.busy === 0 && !(job.message.unread! > 0)) t.dropJob(job);
      if (d.pending === 0 && d.busy === 0 && d.deadUntil <= Date.now()) t.destinations.delete(d.name);
      this.kick();
    });
  }

  /** finishEntry - an entry is done with (delivered, deferred, or handed on): release its recipients. */
  private finishEntry(t: Transport, entry: Entry): void {
    const n = entry.recipients.length;
    const m = entry.message;
    m.inCore = (m.inCore ?? 0) - n;
    t.recipientsInCore -= n;
    this.recipientsInCore -= n;
    m.refill?.(m);
    if (--m.pending === 0) {
      this.dropMessage(m);
      m.onDone(m);
    }
  }

  /** takeQueued - remove a queued (not yet selected) entry from its peer and destination. */
  private takeQueued(e: Entry): void {
    const p = e.peer;
    if (!p) return;
    p.dest.pending--;
    p.job.todo--;
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
      client_name: a.clientName,
      client_addr: a.clientAddr,
      client_port: a.clientPort,
      client_proto: a.clientProto,
      client_helo: a.clientHelo,
      sasl_method: a.saslMethod,
      sasl_username: a.saslUsername,
      sasl_sender: a.saslSender,
      log_ident: a.logIdent || m.queueId,
      rewrite_context: a.rewriteContext,
      rcpt: entry.recipients.map(toDeliverRecipient),
    };
  }

  /** deliver - one delivery request; true when the entry was handed on (suspended transport) instead of finished. */
  private async deliver(t: Transport, d: Destination, entry: Entry): Promise<boolean> {
    let stream;
    try {
      stream = await mailConnect(this.config, 'private', t.name, this.config.time('ipc_timeout') * 1000);
    } catch (err) {
      msg.warn(`connect to transport private/${t.name}: ${connectError(err as NodeJS.ErrnoException)}`);
      this.suspendTransport(t, entry);
      return true;
    }
    try {
      const req = this.request(entry, d.nexthop);
      req.flags |= d.connFlags;
      await sendDeliverRequest(stream, req);
      const reply = await readDeliverReply(stream);
      if (reply.status === DELIVER_STAT_CRASH) {
        msg.warn(`private/${t.name} socket: malformed response`);
        this.suspendTransport(t, entry);
        return true;
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
    return false;
  }

  /** suspendTransport - the agent cannot be reached: suspend the transport for transport_retry_time. */
  private suspendTransport(t: Transport, entry: Entry): void {
    const ms = this.config.time('transport_retry_time') * 1000;
    t.suspendedUntil = Date.now() + ms;
    this.later(ms, () => {
      t.suspendedUntil = 0;
      this.kick();
    });
    const pending = [entry];
    for (const d of t.destinations.values()) {
      for (const p of [...d.peers]) {
        for (const e of p.todo.drain()) {
          this.takeQueued(e);
          pending.push(e);
        }
        p.job.dropPeer(p);
      }
    }
    for (const e of pending) this.redirect(t, e, t.name === RETRY_TRANSPORT ? undefined : '4.3.0 mail transport unavailable');
  }

  /** redirect - hand an entry to the retry agent (or, when that is the problem, defer it here), then finish it. */
  private redirect(t: Transport, e: Entry, nexthop: string | undefined): void {
    if (nexthop === undefined) {
      void this.deferEntry(e, 'mail transport unavailable').finally(() => this.finishEntry(t, e));
    } else {
      this.enqueue(e.message, RETRY_TRANSPORT, nexthop, e.recipients);
      this.finishEntry(t, e);
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
        if (d.pending === 0 && d.busy === 0) t.destinations.delete(d.name);
        this.kick();
      });
      if (t.name !== RETRY_TRANSPORT) {
        const queued: Entry[] = [];
        for (const p of [...d.peers]) {
          for (const e of p.todo.drain()) {
            this.takeQueued(e);
            queued.push(e);
          }
          p.job.dropPeer(p);
        }
        for (const e of queued) this.redirect(t, e, suspendedNexthop(hop));
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

/** perRecipientQueue - the queue name of a recipient: localpart@nexthop, lower case. */
function perRecipientQueue(address: string, nexthop: string): string {
  const at = address.lastIndexOf('@');
  return `${(at >= 0 ? address.slice(0, at) : address).toLowerCase()}@${nexthop.toLowerCase()}`;
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

/**
 * updateConnCaching - on-demand connection caching for a destination, as the
 * Postfix queue manager decides it when it selects a delivery: caching (load
 * and store) starts once deliveries come back to back (the previous one
 * finished within the last second); storing stops again when there is
 * neither another delivery in progress nor a back-to-back one, while the
 * agent may still use what is cached.
 */
function updateConnCaching(d: Destination): void {
  const backToBack = d.lastDone + 1 >= Math.floor(Date.now() / 1000);
  if ((d.connFlags & DEL_REQ_FLAG.CONN_STORE) === 0) {
    if (backToBack) d.connFlags |= DEL_REQ_FLAG.CONN_LOAD | DEL_REQ_FLAG.CONN_STORE;
  } else if (!(d.busy > 1 || backToBack)) {
    d.connFlags &= ~DEL_REQ_FLAG.CONN_STORE;
  }
}

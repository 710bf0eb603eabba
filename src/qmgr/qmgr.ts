/**
 * qmgr - the queue manager (Postfix qmgr(8), nqmgr).
 *
 * A trigger server on public/qmgr. It moves complete files from incoming/
 * (on trigger) and deferred/ (every queue_run_delay, or at once on a flush)
 * into active/, reads each envelope, resolves every recipient through
 * trivial-rewrite, and hands the recipients per (transport, nexthop) to the
 * scheduler. When every delivery of a message is finished it is removed
 * (all recipients done) or moved to deferred/ with its mtime set to the next
 * retry time: now + clamp(age, minimal_backoff_time, maximal_backoff_time).
 * At start-up everything left in active/ (after a crash or kill -9) goes
 * back to incoming/ and is retried: at-least-once, nothing lost.
 *
 * Recipients are read in slices (qmgr_message_recipient_limit for all
 * messages, at least qmgr_message_recipient_minimum per message, and
 * <transport>_recipient_limit per transport; refills after
 * <transport>_recipient_refill_limit free places or
 * <transport>_recipient_refill_delay), so memory stays bounded for a huge
 * message as for a huge queue. Installed as qmgr and nqmgr (preemptive
 * scheduler) and as oqmgr (the same without preemption).
 *
 * Trigger requests: I (scan incoming), D (scan deferred), A (ignore retry
 * times on the next deferred scan), F (forget dead destinations), W (wake up).
 */

import { existsSync, readdirSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { MAIL_QUEUE, mailQueuePath, mailQueueRename, mailQueueRenameSync } from '../global/mail_queue.js';
import { bounceLogRead } from '../global/bounce_log.js';
import { bounceRequest, BOUNCE_CMD, BOUNCE_FLAG, type BounceFlushRequest } from '../global/bounce_clnt.js';
import { REC } from '../global/rec_type.js';
import { DEL_REQ_FLAG, DEL_REQ_FLAG_DEFLT } from '../global/deliver_request.js';
import { basename } from 'node:path';
import {
  readQueueFile,
  readRecipientSlice,
  CorruptQueueFile,
  type QmgrMessageInfo,
  type QmgrRecipient,
  type RecipientResume,
} from './qmgr_message.js';
import { Scheduler, RETRY_TRANSPORT, requestAttrs, type ActiveMessage, type RequestAttrs } from './qmgr_sched.js';
import { StringTable } from '../util/intern.js';
import { QmgrResolver, RESOLVE_FLAG } from './qmgr_resolve.js';
import { verpDelimsVerify } from '../global/verp_sender.js';


/** Where a message's recipient slices stand. */
interface SliceState {
  path: string;
  resume: RecipientResume | null;
  reading: boolean;
  lastRefill: number;
  /** postsuper -e: recipients that already have a deferral reason */
  known: Set<string> | undefined;
}

/** An active message as qmgr holds it: with its slice state while recipients are left unread. */
interface QmgrMessage extends ActiveMessage {
  slices: SliceState | undefined;
}

export class Qmgr {
  private readonly scheduler: Scheduler;
  private readonly resolver: QmgrResolver;
  /** queue ids currently in the active queue (in memory) */
  private readonly active = new Set<string>();
  private scanningIncoming = false;
  private rescanIncoming = false;
  private scanningDeferred = false;
  private rescanDeferred = false;
  private ignoreRetryTimes = false;
  /** 'F' was requested: the next scans also deliver defer_transports (Postfix QMGR_FLUSH_DFXP) */
  private flushDfxpIncoming = false;
  private flushDfxpDeferred = false;
  private deferredTimer: NodeJS.Timeout | undefined;
  private readonly activeLimit: number;
  private readonly recipientLimit: number;
  private readonly recipientMinimum: number;
  /** recipients read but not yet handed to the scheduler */
  private recipientsRouting = 0;
  /** the most recipients held in memory at once (tests, measurements) */
  peakRecipients = 0;
  /** slices read after the first one (tests, measurements) */
  refills = 0;

  /**
   * What every in-core message calls when it is done and when it may read
   * more recipients: one function each for all messages, not a closure per
   * message (up to qmgr_message_active_limit are in core).
   */
  private readonly onMessageDone = (m: ActiveMessage): void => void this.done(m);
  private readonly onRoomForRecipients = (m: ActiveMessage): void => this.refill(m as QmgrMessage);
  /** one copy of what many in-core messages repeat: senders, recipients, client attributes */
  private readonly strings = new StringTable();

  constructor(
    private readonly config: MailConfig,
    opts: { preempt?: boolean } = {},
  ) {
    this.scheduler = new Scheduler(config, { preempt: opts.preempt, activeCount: () => this.active.size });
    this.resolver = new QmgrResolver(config);
    this.activeLimit = Math.max(1, config.int('qmgr_message_active_limit'));
    this.recipientMinimum = Math.max(1, config.int('qmgr_message_recipient_minimum'));
    this.recipientLimit = Math.max(this.recipientMinimum, config.int('qmgr_message_recipient_limit'), 1);
  }

  /** recipientsInMemory - recipients being routed plus those the scheduler holds. */
  get recipientsInMemory(): number {
    return this.recipientsRouting + this.scheduler.recipientsInCore;
  }

  private noteRecipients(): void {
    const n = this.recipientsInMemory;
    if (n > this.peakRecipients) this.peakRecipients = n;
  }

  /** start - recover active/ into incoming/, then scan incoming and deferred, and start the deferred timer. */
  async start(): Promise<void> {
    await this.recoverActive();
    this.scheduleDeferredScans();
    void this.scanIncoming();
    void this.scanDeferred();
  }

  stop(): void {
    if (this.deferredTimer) clearInterval(this.deferredTimer);
    this.scheduler.stop();
    this.resolver.close();
  }

  /** trigger - the bytes of one wake-up request. */
  async trigger(request: Buffer): Promise<void> {
    const letters = request.toString('latin1');
    let incoming = false;
    let deferred = false;
    for (const ch of letters) {
      switch (ch) {
        case 'I':
          incoming = true;
          break;
        case 'D':
          deferred = true;
          break;
        case 'A':
          this.ignoreRetryTimes = true;
          break;
        case 'F':
          this.scheduler.forgetDead();
          this.flushDfxpIncoming = true;
          this.flushDfxpDeferred = true;
          break;
        case 'W':
          incoming = true;
          break;
        default:
          break;
      }
    }
    if (incoming) void this.scanIncoming();
    if (deferred) void this.scanDeferred();
  }

  private scheduleDeferredScans(): void {
    const ms = this.config.time('queue_run_delay') * 1000;
    this.deferredTimer = setInterval(() => void this.scanDeferred(), ms);
    this.deferredTimer.unref?.();
  }

  private queueDir(queue: string): string {
    return join(this.config.str('queue_directory'), queue);
  }

  /** recoverActive - files left in active/ by a previous qmgr go back to incoming/. */
  private async recoverActive(): Promise<void> {
    for (const id of queueNames(this.queueDir(MAIL_QUEUE.ACTIVE))) {
      try {
        await mailQueueRename(this.config, id, MAIL_QUEUE.ACTIVE, MAIL_QUEUE.INCOMING);
      } catch (err) {
        msg.warn(`${id}: move from active to incoming: ${(err as Error).message}`);
      }
    }
  }

  private async scanIncoming(): Promise<void> {
    if (this.scanningIncoming) {
      this.rescanIncoming = true;
      return;
    }
    this.scanningIncoming = true;
    try {
      do {
        this.rescanIncoming = false;
        const dfxp = this.flushDfxpIncoming;
        this.flushDfxpIncoming = false;
        await this.scanQueue(MAIL_QUEUE.INCOMING, false, dfxp);
      } while (this.rescanIncoming);
    } finally {
      this.scanningIncoming = false;
    }
  }

  private async scanDeferred(): Promise<void> {
    if (this.scanningDeferred) {
      this.rescanDeferred = true;
      return;
    }
    this.scanningDeferred = true;
    try {
      do {
        this.rescanDeferred = false;
        const ignore = this.ignoreRetryTimes;
        this.ignoreRetryTimes = false;
        const dfxp = this.flushDfxpDeferred;
        this.flushDfxpDeferred = false;
        await this.scanQueue(MAIL_QUEUE.DEFERRED, !ignore, dfxp);
      } while (this.rescanDeferred);
    } finally {
      this.scanningDeferred = false;
    }
  }

  /** scanQueue - activate every ready file of a queue, respecting the active limit and retry times. */
  private async scanQueue(queue: string, honourRetryTime: boolean, dfxp: boolean): Promise<void> {
    for (const id of queueNames(this.queueDir(queue))) {
      if (this.active.has(id)) continue;
      // qmgr_message_active_limit messages and (once one is in) qmgr_message_recipient_limit recipients in memory
      while (this.active.size >= this.activeLimit || (this.active.size > 0 && this.recipientsInMemory >= this.recipientLimit)) {
        await this.waitForRoom();
      }
      const path = mailQueuePath(this.config, queue, id);
      let st;
      try {
        st = statSync(path); // synchronous: a local inode, far cheaper than a thread-pool round trip
      } catch {
        continue; // gone meanwhile (postsuper, another scan)
      }
      // Only complete files: the owner-x bit marks "ready" (mail_open_ok).
      if ((st.mode & 0o700) !== 0o700) continue;
      if (honourRetryTime && st.mtimeMs > Date.now()) continue;
      try {
        // synchronous, as Postfix's qmgr: a rename in one directory tree costs less than a thread-pool round trip
        mailQueueRenameSync(this.config, id, queue, MAIL_QUEUE.ACTIVE);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') msg.warn(`${id}: move to active: ${(err as Error).message}`);
        continue;
      }
      await this.activate(id, (st.mode & 0o010) !== 0, dfxp);
    }
  }

  private roomWaiters: Array<() => void> = [];

  private waitForRoom(): Promise<void> {
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private releaseRoom(): void {
    // every waiting scan re-checks the limits
    const waiters = this.roomWaiters.splice(0);
    for (const w of waiters) w();
  }

  /** activate - read an active file and schedule its recipients. */
  private async activate(id: string, forcedExpire: boolean, dfxp: boolean): Promise<void> {
    const path = mailQueuePath(this.config, MAIL_QUEUE.ACTIVE, id);
    let info: QmgrMessageInfo;
    // The first slice: what the global pool has room for, at least the per-message minimum.
    const first = Math.max(this.recipientMinimum, this.recipientLimit - this.recipientsInMemory);
    try {
      info = await readQueueFile(path, id, first);
    } catch (err) {
      if (err instanceof CorruptQueueFile) {
        msg.warn(`${id}: message rejected: ${err.message}`);
        msg.warn(`saving corrupt file "${id}" from queue "${MAIL_QUEUE.ACTIVE}" to queue "${MAIL_QUEUE.CORRUPT}"`);
        await mailQueueRename(this.config, id, MAIL_QUEUE.ACTIVE, MAIL_QUEUE.CORRUPT).catch((e: Error) =>
          msg.warn(`${id}: move to ${MAIL_QUEUE.CORRUPT}: ${e.message}`),
        );
      } else {
        msg.warn(`${id}: open ${path}: ${(err as Error).message}`);
      }
      this.releaseRoom();
      return;
    }
    this.active.add(id);
    const strings = this.strings;
    // Every field is named here, so that it is stored in the object itself
    // (one added later goes to a separate property array); only what is named
    // stays in core with the message, not the file's info.
    const message: QmgrMessage = {
      queueId: id,
      queueName: MAIL_QUEUE.ACTIVE,
      sender: strings.intern(info.sender),
      arrival: info.arrival,
      activeArrival: Date.now(),
      dataOffset: info.dataOffset,
      dataSize: info.dataSize,
      sendopts: info.sendopts,
      encoding: strings.intern(info.attrs.get('encoding') ?? ''),
      envid: info.attrs.get('envelope_id') ?? '',
      ret: Number(info.attrs.get('ret_flags') ?? 0) || 0,
      deliveryFlags: deliveryFlags(info) | (info.warnTime < 0 && this.config.bool('confirm_delay_cleared') ? DEL_REQ_FLAG.REC_DLY_SENT : 0),
      attrs: this.internAttrs(requestAttrs(info.attrs), id),
      warnTime: info.warnTime,
      warnOffset: info.warnOffset,
      pending: 1, // held while recipients are being read and scheduled
      deferred: false,
      forcedExpire,
      dfxp,
      verpDelims: this.verpDelims(info),
      inCore: 0,
      unread: info.unread,
      onDone: this.onMessageDone,
      refill: this.onRoomForRecipients,
      slices: undefined,
    };
    msg.info(`${id}: from=<${info.sender}>, size=${info.dataSize}, nrcpt=${info.recipients.length + info.unread} (queue active)`);
    const slices: SliceState = { path, resume: info.resume, reading: false, lastRefill: Date.now(), known: undefined };
    if (forcedExpire) {
      // Administratively expired (postsuper -e): nothing is delivered. Recipients
      // without a deferral reason get one from the retry agent, then the defer
      // logfile goes back to the sender (qmgr_active_done).
      slices.known = new Set((await bounceLogRead(this.config, 'defer', id)).map((e) => e.recipient));
    }
    const recipients = info.recipients;
    for (const r of recipients) internRecipient(strings, r);
    if (slices.resume) message.slices = slices;
    await this.dispatch(message, slices, recipients);
    if (slices.resume) this.refill(message);
    else this.finishScheduling(message);
  }

  /**
   * internAttrs - the request attributes with the strings that repeat across
   * messages shared (client name, address, HELO, ...; the port differs per
   * session), and a log_ident that is the message's own queue ID kept as ''.
   */
  private internAttrs(attrs: RequestAttrs, queueId: string): RequestAttrs {
    const strings = this.strings;
    return {
      clientName: strings.intern(attrs.clientName),
      clientAddr: strings.intern(attrs.clientAddr),
      clientPort: attrs.clientPort,
      clientProto: strings.intern(attrs.clientProto),
      clientHelo: strings.intern(attrs.clientHelo),
      saslMethod: strings.intern(attrs.saslMethod),
      saslUsername: strings.intern(attrs.saslUsername),
      saslSender: strings.intern(attrs.saslSender),
      logIdent: attrs.logIdent === queueId ? '' : strings.intern(attrs.logIdent),
      rewriteContext: strings.intern(attrs.rewriteContext),
    };
  }

  /** dispatch - route one slice of recipients (or, for postsuper -e, hand them to the retry agent). */
  private async dispatch(message: ActiveMessage, slices: SliceState, recipients: QmgrRecipient[]): Promise<void> {
    this.recipientsRouting += recipients.length;
    this.noteRecipients();
    try {
      if (slices.known) {
        const unknown = recipients.filter((r) => !slices.known!.has(r.address));
        if (unknown.length > 0) this.scheduler.enqueue(message, RETRY_TRANSPORT, '4.7.0 message is administratively expired', unknown);
      } else {
        await this.route(message, recipients);
      }
    } finally {
      this.recipientsRouting -= recipients.length;
      this.noteRecipients();
    }
  }

  /**
   * refill - read the message's next recipient slice when its in-memory
   * recipients are all dealt with, or when the pools have room for at least
   * <transport>_recipient_refill_limit more, or some room and
   * <transport>_recipient_refill_delay has passed since the last refill.
   */
  private refill(message: QmgrMessage): void {
    const slices = message.slices;
    if (!slices?.resume || slices.reading) return;
    const global = this.recipientLimit - this.recipientsInMemory;
    const pool = this.scheduler.recipientRoom(message);
    const room = Math.min(global, pool ?? global);
    const inCore = message.inCore ?? 0;
    if (inCore > 0) {
      const { limit, delayMs } = this.scheduler.refillParams(message);
      if (!(room >= limit || (room > 0 && Date.now() - slices.lastRefill >= delayMs))) return;
    }
    void this.readSlice(message, slices, Math.max(this.recipientMinimum, room));
  }

  private async readSlice(message: QmgrMessage, slices: SliceState, limit: number): Promise<void> {
    slices.reading = true;
    try {
      for (;;) {
        const resume = slices.resume!;
        let slice;
        try {
          slice = await readRecipientSlice(slices.path, resume, limit);
        } catch (err) {
          // The file was read once already: leave the rest for the next queue run.
          msg.warn(`${message.queueId}: read recipients: ${(err as Error).message}`);
          message.deferred = true;
          slices.resume = null;
          break;
        }
        this.refills++;
        slices.resume = slice.resume;
        slices.lastRefill = Date.now();
        message.unread = slice.resume ? Math.max(0, (message.unread ?? 0) - slice.recipients.length) : 0;
        for (const r of slice.recipients) internRecipient(this.strings, r);
        await this.dispatch(message, slices, slice.recipients);
        // nothing of this slice stayed in memory (all bounced, deferred ...): go on at once
        if (!slices.resume || (message.inCore ?? 0) > 0) break;
        limit = Math.max(this.recipientMinimum, this.recipientLimit - this.recipientsInMemory);
      }
    } finally {
      slices.reading = false;
    }
    if (!slices.resume) {
      message.slices = undefined;
      this.finishScheduling(message);
    }
  }

  private finishScheduling(message: ActiveMessage): void {
    if (--message.pending === 0) {
      this.scheduler.dropMessage(message);
      message.onDone(message);
    }
  }

  /** expired - the message has been in the queue longer than its lifetime (bounce_queue_lifetime for bounces). */
  private expired(message: ActiveMessage): boolean {
    if (message.forcedExpire) return true;
    const lifetime = message.sender === '' ? this.config.time('bounce_queue_lifetime') : this.config.time('maximal_queue_lifetime');
    return Date.now() >= message.arrival + lifetime * 1000;
  }

  /** route - resolve recipients and hand them to the scheduler grouped by destination. */
  private async route(message: ActiveMessage, recipients: QmgrRecipient[]): Promise<void> {
    const routed: Routed[] = [];
    const deferTransports = new Set(this.config.list('defer_transports'));
    const retry: QmgrRecipient[] = [];
    for (const r of recipients) {
      let res;
      try {
        res = await this.resolver.resolve(message.sender, r.address);
      } catch (err) {
        await this.scheduler.outcome(message, [r], 'defer', '4.3.0', `address resolver failure: ${(err as Error).message}`);
        continue;
      }
      if (res.flags & RESOLVE_FLAG.FAIL) {
        await this.scheduler.outcome(message, [r], 'bounce', '5.1.3', res.nexthop || 'bad address syntax');
        continue;
      }
      if (res.flags & RESOLVE_FLAG.ERROR) {
        await this.scheduler.outcome(message, [r], 'defer', '4.3.0', res.nexthop || 'address resolver failure');
        continue;
      }
      // Mail for the double-bounce address is dropped here (qmgr_message.c).
      if (res.flags & RESOLVE_FLAG.CLASS_LOCAL && isDoubleBounce(this.config, res.recipient)) {
        await this.scheduler.outcome(message, [r], 'sent', '2.0.0', 'undeliverable postmaster notification discarded');
        continue;
      }
      if (deferTransports.has(res.transport) && !message.dfxp) {
        retry.push(r);
        continue;
      }
      routed.push({ transport: res.transport, nexthop: res.nexthop, rcpt: r.address === res.recipient ? r : { ...r, address: res.recipient, orig: r.orig || r.address } });
    }
    for (const r of retry) routed.push({ transport: RETRY_TRANSPORT, nexthop: '4.3.2 deferred transport', rcpt: r });
    // As Postfix (qmgr_message_sort): destinations in transport and next-hop order, and within one
    // the recipients by domain, then address, so that requests and RCPT TO come in that order.
    routed.sort(compareRouted);
    const groups = new Map<string, { transport: string; nexthop: string; rcpts: QmgrRecipient[] }>();
    for (const { transport, nexthop, rcpt } of routed) {
      const key = `${transport}\0${nexthop}`;
      let g = groups.get(key);
      if (!g) {
        g = { transport, nexthop, rcpts: [] };
        groups.set(key, g);
      }
      g.rcpts.push(rcpt);
    }
    for (const g of groups.values()) this.scheduler.enqueue(message, g.transport, g.nexthop, g.rcpts);
  }

  /** done - every delivery of the message finished: remove it or defer it. */
  private async done(message: ActiveMessage): Promise<void> {
    const id = message.queueId;
    try {
      // What is left to do is what the queue file still lists as R records.
      // When every delivery request of this pass came back DELIVER_STAT_OK,
      // each agent has marked all its recipients done in the file (a failed
      // mark makes its status a deferral), so nothing is left and the file
      // need not be read again (Postfix qmgr_deliver_update: only a deferral
      // keeps the message). After any deferral, and for postsuper -e, the
      // file says what is left.
      let remaining = 0;
      if (message.deferred || message.forcedExpire) {
        try {
          remaining = (await readQueueFile(mailQueuePath(this.config, MAIL_QUEUE.ACTIVE, id), id, 0)).unread;
        } catch (err) {
          msg.warn(`${id}: re-read active file: ${(err as Error).message}`);
          remaining = 1;
        }
      }
      // Most messages have no bounce or trace logfile: a stat answers that
      // without a thread-pool round trip (Postfix qmgr_active_done stats too).
      const bounces = this.logExists('bounce', id) ? await bounceLogRead(this.config, 'bounce', id) : [];
      if (bounces.length > 0) {
        // The bounce service sends the notice and removes the logfile; until it
        // succeeds the message stays in the queue (deferred), so no notice is lost.
        const ok = await this.flushBounces(message);
        if (!ok) {
          await this.deferMessage(message);
          return;
        }
      }
      const verifyOnly = (message.deliveryFlags & (DEL_REQ_FLAG.USR_VRFY | DEL_REQ_FLAG.MTA_VRFY)) !== 0;
      if (verifyOnly) {
        // sendmail -bv and address probes: one pass, then the report; never deferred.
        if ((message.deliveryFlags & DEL_REQ_FLAG.USR_VRFY) !== 0 && !(await this.flushTrace(message))) {
          await this.deferMessage(message);
          return;
        }
      } else if (remaining > 0) {
        if (this.expired(message)) {
          // status=expired: the defer logfile becomes a non-delivery notice.
          msg.info(`${id}: from=<${message.sender}>, status=${message.forcedExpire ? 'force-expired' : 'expired'}, returned to sender`);
          if (!(await this.flushDefer(message))) {
            await this.deferMessage(message);
            return;
          }
        } else {
          await this.delayWarning(message);
          await this.deferMessage(message);
          return;
        }
      } else if ((message.deliveryFlags & DEL_REQ_FLAG.RECORD) !== 0 || (this.logExists('trace', id) && (await bounceLogRead(this.config, 'trace', id)).length > 0)) {
        await this.flushTrace(message);
      }
      unlinkSync(mailQueuePath(this.config, MAIL_QUEUE.ACTIVE, id));
      this.removeLog('defer', id);
      this.removeLog('trace', id);
      msg.info(`${id}: removed`);
    } catch (err) {
      msg.warn(`${id}: ${(err as Error).message}`);
    } finally {
      this.active.delete(id);
      this.releaseRoom();
    }
  }

  /** logExists - a bounce/defer/trace logfile of the message exists (an unreadable one counts: reading it reports the error). */
  private logExists(queue: 'bounce' | 'defer' | 'trace', id: string): boolean {
    return existsSync(mailQueuePath(this.config, queue, id));
  }

  /** removeLog - delete a logfile, synchronously; a missing one is fine (bounceLogRemove without the thread pool). */
  private removeLog(queue: 'bounce' | 'defer' | 'trace', id: string): void {
    try {
      unlinkSync(mailQueuePath(this.config, queue, id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private async flushBounces(message: ActiveMessage): Promise<boolean> {
    try {
      const status = await bounceRequest(this.config, 'bounce', this.bounceArgs(message, this.flushCommand(message)));
      return status === 0;
    } catch (err) {
      msg.warn(`${message.queueId}: bounce service: ${(err as Error).message}`);
      return false;
    }
  }

  /** flushDefer - the defer service sends the defer logfile back as a non-delivery notice (expiry). */
  private async flushDefer(message: ActiveMessage): Promise<boolean> {
    try {
      const status = await bounceRequest(this.config, 'defer', this.bounceArgs(message, this.flushCommand(message)));
      return status === 0;
    } catch (err) {
      msg.warn(`${message.queueId}: defer service: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * delayWarning - when the W record's time has come, the defer service sends
   * a "still being retried" notice and the W record is set to -1 in place so
   * that it is sent once (Postfix qmgr_message_update_warn).
   */
  private async delayWarning(message: ActiveMessage): Promise<void> {
    const warnTime = message.warnTime ?? 0;
    const warnOffset = message.warnOffset ?? -1;
    if (!(warnTime > 0) || warnOffset < 0 || Date.now() / 1000 < warnTime - 1) return;
    try {
      const status = await bounceRequest(this.config, 'defer', this.bounceArgs(message, BOUNCE_CMD.WARN));
      if (status !== 0) return;
      // Postfix leaves -1 behind: a warning was sent (and is not sent again).
      await updateWarnRecord(mailQueuePath(this.config, MAIL_QUEUE.ACTIVE, message.queueId), warnOffset, -1);
    } catch (err) {
      msg.warn(`${message.queueId}: delay warning: ${(err as Error).message}`);
    }
  }

  private bounceArgs(message: ActiveMessage, command: number): BounceFlushRequest {
    return {
      command,
      flags: BOUNCE_FLAG.NONE,
      queueName: MAIL_QUEUE.ACTIVE,
      queueId: message.queueId,
      encoding: message.encoding,
      sendopts: message.sendopts,
      sender: message.sender,
      envid: message.envid,
      ret: message.ret,
      verpDelims: message.verpDelims,
    };
  }

  /**
   * flushCommand - a VERP message's bounces (and its expired defer logfile)
   * go out as one notice per recipient, each to that recipient's VERP'ed
   * sender, unless disable_verp_bounces (Postfix qmgr_active_done).
   */
  private flushCommand(message: ActiveMessage): number {
    return message.verpDelims && !this.config.bool('disable_verp_bounces') ? BOUNCE_CMD.VERP : BOUNCE_CMD.FLUSH;
  }

  /** verpDelims - the message's V record when it is usable; warns as Postfix qmgr_message.c does. */
  private verpDelims(info: QmgrMessageInfo): string {
    if (!info.verpDelims) return '';
    if (info.sender === '') {
      msg.warn(`${info.queueId}: ignoring VERP request for null sender`);
      return '';
    }
    if (verpDelimsVerify(info.verpDelims, this.config.str('verp_delimiter_filter')) !== null) {
      msg.warn(`${info.queueId}: ignoring bad VERP request: "${info.verpDelims.slice(0, 100)}"`);
      return '';
    }
    return info.verpDelims;
  }

  private async flushTrace(message: ActiveMessage): Promise<boolean> {
    try {
      return (await bounceRequest(this.config, 'trace', this.bounceArgs(message, BOUNCE_CMD.TRACE))) === 0;
    } catch (err) {
      msg.warn(`${message.queueId}: trace service: ${(err as Error).message}`);
      return false;
    }
  }

  /** deferMessage - move to deferred/ with the next retry time as mtime. */
  private async deferMessage(message: ActiveMessage): Promise<void> {
    const id = message.queueId;
    const now = Date.now();
    const age = (now - message.arrival) / 1000;
    const minBackoff = this.config.time('minimal_backoff_time');
    const maxBackoff = this.config.time('maximal_backoff_time');
    const delay = Math.min(maxBackoff, Math.max(minBackoff, age));
    const next = new Date(now + delay * 1000);
    const path = mailQueuePath(this.config, MAIL_QUEUE.ACTIVE, id);
    utimesSync(path, next, next);
    mailQueueRenameSync(this.config, id, MAIL_QUEUE.ACTIVE, MAIL_QUEUE.DEFERRED);
  }
}

/** updateWarnRecord - overwrite the 15-character value of the W record at offset (type byte, length byte 15, value). */
export async function updateWarnRecord(path: string, offset: number, value: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, offset);
    if (head[0] !== REC.WARN || head[1] !== 15) throw new Error(`${path}: offset ${offset}: not a warning time record`);
    await fh.write(Buffer.from(String(value).padStart(15, ' '), 'latin1'), 0, 15, offset + 2);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function deliveryFlags(info: QmgrMessageInfo): number {
  let flags = DEL_REQ_FLAG_DEFLT;
  const tflags = Number(info.attrs.get('trace_flags') ?? 0) || 0;
  // trace_flags (global/deliver_request.h DEL_REQ_FLAG_*): sendmail -v / -bv
  flags |= tflags & (DEL_REQ_FLAG.RECORD | DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY);
  return flags;
}

function isDoubleBounce(config: MailConfig, recipient: string): boolean {
  const at = recipient.lastIndexOf('@');
  const local = (at >= 0 ? recipient.slice(0, at) : recipient).toLowerCase();
  return local === config.str('double_bounce_sender').toLowerCase();
}

/**
 * queueNames - the queue IDs of a queue directory and its hashed
 * subdirectories, one directory at a time, each in name order (oldest
 * first for time-based queue IDs): a scan of a deferred queue of 100 000
 * files waits for room in the active queue most of the time, and holds only
 * the names of the subdirectory it is in meanwhile (Postfix scan_dir reads
 * as it goes, too). A directory is read synchronously: it is local, and
 * its read is far cheaper than a thread-pool round trip.
 */
function* queueNames(dir: string): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    if (e.isDirectory() && e.name.length === 1) yield* queueNames(join(dir, e.name));
    else if (e.isFile() && /^[A-Za-z0-9]+$/.test(e.name)) yield e.name;
  }
}

/** qmgrService - the trigger service routine for the skeleton. */
export function qmgrHooks() {
  let qmgr: Qmgr | undefined;
  return {
    solitary: true,
    async postInit(ctx: ServerContext) {
      // oqmgr: the same queue manager without job preemption
      qmgr = new Qmgr(ctx.config, { preempt: basename(process.argv[1] ?? '') !== 'oqmgr' });
      await qmgr.start();
    },
    async service(request: Buffer) {
      await qmgr?.trigger(request);
    },
    unlimited: true,
    exit() {
      qmgr?.stop();
    },
  };
}

export async function main(argv: string[]): Promise<void> {
  const { triggerServerMain } = await import('../master/trigger_server.js');
  triggerServerMain(argv, qmgrHooks());
}

/** A recipient with its destination, before grouping. */
interface Routed {
  transport: string;
  nexthop: string;
  rcpt: QmgrRecipient;
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** compareRouted - transport, next hop, recipient domain (case-insensitive; none last), address. */
function compareRouted(a: Routed, b: Routed): number {
  const t = byteOrder(a.transport, b.transport) || byteOrder(a.nexthop, b.nexthop);
  if (t !== 0) return t;
  const atA = a.rcpt.address.lastIndexOf('@');
  const atB = b.rcpt.address.lastIndexOf('@');
  if (atA < 0 && atB >= 0) return 1;
  if (atA >= 0 && atB < 0) return -1;
  if (atA >= 0 && atB >= 0) {
    const d = byteOrder(a.rcpt.address.slice(atA).toLowerCase(), b.rcpt.address.slice(atB).toLowerCase());
    if (d !== 0) return d;
  }
  return byteOrder(a.rcpt.address, b.rcpt.address);
}

/** internRecipient - the recipient's strings, shared with equal ones of other in-core messages. */
function internRecipient(strings: StringTable, r: QmgrRecipient): void {
  r.address = strings.intern(r.address);
  r.orig = r.orig === r.address ? r.address : strings.intern(r.orig);
  r.dsnOrcpt = strings.intern(r.dsnOrcpt);
}

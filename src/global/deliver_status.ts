/**
 * deliver_status - what a delivery agent does with each recipient's outcome
 * (Postfix global/sent.c, defer.c, bounce.c, trace.c, deliver_completed.c).
 *
 * sent():   log status=sent, record a trace entry when the sender asked for
 *           NOTIFY=SUCCESS or a verbose/verify report, mark the recipient done.
 * defer():  log status=deferred, append the reason to the defer logfile
 *           (mailq's reason, delay warnings, the eventual bounce).
 * bounce(): log status=bounced, append to the bounce logfile (the bounce
 *           daemon turns it into a notice), mark the recipient done.
 * bounceOne(): the same, but the notice goes at once to a sender of the
 *           agent's choosing (local(8) owner- aliases; Postfix bounce_one).
 *           With soft_bounce=yes the bounce becomes a deferral, as Postfix.
 * Nothing is marked done before its logfile entry is safely written.
 */

import type { FileHandle } from 'node:fs/promises';
import { msg } from '../util/msg.js';
import type { MailConfig } from './mail_conf.js';
import { mailQueuePath } from './mail_queue.js';
import { bounceLogAppend } from './bounce_log.js';
import { bounceOneRequest } from './bounce_clnt.js';
import { deliverCompleted } from './deliver_completed.js';
import { logAdhocText, type DeliveryTimes } from './log_adhoc.js';
import { DEL_REQ_FLAG, DELIVER_STAT_DEFER, DELIVER_STAT_OK, type DeliverRecipient, type DeliverRequest, type HopStatus } from './deliver_request.js';
import { DSN_NOTIFY } from './rec_type.js';
import { verifyUpdate, DEL_RCPT_STAT } from './verify_clnt.js';

export interface Outcome {
  /** enhanced status code, e.g. 2.0.0, 4.4.1, 5.1.1 */
  dsn: string;
  /** human-readable reason, e.g. "delivered to mailbox" or "host x said: ..." */
  text: string;
  /** relay= value: local, none, host[addr]:port, ... */
  relay: string;
  /** DSN diagnostic (e.g. "smtp" + "550 5.1.1 ..."), optional */
  diagType?: string;
  diagText?: string;
  mtaType?: string;
  mtaName?: string;
  /** connection setup finished (epoch ms), for the c/d split of delays= */
  connSetupDone?: number;
  reuseCount?: number;
}

/** DeliveryStatus - outcome bookkeeping for one delivery request. */
export class DeliveryStatus {
  /** DELIVER_STAT_OK unless some recipient was deferred or could not be recorded */
  status = DELIVER_STAT_OK;

  /**
   * The queue file, when the agent already has it open for reading and
   * writing (smtp(8) opens it once per request); otherwise each done mark
   * opens the file by name.
   */
  queueFile: FileHandle | number | undefined;

  constructor(
    readonly config: MailConfig,
    readonly req: DeliverRequest,
  ) {}

  private get queuePath(): string {
    return mailQueuePath(this.config, this.req.queue_name, this.req.queue_id);
  }

  private times(o: Outcome): DeliveryTimes {
    return { ...this.req.stats, connSetupDone: o.connSetupDone, deliverDone: Date.now(), reuseCount: o.reuseCount };
  }

  private logLine(rcpt: DeliverRecipient, o: Outcome, status: string): void {
    const resolution = this.config.int('delay_logging_resolution_limit');
    msg.info(
      logAdhocText(
        {
          queueId: this.req.queue_id,
          recipient: rcpt.address,
          origRecipient: rcpt.orig_addr,
          relay: o.relay,
          dsn: o.dsn,
          status,
          text: o.text,
        },
        this.times(o),
        resolution,
      ),
    );
  }

  /** hop - the outcome as a DSN status (Postfix DSN). */
  private hop(o: Outcome, action: string): HopStatus {
    return { status: o.dsn, action, diag_type: o.diagType ?? '', diag_text: o.diagText ?? '', mta_type: o.mtaType ?? '', mta_mname: o.mtaName ?? '', reason: o.text };
  }

  /** entry - the recipient and its outcome as a logfile entry. */
  private entry(rcpt: DeliverRecipient, o: Outcome, action: string) {
    return {
      recipient: rcpt.address,
      original_recipient: rcpt.orig_addr,
      offset: rcpt.offset,
      dsn_orig_rcpt: rcpt.dsn_orcpt,
      notify_flags: rcpt.dsn_notify,
      ...this.hop(o, action),
    };
  }

  private get verifyOnly(): boolean {
    return (this.req.flags & (DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY)) !== 0;
  }

  private get probe(): boolean {
    return (this.req.flags & DEL_REQ_FLAG.MTA_VRFY) !== 0;
  }

  /**
   * probeResult - an address probe (DEL_REQ_FLAG_MTA_VRFY): the verify service
   * gets the outcome for the original recipient address; nothing is delivered.
   */
  private async probeResult(rcpt: DeliverRecipient, o: Outcome, status: number, logStatus: string): Promise<boolean> {
    this.logLine(rcpt, o, logStatus);
    try {
      const r = await verifyUpdate(this.config, rcpt.orig_addr || rcpt.address, status, o.text);
      if (r !== 0) throw new Error(`status ${r}`);
      return true;
    } catch (err) {
      msg.warn(`${this.req.queue_id}: verify service update for ${rcpt.orig_addr || rcpt.address}: ${(err as Error).message}`);
      this.status = DELIVER_STAT_DEFER;
      return false;
    }
  }

  /**
   * When set, done marks are collected instead of written: local(8) logs each
   * address an alias expands to, but marks the queue file's recipient only
   * when every expansion is finished (Postfix local.c).
   */
  heldMarks: Set<number> | undefined;

  /** releaseMarks - write (ok) or drop the collected done marks and stop collecting. */
  async releaseMarks(ok: boolean): Promise<void> {
    const offsets = [...(this.heldMarks ?? [])];
    this.heldMarks = undefined;
    if (!ok || offsets.length === 0) return;
    try {
      await deliverCompleted(this.queueFile ?? this.queuePath, offsets);
    } catch (err) {
      msg.warn(`${this.req.queue_id}: update queue file ${this.queuePath}: ${(err as Error).message}`);
      this.status = DELIVER_STAT_DEFER;
    }
  }

  private async markDone(rcpt: DeliverRecipient): Promise<void> {
    if (this.heldMarks) {
      this.heldMarks.add(rcpt.offset);
      return;
    }
    try {
      await deliverCompleted(this.queueFile ?? this.queuePath, [rcpt.offset]);
    } catch (err) {
      msg.warn(`${this.req.queue_id}: update queue file ${this.queuePath}: ${(err as Error).message}`);
      this.status = DELIVER_STAT_DEFER;
    }
  }

  /** sent - the recipient was delivered (or, in verify mode, is deliverable). */
  async sent(rcpt: DeliverRecipient, o: Outcome): Promise<void> {
    if (this.probe) {
      if (await this.probeResult(rcpt, o, DEL_RCPT_STAT.OK, 'deliverable')) await this.markDone(rcpt);
      return;
    }
    this.logLine(rcpt, o, this.verifyOnly ? 'deliverable' : 'sent');
    const wantsTrace =
      (rcpt.dsn_notify & DSN_NOTIFY.SUCCESS) !== 0 ||
      (this.req.flags & (DEL_REQ_FLAG.RECORD | DEL_REQ_FLAG.REC_DLY_SENT)) !== 0 ||
      this.verifyOnly;
    if (wantsTrace) {
      try {
        // Delivery reports say how: "delivery via local: delivered to mailbox".
        const traced = viaRelay(o);
        await bounceLogAppend(this.config, 'trace', this.req.queue_id, this.entry(rcpt, traced, this.verifyOnly ? 'deliverable' : 'delivered'));
      } catch (err) {
        msg.warn(`${this.req.queue_id}: trace logfile: ${(err as Error).message}`);
      }
    }
    await this.markDone(rcpt);
  }

  /** defer - try again later. */
  async defer(rcpt: DeliverRecipient, o: Outcome): Promise<void> {
    const dsn = o.dsn.startsWith('4') ? o.dsn : '4' + o.dsn.slice(1);
    this.status = DELIVER_STAT_DEFER;
    if (this.probe) {
      await this.probeResult(rcpt, { ...o, dsn }, DEL_RCPT_STAT.DEFER, 'undeliverable');
      this.status = DELIVER_STAT_DEFER;
      return;
    }
    if (this.verifyOnly) {
      this.logLine(rcpt, { ...o, dsn }, 'undeliverable');
      await this.appendOrDefer('trace', rcpt, viaRelay({ ...o, dsn }), 'undeliverable');
      return;
    }
    this.logLine(rcpt, { ...o, dsn }, 'deferred');
    await this.appendOrDefer('defer', rcpt, { ...o, dsn }, 'delayed');
  }

  /** bounce - permanent failure (a deferral when soft_bounce=yes). */
  async bounce(rcpt: DeliverRecipient, o: Outcome): Promise<void> {
    if (this.config.bool('soft_bounce')) {
      const dsn = '4' + o.dsn.slice(1);
      this.status = DELIVER_STAT_DEFER;
      this.logLine(rcpt, { ...o, dsn }, 'SOFTBOUNCE');
      await this.appendOrDefer('defer', rcpt, { ...o, dsn }, 'delayed');
      return;
    }
    if (this.probe) {
      if (await this.probeResult(rcpt, o, DEL_RCPT_STAT.BOUNCE, 'undeliverable')) await this.markDone(rcpt);
      return;
    }
    if (this.verifyOnly) {
      // the report says which agent decided: "delivery via local: unknown user: ..."
      this.logLine(rcpt, o, 'undeliverable');
      if (await this.appendOrDefer('trace', rcpt, viaRelay(o), 'undeliverable')) await this.markDone(rcpt);
      return;
    }
    this.logLine(rcpt, o, 'bounced');
    if (await this.appendOrDefer('bounce', rcpt, o, 'failed')) await this.markDone(rcpt);
  }

  /**
   * bounceOne - permanent failure reported at once to `sender` through the
   * bounce service's ONE request instead of the logfile (Postfix
   * bounce_one). Verification, probes and soft_bounce take the logfile
   * path as bounce() does; when the bounce service fails the recipient is
   * deferred ("bounce or trace service failure").
   */
  async bounceOne(rcpt: DeliverRecipient, o: Outcome, sender: string, dsn: { ret: number; envid: string } = { ret: this.req.dsn_ret, envid: this.req.dsn_envid }): Promise<boolean> {
    let code = o.dsn;
    if (!/^5\.\d{1,3}\.\d{1,3}$/.test(code)) {
      msg.warn(`bounce_one: ignoring dsn code "${code}"`);
      code = '5.0.0';
    }
    if (this.config.bool('soft_bounce') || this.verifyOnly) {
      await this.bounce(rcpt, { ...o, dsn: code });
      return !this.config.bool('soft_bounce');
    }
    let status: number;
    try {
      status = await bounceOneRequest(
        this.config,
        {
          command: 0,
          flags: this.req.flags & (DEL_REQ_FLAG.RECORD | DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY),
          queueName: this.req.queue_name,
          queueId: this.req.queue_id,
          encoding: this.req.encoding,
          sendopts: this.req.sendopts,
          sender,
          envid: dsn.envid,
          ret: dsn.ret,
        },
        rcpt,
        this.hop({ ...o, dsn: code }, 'failed'),
      );
    } catch (err) {
      msg.warn(`${this.req.queue_id}: bounce service: ${(err as Error).message}`);
      status = -1;
    }
    if (status !== 0) {
      const text = `${this.config.str('bounce_service_name')} or ${this.config.str('trace_service_name')} service failure`;
      await this.defer(rcpt, { ...o, dsn: '4.3.0', text });
      return false;
    }
    if ((this.req.flags & DEL_REQ_FLAG.RECORD) !== 0) await this.appendOrDefer('trace', rcpt, viaRelay({ ...o, dsn: code }), 'failed');
    this.logLine(rcpt, { ...o, dsn: code }, 'bounced');
    await this.markDone(rcpt);
    return true;
  }

  private async appendOrDefer(queue: 'bounce' | 'defer' | 'trace', rcpt: DeliverRecipient, o: Outcome, action: string): Promise<boolean> {
    try {
      await bounceLogAppend(this.config, queue, this.req.queue_id, this.entry(rcpt, o, action));
      return true;
    } catch (err) {
      msg.warn(`${this.req.queue_id}: ${queue} logfile: ${(err as Error).message}`);
      this.status = DELIVER_STAT_DEFER;
      return false;
    }
  }
}

/** viaRelay - trace report text: "delivery via RELAY: text", unless the relay is "none" (Postfix trace_append). */
function viaRelay(o: Outcome): Outcome {
  return o.relay === 'none' ? o : { ...o, text: `delivery via ${o.relay}: ${o.text}` };
}

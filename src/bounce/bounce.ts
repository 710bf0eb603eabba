/**
 * bounce - the bounce, defer and trace services (Postfix bounce(8)).
 *
 * One program, three master.cf services. The per-recipient logfiles in
 * bounce/, defer/ and trace/ are appended by the delivery agents
 * (global/bounce_log.ts); this daemon turns them into notifications when
 * qmgr asks (protocol delivery_status_protocol):
 *   FLUSH: non-delivery notice from bounce/ID, then the logfile is removed;
 *   WARN:  delay warning from defer/ID (the logfile stays);
 *   TRACE: delivery report from trace/ID (sendmail -v/-bv, NOTIFY=SUCCESS);
 *   VERP:  as FLUSH, but one notice per recipient, each to the VERP'ed
 *          sender of that recipient (bounce_notify_verp);
 *   ONE:   a notice for one recipient given in the request, no logfile
 *          (bounce_one: local(8) reports a list member's failure at once
 *          to the list owner).
 * A bounce of a null-sender message is a double bounce: it goes to
 * 2bounce_notice_recipient only when notify_classes has 2bounce. Postmaster
 * copies follow notify_classes (bounce, delay). Status 0 means the notice
 * is safely queued (or deliberately dropped); anything else makes qmgr
 * keep the message and retry later.
 */

import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { readAttrs, sendAttrs, attrSendProtocol, type AttrList } from '../util/attr.js';
import { MailConfig } from '../global/mail_conf.js';
import { msgAddOutput, setFatalAction } from '../util/msg.js';
import { templateMain } from './bounce_template.js';
import type { ServerContext } from '../master/mail_server.js';
import { BOUNCE_CMD, BOUNCE_PROTOCOL } from '../global/bounce_clnt.js';
import { bounceLogRead, bounceLogRemove, type BounceLogEntry } from '../global/bounce_log.js';
import { mailQueuePath, mailQueueIdOk } from '../global/mail_queue.js';
import { readQueueFile } from '../qmgr/qmgr_message.js';
import { verpSender } from '../global/verp_sender.js';
import { DSN_NOTIFY } from '../global/rec_type.js';
import { sendNotice, wantsFullContent, type NoticeKind, type OriginalMessage } from './bounce_notify.js';

const QUEUE_NAMES = new Set(['active', 'deferred', 'incoming', 'hold', 'maildrop']);

/** bounceService - one request per connection. */
export async function bounceService(stream: VStream, ctx: ServerContext): Promise<void> {
  attrSendProtocol(stream, BOUNCE_PROTOCOL);
  const req = await readAttrs(stream);
  if (req === null) return;
  let status = 0;
  try {
    const command = req.int('nrequest');
    const queueName = req.str('queue_name');
    const queueId = req.str('queue_id');
    if (!QUEUE_NAMES.has(queueName) || !mailQueueIdOk(queueId)) throw new Error(`bad queue name or id: ${queueName}/${queueId}`);
    const request = {
      queueName,
      queueId,
      sender: req.get('sender') ?? '',
      envid: req.get('envelope_id') ?? '',
      ret: req.intOr('ret_flags', 0),
    };
    const isDefer = ctx.serviceName === ctx.config.str('defer_service_name');
    switch (command) {
      case BOUNCE_CMD.VERP: {
        const delims = req.get('verp_delimiters') ?? '';
        if (delims.length !== 2) {
          msg.warn(`malformed verp delimiter string: ${delims}`);
          status = -1;
          break;
        }
        const log = isDefer ? 'defer' : 'bounce';
        if (request.sender === '' || isDoubleBounce(ctx.config, request.sender)) {
          // A bounce that bounced is never VERP'ed: the ordinary notice.
          msg.warn('request to send VERP-style notification of bounced mail');
          status = await notify(ctx.config, log, 'failure', request);
        } else {
          status = await notifyVerp(ctx.config, log, request, delims);
        }
        break;
      }
      case BOUNCE_CMD.ONE:
        if (isDefer || ctx.serviceName === ctx.config.str('trace_service_name')) {
          msg.warn(`wrong service name "${ctx.serviceName}" for one-recipient bouncing`);
          status = -1;
          break;
        }
        status = await notifyOne(ctx.config, request, oneEntry(req));
        break;
      case BOUNCE_CMD.FLUSH:
        // On the defer service a flush returns the defer logfile (expired mail).
        status = await notify(ctx.config, isDefer ? 'defer' : 'bounce', 'failure', request);
        break;
      case BOUNCE_CMD.WARN:
        status = await notify(ctx.config, 'defer', 'delay', request);
        break;
      case BOUNCE_CMD.TRACE:
        status = await notify(ctx.config, 'trace', 'success', request);
        break;
      default:
        msg.warn(`unknown command: ${command}`);
        status = -1;
    }
  } catch (err) {
    msg.warn(`bounce request: ${(err as Error).message}`);
    status = -1;
  }
  sendAttrs(stream, [['status', status]]);
  await stream.flush();
}

interface Request {
  queueName: string;
  queueId: string;
  sender: string;
  envid: string;
  ret: number;
}

async function notify(config: MailConfig, log: 'bounce' | 'defer' | 'trace', kind: NoticeKind, r: Request): Promise<number> {
  let entries = await bounceLogRead(config, log, r.queueId);
  if (entries.length === 0) return 0;
  if (log === 'defer' && kind === 'failure') entries = entries.map((e) => ({ ...e, action: 'failed' }));
  const path = mailQueuePath(config, r.queueName, r.queueId);
  const info = await readQueueFile(path, r.queueId);
  const original: OriginalMessage = {
    queueId: r.queueId,
    path,
    dataOffset: info.dataOffset,
    sender: info.sender,
    arrival: info.arrival,
    envid: r.envid,
    ret: r.ret,
  };
  // A trace log holds verify results when the request was sendmail -bv / -v.
  const verify = log === 'trace' && entries.some((e) => e.action === 'deliverable' || e.action === 'undeliverable');
  const noticeKind: NoticeKind = verify ? 'verify' : kind;
  const notifyClasses = new Set(config.list('notify_classes').map((c) => c.toLowerCase()));
  // The sender hears only about recipients whose NOTIFY asks for it (none given: failures and
  // delays); postmaster copies list every recipient (Postfix DSN_NOTIFY_OVERRIDE).
  const selected =
    log === 'trace' && !verify
      ? entries.filter(wantsSuccessNotice)
      : kind === 'failure'
        ? entries.filter(wantsFailureNotice)
        : kind === 'delay'
          ? entries.filter((e) => e.notify_flags === 0 || (e.notify_flags & DSN_NOTIFY.DELAY) !== 0)
          : entries;

  if (info.sender === '') {
    // Double bounce: never to the null sender; to the postmaster only if asked.
    if (kind === 'failure' && notifyClasses.has('2bounce')) {
      const to = config.str('2bounce_notice_recipient');
      const id = await sendNotice(config, { kind: noticeKind, original, entries, recipient: to, sender: config.str('double_bounce_sender'), postmasterCopy: true, fullContent: true });
      msg.info(`${r.queueId}: postmaster non-delivery notification: ${id}`);
    }
  } else {
    if (selected.length > 0) {
      const id = await sendNotice(config, {
        kind: noticeKind,
        original,
        entries: selected,
        recipient: info.sender,
        sender: '',
        postmasterCopy: false,
        fullContent: wantsFullContent(noticeKind, r.ret || Number(info.attrs.get('ret_flags') ?? 0)),
      });
      const what = kind === 'failure' ? 'non-delivery' : kind === 'delay' ? 'delay' : 'delivery status';
      msg.info(`${r.queueId}: sender ${what} notification: ${id}`);
    }
    if (kind === 'failure' && notifyClasses.has('bounce')) {
      const pid = await sendNotice(config, { kind, original, entries, recipient: config.str('bounce_notice_recipient'), sender: config.str('double_bounce_sender'), postmasterCopy: true, fullContent: false });
      msg.info(`${r.queueId}: postmaster non-delivery notification: ${pid}`);
    }
    if (kind === 'delay' && notifyClasses.has('delay')) {
      const pid = await sendNotice(config, { kind, original, entries, recipient: config.str('delay_notice_recipient'), sender: config.str('double_bounce_sender'), postmasterCopy: true, fullContent: false });
      msg.info(`${r.queueId}: postmaster delay notification: ${pid}`);
    }
  }
  if (log !== 'defer') await bounceLogRemove(config, log, r.queueId);
  return 0;
}

/** originalOf - what the notices need of the original message. */
async function originalOf(config: MailConfig, r: Request): Promise<{ original: OriginalMessage; retFlags: number }> {
  const path = mailQueuePath(config, r.queueName, r.queueId);
  const info = await readQueueFile(path, r.queueId);
  return {
    original: { queueId: r.queueId, path, dataOffset: info.dataOffset, sender: info.sender, arrival: info.arrival, envid: r.envid, ret: r.ret },
    retFlags: r.ret || Number(info.attrs.get('ret_flags') ?? 0),
  };
}

/** wantsFailureNotice - the recipient did not turn failure notices off (NOTIFY=NEVER/SUCCESS/DELAY only). */
function wantsFailureNotice(e: BounceLogEntry): boolean {
  return e.notify_flags === 0 || (e.notify_flags & DSN_NOTIFY.FAILURE) !== 0;
}

function isDoubleBounce(config: MailConfig, address: string): boolean {
  const local = config.str('double_bounce_sender').toLowerCase();
  const a = address.toLowerCase();
  return a === local || a.startsWith(`${local}@`);
}

/**
 * notifyVerp - one non-delivery notice per recipient of the logfile, each to
 * verpSender(delims, sender, recipient) (its original address when known),
 * with the whole message unless RET=HDRS; a postmaster copy per recipient
 * when notify_classes has bounce. The logfile goes only when every notice
 * was posted; the first failure stops (Postfix bounce_notify_verp).
 */
async function notifyVerp(config: MailConfig, log: 'bounce' | 'defer', r: Request, delims: string): Promise<number> {
  let entries = await bounceLogRead(config, log, r.queueId);
  if (entries.length === 0) return 0;
  if (log === 'defer') entries = entries.map((e) => ({ ...e, action: 'failed' }));
  const { original, retFlags } = await originalOf(config, r);
  const postmasterCopies = config.list('notify_classes').some((c) => c.toLowerCase() === 'bounce');
  for (const e of entries) {
    if (wantsFailureNotice(e)) {
      const to = verpSender(delims, r.sender, { address: e.recipient, orig: e.original_recipient });
      const id = await sendNotice(config, { kind: 'failure', original, entries: [e], recipient: to, sender: '', postmasterCopy: false, fullContent: wantsFullContent('failure', retFlags) });
      msg.info(`${r.queueId}: sender non-delivery notification: ${id}`);
    }
    if (postmasterCopies) {
      try {
        const pid = await sendNotice(config, { kind: 'failure', original, entries: [e], recipient: config.str('bounce_notice_recipient'), sender: config.str('double_bounce_sender'), postmasterCopy: true, fullContent: false });
        msg.info(`${r.queueId}: postmaster non-delivery notification: ${pid}`);
      } catch {
        msg.warn(`${r.queueId}: postmaster notice failed while bouncing to ${r.sender}`);
      }
    }
  }
  await bounceLogRemove(config, log, r.queueId);
  return 0;
}

/** oneEntry - the recipient and status of a ONE request (Postfix rcpt_print + dsn_print attributes). */
function oneEntry(req: AttrList): BounceLogEntry {
  return {
    recipient: req.str('recipient'),
    original_recipient: req.get('original_recipient') ?? '',
    offset: req.intOr('offset', 0),
    dsn_orig_rcpt: req.get('dsn_orig_rcpt') ?? '',
    notify_flags: req.intOr('notify_flags', 0),
    status: req.get('status') ?? '5.0.0',
    action: req.get('action') || 'failed',
    diag_type: req.get('diag_type') ?? '',
    diag_text: req.get('diag_text') ?? '',
    mta_type: req.get('mta_type') ?? '',
    mta_mname: req.get('mta_mname') ?? '',
    reason: req.get('reason') ?? '',
  };
}

/**
 * notifyOne - the notice for one recipient named in the request, at once
 * (Postfix bounce_one_service): to the given sender; a failed notice of the
 * null sender goes to 2bounce_notice_recipient (notify_classes bounce or
 * 2bounce); a failed postmaster notice is dropped with a warning.
 */
async function notifyOne(config: MailConfig, r: Request, e: BounceLogEntry): Promise<number> {
  // The request's RET alone decides (0: the whole message), as bounce_one_service.
  const { original } = await originalOf(config, r);
  const retFlags = r.ret;
  const classes = new Set(config.list('notify_classes').map((c) => c.toLowerCase()));
  if (isDoubleBounce(config, r.sender)) {
    msg.warn(`${r.queueId}: undeliverable postmaster notification discarded`);
    return 0;
  }
  if (r.sender === '') {
    if (classes.has('bounce') || classes.has('2bounce')) {
      const id = await sendNotice(config, { kind: 'failure', original, entries: [e], recipient: config.str('2bounce_notice_recipient'), sender: config.str('double_bounce_sender'), postmasterCopy: true, fullContent: true });
      msg.info(`${r.queueId}: postmaster non-delivery notification: ${id}`);
    }
    return 0;
  }
  if (wantsFailureNotice(e)) {
    const id = await sendNotice(config, { kind: 'failure', original, entries: [e], recipient: r.sender, sender: '', postmasterCopy: false, fullContent: wantsFullContent('failure', retFlags) });
    msg.info(`${r.queueId}: sender non-delivery notification: ${id}`);
  }
  if (classes.has('bounce')) {
    try {
      const pid = await sendNotice(config, { kind: 'failure', original, entries: [e], recipient: config.str('bounce_notice_recipient'), sender: config.str('double_bounce_sender'), postmasterCopy: true, fullContent: false });
      msg.info(`${r.queueId}: postmaster non-delivery notification: ${pid}`);
    } catch {
      msg.warn(`${r.queueId}: postmaster notice failed while bouncing to ${r.sender}`);
    }
  }
  return 0;
}

/** wantsSuccessNotice - trace entries that the sender asked to hear about (NOTIFY=SUCCESS or sendmail -v). */
function wantsSuccessNotice(e: BounceLogEntry): boolean {
  return e.action === 'delivered' || e.action === 'relayed' || e.action === 'expanded';
}

/**
 * standAloneTemplates - `bounce -S -V -n dump_templates|expand_templates
 * [-c dir] [-o name=value]...` as postconf -t/-b run it; true when handled.
 */
function standAloneTemplates(argv: string[]): boolean {
  let service = '';
  let configDir: string | undefined;
  const overrides: Array<[string, string]> = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      if ('ncot'.includes(c)) {
        const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
        if (v === undefined) return false;
        if (c === 'n') service = v;
        else if (c === 'c') configDir = v;
        else if (c === 'o') {
          const eq = v.indexOf('=');
          if (eq > 0) overrides.push([v.slice(0, eq).trim(), v.slice(eq + 1).trim()]);
        }
        break;
      }
    }
  }
  if (service !== 'dump_templates' && service !== 'expand_templates') return false;
  const config = MailConfig.load(configDir);
  for (const [k, v] of overrides) config.override(k, v);
  const prefix = `${config.str('syslog_name')}/bounce`;
  msgAddOutput((_sev, text) => process.stderr.write(`${prefix}: ${text}\n`));
  setFatalAction((_text, status) => process.exit(status || 1));
  templateMain(config, service);
  return true;
}

export async function main(argv: string[]): Promise<void> {
  if (standAloneTemplates(argv)) return;
  const { singleServerMain } = await import('../master/single_server.js');
  singleServerMain(argv, { service: bounceService });
}

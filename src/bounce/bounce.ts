/**
 * bounce - the bounce, defer and trace services (Postfix bounce(8)).
 *
 * One program, three master.cf services. The per-recipient logfiles in
 * bounce/, defer/ and trace/ are appended by the delivery agents
 * (global/bounce_log.ts); this daemon turns them into notifications when
 * qmgr asks (protocol delivery_status_protocol):
 *   FLUSH: non-delivery notice from bounce/ID, then the logfile is removed;
 *   WARN:  delay warning from defer/ID (the logfile stays);
 *   TRACE: delivery report from trace/ID (sendmail -v/-bv, NOTIFY=SUCCESS).
 * A bounce of a null-sender message is a double bounce: it goes to
 * 2bounce_notice_recipient only when notify_classes has 2bounce. Postmaster
 * copies follow notify_classes (bounce, delay). Status 0 means the notice
 * is safely queued (or deliberately dropped); anything else makes qmgr
 * keep the message and retry later.
 */

import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { readAttrs, sendAttrs, attrSendProtocol } from '../util/attr.js';
import { MailConfig } from '../global/mail_conf.js';
import { msgAddOutput, setFatalAction } from '../util/msg.js';
import { templateMain } from './bounce_template.js';
import type { ServerContext } from '../master/mail_server.js';
import { BOUNCE_CMD, BOUNCE_PROTOCOL } from '../global/bounce_clnt.js';
import { bounceLogRead, bounceLogRemove, type BounceLogEntry } from '../global/bounce_log.js';
import { mailQueuePath, mailQueueIdOk } from '../global/mail_queue.js';
import { readQueueFile } from '../qmgr/qmgr_message.js';
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
    switch (command) {
      case BOUNCE_CMD.FLUSH:
        // On the defer service a flush returns the defer logfile (expired mail).
        status = await notify(ctx.config, ctx.serviceName === ctx.config.str('defer_service_name') ? 'defer' : 'bounce', 'failure', request);
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
  const selected = log === 'trace' && !verify ? entries.filter(wantsSuccessNotice) : entries;

  if (info.sender === '') {
    // Double bounce: never to the null sender; to the postmaster only if asked.
    if (kind === 'failure' && notifyClasses.has('2bounce')) {
      const to = config.str('2bounce_notice_recipient');
      const id = await sendNotice(config, { kind: noticeKind, original, entries, recipient: to, sender: config.str('double_bounce_sender'), postmasterCopy: true, fullContent: true });
      msg.info(`${r.queueId}: postmaster non-delivery notification: ${id}`);
    }
  } else if (selected.length > 0) {
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

/**
 * bounce_notify - compose and send delivery status notifications (Postfix
 * bounce/bounce_notify_service.c, bounce_notify_util.c, bounce_template.c).
 *
 * A notice is a multipart/report; report-type=delivery-status message
 * from the null sender with three parts: the human-readable text (the
 * bounce template, then one `<recipient>: reason` line per recipient), the
 * message/delivery-status part (Reporting-MTA, X-Postfix-Queue-ID,
 * X-Postfix-Sender, Arrival-Date, then per recipient Final-Recipient,
 * Original-Recipient, Action, Status, Remote-MTA, Diagnostic-Code), and
 * the original message (message/rfc822, cut at bounce_size_limit) or only
 * its headers (text/rfc822-headers). It goes to cleanup like any other
 * mail; the boundary is ORIGID.EPOCH/myhostname.
 */

import type { MailConfig } from '../global/mail_conf.js';
import type { BounceLogEntry } from '../global/bounce_log.js';
import { CleanupClient } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG_MASK_INTERNAL } from '../global/cleanup_user.js';
import { REC, DSN_RET } from '../global/rec_type.js';
import { mailDate } from '../global/mail_date.js';
import { readMessageLines } from '../global/mail_copy.js';
import { expandTemplate, loadTemplates } from './bounce_template.js';

export type NoticeKind = 'failure' | 'delay' | 'success' | 'verify';

export interface OriginalMessage {
  queueId: string;
  path: string;
  dataOffset: number;
  sender: string;
  arrival: number;
  envid: string;
  ret: number;
}

export interface NoticeRequest {
  kind: NoticeKind;
  original: OriginalMessage;
  entries: BounceLogEntry[];
  /** the notice recipient: the original sender, or a postmaster address */
  recipient: string;
  /** envelope sender of the notice: "" normally, double_bounce_sender for postmaster copies */
  sender: string;
  postmasterCopy: boolean;
  /** return the whole original (else headers only) */
  fullContent: boolean;
}

/** sendNotice - compose the notice and submit it through cleanup; resolves to the new queue id. */
export async function sendNotice(config: MailConfig, n: NoticeRequest): Promise<string> {
  const clnt = await CleanupClient.open(config, CLEANUP_FLAG_MASK_INTERNAL);
  try {
    const now = new Date();
    const lineLimit = config.int('line_length_limit');
    const put = (line: string | Buffer) => clnt.text(line, lineLimit);
    await clnt.record(REC.TIME, `${Math.floor(now.getTime() / 1000)} ${(now.getTime() % 1000) * 1000}`);
    await clnt.attr('rewrite_context', 'local');
    await clnt.record(REC.FROM, n.sender);
    await clnt.record(REC.RCPT, n.recipient);
    await clnt.record(REC.MESG, '');
    const host = config.str('myhostname');
    const boundary = `${n.original.queueId}.${Math.floor(now.getTime() / 1000)}/${host}`;
    const tpl = loadTemplates(config)[n.kind];
    const t = { subject: tpl.subject, postmasterSubject: tpl.postmasterSubject, text: (c: MailConfig) => expandTemplate(c, tpl) };
    await put(`Received: by ${host} (${config.str('mail_name')})`);
    await put(`\tid ${clnt.queueId}; ${mailDate(now)}`);
    await put(`Date: ${mailDate(now)}`);
    await put(`From: Mail Delivery System <MAILER-DAEMON@${config.str('myorigin')}>`);
    await put(`Subject: ${n.postmasterCopy ? t.postmasterSubject : t.subject}`);
    await put(`To: ${n.recipient}`);
    await put('Auto-Submitted: auto-replied');
    await put('MIME-Version: 1.0');
    await put('Content-Type: multipart/report; report-type=delivery-status;');
    await put(`\tboundary="${boundary}"`);
    await put('Content-Transfer-Encoding: 8bit');
    await put('');
    await put('This is a MIME-encapsulated message.');
    await put('');
    // Part 1: human-readable text.
    await put(`--${boundary}`);
    await put('Content-Description: Notification');
    await put('Content-Type: text/plain; charset=utf-8');
    await put('Content-Transfer-Encoding: 8bit');
    await put('');
    for (const line of t.text(config)) await put(line);
    await put('');
    for (const e of n.entries) {
      const who = e.original_recipient && e.original_recipient.toLowerCase() !== e.recipient.toLowerCase()
        ? `<${e.recipient}> (expanded from <${e.original_recipient}>)`
        : `<${e.recipient}>`;
      for (const l of lineWrap(`${who}: ${e.reason}`)) await put(l);
      await put('');
    }
    // Part 2: machine-readable delivery status.
    await put(`--${boundary}`);
    await put('Content-Description: Delivery report');
    await put('Content-Type: message/delivery-status');
    await put('');
    await put(`Reporting-MTA: dns; ${host}`);
    await put(`X-Postfix-Queue-ID: ${n.original.queueId}`);
    await put(`X-Postfix-Sender: rfc822; ${n.original.sender}`);
    if (n.original.envid) await put(`Original-Envelope-Id: ${n.original.envid}`);
    await put(`Arrival-Date: ${mailDate(new Date(n.original.arrival))}`);
    await put('');
    for (const e of n.entries) {
      await put(`Final-Recipient: rfc822; ${e.recipient}`);
      if (e.dsn_orig_rcpt) await put(`Original-Recipient: ${e.dsn_orig_rcpt}`);
      await put(`Action: ${e.action}`);
      await put(`Status: ${e.status}`);
      if (e.mta_type && e.mta_mname) await put(`Remote-MTA: ${e.mta_type}; ${e.mta_mname}`);
      const diag = e.diag_type && e.diag_text ? `Diagnostic-Code: ${e.diag_type}; ${e.diag_text}` : `Diagnostic-Code: X-Postfix; ${e.reason}`;
      for (const l of lineWrap(diag)) await put(l);
      if (n.kind === 'delay' && e.action === 'delayed') {
        const lifetime = config.time(n.original.sender === '' ? 'bounce_queue_lifetime' : 'maximal_queue_lifetime');
        await put(`Will-Retry-Until: ${mailDate(new Date(n.original.arrival + lifetime * 1000))}`);
      }
      await put('');
    }
    // Part 3: the original message or its headers.
    const headersOnly = !n.fullContent;
    await put(`--${boundary}`);
    if (n.kind === 'success' || n.kind === 'verify') await put(headersOnly ? 'Content-Description: Message Headers' : 'Content-Description: Message');
    else await put(headersOnly ? 'Content-Description: Undelivered Message Headers' : 'Content-Description: Undelivered Message');
    await put(headersOnly ? 'Content-Type: text/rfc822-headers' : 'Content-Type: message/rfc822');
    await put('Content-Transfer-Encoding: 8bit');
    await put('');
    const limit = config.int('bounce_size_limit');
    let copied = 0;
    await put(`Return-Path: <${n.original.sender}>`);
    for await (const line of readMessageLines(n.original.path, n.original.dataOffset)) {
      if (headersOnly && line.length === 0) break;
      copied += line.length + 1;
      if (limit > 0 && copied > limit) break;
      await put(line);
    }
    await put('');
    await put(`--${boundary}--`);
    await clnt.record(REC.XTRA, '');
    const result = await clnt.finish();
    if (result.status !== 0) throw new Error(`cleanup refused the notice: ${result.reason || `status ${result.status}`}`);
    return result.queueId;
  } catch (err) {
    clnt.abort();
    throw err;
  }
}

/**
 * lineWrap - Postfix line_wrap() as the bounce daemon uses it: lines of at
 * most 79 characters broken at blanks; continuation lines indented by 4.
 * A word longer than the line is not broken.
 */
export function lineWrap(text: string, len = 79, indent = 4): string[] {
  const out: string[] = [];
  let currLen = len;
  let currIndent = 0;
  let start = 0;
  let word = 0;
  const isSpace = (c: string) => c === ' ' || c === '\t';
  const nextSpace = (from: number) => {
    let i = from;
    while (i < text.length && !isSpace(text[i])) i++;
    return i;
  };
  for (;;) {
    let ns = nextSpace(word);
    if (word > start && ns - start > currLen) {
      let lineLen = word - start;
      while (lineLen > 0 && isSpace(text[start + lineLen - 1])) lineLen--;
      out.push(' '.repeat(currIndent) + text.slice(start, start + lineLen));
      while (word < text.length && isSpace(text[word])) word++;
      if (out.length === 1) {
        currIndent += indent;
        currLen -= indent;
      }
      start = word;
      ns = nextSpace(word);
    }
    if (ns >= text.length) break;
    word = ns + 1;
  }
  out.push(' '.repeat(currIndent) + text.slice(start));
  return out;
}

/** wantsFullContent - return the whole message unless the sender asked for headers only. */
export function wantsFullContent(kind: NoticeKind, ret: number): boolean {
  if (kind === 'success' || kind === 'delay' || kind === 'verify') return false;
  return (ret & DSN_RET.HDRS) === 0;
}

/**
 * showq_format - the mailq and JSON renderings of a queue listing (Postfix
 * postqueue/showq_compat.c, showq_json.c), and the client side of the
 * mail_queue_list_protocol.
 *
 * MailqFormatter produces the classic `mailq` / `postqueue -p` /
 * `sendmail -bp` text byte for byte: fixed-width columns (short or long
 * queue ID layout), the `*` (active), `!` (hold) and `#` (force-expired)
 * markers, right-aligned `(reason)` lines printed only when the reason
 * changes, the blank line between messages, the `-- N Kbytes in M
 * Request(s).` footer and `Mail queue is empty`. jsonMessage() produces
 * one `postqueue -j` line. Both are pure: callers write the strings.
 */

import { readAttrs, AttrError } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import { asctimeLocal } from '../global/queue_file.js';
import { MAIL_QUEUE } from '../global/mail_queue.js';
import { printableString, type ShowqMessage } from '../showq/showq.js';

const S_STRING = (a: string, b: string, c: string, d: string) => `${a.padEnd(11)} ${b.padStart(7)} ${c.padEnd(20)} ${d}\n`;
const S_SENDER = (id: string, size: number, time: string, sender: string) =>
  `${id.padEnd(11)} ${String(size).padStart(7)} ${time.slice(0, 20).padStart(20)} ${sender}\n`;
const L_STRING = (a: string, b: string, c: string, d: string) => `${a.padEnd(17)} ${b.padStart(8)} ${c.padEnd(19)} ${d}\n`;
const L_SENDER = (id: string, size: number, time: string, sender: string) =>
  `${id.padEnd(17)} ${String(size).padStart(8)} ${time.slice(0, 19).padStart(19)} ${sender}\n`;

/** asctimeNl - asctime() output including its newline (the %20.20s field cuts into it). */
function asctimeNl(t: number): string {
  return asctimeLocal(t) + '\n';
}

/** MailqFormatter - incremental mailq output; message() per entry, finish() for the footer. */
export class MailqFormatter {
  private fileCount = 0;
  private queueSize = 0;
  constructor(private readonly longIds: boolean) {}

  /** message - the text for one queued message (heading first, blank line between messages). */
  message(m: ShowqMessage): string {
    let out = '';
    if (this.fileCount > 0) out += '\n';
    else if (this.longIds) out += L_STRING('----Queue ID-----', '--Size--', '---Arrival Time----', '--Sender/Recipient------');
    else out += S_STRING('-Queue ID-', '--Size--', '----Arrival Time----', '-Sender/Recipient-------');
    let idStatus = m.queueId;
    if (m.queueName === MAIL_QUEUE.ACTIVE) idStatus += '*';
    else if (m.queueName === MAIL_QUEUE.HOLD) idStatus += '!';
    if (m.forcedExpire) idStatus += '#';
    const time = asctimeNl(m.time);
    out += this.longIds ? L_SENDER(idStatus, m.size, time, m.sender) : S_SENDER(idStatus, m.size, time, m.sender);
    let savedReason = '';
    for (const r of m.recipients) {
      if (savedReason !== r.reason) {
        savedReason = r.reason;
        const show = savedReason || 'reason unavailable';
        const padding = Math.max(0, 76 - Buffer.byteLength(show, 'utf8'));
        out += `${' '.repeat(padding)}(${show})\n`;
      }
      out += this.longIds ? L_STRING('', '', '', r.address) : S_STRING('', '', '', r.address);
    }
    this.fileCount++;
    this.queueSize += m.size;
    return out;
  }

  /** finish - the summary line, or "Mail queue is empty". */
  finish(): string {
    if (this.fileCount === 0) return 'Mail queue is empty\n';
    return `\n-- ${Math.floor(this.queueSize / 1024)} Kbytes in ${this.fileCount} Request${this.fileCount === 1 ? '' : 's'}.\n`;
  }
}

/** jsonQuote - showq_json.c json_quote(): short escapes, \u00XX for other controls, then printable(). */
export function jsonQuote(text: string, utf8: boolean): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f) {
      switch (ch) {
        case '\b':
          out += '\\b';
          break;
        case '\f':
          out += '\\f';
          break;
        case '\n':
          out += '\\n';
          break;
        case '\r':
          out += '\\r';
          break;
        case '\t':
          out += '\\t';
          break;
        default:
          out += '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
      }
    } else if (ch === '\\' || ch === '"') {
      out += '\\' + ch;
    } else {
      out += ch;
    }
  }
  return printableString(out, utf8);
}

/** jsonMessage - one `postqueue -j` line. */
export function jsonMessage(m: ShowqMessage, utf8: boolean): string {
  const q = (s: string) => jsonQuote(s, utf8);
  let out = '{';
  out += `"queue_name": "${q(m.queueName)}", `;
  out += `"queue_id": "${q(m.queueId)}", `;
  out += `"arrival_time": ${m.time}, `;
  out += `"message_size": ${m.size}, `;
  out += `"forced_expire": ${m.forcedExpire ? 'true' : 'false'}, `;
  out += `"sender": "${q(m.sender)}", `;
  out += '"recipients": [';
  out += m.recipients
    .map((r) => `{"address": "${q(r.address)}"${r.reason.length > 0 ? `, "delay_reason": "${q(r.reason)}"` : ''}}`)
    .join(', ');
  out += ']}\n';
  return out;
}

/** ShowqProtocolError - the showq server sent something the client does not understand. */
export class ShowqProtocolError extends Error {}

const HEAD = ['queue_name', 'queue_id', 'time', 'size', 'forced_expire', 'sender'];

/**
 * readShowqMessage - one message from a showq server, or null at the
 * terminating empty list. Attribute names and order are checked strictly.
 */
export async function readShowqMessage(stream: VStream, utf8: boolean): Promise<ShowqMessage | null> {
  let list;
  try {
    list = await readAttrs(stream);
  } catch (e) {
    if (e instanceof AttrError) throw new ShowqProtocolError(e.message);
    throw e;
  }
  if (list === null) throw new ShowqProtocolError('premature end of input');
  const p = list.pairs;
  if (p.length === 0) return null;
  if (p.length < 6 || (p.length - 6) % 2 !== 0) throw new ShowqProtocolError('bad attribute count');
  for (let i = 0; i < 6; i++) if (p[i][0] !== HEAD[i]) throw new ShowqProtocolError(`unexpected attribute ${p[i][0]}`);
  const num = (v: string) => {
    if (!/^-?\d+$/.test(v)) throw new ShowqProtocolError(`bad number ${v}`);
    return Number(v);
  };
  const m: ShowqMessage = {
    queueName: printableString(p[0][1], utf8),
    queueId: printableString(p[1][1], utf8),
    time: num(p[2][1]),
    size: num(p[3][1]),
    forcedExpire: num(p[4][1]) !== 0,
    sender: printableString(p[5][1], utf8),
    recipients: [],
  };
  for (let i = 6; i < p.length; i += 2) {
    if (p[i][0] !== 'recipient' || p[i + 1][0] !== 'reason') throw new ShowqProtocolError(`unexpected attribute ${p[i][0]}`);
    m.recipients.push({ address: printableString(p[i][1], utf8), reason: printableString(p[i + 1][1], utf8) });
  }
  return m;
}

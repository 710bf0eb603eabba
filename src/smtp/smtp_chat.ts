/**
 * smtp_chat - SMTP client command/reply exchange (Postfix smtp/smtp_chat.c).
 *
 * Replies are read line by line with a deadline per read; a multi-line
 * reply (`250-...` lines) is collected up to the final `250 ...` line.
 * Lines and reply sizes are bounded so a broken server cannot make the
 * client buffer without limit. The transcript keeps the last exchange for
 * error texts ("host X said: ... (in reply to RCPT TO command)").
 */

import { VStream, TimeoutError } from '../util/vstream.js';

export const MAX_REPLY_LINE = 8192;
export const MAX_REPLY_LINES = 1000;

export interface SmtpReply {
  code: number;
  /** enhanced status code when the server sent one, else "" */
  dsn: string;
  /** the text lines without the "ddd-" prefix */
  lines: string[];
  /** the reply as one string, lines joined with a space (Postfix's log format) */
  text: string;
}

export class SmtpProtocolError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'lost' | 'protocol',
  ) {
    super(message);
    this.name = 'SmtpProtocolError';
  }
}

/** readReply - one complete reply; throws SmtpProtocolError on timeout, EOF or garbage. */
export async function readReply(stream: VStream, timeoutMs: number): Promise<SmtpReply> {
  const lines: string[] = [];
  let code = 0;
  stream.timeout = timeoutMs;
  for (;;) {
    let raw: Buffer | null;
    try {
      raw = await stream.readUntil(0x0a, MAX_REPLY_LINE);
    } catch (err) {
      if (err instanceof TimeoutError) throw new SmtpProtocolError('timeout', 'timeout');
      throw new SmtpProtocolError((err as Error).message, 'lost');
    }
    if (raw === null) throw new SmtpProtocolError('lost connection', 'lost');
    let line = raw.toString('utf8');
    line = line.replace(/\r?\n$/, '');
    const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
    if (!m) throw new SmtpProtocolError(`malformed reply: ${line.slice(0, 100)}`, 'protocol');
    const thisCode = Number(m[1]);
    if (code !== 0 && thisCode !== code) throw new SmtpProtocolError(`inconsistent multi-line reply codes`, 'protocol');
    code = thisCode;
    lines.push(m[3]);
    if (m[2] !== '-') break;
    if (lines.length > MAX_REPLY_LINES) throw new SmtpProtocolError('reply too long', 'protocol');
  }
  const dsnMatch = /^([245]\.\d{1,3}\.\d{1,3})(?:\s|$)/.exec(lines[0] ?? '');
  const dsn = dsnMatch && dsnMatch[1][0] === String(code)[0] ? dsnMatch[1] : '';
  // Postfix logs a multi-line reply as its raw lines joined with spaces ("550-5.1.1 a 550 5.1.1 b").
  const text = lines.map((l, i) => `${code}${i === lines.length - 1 ? ' ' : '-'}${l}`).join(' ');
  return { code, dsn, lines, text };
}

/** replyDsn - the reply's enhanced code, or the default for its class (Postfix smtp_rcpt_dsn...). */
export function replyDsn(reply: SmtpReply): string {
  if (reply.dsn) return reply.dsn;
  const cls = Math.floor(reply.code / 100);
  return cls === 2 ? '2.0.0' : cls === 4 ? '4.0.0' : '5.0.0';
}

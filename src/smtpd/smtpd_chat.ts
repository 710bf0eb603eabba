/**
 * smtpd_chat - SMTP server reply writer and request reader (Postfix
 * smtpd/smtpd_chat.c).
 *
 * Replies are queued, not written: the queue is flushed only when smtpd is
 * about to wait for client input that has not yet arrived (or after an error
 * sleep). A client that pipelines commands therefore receives its replies in
 * one batch, exactly as with Postfix's VSTREAM double buffering. Multi-line
 * replies are given as text with "\r\n" between lines; every line but the
 * last gets the "NNN-" continuation form. soft_bounce turns 5xx into 4xx;
 * once smtpd_soft_error_limit errors are counted each reply is delayed by
 * smtpd_error_sleep_time; a 421 or 521 reply hangs up the session.
 */

import { TimeoutError } from '../util/vstream.js';
import { msg } from '../util/msg.js';
import { FLAG, type SmtpdState } from './smtpd_state.js';

/** Thrown when the client went away while we were talking (SMTP_ERR_EOF). */
export class LostConnection extends Error {
  constructor() {
    super('lost connection');
    this.name = 'LostConnection';
  }
}

/** Session limits that smtpd_chat needs (read once per session). */
export interface ChatLimits {
  softErrorLimit: number;
  errorSleepMs: number;
  softBounce: boolean;
  lineLimit: number;
  rejectFooter: string;
}

const limitsCache = new WeakMap<SmtpdState, ChatLimits>();

export function chatLimits(state: SmtpdState): ChatLimits {
  let l = limitsCache.get(state);
  if (!l) {
    const c = state.config;
    l = {
      softErrorLimit: c.int('smtpd_soft_error_limit'),
      errorSleepMs: c.time('smtpd_error_sleep_time') * 1000,
      softBounce: c.bool('soft_bounce'),
      lineLimit: c.int('line_length_limit'),
      rejectFooter: c.str('smtpd_reject_footer'),
    };
    limitsCache.set(state, l);
  }
  return l;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** smtpdChatReply - queue one (possibly multi-line) reply. */
export async function smtpdChatReply(state: SmtpdState, text: string): Promise<void> {
  const limits = chatLimits(state);
  let delayed = false;
  if (state.errorCount >= limits.softErrorLimit && limits.errorSleepMs > 0) {
    // Postfix sleeps before formatting the reply, then flushes everything queued
    await sleep(limits.errorSleepMs);
    delayed = true;
  }
  if ((text[0] === '4' || text[0] === '5') && limits.rejectFooter) {
    text += '\r\n' + footerText(state, text, limits.rejectFooter);
  }
  const lines = text.split('\r\n');
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n];
    if (limits.softBounce && line[0] === '5') {
      line = '4' + line.slice(1, 4) + (line[4] === '5' ? '4' : line[4] ?? '') + line.slice(5);
    }
    if (n < lines.length - 1 && line.length >= 4) line = line.slice(0, 3) + '-' + line.slice(4);
    state.outBuf.push(line + '\r\n');
    msg.debug(1, `> ${state.namaddr}: ${line}`);
  }
  if (delayed) flushReplies(state);
  if (text.startsWith('421') || text.startsWith('521')) state.flags |= FLAG.HANGUP;
}

/** footerText - smtpd_reject_footer with the reply code and DSN copied from the reply (smtp_reply_footer). */
function footerText(state: SmtpdState, reply: string, footer: string): string {
  const code = reply.slice(0, 3);
  const dsn = /^\d{3} ([245]\.\d{1,3}\.\d{1,3}) /.exec(reply)?.[1];
  const body = footer
    .replace(/\\n/g, '\r\n')
    .replace(/\$\{?client_address\}?/g, state.addr)
    .replace(/\$\{?client_name\}?/g, state.name)
    .replace(/\$\{?client_port\}?/g, state.port)
    .replace(/\$\{?helo_name\}?/g, state.heloName ?? '')
    .replace(/\$\{?localtime\}?/g, new Date().toString());
  return body
    .split('\r\n')
    .map((l) => `${code} ${dsn ? dsn + ' ' : ''}${l}`)
    .join('\r\n');
}

/** flushReplies - write the queued replies to the client. */
export function flushReplies(state: SmtpdState): void {
  if (state.outBuf.length === 0) return;
  const data = state.outBuf.join('');
  state.outBuf.length = 0;
  if (!state.client.sock.destroyed && state.client.sock.writable) state.client.write(data);
}

/**
 * readWithFlush - wait for client input; queued replies are flushed if
 * the input is not already buffered (the read would block).
 */
export async function readWithFlush<T>(state: SmtpdState, read: () => Promise<T>): Promise<T> {
  let done = false;
  const p = read().finally(() => {
    done = true;
  });
  const timer = setImmediate(() => {
    if (!done) flushReplies(state);
  });
  try {
    return await p;
  } finally {
    clearImmediate(timer);
  }
}

export interface QueryResult {
  /** the request line without its terminator */
  line: string;
  /** false when the line was longer than the limit (the rest was discarded) */
  complete: boolean;
  /** the line is not valid UTF-8 */
  badUtf8: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * smtpdChatQuery - read one command line (smtp_get with SMTP_GET_FLAG_SKIP):
 * at most line_length_limit bytes are kept, the rest of an overlong line is
 * skipped. Throws LostConnection at end of input and TimeoutError on timeout.
 */
export async function smtpdChatQuery(state: SmtpdState): Promise<QueryResult> {
  const limit = chatLimits(state).lineLimit;
  let raw = await readWithFlush(state, () => state.client.readUntil(0x0a, limit));
  if (raw === null) throw new LostConnection();
  let complete = raw[raw.length - 1] === 0x0a;
  if (!complete && raw.length >= limit) {
    // skip the rest of the overlong line
    for (;;) {
      const more = await readWithFlush(state, () => state.client.readUntil(0x0a, 65536));
      if (more === null) break;
      if (more[more.length - 1] === 0x0a) break;
    }
  } else if (!complete) {
    throw new LostConnection();
  }
  let end = raw.length;
  state.gotBareLf = false;
  if (complete) {
    end--;
    if (state.bareLfMask) {
      // with bare-LF detection only one CR is part of the terminator
      if (end > 0 && raw[end - 1] === 0x0d) end--;
      else state.gotBareLf = true;
    }
  }
  raw = raw.subarray(0, end);
  // Postfix strips the LF and every CR before it.
  let text: string;
  let badUtf8 = false;
  try {
    text = utf8.decode(raw);
  } catch {
    text = raw.toString('latin1');
    badUtf8 = true;
  }
  const line = state.bareLfMask ? text : text.replace(/\r+$/, '');
  if (!complete) {
    msg.warn(`${state.namaddr}: request longer than ${limit}: ${printable(line.slice(0, 30))}...`);
  }
  msg.debug(1, `< ${state.namaddr}: ${line}`);
  return { line, complete, badUtf8 };
}

/** printable - replace non-printable characters with '?' (util/printable.c). */
export function printable(text: string, replacement = '?'): string {
  return text.replace(/[^\x20-\x7e\u0080-\uffff]/g, replacement);
}

export { TimeoutError };

/**
 * log_adhoc - the per-recipient delivery log line (Postfix global/log_adhoc.c):
 *
 *   ID: to=<r>, orig_to=<o>, relay=R, conn_use=N, delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (text)
 *
 * delay is the total time since arrival; delays are a = before the queue
 * manager, b = in the queue manager, c = connection setup, d = transmission.
 * Each is printed with two significant digits and at most
 * delay_logging_resolution_limit decimals; zero prints as 0.
 */

import type { MsgStats } from './deliver_request.js';

export interface DeliveryTimes extends MsgStats {
  /** when the agent finished connection setup (epoch ms; 0 = no separate setup phase) */
  connSetupDone?: number;
  /** when delivery finished (epoch ms) */
  deliverDone: number;
  /** connection reuse count (> 1 is logged) */
  reuseCount?: number;
}

/** formatDelay - Postfix format_tv(): 2 significant digits, at most maxDecimals decimals. */
export function formatDelay(seconds: number, maxDecimals = 2, significant = 2): string {
  if (!(seconds > 0)) return '0';
  let decimals: number;
  if (seconds >= 1) {
    const intDigits = Math.floor(Math.log10(seconds)) + 1;
    decimals = Math.max(0, Math.min(maxDecimals, significant - intDigits));
  } else {
    const leadingZeros = -Math.floor(Math.log10(seconds)) - 1;
    decimals = Math.min(maxDecimals, leadingZeros + significant);
  }
  const factor = 10 ** decimals;
  const truncated = Math.floor(seconds * factor + 1e-9) / factor;
  let text = truncated.toFixed(decimals);
  if (text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
  return text === '' || Number(text) === 0 ? '0' : text;
}

/** quoteForLog - the address as logged: <> for the null address is the caller's job; text as is. */
export interface AdhocEntry {
  queueId: string;
  recipient: string;
  origRecipient: string;
  relay: string;
  dsn: string;
  status: string;
  text: string;
}

/** logAdhocText - build the text of the log line (without the syslog framing). */
export function logAdhocText(e: AdhocEntry, t: DeliveryTimes, resolution = 2): string {
  let line = `${e.queueId}: to=<${e.recipient}>`;
  if (e.origRecipient && e.origRecipient.toLowerCase() !== e.recipient.toLowerCase()) {
    line += `, orig_to=<${e.origRecipient}>`;
  }
  line += `, relay=${e.relay}`;
  if (t.reuseCount && t.reuseCount > 1) line += `, conn_use=${t.reuseCount}`;
  const sec = (ms: number) => Math.max(0, ms) / 1000;
  const total = sec(t.deliverDone - t.arrival);
  const a = sec(t.activeArrival - t.arrival);
  const b = sec(t.agentHandoff - t.activeArrival);
  const setup = t.connSetupDone && t.connSetupDone > 0 ? t.connSetupDone : t.agentHandoff;
  const c = sec(setup - t.agentHandoff);
  const d = sec(t.deliverDone - setup);
  const f = (x: number) => formatDelay(x, resolution);
  line += `, delay=${f(total)}, delays=${f(a)}/${f(b)}/${f(c)}/${f(d)}`;
  line += `, dsn=${e.dsn}, status=${e.status} (${e.text})`;
  return line;
}

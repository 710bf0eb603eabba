/**
 * cleanup_message - message content processing (Postfix
 * cleanup/cleanup_message.c, global/header_opts.c, is_header.c, and the
 * header/body split of mime_state.c).
 *
 * Headers are collected (folded lines joined, at most header_size_limit
 * bytes each), checked with header_checks / mime_header_checks, counted
 * for hopcount_limit, rewritten (sender/recipient headers in the rewrite
 * context, canonical maps, masquerading), and written out. At the end of
 * the headers, missing Message-Id:, Date: and From: headers are added
 * (Resent- variants when Resent- headers were seen). Body lines go through
 * body_checks and straight to the file.
 */

import { REC } from '../global/rec_type.js';
import { CLEANUP_FLAG, CLEANUP_FLAG_FILTER_ALL, CLEANUP_STAT, cleanupStatDetail } from '../global/cleanup_user.js';
import { quote822Local } from '../global/quote_822_local.js';
import { tok822Externalize, tok822Internalize, tok822Parse, tok822Scan, TOKEN_LIMIT, type Tok822 } from '../global/tok822.js';
import { msg } from '../util/msg.js';
import { CANON } from './cleanup_init.js';
import { mailDate } from '../global/mail_date.js';
import { mapHeaderAddress, rewriteInternal } from './cleanup_addr.js';
import type { CleanupState } from './cleanup_state.js';
import type { MapsLike } from './maps_adapter.js';

/** Header types and options (header_opts.h). */
export const HDR = {
  OTHER: 0, APPARENTLY_TO: 1, BCC: 2, CC: 3, CONTENT_LENGTH: 4, CONTENT_TRANSFER_ENCODING: 5, CONTENT_TYPE: 6,
  DATE: 7, DELIVERED_TO: 8, ERRORS_TO: 9, FROM: 10, MESSAGE_ID: 11, RECEIVED: 12, REPLY_TO: 13, RESENT_BCC: 14,
  RESENT_CC: 15, RESENT_DATE: 16, RESENT_FROM: 17, RESENT_MESSAGE_ID: 18, RESENT_REPLY_TO: 19, RESENT_SENDER: 20,
  RESENT_TO: 21, RETURN_PATH: 22, RETURN_RECEIPT_TO: 23, SENDER: 24, TO: 25, MAIL_FOLLOWUP_TO: 26,
  CONTENT_DESCRIPTION: 27, CONTENT_DISPOSITION: 28, CONTENT_ID: 29, MIME_VERSION: 30, DISP_NOTIFICATION: 31,
} as const;

export const HDR_OPT = { DROP: 1, SENDER: 2, RECIP: 4, RR: 8, EXTRACT: 16, MIME: 32 } as const;
const XRECIP = HDR_OPT.RECIP | HDR_OPT.EXTRACT;

export interface HeaderOpts {
  name: string;
  type: number;
  flags: number;
}

const TABLE: HeaderOpts[] = [
  { name: 'Apparently-To', type: HDR.APPARENTLY_TO, flags: HDR_OPT.RECIP },
  { name: 'Bcc', type: HDR.BCC, flags: XRECIP },
  { name: 'Cc', type: HDR.CC, flags: XRECIP },
  { name: 'Content-Description', type: HDR.CONTENT_DESCRIPTION, flags: HDR_OPT.MIME },
  { name: 'Content-Disposition', type: HDR.CONTENT_DISPOSITION, flags: HDR_OPT.MIME },
  { name: 'Content-ID', type: HDR.CONTENT_ID, flags: HDR_OPT.MIME },
  { name: 'Content-Length', type: HDR.CONTENT_LENGTH, flags: 0 },
  { name: 'Content-Transfer-Encoding', type: HDR.CONTENT_TRANSFER_ENCODING, flags: HDR_OPT.MIME },
  { name: 'Content-Type', type: HDR.CONTENT_TYPE, flags: HDR_OPT.MIME },
  { name: 'Delivered-To', type: HDR.DELIVERED_TO, flags: 0 },
  { name: 'Disposition-Notification-To', type: HDR.DISP_NOTIFICATION, flags: HDR_OPT.SENDER },
  { name: 'Date', type: HDR.DATE, flags: 0 },
  { name: 'Errors-To', type: HDR.ERRORS_TO, flags: HDR_OPT.SENDER },
  { name: 'From', type: HDR.FROM, flags: HDR_OPT.SENDER },
  { name: 'Mail-Followup-To', type: HDR.MAIL_FOLLOWUP_TO, flags: HDR_OPT.SENDER },
  { name: 'Message-Id', type: HDR.MESSAGE_ID, flags: 0 },
  { name: 'MIME-Version', type: HDR.MIME_VERSION, flags: HDR_OPT.MIME },
  { name: 'Received', type: HDR.RECEIVED, flags: 0 },
  { name: 'Reply-To', type: HDR.REPLY_TO, flags: HDR_OPT.SENDER },
  { name: 'Resent-Bcc', type: HDR.RESENT_BCC, flags: XRECIP | HDR_OPT.RR },
  { name: 'Resent-Cc', type: HDR.RESENT_CC, flags: XRECIP | HDR_OPT.RR },
  { name: 'Resent-Date', type: HDR.RESENT_DATE, flags: HDR_OPT.RR },
  { name: 'Resent-From', type: HDR.RESENT_FROM, flags: HDR_OPT.SENDER | HDR_OPT.RR },
  { name: 'Resent-Message-Id', type: HDR.RESENT_MESSAGE_ID, flags: HDR_OPT.RR },
  { name: 'Resent-Reply-To', type: HDR.RESENT_REPLY_TO, flags: HDR_OPT.RECIP | HDR_OPT.RR },
  { name: 'Resent-Sender', type: HDR.RESENT_SENDER, flags: HDR_OPT.SENDER | HDR_OPT.RR },
  { name: 'Resent-To', type: HDR.RESENT_TO, flags: XRECIP | HDR_OPT.RR },
  { name: 'Return-Path', type: HDR.RETURN_PATH, flags: HDR_OPT.SENDER },
  { name: 'Return-Receipt-To', type: HDR.RETURN_RECEIPT_TO, flags: HDR_OPT.SENDER },
  { name: 'Sender', type: HDR.SENDER, flags: HDR_OPT.SENDER },
  { name: 'To', type: HDR.TO, flags: XRECIP },
];

/** headerOptsFind - options of a header (by its name, case-insensitive), with message_drop_headers applied. */
export function headerOptsFind(header: string, drop: Set<string>): HeaderOpts | null {
  const colon = header.indexOf(':');
  if (colon < 0) return null;
  const name = header.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
  const base = TABLE.find((h) => h.name.toLowerCase() === name);
  if (drop.has(name)) return { name: base?.name ?? header.slice(0, colon).trim(), type: base?.type ?? HDR.OTHER, flags: (base?.flags ?? 0) | HDR_OPT.DROP };
  return base ?? null;
}

/** isHeader - "name:" with a printable name of no spaces (is_header.c; optional blanks before the colon). */
export function isHeaderLen(line: string): number {
  let i = 0;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 58) return i > 0 ? i + 1 : 0; // ':'
    if (c === 32 || c === 9) {
      // blanks allowed only before the colon
      let j = i;
      while (j < line.length && (line[j] === ' ' || line[j] === '\t')) j++;
      return line[j] === ':' && i > 0 ? j + 1 : 0;
    }
    if (c < 33 || c > 126) return 0;
  }
  return 0;
}

/** actLog - "ID: action: class content from origin; from=<> to=<> proto= helo=<>: text" (cleanup_act_log). */
export function actLog(state: CleanupState, action: string, cls: string, content: string, text: string): void {
  const origin = state.attr.get('log_message_origin') ?? 'unknown';
  let line = `${state.queueId}: ${action}: ${cls} ${content.slice(0, 200).replace(/[\x00-\x1f\x7f]/g, '?')} from ${origin};`;
  if (state.sender !== null) line += ` from=<${state.sender}>`;
  if (state.recip !== null) line += ` to=<${state.recip}>`;
  const proto = state.attr.get('log_protocol_name');
  if (proto !== undefined) line += ` proto=${proto}`;
  const helo = state.attr.get('log_helo_name');
  if (helo !== undefined) line += ` helo=<${helo}>`;
  if (text) line += `: ${text}`;
  msg.info(line);
}

/** dsnPrepend - "5.7.1 text" unless the text already starts with a status code. */
function dsnPrepend(def: string, text: string): string {
  return /^[245]\.\d{1,3}\.\d{1,3}(\s|$)/.test(text) ? text : `${def} ${text}`;
}

export const DROP = Symbol('drop');

/** cleanupAct - apply a header/body check action; returns the (maybe replaced) text or DROP. */
export function cleanupAct(state: CleanupState, context: string, buf: string, value: string, mapClass: string): string | typeof DROP {
  const m = /^(\S*)\s*(.*)$/s.exec(value)!;
  const command = m[1].toUpperCase();
  const optional = m[2];
  switch (command) {
    case 'REJECT': {
      if (optional) {
        state.reason = dsnPrepend('5.7.1', optional);
        if (state.reason[0] !== '4' && state.reason[0] !== '5') {
          msg.warn(`bad DSN action in ${optional} -- need 4.x.x or 5.x.x`);
          state.reason = '4' + state.reason.slice(1);
        }
      } else {
        const d = cleanupStatDetail(CLEANUP_STAT.CONT);
        state.reason = `${d.dsn} ${d.text}`;
      }
      state.errs |= state.reason[0] === '4' ? CLEANUP_STAT.DEFER : CLEANUP_STAT.CONT;
      state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      actLog(state, 'reject', context, buf, state.reason);
      return buf;
    }
    case 'WARN':
      actLog(state, 'warning', context, buf, optional);
      return buf;
    case 'INFO':
      actLog(state, 'info', context, buf, optional);
      return buf;
    case 'FILTER':
      if (!optional) msg.warn(`missing FILTER command argument in ${mapClass} map`);
      else if (!optional.includes(':')) msg.warn(`bad FILTER command ${optional} in ${mapClass} -- need transport:destination`);
      else {
        state.filter = optional;
        actLog(state, 'filter', context, buf, optional);
      }
      return buf;
    case 'PASS':
      actLog(state, 'pass', context, buf, optional);
      state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      return buf;
    case 'DISCARD':
      actLog(state, 'discard', context, buf, optional);
      state.flags |= CLEANUP_FLAG.DISCARD;
      state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      return buf;
    case 'HOLD':
      if ((state.flags & (CLEANUP_FLAG.HOLD | CLEANUP_FLAG.DISCARD)) === 0) {
        actLog(state, 'hold', context, buf, optional);
        state.flags |= CLEANUP_FLAG.HOLD;
      }
      return buf;
    case 'PREPEND':
      if (!optional) msg.warn(`PREPEND action without text in ${mapClass} map`);
      else if (context === 'header') {
        if (!isHeaderLen(optional)) {
          msg.warn(`bad PREPEND header text "${optional}" in ${mapClass} map -- need "headername: headervalue"`);
        } else {
          actLog(state, 'prepend', context, buf, optional);
          state.outHeader(optional);
        }
      } else {
        actLog(state, 'prepend', context, buf, optional);
        state.out(REC.NORM, Buffer.from(optional, 'latin1'));
      }
      return buf;
    case 'REPLACE':
      if (!optional) {
        msg.warn(`REPLACE action without text in ${mapClass} map`);
        return buf;
      }
      if (context === 'header' && !isHeaderLen(optional)) {
        msg.warn(`bad REPLACE header text "${optional}" in ${mapClass} map -- need "headername: headervalue"`);
        return buf;
      }
      actLog(state, 'replace', context, buf, optional);
      return optional;
    case 'REDIRECT':
      if (!optional.includes('@')) msg.warn(`bad REDIRECT target "${optional}" in ${mapClass} map -- need user@domain`);
      else {
        state.redirect = optional;
        actLog(state, 'redirect', context, buf, optional);
        state.flags &= ~CLEANUP_FLAG_FILTER_ALL;
      }
      return buf;
    case 'BCC':
      if (!optional.includes('@')) msg.warn(`bad BCC address "${optional}" in ${mapClass} map -- need user@domain`);
      else {
        state.hbcRcpt.push(optional);
        actLog(state, 'bcc', context, buf, optional);
      }
      return buf;
    case 'STRIP':
      actLog(state, 'strip', context, buf, optional);
      return DROP;
    case 'IGNORE':
      return DROP;
    case 'DUNNO':
    case 'OK':
      return buf;
    default:
      msg.warn(`unknown command in ${mapClass} map: ${value}`);
      return buf;
  }
}

/** foldHeader - re-fold a rewritten header at the commas (cleanup_fold_header). */
function foldHeader(header: string): string {
  const lines = header.split('\n');
  let out = lines[0];
  let startLen = lines[0].length;
  for (let i = 1; i < lines.length; i++) {
    if (startLen + 1 + lines[i].length < 70) {
      out += ' ' + lines[i];
      startLen += 1 + lines[i].length;
    } else {
      out += '\n' + lines[i];
      startLen = lines[i].length;
    }
  }
  return out;
}

/** rewriteHeaderAddrs - rewrite the addresses of a sender/recipient header; null when nothing changed. */
async function rewriteHeaderAddrs(state: CleanupState, opts: HeaderOpts, header: string, classBit: number): Promise<string | null> {
  const value = header.slice(header.indexOf(':') + 1);
  const tree = tok822Parse(value, TOKEN_LIMIT);
  let did = false;
  for (const node of tree) {
    if (node.type !== 'addr' || !node.head) continue;
    const ctx = state.hdrRewriteContext;
    const ext = tok822Externalize(node.head);
    let cur = ext;
    if (ctx) cur = await state.g.rewrite.rewrite(ctx, ext);
    if (state.flags & CLEANUP_FLAG.MAP_OK) {
      const intern = tok822Internalize(tok822Scan(cur));
      const mapped = await mapHeaderAddress(state, intern, classBit);
      if (mapped !== intern) cur = quote822Local(mapped);
    }
    if (cur !== ext) {
      did = true;
      node.head = tok822Scan(cur) as Tok822[];
    }
  }
  if (!did) return null;
  return foldHeader(`${opts.name}: ${tok822Externalize(tree, true)}`);
}

/** Header classes (mime_state.h). */
export const MIME_HDR_PRIMARY = 1;
export const MIME_HDR_MULTIPART = 2;
export const MIME_HDR_NESTED = 3;

/**
 * headerCallback - one complete header (cleanup_header_callback): primary
 * headers, MIME part headers (MULTIPART) or headers of an attached message
 * (NESTED). MIME headers anywhere are checked with mime_header_checks.
 */
export async function headerCallback(state: CleanupState, headerIn: string, headerClass = MIME_HDR_PRIMARY): Promise<void> {
  let header = headerIn;
  const g = state.g;
  let opts = headerOptsFind(header, g.dropHeaders);
  const cls = opts && opts.flags & HDR_OPT.MIME ? MIME_HDR_MULTIPART : headerClass;
  if (opts && opts.type === HDR.RECEIVED) state.hopCount += 1;
  const checks: [MapsLike | null, string] =
    cls === MIME_HDR_PRIMARY
      ? [g.headerChecks, 'header_checks']
      : cls === MIME_HDR_MULTIPART
        ? [g.mimeHdrChecks, 'mime_header_checks']
        : [g.nestHdrChecks, 'nested_header_checks'];
  if (state.flags & CLEANUP_FLAG.FILTER && checks[0]) {
    let value: string | null = null;
    try {
      value = await checks[0].lookup(header);
    } catch {
      msg.warn(`${state.queueId}: ${checks[1]} map lookup problem -- message not accepted, try again later`);
      state.errs |= CLEANUP_STAT.WRITE;
    }
    if (value !== null) {
      const result = cleanupAct(state, 'header', header, value, checks[1]);
      if (result === DROP) return;
      if (result !== header) {
        header = result;
        opts = headerOptsFind(header, g.dropHeaders);
      }
    }
  }
  if (opts === null) {
    state.outHeader(header);
    return;
  }
  const hdrval = header.slice(header.indexOf(':') + 1).replace(/^\s+/, '');
  if (g.autoEightBitEncHdr && opts.type === HDR.CONTENT_TRANSFER_ENCODING && /^(8bit|binary)$/i.test(hdrval.trim())) {
    state.attr.set('encoding', '8bit');
  }
  if (cls !== MIME_HDR_PRIMARY) {
    state.outHeader(header);
    return;
  }
  state.headersSeen.add(opts.type);
  if (opts.type === HDR.MESSAGE_ID) msg.info(`${state.queueId}: message-id=${hdrval}`);
  if (opts.type === HDR.RESENT_MESSAGE_ID) msg.info(`${state.queueId}: resent-message-id=${hdrval}`);
  if (opts.type === HDR.RECEIVED && state.hopCount >= g.hopcountLimit) {
    msg.warn(`${state.queueId}: message rejected: hopcount exceeded`);
    state.errs |= CLEANUP_STAT.HOPS;
  }
  if (!state.outOk()) return;
  if (opts.flags & HDR_OPT.RR) state.resent = 'Resent-';
  if (opts.flags & (HDR_OPT.SENDER | HDR_OPT.RECIP) && state.hdrRewriteContext) {
    const classBit = opts.flags & HDR_OPT.SENDER ? CANON.HDR_FROM : CANON.HDR_RCPT;
    const rewritten = await rewriteHeaderAddrs(state, opts, header, classBit);
    if ((opts.flags & HDR_OPT.DROP) === 0) state.outHeader(rewritten ?? header);
  } else if ((opts.flags & HDR_OPT.DROP) === 0) {
    state.outHeader(header);
  }
}

/** headerDone - end of the primary headers: add what is missing (cleanup_header_done_callback). */
export async function headerDone(state: CleanupState): Promise<void> {
  if (!state.outOk()) return;
  const g = state.g;
  if (state.hopCount < 1) {
    msg.warn(`${state.queueId}: message rejected: no Received: header`);
    state.errs |= CLEANUP_STAT.BAD;
    return;
  }
  const add = state.hdrRewriteContext !== null || g.alwaysAddHdrs;
  const rr = state.resent !== '';
  if (add && !state.headersSeen.has(rr ? HDR.RESENT_MESSAGE_ID : HDR.MESSAGE_ID)) {
    let id: string;
    if (g.longQueueIds) id = `${state.queueId}@${g.myhostname}`;
    else {
      const t = new Date(state.ctime * 1000);
      const p = (n: number, w = 2) => String(n).padStart(w, '0');
      const stamp = `${t.getUTCFullYear()}${p(t.getUTCMonth() + 1)}${p(t.getUTCDate())}${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}`;
      id = `${stamp}.${state.queueId}@${g.myhostname}`;
    }
    state.out(REC.NORM, `${state.resent}Message-Id: <${id}>`);
    msg.info(`${state.queueId}: ${rr ? 'resent-' : ''}message-id=<${id}>`);
    state.headersSeen.add(rr ? HDR.RESENT_MESSAGE_ID : HDR.MESSAGE_ID);
  }
  if (!state.headersSeen.has(HDR.MESSAGE_ID)) msg.info(`${state.queueId}: message-id=<>`);
  if (add && !state.headersSeen.has(rr ? HDR.RESENT_DATE : HDR.DATE)) {
    state.out(REC.NORM, `${state.resent}Date: ${mailDate(new Date(state.arrivalTime * 1000))}`);
  }
  if (add && !state.headersSeen.has(rr ? HDR.RESENT_FROM : HDR.FROM)) {
    const sender = state.sender ?? '';
    const addr = quote822Local(sender || 'MAILER-DAEMON');
    let line: string;
    if (sender && state.fullname) {
      const full = state.fullname.replace(/[\r\n]/g, ' ');
      if (g.hfromFormatStd) {
        let phrase: string;
        if (!/[%!()<>@,;:\\".[\]]/.test(full)) phrase = tok822Externalize(tok822Scan(full));
        else phrase = tok822Externalize([{ type: 'qstring', text: full }]);
        line = `${state.resent}From: ${phrase ? phrase + ' ' : ''}<${addr}>`;
      } else {
        line = `${state.resent}From: ${addr} ${tok822Externalize(tok822Parse(`(${full})`))}`;
      }
    } else {
      line = `${state.resent}From: ${addr}`;
    }
    state.out(REC.NORM, Buffer.from(line, 'utf8'));
  }
  const visible = [HDR.TO, HDR.RESENT_TO, HDR.CC, HDR.RESENT_CC].some((h) => state.headersSeen.has(h));
  if (add && !visible && g.rcptWitheld) {
    if (!isHeaderLen(g.rcptWitheld)) {
      msg.warn(`bad undisclosed_recipients_header header text "${g.rcptWitheld}" -- need "headername: headervalue"`);
    } else state.out(REC.NORM, g.rcptWitheld);
  }
}

/** bodyCallback - one body record (cleanup_body_callback). */
export async function bodyCallback(state: CleanupState, type: number, buf: Buffer, offset: number): Promise<void> {
  if (!state.outOk()) return;
  const g = state.g;
  if (state.flags & CLEANUP_FLAG.FILTER && g.bodyChecks && (g.bodyCheckLen === 0 || offset < g.bodyCheckLen)) {
    const text = buf.toString('latin1');
    let value: string | null = null;
    try {
      value = await g.bodyChecks.lookup(text);
    } catch {
      msg.warn(`${state.queueId}: body_checks map lookup problem -- message not accepted, try again later`);
      state.errs |= CLEANUP_STAT.WRITE;
    }
    if (value !== null) {
      const result = cleanupAct(state, 'body', text, value, 'body_checks');
      if (result === DROP) return;
      if (result !== text) {
        state.out(type, Buffer.from(result, 'latin1'));
        return;
      }
    }
  }
  state.out(type, buf);
}

/** contentType - "multipart" with its boundary, "message/rfc822", or other, from a Content-Type header. */
export function contentType(header: string): { kind: 'multipart'; boundary: string } | { kind: 'rfc822' } | { kind: 'other' } {
  const value = header.slice(header.indexOf(':') + 1).replace(/\(([^()\\]|\\.)*\)/g, ' ');
  const m = /^\s*([!#$%&'*+.^_`{|}~0-9A-Za-z-]+)\s*\/\s*([!#$%&'*+.^_`{|}~0-9A-Za-z-]+)/.exec(value);
  if (!m) return { kind: 'other' };
  const type = m[1].toLowerCase();
  const sub = m[2].toLowerCase();
  if (type === 'multipart') {
    const b = /;\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))/i.exec(value.slice(m[0].length));
    if (b) return { kind: 'multipart', boundary: (b[1] ?? b[2]).replace(/\\(.)/g, '$1') };
    return { kind: 'other' };
  }
  if (type === 'message' && (sub === 'rfc822' || sub === 'global')) return { kind: 'rfc822' };
  return { kind: 'other' };
}

type ParseState = 'primary' | 'multipart' | 'nested' | 'body';

/** Nesting bound for multipart boundaries and attached messages (mime_nesting_limit). */
const MIME_NESTING_LIMIT = 100;

/**
 * MessageParser - the header/body state machine over N/L records (the
 * parts of mime_state.c that cleanup relies on): primary headers, then the
 * body; multipart boundaries start part headers, message/rfc822 content
 * starts nested headers. Headers go to headerCallback with their class,
 * everything else to bodyCallback.
 */
export class MessageParser {
  private mode: ParseState = 'primary';
  private header: string | null = null;
  private bodyOffset = 0;
  private pendingCont: Buffer[] = [];
  private truncated = false;
  /** boundaries of the enclosing multiparts, innermost last */
  private boundaries: string[] = [];
  /** what the headers being read announce (Content-Type) */
  private announced: ReturnType<typeof contentType> = { kind: 'other' };
  private atLineStart = true;

  constructor(private readonly state: CleanupState) {}

  private headerClass(): number {
    return this.mode === 'primary' ? MIME_HDR_PRIMARY : this.mode === 'multipart' ? MIME_HDR_MULTIPART : MIME_HDR_NESTED;
  }

  private async flushHeader(): Promise<void> {
    if (this.header !== null) {
      const h = this.header;
      this.header = null;
      this.truncated = false;
      if (/^content-type\s*:/i.test(h)) this.announced = contentType(h);
      await headerCallback(this.state, h, this.headerClass());
    }
  }

  /** endHeaders - the headers of the current entity are complete; what follows? */
  private async endHeaders(): Promise<void> {
    await this.flushHeader();
    if (this.mode === 'primary') await headerDone(this.state);
    const a = this.announced;
    this.announced = { kind: 'other' };
    this.mode = 'body';
    if (a.kind === 'multipart' && this.boundaries.length < MIME_NESTING_LIMIT) this.boundaries.push(a.boundary);
    else if (a.kind === 'rfc822' && this.boundaries.length < MIME_NESTING_LIMIT) this.nestedNext = true;
  }

  /** after the blank line that ends a header block: attached message headers follow */
  private nestedNext = false;

  /** update - one content record (N or L). */
  async update(type: number, data: Buffer): Promise<void> {
    if (this.mode !== 'body') {
      // Join L pieces into one logical line before deciding what it is.
      if (type === REC.CONT) {
        this.pendingCont.push(data);
        const total = this.pendingCont.reduce((n, b) => n + b.length, 0);
        if (total <= this.state.g.headerLimit) return;
        type = REC.NORM;
        data = Buffer.concat(this.pendingCont);
        this.pendingCont = [];
      } else if (this.pendingCont.length > 0) {
        data = Buffer.concat([...this.pendingCont, data]);
        this.pendingCont = [];
      }
      const line = data.toString('latin1');
      if (this.header !== null && (line.startsWith(' ') || line.startsWith('\t'))) {
        // Past header_size_limit the rest of the header is dropped (MIME_ERR_TRUNC_HEADER, not an error).
        if (!this.truncated && this.header.length + 1 + line.length <= this.state.g.headerLimit) this.header += '\n' + line;
        else this.truncated = true;
        return;
      }
      if (isHeaderLen(line) > 0) {
        await this.flushHeader();
        this.header = line.length <= this.state.g.headerLimit ? line : line.slice(0, this.state.g.headerLimit);
        return;
      }
      const wasPrimary = this.mode === 'primary';
      await this.endHeaders();
      // Garbage in the primary header: supply the missing blank line, then the line is body text.
      if (wasPrimary && data.length > 0) await this.bodyLine(REC.NORM, Buffer.alloc(0));
      if (data.length === 0 && this.nestedNext) {
        this.nestedNext = false;
        await this.bodyLine(REC.NORM, data);
        this.mode = 'nested';
        return;
      }
      this.nestedNext = false;
      await this.bodyLine(REC.NORM, data);
      return;
    }
    // Body: a boundary line of an enclosing multipart starts a new part (or ends the multipart).
    if (this.atLineStart && type === REC.NORM && this.boundaries.length > 0 && data[0] === 0x2d && data[1] === 0x2d) {
      const line = data.toString('latin1');
      for (let i = this.boundaries.length - 1; i >= 0; i--) {
        const b = this.boundaries[i];
        if (!line.startsWith('--' + b)) continue;
        const rest = line.slice(2 + b.length);
        this.boundaries.length = i + 1;
        await this.bodyLine(type, data);
        if (rest.startsWith('--')) this.boundaries.length = i;
        else this.mode = 'multipart';
        return;
      }
    }
    await this.bodyLine(type, data);
  }

  private async bodyLine(type: number, data: Buffer): Promise<void> {
    await bodyCallback(this.state, type, data, this.bodyOffset);
    this.bodyOffset += data.length + (type === REC.NORM ? 1 : 0);
    this.atLineStart = type === REC.NORM;
  }

  /** finish - end of content (the X record). */
  async finish(): Promise<void> {
    if (this.pendingCont.length > 0) {
      const data = Buffer.concat(this.pendingCont);
      this.pendingCont = [];
      await this.update(REC.NORM, data);
    }
    if (this.mode === 'primary') await this.endHeaders();
    else if (this.mode !== 'body') await this.flushHeader();
  }
}

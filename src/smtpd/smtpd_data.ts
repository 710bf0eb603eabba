/**
 * smtpd_data - message transfer: the DATA and BDAT commands, smtpd's own
 * Received: header, and the verdict after the cleanup server has answered
 * (Postfix smtpd.c data_cmd(), bdat_cmd(), common_pre_message_handling(),
 * receive_data_message(), common_post_message_handling()).
 *
 * "250 2.0.0 Ok: queued as ID" is sent only after the destination (cleanup)
 * replied with status 0, which it does only once the queue file is safely
 * written.
 */

import { msg } from '../util/msg.js';
import { REC } from '../global/rec_type.js';
import { mailDate, quoteLocal } from './smtpd_addr.js';
import { printable, readWithFlush, smtpdChatReply } from './smtpd_chat.js';
import { saslUsername } from './smtpd_sasl.js';
import { smtpdCheckData, smtpdCheckEod, logWhatsup } from './smtpd_check.js';
import { cleanupStatDetail } from './smtpd_dest.js';
import {
  BARE_LF, BDAT_STAT, CLEANUP_STAT, MAIL_ERROR, WHERE, inMailTransaction, mailReset, processingBdat, rcptReset,
  type SmtpdState,
} from './smtpd_state.js';
import { LostConnection } from './smtpd_chat.js';

/** out - append a record to the message (errors are remembered, not thrown). */
function out(state: SmtpdState, type: number, data: Buffer | string): void {
  if (state.dest) state.dest.record(type, data);
}

/** commonPreMessageHandling - the M record, PREPEND headers and our Received: header. */
function commonPreMessageHandling(state: SmtpdState): void {
  const config = state.config;
  if (state.dest) {
    if (!state.standAlone && state.savedFlags) out(state, REC.FLGS, String(state.savedFlags));
    out(state, REC.MESG, '');
  }
  for (const header of state.prepend) out(state, REC.NORM, header);
  // RFC 3848: ESMTPS after STARTTLS
  // RFC 3848: ESMTPA / ESMTPSA after AUTH
  const saslUser = state.standAlone ? null : saslUsername(state);
  const withProtocol = (state.flags & 4 /* FLAG.SMTPUTF8 */ ? 'UTF8SMTP' : state.protocol) + (state.tls !== null && state.protocol === 'ESMTP' ? 'S' : '') + (saslUser !== null && state.protocol === 'ESMTP' ? 'A' : '');
  out(state, REC.NORM, `Received: from ${state.heloName ?? state.name} (${state.name} [${state.rfcAddr}])`);
  if (state.tls !== null && config.bool('smtpd_tls_received_header')) {
    // Postfix folds the TLS details over two lines, then says what it asked of the client.
    const t = state.tls;
    const cut = t.details.indexOf(' client-signature ');
    const lines = [`(using ${t.protocol} with cipher ${t.cipher} (${t.bits}/${t.bits} bits)`];
    const serverPart = (cut < 0 ? t.details : t.details.slice(0, cut)).trim();
    if (serverPart) lines.push(` ${serverPart}`);
    if (cut >= 0) lines.push(` ${t.details.slice(cut).trim()}`);
    lines[lines.length - 1] += ')';
    for (const line of lines) out(state, REC.NORM, `\t${line}`);
    const cc = t.ccert;
    if (cc.present) {
      out(state, REC.NORM, `\t(Client CN "${commentSanitize(cc.peerCN)}", Issuer "${commentSanitize(cc.issuerCN)}" (${cc.trusted ? 'verified OK' : 'not verified'}))`);
    } else if (config.bool('smtpd_tls_ask_ccert')) {
      out(state, REC.NORM, '\t(Client did not present a certificate)');
    } else {
      out(state, REC.NORM, '\t(No client certificate requested)');
    }
  }
  if (saslUser !== null && config.bool('smtpd_sasl_authenticated_header')) {
    out(state, REC.NORM, `\t(Authenticated sender: ${printable(saslUser)})`);
  }
  const myhostname = config.str('myhostname');
  const mailName = config.str('mail_name');
  const date = mailDate(new Date(state.arrivalTime.sec * 1000));
  const idPart = state.dest ? ` id ${state.queueId}` : '';
  if (state.rcptCount === 1 && state.recipient !== null) {
    out(state, REC.NORM, `\tby ${myhostname} (${mailName}) with ${withProtocol}${idPart}`);
    out(state, REC.NORM, `\tfor <${quoteLocal(state.recipient)}>; ${date}`);
  } else {
    out(state, REC.NORM, `\tby ${myhostname} (${mailName}) with ${withProtocol}${idPart};`);
    out(state, REC.NORM, `\t${date}`);
  }
}

/**
 * commentSanitize - a certificate name made safe inside a Received: comment
 * (Postfix smtpd.c comment_sanitize()): printable ASCII only, no backslash,
 * unbalanced parentheses neutralized.
 */
export function commentSanitize(text: string): string {
  let depth = 0;
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code > 0x7e) out += '?'.repeat(Buffer.byteLength(ch)); // each byte, as Postfix
    else if (code < 0x20 || ch === '\\') out += '?';
    else if (ch === '(') {
      depth++;
      out += ch;
    } else if (ch === ')') {
      if (depth > 0) {
        depth--;
        out += ch;
      } else out += '?';
    } else out += ch;
  }
  return out + ')'.repeat(depth);
}

/** limits read per message */
function messageLimit(state: SmtpdState): number {
  return state.config.int('message_size_limit');
}

/** storeLine - size accounting and one N or L record (receive_data_message inner step). */
function storeLine(state: SmtpdState, recType: number, line: Buffer, limit: number): void {
  if (state.err !== CLEANUP_STAT.OK) return;
  if (limit > 0 && limit - state.actSize < line.length + 2) {
    state.err = CLEANUP_STAT.SIZE;
    msg.warn(`${state.queueId ?? 'NOQUEUE'}: queue file size limit exceeded`);
    return;
  }
  state.actSize += line.length + 2;
  out(state, recType, line);
}

/** receiveDataMessage - read the message until the lone dot. */
async function receiveDataMessage(state: SmtpdState): Promise<void> {
  const lineLimit = state.config.int('line_length_limit');
  const limit = messageLimit(state);
  let prevRecType = 0;
  let first = true;
  let gotBareLf = false;
  let prevGotBareLf = false;
  for (;;) {
    // lines already received are taken without a promise round trip each
    const ready = state.client.tryReadUntil(0x0a, lineLimit);
    const raw = ready !== undefined ? ready : await readWithFlush(state, () => state.client.readUntil(0x0a, lineLimit));
    if (raw === null) throw new LostConnection();
    let line: Buffer;
    let recType: number;
    prevGotBareLf = gotBareLf;
    gotBareLf = false;
    if (raw[raw.length - 1] === 0x0a) {
      recType = REC.NORM;
      let end = raw.length - 1;
      if (state.bareLfMask) {
        if (end > 0 && raw[end - 1] === 0x0d) end--;
        else gotBareLf = true;
      } else {
        while (end > 0 && raw[end - 1] === 0x0d) end--;
      }
      line = raw.subarray(0, end);
      if (gotBareLf && state.bareLfMask & BARE_LF.REPLY_REJECT) state.err |= CLEANUP_STAT.BARE_LF;
    } else {
      if (state.client.eof) throw new LostConnection();
      recType = REC.CONT;
      line = raw;
    }
    if (first) {
      const text = line.toString('latin1');
      if (text.replace(/^>+/, '').startsWith('From ')) {
        out(state, recType, Buffer.concat([Buffer.from('X-Mailbox-Line: '), line]));
        prevRecType = recType;
        continue;
      }
      first = false;
      if (line.length > 0 && (line[0] === 0x20 || line[0] === 0x09)) out(state, REC.NORM, '');
    }
    if (prevRecType !== REC.CONT && line.length > 0 && line[0] === 0x2e) {
      // with bare-LF detection only <CR><LF>.<CR><LF> ends the message
      if (line.length === 1 && recType === REC.NORM && state.bareLfMask & BARE_LF.WANT_STD_EOD && (gotBareLf || prevGotBareLf)) {
        prevRecType = recType;
        continue;
      }
      if (line.length === 1 && recType === REC.NORM) break;
      line = line.subarray(1);
    }
    prevRecType = recType;
    storeLine(state, recType, line, limit);
  }
  state.where = WHERE.AFTER_EOM;
}

/** commonPostMessageHandling - finish the queue file and reply (common_post_message_handling). */
async function commonPostMessageHandling(state: SmtpdState): Promise<number> {
  if (state.err === CLEANUP_STAT.OK && !state.standAlone) {
    const err = await smtpdCheckEod(state);
    if (err !== null) {
      await smtpdChatReply(state, err);
      if (state.dest) state.dest.abort();
      state.dest = null;
      return -1;
    }
  }
  let why = '';
  if (state.dest) {
    if (state.err === CLEANUP_STAT.OK) {
      out(state, REC.XTRA, '');
      if (state.savedFilter) out(state, REC.FILT, state.savedFilter);
      if (state.savedRedirect) out(state, REC.RDR, state.savedRedirect);
      for (const bcc of state.savedBcc) {
        out(state, REC.RCPT, bcc);
        out(state, REC.ATTR, 'notify_flags=1');
      }
      if (state.savedFlags) out(state, REC.FLGS, String(state.savedFlags));
      out(state, REC.END, '');
      const result = await state.dest.finish();
      state.err = result.status;
      why = result.why;
    } else {
      state.dest.abort();
    }
    state.dest = null;
  }
  const isSmtpReject = (s: string) => /^[45]\d\d( |-|$)/.test(s);
  if (isSmtpReject(why)) why = why.replace(/[^\x20-\x7e\r\n\u0080-\uffff]/g, ' ');
  else why = why.replace(/[^\x20-\x7e\u0080-\uffff]/g, ' ');
  const e = state.err;
  const detailReply = (bit: number) => {
    const d = cleanupStatDetail(bit);
    return `${d.smtp} ${d.dsn} Error: ${d.text}`;
  };
  if (e === CLEANUP_STAT.OK) {
    state.errorCount = 0;
    state.errorMask = 0;
    state.junkCmds = 0;
    if (processingBdat(state)) await smtpdChatReply(state, `250 2.0.0 Ok: ${state.actSize} bytes queued as ${state.queueId}`);
    else await smtpdChatReply(state, `250 2.0.0 Ok: queued as ${state.queueId}`);
  } else if (e & CLEANUP_STAT.BARE_LF) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    logWhatsup(state, 'reject', 'bare <LF> received');
    await smtpdChatReply(state, `${state.config.int('smtpd_forbid_bare_newline_reject_code')} 5.5.2 ${state.config.str('myhostname')} Error: bare <LF> received`);
  } else if (why && isSmtpReject(why)) {
    state.errorMask |= MAIL_ERROR.POLICY;
    await smtpdChatReply(state, why);
  } else if (e & CLEANUP_STAT.DEFER) {
    state.errorMask |= MAIL_ERROR.POLICY;
    const d = cleanupStatDetail(CLEANUP_STAT.DEFER);
    await smtpdChatReply(state, why ? `${d.smtp} ${why}` : detailReply(CLEANUP_STAT.DEFER));
  } else if (e & CLEANUP_STAT.BAD) {
    state.errorMask |= MAIL_ERROR.SOFTWARE;
    const d = cleanupStatDetail(CLEANUP_STAT.BAD);
    await smtpdChatReply(state, `${d.smtp} ${d.dsn} Error: internal error ${e}`);
  } else if (e & CLEANUP_STAT.SIZE) {
    state.errorMask |= MAIL_ERROR.BOUNCE;
    await smtpdChatReply(state, detailReply(CLEANUP_STAT.SIZE));
  } else if (e & CLEANUP_STAT.HOPS) {
    state.errorMask |= MAIL_ERROR.BOUNCE;
    await smtpdChatReply(state, detailReply(CLEANUP_STAT.HOPS));
  } else if (e & CLEANUP_STAT.CONT) {
    state.errorMask |= MAIL_ERROR.POLICY;
    const d = cleanupStatDetail(CLEANUP_STAT.CONT);
    await smtpdChatReply(state, why ? `${d.smtp} ${why}` : detailReply(CLEANUP_STAT.CONT));
  } else if (e & CLEANUP_STAT.WRITE) {
    state.errorMask |= MAIL_ERROR.RESOURCE;
    await smtpdChatReply(state, detailReply(CLEANUP_STAT.WRITE));
  } else {
    state.errorMask |= MAIL_ERROR.SOFTWARE;
    const d = cleanupStatDetail(CLEANUP_STAT.BAD);
    await smtpdChatReply(state, `${d.smtp} ${d.dsn} Error: internal error ${e}`);
  }
  const saved = state.err;
  mailReset(state);
  rcptReset(state);
  return saved === CLEANUP_STAT.OK ? 0 : -1;
}

/** dataCmd - DATA. */
export async function dataCmd(state: SmtpdState, argv: string[]): Promise<number> {
  if (processingBdat(state)) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    await smtpdChatReply(state, '503 5.5.1 Error: DATA after BDAT');
    return -1;
  }
  if (state.rcptCount === 0) {
    if (!inMailTransaction(state)) {
      state.errorMask |= MAIL_ERROR.PROTOCOL;
      await smtpdChatReply(state, '503 5.5.1 Error: need RCPT command');
    } else {
      await smtpdChatReply(state, '554 5.5.1 Error: no valid recipients');
    }
    return -1;
  }
  if (argv.length !== 1) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    await smtpdChatReply(state, '501 5.5.4 Syntax: DATA');
    return -1;
  }
  if (!state.standAlone) {
    const err = await smtpdCheckData(state);
    if (err !== null) {
      await smtpdChatReply(state, err);
      return -1;
    }
  }
  commonPreMessageHandling(state);
  await smtpdChatReply(state, '354 End data with <CR><LF>.<CR><LF>');
  state.where = WHERE.AFTER_DATA;
  await receiveDataMessage(state);
  return commonPostMessageHandling(state);
}

/** skipBdat - read and discard a chunk, reply, and remember the error (skip_bdat). */
async function skipBdat(state: SmtpdState, size: number, last: boolean, reply: string): Promise<number> {
  let left = size;
  while (left > 0) {
    const chunk = await readWithFlush(state, () => state.client.readSome(Math.min(left, 65536)));
    if (chunk.length === 0) throw new LostConnection();
    left -= chunk.length;
  }
  await smtpdChatReply(state, reply);
  if (last) mailReset(state);
  else state.bdatState = BDAT_STAT.ERROR;
  return -1;
}

/** bdatCmd - BDAT size [LAST] (RFC 3030). */
export async function bdatCmd(state: SmtpdState, argv: string[]): Promise<number> {
  if (state.ehloDiscardMask & EHLO_MASK_CHUNKING) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    await smtpdChatReply(state, '521 5.5.1 Error: command not implemented');
    return -1;
  }
  const last = argv.length === 3;
  if (argv.length < 2 || argv.length > 3 || !/^\d+$/.test(argv[1]) || !Number.isSafeInteger(Number(argv[1])) || (last && argv[2].toUpperCase() !== 'LAST')) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    msg.warn(`${state.queueId ?? 'NOQUEUE'}: malformed BDAT command syntax from ${state.namaddr}: ${argv.join(' ').slice(0, 100)}`);
    await smtpdChatReply(state, '521 5.5.4 Syntax: BDAT count [LAST]');
    return -1;
  }
  const size = Number(argv[1]);
  if (size === 0 && !last) {
    msg.warn(`${state.queueId ?? 'NOQUEUE'}: null BDAT request from ${state.namaddr}`);
    return skipBdat(state, size, last, '551 5.7.1 Null BDAT request');
  }
  if (state.bdatState === BDAT_STAT.ERROR) {
    return skipBdat(state, size, last, `551 5.0.0 Discarded ${size} bytes after earlier error`);
  }
  if (!processingBdat(state)) {
    if (state.rcptCount === 0) {
      if (!inMailTransaction(state)) {
        state.errorMask |= MAIL_ERROR.PROTOCOL;
        return skipBdat(state, size, last, '503 5.5.1 Error: need RCPT command');
      }
      return skipBdat(state, size, last, '554 5.5.1 Error: no valid recipients');
    }
    if (!state.standAlone) {
      const err = await smtpdCheckData(state);
      if (err !== null) return skipBdat(state, size, last, err);
    }
  }
  const limit = messageLimit(state);
  if (limit > 0 && state.actSize > limit - size) {
    state.errorMask |= MAIL_ERROR.POLICY;
    msg.warn(`${state.queueId ?? 'NOQUEUE'}: BDAT request from ${state.namaddr} exceeds message size limit`);
    return skipBdat(state, size, last, '552 5.3.4 Chunk exceeds message size limit');
  }
  if (!processingBdat(state)) {
    commonPreMessageHandling(state);
    state.bdatPending = Buffer.alloc(0);
    state.bdatPrevRecType = 0;
  }
  state.bdatState = BDAT_STAT.OK;
  state.where = WHERE.AFTER_BDAT;
  const lineLimit = state.config.int('line_length_limit');
  let left = size;
  while (left > 0) {
    const chunk = await readWithFlush(state, () => state.client.readSome(Math.min(left, 65536)));
    if (chunk.length === 0) throw new LostConnection();
    left -= chunk.length;
    let buf = state.bdatPending.length ? Buffer.concat([state.bdatPending, chunk]) : chunk;
    for (;;) {
      const nl = buf.indexOf(0x0a);
      if (nl >= 0 && nl <= lineLimit) {
        let end = nl;
        while (end > 0 && buf[end - 1] === 0x0d) end--;
        storeLine(state, REC.NORM, buf.subarray(0, end), limit);
        state.bdatPrevRecType = REC.NORM;
        buf = buf.subarray(nl + 1);
      } else if (buf.length > lineLimit) {
        storeLine(state, REC.CONT, buf.subarray(0, lineLimit), limit);
        state.bdatPrevRecType = REC.CONT;
        buf = buf.subarray(lineLimit);
      } else break;
    }
    state.bdatPending = Buffer.from(buf);
  }
  if (last) {
    if (state.bdatPending.length > 0) {
      storeLine(state, REC.NORM, state.bdatPending, limit);
      state.bdatPending = Buffer.alloc(0);
    }
    state.where = WHERE.AFTER_EOM;
    return commonPostMessageHandling(state);
  }
  if (state.err !== CLEANUP_STAT.OK) {
    await commonPostMessageHandling(state);
    state.bdatState = BDAT_STAT.ERROR;
    return -1;
  }
  await smtpdChatReply(state, `250 2.0.0 Ok: ${size} bytes`);
  return 0;
}

/** EHLO keyword mask bit for CHUNKING (global/ehlo_mask.h). */
const EHLO_MASK_CHUNKING = 1 << 13;

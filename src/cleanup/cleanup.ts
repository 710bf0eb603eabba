/**
 * cleanup - canonicalize and enqueue Postfix messages (Postfix cleanup(8),
 * cleanup/cleanup.c, cleanup_api.c, cleanup_envelope.c, cleanup_extracted.c,
 * cleanup_final.c).
 *
 * Protocol (public/cleanup): the server creates incoming/ID and sends
 * `protocol=cleanup_protocol queue_id=ID`; the client sends `flags=N` and
 * then queue file records up to and including `E`; the server answers
 * `status=N reason=text`. The queue file gets, in order: the size record
 * (zeros, rewritten at the end), T, A create_time, the other envelope
 * records, S, attributes, [A notify_flags] [A dsn_orig_rcpt] O R per
 * recipient, M, content as N/L records, X, extracted records, E. The file
 * is fsynced and marked complete (0700) BEFORE the reply; then qmgr is
 * woken (a failure to wake it is ignored). HOLD moves the file to hold/,
 * DISCARD and errors remove it. cleanup never replies success for a file
 * that is not safely on disk.
 */

import { closeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { msg } from '../util/msg.js';
import { sendAttrs, readAttrs } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import { errnoText, type MailConfig } from '../global/mail_conf.js';
import { REC, REC_TYPE_ENVELOPE, REC_TYPE_EXTRACT, REC_TYPE_EOF } from '../global/rec_type.js';
import { readRecord, sizeRecordPayload, encodeRecord } from '../global/record.js';
import { mailQueueEnter, mailQueueComplete, mailQueueRename, mailQueuePath } from '../global/mail_queue.js';
import { mailTrigger } from '../global/mail_connect.js';
import {
  CLEANUP_FLAG,
  CLEANUP_FLAG_MASK_EXTRA,
  CLEANUP_STAT,
  CLEANUP_STAT_MASK_INCOMPLETE,
  CLEANUP_STAT_MASK_CANT_BOUNCE,
  cleanupStrflags,
} from '../global/cleanup_user.js';
import { singleServerMain, MULTI_CLIENT_SLOTS } from '../master/single_server.js';
import type { ServerContext } from '../master/mail_server.js';
import { cleanupInit, type CleanupGlobals } from './cleanup_init.js';
import {
  CleanupState,
  CLEANUP_FLAG_END_SEEN,
  CLEANUP_FLAG_INRCPT,
  CLEANUP_FLAG_WARN_SEEN,
  QMGR_READ_FLAG_MIXED_RCPT_OTHER,
} from './cleanup_state.js';
import { addrBcc, addrRecipient, addrSender } from './cleanup_addr.js';
import { MessageParser, cleanupAct } from './cleanup_message.js';
import { cleanupBounce } from './cleanup_bounce.js';

export const MAIL_ATTR_PROTO_CLEANUP = 'cleanup_protocol';

/** rec_attr_map - named attributes that stand for pseudo record types. */
const ATTR_MAP: Record<string, number> = {
  dsn_orig_rcpt: REC.DSN_ORCPT,
  notify_flags: REC.DSN_NOTIFY,
  envelope_id: REC.DSN_ENVID,
  ret_flags: REC.DSN_RET,
  create_time: REC.CTIME,
};

/** Record types that start the recipient part (rec_type.h REC_TYPE_ENV_RECIPIENT, REC_TYPE_EXT_RECIPIENT). */
const REC_TYPE_ENV_RECIPIENT = 'MDRO/Kon';
const REC_TYPE_EXT_RECIPIENT = 'EDRO/Kon';

function splitNameval(text: string): { name: string; value: string } | string {
  const eq = text.indexOf('=');
  if (eq < 0) return 'missing \'=\' after attribute name';
  const name = text.slice(0, eq).trim();
  if (!name) return 'missing attribute name';
  return { name, value: text.slice(eq + 1).trim() };
}

interface Ctx {
  state: CleanupState;
  parser: MessageParser | null;
}

/** mapAttr - for A records: [type, payload] with DSN attributes mapped to their pseudo types. */
function mapAttr(state: CleanupState, type: number, text: string): { type: number; buf: string; name?: string; value?: string } | null {
  if (type !== REC.ATTR) return { type, buf: text };
  const nv = splitNameval(text);
  if (typeof nv === 'string') {
    msg.warn(`${state.queueId}: message rejected: malformed attribute: ${nv}: ${text.slice(0, 100)}`);
    state.errs |= CLEANUP_STAT.BAD;
    return null;
  }
  if (nv.value === '') {
    msg.warn(`${state.queueId}: spurious null attribute value for "${nv.name}" -- ignored`);
    return null;
  }
  const mapped = ATTR_MAP[nv.name];
  return { type: mapped ?? type, buf: mapped ? nv.value : text, name: nv.name, value: nv.value };
}

/** envelope - one initial envelope record (cleanup_envelope_process). */
async function envelope(c: Ctx, type: number, data: Buffer): Promise<void> {
  const state = c.state;
  const text = data.toString('utf8');
  if (type === REC.FLGS) {
    const extra = parseInt(text, 10) || 0;
    if (extra & ~CLEANUP_FLAG_MASK_EXTRA) msg.warn(`${state.queueId}: ignoring bad extra flags: 0x${extra.toString(16)}`);
    else state.flags |= extra;
    return;
  }
  if (type === REC.MILT_COUNT) return;
  const m = mapAttr(state, type, text);
  if (m === null) return;
  if (!REC_TYPE_ENVELOPE.includes(String.fromCharCode(type))) {
    msg.warn(`${state.queueId}: message rejected: unexpected record type ${type} in envelope`);
    state.errs |= CLEANUP_STAT.BAD;
    return;
  }
  if ((state.flags & CLEANUP_FLAG_INRCPT) === 0 && REC_TYPE_ENV_RECIPIENT.includes(String.fromCharCode(type))) {
    if (state.sender === null) {
      msg.warn(`${state.queueId}: message rejected: missing sender envelope record`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    if (state.arrivalTime === 0) {
      msg.warn(`${state.queueId}: message rejected: missing time envelope record`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    if ((state.flags & CLEANUP_FLAG_WARN_SEEN) === 0 && state.sender && state.g.delayWarnTime > 0) {
      state.out(REC.WARN, String(state.arrivalTime + state.g.delayWarnTime).padStart(15, ' '));
    }
    state.flags |= CLEANUP_FLAG_INRCPT;
  }
  if (type === REC.RCPT) {
    if (state.sender === null) {
      msg.warn(`${state.queueId}: message rejected: envelope recipient precedes sender`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    if (state.origRcpt === null) state.origRcpt = text;
    await addrRecipient(state, text);
    state.origRcpt = null;
    state.dsnOrcpt = null;
    state.dsnNotify = 0;
    return;
  }
  if (type === REC.DONE || type === REC.DRCP) {
    state.origRcpt = null;
    state.dsnOrcpt = null;
    state.dsnNotify = 0;
    return;
  }
  if (m.type === REC.DSN_ORCPT) {
    if (state.dsnOrcpt !== null) msg.warn(`${state.queueId}: ignoring out-of-order DSN original recipient record <${state.dsnOrcpt.slice(0, 200)}>`);
    state.dsnOrcpt = m.buf;
    return;
  }
  if (m.type === REC.DSN_NOTIFY) {
    if (state.dsnNotify) {
      msg.warn(`${state.queueId}: ignoring out-of-order DSN notify record <${state.dsnNotify}>`);
      state.dsnNotify = 0;
    }
    const n = /^\d+$/.test(m.buf) ? Number(m.buf) : 0;
    if (n === 0 || n & ~15 || (n & 1 && n !== 1)) msg.warn(`${state.queueId}: ignoring malformed DSN notify record <${text.slice(0, 200)}>`);
    else {
      state.dsnNotify = n;
      state.qmgrOpts |= n << 1;
    }
    return;
  }
  if (type === REC.ORCP) {
    if (state.origRcpt !== null) msg.warn(`${state.queueId}: ignoring out-of-order original recipient record <${state.origRcpt.slice(0, 200)}>`);
    state.origRcpt = text;
    return;
  }
  if (type === REC.MESG) {
    state.action = 'message';
    state.flags &= ~CLEANUP_FLAG_INRCPT;
    state.out(REC.MESG, '');
    state.dataOffset = state.tell();
    c.parser = new MessageParser(state);
    return;
  }
  if (state.flags & CLEANUP_FLAG_INRCPT) state.qmgrOpts |= QMGR_READ_FLAG_MIXED_RCPT_OTHER;
  if (type === REC.SIZE) {
    // Use our own size record (Postfix keeps only the SMTPUTF8_REQUESTED bit, and its parser never finds it).
    state.smtputf8 &= 1;
    return;
  }
  if (m.type === REC.CTIME) return;
  if (type === REC.TIME) {
    if (state.arrivalTime === 0) {
      const sec = parseInt(text, 10);
      if (!(sec > 0)) {
        msg.warn(`${state.queueId}: message rejected: bad time record: ${text.slice(0, 100)}`);
        state.errs |= CLEANUP_STAT.BAD;
        return;
      }
      state.arrivalTime = sec;
      state.out(type, data);
    }
    state.out(REC.ATTR, `create_time=${Math.floor(Date.now() / 1000)}`);
    return;
  }
  if (type === REC.FULL) {
    if (state.fullname === null) {
      state.fullname = text;
      state.out(type, data);
    }
    return;
  }
  if (type === REC.FROM) {
    if (state.sender !== null) {
      msg.warn(`${state.queueId}: message rejected: multiple envelope sender records`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    await addrSender(state, text);
    return;
  }
  if (m.type === REC.DSN_ENVID) {
    if (!/^[\x20-\x7e]*$/.test(m.buf)) {
      msg.warn(`${state.queueId}: message rejected: bad DSN envelope ID record`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    state.dsnEnvid = m.buf;
    state.out(type, data);
    return;
  }
  if (m.type === REC.DSN_RET) {
    const n = /^\d+$/.test(m.buf) ? Number(m.buf) : 0;
    if (n !== 1 && n !== 2) {
      msg.warn(`${state.queueId}: message rejected: bad DSN RET record <${text.slice(0, 200)}>`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    state.dsnRet = n;
    state.out(type, data);
    return;
  }
  if (type === REC.WARN) {
    if ((state.flags & CLEANUP_FLAG_WARN_SEEN) === 0) {
      state.flags |= CLEANUP_FLAG_WARN_SEEN;
      state.out(type, data);
    }
    return;
  }
  if (type === REC.VERP) {
    // First instance wins.
    if (state.verpDelims === null) {
      if (!state.sender) msg.warn(`${state.queueId}: ignoring VERP request for null sender`);
      else if (text.length !== 2 || ![...text].every((ch) => state.g.verpFilter.includes(ch))) {
        msg.warn(`${state.queueId}: ignoring bad VERP request: "${text.slice(0, 100)}"`);
      } else {
        state.verpDelims = text;
        state.out(type, data);
      }
    }
    return;
  }
  if (type === REC.ATTR && m.name !== undefined && m.value !== undefined) {
    if (state.attr.size >= state.g.qattrCountLimit) {
      msg.warn(`${state.queueId}: message rejected: attribute count exceeds limit ${state.g.qattrCountLimit}`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    if (m.name === 'rewrite_context') {
      if (m.value === 'local') state.hdrRewriteContext = 'local';
      else if (m.value === 'remote') state.hdrRewriteContext = state.g.remoteRwrDomain ? 'remote' : null;
      else {
        msg.warn(`${state.queueId}: message rejected: bad rewriting context: ${m.value.slice(0, 100)}`);
        state.errs |= CLEANUP_STAT.BAD;
        return;
      }
    }
    if (m.name === 'trace_flags') {
      if (!/^\d+$/.test(m.value)) {
        msg.warn(`${state.queueId}: message rejected: bad TFLAG record <${text.slice(0, 200)}>`);
        state.errs |= CLEANUP_STAT.BAD;
        return;
      }
      if (state.tflags === 0) state.tflags = Number(m.value);
    }
    state.attr.set(m.name, m.value);
    state.out(type, data);
    return;
  }
  state.out(type, data);
}

/** extracted - one record after X (cleanup_extracted_process). */
async function extracted(c: Ctx, type: number, data: Buffer): Promise<void> {
  const state = c.state;
  const text = data.toString('utf8');
  if (type === REC.FLGS) {
    const extra = parseInt(text, 10) || 0;
    if (extra & ~CLEANUP_FLAG_MASK_EXTRA) msg.warn(`${state.queueId}: ignoring bad extra flags: 0x${extra.toString(16)}`);
    else state.flags |= extra;
    return;
  }
  if (!REC_TYPE_EXTRACT.includes(String.fromCharCode(type))) {
    msg.warn(`${state.queueId}: message rejected: unexpected record type ${type} in extracted envelope`);
    state.errs |= CLEANUP_STAT.BAD;
    return;
  }
  const m = mapAttr(state, type, text);
  if (m === null) return;
  if ((state.flags & CLEANUP_FLAG_INRCPT) === 0 && REC_TYPE_EXT_RECIPIENT.includes(String.fromCharCode(m.type))) {
    if (state.filter !== null) state.out(REC.FILT, state.filter);
    if (state.redirect !== null) state.out(REC.RDR, state.redirect);
    const enc = state.attr.get('encoding');
    if (enc !== undefined) state.out(REC.ATTR, `encoding=${enc}`);
    state.flags |= CLEANUP_FLAG_INRCPT;
  }
  if (type === REC.RCPT) {
    if (state.sender === null) {
      msg.warn(`${state.queueId}: message rejected: envelope recipient precedes sender`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    if (state.origRcpt === null) state.origRcpt = text;
    await addrRecipient(state, text);
    state.origRcpt = null;
    state.dsnOrcpt = null;
    state.dsnNotify = 0;
    return;
  }
  if (type === REC.DONE || type === REC.DRCP) {
    state.origRcpt = null;
    state.dsnOrcpt = null;
    state.dsnNotify = 0;
    return;
  }
  if (m.type === REC.DSN_ORCPT) {
    state.dsnOrcpt = m.buf;
    return;
  }
  if (m.type === REC.DSN_NOTIFY) {
    const n = /^\d+$/.test(m.buf) ? Number(m.buf) : 0;
    if (n === 0 || n & ~15) msg.warn(`${state.queueId}: ignoring malformed dsn notify record <${text.slice(0, 200)}>`);
    else {
      state.dsnNotify = n;
      state.qmgrOpts |= n << 1;
    }
    return;
  }
  if (type === REC.ORCP) {
    state.origRcpt = text;
    return;
  }
  if (type === REC.END) {
    state.flags &= ~CLEANUP_FLAG_INRCPT;
    state.flags |= CLEANUP_FLAG_END_SEEN;
    // cleanup_extracted_finish: always_bcc, then header/body check BCC actions.
    if (state.flags & CLEANUP_FLAG.BCC_OK && state.recip !== null && state.g.alwaysBcc) await addrBcc(state, state.g.alwaysBcc);
    if (state.hbcRcpt.length > 0 && state.outOk() && state.recip !== null) {
      for (const bcc of state.hbcRcpt) await addrBcc(state, bcc);
    }
    state.hbcRcpt = [];
    state.out(REC.END, '');
    return;
  }
  if (state.flags & CLEANUP_FLAG_INRCPT) state.qmgrOpts |= QMGR_READ_FLAG_MIXED_RCPT_OTHER;
  state.out(type, data);
}

/** message - a content record (cleanup_message_headerbody). */
async function message(c: Ctx, type: number, data: Buffer): Promise<void> {
  const state = c.state;
  const parser = c.parser!;
  if (type === REC.NORM || type === REC.CONT) {
    const g = state.g;
    if (state.flags & CLEANUP_FLAG.FILTER && g.rejectChars) {
      for (const b of data) {
        if (g.rejectChars.has(b)) {
          cleanupAct(state, 'content', data.toString('latin1'), 'REJECT disallowed character', 'character reject');
          return;
        }
      }
    }
    if (state.flags & CLEANUP_FLAG.FILTER && g.stripChars) {
      const strip = g.stripChars;
      data = Buffer.from(data.filter((b) => !strip.has(b)));
    }
    await parser.update(type, data);
    return;
  }
  if (type === REC.XTRA) {
    await parser.finish();
    state.xtraOffset = state.tell();
    state.out(REC.XTRA, '');
    state.contLength = state.xtraOffset - state.dataOffset;
    state.action = 'extracted';
    return;
  }
  msg.warn(`cleanup_message_headerbody: message rejected: unexpected record type ${type} in message content`);
  state.errs |= CLEANUP_STAT.BAD;
}

/** record - dispatch one record to the current action. */
async function cleanupRecord(c: Ctx, type: number, data: Buffer): Promise<void> {
  const state = c.state;
  // The very first output record is the size record, zeros for now.
  if (state.tell() === 0 && state.outOk()) state.out(REC.SIZE, sizeRecordPayload([0, 0, 0, 0, 0, 0]));
  switch (state.action) {
    case 'envelope':
      return envelope(c, type, data);
    case 'message':
      return message(c, type, data);
    case 'extracted':
      return extracted(c, type, data);
  }
}

/** cleanupFlush - finish the message: write the size record, fsync, mark complete, or remove (cleanup_flush). */
export async function cleanupFlush(state: CleanupState): Promise<number> {
  const g = state.g;
  if (state.outOk()) {
    if (state.recip === null) state.errs |= CLEANUP_STAT.RCPT;
    if ((state.flags & CLEANUP_FLAG_END_SEEN) === 0) state.errs |= CLEANUP_STAT.BAD;
  }
  if (state.flags & CLEANUP_FLAG.DISCARD) state.errs = 0;
  if (state.outOk()) {
    // cleanup_final: rewrite the size record with the real numbers.
    await state.flush();
    if (state.outOk()) {
      const size = encodeRecord(
        REC.SIZE,
        sizeRecordPayload([state.xtraOffset - state.dataOffset, state.dataOffset, state.rcptCount, state.qmgrOpts, state.contLength, state.smtputf8]),
      );
      try {
        await state.writeAt(0, size);
      } catch (e) {
        msg.warn(`${state.queueId}: write queue file: ${(e as Error).message}`);
        state.errs |= CLEANUP_STAT.WRITE;
      }
    }
  }
  const canBounce =
    (state.errs & CLEANUP_STAT_MASK_CANT_BOUNCE) === 0 && state.sender !== null && (state.flags & CLEANUP_FLAG.BOUNCE) !== 0;
  if (state.errs !== 0 && canBounce) await cleanupBounce(state);
  let ok = state.errs === 0 && (state.flags & CLEANUP_FLAG.DISCARD) === 0;
  if (ok) {
    try {
      await mailQueueComplete(state.fd);
      const fd = state.fd;
      state.fd = -1;
      closeSync(fd); // an error here (NFS) is reported, as Postfix's vstream_fclose()
      if (state.flags & CLEANUP_FLAG.HOLD) {
        await mailQueueRename(g.config, state.queueId, 'incoming', 'hold');
        state.queueName = 'hold';
      }
    } catch (e) {
      msg.warn(`${state.queueId}: ${(e as Error).message}`);
      state.errs |= CLEANUP_STAT.WRITE;
      state.closeFile();
      ok = false;
    }
  } else {
    state.closeFile();
  }
  if (!ok) {
    await rm(mailQueuePath(g.config, 'trace', state.queueId), { force: true }).catch(() => undefined);
    await rm(state.path, { force: true }).catch((e: Error) => msg.warn(`remove ${state.path}: ${e.message}`));
  }
  return state.errs;
}

/** cleanupService - serve one client: one message (cleanup_service). */
export async function cleanupService(stream: VStream, g: CleanupGlobals): Promise<void> {
  let entered: ReturnType<typeof mailQueueEnter>;
  try {
    entered = mailQueueEnter(g.config, 'incoming');
  } catch (e) {
    // Postfix dies here (msg_fatal); the client sees the connection close and defers.
    msg.warn(`mail_queue_enter: create file incoming: ${errnoText(e as NodeJS.ErrnoException)}`);
    stream.close();
    return;
  }
  const state = new CleanupState(g, entered.id, entered.path, entered.fd, entered.time.sec);
  const c: Ctx = { state, parser: null };
  let finished = false;
  try {
    sendAttrs(stream, [
      ['protocol', MAIL_ATTR_PROTO_CLEANUP],
      ['queue_id', state.queueId],
    ]);
    let flags = 0;
    try {
      const req = await readAttrs(stream);
      if (req === null || !req.has('flags') || req.pairs.length !== 1 || !/^\d+$/.test(req.str('flags'))) {
        state.errs |= CLEANUP_STAT.BAD;
      } else flags = req.int('flags');
    } catch {
      state.errs |= CLEANUP_STAT.BAD;
    }
    state.flags = flags;
    state.errMask = flags & CLEANUP_FLAG.BOUNCE ? CLEANUP_STAT_MASK_INCOMPLETE : ~0;
    if (flags & CLEANUP_FLAG.SMTPUTF8) state.smtputf8 = 1;
    msg.debug(1, `cleanup flags = ${cleanupStrflags(flags)}`);
    let type = 0;
    let clientGone = false;
    while (state.outOk()) {
      let rec;
      try {
        rec = await readRecord(stream, Math.max(g.lineLimit, 1024 * 1024));
      } catch (e) {
        if (/timeout/i.test((e as Error).message)) msg.warn(`${state.queueId}: read timeout on ${'cleanup socket'}`);
        state.errs |= CLEANUP_STAT.BAD;
        clientGone = true;
        break;
      }
      type = rec.type;
      if (type === REC_TYPE_EOF) {
        state.errs |= CLEANUP_STAT.BAD;
        clientGone = true;
        break;
      }
      try {
        await cleanupRecord(c, type, rec.data);
      } catch (e) {
        // A resource problem (trivial-rewrite or a table unreachable): try again later.
        msg.warn(`${state.queueId}: ${(e as Error).message} -- message not accepted, try again later`);
        state.errs |= CLEANUP_STAT.WRITE;
      }
      await state.flushIfNeeded();
      if (type === REC.END) break;
    }
    // Keep reading after a problem, until the client is ready for our status.
    if (!state.outOk() && !clientGone && type !== REC.END) {
      for (;;) {
        let rec;
        try {
          rec = await readRecord(stream, Math.max(g.lineLimit, 1024 * 1024));
        } catch {
          clientGone = true;
          break;
        }
        if (rec.type === REC_TYPE_EOF) {
          clientGone = true;
          break;
        }
        if (rec.type === REC.END) break;
      }
    }
    const status = await cleanupFlush(state);
    finished = true;
    if (!clientGone) {
      const reason = state.flags & CLEANUP_FLAG.SMTP_REPLY && state.smtpReply ? state.smtpReply : (state.reason ?? '');
      sendAttrs(stream, [
        ['status', status],
        ['reason', reason],
      ]);
      await stream.flush();
    }
    if (status === 0 && (state.flags & CLEANUP_FLAG.DISCARD) === 0 && state.queueName === 'incoming' && g.triggerQmgr) {
      await wakeQmgr(() => mailTrigger(g.config, 'public', g.config.str('queue_service_name') || 'qmgr', 'W').catch(() => undefined));
    }
  } finally {
    if (!finished) {
      state.closeFile();
      await rm(mailQueuePath(g.config, 'incoming', state.queueId), { force: true }).catch(() => undefined);
    }
  }
}

/* The qmgr wake-up of this process: the one being sent, and the one queued behind it. */
let wakeInFlight: Promise<void> | undefined;
let wakeQueued: Promise<void> | undefined;

/**
 * wakeQmgr - make sure qmgr is told about a file that is now complete in
 * incoming/: resolves once a wake-up that was started AFTER the call has
 * been sent. One process sends one wake-up at a time; files completed while
 * it is on its way share the single wake-up queued behind it, so every file
 * is still followed by a wake-up (qmgr scans incoming/ after reading it),
 * but 20 clients finishing at once cost two connections to qmgr, not 20.
 * (Postfix's cleanup sends one per message; a connection to a trigger
 * service costs far more here: master hands it over, qmgr wraps it.)
 */
export function wakeQmgr(send: () => Promise<void>): Promise<void> {
  if (!wakeInFlight) {
    const p = send()
      .catch(() => undefined)
      .finally(() => {
        if (wakeInFlight === p) wakeInFlight = undefined;
      });
    wakeInFlight = p;
    return p;
  }
  if (!wakeQueued) {
    const q = wakeInFlight.then(() => {
      wakeQueued = undefined;
      return wakeQmgr(send);
    });
    wakeQueued = q;
  }
  return wakeQueued;
}

let globals: CleanupGlobals | undefined;

async function init(config: MailConfig): Promise<CleanupGlobals> {
  if (!globals) globals = await cleanupInit(config);
  return globals;
}

export function main(argv: string[]): Promise<void> {
  return singleServerMain(argv, {
    // Per-message state is private to each call, so one process serves many clients at once.
    concurrency: MULTI_CLIENT_SLOTS,
    async postInit(ctx: ServerContext) {
      await init(ctx.config);
    },
    async service(stream: VStream, ctx: ServerContext) {
      if (ctx.args.length > 0) msg.fatal(`unexpected command-line argument: ${ctx.args[0]}`);
      await cleanupService(stream, await init(ctx.config));
    },
  });
}

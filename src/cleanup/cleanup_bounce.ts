/**
 * cleanup_bounce - return a rejected message to its sender instead of
 * failing the submission (Postfix cleanup/cleanup_bounce.c).
 *
 * Used when the client asked for it (CLEANUP_FLAG_BOUNCE: pickup, i.e. local
 * submission, which has nobody to report an error to). Every recipient of
 * the queue file gets a bounce log entry ("failed", the rejection reason),
 * the bounce service is asked to send the non-delivery notice from the
 * still-present queue file, and the file is then dropped. Only a failure to
 * do all that is reported back (CLEANUP_STAT_WRITE).
 */

import { readFile } from 'node:fs/promises';
import { msg } from '../util/msg.js';
import { REC } from '../global/rec_type.js';
import { readRecords, type PositionedRecord } from '../global/record.js';
import { CLEANUP_FLAG, CLEANUP_STAT, cleanupStatDetail } from '../global/cleanup_user.js';
import { bounceLogAppend } from '../global/bounce_log.js';
import { bounceRequest, BOUNCE_CMD, BOUNCE_FLAG } from '../global/bounce_clnt.js';
import { logAdhocText } from '../global/log_adhoc.js';
import type { CleanupState } from './cleanup_state.js';

const ATTR_MAP: Record<string, number> = {
  dsn_orig_rcpt: REC.DSN_ORCPT,
  notify_flags: REC.DSN_NOTIFY,
};

/** dsnSplit - "4.7.1 text" into status and text; the default status when there is none. */
function dsnSplit(def: string, text: string): { status: string; text: string } {
  const m = /^([245]\.\d{1,3}\.\d{1,3})\s+(.*)$/s.exec(text);
  return m ? { status: m[1], text: m[2] } : { status: def, text };
}

/** cleanupBounce - bounce every recipient; returns the remaining error bits. */
export async function cleanupBounce(state: CleanupState): Promise<number> {
  const g = state.g;
  let status: string;
  let text: string;
  if (state.reason) ({ status, text } = dsnSplit('5.0.0', state.reason));
  else {
    const d = cleanupStatDetail(state.errs);
    status = d.dsn;
    text = d.text;
  }
  const now = Date.now();
  const stats = { arrival: state.arrivalTime * 1000, activeArrival: now, agentHandoff: now, deliverDone: now };
  const append = async (rcpt: string, orig: string, offset: number, orcpt: string, notify: number) => {
    try {
      await bounceLogAppend(g.config, 'bounce', state.queueId, {
        recipient: rcpt,
        original_recipient: orig,
        offset,
        dsn_orig_rcpt: orcpt,
        notify_flags: notify,
        status,
        action: 'failed',
        diag_type: '',
        diag_text: '',
        mta_type: '',
        mta_mname: '',
        reason: text,
      });
      msg.info(
        logAdhocText(
          { queueId: state.queueId, recipient: rcpt, origRecipient: orig, relay: 'none', dsn: status, status: 'bounced', text },
          stats,
        ),
      );
    } catch (e) {
      msg.warn(`${state.queueId}: bounce log: ${(e as Error).message}`);
      state.errs |= CLEANUP_STAT.WRITE;
    }
  };
  await state.flush();
  let sawRcpt = false;
  if ((state.errs & CLEANUP_STAT.WRITE) === 0) {
    let orcpt = '';
    let notify = 0;
    let orig: string | null = null;
    let recs: PositionedRecord[];
    try {
      recs = readRecords(await readFile(state.path));
    } catch (e) {
      msg.warn(`${state.queueId}: read ${state.path}: ${(e as Error).message}`);
      recs = [];
    }
    for (const r of recs) {
      if (r.type === REC.END) break;
      let type = r.type;
      let start = r.data.toString('utf8');
      if (type === REC.ATTR) {
        const eq = start.indexOf('=');
        if (eq <= 0 || eq === start.length - 1) continue;
        const mapped = ATTR_MAP[start.slice(0, eq)];
        if (mapped) {
          type = mapped;
          start = start.slice(eq + 1);
        }
      }
      if (type === REC.DSN_ORCPT) orcpt = start;
      else if (type === REC.DSN_NOTIFY) notify = /^\d+$/.test(start) ? Number(start) : 0;
      else if (type === REC.ORCP) orig = start;
      else if (type === REC.RCPT || type === REC.DRCP || type === REC.DONE) {
        if (type === REC.RCPT) {
          sawRcpt = true;
          await append(start, orig ?? start, r.offset, orcpt, notify);
        }
        orig = null;
        orcpt = '';
        notify = 0;
      }
      if (state.errs & CLEANUP_STAT.WRITE) break;
    }
  }
  if ((state.errs & CLEANUP_STAT.WRITE) === 0 && !sawRcpt) await append('unknown', '', 0, '', 0);
  if ((state.errs & CLEANUP_STAT.WRITE) === 0) {
    let err = 0;
    try {
      err = await bounceRequest(g.config, 'bounce', {
        command: BOUNCE_CMD.FLUSH,
        flags: BOUNCE_FLAG.CLEAN,
        queueName: state.queueName,
        queueId: state.queueId,
        encoding: state.attr.get('encoding') ?? '',
        sendopts: state.smtputf8,
        sender: state.sender ?? '',
        envid: state.dsnEnvid ?? '',
        ret: state.errs & (CLEANUP_STAT.CONT | CLEANUP_STAT.SIZE) ? 2 : state.dsnRet,
      });
    } catch (e) {
      msg.warn(`${state.queueId}: ${(e as Error).message}`);
      err = -1;
    }
    if (err !== 0) {
      msg.warn(`${state.queueId}: bounce message failure`);
      state.errs |= CLEANUP_STAT.WRITE;
    }
  }
  state.errs &= CLEANUP_STAT.WRITE;
  if (state.errs === 0) state.flags |= CLEANUP_FLAG.DISCARD;
  return state.errs;
}

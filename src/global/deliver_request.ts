/**
 * deliver_request - the queue manager to delivery agent protocol (Postfix
 * global/deliver_request.c, qmgr/qmgr_deliver.c, deliver_pass.c).
 *
 * The agent speaks first (`protocol=delivery_request_protocol`); qmgr sends
 * one attribute list with the message attributes in Postfix's order, then
 * one attribute list per recipient; the agent delivers, reports each
 * recipient through sent()/defer()/bounce() (delivery status logging and the
 * per-message logfiles) and answers with one final attribute list: the
 * hop status and `status` (0 = every recipient finished, else some were
 * deferred). Postfix nests the recipient lists inside one stream with
 * ATTR_FLAG_MORE; we send them as consecutive lists, which carries the same
 * information with the same attribute names.
 */

import { AttrList, readAttrs, sendAttrs, attrSendProtocol, attrExpectProtocol, AttrError, type AttrPairs } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';

export const DELIVER_PROTOCOL = 'delivery_request_protocol';

/** DEL_REQ_FLAG_* (global/deliver_request.h) */
export const DEL_REQ_FLAG = {
  SUCCESS: 1 << 0,
  BOUNCE: 1 << 1,
  /** a delay warning was sent: report the delivery (confirm_delay_cleared) */
  REC_DLY_SENT: 1 << 2,
  MTA_VRFY: 1 << 8,
  USR_VRFY: 1 << 9,
  RECORD: 1 << 10,
  CONN_LOAD: 1 << 11,
  CONN_STORE: 1 << 12,
} as const;
export const DEL_REQ_FLAG_DEFLT = DEL_REQ_FLAG.SUCCESS | DEL_REQ_FLAG.BOUNCE;

/** DEL_STAT: the agent's final status */
export const DELIVER_STAT_OK = 0;
export const DELIVER_STAT_DEFER = 1;
export const DELIVER_STAT_CRASH = -1;

/** Delivery timing, carried as "time" (Postfix sends a raw MSG_STATS struct; ours is text). */
export interface MsgStats {
  /** message arrival time, epoch milliseconds */
  arrival: number;
  /** when qmgr took the message into the active queue (epoch ms) */
  activeArrival: number;
  /** when qmgr handed this request to the agent (epoch ms) */
  agentHandoff: number;
}

export interface DeliverRecipient {
  /** DSN ORCPT-style original recipient (may be "") */
  orig_addr: string;
  address: string;
  /** file offset of the R record in the queue file */
  offset: number;
  dsn_orcpt: string;
  dsn_notify: number;
}

export interface DeliverRequest {
  flags: number;
  queue_name: string;
  queue_id: string;
  /** offset of the first content record */
  data_offset: number;
  /** content size in bytes */
  data_size: number;
  nexthop: string;
  encoding: string;
  sendopts: number;
  sender: string;
  dsn_envid: string;
  dsn_ret: number;
  stats: MsgStats;
  client_name: string;
  client_addr: string;
  client_port: string;
  client_proto: string;
  client_helo: string;
  sasl_method: string;
  sasl_username: string;
  sasl_sender: string;
  log_ident: string;
  rewrite_context: string;
  rcpt: DeliverRecipient[];
}

/** Hop status of the final reply (global/dsn.h fields). */
export interface HopStatus {
  status: string;
  diag_type: string;
  diag_text: string;
  mta_type: string;
  mta_mname: string;
  action: string;
  reason: string;
}

export interface DeliverReply {
  hop: HopStatus;
  status: number;
}

/** Upper bound on recipients per request that an agent accepts (defensive; qmgr sends far fewer). */
const MAX_REQUEST_RECIPIENTS = 100000;

function encodeStats(s: MsgStats): string {
  return `${s.arrival} ${s.activeArrival} ${s.agentHandoff}`;
}

function decodeStats(text: string): MsgStats {
  const parts = text.split(' ').map(Number);
  if (parts.length !== 3 || parts.some((n) => !Number.isFinite(n))) throw new AttrError(`bad time attribute: ${text}`);
  return { arrival: parts[0], activeArrival: parts[1], agentHandoff: parts[2] };
}

/** sendDeliverRequest - qmgr side: wait for the announcement, then send the request. */
export async function sendDeliverRequest(stream: VStream, req: DeliverRequest): Promise<void> {
  await attrExpectProtocol(stream, DELIVER_PROTOCOL);
  sendAttrs(stream, [
    ['flags', req.flags],
    ['queue_name', req.queue_name],
    ['queue_id', req.queue_id],
    ['offset', req.data_offset],
    ['size', req.data_size],
    ['nexthop', req.nexthop],
    ['encoding', req.encoding],
    ['sendopts', req.sendopts],
    ['sender', req.sender],
    ['envelope_id', req.dsn_envid],
    ['ret_flags', req.dsn_ret],
    ['time', encodeStats(req.stats)],
    ['log_client_name', req.client_name],
    ['log_client_address', req.client_addr],
    ['log_client_port', req.client_port],
    ['log_protocol_name', req.client_proto],
    ['log_helo_name', req.client_helo],
    ['sasl_method', req.sasl_method],
    ['sasl_username', req.sasl_username],
    ['sasl_sender', req.sasl_sender],
    ['log_ident', req.log_ident],
    ['rewrite_context', req.rewrite_context],
    ['recipient_count', req.rcpt.length],
  ]);
  for (const r of req.rcpt) sendAttrs(stream, rcptAttrs(r));
  await stream.flush();
}

/** rcptAttrs - one recipient as attributes, in Postfix's rcpt_print order (also the bounce ONE request's). */
export function rcptAttrs(r: DeliverRecipient): AttrPairs {
  return [
    ['original_recipient', r.orig_addr],
    ['recipient', r.address],
    ['offset', r.offset],
    ['dsn_orig_rcpt', r.dsn_orcpt],
    ['notify_flags', r.dsn_notify],
  ];
}

/** readDeliverReply - qmgr side: the agent's final answer; CRASH when the agent died. */
export async function readDeliverReply(stream: VStream): Promise<DeliverReply> {
  let list: AttrList | null;
  try {
    list = await readAttrs(stream);
  } catch {
    list = null;
  }
  if (list === null || !list.has('status')) {
    return { hop: emptyHop(), status: DELIVER_STAT_CRASH };
  }
  return {
    hop: {
      status: list.get('dsn_status') ?? '',
      diag_type: list.get('diag_type') ?? '',
      diag_text: list.get('diag_text') ?? '',
      mta_type: list.get('mta_type') ?? '',
      mta_mname: list.get('mta_mname') ?? '',
      action: list.get('action') ?? '',
      reason: list.get('reason') ?? '',
    },
    status: list.int('status'),
  };
}

export function emptyHop(): HopStatus {
  return { status: '', diag_type: '', diag_text: '', mta_type: '', mta_mname: '', action: '', reason: '' };
}

/** readDeliverRequest - agent side: announce the protocol and read one request; null if qmgr went away. */
export async function readDeliverRequest(stream: VStream): Promise<DeliverRequest | null> {
  attrSendProtocol(stream, DELIVER_PROTOCOL);
  const a = await readAttrs(stream);
  if (a === null) return null;
  const count = a.int('recipient_count');
  if (count < 0 || count > MAX_REQUEST_RECIPIENTS) throw new AttrError(`bad recipient count: ${count}`);
  const rcpt: DeliverRecipient[] = [];
  for (let i = 0; i < count; i++) {
    const r = await readAttrs(stream);
    if (r === null) throw new AttrError('premature end of input in recipient list');
    rcpt.push({
      orig_addr: r.get('original_recipient') ?? '',
      address: r.str('recipient'),
      offset: r.int('offset'),
      dsn_orcpt: r.get('dsn_orig_rcpt') ?? '',
      dsn_notify: r.intOr('notify_flags', 0),
    });
  }
  return {
    flags: a.int('flags'),
    queue_name: a.str('queue_name'),
    queue_id: a.str('queue_id'),
    data_offset: a.int('offset'),
    data_size: a.int('size'),
    nexthop: a.get('nexthop') ?? '',
    encoding: a.get('encoding') ?? '',
    sendopts: a.intOr('sendopts', 0),
    sender: a.get('sender') ?? '',
    dsn_envid: a.get('envelope_id') ?? '',
    dsn_ret: a.intOr('ret_flags', 0),
    stats: decodeStats(a.str('time')),
    client_name: a.get('log_client_name') ?? '',
    client_addr: a.get('log_client_address') ?? '',
    client_port: a.get('log_client_port') ?? '',
    client_proto: a.get('log_protocol_name') ?? '',
    client_helo: a.get('log_helo_name') ?? '',
    sasl_method: a.get('sasl_method') ?? '',
    sasl_username: a.get('sasl_username') ?? '',
    sasl_sender: a.get('sasl_sender') ?? '',
    log_ident: a.get('log_ident') ?? '',
    rewrite_context: a.get('rewrite_context') ?? '',
    rcpt,
  };
}

/** sendDeliverReply - agent side: the final answer. */
export async function sendDeliverReply(stream: VStream, reply: DeliverReply): Promise<void> {
  const h = reply.hop;
  sendAttrs(stream, [
    ['dsn_status', h.status],
    ['diag_type', h.diag_type],
    ['diag_text', h.diag_text],
    ['mta_type', h.mta_type],
    ['mta_mname', h.mta_mname],
    ['action', h.action],
    ['reason', h.reason],
    ['status', reply.status],
  ]);
  await stream.flush();
}

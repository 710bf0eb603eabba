/**
 * smtpd_cmds - the SMTP command table and the per-command handlers other
 * than message transfer (Postfix smtpd.c helo_cmd() ... quit_cmd(),
 * xclient_cmd(), xforward_cmd(), mail_open_stream(), global/ehlo_mask.c).
 *
 * A handler returns 0 on success and -1 on failure (which counts as an
 * error); every reply text is Postfix's, byte for byte.
 */

import { msg } from '../util/msg.js';
import { REC } from '../global/rec_type.js';
import {
  extractAddr, neuter, dsnNotifyMask, dsnRetCode, xtextUnquote, uxtextUnquote, allPrint, validHostname,
  validMailhostLiteral, validHostaddr,
} from './smtpd_addr.js';
import { smtpdChatReply, printable, flushReplies, LostConnection } from './smtpd_chat.js';
import { startTls, tlsContext, tlsLevel } from './smtpd_tls.js';
import {
  smtpdCheckHelo, smtpdCheckMail, smtpdCheckRcpt, smtpdCheckSize, smtpdCheckEtrn, smtpdCheckRewrite, smtpdCheckAddr,
} from './smtpd_check.js';
import { dataCmd, bdatCmd } from './smtpd_data.js';
import { TOK_ERROR, type SmtpdToken } from './smtpd_token.js';
import { flushSite } from './smtpd_glue.js';
import { anvilRateCheck } from './smtpd_anvil.js';
import { NamadrList } from './smtpd_resolve.js';
import { verpDelimsVerify } from '../global/verp_sender.js';
import type { MailConfig } from '../global/mail_conf.js';
import { saslAttrs, saslAuthCmd, saslAuthExtern, saslAuthReset, saslEhloWords, saslLogSuffix, saslMailOpt } from './smtpd_sasl.js';
import {
  CLEANUP_FLAG, FLAG, MAIL_ERROR, heloReset, inMailTransaction, mailReset, processingBdat, rcptReset,
  setNamaddr, type SmtpdState,
} from './smtpd_state.js';

export const EHLO_MASK = {
  '8BITMIME': 1 << 0,
  PIPELINING: 1 << 1,
  SIZE: 1 << 2,
  VRFY: 1 << 3,
  ETRN: 1 << 4,
  AUTH: 1 << 5,
  VERP: 1 << 6,
  STARTTLS: 1 << 7,
  XCLIENT: 1 << 8,
  XFORWARD: 1 << 9,
  ENHANCEDSTATUSCODES: 1 << 10,
  DSN: 1 << 11,
  SMTPUTF8: 1 << 12,
  CHUNKING: 1 << 13,
  SILENT: 1 << 15,
} as const;

/** ehloMask - smtpd_discard_ehlo_keywords text to mask bits (unknown words are ignored). */
export function ehloMask(text: string): number {
  let mask = 0;
  for (const word of text.split(/[\s,]+/)) {
    if (!word) continue;
    const w = word.toUpperCase();
    const bit = w === 'SILENT-DISCARD' ? EHLO_MASK.SILENT : (EHLO_MASK as Record<string, number>)[w];
    if (bit) mask |= bit;
  }
  return mask;
}

/** strEhloMask - mask bits to names in Postfix's ehlo_mask_table order (str_ehlo_mask), quirks included. */
function strEhloMask(mask: number): string {
  const table: Array<[string, number]> = [
    ['8BITMIME', EHLO_MASK['8BITMIME']],
    ['AUTH', EHLO_MASK.AUTH],
    ['ETRN', EHLO_MASK.ETRN],
    ['PIPELINING', EHLO_MASK.PIPELINING],
    ['SIZE', EHLO_MASK.SIZE],
    ['VERP', EHLO_MASK.VERP],
    ['VRFY', EHLO_MASK.VRFY],
    ['XCLIENT', EHLO_MASK.XCLIENT],
    ['XFORWARD', EHLO_MASK.XFORWARD],
    ['STARTTLS', EHLO_MASK.STARTTLS],
    ['ENHANCEDSTATUSCODES', EHLO_MASK.ENHANCEDSTATUSCODES],
    ['DSN', EHLO_MASK.DSN],
    ['EHLO_MASK_SMTPUTF8', EHLO_MASK.SMTPUTF8],
    ['SMTPUTF8', EHLO_MASK.SMTPUTF8],
    ['CHUNKING', EHLO_MASK.CHUNKING],
    ['SILENT-DISCARD', EHLO_MASK.SILENT],
  ];
  const names: string[] = [];
  let left = mask;
  for (const [name, bit] of table) {
    if (left & bit) {
      names.push(name);
      left &= ~bit;
    }
  }
  return names.join(' ');
}

export type Handler = (state: SmtpdState, argv: SmtpdToken[]) => Promise<number>;

export interface SmtpdCmd {
  name: string;
  action: Handler;
  /** counts against smtpd_junk_command_limit */
  limit?: boolean;
  /** allowed before STARTTLS when TLS is enforced */
  preTls?: boolean;
  /** must be the last command in a pipelined group */
  last?: boolean;
}

const args = (argv: SmtpdToken[]) => argv.map((a) => a.strval);

function collapse(argv: SmtpdToken[], from: number): string {
  return argv
    .slice(from)
    .map((a) => a.strval)
    .join(' ');
}


/** protocolError - a protocol error reply: counted as such, and the command fails (-1). */
async function protocolError(state: SmtpdState, reply: string): Promise<number> {
  state.errorMask |= MAIL_ERROR.PROTOCOL;
  await smtpdChatReply(state, reply);
  return -1;
}

async function heloCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (argv.length < 2) {
    return protocolError(state, '501 Syntax: HELO hostname');
  }
  const name = collapse(argv, 1);
  if (!state.standAlone && !state.config.bool('smtpd_delay_reject')) {
    const err = await smtpdCheckHelo(state, name);
    if (err !== null) {
      await smtpdChatReply(state, err);
      return -1;
    }
  }
  heloReset(state);
  mailReset(state);
  rcptReset(state);
  state.heloName = neuter(printable(name));
  if (state.protocol !== 'ESMTP' && state.protocol !== 'SMTP') state.protocol = 'SMTP';
  await smtpdChatReply(state, `250 ${state.config.str('myhostname')}`);
  return 0;
}

async function ehloCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (argv.length < 2) {
    return protocolError(state, '501 Syntax: EHLO hostname');
  }
  const name = collapse(argv, 1);
  const c = state.config;
  if (!state.standAlone && !c.bool('smtpd_delay_reject')) {
    const err = await smtpdCheckHelo(state, name);
    if (err !== null) {
      await smtpdChatReply(state, err);
      return -1;
    }
  }
  heloReset(state);
  mailReset(state);
  rcptReset(state);
  state.heloName = neuter(printable(name));
  state.protocol = 'ESMTP';
  const discard = state.ehloDiscardMask;
  if ((discard & EHLO_MASK.ENHANCEDSTATUSCODES) === 0 && discard && !(discard & EHLO_MASK.SILENT)) {
    msg.info(`discarding EHLO keywords: ${strEhloMask(discard)}`);
  }
  const words: string[] = [c.str('myhostname')];
  if (!(discard & EHLO_MASK.PIPELINING)) words.push('PIPELINING');
  if (!(discard & EHLO_MASK.SIZE)) {
    const limit = c.int('message_size_limit');
    words.push(limit > 0 ? `SIZE ${limit}` : 'SIZE');
  }
  if (!(discard & EHLO_MASK.VRFY) && !c.bool('disable_vrfy_command')) words.push('VRFY');
  if (!(discard & EHLO_MASK.ETRN)) words.push('ETRN');
  // offered as Postfix does even when the TLS engine failed to start; STARTTLS then answers 454
  if (!(discard & EHLO_MASK.STARTTLS) && !state.standAlone && state.tls === null && tlsLevel(c) !== 'none') {
    words.push('STARTTLS');
  }
  words.push(...(await saslEhloWords(state, discard)));
  if (!(discard & EHLO_MASK.VERP) && (await verpAllowed(state))) words.push('XVERP');
  if (!(discard & EHLO_MASK.XCLIENT) && state.xclientAllowed) {
    words.push('XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT');
  }
  if (!(discard & EHLO_MASK.XFORWARD) && state.xforwardAllowed) {
    words.push('XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT');
  }
  if (!(discard & EHLO_MASK.ENHANCEDSTATUSCODES)) words.push('ENHANCEDSTATUSCODES');
  if (!(discard & EHLO_MASK['8BITMIME'])) words.push('8BITMIME');
  if (!(discard & EHLO_MASK.DSN)) words.push('DSN');
  if (c.bool('smtputf8_enable') && !(discard & EHLO_MASK.SMTPUTF8)) words.push('SMTPUTF8');
  if (!(discard & EHLO_MASK.CHUNKING)) words.push('CHUNKING');
  await smtpdChatReply(state, words.map((w) => `250 ${w}`).join('\r\n'));
  return 0;
}

/** mailOpenStream - open the queue file (cleanup) and write the envelope so far (mail_open_stream). */
async function mailOpenStream(state: SmtpdState): Promise<number> {
  let flags = CLEANUP_FLAG.FILTER | CLEANUP_FLAG.BCC_OK | CLEANUP_FLAG.MAP_OK | CLEANUP_FLAG.MILTER | CLEANUP_FLAG.SMTP_REPLY;
  if (state.flags & FLAG.SMTPUTF8) flags |= CLEANUP_FLAG.SMTPUTF8;
  const opener = destOpener(state);
  try {
    state.dest = await opener(state.standAlone ? 0 : flags);
  } catch (e) {
    msg.fatal(`unable to connect to the public ${state.config.str('cleanup_service_name') || 'cleanup'} service`);
    void e;
  }
  const dest = state.dest!;
  state.queueId = dest.queueId;
  const a = (name: string, value: string | number) => dest.record(REC.ATTR, `${name}=${value}`);
  // XFORWARD attributes replace all client attributes once any is given (smtpd.h FORWARD_*)
  const x = state.xforward;
  const haveFwd = ['NAME', 'ADDR', 'PORT', 'PROTO', 'HELO'].some((k) => x.has(k));
  const fwdAddr = x.get('ADDR');
  const fwd = {
    name: haveFwd ? x.get('NAME') ?? 'unknown' : state.name,
    addr: haveFwd ? (fwdAddr === undefined ? 'unknown' : fwdAddr.includes(':') ? `IPv6:${fwdAddr}` : fwdAddr) : state.rfcAddr,
    port: haveFwd ? x.get('PORT') ?? 'unknown' : state.port,
    proto: haveFwd ? x.get('PROTO') ?? 'unknown' : state.protocol,
    helo: haveFwd ? x.get('HELO') ?? null : state.heloName,
    namaddr: haveFwd ? `${x.get('NAME') ?? 'unknown'}[${fwdAddr ?? 'unknown'}]` : state.namaddr,
  };
  if (!state.standAlone) {
    dest.record(REC.TIME, `${state.arrivalTime.sec} ${state.arrivalTime.usec}`);
    const filter = state.config.str('content_filter');
    if (filter) dest.record(REC.FILT, filter);
    a('log_ident', x.get('IDENT') ?? state.queueId ?? '');
    a('rewrite_context', x.get('DOMAIN') ?? state.rewriteContext);
    if (state.dsnEnvid !== null) a('envelope_id', state.dsnEnvid);
    for (const [name, value] of saslAttrs(state)) a(name, value);
    if (state.dsnRet) a('ret_flags', state.dsnRet);
  }
  dest.record(REC.FROM, state.sender ?? '');
  if (state.encoding !== null) a('encoding', state.encoding);
  if (!state.standAlone) {
    a('log_client_name', fwd.name);
    a('log_client_address', fwd.addr);
    a('log_client_port', fwd.port);
    a('log_message_origin', fwd.namaddr);
    if (fwd.helo !== null) a('log_helo_name', fwd.helo);
    a('log_protocol_name', fwd.proto);
    a('client_name', state.name);
    a('reverse_client_name', state.reverseName);
    a('client_address', state.addr);
    a('client_port', state.port);
    a('server_address', state.destAddr);
    a('server_port', state.destPort);
    if (state.heloName !== null) a('helo_name', state.heloName);
    a('protocol_name', state.protocol);
    a('client_address_type', state.addrFamily);
  }
  const verp = verpOf.get(state);
  if (verp !== undefined) dest.record(REC.VERP, verp);
  let line = `${state.queueId}: client=${state.namaddr}${state.standAlone ? '' : saslLogSuffix(state)}`;
  if (x.has('IDENT')) line += `, orig_queue_id=${x.get('IDENT')}`;
  if (haveFwd) line += `, orig_client=${fwd.namaddr}`;
  msg.info(line);
  return 0;
}

/** The message destination factory of this session (cleanup, or the stand-alone submission path). */
export const destOpenerKey = Symbol('destOpener');
type WithOpener = SmtpdState & { [destOpenerKey]?: (flags: number) => Promise<import('./smtpd_dest.js').MessageDest> };
function destOpener(state: SmtpdState): (flags: number) => Promise<import('./smtpd_dest.js').MessageDest> {
  const o = (state as WithOpener)[destOpenerKey];
  if (!o) throw new Error('no message destination configured');
  return o;
}
export function setDestOpener(state: SmtpdState, opener: (flags: number) => Promise<import('./smtpd_dest.js').MessageDest>): void {
  (state as WithOpener)[destOpenerKey] = opener;
}

/** The XVERP delimiters of the current MAIL transaction (Postfix state->verp_delims). */
const verpOf = new WeakMap<SmtpdState, string>();
const verpLists = new WeakMap<MailConfig, NamadrList>();

/** verpAllowed - the client matches smtpd_authorized_verp_clients (XVERP in EHLO and MAIL FROM). */
async function verpAllowed(state: SmtpdState): Promise<boolean> {
  let list = verpLists.get(state.config);
  if (!list) {
    list = new NamadrList(state.config.str('smtpd_authorized_verp_clients'), false);
    verpLists.set(state.config, list);
  }
  return list.match(state.name, state.addr);
}

async function mailCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  const c = state.config;
  verpOf.delete(state);
  state.flags &= ~FLAG.SMTPUTF8;
  state.encoding = null;
  state.dsnRet = 0;
  if (c.bool('smtpd_helo_required') && state.heloName === null) {
    state.errorMask |= MAIL_ERROR.POLICY;
    await smtpdChatReply(state, '503 5.5.1 Error: send HELO/EHLO first');
    return -1;
  }
  if (inMailTransaction(state)) {
    return protocolError(state, '503 5.5.1 Error: nested MAIL command');
  }
  if (processingBdat(state)) {
    return protocolError(state, '503 5.5.1 Error: MAIL after BDAT');
  }
  if (argv.length < 3 || argv[1].strval.toLowerCase() !== 'from:') {
    return protocolError(state, '501 5.5.4 Syntax: MAIL FROM:<address>');
  }
  const mailRate = await anvilRateCheck(state, 'message');
  if (mailRate !== null) {
    await smtpdChatReply(state, mailRate);
    return -1;
  }
  if (argv[2].tokval === TOK_ERROR) {
    return protocolError(state, '501 5.1.7 Bad sender address syntax');
  }
  const utf8Enabled = c.bool('smtputf8_enable') && !(state.ehloDiscardMask & EHLO_MASK.SMTPUTF8);
  if (utf8Enabled && argv.slice(3).some((a) => a.strval.toUpperCase() === 'SMTPUTF8')) state.flags |= FLAG.SMTPUTF8;
  const ex = extractAddr(argv[2].strval, true, c.bool('strict_rfc821_envelopes'));
  if (!ex.ok || (!state.standAlone && !(await smtpdCheckAddr(state, state.recipient, ex.addr, (state.flags & FLAG.SMTPUTF8) !== 0)))) {
    msg.warn(`Illegal address syntax from ${state.namaddr} in MAIL command: ${printable(argv[2].strval)}`);
    return protocolError(state, '501 5.1.7 Bad sender address syntax');
  }
  let envid: string | null = null;
  let verpDelims: string | null = null;
  for (const tok of argv.slice(3)) {
    const arg = tok.strval;
    const upper = arg.toUpperCase();
    if (upper === 'BODY=8BITMIME') state.encoding = '8bit';
    else if (upper === 'BODY=7BIT') state.encoding = '7bit';
    else if (upper.startsWith('SIZE=')) {
      if (!/^\d+$/.test(arg.slice(5))) {
        return protocolError(state, '501 5.5.4 Bad message size syntax');
      }
      // off_cvt_string(): anything up to the largest off_t is a size
      const size = Number(arg.slice(5));
      if (BigInt(arg.slice(5)) > 9223372036854775807n) {
        state.errorMask |= MAIL_ERROR.POLICY;
        await smtpdChatReply(state, '552 5.3.4 Message size exceeds file system imposed limit');
        return -1;
      }
      state.msgSize = size;
    } else if (utf8Enabled && upper === 'SMTPUTF8') {
      // handled above
    } else if (upper.startsWith('RET=')) {
      if (state.ehloDiscardMask & EHLO_MASK.DSN) {
        return protocolError(state, '501 5.7.1 DSN support is disabled');
      }
      if (state.dsnRet || (state.dsnRet = dsnRetCode(arg.slice(4))) === 0) {
        return protocolError(state, '501 5.5.4 Bad RET parameter syntax');
      }
    } else if (upper.startsWith('ENVID=')) {
      if (state.ehloDiscardMask & EHLO_MASK.DSN) {
        return protocolError(state, '501 5.7.1 DSN support is disabled');
      }
      const decoded: string | null = envid === null ? xtextUnquote(arg.slice(6)) : null;
      if (decoded === null || !allPrint(decoded)) {
        return protocolError(state, '501 5.5.4 Bad ENVID parameter syntax');
      }
      envid = decoded;
    } else if (upper.startsWith('AUTH=') && c.bool('smtpd_sasl_auth_enable') && !state.standAlone) {
      const err = await saslMailOpt(state, arg.slice(5));
      if (err !== null) {
        await smtpdChatReply(state, err);
        return -1;
      }
    } else if (upper.startsWith('XVERP') && (arg.length === 5 || arg[5] === '=') && (await verpAllowed(state))) {
      verpDelims = arg.length === 5 ? c.str('default_verp_delimiters') : arg.slice(6);
      if (arg.length > 5 && verpDelimsVerify(verpDelims, c.str('verp_delimiter_filter')) !== null) {
        return protocolError(state, `501 5.5.4 Error: XVERP needs two characters from ${c.str('verp_delimiter_filter')}`);
      }
    } else {
      return protocolError(state, `555 5.5.4 Unsupported option: ${arg}`);
    }
  }
  // smtpd_check_size() sees the sender for logging
  state.sender = ex.addr;
  const sizeErr = smtpdCheckSize(state, state.msgSize);
  state.sender = null;
  if (sizeErr !== null) {
    await smtpdChatReply(state, sizeErr);
    return -1;
  }
  if (verpDelims !== null && ex.addr === '') {
    await smtpdChatReply(state, '503 5.5.4 Error: XVERP requires non-null sender');
    return -1;
  }
  if (!state.standAlone && !c.bool('smtpd_delay_reject')) {
    const err = await smtpdCheckMail(state, ex.addr);
    if (err !== null) {
      mailReset(state);
      await smtpdChatReply(state, err);
      return -1;
    }
  }
  if (!state.standAlone) {
    const err = await smtpdCheckRewrite(state);
    if (err !== null) {
      mailReset(state);
      await smtpdChatReply(state, err);
      return -1;
    }
  }
  if (c.bool('strict_smtputf8') && !(state.flags & FLAG.SMTPUTF8) && /[^\x00-\x7f]/.test(ex.addr)) {
    await smtpdChatReply(state, '553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return -1;
  }
  const now = Date.now();
  state.arrivalTime = { sec: Math.floor(now / 1000), usec: (now % 1000) * 1000 };
  state.sender = ex.addr;
  state.instance = `${process.pid.toString(16)}.${state.arrivalTime.sec.toString(16)}.${state.arrivalTime.usec.toString(16)}.${(state.seqno++).toString(16)}`;
  if (envid !== null) state.dsnEnvid = envid;
  if (verpDelims !== null) verpOf.set(state, verpDelims);
  if (!c.bool('smtpd_delay_open_until_valid_rcpt') && (await mailOpenStream(state)) < 0) {
    mailReset(state);
    return -1;
  }
  await smtpdChatReply(state, '250 2.1.0 Ok');
  return 0;
}

async function rcptCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  const c = state.config;
  if (!inMailTransaction(state)) {
    return protocolError(state, '503 5.5.1 Error: need MAIL command');
  }
  if (processingBdat(state)) {
    return protocolError(state, '503 5.5.1 Error: RCPT after BDAT');
  }
  if (argv.length < 3 || argv[1].strval.toLowerCase() !== 'to:') {
    return protocolError(state, '501 5.5.4 Syntax: RCPT TO:<address>');
  }
  const rcptRate = await anvilRateCheck(state, 'recipient');
  if (rcptRate !== null) {
    await smtpdChatReply(state, rcptRate);
    return -1;
  }
  if (argv[2].tokval === TOK_ERROR) {
    return protocolError(state, '501 5.1.3 Bad recipient address syntax');
  }
  const ex = extractAddr(argv[2].strval, false, c.bool('strict_rfc821_envelopes'));
  if (!ex.ok || (!state.standAlone && !(await smtpdCheckAddr(state, state.sender, ex.addr, (state.flags & FLAG.SMTPUTF8) !== 0)))) {
    msg.warn(`Illegal address syntax from ${state.namaddr} in RCPT command: ${printable(argv[2].strval)}`);
    return protocolError(state, '501 5.1.3 Bad recipient address syntax');
  }
  let notify = 0;
  let orcptType: string | null = null;
  let orcptAddr: string | null = null;
  for (const tok of argv.slice(3)) {
    const arg = tok.strval;
    const upper = arg.toUpperCase();
    if (upper.startsWith('NOTIFY=')) {
      if (state.ehloDiscardMask & EHLO_MASK.DSN) {
        return protocolError(state, '501 5.7.1 DSN support is disabled');
      }
      const mask = notify ? 0 : dsnNotifyMask(arg.slice(7));
      if (mask === 0) {
        if (!notify) {
          for (const w of arg.slice(7).split(',')) {
            if (!['NEVER', 'SUCCESS', 'FAILURE', 'DELAY'].includes(w.toUpperCase())) {
              msg.warn(`unknown DSN NOTIFY command value "${w}" in "${arg.slice(7)}"`);
              break;
            }
          }
        }
        return protocolError(state, '501 5.5.4 Error: Bad NOTIFY parameter syntax');
      }
      notify = mask;
    } else if (upper.startsWith('ORCPT=')) {
      if (state.ehloDiscardMask & EHLO_MASK.DSN) {
        return protocolError(state, '501 5.7.1 DSN support is disabled');
      }
      const value = arg.slice(6);
      const semi = value.indexOf(';');
      const type = semi >= 0 ? value.slice(0, semi) : '';
      const coded = semi >= 0 ? value.slice(semi + 1) : null;
      const decoded = coded === null ? null : type.toLowerCase() === 'utf-8' ? uxtextUnquote(coded) : xtextUnquote(coded);
      if (orcptAddr !== null || coded === null || type === '' || decoded === null) {
        return protocolError(state, '501 5.5.4 Error: Bad ORCPT parameter syntax');
      }
      orcptType = type;
      orcptAddr = decoded;
    } else {
      return protocolError(state, `555 5.5.4 Unsupported option: ${arg}`);
    }
  }
  const rcptLimit = c.int('smtpd_recipient_limit');
  if (rcptLimit && state.rcptCount >= rcptLimit) {
    await smtpdChatReply(state, '452 4.5.3 Error: too many recipients');
    if (state.rcptOvershoot++ < c.int('smtpd_recipient_overshoot_limit')) return 0;
    state.errorMask |= MAIL_ERROR.POLICY;
    return -1;
  }
  if (c.bool('strict_smtputf8') && !(state.flags & FLAG.SMTPUTF8) && /[^\x00-\x7f]/.test(ex.addr)) {
    await smtpdChatReply(state, '553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return -1;
  }
  if (!state.standAlone) {
    const err = await smtpdCheckRcpt(state, ex.addr);
    if (err !== null) {
      await smtpdChatReply(state, err);
      return -1;
    }
  }
  if (state.dest === null && (await mailOpenStream(state)) < 0) return -1;
  state.rcptCount++;
  if (state.recipient === null) state.recipient = ex.addr;
  const dest = state.dest!;
  if (orcptAddr === null) {
    orcptType = 'rfc822';
    orcptAddr = argv[2].strval;
    if (orcptAddr.startsWith('<') && orcptAddr.endsWith('>')) orcptAddr = orcptAddr.slice(1, -1);
  }
  if (notify) dest.record(REC.ATTR, `notify_flags=${notify}`);
  dest.record(REC.ATTR, `dsn_orig_rcpt=${orcptType};${orcptAddr}`);
  dest.record(REC.RCPT, ex.addr);
  await smtpdChatReply(state, '250 2.1.5 Ok');
  return 0;
}

async function rsetCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (argv.length !== 1) {
    return protocolError(state, '501 5.5.4 Syntax: RSET');
  }
  mailReset(state);
  rcptReset(state);
  await smtpdChatReply(state, '250 2.0.0 Ok');
  return 0;
}

async function noopCmd(state: SmtpdState): Promise<number> {
  await smtpdChatReply(state, '250 2.0.0 Ok');
  return 0;
}

async function vrfyCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  const c = state.config;
  if (c.bool('disable_vrfy_command')) {
    state.errorMask |= MAIL_ERROR.POLICY;
    await smtpdChatReply(state, '502 5.5.1 VRFY command is disabled');
    return -1;
  }
  let argc = argv.length;
  let smtputf8 = false;
  const utf8Enabled = c.bool('smtputf8_enable');
  if (utf8Enabled && !(state.ehloDiscardMask & EHLO_MASK.SMTPUTF8) && argc > 1 && argv[argc - 1].strval.toUpperCase() === 'SMTPUTF8') {
    argc--;
    smtputf8 = true;
  }
  if (argc < 2) {
    return protocolError(state, `501 5.5.4 Syntax: VRFY address${utf8Enabled ? ' [SMTPUTF8]' : ''}`);
  }
  const vrfyRate = await anvilRateCheck(state, 'recipient');
  if (vrfyRate !== null) {
    await smtpdChatReply(state, vrfyRate);
    return -1;
  }
  const text = argv
    .slice(1, argc)
    .map((a) => a.strval)
    .join(' ');
  const ex = extractAddr(text, false, false);
  if (!ex.ok || (!state.standAlone && !(await smtpdCheckAddr(state, state.sender, ex.addr, smtputf8)))) {
    msg.warn(`Illegal address syntax from ${state.namaddr} in VRFY command: ${printable(text)}`);
    return protocolError(state, '501 5.1.3 Bad recipient address syntax');
  }
  if (!smtputf8 && c.bool('strict_smtputf8') && /[^\x00-\x7f]/.test(ex.addr)) {
    mailReset(state);
    await smtpdChatReply(state, '553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return -1;
  }
  if (!state.standAlone) {
    const savedFlags = state.flags;
    if (smtputf8) state.flags |= FLAG.SMTPUTF8;
    const err = await smtpdCheckRcpt(state, ex.addr);
    state.flags = savedFlags;
    if (err !== null) {
      await smtpdChatReply(state, err);
      return -1;
    }
  }
  await smtpdChatReply(state, `252 2.0.0 ${argv[1].strval}`);
  return 0;
}

async function etrnCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (state.config.bool('smtpd_helo_required') && state.heloName === null) {
    state.errorMask |= MAIL_ERROR.POLICY;
    await smtpdChatReply(state, '503 Error: send HELO/EHLO first');
    return -1;
  }
  if (inMailTransaction(state)) {
    return protocolError(state, '503 Error: MAIL transaction in progress');
  }
  if (argv.length !== 2) {
    return protocolError(state, '500 Syntax: ETRN domain');
  }
  let domain = argv[1].strval;
  if (domain.startsWith('@') || domain.startsWith('#')) domain = domain.slice(1);
  if (!validHostname(domain) && !validMailhostLiteral(domain)) {
    return protocolError(state, '501 Error: invalid parameter syntax');
  }
  if (state.standAlone) {
    msg.warn('do not use ETRN in "sendmail -bs" mode');
    await smtpdChatReply(state, '458 Unable to queue messages');
    return -1;
  }
  const err = await smtpdCheckEtrn(state, domain);
  if (err !== null) {
    await smtpdChatReply(state, err);
    return -1;
  }
  switch (await flushSite(state.config, domain)) {
    case 'ok':
      await smtpdChatReply(state, '250 Queuing started');
      return 0;
    case 'deny':
      msg.warn(`reject: ETRN ${domain.slice(0, 100)}... from ${state.namaddr}`);
      await smtpdChatReply(state, `459 <${domain}>: service unavailable`);
      return -1;
    case 'bad':
      msg.warn(`bad ETRN ${domain.slice(0, 100)}... from ${state.namaddr}`);
      await smtpdChatReply(state, '458 Unable to queue messages');
      return -1;
    default:
      msg.warn('unable to talk to fast flush service');
      await smtpdChatReply(state, '458 Unable to queue messages');
      return -1;
  }
}

async function quitCmd(state: SmtpdState): Promise<number> {
  await smtpdChatReply(state, '221 2.0.0 Bye');
  return 0;
}

async function starttlsCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (argv.length !== 1) {
    return protocolError(state, '501 5.5.4 Syntax: STARTTLS');
  }
  if (state.tls !== null) {
    return protocolError(state, '554 5.5.1 Error: TLS already active');
  }
  if (state.standAlone || tlsLevel(state.config) === 'none' || state.ehloDiscardMask & EHLO_MASK.STARTTLS) {
    return protocolError(state, '502 5.5.1 Error: command not implemented');
  }
  const ctx = tlsContext(state.config);
  if (ctx === null) {
    state.errorMask |= MAIL_ERROR.SOFTWARE;
    await smtpdChatReply(state, '454 4.7.0 TLS not available due to local problem');
    return -1;
  }
  await smtpdChatReply(state, '220 2.0.0 Ready to start TLS');
  flushReplies(state);
  heloReset(state);
  mailReset(state);
  rcptReset(state);
  try {
    state.tls = await startTls(state, ctx);
  } catch (e) {
    msg.debug(1, `TLS handshake failed: ${(e as Error).message}`);
    throw new LostConnection();
  }
  return 0;
}

async function authCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  return saslAuthCmd(state, argv);
}

async function xclientCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (inMailTransaction(state)) {
    return protocolError(state, '503 5.5.1 Error: MAIL transaction in progress');
  }
  if (argv.length < 2) {
    return protocolError(state, '501 5.5.4 Syntax: XCLIENT attribute=value...');
  }
  if (!state.xclientAllowed) {
    state.errorMask |= MAIL_ERROR.POLICY;
    await smtpdChatReply(state, '550 5.7.0 Error: insufficient authorization');
    return -1;
  }
  let gotHelo = false;
  let gotProto = false;
  let updateNamaddr = false;
  let gotLogin = false;
  for (const tok of args(argv).slice(1)) {
    const eq = tok.indexOf('=');
    if (eq < 0 || eq === tok.length - 1) {
      return protocolError(state, '501 5.5.4 Error: attribute=value expected');
    }
    const name = tok.slice(0, eq).toUpperCase();
    const raw = tok.slice(eq + 1);
    if (raw.length > 255) {
      return protocolError(state, '501 5.5.4 Error: attribute value too long');
    }
    let value = printable(xtextUnquote(raw) ?? raw);
    const bad = async (what: string) => {
      return protocolError(state, `501 5.5.4 Bad ${what} syntax: ${value}`);
    };
    const unavailable = value.toUpperCase() === '[UNAVAILABLE]';
    const temporary = value.toUpperCase() === '[TEMPUNAVAIL]';
    switch (name) {
      case 'NAME':
        if (unavailable || temporary) {
          state.nameStatus = unavailable ? 5 : 4;
          state.name = 'unknown';
        } else {
          if (!validHostname(value)) return bad('NAME');
          state.nameStatus = 2;
          state.name = value;
          state.reverseName = value;
          state.reverseNameStatus = 2;
        }
        updateNamaddr = true;
        break;
      case 'REVERSE_NAME':
        if (unavailable || temporary) {
          state.reverseNameStatus = unavailable ? 5 : 4;
          state.reverseName = 'unknown';
        } else {
          if (!validHostname(value)) return bad('REVERSE_NAME');
          state.reverseNameStatus = 2;
          state.reverseName = value;
        }
        break;
      case 'ADDR':
        if (unavailable) {
          state.addr = state.rfcAddr = 'unknown';
        } else {
          value = neuter(value);
          const v6 = value.toLowerCase().startsWith('ipv6:') ? value.slice(5) : value;
          if (!validHostaddr(v6)) return bad('ADDR');
          state.addr = v6;
          state.addrFamily = v6.includes(':') ? 10 : 2;
          state.rfcAddr = state.addrFamily === 10 ? `IPv6:${v6}` : v6;
        }
        updateNamaddr = true;
        break;
      case 'PORT':
        if (unavailable) state.port = 'unknown';
        else {
          if (!/^\d{1,5}$/.test(value)) return bad('PORT');
          state.port = value;
        }
        updateNamaddr = true;
        break;
      case 'HELO':
        if (unavailable) state.heloName = null;
        else {
          if (value.length > 255) return bad('HELO');
          state.heloName = neuter(value);
        }
        gotHelo = true;
        break;
      case 'PROTO':
        if (value.toUpperCase() !== 'SMTP' && value.toUpperCase() !== 'ESMTP') return bad('PROTO');
        state.protocol = value.toUpperCase();
        gotProto = true;
        break;
      case 'DESTADDR':
        state.destAddr = value;
        break;
      case 'DESTPORT':
        state.destPort = value;
        break;
      case 'LOGIN':
        if (!unavailable) {
          saslAuthExtern(state, value, 'XCLIENT');
          gotLogin = true;
        }
        break;
      default:
        return protocolError(state, `501 5.5.4 Bad XCLIENT attribute name: ${tok.slice(0, eq)}`);
    }
  }
  if (updateNamaddr) setNamaddr(state);
  state.xclientAllowed = await new NamadrList(state.config.str('smtpd_authorized_xclient_hosts'), false).match(state.name, state.addr);
  if (!gotHelo) state.heloName = null;
  if (!gotProto) state.protocol = 'SMTP';
  if (!gotLogin) saslAuthReset(state);
  mailReset(state);
  rcptReset(state);
  // the session starts over for the new client (greeting, access checks)
  throw new RestartSession();
}

/** Thrown by XCLIENT: smtpd_proto starts again from the greeting (Postfix longjmp SMTP_ERR_NONE). */
export class RestartSession extends Error {}

async function xforwardCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (inMailTransaction(state)) {
    return protocolError(state, '503 5.5.1 Error: MAIL transaction in progress');
  }
  if (argv.length < 2) {
    return protocolError(state, '501 5.5.4 Syntax: XFORWARD attribute=value...');
  }
  if (!state.xforwardAllowed) {
    state.errorMask |= MAIL_ERROR.POLICY;
    await smtpdChatReply(state, '550 5.7.0 Error: insufficient authorization');
    return -1;
  }
  for (const tok of args(argv).slice(1)) {
    const eq = tok.indexOf('=');
    if (eq < 0 || eq === tok.length - 1) {
      return protocolError(state, '501 5.5.4 Error: attribute=value expected');
    }
    const name = tok.slice(0, eq).toUpperCase();
    const value = printable(xtextUnquote(tok.slice(eq + 1)) ?? tok.slice(eq + 1));
    if (!['NAME', 'ADDR', 'PORT', 'PROTO', 'HELO', 'IDENT', 'SOURCE'].includes(name)) {
      return protocolError(state, `501 5.5.4 Bad XFORWARD attribute name: ${tok.slice(0, eq)}`);
    }
    if (value.toUpperCase() === '[UNAVAILABLE]') state.xforward.delete(name);
    else if (name === 'SOURCE') state.xforward.set('DOMAIN', value.toUpperCase() === 'LOCAL' ? 'local' : 'remote');
    else state.xforward.set(name, name === 'ADDR' && value.toLowerCase().startsWith('ipv6:') ? value.slice(5) : value);
  }
  await smtpdChatReply(state, '250 2.0.0 Ok');
  return 0;
}

/** The command table, in the order of the disconnect statistics. */
export const SMTPD_CMD_TABLE: SmtpdCmd[] = [
  { name: 'HELO', action: heloCmd, limit: true, preTls: true, last: true },
  { name: 'EHLO', action: ehloCmd, limit: true, preTls: true, last: true },
  { name: 'XCLIENT', action: xclientCmd, preTls: true },
  { name: 'XFORWARD', action: xforwardCmd },
  { name: 'STARTTLS', action: starttlsCmd, preTls: true },
  { name: 'AUTH', action: authCmd },
  { name: 'MAIL', action: mailCmd },
  { name: 'RCPT', action: rcptCmd },
  { name: 'DATA', action: (s, a) => dataCmd(s, args(a)), last: true },
  { name: 'BDAT', action: (s, a) => bdatCmd(s, args(a)) },
  { name: 'RSET', action: rsetCmd, limit: true },
  { name: 'NOOP', action: noopCmd, limit: true, preTls: true, last: true },
  { name: 'VRFY', action: vrfyCmd, limit: true, last: true },
  { name: 'ETRN', action: etrnCmd, limit: true },
  { name: 'QUIT', action: quitCmd, preTls: true },
];

export { quitCmd };

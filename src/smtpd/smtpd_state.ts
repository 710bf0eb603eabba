/**
 * smtpd_state - the per-session state of the SMTP server (Postfix
 * smtpd/smtpd.h SMTPD_STATE, smtpd_state.c), and the three reset steps a
 * session goes through: helo_reset, mail_reset, rcpt_reset.
 */

import type { MailConfig } from '../global/mail_conf.js';
import type { VStream } from '../util/vstream.js';
import type { MessageDest } from './smtpd_dest.js';
import type { PeerCertInfo } from '../tls/tls_verify.js';

/** MAIL_ERROR_* classes (global/mail_error.h), for postmaster notices and the reject logic. */
export const MAIL_ERROR = {
  POLICY: 1 << 0,
  PROTOCOL: 1 << 1,
  BOUNCE: 1 << 2,
  SOFTWARE: 1 << 3,
  RESOURCE: 1 << 4,
  DELAY: 1 << 5,
  DATA: 1 << 6,
} as const;

/** CLEANUP_FLAG_* (global/cleanup_user.h). */
export const CLEANUP_FLAG = {
  BOUNCE: 1,
  FILTER: 2,
  HOLD: 4,
  DISCARD: 8,
  BCC_OK: 16,
  MAP_OK: 32,
  MILTER: 64,
  SMTP_REPLY: 128,
  SMTPUTF8: 256,
  AUTOUTF8: 512,
} as const;

/** CLEANUP_STAT_* (global/cleanup_user.h). */
export const CLEANUP_STAT = {
  OK: 0,
  BAD: 1,
  WRITE: 2,
  SIZE: 4,
  CONT: 8,
  HOPS: 16,
  RCPT: 64,
  PROXY: 128,
  DEFER: 256,
  NOPERM: 512,
  BARE_LF: 1 << 16,
} as const;

/** Peer name lookup status (smtpd_peer.c SMTPD_PEER_CODE_*). */
export const PEER_CODE = { OK: 2, TEMP: 4, PERM: 5, FORGED: 6 } as const;

export interface Deferral {
  active: boolean;
  errorClass: number;
  code: number;
  dsn: string;
  reason: string;
}

export function noDeferral(): Deferral {
  return { active: false, errorClass: 0, code: 0, dsn: '', reason: '' };
}

/** Where the session is (state->where): a command name or one of these. */
export const WHERE = {
  CONNECT: 'CONNECT',
  UNKNOWN: 'UNKNOWN',
  AFTER_DATA: 'DATA content',
  AFTER_BDAT: 'BDAT content',
  AFTER_EOM: 'END-OF-MESSAGE',
} as const;

export const BDAT_STAT = { NONE: 0, OK: 1, ERROR: 2 } as const;

/** smtpd_forbid_bare_newline bits (smtpd.c bare_lf_mask_table). */
export const BARE_LF = { WANT_STD_EOD: 1, REPLY_REJECT: 2 } as const;

/** bareLfMask - the smtpd_forbid_bare_newline value as mask bits; -1 for a bad value. */
export function bareLfMaskOf(value: string): number {
  switch (value.trim().toLowerCase()) {
    case 'normalize':
    case 'yes':
      return BARE_LF.WANT_STD_EOD;
    case 'reject':
      return BARE_LF.WANT_STD_EOD | BARE_LF.REPLY_REJECT;
    case 'no':
      return 0;
    default:
      return -1;
  }
}

/** Per-command counters for the "disconnect from" statistics. */
export interface CmdCounter {
  name: string;
  total: number;
  success: number;
}

export interface SmtpdState {
  config: MailConfig;
  /** client stream; output goes through smtpd_chat */
  client: VStream;
  /** replies queued until the client's input is drained (smtpd_chat) */
  outBuf: string[];
  /** sendmail -bs mode: no restrictions, submission through the pickup path */
  standAlone: boolean;
  service: string;

  // Client identity.
  name: string;
  reverseName: string;
  addr: string;
  rfcAddr: string;
  port: string;
  namaddr: string;
  nameStatus: number;
  reverseNameStatus: number;
  addrFamily: number;
  destAddr: string;
  destPort: string;

  // Session.
  heloName: string | null;
  protocol: string;
  where: string;
  reason: string | null;
  errorCount: number;
  errorMask: number;
  junkCmds: number;
  flags: number;
  accessDenied: string | null;
  ehloDiscardMask: number;
  xclientAllowed: boolean;
  xforwardAllowed: boolean;
  xforward: Map<string, string>;
  rewriteContext: string;
  /** an anvil connect event was sent and needs its disconnect */
  anvilConnected: boolean;
  /** the session runs under TLS (after STARTTLS) */
  tls: { protocol: string; cipher: string; bits: number; details: string; ccert: PeerCertInfo } | null;
  /** smtpd_forbid_bare_newline mask for this client (BARE_LF_*) */
  bareLfMask: number;
  /** the last line read ended in a bare LF */
  gotBareLf: boolean;

  // Transaction.
  sender: string | null;
  recipient: string | null;
  rcptCount: number;
  rcptOvershoot: number;
  msgSize: number;
  actSize: number;
  queueId: string | null;
  dest: MessageDest | null;
  /** CLEANUP_STAT_* of the transaction in progress */
  err: number;
  encoding: string | null;
  dsnRet: number;
  dsnEnvid: string | null;
  arrivalTime: { sec: number; usec: number };
  savedFilter: string | null;
  savedRedirect: string | null;
  savedBcc: string[];
  savedFlags: number;
  discard: boolean;
  prepend: string[];
  bdatState: number;
  bdatPending: Buffer;
  bdatPrevRecType: number;
  etrnName: string | null;
  instance: string;
  seqno: number;

  // Restriction evaluator.
  recursion: number;
  warnIfReject: number;
  deferIfPermit: Deferral;
  deferIfReject: Deferral;
  deferIfPermitClient: boolean;
  deferIfPermitHelo: boolean;
  deferIfPermitSender: boolean;
  senderRcptmapChecked: boolean;
  recipientRcptmapChecked: boolean;
  /** text of the last reject (smtpd_check error_text) */
  errorText: string;

  /** command counters in the fixed order of the disconnect statistics */
  counters: CmdCounter[];
  /** MAIL FROM AUTH= value (smtpd_sasl.ts); cleared by mail_reset */
  saslSender?: string | null;
}

export const FLAG = {
  HANGUP: 1 << 0,
  ILL_PIPELINING: 1 << 1,
  SMTPUTF8: 1 << 2,
  /** flags kept across mail_reset (SMTPD_MASK_MAIL_KEEP) */
  KEEP: (1 << 0) | (1 << 1),
} as const;

/** The counter order of the disconnect statistics (smtpd.c smtpd_cmd_table + "unknown"). */
export const COUNTER_NAMES = [
  'helo', 'ehlo', 'xclient', 'xforward', 'starttls', 'auth', 'mail', 'rcpt', 'data', 'bdat',
  'rset', 'noop', 'vrfy', 'etrn', 'quit', 'unknown',
];

export interface PeerInfo {
  name: string;
  reverseName: string;
  addr: string;
  port: string;
  nameStatus: number;
  reverseNameStatus: number;
  addrFamily: number;
  destAddr: string;
  destPort: string;
}

/** newState - a session for a connected (or stand-alone) client. */
export function newState(config: MailConfig, client: VStream, peer: PeerInfo, service: string, standAlone: boolean): SmtpdState {
  const state: SmtpdState = {
    config,
    client,
    outBuf: [],
    standAlone,
    service,
    name: peer.name,
    reverseName: peer.reverseName,
    addr: peer.addr,
    rfcAddr: peer.addrFamily === 10 ? `IPv6:${peer.addr}` : peer.addr,
    port: peer.port,
    namaddr: '',
    nameStatus: peer.nameStatus,
    reverseNameStatus: peer.reverseNameStatus,
    addrFamily: peer.addrFamily,
    destAddr: peer.destAddr,
    destPort: peer.destPort,
    heloName: null,
    protocol: 'SMTP',
    where: WHERE.CONNECT,
    reason: null,
    errorCount: 0,
    errorMask: 0,
    junkCmds: 0,
    flags: 0,
    accessDenied: null,
    ehloDiscardMask: 0,
    xclientAllowed: false,
    xforwardAllowed: false,
    xforward: new Map(),
    anvilConnected: false,
    bareLfMask: 0,
    tls: null,
    gotBareLf: false,
    rewriteContext: 'remote',
    sender: null,
    recipient: null,
    rcptCount: 0,
    rcptOvershoot: 0,
    msgSize: 0,
    actSize: 0,
    queueId: null,
    dest: null,
    err: 0,
    encoding: null,
    dsnRet: 0,
    dsnEnvid: null,
    arrivalTime: { sec: 0, usec: 0 },
    savedFilter: null,
    savedRedirect: null,
    savedBcc: [],
    savedFlags: 0,
    discard: false,
    prepend: [],
    bdatState: BDAT_STAT.NONE,
    bdatPending: Buffer.alloc(0),
    bdatPrevRecType: 0,
    etrnName: null,
    instance: '',
    seqno: 0,
    recursion: 0,
    warnIfReject: 0,
    deferIfPermit: noDeferral(),
    deferIfReject: noDeferral(),
    deferIfPermitClient: false,
    deferIfPermitHelo: false,
    deferIfPermitSender: false,
    senderRcptmapChecked: false,
    recipientRcptmapChecked: false,
    errorText: '',
    counters: COUNTER_NAMES.map((name) => ({ name, total: 0, success: 0 })),
  };
  setNamaddr(state);
  return state;
}

/** setNamaddr - "name[addr]" or "name[addr]:port" (smtpd_client_port_logging). */
export function setNamaddr(state: SmtpdState): void {
  const portLogging = state.config.bool('smtpd_client_port_logging');
  state.namaddr = `${state.name}[${state.addr}]` + (portLogging && state.port !== 'unknown' ? `:${state.port}` : '');
}

/** inMailTransaction - SMTPD_IN_MAIL_TRANSACTION(). */
export function inMailTransaction(state: SmtpdState): boolean {
  return state.sender !== null;
}

/** processingBdat - SMTPD_PROCESSING_BDAT(). */
export function processingBdat(state: SmtpdState): boolean {
  return state.bdatState !== BDAT_STAT.NONE;
}

export function heloReset(state: SmtpdState): void {
  state.heloName = null;
}

export function mailReset(state: SmtpdState): void {
  state.msgSize = 0;
  state.actSize = 0;
  state.flags &= FLAG.KEEP;
  if (state.dest) {
    state.dest.abort();
    state.dest = null;
  }
  state.err = 0;
  state.queueId = null;
  state.sender = null;
  state.savedFilter = null;
  state.savedRedirect = null;
  state.savedBcc = [];
  state.savedFlags = 0;
  state.discard = false;
  state.instance = '';
  state.xforward.clear();
  state.prepend = [];
  state.dsnEnvid = null;
  state.encoding = null;
  state.dsnRet = 0;
  state.bdatState = BDAT_STAT.NONE;
  state.bdatPending = Buffer.alloc(0);
  state.saslSender = null;
}

export function rcptReset(state: SmtpdState): void {
  state.recipient = null;
  state.rcptCount = 0;
  state.rcptOvershoot = 0;
}

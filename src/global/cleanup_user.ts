/**
 * cleanup_user - cleanup service flags and status codes, and their SMTP
 * replies (Postfix global/cleanup_user.h, cleanup_strerror.c).
 */

/** Client request flags (the `flags` attribute after the handshake). */
export const CLEANUP_FLAG = {
  NONE: 0,
  BOUNCE: 1 << 0,
  FILTER: 1 << 1,
  HOLD: 1 << 2,
  DISCARD: 1 << 3,
  BCC_OK: 1 << 4,
  MAP_OK: 1 << 5,
  MILTER: 1 << 6,
  SMTP_REPLY: 1 << 7,
  SMTPUTF8: 1 << 8,
  AUTOUTF8: 1 << 9,
  REQTLS: 1 << 10,
} as const;

export const CLEANUP_FLAG_FILTER_ALL = CLEANUP_FLAG.FILTER | CLEANUP_FLAG.MILTER;
/** What smtpd/pickup/qmqpd normally ask for. */
export const CLEANUP_FLAG_MASK_EXTERNAL = CLEANUP_FLAG_FILTER_ALL | CLEANUP_FLAG.BCC_OK | CLEANUP_FLAG.MAP_OK;
/** What bounce/local forwarding ask for. */
export const CLEANUP_FLAG_MASK_INTERNAL = CLEANUP_FLAG.MAP_OK;
/** Flags a client may also send in an `f` record. */
export const CLEANUP_FLAG_MASK_EXTRA = CLEANUP_FLAG.HOLD | CLEANUP_FLAG.DISCARD;

/** Server status bits (the `status` attribute of the reply). */
export const CLEANUP_STAT = {
  OK: 0,
  BAD: 1 << 0,
  WRITE: 1 << 1,
  SIZE: 1 << 2,
  CONT: 1 << 3,
  HOPS: 1 << 4,
  RCPT: 1 << 6,
  PROXY: 1 << 7,
  DEFER: 1 << 8,
  NOPERM: 1 << 9,
  BARE_LF: 1 << 16,
} as const;

export const CLEANUP_STAT_MASK_CANT_BOUNCE = CLEANUP_STAT.BAD | CLEANUP_STAT.WRITE | CLEANUP_STAT.DEFER | CLEANUP_STAT.RCPT;
export const CLEANUP_STAT_MASK_INCOMPLETE = CLEANUP_STAT.BAD | CLEANUP_STAT.WRITE | CLEANUP_STAT.SIZE | CLEANUP_STAT.DEFER;

export interface CleanupStatDetail {
  status: number;
  smtp: number;
  dsn: string;
  text: string;
}

/** Most severe first: one message may suffer from several errors, only one is reported. */
const STAT_MAP: CleanupStatDetail[] = [
  { status: CLEANUP_STAT.DEFER, smtp: 451, dsn: '4.7.1', text: 'service unavailable' },
  { status: CLEANUP_STAT.PROXY, smtp: 451, dsn: '4.3.0', text: 'queue file write error' },
  { status: CLEANUP_STAT.BAD, smtp: 451, dsn: '4.3.0', text: 'internal protocol error' },
  { status: CLEANUP_STAT.RCPT, smtp: 550, dsn: '5.1.0', text: 'no recipients specified' },
  { status: CLEANUP_STAT.HOPS, smtp: 554, dsn: '5.4.0', text: 'too many hops' },
  { status: CLEANUP_STAT.SIZE, smtp: 552, dsn: '5.3.4', text: 'message file too big' },
  { status: CLEANUP_STAT.CONT, smtp: 550, dsn: '5.7.1', text: 'message content rejected' },
  { status: CLEANUP_STAT.WRITE, smtp: 451, dsn: '4.3.0', text: 'queue file write error' },
  { status: CLEANUP_STAT.NOPERM, smtp: 550, dsn: '5.7.1', text: 'service denied' },
  { status: CLEANUP_STAT.BARE_LF, smtp: 521, dsn: '5.5.2', text: 'bare <LF> received' },
];

const SUCCESS: CleanupStatDetail = { status: 0, smtp: 250, dsn: '2.0.0', text: 'Success' };

/** cleanupStatDetail - the table entry for the most severe bit of a status. */
export function cleanupStatDetail(status: number): CleanupStatDetail {
  if (status === CLEANUP_STAT.OK) return SUCCESS;
  for (const d of STAT_MAP) if (d.status & status) return d;
  throw new Error(`cleanup_stat_detail: unknown status ${status}`);
}

/** cleanupStrerror - the short text of a status. */
export function cleanupStrerror(status: number): string {
  return cleanupStatDetail(status).text;
}

/** cleanupStrflags - flags as text, for verbose logging. */
export function cleanupStrflags(flags: number): string {
  const names: string[] = [];
  for (const [k, v] of Object.entries(CLEANUP_FLAG)) if (v && flags & v) names.push(k.toLowerCase());
  return names.join(' ');
}

/**
 * rec_type - queue file record types (Postfix global/rec_type.h, rec_type.c).
 *
 * One letter per record type; the postcat label of each; the record sets
 * that are allowed in each segment of a queue file and in postdrop input.
 */

export const REC = {
  SIZE: 'C'.charCodeAt(0),
  TIME: 'T'.charCodeAt(0),
  CTIME: 'c'.charCodeAt(0),
  FULL: 'F'.charCodeAt(0),
  INSP: 'I'.charCodeAt(0),
  FILT: 'L'.charCodeAt(0),
  FROM: 'S'.charCodeAt(0),
  DONE: 'D'.charCodeAt(0),
  RCPT: 'R'.charCodeAt(0),
  ORCP: 'O'.charCodeAt(0),
  DRCP: '/'.charCodeAt(0),
  WARN: 'W'.charCodeAt(0),
  ATTR: 'A'.charCodeAt(0),
  KILL: 'K'.charCodeAt(0),
  RDR: '>'.charCodeAt(0),
  FLGS: 'f'.charCodeAt(0),
  DELAY: 'd'.charCodeAt(0),
  MESG: 'M'.charCodeAt(0),
  CONT: 'L'.charCodeAt(0),
  NORM: 'N'.charCodeAt(0),
  DTXT: 'w'.charCodeAt(0),
  XTRA: 'X'.charCodeAt(0),
  RRTO: 'r'.charCodeAt(0),
  ERTO: 'e'.charCodeAt(0),
  PRIO: 'P'.charCodeAt(0),
  PTR: 'p'.charCodeAt(0),
  VERP: 'V'.charCodeAt(0),
  DSN_RET: '<'.charCodeAt(0),
  DSN_ENVID: 'i'.charCodeAt(0),
  DSN_ORCPT: 'o'.charCodeAt(0),
  DSN_NOTIFY: 'n'.charCodeAt(0),
  MILT_COUNT: 'm'.charCodeAt(0),
  END: 'E'.charCodeAt(0),
} as const;

/** Pseudo types returned by readers. */
export const REC_TYPE_EOF = -1;
export const REC_TYPE_ERROR = -2;

/** Allowed record types per segment (rec_type.h REC_TYPE_ENVELOPE etc.). */
export const REC_TYPE_ENVELOPE = 'MCTcFILSDRO/WVA>K<ion';
export const REC_TYPE_CONTENT = 'XLNw';
export const REC_TYPE_EXTRACT = 'EDRO/PreAFIL>Kon';
/** What postdrop accepts from sendmail. */
export const REC_TYPE_POST_ENVELOPE = 'MFSRVAin';
export const REC_TYPE_POST_CONTENT = 'XLN';
export const REC_TYPE_POST_EXTRACT = 'EAR';
/** Recipient-only record runs (rec_type.h REC_TYPE_ENV_RECIPIENT, REC_TYPE_EXT_RECIPIENT). */
export const REC_TYPE_ENV_RECIPIENT = 'MDRO/Kon';
export const REC_TYPE_EXT_RECIPIENT = 'EDRO/Kon';

/** Fixed-width formats. */
export const REC_TYPE_SIZE_FORMAT_WIDTH = 15;
export const REC_TYPE_PTR_PAYL_SIZE = 15;
export const REC_TYPE_WARN_PAYL_SIZE = 15;

/**
 * postcat labels (rec_type.c rec_type_names[]). `L` is listed as FILT first,
 * so it prints as content_filter; postcat itself says unterminated_text for
 * `L` in the message content. `d` and `m` have no name in Postfix either.
 */
const NAMES: Record<string, string> = {
  C: 'message_size',
  T: 'message_arrival_time',
  c: 'queue_file_create_time',
  F: 'sender_fullname',
  I: 'content_inspector',
  L: 'content_filter',
  S: 'sender',
  D: 'done_recipient',
  '/': 'canceled_recipient',
  R: 'recipient',
  O: 'original_recipient',
  W: 'warning_message_time',
  A: 'named_attribute',
  p: 'pointer_record',
  K: 'killed_record',
  M: 'message_content',
  N: 'regular_text',
  w: 'padding',
  X: 'extracted_info',
  r: 'return_receipt',
  e: 'errors_to',
  P: 'priority',
  V: 'verp_delimiters',
  E: 'message_end',
  '>': 'redirect_to',
  f: 'flags',
  '<': 'dsn_return_flags',
  i: 'dsn_envelope_id',
  o: 'dsn_original_recipient',
  n: 'dsn_notify_flags',
};

/** The label of a content-segment `L` record. */
export const REC_TYPE_CONT_NAME = 'unterminated_text';

/** recTypeName - postcat's label for a record type ("unknown_record_type" when Postfix has none). */
export function recTypeName(type: number): string {
  if (type === REC_TYPE_EOF) return 'end-of-file';
  if (type === REC_TYPE_ERROR) return 'error';
  return NAMES[String.fromCharCode(type)] ?? 'unknown_record_type';
}

/** recTypeAllowed - is the record type in the given set string? */
export function recTypeAllowed(set: string, type: number): boolean {
  return type >= 0 && set.includes(String.fromCharCode(type));
}

/** DSN notify flags (global/dsn_mask.h). */
export const DSN_NOTIFY = { NEVER: 1, SUCCESS: 2, FAILURE: 4, DELAY: 8 } as const;
/** DSN RET flags. */
export const DSN_RET = { FULL: 1, HDRS: 2 } as const;

/**
 * verp_sender - variable envelope return path addresses (Postfix
 * global/verp_sender.c).
 *
 * With VERP each recipient of a message gets a delivery of its own whose
 * envelope sender names it: prefix@origin becomes
 * prefix<d1>user<d2>domain@origin, where d1 d2 are the two VERP delimiters
 * and user@domain is the recipient (its original form when there is one,
 * because that is what the VERP consumer expects). A recipient without a
 * domain gives prefix<d1>user@origin; a sender without a domain gives no
 * @origin. The null sender is never VERP'ed (cleanup and qmgr refuse it).
 */

/** The recipient fields that verpSender() reads (Postfix RECIPIENT orig_addr, address). */
export interface VerpRecipient {
  address: string;
  /** the original recipient, or '' */
  orig?: string;
}

/** verpSender - the VERP'ed envelope sender for one recipient. */
export function verpSender(delims: string, sender: string, rcpt: VerpRecipient): string {
  const sendAt = sender.lastIndexOf('@');
  const sendLocal = sendAt >= 0 ? sender.slice(0, sendAt) : sender;
  const recipient = rcpt.orig ? rcpt.orig : rcpt.address;
  const rcptAt = recipient.lastIndexOf('@');
  let out = sendLocal + delims.charAt(0);
  if (rcptAt < 0) out += recipient;
  else {
    out += recipient.slice(0, rcptAt);
    // "user@" (nothing after the @) keeps no delimiter, as Postfix.
    if (rcptAt + 1 < recipient.length) out += delims.charAt(1) + recipient.slice(rcptAt + 1);
  }
  if (sendAt >= 0 && sendAt + 1 < sender.length) out += `@${sender.slice(sendAt + 1)}`;
  return out;
}

/**
 * verpDelimsVerify - null when delims are two characters of
 * verp_delimiter_filter, else the reason (Postfix verp_delims_verify).
 */
export function verpDelimsVerify(delims: string, filter: string): string | null {
  if (delims.length !== 2) return 'bad VERP delimiter character count';
  if (!filter.includes(delims.charAt(0))) return 'bad first VERP delimiter character';
  if (!filter.includes(delims.charAt(1))) return 'bad second VERP delimiter character';
  return null;
}

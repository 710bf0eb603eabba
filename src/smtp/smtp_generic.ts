/**
 * smtp_generic - smtp_generic_maps address rewriting in message headers on
 * output (Postfix smtp/smtp_map11.c with the header part of
 * smtp_proto.c's smtp_header_rewrite).
 *
 * Only the primary message header is touched, and only the address-bearing
 * headers Postfix rewrites (From, Sender, Reply-To, To, Cc, Bcc,
 * Resent-*, Return-Path, Errors-To, Return-Receipt-To, Disposition-
 * Notification-To, Delivered-To, X-Original-To ...). A header whose
 * addresses do not change is sent byte for byte as it was.
 */

import { tok822Externalize, tok822Internalize, tok822Parse, tok822Scan, TOKEN_LIMIT, type Tok822 } from '../global/tok822.js';
import { quote822Local } from '../global/quote_822_local.js';

const ADDRESS_HEADERS = new Set([
  'from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'return-path', 'errors-to', 'return-receipt-to',
  'disposition-notification-to', 'delivered-to', 'x-original-to', 'apparently-to', 'mail-followup-to', 'mail-reply-to',
  'resent-from', 'resent-sender', 'resent-reply-to', 'resent-to', 'resent-cc', 'resent-bcc',
]);

/** rewriteHeader - one logical header (continuation lines joined with "\n"); null when unchanged. */
export async function rewriteHeader(header: string, map: (internal: string) => Promise<string>): Promise<string | null> {
  const colon = header.indexOf(':');
  if (colon <= 0) return null;
  const name = header.slice(0, colon);
  if (!ADDRESS_HEADERS.has(name.trim().toLowerCase())) return null;
  const tree = tok822Parse(header.slice(colon + 1).replace(/\n/g, ' '), TOKEN_LIMIT);
  let did = false;
  for (const node of tree) {
    if (node.type !== 'addr' || !node.head) continue;
    const intern = tok822Internalize(node.head);
    const mapped = await map(intern);
    if (mapped !== intern) {
      did = true;
      node.head = tok822Scan(quote822Local(mapped)) as Tok822[];
    }
  }
  if (!did) return null;
  return `${name}: ${tok822Externalize(tree, true)}`;
}

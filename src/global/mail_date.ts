/**
 * mail_date - the RFC 5322 date Postfix writes in Date:, Received: and
 * delivery reports (Postfix global/mail_date.c):
 * "Tue,  4 Nov 2026 22:05:35 +0000 (UTC)" (day space-padded, and the zone
 * abbreviation as strftime %Z gives it, read from the system zone file).
 */

import { headerDate } from '../util/tz_abbrev.js';

/** mailDate - the date of a moment given as a Date. */
export function mailDate(when: Date): string {
  return headerDate(Math.floor(when.getTime() / 1000));
}

/**
 * mail_date - the RFC 5322 date Postfix writes in Date:, Received: and
 * delivery reports (Postfix global/mail_date.c):
 * "Tue,  4 Nov 2026 22:05:35 +0000 (UTC)" (day space-padded, zone name in
 * parentheses when the system has an alphabetic one).
 */

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function zoneName(when: Date, offsetMinutes: number): string {
  let zone = '';
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(when);
    zone = parts.find((x) => x.type === 'timeZoneName')?.value ?? '';
  } catch {
    zone = '';
  }
  if (zone === 'GMT' && offsetMinutes === 0) zone = 'UTC';
  return /^[A-Za-z]+$/.test(zone) ? zone : '';
}

export function mailDate(when: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const off = -when.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const zone = zoneName(when, off);
  return (
    `${DAYS[when.getDay()]}, ${String(when.getDate()).padStart(2, ' ')} ${MONTHS[when.getMonth()]} ${when.getFullYear()} ` +
    `${p2(when.getHours())}:${p2(when.getMinutes())}:${p2(when.getSeconds())} ` +
    `${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}` +
    (zone ? ` (${zone})` : '')
  );
}

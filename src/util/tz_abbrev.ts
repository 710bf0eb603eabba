/**
 * tz_abbrev - the local time zone abbreviation as strftime %Z gives it,
 * and the header date cleanup writes (Postfix global/mail_date.c):
 * "Tue, 24 Nov 2026 22:04:55 +0000 (UTC)", local time, space-padded day
 * (%e), numeric offset, zone abbreviation. The abbreviation comes from the
 * system time zone file (TZif, $TZ or /etc/localtime), because the
 * JavaScript runtime only knows locale-dependent names ("GMT+1" where C
 * says "CET").
 */

import { readFileSync } from 'node:fs';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

interface TzInfo {
  times: number[];
  idx: number[];
  types: Array<{ utoff: number; isdst: boolean; abbr: string }>;
  footer: { std: string; stdOff: number; dst?: string } | null;
}

let cache: { key: string; info: TzInfo | null } | undefined;

/** parseTzif - transitions, types and the POSIX footer of a TZif file (RFC 8536). */
export function parseTzif(buf: Buffer): TzInfo | null {
  if (buf.length < 44 || buf.toString('latin1', 0, 4) !== 'TZif') return null;
  const version = buf[4];
  const counts = (at: number) => [0, 1, 2, 3, 4, 5].map((i) => buf.readUInt32BE(at + 20 + i * 4));
  let [isut, isstd, leap, timecnt, typecnt, charcnt] = counts(0);
  let pos = 44;
  let timeSize = 4;
  if (version >= 0x32) {
    // skip the v1 block, use the 64-bit one
    pos += timecnt * 4 + timecnt + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    if (buf.length < pos + 44 || buf.toString('latin1', pos, pos + 4) !== 'TZif') return null;
    [isut, isstd, leap, timecnt, typecnt, charcnt] = counts(pos);
    pos += 44;
    timeSize = 8;
  }
  const need = timecnt * timeSize + timecnt + typecnt * 6 + charcnt;
  if (buf.length < pos + need) return null;
  const times: number[] = [];
  for (let i = 0; i < timecnt; i++) {
    times.push(timeSize === 8 ? Number(buf.readBigInt64BE(pos + i * 8)) : buf.readInt32BE(pos + i * 4));
  }
  pos += timecnt * timeSize;
  const idx = [...buf.subarray(pos, pos + timecnt)];
  pos += timecnt;
  const raw: Array<{ utoff: number; isdst: boolean; ai: number }> = [];
  for (let i = 0; i < typecnt; i++) {
    raw.push({ utoff: buf.readInt32BE(pos + i * 6), isdst: buf[pos + i * 6 + 4] !== 0, ai: buf[pos + i * 6 + 5] });
  }
  pos += typecnt * 6;
  const chars = buf.subarray(pos, pos + charcnt);
  pos += charcnt + leap * (timeSize + 4) + isstd + isut;
  const types = raw.map((t) => {
    const end = chars.indexOf(0, t.ai);
    return { utoff: t.utoff, isdst: t.isdst, abbr: chars.toString('latin1', t.ai, end < 0 ? chars.length : end) };
  });
  let footer: TzInfo['footer'] = null;
  if (timeSize === 8 && buf[pos] === 0x0a) {
    const end = buf.indexOf(0x0a, pos + 1);
    footer = parsePosixTz(buf.toString('latin1', pos + 1, end < 0 ? buf.length : end));
  }
  return { times, idx, types, footer };
}

/** parsePosixTz - the names and standard offset of a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3", "<-03>3"). */
function parsePosixTz(s: string): TzInfo['footer'] {
  const m = /^(<[^>]*>|[A-Za-z]{3,})([-+]?\d{1,2}(?::\d{1,2}){0,2})(<[^>]*>|[A-Za-z]{3,})?/.exec(s);
  if (!m) return null;
  const name = (n: string) => n.replace(/^<|>$/g, '');
  const [h, mi = '0', se = '0'] = m[2].replace(/^\+/, '').split(':');
  const sign = h.startsWith('-') ? -1 : 1;
  const off = -sign * (Math.abs(Number(h)) * 3600 + Number(mi) * 60 + Number(se));
  return { std: name(m[1]), stdOff: off, dst: m[3] ? name(m[3]) : undefined };
}

function zoneFile(): string {
  const tz = process.env.TZ;
  if (tz === undefined || tz === '') return '/etc/localtime';
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  if (name.startsWith('/')) return name;
  return `/usr/share/zoneinfo/${name}`;
}

/** tzAbbrev - the abbreviation of the local time zone at a time (seconds), as strftime %Z. */
export function tzAbbrev(when: number, utoffSeconds: number): string {
  const file = zoneFile();
  if (!cache || cache.key !== file) {
    let info: TzInfo | null = null;
    try {
      info = parseTzif(readFileSync(file));
    } catch {
      info = null;
    }
    cache = { key: file, info };
  }
  const info = cache.info;
  if (!info) return utoffSeconds === 0 ? 'UTC' : 'GMT';
  const n = info.times.length;
  if (n > 0 && when >= info.times[0] && (when < info.times[n - 1] || !info.footer)) {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (info.times[mid] <= when) lo = mid;
      else hi = mid - 1;
    }
    const t = info.types[info.idx[lo]];
    if (t) return t.abbr;
  }
  if (info.footer && (n === 0 || when >= info.times[n - 1])) {
    return info.footer.dst && utoffSeconds !== info.footer.stdOff ? info.footer.dst : info.footer.std;
  }
  const first = info.types.find((t) => !t.isdst) ?? info.types[0];
  return first ? first.abbr : 'UTC';
}

/** headerDate - the header date of a time in seconds. */
export function headerDate(when: number): string {
  const d = new Date(when * 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return (
    `${DAYS[d.getDay()]}, ${String(d.getDate()).padStart(2, ' ')} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ` +
    `${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)} (${tzAbbrev(when, off * 60)})`
  );
}

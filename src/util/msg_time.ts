/**
 * msg_time - time stamps for log records, and a small strftime (the C
 * library functions that Postfix msg_logger.c, syslog(3) and postfix-script's
 * `date +$maillog_file_rotate_suffix` rely on).
 *
 * Always the C locale: English month and day names, whatever LANG says.
 * Local time follows the TZ environment variable, as in C.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const FULL_MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const FULL_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function pad(n: number, width: number, fill = '0'): string {
  return String(n).padStart(width, fill);
}

/** dayOfYear - 1..366 in local time */
function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  const a = Date.UTC(d.getFullYear(), d.getMonth(), d.getDate());
  const b = Date.UTC(start.getFullYear(), 0, 1);
  return Math.floor((a - b) / 86400000) + 1;
}

/** tzOffset - "+hhmm" / "-hhmm" for %z */
function tzOffset(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return sign + pad(Math.floor(abs / 60), 2) + pad(abs % 60, 2);
}

/**
 * strftime - format a local time like C strftime(3) in the C locale.
 * Supports the conversions an admin may put in maillog_file_rotate_suffix:
 * %a %A %b %h %B %c %C %d %D %e %F %H %I %j %k %l %m %M %n %p %r %R %s %S
 * %t %T %u %w %y %Y %z %Z %%. An unknown conversion is copied unchanged, as
 * glibc does.
 */
export function strftime(fmt: string, d: Date): string {
  let out = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== '%' || i + 1 >= fmt.length) {
      out += c;
      continue;
    }
    const k = fmt[++i];
    const h12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
    switch (k) {
      case 'a': out += DAYS[d.getDay()]; break;
      case 'A': out += FULL_DAYS[d.getDay()]; break;
      case 'b': case 'h': out += MONTHS[d.getMonth()]; break;
      case 'B': out += FULL_MONTHS[d.getMonth()]; break;
      case 'c': out += strftime('%a %b %e %H:%M:%S %Y', d); break;
      case 'C': out += pad(Math.floor(d.getFullYear() / 100), 2); break;
      case 'd': out += pad(d.getDate(), 2); break;
      case 'D': out += strftime('%m/%d/%y', d); break;
      case 'e': out += pad(d.getDate(), 2, ' '); break;
      case 'F': out += strftime('%Y-%m-%d', d); break;
      case 'H': out += pad(d.getHours(), 2); break;
      case 'I': out += pad(h12, 2); break;
      case 'j': out += pad(dayOfYear(d), 3); break;
      case 'k': out += pad(d.getHours(), 2, ' '); break;
      case 'l': out += pad(h12, 2, ' '); break;
      case 'm': out += pad(d.getMonth() + 1, 2); break;
      case 'M': out += pad(d.getMinutes(), 2); break;
      case 'n': out += '\n'; break;
      case 'p': out += d.getHours() < 12 ? 'AM' : 'PM'; break;
      case 'r': out += strftime('%I:%M:%S %p', d); break;
      case 'R': out += strftime('%H:%M', d); break;
      case 's': out += String(Math.floor(d.getTime() / 1000)); break;
      case 'S': out += pad(d.getSeconds(), 2); break;
      case 't': out += '\t'; break;
      case 'T': out += strftime('%H:%M:%S', d); break;
      case 'u': out += String(d.getDay() === 0 ? 7 : d.getDay()); break;
      case 'w': out += String(d.getDay()); break;
      case 'y': out += pad(d.getFullYear() % 100, 2); break;
      case 'Y': out += String(d.getFullYear()); break;
      case 'z': out += tzOffset(d); break;
      case 'Z': out += localZoneName(d); break;
      case '%': out += '%'; break;
      default: out += '%' + k;
    }
  }
  return out;
}

function localZoneName(d: Date): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d);
  return parts.find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/** loggerTimestamp - "Mmm dd HH:MM:SS" as postlogd records carry it (day zero-padded: "Nov 05"). */
export function loggerTimestamp(d: Date): string {
  return `${MONTHS[d.getMonth()]} ${pad(d.getDate(), 2)} ${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`;
}

/** syslogTimestamp - "Mmm dd HH:MM:SS" as the C library's syslog(3) sends it (day space-padded: "Nov  5"). */
export function syslogTimestamp(d: Date): string {
  return `${MONTHS[d.getMonth()]} ${pad(d.getDate(), 2, ' ')} ${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`;
}

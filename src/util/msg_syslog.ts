/**
 * msg_syslog - send msg(3) records to the system logger through /dev/log
 * (Postfix util/msg_syslog.c on top of the C library's syslog(3)).
 *
 * Records are RFC 3164 datagrams as glibc's syslog(3) sends them:
 *
 *     <PRI>Mmm dd HH:MM:SS tag[pid]: text
 *
 * (day space-padded, no host name; syslogd adds it). PRI is the facility
 * (syslog_facility) times 8 plus the severity: info -> LOG_INFO, warning ->
 * LOG_WARNING, error -> LOG_ERR, fatal -> LOG_CRIT, panic -> LOG_ALERT.
 * When /dev/log is absent or stops answering, records are dropped (counted),
 * as syslog(3) drops them; logging never stalls the caller.
 */

import { existsSync } from 'node:fs';
import { MsgLogger, limitText } from './msg_logger.js';
import { syslogTimestamp } from './msg_time.js';
import type { Severity } from './msg.js';

export const SYSLOG_PATH = '/dev/log';

const FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9,
  authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

const SEVERITY_LEVEL: Record<Severity, number> = { info: 6, warning: 4, error: 3, fatal: 2, panic: 1 };

/** syslogFacility - the facility code for a syslog_facility name, or undefined (case-insensitive, as Postfix). */
export function syslogFacility(name: string): number | undefined {
  const code = FACILITIES[name.toLowerCase()];
  return code;
}

/** formatSyslogRecord - one /dev/log datagram. */
export function formatSyslogRecord(facility: number, severity: Severity, tag: string, pid: number, text: string, now: Date): string {
  return `<${facility * 8 + SEVERITY_LEVEL[severity]}>${syslogTimestamp(now)} ${tag}[${pid}]: ${limitText(severity, text)}`;
}

export interface SyslogOptions {
  tag: string;
  facility: number;
  path?: string;
  now?: () => Date;
  pid?: number;
}

/** syslogAvailable - is there a system logger socket? */
export function syslogAvailable(path = SYSLOG_PATH): boolean {
  return existsSync(path);
}

/** createSyslogLogger - a MsgLogger that speaks syslog to /dev/log. */
export function createSyslogLogger(opts: SyslogOptions): MsgLogger {
  return new MsgLogger({
    progname: opts.tag,
    hostname: '',
    servicePath: opts.path ?? SYSLOG_PATH,
    fallback: 'none',
    now: opts.now,
    pid: opts.pid,
    formatter: (severity, text, now, pid) => formatSyslogRecord(opts.facility, severity, opts.tag, pid, text, now),
  });
}

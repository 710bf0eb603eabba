/**
 * postlogd - Postfix internal log server (Postfix postlogd(8)).
 *
 * Receives one log record per datagram on public/$postlog_service_name
 * (master.cf: `postlog unix-dgram n - n - 1 postlogd`) and appends it, with
 * a newline, to $maillog_file, in arrival order. maillog_file may be
 * /dev/stdout (with `postfix start-fg`). The file is reopened on SIGHUP and
 * when it was renamed or removed (`postfix logrotate`).
 *
 * Datagrams are untrusted: a record is cut at POSTLOGD_RECORD_MAX bytes,
 * a trailing newline is dropped, and control characters (embedded newlines
 * included) become '?', so that one datagram is always exactly one line.
 *
 * When maillog_file is empty (a reload removed it while clients still use
 * the old setting), records are passed on to syslog, as Postfix does.
 * postlogd logs about itself into its own file, never through its socket.
 * It must never block on a slow disk: writes are queued and asynchronous.
 */

import { msg } from '../util/msg.js';
import { LogWriter, LogfileError } from '../util/msg_logwriter.js';
import { MsgLogger } from '../util/msg_logger.js';
import { syslogTimestamp } from '../util/msg_time.js';
import { SYSLOG_PATH, syslogAvailable, syslogFacility } from '../util/msg_syslog.js';
import { maillogClientInit } from '../global/maillog_client.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';

/** The longest record written; longer datagrams are cut (clients send at most ~2100 bytes). */
export const POSTLOGD_RECORD_MAX = 8192;

/**
 * Records received within this many ms go to the file in one write. One
 * record per write (what arrives in one event-loop turn) made postlogd's
 * thread-pool hand-offs cost about four times Postfix's postlogd in W1.
 */
export const POSTLOGD_BATCH_MS = 5;

/** How often (ms) the log file path is checked for rotation. */
const ROTATE_CHECK_MS = 1000;

/**
 * sanitizeRecord - one datagram to one line of text (no newline), or
 * undefined when there is nothing to write.
 */
export function sanitizeRecord(datagram: Buffer): Buffer | undefined {
  let end = Math.min(datagram.length, POSTLOGD_RECORD_MAX);
  if (end < datagram.length) {
    // Do not leave half a UTF-8 sequence at the cut.
    let i = end;
    while (i > 0 && i > end - 4 && (datagram[i - 1] & 0xc0) === 0x80) i--;
    if (i > 0 && datagram[i - 1] >= 0xc0) end = i - 1;
  }
  while (end > 0 && (datagram[end - 1] === 0x0a || datagram[end - 1] === 0x0d || datagram[end - 1] === 0)) end--;
  if (end === 0) return undefined;
  const out = Buffer.from(datagram.subarray(0, end));
  for (let i = 0; i < out.length; i++) {
    if (out[i] < 0x20 || out[i] === 0x7f) out[i] = 0x3f; // '?'
  }
  return out;
}

/** splitRecord - "Mmm dd HH:MM:SS host name[pid]: text" -> name[pid] and text (syslog redirect). */
export function splitRecord(record: string): { namePid: string; text: string } | undefined {
  const m = /^\S+\s+\S+\s+\S+\s+\S+\s+([^:\s]+):?\s*(.*)$/s.exec(record);
  return m ? { namePid: m[1], text: m[2] } : undefined;
}

export interface PostlogdOptions {
  /** tests: a clock for postlogd's own records, and a syslog socket */
  now?: () => Date;
  syslogPath?: string;
}

/** Postlogd - the service state: the open log file (or the syslog redirect). */
export class Postlogd {
  private writer: LogWriter | undefined;
  private redirect: MsgLogger | undefined;
  private redirectTag = '';
  private lastCheck = 0;

  constructor(readonly config: MailConfig, private readonly opts: PostlogdOptions = {}) {}

  /** maillogFile - where records go ("" = syslog redirect) */
  get maillogFile(): string {
    return this.config.str('maillog_file');
  }

  /**
   * open - open maillog_file or die (pre-init, before privileges are
   * dropped), and send postlogd's own records straight into it.
   */
  open(): void {
    const file = this.maillogFile;
    if (file === '') {
      this.openRedirect();
      return;
    }
    let lastComplaint = 0;
    const writer = new LogWriter(file, {
      batchMs: POSTLOGD_BATCH_MS,
      // Nowhere else to complain to but the file itself; at most every 10 seconds.
      onError: (text, lost) => {
        const now = Date.now();
        if (now - lastComplaint < 10_000) return;
        lastComplaint = now;
        writer.write(this.ownRecord(`warning: ${text}: ${lost} log record${lost === 1 ? '' : 's'} lost`));
      },
    });
    try {
      writer.open();
    } catch (e) {
      if (e instanceof LogfileError) msg.fatal(e.message);
      throw e;
    }
    this.writer = writer;
    this.lastCheck = Date.now();
    maillogClientInit(this.config, 'postlogd', { sink: (record) => writer.write(record), now: this.opts.now, daemon: true });
  }

  private ownRecord(text: string): string {
    const logger = new MsgLogger({
      progname: `${this.config.str('syslog_name')}/postlogd`,
      hostname: this.config.str('myhostname'),
      now: this.opts.now,
    });
    return logger.format('info', text);
  }

  private openRedirect(): void {
    const path = this.opts.syslogPath ?? SYSLOG_PATH;
    const facility = syslogFacility(this.config.str('syslog_facility')) ?? 2;
    if (!syslogAvailable(path)) return;
    this.redirect = new MsgLogger({
      progname: 'postlogd',
      hostname: '',
      servicePath: path,
      fallback: 'none',
      formatter: (_sev, text, now) => `<${facility * 8 + 6}>${syslogTimestamp(now)} ${this.redirectTag}: ${text}`,
      now: this.opts.now,
    });
  }

  /** service - one datagram. */
  service(datagram: Buffer): void {
    const record = sanitizeRecord(datagram);
    if (!record) return;
    if (this.writer) {
      this.checkRotated();
      this.writer.write(record.toString('utf8'));
      return;
    }
    if (this.redirect) {
      const parts = splitRecord(record.toString('utf8'));
      if (!parts) return;
      this.redirectTag = parts.namePid;
      this.redirect.log(this.redirect.format('info', parts.text));
    }
  }

  /** checkRotated - at most once a second: reopen when the file was renamed or removed. */
  private checkRotated(): void {
    const now = Date.now();
    if (now - this.lastCheck < ROTATE_CHECK_MS) return;
    this.lastCheck = now;
    if (!this.writer!.isCurrent()) this.reopen();
  }

  /** reopen - start a new file at the maillog_file path (SIGHUP, logrotate). */
  reopen(): void {
    if (!this.writer) return;
    try {
      this.writer.reopen();
    } catch (e) {
      // Keep writing to the old file rather than losing records. A postlogd
      // that dropped privileges may not create the file; the process that
      // master starts after the reload will.
      if (!(e instanceof LogfileError && /Permission denied/.test(e.reason))) msg.warn((e as Error).message);
    }
  }

  /** flushed - resolves when every record received so far is written. */
  async flushed(): Promise<void> {
    if (this.writer) await this.writer.flushed();
    if (this.redirect) await this.redirect.flushed();
  }

  /** close - write what is queued and close the file. */
  close(): void {
    this.writer?.close();
    this.redirect?.flushSync();
  }
}

/** main - postlogd under master's datagram skeleton. */
export async function main(argv: string[]): Promise<void> {
  const { dgramServerMain } = await import('../master/dgram_server.js');
  let server: Postlogd | undefined;
  await dgramServerMain(argv, {
    solitary: true,
    // Keep the socket bound: a postlogd that exits when idle would leave a gap.
    unlimited: true,
    preInit(ctx: ServerContext) {
      if (ctx.args.length > 0) msg.fatal(`unexpected command-line argument: ${ctx.args[0]}`);
      server = new Postlogd(ctx.config);
      server.open();
      process.on('SIGHUP', () => server?.reopen());
      process.on('exit', () => server?.close());
    },
    service(datagram: Buffer) {
      server!.service(datagram);
    },
  });
}

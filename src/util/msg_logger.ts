/**
 * msg_logger - send msg(3) records to the postlogd service over a
 * UNIX-domain datagram socket, or append them to the log file directly when
 * the service is not there (Postfix util/msg_logger.c + the logwriter
 * fallback of global/maillog_client.c).
 *
 * Record format (one datagram, no newline), as postlogd writes it:
 *
 *     Mmm dd HH:MM:SS host progname[pid]: text
 *
 * where host is the first label of the host name and the day is zero-padded.
 * Text is made printable (control characters become '?') and cut at 2000
 * characters, because unlimited logging is a liability.
 *
 * It must never stall its caller: sending is a non-blocking syscall; when
 * postlogd's queue is full the records wait in a bounded queue until the
 * socket is writable again; beyond the bound they are dropped and counted,
 * and a warning with the count is logged once logging works again. Only the
 * way out (exit, fatal, panic) writes synchronously.
 */

import { DgramSender, DgramError } from './msg_dgram.js';
import { LogWriter, LogfileError, logwriterOneShot, strerror } from './msg_logwriter.js';
import { loggerTimestamp } from './msg_time.js';
import type { MsgOutput, Severity } from './msg.js';

/** how long a daemon waits for the postlog socket before writing the log file itself */
const SOCKET_WAIT_MS = 5000;

/** Text beyond this many characters (after the severity prefix) is cut off. */
export const MSG_LOGGER_RECLEN = 2000;

/**
 * printable - replace ASCII control characters (and DEL) with '?', as Postfix
 * printable() does with smtputf8_enable = yes; other Unicode text is kept.
 */
export function printable(text: string, replacement = '?'): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, replacement);
}

/** firstLabel - "mail.example.com" -> "mail" */
export function firstLabel(hostname: string): string {
  const dot = hostname.indexOf('.');
  return dot < 0 ? hostname : hostname.slice(0, dot);
}

/** severityPrefixLength - how much of a msg text is the "warning: " etc. prefix. */
function severityPrefixLength(severity: Severity): number {
  return severity === 'info' ? 0 : severity.length + 2;
}

/** limitText - printable text, cut at MSG_LOGGER_RECLEN characters after the severity prefix. */
export function limitText(severity: Severity, text: string): string {
  const max = severityPrefixLength(severity) + MSG_LOGGER_RECLEN;
  return printable(text.length > max ? text.slice(0, max) : text);
}

/** formatLoggerRecord - one postlogd record (no newline). */
export function formatLoggerRecord(now: Date, hostname: string, progname: string, pid: number, text: string): string {
  return `${loggerTimestamp(now)} ${firstLabel(hostname)} ${progname}[${pid}]: ${text}`;
}

/** What to do with records when the postlog service cannot be reached. */
export type LoggerFallback =
  /** append to the file synchronously; failure is fatal (Postfix commands) */
  | 'sync'
  /** append to the file asynchronously; failure drops the records with a count (daemons) */
  | 'async'
  /** drop them with a count */
  | 'none';

export interface MsgLoggerOptions {
  /** the tag: "postfix/smtpd" */
  progname: string;
  /** $myhostname (only the first label is logged) */
  hostname: string;
  /** postlog socket ($queue_directory/public/$postlog_service_name); undefined: write the file only */
  servicePath?: string;
  /** $maillog_file, for the fallback */
  logfile?: string;
  fallback?: LoggerFallback;
  /** replaces the file fallback (postlogd logs about itself into its own writer) */
  sink?: (record: string) => void;
  /** keep the socket open this long after a burst (daemons); default 0: close when the burst is over */
  idleCloseMs?: number;
  /** records held while the service is congested (default 1000) */
  maxQueue?: number;
  /** injected clock and pid (tests) */
  now?: () => Date;
  pid?: number;
  /** another record format (syslog); default formatLoggerRecord */
  formatter?: (severity: Severity, text: string, now: Date, pid: number) => string;
  /** called when the sync fallback fails; must not return (msg.fatal) */
  fatal?: (text: string) => never;
}

/** How long the exit path waits for a congested postlogd before it writes the file itself. */
const EXIT_WAIT_MS = 2000;

/** How long a full queue waits for postlogd before records are dropped (makeRoomSync). */
const FULL_WAIT_MS = 2000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** MsgLogger - one configured logger client; `output` is the msg back-end. */
export class MsgLogger {
  private queue: string[] = [];
  private readonly sender: DgramSender | undefined;
  private congested = false;
  private closeScheduled = false;
  private dropped = 0;
  private dropReason = '';
  private fallbackBroken = false;
  private asyncWriter: LogWriter | undefined;
  private enabled = true;
  private readonly maxQueue: number;
  private waiters: Array<() => void> = [];
  /** postlogd took nothing for FULL_WAIT_MS while the queue was full (makeRoomSync) */
  private stalled = false;

  constructor(readonly opts: MsgLoggerOptions) {
    this.maxQueue = opts.maxQueue ?? 1000;
    if (opts.servicePath) {
      this.sender = new DgramSender(opts.servicePath);
      this.sender.onWritable(() => {
        this.congested = false;
        this.pump();
      });
    }
    if (opts.fallback === 'async' && opts.logfile && !opts.sink) {
      this.asyncWriter = new LogWriter(opts.logfile, {
        oneShot: true,
        onError: (text, lost) => this.noteDropped(lost, text),
      });
    }
  }

  /** format - the record for one msg text. */
  format(severity: Severity, text: string): string {
    const now = this.opts.now ? this.opts.now() : new Date();
    const pid = this.opts.pid ?? process.pid;
    if (this.opts.formatter) return this.opts.formatter(severity, text, now, pid);
    return formatLoggerRecord(now, this.opts.hostname, this.opts.progname, pid, limitText(severity, text));
  }

  /** output - the msg back-end */
  readonly output: MsgOutput = (severity, text) => {
    if (!this.enabled) return;
    this.log(this.format(severity, text));
  };

  /** log - send one formatted record. */
  log(record: string): void {
    if (!this.sender) {
      this.fallback([record]);
      return;
    }
    if (this.queue.length >= this.maxQueue && (this.stalled || !this.makeRoomSync())) {
      this.noteDropped(1, `${this.sender.path}: queue full`);
      return;
    }
    this.queue.push(record);
    this.pump();
  }

  /**
   * makeRoomSync - the queue is full because postlogd reads more slowly than
   * this process logs: wait for it, as Postfix's client does (its socket is
   * blocking, so a burst slows the program down rather than losing
   * records). The wait is bounded: a postlogd that takes nothing for
   * FULL_WAIT_MS is "stalled", and records are dropped (and counted)
   * without waiting until it reads again.
   */
  private makeRoomSync(): boolean {
    const result = this.sendSync(this.maxQueue - 1, FULL_WAIT_MS, 1);
    if (result === 'timeout') this.stalled = true;
    return result === 'done'; // on 'error' pump() deals with a gone postlogd
  }

  /** sendSync - send queued records synchronously until at most `keep` are left, pausing while postlogd is congested. */
  private sendSync(keep: number, waitMs: number, pauseMs: number): 'done' | 'timeout' | 'error' {
    const sender = this.sender!;
    const deadline = Date.now() + waitMs;
    while (this.queue.length > keep) {
      try {
        if (!sender.connected) sender.connect();
        if (sender.send(Buffer.from(this.queue[0])) === 'sent') {
          this.queue.shift();
          continue;
        }
      } catch {
        return 'error';
      }
      if (Date.now() >= deadline) return 'timeout';
      sleepSync(pauseMs);
    }
    return 'done';
  }

  /** canAdopt - this logger sends to a socket, so it can take over another's queue. */
  get canAdopt(): boolean {
    return this.sender !== undefined;
  }

  /** takePending - remove and return the queued records (re-initialisation). */
  takePending(): string[] {
    const records = this.queue;
    this.queue = [];
    return records;
  }

  /** adopt - queue records of a retired logger ahead of our own, and send them. */
  adopt(records: string[]): void {
    this.queue = records.concat(this.queue);
    if (this.queue.length > this.maxQueue) {
      this.noteDropped(this.queue.length - this.maxQueue, `${this.sender!.path}: queue full`);
      this.queue.length = this.maxQueue;
    }
    this.pump();
  }

  /** disable - stop logging (the logger was replaced by a new configuration). */
  disable(): void {
    this.enabled = false;
  }

  get pending(): number {
    return this.queue.length;
  }

  private noteDropped(n: number, reason: string): void {
    this.dropped += n;
    this.dropReason = reason;
  }

  /** takeDropWarning - the warning record about dropped records, if any. */
  private takeDropWarning(): string | undefined {
    if (this.dropped === 0) return undefined;
    const n = this.dropped;
    this.dropped = 0;
    return this.format('warning', `warning: ${n} log record${n === 1 ? '' : 's'} lost: ${this.dropReason}`);
  }

  /** pump - send queued records until done, congested, or the service is gone. */
  private pump(): void {
    const sender = this.sender!;
    let reconnects = 0;
    while (this.queue.length > 0 && !this.congested) {
      if (!sender.connected) {
        try {
          sender.connect();
        } catch (e) {
          this.unavailable(e);
          return;
        }
      }
      let result;
      try {
        result = sender.send(Buffer.from(this.queue[0]));
      } catch (e) {
        const code = e instanceof DgramError ? e.code : '';
        sender.close();
        if (code === 'ECONNREFUSED' || code === 'ENOTCONN' || code === 'EPIPE' || code === 'ENOENT') {
          // postlogd restarted: reconnect once, else it is gone.
          if (reconnects++ === 0) continue;
          this.unavailable(e);
          return;
        }
        // The record itself is bad (EMSGSIZE ...): drop it.
        this.queue.shift();
        this.noteDropped(1, `send to ${sender.path}: ${(e as Error).message}`);
        continue;
      }
      if (result === 'congested') {
        this.congested = true;
        return;
      }
      this.queue.shift();
      this.unavailableSince = 0;
      this.stalled = false;
      // The lost records came after those still queued: report them there.
      if (this.dropped > 0 && this.queue.length < this.maxQueue) this.queue.push(this.takeDropWarning()!);
    }
    if (this.queue.length === 0) this.idle();
  }

  /** idle - close the socket once a burst is over, so that commands can exit. */
  private idle(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
    if (this.closeScheduled) return;
    this.closeScheduled = true;
    const close = () => {
      this.closeScheduled = false;
      if (this.queue.length === 0 && !this.congested) this.sender?.close();
    };
    if (this.opts.idleCloseMs) setTimeout(close, this.opts.idleCloseMs);
    else setImmediate(close);
  }

  /** since when the postlog socket has been missing (0: it is there) */
  private unavailableSince = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  /** unavailable - the service socket is not there: hand the queue to the fallback. */
  private unavailable(e: unknown): void {
    // A daemon that starts with the instance may log before postlogd has bound
    // its socket (and as mail_owner it may not append to the file itself):
    // keep the records and try again for a few seconds before falling back.
    if (this.opts.fallback === 'async' && !this.opts.sink) {
      const now = Date.now();
      if (this.unavailableSince === 0) this.unavailableSince = now;
      if (now - this.unavailableSince < SOCKET_WAIT_MS) {
        if (!this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.pump();
          }, 200);
          this.retryTimer.unref?.();
        }
        return;
      }
    }
    this.unavailableSince = 0;
    const records = this.queue;
    this.queue = [];
    const code = e instanceof DgramError ? e.code : String(e);
    if (this.opts.sink || (this.opts.fallback && this.opts.fallback !== 'none' && this.opts.logfile)) {
      this.fallback(records);
    } else {
      this.noteDropped(records.length, `postlog service ${this.sender!.path}: ${code}`);
    }
    this.idle();
  }

  /** fallback - write records to the sink or the log file. */
  private fallback(records: string[]): void {
    if (this.opts.sink) {
      const warning = this.takeDropWarning();
      if (warning) this.opts.sink(warning);
      for (const r of records) this.opts.sink(r);
      return;
    }
    const path = this.opts.logfile;
    if (!path || this.opts.fallback === 'none' || !this.opts.fallback) {
      this.noteDropped(records.length, 'no log file to fall back to');
      return;
    }
    if (this.opts.fallback === 'async') {
      for (const r of records) this.asyncWriter!.write(r);
      return;
    }
    if (this.fallbackBroken) return;
    for (const r of records) {
      try {
        logwriterOneShot(path, r);
      } catch (e) {
        this.fallbackBroken = true;
        const text = e instanceof LogfileError ? e.message : `logfile '${path}' write error: ${strerror(e)}`;
        if (this.opts.fatal) this.opts.fatal(text);
        return;
      }
    }
  }

  /** flushed - resolves when the queue is empty (sent, written, or dropped). */
  async flushed(): Promise<void> {
    if (this.retryTimer) {
      // Someone waits for the log to be written: stop waiting for postlogd.
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.unavailableSince = 1;
      this.pump();
    }
    if (this.queue.length > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.asyncWriter) await this.asyncWriter.flushed();
  }

  /**
   * flushSync - the way out: send what is queued, waiting a little for a
   * congested postlogd, then write the rest to the file directly.
   */
  flushSync(): void {
    const sender = this.sender;
    if (sender && this.queue.length > 0) {
      if (this.sendSync(0, EXIT_WAIT_MS, 5) === 'error') sender.close();
      this.congested = false;
    }
    if (this.queue.length > 0) {
      const rest = this.queue;
      this.queue = [];
      if (this.opts.sink) this.fallback(rest);
      else if (this.opts.logfile && this.opts.fallback !== 'none' && this.opts.fallback) {
        for (const r of rest) {
          try {
            logwriterOneShot(this.opts.logfile, r);
          } catch {
            break;
          }
        }
      }
    }
    this.asyncWriter?.flushSync();
    sender?.close();
  }
}

/**
 * sendmail - the Sendmail-compatible front end (Postfix sendmail(1));
 * also run as mailq (sendmail -bp) and newaliases (sendmail -bi).
 *
 * In delivery mode it reads one message from standard input as a stream
 * (a line at a time, never the whole message) and writes the maildrop
 * record stream: envelope (envelope id, rewrite context, full name, sender,
 * encoding, trace flags, VERP, recipients), the content as N/L records, the
 * extracted segment (recipients from headers with -t) and the end marker.
 * The records go through the postdrop whitelist (src/postdrop/maildrop.ts)
 * in this process: postdrop has no privilege to gain in this design (the
 * maildrop directory is sticky and world-writable), and a second Node
 * process would triple the start-up cost. The other modes run the program
 * that does the work: postqueue (-bp, -q, -qR, -qI), postalias (-bi),
 * postfix start (-bd), smtpd -S (-bs).
 *
 * Diagnostics and exit status are Postfix's: every fatal error exits 75
 * (EX_TEMPFAIL), because Postfix's sendmail installs a tempfail cleanup
 * handler that runs before the intended status is used.
 */

import { basename, join } from 'node:path';
import { MailConfig, defaultConfigDirectory } from '../global/mail_conf.js';
import { REC } from '../global/rec_type.js';
import { tok822GrepAddr, tok822Internalize, tok822Parse } from '../global/tok822.js';
import { cleanupStrerror, CLEANUP_STAT } from '../global/cleanup_user.js';
import { msg, msgAddOutput, msgCleanup, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { Getopt } from '../util/getopt.js';
import { MaildropWriter, PostdropError, kickPickup } from '../postdrop/maildrop.js';
import { EX, checkUserAclAsync, confInt, confStr, currentUid, fullname, readInput, stderrName, stderrOutput, username } from '../postdrop/submit_common.js';

const GETOPT_LIST = 'A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx';

enum Mode {
  ENQUEUE = 1,
  NEWALIAS,
  MAILQ,
  DAEMON,
  USER,
  FLUSHQ,
  IGNORE,
}

/** Sendmail-private flags; 8..15 are the delivery request trace flags. */
const SM_FLAG_AEOF = 1 << 0;
const SM_FLAG_XRCPT = 1 << 1;
const DEL_REQ_FLAG_MTA_VRFY = 1 << 8;
const DEL_REQ_FLAG_USR_VRFY = 1 << 9;
const DEL_REQ_FLAG_RECORD = 1 << 10;
const TRACE_FLAGS = DEL_REQ_FLAG_MTA_VRFY | DEL_REQ_FLAG_USR_VRFY | DEL_REQ_FLAG_RECORD;
const TRACE_ONLY = DEL_REQ_FLAG_MTA_VRFY | DEL_REQ_FLAG_USR_VRFY;

/** DSN NOTIFY keywords (dsn_mask.c). */
const DSN_NOTIFY_WORDS: Record<string, number> = { NEVER: 1, SUCCESS: 2, FAILURE: 4, DELAY: 8 };

/** dsnNotifyMask - "success,delay" to a bit mask; 0 for bad input (with Postfix's warning). */
export function dsnNotifyMask(value: string): number {
  let mask = 0;
  for (const word of value.split(/[\s,]+/).filter((w) => w.length > 0)) {
    if (msgVerbose) msg.info(`name_mask: ${word}`);
    const bit = DSN_NOTIFY_WORDS[word.toUpperCase()];
    if (bit === undefined) {
      msg.warn(`unknown DSN NOTIFY command value "${word}" in "${value}"`);
      return 0;
    }
    mask |= bit;
  }
  if (mask & DSN_NOTIFY_WORDS.NEVER && mask & ~DSN_NOTIFY_WORDS.NEVER) return 0;
  return mask;
}

/** Options of one delivery-mode submission. */
export interface EnqueueOptions {
  flags: number;
  encoding?: string;
  dsnEnvid?: string;
  /** -R: DSN RET (1 = FULL, 2 = HDRS), 0 = not given */
  dsnRet?: number;
  dsnNotify: number;
  rewriteContext: string;
  sender?: string;
  fullName?: string;
  verpDelims?: string;
  recipients: string[];
  /** where the message comes from (default: file descriptor 0) */
  inputFd?: number;
}

/** SmState - what -t collects from the headers. */
interface Extract {
  recipients: string[];
  resentRecipients: string[];
  resent: boolean;
}

/** Header names whose addresses -t takes (header_opts.c: HDR_OPT_RECIP|HDR_OPT_EXTRACT). */
const EXTRACT_HEADERS: Record<string, boolean> = {
  to: false,
  cc: false,
  bcc: false,
  'resent-to': true,
  'resent-cc': true,
  'resent-bcc': true,
};

/** headerNameLength - length of "Name" when the line starts a header "Name:" (is_header()), else 0. */
export function headerNameLength(line: string): number {
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === 0x3a) return i > 0 ? i : 0;
    if (c <= 0x20 || c > 0x7e) break;
    i++;
  }
  if (i === 0) return 0;
  const nameLen = i;
  while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
  return line[i] === ':' ? nameLen : 0;
}

/** StdinLines - rec_streamlf_get(): lines of at most maxLen bytes from a file descriptor. */
export class FdLines {
  private buf = Buffer.allocUnsafe(256 * 1024);
  private start = 0;
  private end = 0;
  private eof = false;
  error: NodeJS.ErrnoException | undefined;

  constructor(
    private readonly fd: number,
    private readonly maxLen: number,
  ) {}

  /**
   * fill - read the next chunk (readInput(): in the thread pool, so a
   * signal can still remove the queue file); a read error ends the input.
   */
  async fill(): Promise<void> {
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    try {
      const n = await readInput(this.fd, this.buf, this.end);
      if (n === 0) this.eof = true;
      this.end += n;
    } catch (e) {
      this.error = e as NodeJS.ErrnoException;
      this.eof = true;
    }
  }

  /**
   * next - type NORM (line ended in LF, LF removed) or CONT (no LF within
   * maxLen, or at EOF); null at EOF; 'more' when fill() must run first.
   * The data is a view into the buffer, valid until the next fill().
   */
  next(): { type: number; data: Buffer } | null | 'more' {
    const limit = Math.min(this.end, this.start + this.maxLen);
    const nl = this.buf.subarray(this.start, limit).indexOf(10);
    if (nl >= 0) {
      const data = this.buf.subarray(this.start, this.start + nl);
      this.start += nl + 1;
      return { type: REC.NORM, data };
    }
    if (this.end - this.start >= this.maxLen) {
      const data = this.buf.subarray(this.start, this.start + this.maxLen);
      this.start += this.maxLen;
      return { type: REC.CONT, data };
    }
    if (this.eof) {
      if (this.end > this.start) {
        const data = this.buf.subarray(this.start, this.end);
        this.start = this.end;
        return { type: REC.CONT, data };
      }
      return null;
    }
    return 'more';
  }
}

/**
 * enqueue - post one message (sendmail.c enqueue()). Fatal errors go
 * through msg.fatal; the maildrop file is removed by the cleanup hook.
 */
export async function enqueue(config: MailConfig, o: EnqueueOptions): Promise<void> {
  const uid = currentUid();
  const denied = await checkUserAclAsync(config, 'authorized_submit_users', uid);
  if (denied !== null) msg.fatal(`User ${denied}(${uid}) is not allowed to submit mail`, EX.NOPERM);

  let savedSender: string;
  if (o.sender !== undefined) {
    const addrs = tok822GrepAddr(tok822Parse(o.sender));
    savedSender = addrs.length > 0 ? tok822Internalize(addrs[0].head ?? []) : '';
    if (addrs.length > 1) msg.warn(`-f option specified malformed sender: ${o.sender}`);
  } else {
    const login = username(uid);
    if (login === undefined) return msg.fatal(`no login name found for user ID ${uid}`, EX.OSERR);
    savedSender = login;
  }
  const who = `${savedSender}(${uid})`;
  const lineLimit = confInt(config, 'line_length_limit', 2048);
  const headerLimit = confInt(config, 'header_size_limit', 102400);

  const fixEol = confStr(config, 'sendmail_fix_line_endings', 'always');
  type StripCr = 'dunno' | 'do' | 'dont';
  let stripCr: StripCr;
  if (fixEol === 'always') stripCr = 'do';
  else if (fixEol === 'strict') stripCr = 'dunno';
  else if (fixEol === 'never') stripCr = 'dont';
  else return msg.fatal(`invalid sendmail_fix_line_endings value: ${fixEol}`, EX.USAGE);

  const dst = new MaildropWriter(config, uid);
  msgCleanup(() => dst.abort());
  // An interrupted submission leaves nothing behind (postdrop.c postdrop_sig()).
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      dst.abort();
      process.kill(process.pid, sig);
    });
  }
  try {
    await dst.open();
  } catch (e) {
    return msg.fatal(`${who}: unable to create queue file: ${(e as Error).message}`, EX.UNAVAILABLE);
  }
  const put = (type: number, data: Buffer | string): void => {
    try {
      dst.put(type, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    } catch (e) {
      if (e instanceof PostdropError) {
        // what Postfix's postdrop would have said on its way out, then sendmail's view of it
        stderrName.value = 'postdrop';
        if (e.warning) msg.warn(e.warning);
        process.stderr.write(`postdrop: fatal: ${e.message}\n`);
        stderrName.value = basename(process.argv[1] ?? 'sendmail');
        msg.fatal(`${who}: queue file write error`, EX.TEMPFAIL);
      }
      msg.fatal(`${who}: error writing queue file: ${(e as Error).message}`, EX.TEMPFAIL);
    }
  };

  // Envelope.
  if (o.dsnEnvid !== undefined) put(REC.ATTR, `envelope_id=${o.dsnEnvid}`);
  if (o.dsnRet) put(REC.ATTR, `ret_flags=${o.dsnRet}`);
  put(REC.ATTR, `rewrite_context=${o.rewriteContext}`);
  const full = o.fullName ?? fullname(uid);
  if (full !== undefined) put(REC.FULL, full);
  put(REC.FROM, savedSender);
  if (o.verpDelims !== undefined && savedSender === '') {
    msg.fatal(`${who}: -V option requires non-null sender address`, EX.USAGE);
  }
  if (o.encoding !== undefined) put(REC.ATTR, `encoding=${o.encoding}`);
  if (o.flags & TRACE_FLAGS) put(REC.ATTR, `trace_flags=${o.flags & TRACE_FLAGS}`);
  if (o.verpDelims !== undefined) put(REC.VERP, o.verpDelims);
  let rcptCount = 0;
  for (const arg of o.recipients) {
    let n = 0;
    for (const addr of tok822GrepAddr(tok822Parse(arg))) {
      if (o.dsnNotify) put(REC.ATTR, `notify_flags=${o.dsnNotify}`);
      put(REC.RCPT, tok822Internalize(addr.head ?? []));
      rcptCount++;
      n++;
    }
    if (n === 0) {
      put(REC.RCPT, '');
      rcptCount++;
    }
  }

  // Content.
  put(REC.MESG, '');
  const extract: Extract = { recipients: [], resentRecipients: [], resent: false };
  if (o.flags & TRACE_ONLY) {
    if (o.flags & SM_FLAG_XRCPT) msg.fatal(`${who}: -t option cannot be used with -bv`, EX.USAGE);
    if (savedSender) put(REC.NORM, `From: ${savedSender}`);
    put(REC.NORM, 'Subject: probe');
    if (o.recipients.length > 0) {
      put(REC.CONT, 'To:');
      o.recipients.forEach((r, i) => put(REC.NORM, `\t${r}${i + 1 < o.recipients.length ? ',' : ''}`));
    }
  } else {
    const lines = new FdLines(o.inputFd ?? 0, lineLimit);
    const xrcpt = (o.flags & SM_FLAG_XRCPT) !== 0;
    // -t header state: the header being collected (latin1 keeps bytes), and whether we are past the headers
    let inHeaders = xrcpt;
    let header: string | null = null;
    let headerLen = 0;
    let prevPhysCont = false;
    let lastBodyType = 0;

    const outputHeader = (text: string): void => {
      const nameLen = headerNameLength(text);
      const name = text.slice(0, nameLen).toLowerCase();
      const rr = Object.hasOwn(EXTRACT_HEADERS, name) ? EXTRACT_HEADERS[name] : undefined;
      if (rr !== undefined && (!extract.resent || rr)) {
        let list = extract.recipients;
        if (rr) {
          list = extract.resentRecipients;
          extract.resent = true;
        }
        const value = text.slice(text.indexOf(':') + 1);
        for (const addr of tok822GrepAddr(tok822Parse(value))) list.push(tok822Internalize(addr.head ?? []));
      }
      for (let line of text.split('\n')) {
        while (line.length > lineLimit) {
          put(REC.CONT, Buffer.from(line.slice(0, lineLimit), 'latin1'));
          line = line.slice(lineLimit);
        }
        put(REC.NORM, Buffer.from(line, 'latin1'));
      }
    };

    let skipFrom = true;
    let prevType = 0;
    for (;;) {
      const rec = lines.next();
      if (rec === null) break;
      if (rec === 'more') {
        await lines.fill();
        continue;
      }
      const thisPrev = prevType;
      prevType = rec.type;
      let { type, data } = rec;
      if (stripCr === 'dunno' && type === REC.NORM) {
        stripCr = data.length > 0 && data[data.length - 1] === 13 ? 'do' : 'dont';
      }
      if (skipFrom) {
        if (type === REC.NORM) {
          let i = 0;
          while (i < data.length && data[i] === 0x3e) i++;
          if (data.subarray(i, i + 5).toString('latin1') === 'From ') continue;
        }
        skipFrom = false;
      }
      if (stripCr === 'do' && type === REC.NORM) {
        let end = data.length;
        while (end > 0 && data[end - 1] === 13) end--;
        if (end !== data.length) data = data.subarray(0, end);
      }
      if (o.flags & SM_FLAG_AEOF && thisPrev !== REC.CONT && data.length === 1 && data[0] === 0x2e) break;
      if (!inHeaders) {
        put(type, data);
        lastBodyType = type;
        continue;
      }
      // -t: collect headers (mime_state with MIME disabled)
      const text = data.toString('latin1');
      if (header !== null && prevPhysCont) {
        header += text;
      } else if (header !== null && (text.startsWith(' ') || text.startsWith('\t'))) {
        header += '\n' + text;
      } else if (headerNameLength(text) > 0) {
        if (header !== null) outputHeader(header);
        // "Name :" becomes "Name:", as Postfix's MIME processor writes it
        header = text.replace(/^([^:\s]+)[ \t]+:/, '$1:');
        headerLen = 0;
      } else {
        if (header !== null) outputHeader(header);
        header = null;
        inHeaders = false;
        // the header ends without an empty line: one is supplied, as Postfix's MIME processor does
        if (data.length > 0) put(REC.NORM, '');
        put(type, data);
        lastBodyType = type;
        continue;
      }
      headerLen += data.length + 1;
      if (headerLen > headerLimit) {
        msg.fatal(`${who}: unable to extract recipients: message header length exceeds safety limit`, EX.DATAERR);
      }
      prevPhysCont = type === REC.CONT;
    }
    if (inHeaders && header !== null) outputHeader(header);
    // with -t, an unterminated last line is terminated (the MIME processor flushes it)
    if (xrcpt && lastBodyType === REC.CONT) put(REC.NORM, '');
    if (lines.error) msg.fatal(`${who}: error reading input: ${lines.error.message}`, EX.DATAERR);
  }

  // Extracted segment.
  put(REC.XTRA, '');
  if (o.flags & SM_FLAG_XRCPT) {
    for (const r of extract.resent ? extract.resentRecipients : extract.recipients) {
      if (o.dsnNotify) put(REC.ATTR, `notify_flags=${o.dsnNotify}`);
      put(REC.RCPT, Buffer.from(r, 'latin1'));
      rcptCount++;
    }
  }
  if (rcptCount === 0) {
    msg.fatal(
      o.flags & SM_FLAG_XRCPT
        ? `${who}: No recipient addresses found in message header`
        : `${who}: Recipient addresses must be specified on the command line or via the -t option`,
      EX.USAGE,
    );
  }
  put(REC.END, '');

  stderrName.value = 'postdrop';
  const finished = await dst.finish();
  stderrName.value = basename(process.argv[1] ?? 'sendmail');
  const reason = finished.reason;
  let status = finished.status;
  if (status & (CLEANUP_STAT.SIZE | CLEANUP_STAT.WRITE)) {
    // postdrop reports the status and then exits with it; mail_stream_finish() sees the non-zero exit.
    msg.warn('mail_stream_cleanup: close error');
    status |= CLEANUP_STAT.WRITE;
  }
  if (status !== 0) {
    msg.fatal(
      `${who}: ${reason || cleanupStrerror(status)}`,
      status & CLEANUP_STAT.BAD ? EX.SOFTWARE : status & CLEANUP_STAT.WRITE ? EX.TEMPFAIL : EX.UNAVAILABLE,
    );
  }
  stderrName.value = 'postdrop';
  await kickPickup(config);
  stderrName.value = basename(process.argv[1] ?? 'sendmail');
  if (o.flags & TRACE_FLAGS) process.stdout.write(`Mail Delivery Status Report will be mailed to <${savedSender}>.\n`);
}

/** runCommand - run a Postfix program in the foreground and exit with its status (mail_run_replace()). */
async function runReplace(dir: string, argv: string[]): Promise<never> {
  const path = join(dir, argv[0]);
  const { spawn } = await import('node:child_process');
  return new Promise<never>(() => {
    const child = spawn(path, argv.slice(1), { stdio: 'inherit', argv0: argv[0] });
    child.on('error', (err: NodeJS.ErrnoException) => {
      msg.fatal(`mail_run_replace: execvp ${path}: ${err.code === 'ENOENT' ? 'No such file or directory' : err.message}`);
    });
    child.on('exit', (code, signal) => {
      if (signal) process.kill(process.pid, signal);
      process.exit(code ?? 1);
    });
  });
}

/** runBackground - start a Postfix program and do not wait for it (mail_run_background()). */
async function runBackground(dir: string, argv: string[]): Promise<number> {
  const path = join(dir, argv[0]);
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(path, argv.slice(1), { stdio: 'inherit', detached: true });
    child.on('error', (err) => {
      msg.warn(`mail_run_background: execvp ${path}: ${err.message}`);
      resolve(1);
    });
    child.on('spawn', () => {
      child.unref();
      resolve(0);
    });
  });
}

/** main - sendmail, mailq, newaliases. */
export async function main(argv: string[]): Promise<void> {
  const progname = basename(process.argv[1] ?? 'sendmail');
  process.umask(0o022);
  msgAddOutput(stderrOutput(progname));
  // Postfix sendmail's run-time error handler exits with EX_TEMPFAIL before the
  // intended status is used; hooks run last-in first-out, so this one runs last.
  msgCleanup(() => process.exit(EX.TEMPFAIL));
  if (process.env.MAIL_VERBOSE) setMsgVerbose(1);

  // Pre-scan for -C, so that the right main.cf is read before anything else.
  const pre = new Getopt(argv, GETOPT_LIST, progname);
  while (pre.optind < argv.length) {
    if (pre.atStart && argv[pre.optind] === '-q') {
      pre.optind++;
      continue;
    }
    const c = pre.next();
    if (c === -1) break;
    if (c === 'C') {
      const base = basename(pre.optarg);
      process.env.MAIL_CONFIG = base === 'main.cf' ? pre.optarg.slice(0, pre.optarg.length - base.length - 1) || '/' : pre.optarg;
    }
  }
  const config = MailConfig.load(defaultConfigDirectory());
  config.setRuntime('process_name', progname);
  // also to the mail log (postlogd or syslog), as Postfix's msg_syslog_init() does
  const { maillogClientInit } = await import('../global/maillog_client.js');
  maillogClientInit(config, progname, { daemon: false });
  const queueDir = config.str('queue_directory');
  try {
    process.chdir(queueDir);
  } catch (e) {
    msg.fatal(`chdir ${queueDir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`, EX.UNAVAILABLE);
  }

  let mode = progname === 'mailq' ? Mode.MAILQ : progname === 'newaliases' ? Mode.NEWALIAS : progname === 'smtpd' ? Mode.DAEMON : Mode.ENQUEUE;
  let flags = SM_FLAG_AEOF;
  let sender: string | undefined;
  let fullName: string | undefined;
  let encoding: string | undefined;
  let dsnEnvid: string | undefined;
  let dsnNotify = 0;
  let dsnRet = 0;
  let rewriteContext = 'local';
  let verpDelims: string | undefined;
  let siteToFlush: string | undefined;
  let idToFlush: string | undefined;
  let qtime: string | undefined;
  let aliasDb: string | undefined;
  let verbose = msgVerbose;

  const g = new Getopt(argv, GETOPT_LIST, progname);
  while (g.optind < argv.length) {
    if (g.atStart) {
      const arg = argv[g.optind];
      if (arg === '-q') {
        if (mode === Mode.DAEMON) msg.warn('ignoring -q option in daemon mode');
        else mode = Mode.FLUSHQ;
        g.optind++;
        continue;
      }
      if (arg === '-V' && argv[g.optind + 1] !== undefined && argv[g.optind + 1].length === 2) {
        msg.warn('option -V is deprecated with Postfix 2.3; specify -XV instead');
        argv[g.optind] = '-XV';
      } else if (arg.startsWith('-V') && arg.length === 4) {
        msg.warn(`option ${arg} is deprecated with Postfix 2.3; specify -X${arg.slice(1)} instead`);
        argv[g.optind] = '-X' + arg.slice(1);
      }
      if (argv[g.optind] === '-XV') {
        verpDelims = confStr(config, 'default_verp_delimiters', '+=');
        g.optind++;
        continue;
      }
    }
    const c = g.next();
    if (c === -1) break;
    const optarg = g.optarg;
    switch (c) {
      default:
        if (verbose) msg.info(`-${c} option ignored`);
        break;
      case 'n':
        msg.fatal(`-${c} option not supported`, EX.USAGE);
        break;
      case 'B':
        if (optarg === '8BITMIME') encoding = '8bit';
        else if (optarg === '7BIT') encoding = '7bit';
        else msg.fatal('-B option needs 8BITMIME or 7BIT', EX.USAGE);
        break;
      case 'F':
        fullName = optarg;
        break;
      case 'G':
        rewriteContext = 'remote';
        break;
      case 'I':
        mode = Mode.NEWALIAS;
        break;
      case 'N':
        setMsgVerbose(verbose);
        dsnNotify = dsnNotifyMask(optarg);
        if (dsnNotify === 0) msg.warn('bad -N option value -- ignored');
        break;
      case 'R': {
        const ret = ({ FULL: 1, HDRS: 2 } as Record<string, number>)[optarg.toUpperCase()];
        if (ret === undefined) msg.warn('bad -R option value -- ignored');
        else dsnRet = ret;
        break;
      }
      case 'V':
        if (optarg.length > 100) msg.warn('too long -V option value -- ignored');
        else if (!/^[\x20-\x7e]*$/.test(optarg)) msg.warn('bad syntax in -V option value -- ignored');
        else dsnEnvid = optarg;
        break;
      case 'X':
        if (optarg[0] !== 'V') msg.fatal(`unsupported: -${c}${optarg[0] ?? ''}`, EX.USAGE);
        {
          const filter = confStr(config, 'verp_delimiter_filter', '-=+');
          const d = optarg.slice(1);
          if (d.length !== 2 || !filter.includes(d[0]) || !filter.includes(d[1])) {
            msg.fatal(`-V requires two characters from ${filter}`, EX.USAGE);
          }
          verpDelims = d;
        }
        break;
      case 'b':
        switch (optarg[0]) {
          default:
            msg.fatal(`unsupported: -${c}${optarg[0] ?? ''}`, EX.USAGE);
            break;
          case 'd':
            if (mode === Mode.FLUSHQ) msg.warn('ignoring -q option in daemon mode');
            mode = Mode.DAEMON;
            break;
          case 'h':
          case 'H':
            mode = Mode.IGNORE;
            break;
          case 'i':
            mode = Mode.NEWALIAS;
            break;
          case 'm':
            mode = Mode.ENQUEUE;
            break;
          case 'p':
            mode = Mode.MAILQ;
            break;
          case 's':
            mode = Mode.USER;
            break;
          case 'v':
            flags |= DEL_REQ_FLAG_USR_VRFY;
            break;
        }
        break;
      case 'f':
      case 'r':
        sender = optarg;
        break;
      case 'i':
        flags &= ~SM_FLAG_AEOF;
        break;
      case 'o':
        switch (optarg[0]) {
          default:
            if (verbose) msg.info(`-${c}${optarg[0] ?? ''} option ignored`);
            break;
          case 'A':
            if (optarg.length < 2) msg.fatal('-oA requires pathname', EX.USAGE);
            aliasDb = optarg.slice(1);
            break;
          case '7':
          case '8':
          case 'm':
            break;
          case 'i':
            flags &= ~SM_FLAG_AEOF;
            break;
        }
        break;
      case 'q':
        if (/^[0-9]/.test(optarg)) qtime = optarg;
        else if (optarg[0] === 'R') {
          siteToFlush = optarg.slice(1);
          if (!siteToFlush) msg.fatal('specify: -qRsitename', EX.USAGE);
        } else if (optarg[0] === 'I') {
          idToFlush = optarg.slice(1);
          if (!idToFlush) msg.fatal('specify: -qIqueueid', EX.USAGE);
        } else msg.fatal(`-q${optarg[0] ?? ''} is not implemented`, EX.USAGE);
        break;
      case 't':
        flags |= SM_FLAG_XRCPT;
        break;
      case 'v':
        verbose++;
        break;
      case '?':
        msg.fatal(`usage: ${progname} [options]`, EX.USAGE);
    }
  }
  const rest = argv.slice(g.optind);

  if (flags & SM_FLAG_XRCPT && mode !== Mode.ENQUEUE) msg.fatal('-t can be used only in delivery mode', EX.USAGE);
  if (siteToFlush !== undefined && mode !== Mode.ENQUEUE) msg.fatal('-qR can be used only in delivery mode', EX.USAGE);
  if (idToFlush !== undefined && mode !== Mode.ENQUEUE) msg.fatal('-qI can be used only in delivery mode', EX.USAGE);
  if (flags & DEL_REQ_FLAG_USR_VRFY) {
    if (flags & SM_FLAG_XRCPT) msg.fatal('-t option cannot be used with -bv', EX.USAGE);
    if (dsnNotify) msg.fatal('-N option cannot be used with -bv', EX.USAGE);
    if (dsnRet) msg.fatal('-R option cannot be used with -bv', EX.USAGE);
    if (verbose === 1) msg.fatal('-v option cannot be used with -bv', EX.USAGE);
  }
  // -v plays double duty: once requests a delivery report, more requests verbose logging.
  if (verbose === 1 && mode === Mode.ENQUEUE) {
    verbose = 0;
    flags |= DEL_REQ_FLAG_RECORD;
  }
  setMsgVerbose(verbose);
  const vflags = Array.from({ length: verbose }, () => '-v');

  if (qtime !== undefined && mode !== Mode.DAEMON) process.exit(0);
  const commandDir = config.str('command_directory');
  switch (mode) {
    case Mode.ENQUEUE:
      if (siteToFlush !== undefined) {
        if (rest.length) msg.fatal('flush site requires no recipient', EX.USAGE);
        return runReplace(commandDir, ['postqueue', '-s', siteToFlush, ...vflags]);
      }
      if (idToFlush !== undefined) {
        if (rest.length) msg.fatal('flush queue_id requires no recipient', EX.USAGE);
        return runReplace(commandDir, ['postqueue', '-i', idToFlush, ...vflags]);
      }
      await enqueue(config, {
        flags,
        encoding,
        dsnEnvid,
        dsnRet,
        dsnNotify,
        rewriteContext,
        sender,
        fullName,
        verpDelims,
        recipients: rest,
      });
      process.exit(0);
      break;
    case Mode.MAILQ:
      if (rest.length) msg.fatal('display queue mode requires no recipient', EX.USAGE);
      return runReplace(commandDir, ['postqueue', '-p', ...vflags]);
    case Mode.FLUSHQ:
      if (rest.length) msg.fatal('flush queue mode requires no recipient', EX.USAGE);
      return runReplace(commandDir, ['postqueue', '-f', ...vflags]);
    case Mode.DAEMON: {
      if (rest.length) msg.fatal('daemon mode requires no recipient', EX.USAGE);
      const err = await runBackground(commandDir, ['postfix', ...vflags, 'start']);
      process.exit(err);
      break;
    }
    case Mode.NEWALIAS: {
      if (rest.length) msg.fatal('alias initialization mode requires no recipient', EX.USAGE);
      const maps = aliasDb ?? confStr(config, 'alias_database', 'hash:/etc/aliases');
      if (maps.trim() === '') process.exit(0);
      return runReplace(commandDir, ['postalias', ...vflags, ...maps.split(/[,\s]+/).filter((m) => m.length > 0)]);
    }
    case Mode.USER: {
      if (rest.length) msg.fatal('stand-alone mode requires no recipient', EX.USAGE);
      const uid = currentUid();
      const denied = await checkUserAclAsync(config, 'authorized_submit_users', uid);
      if (denied !== null) msg.fatal(`User ${denied}(${uid}) is not allowed to submit mail`, EX.NOPERM);
      return runReplace(config.str('daemon_directory'), ['smtpd', '-S', ...vflags]);
    }
    case Mode.IGNORE:
      process.exit(0);
  }
}

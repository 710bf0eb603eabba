/**
 * smtp-sink - multi-threaded SMTP/LMTP test server (Postfix smtp-sink(1)).
 *
 * Accepts SMTP or LMTP sessions and throws the mail away, as fast as it can,
 * to measure clients. One process serves every connection on one event
 * loop. Commands are parsed from the raw byte stream; replies to pipelined
 * commands are collected and written once per input chunk; message content
 * is scanned for the end-of-data sequence without copying unless it must be
 * dumped (-d/-D). Error injection per command (-r soft, -f hard, -q
 * disconnect), counters (-c), dumps with X-Client/X-Helo/X-Mail/X-Rcpt
 * headers and a Received: line, and the reply texts are Postfix's.
 *
 * Untrusted input is bounded: command lines longer than 2048 bytes end the
 * session ("command line too long").
 */

import { createServer, type Server, type Socket } from 'node:net';
import { mkdirSync, openSync, writeSync, closeSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Getopt } from '../util/getopt.js';
import { msg, msgAddOutput, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { getpwnam, mailDate, stderrOutput } from '../postdrop/submit_common.js';

const MAX_LINE = 2048;

export interface SinkOptions {
  hostname: string;
  enableLmtp: boolean;
  disableEsmtp: boolean;
  disablePipelining: boolean;
  disable8bitmime: boolean;
  disableSaslauth: boolean;
  disableXclient: boolean;
  disableXforward: boolean;
  disableEnhstat: boolean;
  pretendPix: boolean;
  count: boolean;
  softReply: string;
  hardReply: string;
  softCmds: Set<string>;
  hardCmds: Set<string>;
  quitCmds: Set<string>;
  dataDelay: number;
  maxSessions: number;
  maxMessages: number;
  dumpTemplate?: string;
  dumpAppend: boolean;
  /** -S: text prepended to each dumped message (C escapes already expanded) */
  startString?: string;
  /** -A: seconds after the DATA reply before aborting with 550 (undefined: never) */
  abortDelay?: number;
  /** -t: seconds a client may stay silent */
  timeout: number;
  out: (text: string) => void;
}

export function defaultSinkOptions(): SinkOptions {
  return {
    hostname: 'smtp-sink',
    enableLmtp: false,
    disableEsmtp: false,
    disablePipelining: false,
    disable8bitmime: false,
    disableSaslauth: false,
    disableXclient: false,
    disableXforward: false,
    disableEnhstat: false,
    pretendPix: false,
    count: false,
    softReply: '450 4.3.0 Error: command failed',
    hardReply: '500 5.3.0 Error: command failed',
    softCmds: new Set(),
    hardCmds: new Set(),
    quitCmds: new Set(),
    dataDelay: 0,
    maxSessions: 0,
    maxMessages: 0,
    dumpAppend: false,
    timeout: 100,
    out: (t) => process.stdout.write(t),
  };
}

const KNOWN = new Set(['helo', 'ehlo', 'lhlo', 'xclient', 'xforward', 'auth', 'mail', 'rcpt', 'data', 'rset', 'noop', 'vrfy', 'quit', 'etrn', 'bdat', 'starttls', 'help']);

/** Counters shared by all sessions (what -c prints and the benchmark reads). */
export interface SinkStats {
  sessions: number;
  quits: number;
  messages: number;
  recipients: number;
  bytes: number;
}

/** strftime - the few conversions dump templates use. */
export function strftime(fmt: string, d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return fmt.replace(/%([a-zA-Z%])/g, (_m, c: string) => {
    switch (c) {
      case 'Y': return String(d.getFullYear());
      case 'y': return p(d.getFullYear() % 100);
      case 'm': return p(d.getMonth() + 1);
      case 'd': return p(d.getDate());
      case 'H': return p(d.getHours());
      case 'M': return p(d.getMinutes());
      case 'S': return p(d.getSeconds());
      case 'j': return p(Math.floor((d.getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86400000) + 1, 3);
      case 's': return String(Math.floor(d.getTime() / 1000));
      case '%': return '%';
      default: return '%' + c;
    }
  });
}

/** SinkServer - the listening side; start() resolves when listening. */
export class SinkServer {
  readonly stats: SinkStats = { sessions: 0, quits: 0, messages: 0, recipients: 0, bytes: 0 };
  readonly server: Server;
  private readonly sockets = new Set<Socket>();
  onExit: () => void = () => process.exit(0);

  constructor(readonly opts: SinkOptions) {
    this.server = createServer({ noDelay: true }, (sock) => this.accept(sock));
  }

  private counterLine(): void {
    if (this.opts.count) this.opts.out(`sess=${this.stats.sessions} quit=${this.stats.quits} mesg=${this.stats.messages}\r`);
  }

  private accept(sock: Socket): void {
    this.sockets.add(sock);
    if (msgVerbose) {
      const fam = sock.remoteFamily === 'IPv6' ? 'AF_INET6' : sock.remoteFamily === 'IPv4' ? 'AF_INET' : 'AF_UNIX';
      msg.info(`connect (${fam} ${sock.remoteAddress ?? ''})`);
    }
    new SinkSession(this, sock).start();
  }

  /** sessionDone - a connection is gone: count it, maybe exit (-n). */
  sessionDone(sock: Socket): void {
    this.sockets.delete(sock);
    this.stats.sessions++;
    this.counterLine();
    if (this.opts.maxSessions > 0 && this.stats.sessions >= this.opts.maxSessions) this.onExit();
  }

  messageDone(): void {
    this.stats.messages++;
    this.counterLine();
    if (this.opts.maxMessages > 0 && this.stats.messages >= this.opts.maxMessages) this.onExit();
  }

  quitDone(): void {
    this.stats.quits++;
  }

  listen(endpoint: string, backlog: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.off('error', reject);
        resolve();
      };
      if (endpoint.startsWith('unix:')) {
        const path = endpoint.slice(5);
        try {
          unlinkSync(path);
        } catch {
          // not there
        }
        this.server.listen({ path, backlog }, done);
        return;
      }
      const { host, port } = parseHostPort(endpoint.startsWith('inet:') ? endpoint.slice(5) : endpoint, '');
      this.server.listen({ host: host || undefined, port: Number(port), backlog }, done);
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** parseHostPort - "[host]:port", "host:port", ":port", "host" (host_port()). */
export function parseHostPort(text: string, defPort: string): { host: string; port: string } {
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw new Error('missing "]"');
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    port = rest.startsWith(':') ? rest.slice(1) : rest === '' ? defPort : '';
    if (rest !== '' && !rest.startsWith(':')) throw new Error('garbage after "]"');
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') === colon) {
      host = text.slice(0, colon);
      port = text.slice(colon + 1);
    } else if (colon >= 0) {
      host = text;
      port = defPort;
    } else {
      host = text;
      port = defPort;
    }
  }
  if (port === 'smtp') port = '25';
  if (port === 'lmtp') port = '24';
  if (!/^\d+$/.test(port)) throw new Error(`bad port: ${port}`);
  return { host, port };
}

/** One client connection: a byte-level state machine, replies batched per input chunk. */
class SinkSession {
  private buf: Buffer | null = null; // partial command line
  private inData = false;
  /** end-of-data matcher state: how much of "\r\n.\r\n" has been seen */
  private eodState = 2;
  private replies: string[] = [];
  private mailSeen = false;
  private rcpts = 0;
  private closed = false;
  private paused = false;
  private pending: Buffer[] = [];
  private proto = 'SMTP';
  private heloArgs = '';
  private mailArgs = '';
  private rcptArgs: string[] = [];
  private dump: Buffer[] | null = null;

  constructor(
    private readonly srv: SinkServer,
    private readonly sock: Socket,
  ) {}

  private get o(): SinkOptions {
    return this.srv.opts;
  }

  start(): void {
    const o = this.o;
    this.sock.on('error', () => undefined);
    this.sock.on('close', () => {
      this.closed = true;
      this.srv.sessionDone(this.sock);
    });
    this.sock.on('end', () => {
      if (!this.closed && msgVerbose) msg.info('disconnect');
      this.sock.end();
    });
    this.sock.on('data', (chunk: Buffer) => this.input(chunk));
    const greeting = o.pretendPix ? '220 ********' : o.disableEsmtp ? `220 ${o.hostname}` : `220 ${o.hostname} ESMTP`;
    if (o.timeout > 0) {
      this.sock.setTimeout(o.timeout * 1000, () => {
        msg.warn('read timeout');
        this.disconnect();
      });
    }
    this.sock.write(greeting + '\r\n');
  }

  private reply(text: string): void {
    if (this.o.disableEnhstat) text = text.replace(/^(\d\d\d[ -])\d\.\d\.\d /, '$1');
    this.replies.push(text + '\r\n');
  }

  private flush(): void {
    if (this.replies.length > 0 && !this.closed) {
      this.sock.write(this.replies.join(''));
      this.replies = [];
    }
  }

  private input(chunk: Buffer): void {
    if (this.closed) return;
    if (this.paused) {
      this.pending.push(chunk);
      return;
    }
    let pos = 0;
    while (pos < chunk.length && !this.closed && !this.paused) {
      if (this.inData) pos = this.dataInput(chunk, pos);
      else pos = this.commandInput(chunk, pos);
    }
    if (this.paused && pos < chunk.length) this.pending.unshift(chunk.subarray(pos));
    this.flush();
  }

  /** dataInput - scan for CRLF.CRLF; returns the position after what was consumed. */
  private dataInput(chunk: Buffer, pos: number): number {
    const start = pos;
    const seq = [13, 10, 46, 13, 10];
    let st = this.eodState;
    for (;;) {
      if (st === 0) {
        // fast path: jump to the next CR
        const cr = chunk.indexOf(13, pos);
        if (cr < 0) {
          pos = chunk.length;
          break;
        }
        pos = cr;
      }
      if (pos >= chunk.length) break;
      const ch = chunk[pos++];
      if (ch === seq[st]) st++;
      else st = ch === 13 ? 1 : 0;
      if (st === 5) {
        this.srv.stats.bytes += pos - start;
        if (this.dump) this.dump.push(chunk.subarray(start, pos));
        this.endOfData();
        this.eodState = 2;
        return pos;
      }
    }
    this.eodState = st;
    this.srv.stats.bytes += pos - start;
    if (this.dump) this.dump.push(Buffer.from(chunk.subarray(start, pos)));
    return pos;
  }

  private endOfData(): void {
    this.inData = false;
    if (msgVerbose) msg.info('.');
    if (this.dump) this.writeDump();
    if (this.o.enableLmtp) {
      for (let i = 0; i < this.rcpts; i++) this.reply('250 2.2.0 Ok');
    } else {
      this.reply('250 2.0.0 Ok');
    }
    this.mailSeen = false;
    this.rcpts = 0;
    this.srv.messageDone();
  }

  /** commandInput - collect one CRLF-terminated line and execute it. */
  private commandInput(chunk: Buffer, pos: number): number {
    const nl = chunk.indexOf(10, pos);
    const end = nl < 0 ? chunk.length : nl + 1;
    const piece = chunk.subarray(pos, end);
    this.buf = this.buf ? Buffer.concat([this.buf, piece]) : piece;
    if (this.buf.length > MAX_LINE) {
      msg.warn('command line too long');
      this.disconnect();
      return chunk.length;
    }
    if (nl < 0) {
      this.buf = Buffer.from(this.buf);
      return end;
    }
    const line = this.buf;
    this.buf = null;
    if (line.length < 2 || line[line.length - 2] !== 13) return end; // the command state machine wants CR LF
    this.command(line.subarray(0, line.length - 2).toString('latin1'));
    return end;
  }

  private command(line: string): void {
    if (msgVerbose) msg.info(line);
    const m = /^[ \t]*([^ \t]+)[ \t]*(.*)$/.exec(line);
    if (!m) {
      this.reply('500 5.5.2 Error: unknown command');
      return;
    }
    const cmd = m[1].toLowerCase();
    const args = m[2];
    const o = this.o;
    const enabled =
      KNOWN.has(cmd) &&
      !(['etrn', 'bdat', 'starttls', 'help'].includes(cmd)) &&
      !(o.disableEsmtp && (cmd === 'ehlo' || cmd === 'lhlo')) &&
      !(o.disableXclient && cmd === 'xclient') &&
      !(o.disableXforward && cmd === 'xforward') &&
      !(o.disableSaslauth && cmd === 'auth');
    if (!enabled) {
      this.reply('500 5.5.1 Error: unknown command');
      return;
    }
    if (o.quitCmds.has(cmd)) {
      this.disconnect();
      return;
    }
    if (o.hardCmds.has(cmd)) {
      this.reply(o.hardReply);
      return;
    }
    if (o.softCmds.has(cmd)) {
      this.reply(o.softReply);
      return;
    }
    switch (cmd) {
      case 'helo':
        this.heloArgs = args;
        this.proto = o.enableLmtp ? 'LMTP' : 'SMTP';
        this.reply(`250 ${o.hostname}`);
        break;
      case 'ehlo':
      case 'lhlo': {
        this.heloArgs = args;
        this.proto = cmd === 'lhlo' ? 'LMTP' : 'ESMTP';
        const lines = [o.hostname];
        if (!o.disablePipelining && o.softCmds.size === 0 && o.hardCmds.size === 0) lines.push('PIPELINING');
        if (!o.disable8bitmime) lines.push('8BITMIME');
        if (!o.disableSaslauth) lines.push('AUTH PLAIN LOGIN');
        if (!o.disableXclient) lines.push('XCLIENT NAME HELO');
        if (!o.disableXforward) lines.push('XFORWARD NAME ADDR PROTO HELO');
        if (!o.disableEnhstat) lines.push('ENHANCEDSTATUSCODES');
        lines.push('DSN');
        lines.push('');
        lines.forEach((l, i) => this.replies.push(`250${i + 1 < lines.length ? '-' : ' '}${l}\r\n`));
        break;
      }
      case 'mail':
        if (this.mailSeen) {
          this.reply('503 5.5.1 Error: nested MAIL command');
          break;
        }
        this.mailSeen = true;
        this.rcpts = 0;
        this.mailArgs = args.replace(/^from:/i, '').trim();
        this.rcptArgs = [];
        this.reply('250 2.1.0 Ok');
        break;
      case 'rcpt':
        if (!this.mailSeen) {
          this.reply('503 5.5.1 Error: need MAIL command');
          break;
        }
        this.rcpts++;
        this.srv.stats.recipients++;
        this.rcptArgs.push(args.replace(/^to:/i, '').trim());
        this.reply('250 2.1.5 Ok');
        break;
      case 'data':
        if (this.rcpts === 0) {
          this.reply('503 5.5.1 Error: need RCPT command');
          break;
        }
        if (o.dataDelay > 0) {
          this.paused = true;
          this.flush();
          setTimeout(() => {
            this.paused = false;
            this.startData();
            this.flush();
            const pending = this.pending;
            this.pending = [];
            for (const c of pending) this.input(c);
          }, o.dataDelay * 1000);
          break;
        }
        this.startData();
        break;
      case 'rset':
        this.mailSeen = false;
        this.rcpts = 0;
        this.reply('250 2.1.0 Ok');
        break;
      case 'quit':
        this.reply('221 Bye');
        this.srv.quitDone();
        this.flush();
        this.closed = true;
        this.sock.end();
        break;
      default:
        this.reply('250 2.0.0 Ok');
    }
  }

  private startData(): void {
    this.inData = true;
    this.eodState = 2;
    this.reply('354 End data with <CR><LF>.<CR><LF>');
    if (this.o.dumpTemplate) this.dump = [];
    if (this.o.abortDelay !== undefined) {
      this.paused = true; // read no more input: the client is to be blocked before it sends "."
      setTimeout(() => {
        if (this.closed) return;
        this.sock.write('550 This violates SMTP\r\n');
        this.disconnect();
      }, this.o.abortDelay * 1000);
    }
  }

  private disconnect(): void {
    this.flush();
    this.closed = true;
    this.sock.destroy();
  }

  /** writeDump - the message with X- headers and Received:, LF line ends, dots removed (-d/-D). */
  private writeDump(): void {
    const parts = this.dump ?? [];
    this.dump = null;
    const id = randomBytes(4).toString('hex');
    const now = new Date();
    const addr = this.sock.remoteAddress ?? '';
    const v6 = this.sock.remoteFamily === 'IPv6' ? 'IPv6:' : '';
    let head = this.o.startString ?? '';
    if (addr) head += `X-Client-Addr: ${v6}${addr}\n`;
    head += `X-Client-Proto: ${this.proto}\n`;
    if (this.heloArgs) head += `X-Helo-Args: ${this.heloArgs}\n`;
    head += `X-Mail-Args: ${this.mailArgs}\n`;
    for (const r of this.rcptArgs) head += `X-Rcpt-Args: ${r}\n`;
    head += this.heloArgs ? `Received: from ${this.heloArgs} ([${v6}${addr}])\n` : `Received: from [${v6}${addr}] ([${v6}${addr}])\n`;
    head += `\tby ${this.o.hostname} (smtp-sink) with ${this.proto} id ${id};\n\t${mailDate(now)}\n`;
    // content without the final ".\r\n", CRLF to LF, dot-unstuffed
    let text = Buffer.concat(parts).toString('latin1');
    text = text.slice(0, Math.max(0, text.length - 3));
    const body = text
      .split('\r\n')
      .map((l) => (l.startsWith('.') ? l.slice(1) : l))
      .join('\n');
    const path = strftime(this.o.dumpTemplate!, now) + (this.o.dumpAppend ? '' : id);
    try {
      if (path.includes('/')) mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(path, this.o.dumpAppend ? 'a' : 'wx', 0o644);
      writeSync(fd, Buffer.from(head + body + '\n', 'latin1'));
      closeSync(fd);
    } catch (e) {
      msg.warn(`${this.o.dumpAppend ? 'append file' : 'open'} ${path}: ${(e as Error).message}`);
    }
  }
}

/** cEscapes - the C escapes \a \b \f \n \r \t \v \ddd and a doubled backslash, as unescape() does. */
export function cEscapes(text: string): string {
  const map: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
  return text.replace(/\\([0-7]{1,3}|.)/g, (_m, c: string) => (/^[0-7]+$/.test(c) ? String.fromCharCode(parseInt(c, 8)) : map[c] ?? c));
}

/** usage - Postfix's usage text. */
function usage(progname: string): never {
  return msg.fatal(
    `usage: ${progname} [-468acCeEFLpPv] [-A abort_delay] [-b soft_bounce_reply] [-B hard_bounce_reply] [-d dump-template] [-D dump-template] [-f commands] [-h hostname] [-m max_concurrency] [-M message_quit_count] [-n quit_count] [-q commands] [-r commands] [-R root-dir] [-s commands] [-S start-string] [-u user_privs] [-w delay] [host]:port backlog`,
  );
}

function commandSet(list: string): Set<string> {
  const out = new Set<string>();
  for (const c of list.split(/[\s,]+/).filter((x) => x)) {
    const name = c.split(':')[0].toLowerCase();
    if (!KNOWN.has(name) || ['etrn', 'bdat', 'starttls', 'help'].includes(name)) msg.fatal(`unknown command: ${c}`);
    out.add(name);
  }
  return out;
}

/** main - smtp-sink [options] [inet:][host]:port backlog | unix:path backlog */
export async function main(argv: string[]): Promise<void> {
  const progname = 'smtp-sink';
  msgAddOutput(stderrOutput(progname));
  const o = defaultSinkOptions();
  let user: string | undefined;
  const g = new Getopt(argv, '468aA:b:B:cCd:D:eEf:Fh:H:Lm:M:n:pPq:r:R:s:S:t:T:u:vw:', progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    const a = g.optarg;
    const posInt = (what: string): number => {
      if (!/^\d+$/.test(a) || Number(a) <= 0) msg.fatal(`bad ${what}: ${a}`);
      return Number(a);
    };
    switch (c) {
      case '4':
      case '6':
        break;
      case '8':
        o.disable8bitmime = true;
        break;
      case 'a':
        o.disableSaslauth = true;
        break;
      case 'A':
        if (!/^\d+$/.test(a)) msg.fatal(`bad abort delay: ${a}`);
        o.abortDelay = Number(a);
        break;
      case 'b':
        if (!/^4\d\d /.test(a)) msg.fatal(`bad soft error reply: ${a}`);
        o.softReply = a;
        break;
      case 'B':
        if (!/^5\d\d /.test(a)) msg.fatal(`bad hard error reply: ${a}`);
        o.hardReply = a;
        break;
      case 'c':
        o.count = true;
        break;
      case 'C':
        o.disableXclient = true;
        break;
      case 'd':
      case 'D':
        if (o.dumpTemplate !== undefined) msg.fatal('use only one of -d or -D, but not both');
        o.dumpTemplate = a;
        o.dumpAppend = c === 'D';
        break;
      case 'e':
        o.disableEsmtp = true;
        break;
      case 'E':
        o.disableEnhstat = true;
        break;
      case 'f':
        for (const x of commandSet(a)) o.hardCmds.add(x);
        break;
      case 'F':
        o.disableXforward = true;
        break;
      case 'h':
        o.hostname = a;
        break;
      case 'H':
        break;
      case 'L':
        o.enableLmtp = true;
        break;
      case 'm':
        posInt('concurrency limit');
        break;
      case 'M':
        o.maxMessages = posInt('message quit count');
        break;
      case 'n':
        o.maxSessions = posInt('quit count');
        break;
      case 'p':
        o.disablePipelining = true;
        break;
      case 'P':
        o.pretendPix = true;
        o.disableEsmtp = true;
        break;
      case 'q':
        for (const x of commandSet(a)) o.quitCmds.add(x);
        break;
      case 'r':
        for (const x of commandSet(a)) o.softCmds.add(x);
        break;
      case 'R':
        msg.fatal('-R (chroot) is not supported by this implementation');
        break;
      case 's':
        commandSet(a);
        break;
      case 'S':
        o.startString = cEscapes(a);
        break;
      case 't':
        o.timeout = posInt('timeout');
        break;
      case 'T':
        posInt('TCP window size');
        break;
      case 'u':
        user = a;
        break;
      case 'v':
        setMsgVerbose(msgVerbose + 1);
        break;
      case 'w':
        o.dataDelay = posInt('data read delay');
        break;
      default:
        usage(progname);
    }
  }
  const rest = argv.slice(g.optind);
  if (rest.length !== 2) usage(progname);
  const backlog = Number(rest[1]);
  if (!/^\d+$/.test(rest[1]) || backlog <= 0) usage(progname);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && user === undefined) msg.fatal('-u option is required if running as root');
  const srv = new SinkServer(o);
  try {
    await srv.listen(rest[0], backlog);
  } catch (e) {
    msg.fatal(`${rest[0]}: ${(e as Error).message}`);
  }
  if (isRoot && user !== undefined) {
    const pw = getpwnam(user);
    if (!pw) return msg.fatal(`unknown user: ${user}`);
    process.setgid!(pw.gid);
    process.setuid!(pw.uid);
  }
}

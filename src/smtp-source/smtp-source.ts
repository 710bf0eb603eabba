/**
 * smtp-source - parallel SMTP/LMTP test generator (Postfix smtp-source(1)).
 *
 * Runs -s sessions in parallel that together send -m messages, each with
 * -r recipients, over SMTP (HELO) or LMTP (LHLO), without command
 * pipelining, exactly like Postfix's tool: the same commands, the same
 * generated headers and payload (-l length, -F file, or the four "La de da"
 * lines), the same counter output (-c) and the same fatal error texts.
 * Connection attempts are made one at a time, as Postfix does, so that a
 * burst of SYNs does not distort the benchmark.
 *
 * Server replies are bounded (10240 bytes per reply) and time-limited.
 */

import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { Getopt } from '../util/getopt.js';
import { msg, msgAddOutput, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { mailDate, stderrOutput } from '../postdrop/submit_common.js';
import { parseHostPort } from '../smtp-sink/smtp-sink.js';

const LINE_LIMIT = 10240;
const TIMEOUT_MS = 300 * 1000;

export interface SourceOptions {
  endpoint: { path?: string; host?: string; port?: number };
  sessions: number;
  messages: number;
  recipients: number;
  sender: string;
  recipient: string;
  myhostname: string;
  messageData?: Buffer;
  sendHeadersAndHelo: boolean;
  sendHeaders: boolean;
  subject?: string;
  disconnect: boolean;
  lmtp: boolean;
  numberRcpts: boolean;
  count: boolean;
  connectCount: number;
  allowReject: boolean;
  randomDelay: number;
  fixedDelay: number;
  out: (text: string) => void;
}

/** SourceError - a fatal condition (main turns it into "smtp-source: fatal: ..."). */
export class SourceError extends Error {}

interface Response {
  code: number;
  str: string;
}

/** Conn - one SMTP connection with a bounded reply reader. */
class Conn {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;
  private waiter: (() => void) | undefined;
  readonly fdNumber: number;

  constructor(
    readonly sock: Socket,
    fdNumber: number,
  ) {
    this.fdNumber = fdNumber;
    sock.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.buffered += c.length;
      this.wake();
    });
    sock.on('end', () => {
      this.eof = true;
      this.wake();
    });
    sock.on('close', () => {
      this.eof = true;
      this.wake();
    });
    sock.on('error', () => {
      this.eof = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w();
  }

  /** line - one reply line without CR LF; 'eof' or 'timeout'. */
  async line(): Promise<string | 'eof' | 'timeout'> {
    for (;;) {
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      this.chunks = all.length ? [all] : [];
      const nl = all.indexOf(10);
      if (nl >= 0 || all.length >= LINE_LIMIT) {
        const end = nl >= 0 ? nl : LINE_LIMIT;
        const rest = all.subarray(nl >= 0 ? nl + 1 : LINE_LIMIT);
        this.chunks = rest.length ? [rest] : [];
        this.buffered = rest.length;
        let text = all.subarray(0, end).toString('latin1');
        if (text.endsWith('\r')) text = text.slice(0, -1);
        return text;
      }
      if (this.eof) return 'eof';
      const timedOut = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          resolve(true);
        }, TIMEOUT_MS);
        this.waiter = () => {
          clearTimeout(t);
          resolve(false);
        };
      });
      if (timedOut) return 'timeout';
    }
  }

  write(text: string | Buffer): void {
    this.sock.write(text);
  }
}

function exceptionText(what: 'eof' | 'timeout'): string {
  return what === 'eof' ? 'lost connection' : 'timeout';
}

/** response - read one (multi-line) reply; non-printable characters become '?'. */
async function response(conn: Conn, when: string): Promise<Response> {
  let text = '';
  let code = 0;
  for (;;) {
    let line = await conn.line();
    if (line === 'eof' || line === 'timeout') throw new SourceError(`${exceptionText(line)} while ${when}`);
    line = line.replace(/[^\x20-\x7e\s]/g, '?');
    if (msgVerbose) msg.info(`<<< ${line}`);
    const m = /^(\d*)/.exec(line)!;
    code = m[1].length === 3 ? Number(m[1]) : 0;
    let rest = line.slice(m[1].length);
    const more = rest.startsWith('-');
    if (more) rest = rest.slice(1);
    text += rest.replace(/^\s+/, '');
    if (!more) break;
    text += '\n';
    if (text.length > LINE_LIMIT) text = text.slice(0, LINE_LIMIT);
  }
  return { code, str: text };
}

/** makeMessageData - the -l payload: 'X's, CR LF every 80 bytes, a digit at each line start. */
export function makeMessageData(length: number): Buffer {
  const data = Buffer.alloc(length, 'X');
  for (let i = 80; i < length; i += 80) {
    data[i - 80] = '0123456789'.charCodeAt((i / 80) % 10);
    data[i - 2] = 13;
    data[i - 1] = 10;
  }
  return data;
}

/** fileMessageData - the -F payload: LF to CR LF, dot-stuffed. */
export function fileMessageData(text: Buffer): Buffer {
  const lines = text.toString('latin1').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return Buffer.from(lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)).map((l) => (l.startsWith('.') ? '.' + l : l)).join('\r\n') + '\r\n', 'latin1');
}

/** SmtpSource - the machine: sessions share the message budget, connects are serialized. */
export class SmtpSource {
  private messageCount: number;
  private counter = 0;
  private rcptNumber = 1;
  private connectChain: Promise<unknown> = Promise.resolve();
  private readonly date = mailDate(new Date());
  private readonly usedFds = new Set<number>();
  /** messages accepted, recipients sent (for callers that want numbers) */
  delivered = 0;

  constructor(readonly o: SourceOptions) {
    this.messageCount = o.messages;
  }

  private allocFd(): number {
    let fd = 3;
    while (this.usedFds.has(fd)) fd++;
    this.usedFds.add(fd);
    return fd;
  }

  private command(conn: Conn, text: string): void {
    if (msgVerbose) msg.info(text);
    conn.write(text + '\r\n');
  }

  private openConn(): Promise<Conn> {
    const attempt = async (): Promise<Conn> => {
      let left = this.o.connectCount;
      for (;;) {
        try {
          const sock = await new Promise<Socket>((resolve, reject) => {
            const s = this.o.endpoint.path ? connect(this.o.endpoint.path) : connect({ host: this.o.endpoint.host, port: this.o.endpoint.port!, noDelay: true });
            s.once('error', reject);
            s.once('connect', () => {
              s.off('error', reject);
              resolve(s);
            });
          });
          return new Conn(sock, this.allocFd());
        } catch (e) {
          const text = errnoText(e as NodeJS.ErrnoException);
          if (left-- === 1) throw new SourceError(`connect: ${text}`);
          msg.warn(`connect: ${text}`);
        }
      }
    };
    const p = this.connectChain.then(attempt);
    this.connectChain = p.catch(() => undefined);
    return p;
  }

  private close(conn: Conn): void {
    this.usedFds.delete(conn.fdNumber);
    conn.sock.destroy();
  }

  private async delay(): Promise<void> {
    const s = this.o.randomDelay > 0 ? Math.floor(Math.random() * (this.o.randomDelay + 1)) : this.o.fixedDelay;
    if (s > 0) await new Promise((r) => setTimeout(r, s * 1000));
  }

  private async rset(conn: Conn): Promise<void> {
    this.command(conn, 'RSET');
    const r = await response(conn, 'sending RSET');
    if (Math.floor(r.code / 100) !== 2) throw new SourceError(`rset rejected: ${r.code} ${r.str}`);
  }

  /** session - one of the -s parallel sessions. */
  private async session(): Promise<void> {
    let conn: Conn | null = null;
    let first = true;
    for (;;) {
      if (!first) await this.delay();
      first = false;
      if (this.messageCount-- <= 0) return;
      if (conn === null) {
        conn = await this.openConn();
        const banner = await response(conn, 'reading server greeting');
        if (Math.floor(banner.code / 100) !== 2) throw new SourceError(`rejected at server banner: ${banner.code} ${banner.str}`);
        if (this.o.sendHeadersAndHelo) {
          const verb = this.o.lmtp ? 'LHLO' : 'HELO';
          this.command(conn, `${verb} ${this.o.myhostname}`);
          const r = await response(conn, `sending ${verb}`);
          if (Math.floor(r.code / 100) !== 2) throw new SourceError(`${verb} rejected: ${r.code} ${r.str}`);
        }
      }
      await this.transaction(conn);
      if (this.o.disconnect || this.messageCount < 1) {
        this.command(conn, 'QUIT');
        try {
          await response(conn, 'sending QUIT');
        } catch {
          // the server may just hang up
        }
        this.close(conn);
        conn = null;
      }
    }
  }

  private async transaction(conn: Conn): Promise<void> {
    const o = this.o;
    this.command(conn, `MAIL FROM:<${o.sender}>`);
    let r = await response(conn, 'sending sender');
    if (Math.floor(r.code / 100) !== 2) {
      if (!o.allowReject) throw new SourceError(`sender rejected: ${r.code} ${r.str}`);
      return this.rset(conn);
    }
    let accepted = 0;
    for (let left = o.recipients; left > 0; left--) {
      if (left > 1 || o.numberRcpts) this.command(conn, `RCPT TO:<${o.numberRcpts ? this.rcptNumber++ : left}${o.recipient}>`);
      else this.command(conn, `RCPT TO:<${o.recipient}>`);
      r = await response(conn, 'sending recipient');
      if (Math.floor(r.code / 100) !== 2) {
        if (!o.allowReject) throw new SourceError(`recipient rejected: ${r.code} ${r.str}`);
      } else accepted++;
    }
    if (accepted === 0) return this.rset(conn);
    this.command(conn, 'DATA');
    r = await response(conn, 'sending DATA command');
    if (r.code !== 354) {
      if (!o.allowReject) throw new SourceError(`data ${r.code} ${r.str}`);
      return this.rset(conn);
    }
    const parts: Array<string | Buffer> = [];
    if (o.sendHeaders) {
      parts.push(`From: <${o.sender}>\r\n`, `To: <${o.recipient}>\r\n`, `Date: ${this.date}\r\n`);
      const hex = (n: number) => (n & 0xffff).toString(16).padStart(4, '0');
      parts.push(`Message-Id: <${hex(process.pid)}.${hex(conn.fdNumber)}.${hex(this.messageCount)}@${o.myhostname}>\r\n`);
      if (o.subject !== undefined) parts.push(`Subject: ${o.subject}\r\n`);
      parts.push('\r\n');
    }
    if (o.messageData) parts.push(o.messageData, '\r\n');
    else parts.push('La de da de da 1.\r\nLa de da de da 2.\r\nLa de da de da 3.\r\nLa de da de da 4.\r\n');
    conn.write(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p))));
    this.command(conn, '.');
    if (o.count) {
      this.counter++;
      o.out(`${this.counter}\r`);
    }
    const replies = o.lmtp ? accepted : 1;
    for (let i = 0; i < replies; i++) {
      r = await response(conn, 'sending message');
      if (Math.floor(r.code / 100) !== 2) {
        if (!o.allowReject) throw new SourceError(`end of data rejected: ${r.code} ${r.str}`);
      } else this.delivered++;
    }
  }

  /** run - all sessions; resolves when every message was sent. */
  async run(): Promise<void> {
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < this.o.sessions; i++) all.push(this.session());
    await Promise.all(all);
    if (this.o.count) this.o.out('\n');
  }
}

function errnoText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ENOENT':
      return 'No such file or directory';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    case 'EHOSTUNREACH':
      return 'No route to host';
    case 'ENETUNREACH':
      return 'Network is unreachable';
    case 'ECONNRESET':
      return 'Connection reset by peer';
    default:
      return err.message;
  }
}

function usage(progname: string): never {
  return msg.fatal(`usage: ${progname} -cdLNov -s sess -l msglen -m msgs -C count -M myhostname -f from -t to -r rcptcount -R delay -w delay host[:port]`);
}

/** main - smtp-source [options] [inet:]host[:port] | unix:pathname */
export async function main(argv: string[]): Promise<void> {
  const progname = 'smtp-source';
  msgAddOutput(stderrOutput(progname));
  const o: SourceOptions = {
    endpoint: {},
    sessions: 1,
    messages: 1,
    recipients: 1,
    sender: '',
    recipient: '',
    myhostname: '',
    sendHeadersAndHelo: true,
    sendHeaders: true,
    disconnect: true,
    lmtp: false,
    numberRcpts: false,
    count: false,
    connectCount: 1,
    allowReject: false,
    randomDelay: 0,
    fixedDelay: 0,
    out: (t) => process.stdout.write(t),
  };
  let sender: string | undefined;
  let recipient: string | undefined;
  let file: string | undefined;
  let length = 0;
  const g = new Getopt(argv, '46AcC:df:F:l:Lm:M:Nor:R:s:S:t:T:vw:', progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    const a = g.optarg;
    const pos = (what: string): number => {
      const n = parseInt(a, 10);
      if (!(n > 0)) msg.fatal(`bad ${what}: ${a}`);
      return n;
    };
    switch (c) {
      case '4':
      case '6':
        break;
      case 'A':
        o.allowReject = true;
        break;
      case 'c':
        o.count = true;
        break;
      case 'C':
        o.connectCount = pos('connection count');
        break;
      case 'd':
        o.disconnect = false;
        break;
      case 'f':
        sender = a;
        break;
      case 'F':
        if (length > 0) msg.fatal('-l option cannot be used with -F');
        file = a;
        break;
      case 'l':
        if (file !== undefined) msg.fatal('-l option cannot be used with -F');
        length = pos('message length');
        break;
      case 'L':
        o.lmtp = true;
        break;
      case 'm':
        o.messages = pos('message count');
        break;
      case 'M':
        if (!/^[A-Za-z0-9.-]+$/.test(a) && !/^\[.+\]$/.test(a)) msg.fatal(`bad hostname: ${a}`);
        o.myhostname = a;
        break;
      case 'N':
        o.numberRcpts = true;
        break;
      case 'o':
        o.sendHeadersAndHelo = false;
        o.sendHeaders = false;
        break;
      case 'r':
        o.recipients = pos('recipient count');
        break;
      case 'R':
        if (o.fixedDelay > 0) msg.fatal('do not use -w and -R options at the same time');
        o.randomDelay = pos('random delay');
        break;
      case 's':
        o.sessions = pos('session count');
        break;
      case 'S':
        o.subject = a;
        break;
      case 't':
        recipient = a;
        break;
      case 'T':
        pos('TCP window size');
        break;
      case 'v':
        setMsgVerbose(msgVerbose + 1);
        break;
      case 'w':
        if (o.randomDelay > 0) msg.fatal('do not use -w and -R options at the same time');
        o.fixedDelay = pos('fixed delay');
        break;
      default:
        usage(progname);
    }
  }
  const rest = argv.slice(g.optind);
  if (rest.length !== 1) usage(progname);
  let target = rest[0];
  if (target.startsWith('unix:')) {
    o.endpoint = { path: target.slice(5) };
  } else {
    if (target.startsWith('inet:')) target = target.slice(5);
    try {
      const { host, port } = parseHostPort(target, 'smtp');
      if (!host) msg.fatal(`${rest[0]}: missing host`);
      o.endpoint = { host, port: Number(port) };
    } catch (e) {
      msg.fatal(`${rest[0]}: ${(e as Error).message}`);
    }
  }
  if (length > 0) o.messageData = makeMessageData(length);
  if (file !== undefined) {
    try {
      o.messageData = fileMessageData(readFileSync(file));
    } catch (e) {
      msg.fatal(`open ${file}: ${errnoText(e as NodeJS.ErrnoException)}`);
    }
    o.sendHeaders = false;
  }
  if (!o.myhostname) o.myhostname = osHostname();
  o.sender = sender ?? `foo@${o.myhostname}`;
  o.recipient = recipient ?? `foo@${o.myhostname}`;
  try {
    await new SmtpSource(o).run();
  } catch (e) {
    if (e instanceof SourceError) msg.fatal(e.message);
    throw e;
  }
  process.exit(0);
}

/**
 * xsasl_dovecot - the server side of SASL authentication through a Dovecot
 * auth server (Postfix src/xsasl/xsasl_dovecot_server.c).
 *
 * The Dovecot authentication protocol is line based and tab separated. On
 * connect we send "VERSION\t1\t0" and "CPID\t<pid>"; the server sends
 * "VERSION", one "MECH\t<name>\t<flags>..." per mechanism, "SPID", "CUID",
 * "COOKIE" and "DONE". Each authentication is "AUTH\t<id>\t<mech>\t
 * service=smtp\tnologin\tlip=..\trip=..[\tsecured][\tresp=<base64>]"; the
 * server answers "CONT\t<id>\t<base64 challenge>", "OK\t<id>\tuser=<name>"
 * or "FAIL\t<id>\t[reason=..][\tuser=..][\ttemp]". Every line read is bounded;
 * a server that violates the protocol ends the connection, never the caller.
 * The endpoint is a UNIX socket path or "inet:host:port".
 */

import { connect, type Socket } from 'node:net';
import { msg } from '../util/msg.js';
import { VStream } from '../util/vstream.js';

/** XSASL_AUTH_* results. */
export const XSASL = { DONE: 'done', MORE: 'more', FAIL: 'fail', FORM: 'form', TEMP: 'temp' } as const;
export type XsaslStatus = (typeof XSASL)[keyof typeof XSASL];

export interface XsaslResult {
  status: XsaslStatus;
  /** the challenge (MORE, still base64) or the reason (FAIL/FORM/TEMP) */
  reply: string;
}

/** Per-session facts the auth server is told about. */
export interface XsaslServerOptions {
  /** "smtp" */
  service: string;
  /** server (local) and client (remote) addresses */
  serverAddr: string;
  clientAddr: string;
  /** the session is under TLS ("secured") */
  tls: boolean;
  /** smtpd_sasl_security_options or smtpd_sasl_tls_security_options */
  securityOptions: string;
  /** read deadline in milliseconds */
  timeoutMs: number;
}

/** longest line we accept from the auth server */
const LINE_LIMIT = 16384;
/** the protocol major version we speak */
const AUTH_PROTOCOL_MAJOR = 1;

/** security option words (xsasl_dovecot_server.c xsasl_dovecot_conf_sec_props / mech flags). */
const SEC_FLAGS: Record<string, string> = {
  noplaintext: 'plaintext',
  noactive: 'active',
  nodictionary: 'dictionary',
  noanonymous: 'anonymous',
};
const SEC_REQUIRE: Record<string, string> = {
  forward_secrecy: 'forward-secrecy',
  mutual_auth: 'mutual-auth',
};

export class XsaslError extends Error {}

/** isValidBase64 - only base64 alphabet characters (xsasl_dovecot_server.c is_valid_base64). */
export function isValidBase64(text: string): boolean {
  return /^[A-Za-z0-9+/=]*$/.test(text);
}

/** endpointLabel - the smtpd_sasl_path text for log lines. */
function connectTo(path: string): Socket {
  const inet = /^inet:(.*):(\d+)$/.exec(path);
  if (inet) return connect(Number(inet[2]), inet[1].replace(/^\[(.*)\]$/, '$1'));
  return connect(path.replace(/^unix:/, ''));
}

/**
 * XsaslDovecotServer - one authentication server connection for one SMTP
 * session (Postfix creates one per session, too).
 */
export class XsaslDovecotServer {
  /** mechanisms the server offers that the security options allow, in the server's order */
  mechanisms: string[] = [];
  /** the login name the server last reported (OK or FAIL user=) */
  username: string | null = null;
  private stream: VStream | null = null;
  private requestId = 0;

  private constructor(
    private readonly path: string,
    private readonly label: string,
    private readonly opts: XsaslServerOptions,
  ) {}

  /**
   * create - connect and do the handshake. Throws XsaslError after logging
   * Postfix's warning when the server cannot be reached or misbehaves.
   */
  static async create(path: string, label: string, opts: XsaslServerOptions): Promise<XsaslDovecotServer> {
    const server = new XsaslDovecotServer(path, label, opts);
    await server.connect();
    return server;
  }

  private async connect(): Promise<void> {
    const sock = connectTo(this.path);
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
    } catch (e) {
      sock.destroy();
      msg.warn(`SASL: Connect to ${this.label} failed: ${errnoText(e)}`);
      throw new XsaslError('connect failed');
    }
    sock.on('error', () => undefined);
    const stream = new VStream(sock, { timeout: this.opts.timeoutMs });
    stream.write(`VERSION\t${AUTH_PROTOCOL_MAJOR}\t0\nCPID\t${process.pid}\n`);
    const offered: Array<{ name: string; flags: string[] }> = [];
    try {
      for (;;) {
        const line = await readLine(stream);
        if (line === null) throw new XsaslError('lost connection');
        const f = line.split('\t');
        if (f[0] === 'VERSION') {
          if (Number(f[1]) !== AUTH_PROTOCOL_MAJOR) {
            msg.warn(`SASL: Protocol version error`);
            throw new XsaslError('version');
          }
        } else if (f[0] === 'MECH' && f.length >= 2 && f[1] !== '') {
          offered.push({ name: f[1].toUpperCase(), flags: f.slice(2).map((x) => x.toLowerCase()) });
        } else if (f[0] === 'DONE') {
          break;
        }
        // SPID, CUID, COOKIE and unknown lines are ignored
      }
    } catch (e) {
      stream.sock.destroy();
      if (!(e instanceof XsaslError) || e.message === 'lost connection') {
        msg.warn(`SASL: Connect to ${this.label} failed: ${e instanceof XsaslError ? 'Connection lost' : errnoText(e)}`);
      }
      throw e instanceof XsaslError ? e : new XsaslError('handshake');
    }
    const words = this.opts.securityOptions.toLowerCase().split(/[\s,]+/).filter(Boolean);
    for (const w of words) {
      if (!(w in SEC_FLAGS) && !(w in SEC_REQUIRE)) msg.warn(`SASL: unknown security option: "${w}"`);
    }
    this.mechanisms = offered
      .filter((m) => !m.flags.includes('private'))
      .filter((m) => words.every((w) => !(w in SEC_FLAGS) || !m.flags.includes(SEC_FLAGS[w])))
      .filter((m) => words.every((w) => !(w in SEC_REQUIRE) || m.flags.includes(SEC_REQUIRE[w])))
      .map((m) => m.name);
    this.stream = stream;
  }

  /** mechList - the EHLO AUTH list. */
  mechList(): string {
    return this.mechanisms.join(' ');
  }

  /** first - start an authentication (xsasl_dovecot_server_first). initResponse is base64 ("" for "="). */
  async first(mechanism: string, initResponse: string | null): Promise<XsaslResult> {
    if (initResponse !== null && !isValidBase64(initResponse)) {
      return { status: XSASL.FORM, reply: 'Invalid base64 data in initial response' };
    }
    const mech = mechanism.toUpperCase();
    if (!this.mechanisms.includes(mech)) return { status: XSASL.FORM, reply: 'Invalid authentication mechanism' };
    this.requestId++;
    let req = `AUTH\t${this.requestId}\t${mech}\tservice=${this.opts.service}\tnologin\tlip=${this.opts.serverAddr}\trip=${this.opts.clientAddr}`;
    if (this.opts.tls) req += '\tsecured';
    if (initResponse !== null) req += `\tresp=${initResponse}`;
    return this.exchange(req + '\n');
  }

  /** next - send the client's response to a challenge (xsasl_dovecot_server_next). */
  async next(response: string): Promise<XsaslResult> {
    if (!isValidBase64(response)) return { status: XSASL.FORM, reply: 'Invalid base64 data in continued response' };
    return this.exchange(`CONT\t${this.requestId}\t${response}\n`);
  }

  private async exchange(request: string): Promise<XsaslResult> {
    const stream = this.stream;
    const lost: XsaslResult = { status: XSASL.TEMP, reply: 'Connection lost to authentication server' };
    if (stream === null || stream.sock.destroyed) return lost;
    try {
      stream.write(request);
      for (;;) {
        const line = await readLine(stream);
        if (line === null) {
          this.close();
          return lost;
        }
        const f = line.split('\t');
        if (f.length < 2 || f[1] !== String(this.requestId)) continue;
        const attrs = f.slice(2);
        const attr = (name: string) => attrs.find((a) => a.startsWith(name + '='))?.slice(name.length + 1);
        if (f[0] === 'OK') {
          const user = attr('user');
          if (user === undefined || user === '') {
            msg.warn(`missing Dovecot server user name`);
            return { status: XSASL.FAIL, reply: 'Internal authentication server error' };
          }
          this.username = user;
          return { status: XSASL.DONE, reply: '' };
        }
        if (f[0] === 'CONT') {
          const data = f[2] ?? '';
          if (!isValidBase64(data)) {
            msg.warn(`Dovecot server sent invalid base64 data: ${data.slice(0, 100)}`);
            return { status: XSASL.FAIL, reply: 'Internal authentication server error' };
          }
          return { status: XSASL.MORE, reply: data };
        }
        if (f[0] === 'FAIL') {
          const user = attr('user');
          if (user !== undefined) this.username = user;
          const reason = attr('reason') ?? '(reason unavailable)';
          // Postfix 3.7 answers 535 also when the server flags the failure "temp"
          return { status: XSASL.FAIL, reply: reason };
        }
        // unknown reply for our request: skip it, as Postfix does
      }
    } catch (e) {
      this.close();
      msg.warn(`SASL: read from ${this.label}: ${errnoText(e)}`);
      return lost;
    }
  }

  /** close - drop the connection (xsasl_dovecot_server_free). */
  close(): void {
    if (this.stream) {
      this.stream.sock.destroy();
      this.stream = null;
    }
  }
}

/** readLine - one bounded protocol line without its newline; null at end of input. */
async function readLine(stream: VStream): Promise<string | null> {
  const raw = await stream.readUntil(0x0a, LINE_LIMIT);
  if (raw === null) return null;
  if (raw[raw.length - 1] !== 0x0a) {
    if (raw.length >= LINE_LIMIT) throw new XsaslError('line too long');
    return null;
  }
  return raw.subarray(0, raw.length - 1).toString('utf8').replace(/\r$/, '');
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const map: Record<string, string> = {
    ENOENT: 'No such file or directory',
    ECONNREFUSED: 'Connection refused',
    EACCES: 'Permission denied',
    ETIMEDOUT: 'Connection timed out',
    ENOTSOCK: 'Socket operation on non-socket',
  };
  if (code && map[code]) return map[code];
  return (e as Error)?.message ?? String(e);
}

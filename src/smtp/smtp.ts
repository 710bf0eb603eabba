/**
 * smtp - the SMTP and LMTP mail delivery agent (Postfix smtp(8), lmtp(8)).
 *
 * For one delivery request (one message, one next hop, up to
 * *_destination_recipient_limit recipients): find the addresses of the
 * next hop, connect (or reuse a cached idle session), greet with EHLO or
 * LHLO (HELO fallback), send MAIL FROM with SIZE/BODY/RET/ENVID, the RCPT
 * TOs with NOTIFY/ORCPT, and DATA — pipelined when the server offers
 * PIPELINING — then the dot-stuffed content. 2xx replies mean sent, 4xx
 * defer, 5xx bounce, per recipient. When no server could be reached the
 * final reply carries a hop status so qmgr backs off the destination.
 * Idle sessions are kept per process for smtp_connection_cache_time_limit
 * and reused for the next request to the same destination (conn_use=N).
 * STARTTLS (smtp_tls.ts), SASL PLAIN/LOGIN (smtp_sasl.ts) and
 * smtp_generic_maps (smtp_generic.ts) as configured. See docs/smtp.md.
 */

import { openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { msg } from '../util/msg.js';
import { VStream } from '../util/vstream.js';
import { closeQuietly } from '../util/iostuff.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { readDeliverRequest, sendDeliverReply, emptyHop, DEL_REQ_FLAG, type DeliverRecipient, type DeliverRequest, type HopStatus } from '../global/deliver_request.js';
import { DeliveryStatus, type Outcome } from '../global/deliver_status.js';
import { mailQueuePath } from '../global/mail_queue.js';
import { readMessageLines } from '../global/mail_copy.js';
import { DSN_NOTIFY, DSN_RET } from '../global/rec_type.js';
import { readReply, replyDsn, SmtpProtocolError, type SmtpReply } from './smtp_chat.js';
import { connectTarget, LookupError, parseNextHop, resolveTargets, targetLabel, type NextHop, type SmtpTarget } from './smtp_connect.js';
import { assess, clientContext, clientCredentials, peerCertLine, peerDepthLines, lookupPolicy, param, startTls, trustWord, verifyLevel, TlsPolicyInvalid, type TlsPolicy } from './smtp_tls.js';
import { saslCredentials } from './smtp_sasl.js';
import { rewriteHeader } from './smtp_generic.js';
import { mimeDowngrade } from './smtp_mime.js';
import { splitList } from '../global/mail_conf.js';
import { Maps } from '../global/maps.js';
import { ScacheClient } from '../scache/scache_clnt.js';
import { xtextQuote } from '../global/xtext.js';

interface Session {
  target: SmtpTarget;
  sock: Socket;
  stream: VStream;
  features: Set<string>;
  sizeLimit: number;
  reuseCount: number;
  idleTimer?: NodeJS.Timeout;
  key: string;
  /** what the session was doing, for "lost connection ... while <stage>" */
  stage: string;
  tls?: boolean;
  authMechs?: string[];
  /** SASL authentication succeeded on this session (kept out of the shared cache) */
  authed?: boolean;
  /** when the connection was made (smtp_connection_reuse_time_limit) */
  created: number;
  /** the current delivery may leave this session in the cache (cachingFor 'store') */
  store?: boolean;
}

type GreetResult = { kind: 'ok' } | { kind: 'defer' | 'bounce'; dsn: string; text: string };

/** What the session set-up needs to know about the next hop. */
interface HopContext {
  nexthop: string;
  hop: NextHop;
  tlsPolicy: TlsPolicy;
}

interface Timeouts {
  connect: number;
  helo: number;
  mail: number;
  rcpt: number;
  dataInit: number;
  dataXfer: number;
  dataDone: number;
  quit: number;
}

const genericMaps = new Map<string, Maps>();

/** Sessions kept idle for reuse in this process, by next hop (busy next hops, or no usable scache(8)). */
const idle = new Map<string, Session[]>();

/** Deliveries in progress in this process, by next hop (release() keeps a session here while there are others). */
const inFlight = new Map<string, number>();

/** hopKey - the next hop of a request: its nexthop, else the first recipient's domain. */
function hopKey(req: DeliverRequest): string {
  return req.nexthop || domainOf(req.rcpt[0]?.address ?? '');
}

/** The shared connection cache client of this process. */
let scache: ScacheClient | undefined;

export class SmtpAgent {
  private readonly lmtp: boolean;
  private readonly prefix: string;
  private readonly t: Timeouts;

  constructor(
    private readonly config: MailConfig,
    processName: string,
  ) {
    this.lmtp = processName === 'lmtp';
    this.prefix = this.lmtp ? 'lmtp' : 'smtp';
    const p = this.prefix;
    const time = (n: string) => config.time(`${p}_${n}`) * 1000;
    this.t = {
      connect: time('connect_timeout'),
      helo: time(this.lmtp ? 'lhlo_timeout' : 'helo_timeout'),
      mail: time('mail_timeout'),
      rcpt: time('rcpt_timeout'),
      dataInit: time('data_init_timeout'),
      dataXfer: time('data_xfer_timeout'),
      dataDone: time('data_done_timeout'),
      quit: time('quit_timeout'),
    };
  }

  async service(stream: VStream): Promise<void> {
    const req = await readDeliverRequest(stream);
    if (req === null) return;
    const status = new DeliveryStatus(this.config, req);
    // One open of the queue file per request, for the content and the done
    // marks; when it cannot be opened here, each use opens it by name and
    // reports its own error, as before.
    // (Synchronous open and close: a local file, and a thread-pool round trip
    // costs ten times the CPU.)
    try {
      status.queueFile = openSync(mailQueuePath(this.config, req.queue_name, req.queue_id), 'r+');
    } catch {
      status.queueFile = undefined;
    }
    let hop: HopStatus;
    const key = hopKey(req);
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
    try {
      hop = await this.deliver(req, status);
    } finally {
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left > 0) inFlight.set(key, left);
      else inFlight.delete(key);
      const fd = status.queueFile;
      status.queueFile = undefined;
      // nothing was written through it that is not already fsynced
      if (fd !== undefined) closeQuietly(fd);
    }
    await sendDeliverReply(stream, { hop, status: status.status });
  }

  /** deliver - try the next hop's servers until the recipients are all decided; returns the hop status. */
  private async deliver(req: DeliverRequest, status: DeliveryStatus): Promise<HopStatus> {
    const defaultPort = this.lmtp ? this.config.int('lmtp_tcp_port') : 25;
    const nexthop = hopKey(req);
    const hop = parseNextHop(nexthop, defaultPort, this.lmtp);
    let pending = [...req.rcpt];

    // A cached session first: this process's own, then one from scache(8).
    const caching = this.cachingFor(nexthop, req.flags, 'load');
    const cached = caching ? (takeIdle(nexthop) ?? (await this.findCached('dest', nexthop))) : undefined;
    if (cached) {
      const r = await this.transaction(cached, req, pending, status);
      pending = r.remaining;
      if (pending.length === 0) return emptyHop();
    }

    let targets: SmtpTarget[];
    const fallback = await this.fallbackTargets(nexthop);
    try {
      targets = await resolveTargets(hop, this.config);
    } catch (err) {
      const e = err as LookupError;
      const text = e.message;
      if (e.permanent || fallback.length === 0) {
        for (const r of pending) {
          if (e.permanent) await status.bounce(r, { dsn: '5.4.4', text, relay: 'none' });
          else await status.defer(r, { dsn: '4.4.3', text, relay: 'none' });
        }
        return e.permanent ? emptyHop() : siteFailure('4.4.3', text);
      }
      targets = [];
    }
    if (targets.length === 0 && fallback.length === 0) {
      const text = `Host or domain name not found. Name service error for name=${hop.host} type=A: Host not found`;
      for (const r of pending) await status.bounce(r, { dsn: '5.4.4', text, relay: 'none' });
      return emptyHop();
    }
    const primary = targets.length;
    targets = [...targets, ...fallback];
    let ctx: HopContext;
    try {
      ctx = { nexthop, hop, tlsPolicy: await lookupPolicy(this.config, this.prefix, nexthop, hop.host) };
    } catch (err) {
      if (err instanceof TlsPolicyInvalid) {
        // Postfix TLS_LEV_INVALID: warned, and the mail waits for a fixed configuration
        msg.warn(`TLS policy lookup for ${nexthop}/${targets[0].host}: ${err.message}`);
        for (const r of pending) await status.defer(r, { dsn: '4.7.5', text: err.message, relay: 'none' });
        return emptyHop();
      }
      const text = `TLS policy lookup for ${nexthop}: ${(err as Error).message}`;
      for (const r of pending) await status.defer(r, { dsn: '4.3.0', text, relay: 'none' });
      return emptyHop();
    }
    const sessionLimit = Math.max(1, this.config.int(`${this.prefix}_mx_session_limit`));
    let lastError = '';
    let lastDsn = '4.4.1';
    let lastRelay = 'none';
    let sessions = 0;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i];
      if (i < primary && sessions >= sessionLimit) {
        i = primary - 1;
        continue;
      }
      // (a cached session is plaintext: only where the TLS policy allows one)
      if (caching && !target.unixPath && (ctx.tlsPolicy.level === 'none' || ctx.tlsPolicy.level === 'may')) {
        // Postfix smtp_reuse_addr: a connection to this very address that another delivery left in scache
        const reused = await this.findCached('endp', nexthop, target);
        if (reused) {
          const r = await this.transaction(reused, req, pending, status);
          pending = r.remaining;
          if (pending.length === 0) return emptyHop();
        }
      }
      let sock: Socket;
      try {
        sock = await connectTarget(target, this.t.connect, this.config.str(`${this.prefix}_bind_address`));
      } catch (err) {
        lastError = `connect to ${targetLabel(target)}: ${connectErrorText(err as NodeJS.ErrnoException)}`;
        lastDsn = '4.4.1';
        lastRelay = 'none';
        msg.info(lastError);
        continue;
      }
      sessions++;
      const session: Session = { target, sock, stream: new VStream(sock), features: new Set(), sizeLimit: 0, reuseCount: 0, key: nexthop, stage: '', created: Date.now() };
      const greeted = await this.greet(session, ctx);
      if (greeted.kind !== 'ok') {
        lastError = greeted.text;
        lastDsn = greeted.dsn;
        lastRelay = targetLabel(target);
        if (greeted.kind === 'bounce') {
          for (const r of pending) await status.bounce(r, { dsn: greeted.dsn, text: greeted.text, relay: targetLabel(target) });
          return emptyHop();
        }
        continue;
      }
      const r = await this.transaction(session, req, pending, status);
      pending = r.remaining;
      if (pending.length === 0) return emptyHop();
      if (r.siteError) {
        lastError = r.siteError.text;
        lastDsn = r.siteError.dsn;
        lastRelay = targetLabel(target);
      }
    }
    // Nobody could take the remaining recipients: defer them with the last error.
    const text = lastError || `connect to ${hop.host}: no route`;
    for (const r of pending) await status.defer(r, { dsn: lastDsn, text, relay: lastRelay });
    return siteFailure(lastDsn, text);
  }

  /**
   * generic - smtp_generic_maps rewriting of an envelope address on output
   * (user@domain, then user when the domain is $myorigin or
   * $mydestination, then @domain; a result without "@" keeps the domain).
   */
  private async generic(addr: string): Promise<string> {
    const spec = param(this.config, this.prefix, 'generic_maps');
    if (!spec.trim() || addr === '') return addr;
    let maps = genericMaps.get(spec);
    if (!maps) {
      maps = Maps.create(`${this.prefix}_generic_maps`, spec);
      genericMaps.set(spec, maps);
    }
    const at = addr.lastIndexOf('@');
    const user = at < 0 ? addr : addr.slice(0, at);
    const domain = at < 0 ? '' : addr.slice(at + 1);
    let v = await maps.find(addr);
    if (v === null && domain) {
      const local = [this.config.str('myorigin'), ...splitList(this.config.str('mydestination'))].map((d) => d.toLowerCase());
      if (local.includes(domain.toLowerCase())) v = await maps.find(user);
      if (v === null) {
        v = await maps.find(`@${domain}`);
        if (v !== null && v.startsWith('@')) v = user + v;
      }
    }
    if (v === null) return addr;
    return v.includes('@') || !domain ? v : `${v}@${domain}`;
  }

  /** genericHeaders - the message lines with smtp_generic_maps applied to the primary header's addresses. */
  private async *genericHeaders(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    let inHeader = true;
    let pending: Buffer[] = [];
    let pendingLen = 0;
    const flush = async function* (this: SmtpAgent): AsyncGenerator<Buffer> {
      if (pending.length === 0) return;
      const lines = pending;
      pending = [];
      const tooBig = pendingLen > 64 * 1024;
      pendingLen = 0;
      const rewritten = tooBig ? null : await rewriteHeader(lines.map((l) => l.toString('utf8')).join('\n'), (a) => this.generic(a));
      if (rewritten === null) yield* lines;
      else for (const [i, l] of rewritten.split('\n').entries()) yield Buffer.from(i > 0 && !/^[ \t]/.test(l) ? `\t${l}` : l, 'utf8');
    };
    for await (const line of src) {
      if (!inHeader) {
        yield line;
        continue;
      }
      if (line.length > 0 && (line[0] === 0x20 || line[0] === 0x09) && pending.length > 0) {
        pending.push(line);
        pendingLen += line.length;
        continue;
      }
      yield* flush.call(this);
      if (line.length > 0 && /^[!-9;-~]+:/.test(line.subarray(0, 200).toString('latin1'))) {
        pending = [line];
        pendingLen = line.length;
      } else {
        inHeader = false;
        yield line;
      }
    }
    yield* flush.call(this);
  }

  /** fallbackTargets - smtp_fallback_relay hosts, tried after the next hop's own servers. */
  private async fallbackTargets(nexthop: string): Promise<SmtpTarget[]> {
    if (this.lmtp) return [];
    const out: SmtpTarget[] = [];
    for (const relay of splitList(this.config.str('smtp_fallback_relay'))) {
      if (relay === nexthop) continue;
      try {
        out.push(...(await resolveTargets(parseNextHop(relay, 25, false), this.config)));
      } catch (err) {
        msg.warn(`fallback relay ${relay}: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** greet - read the banner, say EHLO/LHLO (HELO fallback), then STARTTLS and AUTH as configured. */
  private async greet(s: Session, ctx: HopContext): Promise<GreetResult> {
    const label = targetLabel(s.target, false);
    try {
      if (/^(yes|true|1)$/i.test(param(this.config, this.prefix, 'tls_wrappermode').trim()) && !s.tls) {
        // SMTPS (port 465): TLS first, then the greeting.
        s.stage = 'performing the TLS handshake';
        const failed = await this.handshake(s, ctx);
        if (failed) return failed;
      }
      s.stage = 'receiving the initial server greeting';
      const banner = await readReply(s.stream, this.t.helo);
      if (banner.code !== 220) {
        this.dropSession(s, true);
        const permanent = banner.code >= 500 && !this.config.bool(`${this.prefix}_skip_5xx_greeting`);
        return { kind: permanent ? 'bounce' : 'defer', dsn: replyDsn(banner).replace(/^5/, permanent ? '5' : '4'), text: `host ${label} refused to talk to me: ${banner.text}` };
      }
      const hello = await this.hello(s, label);
      if (hello) return hello;
      const tls = await this.tls(s, ctx, label);
      if (tls) return tls;
      const auth = await this.auth(s, ctx, label);
      if (auth) return auth;
      return { kind: 'ok' };
    } catch (err) {
      this.dropSession(s, false);
      return { kind: 'defer', dsn: '4.4.2', text: protocolErrorText(err, label, s.stage) };
    }
  }

  /** hello - EHLO/LHLO with HELO fallback; records the server's features. */
  private async hello(s: Session, label: string): Promise<GreetResult | undefined> {
    const heloName = this.config.str(this.lmtp ? 'lmtp_lhlo_name' : 'smtp_helo_name');
    const verb = this.lmtp ? 'LHLO' : this.config.bool('smtp_never_send_ehlo') ? 'HELO' : 'EHLO';
    s.stage = `performing the ${verb} handshake`;
    s.stream.write(`${verb} ${heloName}\r\n`);
    let reply = await readReply(s.stream, this.t.helo);
    if (reply.code !== 250 && verb === 'EHLO' && reply.code !== 421) {
      s.stage = 'performing the HELO handshake';
      s.stream.write(`HELO ${heloName}\r\n`);
      reply = await readReply(s.stream, this.t.helo);
    }
    if (reply.code !== 250) {
      this.dropSession(s, true);
      const perm = reply.code >= 500;
      return { kind: perm ? 'bounce' : 'defer', dsn: replyDsn(reply), text: `host ${label} refused to talk to me: ${reply.text}` };
    }
    s.features.clear();
    s.authMechs = [];
    for (const line of reply.lines.slice(1)) {
      const [kw0, ...args] = line.trim().split(/\s+/);
      let kw = kw0;
      if (/^AUTH=/i.test(kw)) {
        args.unshift(kw.slice(5));
        kw = 'AUTH';
      }
      const upper = kw.toUpperCase();
      s.features.add(upper);
      if (upper === 'SIZE' && args[0] && /^\d+$/.test(args[0])) s.sizeLimit = Number(args[0]);
      if (upper === 'AUTH') for (const m of args) if (!s.authMechs.includes(m.toUpperCase())) s.authMechs.push(m.toUpperCase());
    }
    return undefined;
  }

  /** tls - STARTTLS as the TLS policy for this next hop asks; then EHLO again. */
  private async tls(s: Session, ctx: HopContext, label: string): Promise<GreetResult | undefined> {
    const policy = ctx.tlsPolicy;
    if (policy.level === 'none' || s.tls) return undefined;
    const required = policy.level !== 'may';
    if (clientCredentials(this.config, this.prefix) === 'unavailable') {
      // Postfix: no TLS engine; plaintext unless TLS is required
      if (!required) return undefined;
      this.dropSession(s, true);
      return { kind: 'defer', dsn: '4.7.5', text: 'TLS is required, but our TLS engine is unavailable' };
    }
    if (!s.features.has('STARTTLS')) {
      if (!required) return undefined;
      this.dropSession(s, true);
      return { kind: 'defer', dsn: '4.7.4', text: `TLS is required, but was not offered by host ${label}` };
    }
    s.stage = 'receiving the STARTTLS response';
    s.stream.write('STARTTLS\r\n');
    const reply = await readReply(s.stream, this.t.helo);
    if (reply.code !== 220) {
      if (!required) return undefined;
      this.dropSession(s, true);
      return { kind: 'defer', dsn: '4.7.4', text: `TLS is required, but host ${label} refused to start TLS: ${reply.text}` };
    }
    const failed = await this.handshake(s, ctx);
    if (failed) return failed;
    return this.hello(s, label);
  }

  /** handshake - TLS client handshake on the session's socket; checks and logs as the policy says. */
  private async handshake(s: Session, ctx: HopContext): Promise<GreetResult | undefined> {
    const policy = ctx.tlsPolicy;
    s.sock.removeAllListeners('data');
    let tsock;
    try {
      // SNI only when smtp_tls_servername asks for it, as in Postfix.
      const sniParam = param(this.config, this.prefix, 'tls_servername').trim();
      const sni = sniParam === '' ? '' : sniParam === 'hostname' ? s.target.host : sniParam === 'nexthop' ? ctx.hop.host : sniParam;
      const creds = clientCredentials(this.config, this.prefix);
      if (creds === 'unavailable') throw new Error('TLS engine unavailable');
      if ((Number(param(this.config, this.prefix, 'tls_loglevel')) || 0) >= 2) msg.info(`setting up TLS connection to ${targetLabel(s.target)}`);
      tsock = await startTls(s.sock, sni, clientContext(this.config, this.prefix, creds), this.t.helo);
    } catch (err) {
      this.dropSession(s, false);
      msg.info(`SSL_connect error to ${targetLabel(s.target)}: ${(err as Error).message}`);
      return { kind: 'defer', dsn: '4.7.5', text: 'Cannot start TLS: handshake failure' };
    }
    const r = assess(tsock, policy, s.target.host, ctx.hop.host, this.config, this.prefix, targetLabel(s.target));
    const logLevel = Number(param(this.config, this.prefix, 'tls_loglevel')) || 0;
    const verify = verifyLevel(policy.level);
    // where the certificate must match, why it did not is logged at any loglevel (TLS_LOG_UNTRUSTED)
    if (logLevel >= 2 && r.peerCert) for (const line of peerDepthLines(tsock, targetLabel(s.target))) msg.info(line);
    if (r.failure && verify) msg.info((r.failureLine ?? ((l: string) => `server certificate verification failed for ${l}: ${r.failure}`))(targetLabel(s.target)));
    if (logLevel >= 2 && r.peerCert) msg.info(peerCertLine(tsock, this.config, this.prefix, targetLabel(s.target)));
    if (logLevel >= 1) {
      msg.info(`${trustWord(r, policy.level)} TLS connection established to ${targetLabel(s.target)}: ${r.summary}`);
    }
    s.sock = tsock;
    s.stream = new VStream(tsock);
    s.tls = true;
    if (verify && !(r.trusted && r.matched)) {
      this.dropSession(s, true);
      return { kind: 'defer', dsn: '4.7.5', text: 'Server certificate not verified' };
    }
    return undefined;
  }

  /** auth - SASL PLAIN/LOGIN with the credentials from smtp_sasl_password_maps. */
  private async auth(s: Session, ctx: HopContext, label: string): Promise<GreetResult | undefined> {
    if (!this.config.bool(`${this.prefix}_sasl_auth_enable`) || !s.features.has('AUTH')) return undefined;
    const cred = await saslCredentials(this.config, this.prefix, [ctx.nexthop, s.target.host, ctx.hop.host]);
    if (!cred) return undefined;
    const options = splitList(param(this.config, this.prefix, s.tls ? 'sasl_tls_security_options' : 'sasl_security_options')).map((o) => o.toLowerCase());
    const filter = splitList(param(this.config, this.prefix, 'sasl_mechanism_filter')).map((m) => m.toUpperCase());
    const usable = (s.authMechs ?? []).filter((m) => (m === 'PLAIN' || m === 'LOGIN') && !options.includes('noplaintext') && (filter.length === 0 || filter.includes(m)));
    const soft = this.config.bool(`${this.prefix}_sasl_auth_soft_bounce`);
    if (usable.length === 0) {
      msg.warn('SASL authentication failure: No worthy mechs found');
      this.dropSession(s, true);
      return { kind: 'defer', dsn: '4.7.0', text: `SASL authentication failed; cannot authenticate to server ${label}: no mechanism available` };
    }
    s.stage = 'performing the AUTH handshake';
    const mech = usable.includes('PLAIN') ? 'PLAIN' : 'LOGIN';
    const b64 = (t: string) => Buffer.from(t, 'utf8').toString('base64');
    let reply: SmtpReply;
    if (mech === 'PLAIN') {
      s.stream.write(`AUTH PLAIN ${b64(`\0${cred.user}\0${cred.pass}`)}\r\n`);
      reply = await readReply(s.stream, this.t.helo);
    } else {
      s.stream.write('AUTH LOGIN\r\n');
      reply = await readReply(s.stream, this.t.helo);
      if (reply.code === 334) {
        s.stream.write(`${b64(cred.user)}\r\n`);
        reply = await readReply(s.stream, this.t.helo);
      }
      if (reply.code === 334) {
        s.stream.write(`${b64(cred.pass)}\r\n`);
        reply = await readReply(s.stream, this.t.helo);
      }
    }
    if (reply.code === 235) {
      s.authed = true;
      return undefined;
    }
    this.dropSession(s, true);
    const hard = reply.code >= 500 && !soft;
    const dsn = replyDsn(reply);
    return { kind: hard ? 'bounce' : 'defer', dsn: hard ? dsn : '4' + dsn.slice(1), text: `SASL authentication failed; server ${label} said: ${reply.text}` };
  }

  /**
   * transaction - one mail transaction on an open session. Returns the
   * recipients that are still undecided (to try on another server) and a
   * site error when the session broke.
   */
  private async transaction(s: Session, req: DeliverRequest, rcpts: DeliverRecipient[], status: DeliveryStatus): Promise<{ remaining: DeliverRecipient[]; siteError?: { dsn: string; text: string } }> {
    const label = targetLabel(s.target, false);
    const relay = targetLabel(s.target);
    const setupDone = Date.now();
    s.reuseCount++;
    s.store = this.cachingFor(s.key, req.flags, 'store');
    const outcome = (dsn: string, text: string): Outcome => ({ dsn, text, relay, connSetupDone: setupDone, reuseCount: s.reuseCount });
    const size = req.data_size;
    if (s.sizeLimit > 0 && size > s.sizeLimit) {
      for (const r of rcpts) await status.bounce(r, outcome('5.3.4', `message size ${size} exceeds size limit ${s.sizeLimit} of server ${label}`));
      await this.release(s);
      return { remaining: [] };
    }
    // Build the envelope commands.
    const sender = await this.generic(req.sender);
    const rcptAddrs: string[] = [];
    for (const r of rcpts) rcptAddrs.push(await this.generic(r.address));
    let mail = `MAIL FROM:<${sender}>`;
    if (s.features.has('SIZE')) mail += ` SIZE=${size}`;
    if (s.features.has('8BITMIME') && req.encoding === '8bit') mail += ' BODY=8BITMIME';
    if (s.features.has('DSN')) {
      if (req.dsn_ret) mail += ` RET=${req.dsn_ret & DSN_RET.HDRS ? 'HDRS' : 'FULL'}`;
      if (req.dsn_envid) mail += ` ENVID=${xtextQuote(req.dsn_envid)}`;
    }
    const rcptCmds = rcpts.map((r, i) => {
      let c = `RCPT TO:<${rcptAddrs[i]}>`;
      if (s.features.has('DSN')) {
        if (r.dsn_notify) c += ` NOTIFY=${notifyText(r.dsn_notify)}`;
        if (r.dsn_orcpt) c += ` ORCPT=${orcptText(r.dsn_orcpt)}`;
      }
      return c;
    });
    const pipelining = s.features.has('PIPELINING');
    let stage = 'sending MAIL FROM';
    try {
      let mailReply: SmtpReply;
      const rcptReplies: SmtpReply[] = [];
      if (pipelining) {
        s.stream.write([mail, ...rcptCmds, 'DATA'].join('\r\n') + '\r\n');
        mailReply = await readReply(s.stream, this.t.mail);
        stage = 'sending RCPT TO';
        for (let i = 0; i < rcptCmds.length; i++) rcptReplies.push(await readReply(s.stream, this.t.rcpt));
      } else {
        s.stream.write(mail + '\r\n');
        mailReply = await readReply(s.stream, this.t.mail);
        if (mailReply.code === 250) {
          stage = 'sending RCPT TO';
          for (const c of rcptCmds) {
            s.stream.write(c + '\r\n');
            rcptReplies.push(await readReply(s.stream, this.t.rcpt));
          }
        }
      }
      if (mailReply.code !== 250) {
        if (pipelining) {
          // Drain the pipelined RCPT and DATA replies so the session stays in sync.
          for (let i = rcptReplies.length; i < rcptCmds.length; i++) await readReply(s.stream, this.t.rcpt);
          await readReply(s.stream, this.t.dataInit);
        }
        const text = `host ${label} said: ${mailReply.text} (in reply to MAIL FROM command)`;
        for (const r of rcpts) await this.reject(status, r, mailReply, outcome(replyDsn(mailReply), text));
        await this.rset(s);
        return { remaining: [] };
      }
      const accepted: DeliverRecipient[] = [];
      for (let i = 0; i < rcpts.length; i++) {
        const reply = rcptReplies[i];
        if (reply.code === 250 || reply.code === 251) accepted.push(rcpts[i]);
        else await this.reject(status, rcpts[i], reply, outcome(replyDsn(reply), `host ${label} said: ${reply.text} (in reply to RCPT TO command)`));
      }
      stage = 'sending DATA command';
      let dataReply: SmtpReply | undefined;
      if (pipelining) dataReply = await readReply(s.stream, this.t.dataInit);
      if (accepted.length === 0) {
        if (dataReply && dataReply.code === 354) {
          s.stream.write('.\r\n');
          await readReply(s.stream, this.t.dataDone);
        }
        await this.rset(s);
        return { remaining: [] };
      }
      if (!dataReply) {
        s.stream.write('DATA\r\n');
        dataReply = await readReply(s.stream, this.t.dataInit);
      }
      if (dataReply.code !== 354) {
        const text = `host ${label} said: ${dataReply.text} (in reply to DATA command)`;
        for (const r of accepted) await this.reject(status, r, dataReply, outcome(replyDsn(dataReply), text));
        await this.rset(s);
        return { remaining: [] };
      }
      stage = 'sending message body';
      await this.sendContent(s, req, status);
      stage = 'sending end of data -- message may be sent more than once';
      const done = await readReply(s.stream, this.t.dataDone);
      if (this.lmtp) {
        // LMTP: one reply per accepted recipient.
        const replies = [done];
        for (let i = 1; i < accepted.length; i++) replies.push(await readReply(s.stream, this.t.dataDone));
        for (let i = 0; i < accepted.length; i++) await this.finalReply(status, accepted[i], replies[i], label, outcome);
      } else {
        for (const r of accepted) await this.finalReply(status, r, done, label, outcome);
      }
      await this.release(s);
      return { remaining: [] };
    } catch (err) {
      this.dropSession(s, false);
      const text = protocolErrorText(err, label, stage);
      // Recipients not yet decided go on to the next server.
      return { remaining: rcpts.filter((r) => !statusDecided(status, r)), siteError: { dsn: '4.4.2', text } };
    }
  }

  private async finalReply(status: DeliveryStatus, r: DeliverRecipient, reply: SmtpReply, label: string, outcome: (dsn: string, text: string) => Outcome): Promise<void> {
    if (reply.code >= 200 && reply.code < 300) {
      markDecided(status, r);
      await status.sent(r, outcome(replyDsn(reply), reply.text));
    } else {
      await this.reject(status, r, reply, outcome(replyDsn(reply), `host ${label} said: ${reply.text} (in reply to end of DATA command)`));
    }
  }

  private async reject(status: DeliveryStatus, r: DeliverRecipient, reply: SmtpReply, o: Outcome): Promise<void> {
    markDecided(status, r);
    const withDiag = { ...o, diagType: 'smtp', diagText: reply.text, mtaType: 'dns', mtaName: o.relay.replace(/\[.*$/, '') };
    if (reply.code >= 500) await status.bounce(r, withDiag);
    else await status.defer(r, withDiag);
  }

  /** sendContent - the message, dot-stuffed, CRLF line ends, then the final dot. */
  private async sendContent(s: Session, req: DeliverRequest, status: DeliveryStatus): Promise<void> {
    const path = mailQueuePath(this.config, req.queue_name, req.queue_id);
    const CRLF = Buffer.from('\r\n');
    const DOT = Buffer.from('.');
    let batch: Buffer[] = [];
    let batchLen = 0;
    s.stream.timeout = this.t.dataXfer;
    const source = readMessageLines(status.queueFile ?? path, req.data_offset);
    const generic = param(this.config, this.prefix, 'generic_maps').trim() ? this.genericHeaders(source) : source;
    // A server without 8BITMIME gets 8bit parts as quoted-printable (disable_mime_output_conversion = no).
    const downgrade = req.encoding === '8bit' && !s.features.has('8BITMIME') && !this.config.bool('disable_mime_output_conversion');
    const lines = downgrade ? mimeDowngrade(generic, { nestingLimit: this.config.int('mime_nesting_limit') }) : generic;
    for await (const line of lines) {
      if (line.length > 0 && line[0] === 0x2e) batch.push(DOT);
      batch.push(line, CRLF);
      batchLen += line.length + 3;
      if (batchLen >= 64 * 1024) {
        if (!s.stream.write(Buffer.concat(batch))) await s.stream.flush();
        batch = [];
        batchLen = 0;
      }
    }
    batch.push(Buffer.from('.\r\n'));
    s.stream.write(Buffer.concat(batch));
    await s.stream.flush();
  }

  private async rset(s: Session): Promise<void> {
    try {
      s.stream.write('RSET\r\n');
      const reply = await readReply(s.stream, this.t.quit);
      if (reply.code === 250) await this.release(s);
      else this.dropSession(s, true);
    } catch {
      this.dropSession(s, false);
    }
  }

  /**
   * cachingFor - may this delivery look for a cached session ('load') or
   * leave its session in the cache ('store')? Always for a next hop listed
   * in connection_cache_destinations; with connection_cache_on_demand, when
   * qmgr asked for it (it does once deliveries to the destination come back
   * to back: DEL_REQ_FLAG.CONN_LOAD/CONN_STORE), as Postfix smtp(8).
   */
  private cachingFor(key: string, flags: number, use: 'load' | 'store'): boolean {
    if (this.config.time(`${this.prefix}_connection_cache_time_limit`) <= 0) return false;
    if (splitList(param(this.config, this.prefix, 'connection_cache_destinations')).some((d) => d === key || d.toLowerCase() === parseNextHop(key, 0, this.lmtp).host.toLowerCase())) return true;
    if (!this.config.bool(`${this.prefix}_connection_cache_on_demand`)) return false;
    return (flags & (use === 'load' ? DEL_REQ_FLAG.CONN_LOAD : DEL_REQ_FLAG.CONN_STORE)) !== 0;
  }

  /**
   * Labels in scache: the next hop, and the address a session is connected
   * to, each under the master.cf service name (services with other -o
   * settings, e.g. another TLS level, do not share sessions).
   */
  private destLabel(key: string): string {
    return `${this.serviceName()}:${key}`;
  }

  private endpLabel(t: SmtpTarget): string {
    return `${this.serviceName()}:${t.addr}:${t.port}`;
  }

  private serviceName(): string {
    return this.config.raw('service_name') || this.prefix;
  }

  private scacheClient(): ScacheClient | undefined {
    if (!scache) scache = new ScacheClient(this.config);
    return scache.usable ? scache : undefined;
  }

  /**
   * findCached - a session that another delivery (in any smtp process) left
   * in scache(8): by next hop (find_dest) or by address (find_endp).
   */
  private async findCached(kind: 'dest' | 'endp', key: string, target?: SmtpTarget): Promise<Session | undefined> {
    const client = this.scacheClient();
    if (!client) return undefined;
    const found = kind === 'dest' ? await client.findDest(this.destLabel(key)) : await client.findEndp(this.endpLabel(target!));
    if (!found) return undefined;
    const p = parseEndpProp(found.endpProp);
    if (!p || (target && (p.target.addr !== target.addr || p.target.port !== target.port))) {
      found.sock.destroy();
      return undefined;
    }
    found.sock.on('error', () => undefined);
    return { ...p, sock: found.sock, stream: new VStream(found.sock), key, stage: '' };
  }

  /** release - keep the session for reuse (in scache(8), else in this process), or say QUIT. */
  private async release(s: Session): Promise<void> {
    const limit = this.config.time(`${this.prefix}_connection_cache_time_limit`);
    const maxReuse = this.config.int(`${this.prefix}_connection_reuse_count_limit`);
    const maxAge = this.config.time(`${this.prefix}_connection_reuse_time_limit`) * 1000;
    // TLS sessions are not cached: Postfix caches them only through tlsproxy(8).
    if (limit <= 0 || s.tls || (maxReuse > 0 && s.reuseCount >= maxReuse) || (maxAge > 0 && Date.now() - s.created >= maxAge) || !s.store) {
      this.dropSession(s, true);
      return;
    }
    // While other deliveries to this next hop run in this process (up to
    // SMTP_CLIENT_SLOTS at once), the next request for it will most likely
    // come here: keep the session in the process instead of passing it
    // through master to scache(8) and back (two descriptor relays, ≈ 0.4 ms
    // of CPU per message in W1, docs/PERFORMANCE.md). Otherwise it goes to
    // scache, to be shared with other smtp processes, as in Postfix.
    const othersHere = (inFlight.get(s.key) ?? 0) > 1;
    const client = othersHere || s.authed || s.target.unixPath || s.sock.destroyed ? undefined : this.scacheClient();
    if (client && s.stream.available === 0 && !s.stream.eof) {
      const endp = this.endpLabel(s.target);
      if (await client.saveEndp(limit, endp, endpProp(s), s.sock)) {
        await client.saveDest(limit, this.destLabel(s.key), s.key, endp);
        return;
      }
      if (s.sock.destroyed) return; // it went to scache, which could not keep it
    }
    const list = idle.get(s.key) ?? [];
    list.push(s);
    idle.set(s.key, list);
    s.idleTimer = setTimeout(() => {
      unlistIdle(s);
      this.dropSession(s, true);
    }, limit * 1000);
    s.idleTimer.unref?.();
    s.sock.once('close', () => unlistIdle(s));
  }

  /** dropSession - end a session, politely (QUIT) when it is in a sane state. */
  private dropSession(s: Session, quit: boolean): void {
    if (s.idleTimer) clearTimeout(s.idleTimer);
    if (quit && !s.sock.destroyed) {
      s.sock.end('QUIT\r\n');
      setTimeout(() => s.sock.destroy(), 1000).unref?.();
    } else {
      s.sock.destroy();
    }
  }

  /** closeIdle - drop every cached session (process exit). */
  static closeIdle(): void {
    for (const list of idle.values()) for (const s of list) s.sock.end('QUIT\r\n');
    idle.clear();
    scache?.close();
  }
}

/** Recipients decided within this request (so a broken session does not retry them elsewhere). */
const decidedRecipients = new WeakMap<DeliveryStatus, Set<DeliverRecipient>>();

function markDecided(status: DeliveryStatus, r: DeliverRecipient): void {
  let set = decidedRecipients.get(status);
  if (!set) {
    set = new Set();
    decidedRecipients.set(status, set);
  }
  set.add(r);
}

function statusDecided(status: DeliveryStatus, r: DeliverRecipient): boolean {
  return decidedRecipients.get(status)?.has(r) ?? false;
}

/** unlistIdle - forget an idle session (it timed out or the server closed it). */
function unlistIdle(s: Session): void {
  const l = idle.get(s.key);
  if (!l) return;
  const i = l.indexOf(s);
  if (i >= 0) l.splice(i, 1);
  if (l.length === 0) idle.delete(s.key);
}

function takeIdle(key: string): Session | undefined {
  const list = idle.get(key);
  while (list && list.length > 0) {
    const s = list.shift()!;
    if (list.length === 0) idle.delete(key);
    if (s.idleTimer) clearTimeout(s.idleTimer);
    if (!s.sock.destroyed) {
      s.sock.removeAllListeners('close');
      return s;
    }
  }
  return undefined;
}

/**
 * endpProp - what another process needs to go on with a session it gets
 * from scache: the server, its EHLO features, how often and since when the
 * connection was used (Postfix smtp_session_passivate).
 */
function endpProp(s: Session): string {
  return [s.target.host, s.target.addr, s.target.port, [...s.features].join(' '), s.sizeLimit, s.reuseCount, s.created, (s.authMechs ?? []).join(' ')].join('\n');
}

/** parseEndpProp - the session state from endpProp(); null when it is not one. */
function parseEndpProp(prop: string): Pick<Session, 'target' | 'features' | 'sizeLimit' | 'reuseCount' | 'created' | 'authMechs'> | null {
  const f = prop.split('\n');
  if (f.length !== 8) return null;
  const [host, addr, port, features, sizeLimit, reuseCount, created, mechs] = f;
  const num = (v: string) => (/^\d{1,15}$/.test(v) ? Number(v) : NaN);
  if (!host || !addr || [port, sizeLimit, reuseCount, created].some((v) => Number.isNaN(num(v)))) return null;
  return {
    target: { host, addr, port: num(port) },
    features: new Set(features.split(' ').filter(Boolean)),
    sizeLimit: num(sizeLimit),
    reuseCount: num(reuseCount),
    created: num(created),
    authMechs: mechs.split(' ').filter(Boolean),
  };
}

function siteFailure(dsn: string, text: string): HopStatus {
  return { ...emptyHop(), status: dsn, action: 'delayed', reason: text };
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(at + 1) : '';
}

function connectErrorText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    case 'EHOSTUNREACH':
      return 'No route to host';
    case 'ENETUNREACH':
      return 'Network is unreachable';
    case 'ENOENT':
      return 'No such file or directory';
    default:
      return err.message;
  }
}

function protocolErrorText(err: unknown, label: string, stage: string): string {
  if (err instanceof SmtpProtocolError) {
    if (err.kind === 'timeout') return `conversation with ${label} timed out while ${stage}`;
    if (err.kind === 'lost') return `lost connection with ${label} while ${stage}`;
    return `${err.message} from ${label} while ${stage}`;
  }
  return `lost connection with ${label} while ${stage}`;
}

function notifyText(flags: number): string {
  if (flags & DSN_NOTIFY.NEVER) return 'NEVER';
  const parts: string[] = [];
  if (flags & DSN_NOTIFY.SUCCESS) parts.push('SUCCESS');
  if (flags & DSN_NOTIFY.FAILURE) parts.push('FAILURE');
  if (flags & DSN_NOTIFY.DELAY) parts.push('DELAY');
  return parts.join(',');
}

function orcptText(dsnOrcpt: string): string {
  const semi = dsnOrcpt.indexOf(';');
  if (semi < 0) return `rfc822;${xtextQuote(dsnOrcpt)}`;
  return `${dsnOrcpt.slice(0, semi)};${xtextQuote(dsnOrcpt.slice(semi + 1))}`;
}

/**
 * SMTP_CLIENT_SLOTS - the deliveries one smtp process runs at once: 100,
 * the default_process_limit, so that one warm process carries a default
 * transport's whole concurrency. A delivery mostly waits for the remote
 * server, so one process keeps up (smtpd and cleanup, which spend CPU on
 * every client, have MULTI_CLIENT_SLOTS). max_use counts per slot, so a
 * process is replaced after 100 x max_use deliveries, not 40 x: each new
 * Node process warms up its optimising compiler again, ≈ 0.7 s of CPU
 * (W5 with 20 000 messages: smtp CPU 9.1 -> 6.5 s, docs/PERFORMANCE.md).
 * maxproc still bounds the deliveries (master counts clients).
 */
const SMTP_CLIENT_SLOTS = 100;

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  let agent: SmtpAgent | undefined;
  singleServerMain(argv, {
    // One warm process for a busy transport instead of several cold ones.
    concurrency: SMTP_CLIENT_SLOTS,
    postInit(ctx: ServerContext) {
      agent = new SmtpAgent(ctx.config, ctx.processName);
    },
    async service(stream: VStream) {
      await agent!.service(stream);
    },
    exit() {
      SmtpAgent.closeIdle();
    },
  });
}

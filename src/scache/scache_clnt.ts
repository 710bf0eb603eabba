/**
 * scache_clnt - client of the shared connection cache (Postfix
 * global/scache_clnt.c), used by smtp(8)/lmtp(8).
 *
 * One connection to the scache service per process, kept while requests
 * come (closed after ipc_idle without any), one request at a time. The
 * connections themselves go to scache and come back through master's IPC
 * channel (master/fd_relay.ts), tied to the request by its fd_token
 * attribute. Every failure (no scache service, no master, a timeout) is
 * "nothing cached": the caller then connects, or keeps the session to itself.
 */

import type { Socket } from 'node:net';
import { VStream } from '../util/vstream.js';
import { attrExpectProtocol, readAttrs, sendAttrs, type AttrList, type AttrPairs } from '../util/attr.js';
import { mailConnect } from '../global/mail_connect.js';
import type { MailConfig } from '../global/mail_conf.js';
import { cancelFd, expectFd, fdRelayAvailable, fdRelayListen, newToken, sendSocket, socketOf } from '../master/fd_relay.js';
import { SCACHE_STAT_OK } from './scache.js';

/** After a failed connect, how long the client leaves scache alone. */
const RETRY_AFTER_MS = 10_000;

export interface FoundSession {
  sock: Socket;
  destProp: string;
  endpProp: string;
}

export class ScacheClient {
  private stream: VStream | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private downUntil = 0;
  /** destination links saved lately, until when they need not be saved again */
  private readonly destSaved = new Map<string, number>();
  private readonly service: string;
  private readonly timeout: number;
  private readonly idle: number;
  /** scache's connection_cache_ttl_limit (same main.cf) */
  private readonly ttlLimit: number;

  constructor(private readonly config: MailConfig) {
    this.service = config.str('connection_cache_service_name') || 'scache';
    this.timeout = Math.max(1, config.time('connection_cache_protocol_timeout')) * 1000;
    this.idle = Math.max(1, config.time('ipc_idle')) * 1000;
    this.ttlLimit = config.time('connection_cache_ttl_limit');
  }

  /** usable - scache can be asked: we run under master and scache did not fail lately. */
  get usable(): boolean {
    return fdRelayAvailable() && Date.now() >= this.downUntil;
  }

  private async connection(): Promise<VStream> {
    if (this.stream && !this.stream.sock.destroyed) return this.stream;
    fdRelayListen();
    const stream = await mailConnect(this.config, 'private', this.service, this.timeout);
    try {
      await attrExpectProtocol(stream, 'scache_protocol');
    } catch (e) {
      stream.sock.destroy();
      throw e;
    }
    stream.sock.on('error', () => undefined);
    (stream.sock as Socket).unref();
    this.stream = stream;
    return stream;
  }

  private drop(): void {
    this.destSaved.clear();
    this.stream?.sock.destroy();
    this.stream = undefined;
  }

  /** serial - run one exchange after the previous one; any error is "nothing". */
  private serial<T>(fn: (stream: VStream) => Promise<T>, none: T): Promise<T> {
    const run = async (): Promise<T> => {
      if (!this.usable) return none;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      let stream: VStream;
      try {
        stream = await this.connection();
      } catch {
        this.downUntil = Date.now() + RETRY_AFTER_MS;
        return none;
      }
      try {
        return await fn(stream);
      } catch {
        this.drop();
        return none;
      } finally {
        this.idleTimer = setTimeout(() => this.drop(), this.idle);
        this.idleTimer.unref();
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async ask(stream: VStream, pairs: AttrPairs): Promise<AttrList> {
    sendAttrs(stream, pairs);
    await stream.flush();
    const reply = await readAttrs(stream);
    if (!reply) throw new Error('scache closed the connection');
    return reply;
  }

  /** saveEndp - hand a session's connection to scache (it is ours no more when this returns true). */
  saveEndp(ttl: number, label: string, prop: string, sock: Socket): Promise<boolean> {
    return this.serial(async (stream) => {
      const token = newToken();
      if (!(await sendSocket(this.service, token, sock))) return false;
      const r = await this.ask(stream, [['request', 'save_endp'], ['ttl', ttl], ['label', label], ['endp_prop', prop], ['fd_token', token]]);
      return r.get('status') === String(SCACHE_STAT_OK);
    }, false);
  }

  /** saveDest - the destination label now leads to this endpoint. */
  saveDest(ttl: number, label: string, prop: string, endpLabel: string): Promise<boolean> {
    // The link lives in scache for its ttl: within the first half of it, saying it again changes nothing.
    const key = `${label}\n${prop}\n${endpLabel}`;
    const fresh = this.destSaved.get(key);
    if (fresh !== undefined && fresh > Date.now()) return Promise.resolve(true);
    return this.serial(async (stream) => {
      const r = await this.ask(stream, [['request', 'save_dest'], ['ttl', ttl], ['label', label], ['dest_prop', prop], ['endp_label', endpLabel]]);
      const ok = r.get('status') === String(SCACHE_STAT_OK);
      if (ok) {
        if (this.destSaved.size >= 1000) this.destSaved.clear();
        this.destSaved.set(key, Date.now() + (Math.min(ttl, this.ttlLimit) * 1000) / 2);
      }
      return ok;
    }, false);
  }

  private find(request: 'find_dest' | 'find_endp', label: string): Promise<FoundSession | null> {
    return this.serial(async (stream) => {
      const token = newToken();
      const fd = expectFd(token, this.timeout);
      let r: AttrList;
      try {
        r = await this.ask(stream, [['request', request], ['label', label], ['fd_token', token]]);
      } catch (e) {
        cancelFd(token);
        throw e;
      }
      if (r.get('status') !== String(SCACHE_STAT_OK)) {
        cancelFd(token);
        return null;
      }
      const handle = await fd;
      if (!handle) return null;
      return { sock: socketOf(handle), destProp: r.get('dest_prop') ?? '', endpProp: r.get('endp_prop') ?? '' };
    }, null);
  }

  findDest(label: string): Promise<FoundSession | null> {
    return this.find('find_dest', label);
  }

  findEndp(label: string): Promise<FoundSession | null> {
    return this.find('find_endp', label);
  }

  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.drop();
  }
}

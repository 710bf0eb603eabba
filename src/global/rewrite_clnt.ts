/**
 * rewrite_clnt - client of the trivial-rewrite "rewrite" request
 * (Postfix global/rewrite_clnt.c).
 *
 * One connection to private/rewrite (rewrite_service_name) is kept open and
 * shared; it is re-opened after an error or when the server asks for it
 * (non-zero server flags). Recent results are cached for 30 seconds, as
 * Postfix caches the last one (here a few entries, so that alternating
 * sender and recipient lookups of a busy cleanup or smtpd still hit).
 * rewriteClntInternal() takes and returns internal (unquoted) form.
 */

import type { MailConfig } from './mail_conf.js';
import { mailConnect } from './mail_connect.js';
import { readAttrs, sendAttrs, AttrError, type AttrList, type AttrPairs } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import { msg } from '../util/msg.js';
import { quote822Local, unquote822Local } from './quote_822_local.js';

export const MAIL_ATTR_RWR_LOCAL = 'local';
export const MAIL_ATTR_RWR_REMOTE = 'remote';
const PROTO = 'trivial_rewrite_protocol';

/**
 * TrivialClient - one persistent, serialized connection to the
 * trivial-rewrite service, shared by the rewrite and resolve clients.
 */
export class TrivialClient {
  private stream: VStream | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly config: MailConfig,
    readonly service = config.str('rewrite_service_name') || 'rewrite',
  ) {}

  private async connect(): Promise<VStream> {
    if (this.stream && !this.stream.eof) return this.stream;
    const s = await mailConnect(this.config, 'private', this.service);
    s.sock.on('error', () => undefined);
    const hello = await readAttrs(s);
    if (hello?.get('protocol') !== PROTO) {
      s.sock.destroy();
      throw new AttrError(`unexpected protocol: wanted ${PROTO}, got ${hello?.get('protocol') ?? '(none)'}`);
    }
    this.stream = s;
    return s;
  }

  /** disconnect - drop the connection (the next request reconnects). */
  disconnect(): void {
    if (this.stream) this.stream.sock.destroy();
    this.stream = null;
  }

  /**
   * request - send one request and read one reply. A broken connection is
   * re-opened; while the service is unreachable the request is retried once
   * a second (Postfix waits forever; here the wait ends after
   * maxWaitSeconds and the error goes to the caller, who defers).
   */
  request(pairs: AttrPairs, maxWaitSeconds = 60): Promise<AttrList> {
    const run = async (): Promise<AttrList> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const s = await this.connect();
          sendAttrs(s, pairs);
          const reply = await readAttrs(s);
          if (reply === null) throw new AttrError('server closed the connection');
          if (reply.int('flags') !== 0) this.disconnect();
          return reply;
        } catch (e) {
          this.disconnect();
          // The first failure may just be a stale connection: retry at once.
          if (attempt === 0) continue;
          if (attempt > maxWaitSeconds) throw e;
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
            msg.warn(`problem talking to service ${this.service}: ${(e as Error).message}`);
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}

const shared = new WeakMap<MailConfig, TrivialClient>();

/** trivialClient - the process-wide connection for a configuration. */
export function trivialClient(config: MailConfig): TrivialClient {
  let c = shared.get(config);
  if (!c) {
    c = new TrivialClient(config);
    shared.set(config, c);
  }
  return c;
}

/** Entries of the per-client result caches, and how long one stays valid (Postfix: 30 s). */
export const CLNT_CACHE_SIZE = 16;
export const CLNT_CACHE_TTL_MS = 30_000;

/** ClntCache - a small LRU of recent replies with an expiry (rewrite_clnt, resolve_clnt). */
export class ClntCache<T> {
  private readonly map = new Map<string, { value: T; when: number }>();

  get(key: string, now: number): T | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (now - e.when >= CLNT_CACHE_TTL_MS || now < e.when) {
      this.map.delete(key);
      return undefined;
    }
    // most recently used last
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: T, now: number): void {
    this.map.delete(key);
    this.map.set(key, { value, when: now });
    if (this.map.size > CLNT_CACHE_SIZE) this.map.delete(this.map.keys().next().value as string);
  }
}

export class RewriteClient {
  private readonly cache = new ClntCache<string>();

  constructor(readonly trivial: TrivialClient) {}

  /** rewrite - externalized address in, externalized address out. */
  async rewrite(rule: string, addr: string): Promise<string> {
    if (addr === '') return '';
    const now = Date.now();
    const key = rule + '\0' + addr;
    const hit = this.cache.get(key, now);
    if (hit !== undefined) return hit;
    const reply = await this.trivial.request([
      ['request', 'rewrite'],
      ['rule', rule],
      ['address', addr],
    ]);
    const result = reply.str('address');
    this.cache.set(key, result, now);
    return result;
  }

  /** rewriteInternal - internal form in and out (rewrite_clnt_internal). */
  async rewriteInternal(rule: string, addr: string): Promise<string> {
    if (addr === '') return '';
    return unquote822Local(await this.rewrite(rule, quote822Local(addr)));
  }
}

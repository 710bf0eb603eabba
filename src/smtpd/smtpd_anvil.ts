/**
 * smtpd_anvil - smtpd's client of the anvil service (Postfix
 * global/anvil_clnt.c): one kept-open connection to private/anvil per
 * process, one request at a time. A failing anvil never stops mail: the
 * caller gets null and applies no limit, as in Postfix.
 */

import { msg } from '../util/msg.js';
import { mailConnect } from '../global/mail_connect.js';
import type { MailConfig } from '../global/mail_conf.js';
import { readAttrs, sendAttrs, type AttrList } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import { NamadrList } from './smtpd_resolve.js';
import { MAIL_ERROR, type SmtpdState } from './smtpd_state.js';

export class AnvilClient {
  private stream: VStream | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly config: MailConfig) {}

  private async open(): Promise<VStream> {
    if (this.stream && !this.stream.sock.destroyed) return this.stream;
    const s = await mailConnect(this.config, 'private', 'anvil', 10_000);
    s.sock.on('error', () => undefined);
    const hello = await readAttrs(s);
    if (hello?.get('protocol') !== 'anvil_protocol') {
      s.sock.destroy();
      throw new Error('bad anvil protocol announcement');
    }
    (s.sock as import('node:net').Socket).unref();
    this.stream = s;
    return s;
  }

  /** request - one request/reply; null when anvil cannot be reached or fails. */
  request(pairs: Array<[string, string]>): Promise<AttrList | null> {
    const p = this.chain.then(async () => {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const s = await this.open();
          sendAttrs(s, pairs);
          const reply = await readAttrs(s);
          if (reply === null) throw new Error('connection closed');
          return reply.get('status') === '0' ? reply : null;
        } catch (e) {
          this.stream?.sock.destroy();
          this.stream = null;
          if (attempt === 1) {
            msg.warn(`problem talking to server private/anvil: ${(e as Error).message}`);
          }
        }
      }
      return null;
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  private ident(service: string, addr: string): string {
    return `${service}:${addr}`.replace(/[^\x20-\x7e]/g, '?');
  }

  async connect(service: string, addr: string): Promise<{ count: number; rate: number } | null> {
    const r = await this.request([['request', 'connect'], ['ident', this.ident(service, addr)]]);
    return r ? { count: r.intOr('count', 0), rate: r.intOr('rate', 0) } : null;
  }

  async disconnect(service: string, addr: string): Promise<void> {
    await this.request([['request', 'disconnect'], ['ident', this.ident(service, addr)]]);
  }

  /** rate - "message", "recipient", "auth", "newtls": the event rate, or null. */
  async rate(request: string, service: string, addr: string): Promise<number | null> {
    const r = await this.request([['request', request], ['ident', this.ident(service, addr)]]);
    return r ? r.intOr('rate', 0) : null;
  }

  close(): void {
    this.stream?.sock.destroy();
    this.stream = null;
  }
}

const clients = new WeakMap<MailConfig, AnvilClient>();

/** anvilClient - the process-wide anvil client of a configuration. */
export function anvilClient(config: MailConfig): AnvilClient {
  let c = clients.get(config);
  if (!c) {
    c = new AnvilClient(config);
    clients.set(config, c);
  }
  return c;
}

/** anvilRateCheck - MAIL/RCPT rate limits; the reject text or null. */
export async function anvilRateCheck(state: SmtpdState, what: 'message' | 'recipient'): Promise<string | null> {
  const c = state.config;
  const limit = c.int(what === 'message' ? 'smtpd_client_message_rate_limit' : 'smtpd_client_recipient_rate_limit');
  if (state.standAlone || state.xclientAllowed || limit <= 0) return null;
  const hoggers = new NamadrList(c.str('smtpd_client_event_limit_exceptions'), false);
  if (await hoggers.match(state.name, state.addr)) return null;
  const rate = await anvilClient(c).rate(what, state.service, state.addr);
  if (rate === null || rate <= limit) return null;
  state.errorMask |= MAIL_ERROR.POLICY;
  if (what === 'message') {
    msg.warn(`Message delivery request rate limit exceeded: ${rate} from ${state.namaddr} for service ${state.service}`);
    return `450 4.7.1 Error: too much mail from ${state.addr}`;
  }
  msg.warn(`Recipient address rate limit exceeded: ${rate} from ${state.namaddr} for service ${state.service}`);
  return `450 4.7.1 Error: too many recipients from ${state.addr}`;
}


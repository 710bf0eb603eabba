/**
 * resolve_clnt - client of the trivial-rewrite "resolve" and "verify"
 * requests (Postfix global/resolve_clnt.c).
 *
 * Input is an internal-form address and the envelope sender; the reply is
 * the transport, nexthop, rewritten recipient and RESOLVE_FLAG/CLASS bits.
 * Uses the shared persistent connection of rewrite_clnt and caches recent
 * replies for 30 seconds, as Postfix caches the last one.
 */

import type { MailConfig } from './mail_conf.js';
import { ClntCache, trivialClient, type TrivialClient } from './rewrite_clnt.js';

export const RESOLVE_FLAG_FINAL = 1 << 0;
export const RESOLVE_FLAG_ROUTED = 1 << 1;
export const RESOLVE_FLAG_ERROR = 1 << 2;
export const RESOLVE_FLAG_FAIL = 1 << 3;
export const RESOLVE_CLASS_LOCAL = 1 << 8;
export const RESOLVE_CLASS_ALIAS = 1 << 9;
export const RESOLVE_CLASS_VIRTUAL = 1 << 10;
export const RESOLVE_CLASS_RELAY = 1 << 11;
export const RESOLVE_CLASS_DEFAULT = 1 << 12;
export const RESOLVE_CLASS_FINAL = RESOLVE_CLASS_LOCAL | RESOLVE_CLASS_VIRTUAL;
export const RESOLVE_CLASS_MASK =
  RESOLVE_CLASS_LOCAL | RESOLVE_CLASS_ALIAS | RESOLVE_CLASS_VIRTUAL | RESOLVE_CLASS_RELAY | RESOLVE_CLASS_DEFAULT;

export interface ResolveReply {
  transport: string;
  nexthop: string;
  recipient: string;
  flags: number;
}

export class ResolveClient {
  private readonly cache = new ClntCache<ResolveReply>();

  constructor(readonly trivial: TrivialClient) {}

  static forConfig(config: MailConfig): ResolveClient {
    return new ResolveClient(trivialClient(config));
  }

  /** resolve - request "resolve" (or "verify" for address verification probes). */
  async resolve(sender: string, addr: string, request: 'resolve' | 'verify' = 'resolve'): Promise<ResolveReply> {
    const now = Date.now();
    const key = request + '\0' + sender + '\0' + addr;
    const hit = this.cache.get(key, now);
    if (hit !== undefined) return { ...hit };
    const r = await this.trivial.request([
      ['request', request],
      ['sender', sender],
      ['address', addr],
    ]);
    // Two "flags" attributes: the server flags first, then the resolve flags.
    const flagValues = r.pairs.filter(([k]) => k === 'flags').map(([, v]) => v);
    if (flagValues.length < 2 || !/^\d+$/.test(flagValues[1])) throw new Error('resolve reply: missing flags');
    const reply: ResolveReply = {
      transport: r.str('transport'),
      nexthop: r.str('nexthop'),
      recipient: r.str('recipient'),
      flags: Number(flagValues[1]),
    };
    this.cache.set(key, reply, now);
    return { ...reply };
  }
}

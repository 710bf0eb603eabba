/**
 * qmgr_resolve - qmgr's use of the trivial-rewrite resolve service (Postfix
 * global/resolve_clnt.c), with a larger cache of recent answers keyed by
 * (sender, address): a queue run resolves the same few destinations over
 * and over.
 */

import type { MailConfig } from '../global/mail_conf.js';
import {
  ResolveClient,
  RESOLVE_CLASS_LOCAL,
  RESOLVE_FLAG_ERROR,
  RESOLVE_FLAG_FAIL,
  type ResolveReply,
} from '../global/resolve_clnt.js';

export const RESOLVE_FLAG = { FAIL: RESOLVE_FLAG_FAIL, ERROR: RESOLVE_FLAG_ERROR, CLASS_LOCAL: RESOLVE_CLASS_LOCAL } as const;

const CACHE_SIZE = 10000;
const CACHE_TTL_MS = 30_000;

export class QmgrResolver {
  private readonly cache = new Map<string, { reply: ResolveReply; when: number }>();
  private readonly client: ResolveClient;

  constructor(config: MailConfig) {
    this.client = ResolveClient.forConfig(config);
  }

  async resolve(sender: string, address: string): Promise<ResolveReply> {
    const key = `${sender}\0${address}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.when < CACHE_TTL_MS) return hit.reply;
    const reply = await this.client.resolve(sender, address);
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { reply, when: now });
    return reply;
  }

  close(): void {
    // the trivial-rewrite connection closes with the process
  }
}

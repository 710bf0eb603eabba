/**
 * qmgr_resolve - qmgr's use of the trivial-rewrite resolve service (Postfix
 * global/resolve_clnt.c), with a small cache of recent answers keyed by
 * (sender, address), as the Postfix client keeps one.
 */

import type { MailConfig } from '../global/mail_conf.js';
import { resolveClntInit, type ResolveReply } from '../global/resolve_clnt.js';

export { RESOLVE_FLAG } from '../global/resolve_clnt.js';

const CACHE_SIZE = 10000;

export class QmgrResolver {
  private readonly cache = new Map<string, ResolveReply>();
  private readonly client: ReturnType<typeof resolveClntInit>;

  constructor(config: MailConfig) {
    this.client = resolveClntInit(config);
  }

  async resolve(sender: string, address: string): Promise<ResolveReply> {
    const key = `${sender}\0${address}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const reply = await this.client.resolve(sender, address);
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, reply);
    return reply;
  }

  close(): void {
    this.client.close();
  }
}

/**
 * trivial-rewrite - Postfix address rewriting and resolving daemon
 * (Postfix trivial-rewrite(8), trivial-rewrite/trivial-rewrite.c).
 *
 * One multi-connection service (master.cf `rewrite unix - - n - -
 * trivial-rewrite`, socket private/rewrite). On connect the server sends
 * `protocol=trivial_rewrite_protocol`; then each request is one attribute
 * list:
 *   request=rewrite rule=local|remote address=A  ->  flags=0 address=R
 *   request=resolve|verify sender=S address=A    ->  flags=0 transport=T
 *                                                   nexthop=H recipient=R flags=F
 * A malformed request ends the connection. It never touches the queue.
 */

import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { multiServerMain } from '../master/multi_server.js';
import { attrSendProtocol, readAttrs, sendAttrs, type AttrList } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import { msg, msgVerbose } from '../util/msg.js';
import { Resolver } from './resolve.js';
import { rewriteAddr, type RewriteContext } from './rewrite.js';

export const MAIL_ATTR_PROTO_TRIVIAL = 'trivial_rewrite_protocol';
export const REWRITE_ADDR = 'rewrite';
export const RESOLVE_REGULAR = 'resolve';
export const RESOLVE_VERIFY = 'verify';

/** The daemon's state after initialisation. */
export interface TrivialRewriteState {
  resolver: Resolver;
  contexts: Record<string, RewriteContext>;
  /** server_flags: non-zero asks clients to reconnect (configuration changed) */
  serverFlags: number;
}

/** trivialRewriteInit - read parameters and open tables (pre_jail_init + post_jail_init). */
export async function trivialRewriteInit(config: MailConfig): Promise<TrivialRewriteState> {
  const resolver = await Resolver.create(config);
  resolver.configDir = config.configDir;
  const remote = config.str('remote_header_rewrite_domain');
  return {
    resolver,
    contexts: {
      local: { origin: config.str('myorigin'), domain: config.str('mydomain') },
      remote: { origin: remote, domain: remote },
    },
    serverFlags: 0,
  };
}

function strictAttrs(req: AttrList, names: string[]): boolean {
  const allowed = new Set(['request', ...names]);
  for (const [k] of req.pairs) if (!allowed.has(k)) return false;
  return names.every((n) => req.has(n));
}

/** handleRequest - one request; returns false when the client must be disconnected. */
export async function handleRequest(st: TrivialRewriteState, stream: VStream, req: AttrList): Promise<boolean> {
  const command = req.get('request');
  if (command === undefined) return false;
  if (command === REWRITE_ADDR) {
    if (!strictAttrs(req, ['rule', 'address'])) return false;
    const rule = req.str('rule');
    const address = req.str('address');
    const ctx = st.contexts[rule];
    if (!ctx) {
      msg.warn(`unknown context: ${rule}`);
      return false;
    }
    const result = rewriteAddr(st.resolver.rewriteParams, ctx, address);
    if (msgVerbose) msg.info(`\`${rule}' \`${address}' -> \`${result}'`);
    sendAttrs(stream, [
      ['flags', st.serverFlags],
      ['address', result],
    ]);
    return true;
  }
  if (command === RESOLVE_REGULAR || command === RESOLVE_VERIFY) {
    if (!strictAttrs(req, ['sender', 'address'])) return false;
    const sender = req.str('sender');
    const address = req.str('address');
    const rp = command === RESOLVE_REGULAR ? st.resolver.regular : st.resolver.verify;
    const r = await st.resolver.resolveAddr(rp, sender, address);
    if (msgVerbose) {
      msg.info(`\`${sender}' -> \`${address}' -> (\`${r.transport}' \`${r.nexthop}' \`${r.recipient}' \`${r.flags}')`);
    }
    sendAttrs(stream, [
      ['flags', st.serverFlags],
      ['transport', r.transport],
      ['nexthop', r.nexthop],
      ['recipient', r.recipient],
      ['flags', r.flags],
    ]);
    return true;
  }
  msg.warn(`bad command ${command.slice(0, 30).replace(/[^\x20-\x7e]/g, '?')}`);
  return false;
}

/** rewriteService - serve one client connection until it disconnects or misbehaves. */
export async function rewriteService(stream: VStream, st: TrivialRewriteState): Promise<void> {
  attrSendProtocol(stream, MAIL_ATTR_PROTO_TRIVIAL);
  for (;;) {
    let req: AttrList | null;
    try {
      req = await readAttrs(stream);
    } catch (e) {
      msg.warn(`${(e as Error).message}`);
      return;
    }
    if (req === null) return;
    if (!(await handleRequest(st, stream, req))) return;
    await stream.flush();
  }
}

let state: TrivialRewriteState | undefined;

export function main(argv: string[]): Promise<void> {
  return multiServerMain(argv, {
    async preInit(ctx: ServerContext) {
      state = await trivialRewriteInit(ctx.config);
    },
    async service(stream: VStream, ctx: ServerContext) {
      if (!state) state = await trivialRewriteInit(ctx.config);
      await rewriteService(stream, state);
    },
  });
}

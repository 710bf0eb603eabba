/**
 * verify - the address verification server (Postfix verify(8)).
 *
 * Keeps the status of recipient (and sender) addresses in
 * address_verify_map (an in-memory cache when the parameter is empty) as
 * Postfix's "status:probed:updated:text" entries. A query answers at once
 * with what is known; when the address is unknown, or its entry is due for
 * a refresh (address_verify_positive_refresh_time,
 * address_verify_negative_refresh_time) and no probe went out in the last
 * 1000 seconds, a probe message is queued from address_verify_sender with
 * the DEL_REQ_FLAG_MTA_VRFY trace flag: the delivery agents do everything
 * except deliver, and report back with an update request. Expired entries
 * (address_verify_positive_expire_time, address_verify_negative_expire_time)
 * count as unknown. With address_verify_negative_cache = no, failures are not
 * kept. A temporary failure does not replace a positive result that is
 * still valid.
 */

import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { attrSendProtocol, readAttrs, sendAttrs } from '../util/attr.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { CleanupClient } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG_MASK_INTERNAL } from '../global/cleanup_user.js';
import { REC } from '../global/rec_type.js';
import { mailDate } from '../global/mail_date.js';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { DEL_RCPT_STAT, VERIFY_PROTOCOL, VRFY_REQ_QUERY, VRFY_REQ_UPDATE, VRFY_STAT } from '../global/verify_clnt.js';
import type { Dict } from '../util/dict.js';

const PROBE_TTL = 1000; // seconds between probes for one address (Postfix PROBE_TTL)
const MAX_ADDR = 2048;

export interface VerifyEntry {
  status: number;
  probed: number;
  updated: number;
  text: string;
}

export function parseEntry(raw: string): VerifyEntry | undefined {
  const m = /^(-?\d+):(\d+):(\d+):(.*)$/s.exec(raw);
  if (!m) return undefined;
  const status = Number(m[1]);
  if (![DEL_RCPT_STAT.OK, DEL_RCPT_STAT.DEFER, DEL_RCPT_STAT.BOUNCE, DEL_RCPT_STAT.TODO].includes(status as 0)) return undefined;
  return { status, probed: Number(m[2]), updated: Number(m[3]), text: m[4] };
}

export function formatEntry(e: VerifyEntry): string {
  return `${e.status}:${e.probed}:${e.updated}:${e.text.replace(/[\r\n]+/g, ' ')}`;
}

/** The cache: address_verify_map when set, else memory. */
export class VerifyCache {
  private readonly memory = new Map<string, string>();
  private dict: Dict | undefined;

  constructor(private readonly config: MailConfig) {}

  async open(): Promise<void> {
    const spec = this.config.str('address_verify_map').trim();
    if (!spec) return;
    try {
      const { dictOpen } = await import('../util/dict_open.js');
      const { O_RDWR, O_CREAT, DICT_FLAG } = await import('../util/dict.js');
      this.dict = dictOpen(spec, O_RDWR | O_CREAT, DICT_FLAG.DUP_REPLACE | DICT_FLAG.FOLD_FIX);
    } catch (err) {
      msg.warn(`open ${spec}: ${(err as Error).message}; using a memory cache`);
    }
  }

  async get(addr: string): Promise<VerifyEntry | undefined> {
    const raw = this.dict ? await this.dict.lookup(addr) : this.memory.get(addr.toLowerCase());
    return raw == null ? undefined : parseEntry(raw);
  }

  async put(addr: string, e: VerifyEntry): Promise<void> {
    if (this.dict) await this.dict.update(addr, formatEntry(e));
    else this.memory.set(addr.toLowerCase(), formatEntry(e));
  }

  async remove(addr: string): Promise<void> {
    if (this.dict) await this.dict.delete(addr);
    else this.memory.delete(addr.toLowerCase());
  }

  async close(): Promise<void> {
    await this.dict?.close();
  }
}

export interface VerifyState {
  config: MailConfig;
  cache: VerifyCache;
  /** send a probe (tests replace it) */
  probe(addr: string): Promise<void>;
  now(): number;
}

/** verifyQuery - answer a query and send a probe when needed. */
export async function verifyQueryService(st: VerifyState, addr: string): Promise<{ status: number; text: string }> {
  const c = st.config;
  const now = st.now();
  let e = await st.cache.get(addr);
  if (e) {
    const ok = e.status === DEL_RCPT_STAT.OK;
    const expire = c.time(ok ? 'address_verify_positive_expire_time' : 'address_verify_negative_expire_time');
    if (e.updated !== 0 && e.updated + expire < now) e = undefined; // expired: as good as unknown
  }
  const entry = e ?? { status: DEL_RCPT_STAT.TODO, probed: 0, updated: 0, text: 'Address verification in progress' };
  const refresh =
    entry.status === DEL_RCPT_STAT.TODO ||
    (entry.status === DEL_RCPT_STAT.OK && entry.updated + c.time('address_verify_positive_refresh_time') < now) ||
    (entry.status !== DEL_RCPT_STAT.OK && entry.updated + c.time('address_verify_negative_refresh_time') < now);
  if (refresh && now - entry.probed > PROBE_TTL) {
    await st.cache.put(addr, { ...entry, probed: now });
    try {
      await st.probe(addr);
    } catch (err) {
      msg.warn(`probe for ${addr}: ${(err as Error).message}`);
    }
  }
  return { status: entry.status, text: entry.text };
}

/** verifyUpdate - record a probe's outcome. */
export async function verifyUpdateService(st: VerifyState, addr: string, status: number, text: string): Promise<void> {
  const now = st.now();
  if (status !== DEL_RCPT_STAT.OK && status !== DEL_RCPT_STAT.DEFER && status !== DEL_RCPT_STAT.BOUNCE) {
    throw new Error(`bad recipient status ${status} for ${addr}`);
  }
  const old = await st.cache.get(addr);
  if (
    status === DEL_RCPT_STAT.DEFER &&
    old?.status === DEL_RCPT_STAT.OK &&
    old.updated + st.config.time('address_verify_positive_expire_time') >= now
  ) {
    return; // keep a valid positive result over a temporary failure
  }
  if (status !== DEL_RCPT_STAT.OK && !st.config.bool('address_verify_negative_cache')) {
    await st.cache.remove(addr);
    return;
  }
  await st.cache.put(addr, { status, probed: 0, updated: now, text });
}

/** sendProbe - queue a probe message: address_verify_sender -> addr, trace flag MTA_VRFY. */
export async function sendProbe(config: MailConfig, addr: string): Promise<void> {
  const clnt = await CleanupClient.open(config, CLEANUP_FLAG_MASK_INTERNAL);
  try {
    const now = Date.now();
    await clnt.record(REC.TIME, `${Math.floor(now / 1000)} ${(now % 1000) * 1000}`);
    await clnt.attr('rewrite_context', 'local');
    await clnt.attr('trace_flags', DEL_REQ_FLAG.MTA_VRFY);
    await clnt.record(REC.FROM, config.str('address_verify_sender'));
    await clnt.record(REC.RCPT, addr);
    await clnt.record(REC.MESG, '');
    const date = mailDate(new Date(now));
    await clnt.text(`Received: by ${config.str('myhostname')} (${config.str('mail_name')})`);
    await clnt.text(`\tid ${clnt.queueId}; ${date}`);
    await clnt.text('');
    await clnt.record(REC.XTRA, '');
    const r = await clnt.finish();
    if (r.status !== 0) throw new Error(`cleanup: ${r.reason || `status ${r.status}`}`);
  } catch (err) {
    clnt.abort();
    throw err;
  }
}

/** verifyService - one request on a connection (the skeleton keeps the connection for more). */
export async function verifyService(stream: VStream, st: VerifyState): Promise<void> {
  attrSendProtocol(stream, VERIFY_PROTOCOL);
  for (;;) {
    const req = await readAttrs(stream);
    if (req === null) return;
    const request = req.get('request') ?? '';
    const addr = req.get('address') ?? '';
    if (addr.length > MAX_ADDR || /[\r\n\0]/.test(addr)) {
      msg.warn(`bad address in ${request} request`);
      sendAttrs(stream, [['status', VRFY_STAT.BAD]]);
    } else if (request === VRFY_REQ_QUERY) {
      try {
        const a = await verifyQueryService(st, addr);
        sendAttrs(stream, [
          ['status', VRFY_STAT.OK],
          ['recipient_status', a.status],
          ['reason', a.text],
        ]);
      } catch (err) {
        msg.warn(`${addr}: ${(err as Error).message}`);
        sendAttrs(stream, [['status', VRFY_STAT.FAIL]]);
      }
    } else if (request === VRFY_REQ_UPDATE) {
      try {
        await verifyUpdateService(st, addr, req.intOr('recipient_status', -1), req.get('reason') ?? '');
        sendAttrs(stream, [['status', VRFY_STAT.OK]]);
      } catch (err) {
        msg.warn(`${addr}: ${(err as Error).message}`);
        sendAttrs(stream, [['status', VRFY_STAT.BAD]]);
      }
    } else {
      msg.warn(`unrecognized request: "${request}", ignored`);
      sendAttrs(stream, [['status', VRFY_STAT.BAD]]);
    }
    await stream.flush();
  }
}

export async function main(argv: string[]): Promise<void> {
  const { multiServerMain } = await import('../master/multi_server.js');
  let state: VerifyState | undefined;
  await multiServerMain(argv, {
    solitary: true,
    async postInit(ctx: ServerContext) {
      const cache = new VerifyCache(ctx.config);
      await cache.open();
      state = { config: ctx.config, cache, probe: (a) => sendProbe(ctx.config, a), now: () => Math.floor(Date.now() / 1000) };
    },
    async service(stream: VStream) {
      if (state) await verifyService(stream, state);
    },
    async exit() {
      await state?.cache.close();
    },
  });
}

/**
 * scache - shared connection cache server (Postfix scache(8)).
 *
 * Keeps idle SMTP/LMTP connections for every smtp(8)/lmtp(8) process, so
 * that a delivery in one process can reuse a connection that another
 * process finished with. Two tables, as Postfix's scache_multi: endpoints
 * (label "smtp:addr:port" -> open connections, each with its properties)
 * and destinations (label "smtp:nexthop" -> endpoint labels, each with the
 * destination's properties). Requests on the unix socket speak Postfix's
 * scache protocol (protocol=scache_protocol; save_endp, save_dest,
 * find_endp, find_dest; status 0 ok, 1 bad request, 2 not found/failed).
 *
 * The descriptors themselves do not travel on that socket (Node cannot
 * send SCM_RIGHTS there) but over master's IPC channel (fd_relay.ts): each
 * save_endp and find request carries an extra fd_token attribute naming the
 * handle that goes (save) or comes back (find) that way. A request without
 * one is answered as if the cache had nothing: "failed".
 *
 * Entries expire after their time to live (at most
 * connection_cache_ttl_limit); every connection_cache_status_update_time
 * and at exit the hit/miss statistics are logged as Postfix does.
 */

import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { attrServeRequests, type AttrList, type AttrPairs } from '../util/attr.js';
import { multiServerMain } from '../master/multi_server.js';
import type { MailConfig } from '../global/mail_conf.js';
import { closeHandle, expectFd, fdRelayListen, sendHandle, tokenPid, type RawHandle } from '../master/fd_relay.js';

export const SCACHE_STAT_OK = 0;
export const SCACHE_STAT_BAD = 1;
export const SCACHE_STAT_FAIL = 2;

/** Labels and properties are short texts; anything longer is a bad request. */
const MAX_LABEL = 1000;
const MAX_PROP = 4000;
/** How many sessions one endpoint may hold (a bound on untrusted input). */
const MAX_SESSIONS = 1000;

interface CachedSession {
  handle: RawHandle;
  prop: string;
  timer: NodeJS.Timeout;
}

interface DestLink {
  endpLabel: string;
  destProp: string;
  timer: NodeJS.Timeout;
}

/** ConnCache - the two tables and the statistics (Postfix scache_multi + scache.c counters). */
export class ConnCache {
  readonly endp = new Map<string, CachedSession[]>();
  readonly dest = new Map<string, DestLink[]>();
  destHits = 0;
  destMiss = 0;
  endpHits = 0;
  endpMiss = 0;
  maxDest = 0;
  maxEndp = 0;
  maxSess = 0;
  startTime = new Date();

  constructor(
    private readonly ttlLimit: number,
    private readonly fdWaitMs: number,
  ) {}

  private ttl(raw: number): number {
    return Math.min(raw, this.ttlLimit) * 1000;
  }

  private sessions(): number {
    let n = 0;
    for (const l of this.endp.values()) n += l.length;
    return n;
  }

  private updateSize(): void {
    this.maxDest = Math.max(this.maxDest, this.dest.size);
    this.maxEndp = Math.max(this.maxEndp, this.endp.size);
    this.maxSess = Math.max(this.maxSess, this.sessions());
  }

  saveEndp(ttl: number, label: string, prop: string, handle: RawHandle): boolean {
    const list = this.endp.get(label) ?? [];
    if (list.length >= MAX_SESSIONS) {
      closeHandle(handle);
      return false;
    }
    const s: CachedSession = {
      handle,
      prop,
      timer: setTimeout(() => {
        this.dropSession(label, s);
        closeHandle(handle);
      }, this.ttl(ttl)),
    };
    s.timer.unref();
    list.push(s);
    this.endp.set(label, list);
    this.updateSize();
    return true;
  }

  saveDest(ttl: number, label: string, destProp: string, endpLabel: string): void {
    const list = this.dest.get(label) ?? [];
    const old = list.findIndex((l) => l.endpLabel === endpLabel);
    if (old >= 0) {
      clearTimeout(list[old].timer);
      list.splice(old, 1);
    }
    if (list.length >= MAX_SESSIONS) return;
    const link: DestLink = {
      endpLabel,
      destProp,
      timer: setTimeout(() => {
        const l = this.dest.get(label);
        if (!l) return;
        const i = l.indexOf(link);
        if (i >= 0) l.splice(i, 1);
        if (l.length === 0) this.dest.delete(label);
      }, this.ttl(ttl)),
    };
    link.timer.unref();
    list.unshift(link);
    this.dest.set(label, list);
    this.updateSize();
  }

  private dropSession(label: string, s: CachedSession): void {
    clearTimeout(s.timer);
    const l = this.endp.get(label);
    if (!l) return;
    const i = l.indexOf(s);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.endp.delete(label);
  }

  /** takeEndp - the most recently saved session of an endpoint, taken out of the cache. */
  private takeEndp(label: string): CachedSession | undefined {
    const l = this.endp.get(label);
    if (!l || l.length === 0) return undefined;
    const s = l[l.length - 1];
    this.dropSession(label, s);
    return s;
  }

  findEndp(label: string): CachedSession | undefined {
    const s = this.takeEndp(label);
    if (s) this.endpHits++;
    else this.endpMiss++;
    return s;
  }

  findDest(label: string): { destProp: string; session: CachedSession } | undefined {
    for (const link of this.dest.get(label) ?? []) {
      const s = this.takeEndp(link.endpLabel);
      if (s) {
        this.destHits++;
        return { destProp: link.destProp, session: s };
      }
    }
    this.destMiss++;
    return undefined;
  }

  /** statusDump - Postfix's statistics lines; the counters start over. */
  statusDump(): string[] {
    const out: string[] = [];
    if (this.destHits || this.destMiss || this.endpHits || this.endpMiss || this.maxDest || this.maxEndp || this.maxSess) {
      out.push(`statistics: start interval ${ctime15(this.startTime)}`);
    }
    if (this.destHits || this.destMiss) {
      out.push(`statistics: domain lookup hits=${this.destHits} miss=${this.destMiss} success=${Math.floor((this.destHits * 100) / (this.destHits + this.destMiss))}%`);
      this.destHits = this.destMiss = 0;
    }
    if (this.endpHits || this.endpMiss) {
      out.push(`statistics: address lookup hits=${this.endpHits} miss=${this.endpMiss} success=${Math.floor((this.endpHits * 100) / (this.endpHits + this.endpMiss))}%`);
      this.endpHits = this.endpMiss = 0;
    }
    if (this.maxDest || this.maxEndp || this.maxSess) {
      out.push(`statistics: max simultaneous domains=${this.maxDest} addresses=${this.maxEndp} connection=${this.maxSess}`);
      this.maxDest = this.maxEndp = this.maxSess = 0;
    }
    this.startTime = new Date();
    return out;
  }

  /** closeAll - drop every cached connection (exit). */
  closeAll(): void {
    for (const l of this.endp.values()) for (const s of l) {
      clearTimeout(s.timer);
      closeHandle(s.handle);
    }
    this.endp.clear();
    for (const l of this.dest.values()) for (const d of l) clearTimeout(d.timer);
    this.dest.clear();
  }

  /** request - answer one scache protocol request. */
  async request(req: AttrList): Promise<AttrPairs> {
    const request = req.get('request') ?? '';
    const label = req.get('label') ?? '';
    const token = req.get('fd_token') ?? '';
    const bad: AttrPairs = [['status', SCACHE_STAT_BAD]];
    if (label.length > MAX_LABEL || (req.get('prop') ?? '').length > MAX_PROP || (req.get('endp_label') ?? '').length > MAX_LABEL) return bad;
    switch (request) {
      case 'find_dest':
      case 'find_endp': {
        if (!label) return bad;
        const dest = request === 'find_dest';
        const fail: AttrPairs = dest ? [['status', SCACHE_STAT_FAIL], ['dest_prop', ''], ['endp_prop', '']] : [['status', SCACHE_STAT_FAIL], ['endp_prop', '']];
        const pid = tokenPid(token);
        if (!pid) {
          // no token: nothing could come back, so a miss as if the cache were empty
          if (dest) this.destMiss++;
          else this.endpMiss++;
          return fail;
        }
        const hit = dest ? this.findDest(label) : this.findEndp(label);
        const session = hit && 'session' in hit ? hit.session : hit;
        if (!session || !(await sendHandle(pid, token, session.handle))) return fail;
        return hit && 'destProp' in hit ? [['status', SCACHE_STAT_OK], ['dest_prop', hit.destProp], ['endp_prop', session.prop]] : [['status', SCACHE_STAT_OK], ['endp_prop', session.prop]];
      }
      case 'save_dest': {
        const ttl = Number(req.get('ttl') ?? '');
        const endpLabel = req.get('endp_label') ?? '';
        if (!label || !endpLabel || !Number.isInteger(ttl) || ttl <= 0) {
          msg.warn(`bogus save_dest request: ttl=${String(req.get('ttl')).slice(0, 20)} label=${label.slice(0, 100)}`);
          return bad;
        }
        this.saveDest(ttl, label, req.get('dest_prop') ?? req.get('prop') ?? '', endpLabel);
        return [['status', SCACHE_STAT_OK]];
      }
      case 'save_endp': {
        const ttl = Number(req.get('ttl') ?? '');
        if (!label || !Number.isInteger(ttl) || ttl <= 0) {
          msg.warn(`bogus save_endp request: ttl=${String(req.get('ttl')).slice(0, 20)} label=${label.slice(0, 100)}`);
          return bad;
        }
        if (!tokenPid(token)) return [['status', SCACHE_STAT_FAIL]];
        const handle = await expectFd(token, this.fdWaitMs);
        if (!handle) {
          msg.warn(`save_endp ${label.slice(0, 100)}: no connection arrived`);
          return [['status', SCACHE_STAT_FAIL]];
        }
        return [['status', this.saveEndp(ttl, label, req.get('endp_prop') ?? req.get('prop') ?? '', handle) ? SCACHE_STAT_OK : SCACHE_STAT_FAIL]];
      }
      default:
        msg.warn(`unknown request: "${request.slice(0, 100)}"`);
        return bad;
    }
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime15 - "%.15s" of ctime()+4: "Nov 25 01:50:40" (local time, day padded with a space). */
function ctime15(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

let cache: ConnCache | undefined;

function getCache(config?: MailConfig): ConnCache {
  if (!cache) {
    cache = new ConnCache(config ? config.time('connection_cache_ttl_limit') : 2, config ? config.time('connection_cache_protocol_timeout') * 1000 : 5000);
  }
  return cache;
}

/** scacheService - answer requests from one client until it hangs up. */
export function scacheService(stream: VStream): Promise<void> {
  const c = getCache();
  return attrServeRequests(stream, 'scache_protocol', 'scache', (req) => c.request(req), (t) => msg.warn(t));
}

function logStatus(c: ConnCache): void {
  for (const line of c.statusDump()) msg.info(line);
}

export function main(argv: string[]): Promise<void> {
  let statusTimer: NodeJS.Timeout | undefined;
  return multiServerMain(argv, {
    solitary: true,
    service: scacheService,
    postInit(ctx) {
      const c = getCache(ctx.config);
      fdRelayListen();
      const every = Math.max(1, ctx.config.time('connection_cache_status_update_time')) * 1000;
      const tick = () => {
        logStatus(c);
        statusTimer = setTimeout(tick, every);
        statusTimer.unref();
      };
      statusTimer = setTimeout(tick, every);
      statusTimer.unref();
    },
    exit() {
      if (statusTimer) clearTimeout(statusTimer);
      const c = getCache();
      logStatus(c);
      c.closeAll();
    },
  });
}

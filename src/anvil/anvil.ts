/**
 * anvil - connection count and rate limiting service (Postfix anvil(8)).
 *
 * smtpd reports connect, disconnect, MAIL, RCPT, AUTH and new-TLS events
 * per "service:client-address" ident; anvil answers with the current
 * connection count and the event rate within the current
 * anvil_rate_time_unit window. Counts held for a client stream are
 * dropped when that stream goes away, so a dying smtpd leaves no stale
 * connections. The largest values seen are logged as "statistics:" lines
 * every anvil_status_update_time and on exit. One process serves all
 * clients (master.cf "anvil unix - - n - 1 anvil").
 */

import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { AttrList, attrSendProtocol, readAttrs, sendAttrs } from '../util/attr.js';
import { registerParams } from '../global/mail_params.js';
import type { ServerContext } from '../master/mail_server.js';
import { multiServerMain } from '../master/multi_server.js';

registerParams([
  { name: 'anvil_rate_time_unit', type: 'time', def: '60s', unit: 's', min: 1 },
  { name: 'anvil_status_update_time', type: 'time', def: '600s', unit: 's', min: 1 },
]);

export const ANVIL_STAT_OK = 0;
export const ANVIL_STAT_FAIL = -1;

interface Remote {
  ident: string;
  count: number;
  rate: number;
  mail: number;
  rcpt: number;
  ntls: number;
  auth: number;
  start: number;
  expire?: NodeJS.Timeout;
}

interface MaxValue {
  value: number;
  ident: string;
  when: number;
}

/** AnvilState - the tables of one anvil process. */
export class AnvilState {
  readonly remotes = new Map<string, Remote>();
  readonly max = {
    connRate: { value: 0, ident: '', when: 0 },
    connCount: { value: 0, ident: '', when: 0 },
    mailRate: { value: 0, ident: '', when: 0 },
    rcptRate: { value: 0, ident: '', when: 0 },
    ntlsRate: { value: 0, ident: '', when: 0 },
    authRate: { value: 0, ident: '', when: 0 },
    cacheSize: { value: 0, ident: '', when: 0 },
  };
  private statusTimer?: NodeJS.Timeout;

  /** timeUnit and now are in seconds; now is injectable for tests. */
  constructor(
    readonly timeUnit: number,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  startStatusTimer(seconds: number): void {
    this.statusTimer = setInterval(() => this.statusDump(), seconds * 1000);
    this.statusTimer.unref();
  }

  stop(): void {
    if (this.statusTimer) clearInterval(this.statusTimer);
    for (const r of this.remotes.values()) if (r.expire) clearTimeout(r.expire);
  }

  private resetRate(r: Remote, start: number): void {
    r.rate = r.mail = r.rcpt = r.ntls = r.auth = 0;
    r.start = start;
  }

  private incr(r: Remote, what: 'rate' | 'mail' | 'rcpt' | 'ntls' | 'auth'): void {
    const now = this.now();
    if (r.start + this.timeUnit < now) this.resetRate(r, now);
    if (r[what] < 2147483647) r[what] += 1;
  }

  private update(max: MaxValue, value: number, ident: string): void {
    if (value > max.value) {
      max.value = value;
      max.ident = ident;
      max.when = this.now();
    }
  }

  /** connUpdate - a new connection from ident (anvil_remote_conn_update). */
  connUpdate(ident: string): Remote {
    let r = this.remotes.get(ident);
    if (!r) {
      r = { ident, count: 1, rate: 1, mail: 0, rcpt: 0, ntls: 0, auth: 0, start: this.now() };
      this.remotes.set(ident, r);
      this.update(this.max.cacheSize, this.remotes.size, '');
    } else {
      this.incr(r, 'rate');
      if (r.count === 0 && r.expire) {
        clearTimeout(r.expire);
        r.expire = undefined;
      }
      r.count++;
    }
    return r;
  }

  connect(ident: string): { count: number; rate: number } {
    const r = this.connUpdate(ident);
    this.update(this.max.connRate, r.rate, ident);
    this.update(this.max.connCount, r.count, ident);
    return { count: r.count, rate: r.rate };
  }

  /** event - MAIL, RCPT, NEWTLS or AUTH; returns the rate. */
  event(ident: string, what: 'mail' | 'rcpt' | 'ntls' | 'auth'): number {
    const r = this.remotes.get(ident) ?? this.connUpdate(ident);
    this.incr(r, what);
    const max = { mail: this.max.mailRate, rcpt: this.max.rcptRate, ntls: this.max.ntlsRate, auth: this.max.authRate }[what];
    this.update(max, r[what], ident);
    return r[what];
  }

  newtlsStatus(ident: string): number {
    const r = this.remotes.get(ident);
    if (!r) return 0;
    if (r.start !== 0 && r.start + this.timeUnit < this.now()) this.resetRate(r, 0);
    return r.ntls;
  }

  lookup(ident: string): Remote | undefined {
    return this.remotes.get(ident);
  }

  /** disconnect - one connection of ident ends; an idle entry expires after one time unit. */
  disconnect(ident: string): void {
    const r = this.remotes.get(ident);
    if (!r || r.count <= 0) return;
    if (--r.count === 0) {
      r.expire = setTimeout(() => {
        if (r.count === 0) this.remotes.delete(ident);
      }, this.timeUnit * 1000);
      r.expire.unref();
    }
  }

  /** statusDump - the "statistics:" lines for maxima seen since the last dump. */
  statusDump(): void {
    const stamp = (when: number) => {
      // ctime(3) + 4, 15 characters: "Nov  2 10:47:59"
      const d = new Date(when * 1000);
      const mon = d.toString().slice(4, 7);
      return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${d.toTimeString().slice(0, 8)}`;
    };
    const rate = (m: MaxValue, name: string) => {
      if (m.value > 0) {
        msg.info(`statistics: max ${name} rate ${m.value}/${this.timeUnit}s for (${m.ident}) at ${stamp(m.when)}`);
        m.value = 0;
      }
    };
    rate(this.max.connRate, 'connection');
    if (this.max.connCount.value > 0) {
      msg.info(`statistics: max connection count ${this.max.connCount.value} for (${this.max.connCount.ident}) at ${stamp(this.max.connCount.when)}`);
      this.max.connCount.value = 0;
    }
    rate(this.max.mailRate, 'message delivery');
    rate(this.max.rcptRate, 'recipient address');
    rate(this.max.ntlsRate, 'new TLS session');
    rate(this.max.authRate, 'AUTH');
    if (this.max.cacheSize.value > 0) {
      msg.info(`statistics: max cache size ${this.max.cacheSize.value} at ${stamp(this.max.cacheSize.when)}`);
      this.max.cacheSize.value = 0;
    }
  }
}

/** anvilService - serve one client stream until it disconnects. */
export async function anvilService(stream: VStream, st: AnvilState): Promise<void> {
  const held: string[] = [];
  attrSendProtocol(stream, 'anvil_protocol');
  try {
    for (;;) {
      let req: AttrList | null;
      try {
        req = await readAttrs(stream);
      } catch (e) {
        msg.warn(`anvil: ${(e as Error).message}`);
        return;
      }
      if (req === null) return;
      const request = req.get('request');
      const ident = req.get('ident');
      if (request === undefined || ident === undefined) {
        msg.warn('anvil: missing request or ident attribute');
        sendAttrs(stream, [['status', ANVIL_STAT_FAIL]]);
        continue;
      }
      switch (request) {
        case 'connect': {
          const r = st.connect(ident);
          held.push(ident);
          sendAttrs(stream, [['status', ANVIL_STAT_OK], ['count', r.count], ['rate', r.rate]]);
          break;
        }
        case 'disconnect': {
          const i = held.indexOf(ident);
          if (i >= 0) {
            held.splice(i, 1);
            st.disconnect(ident);
          }
          sendAttrs(stream, [['status', ANVIL_STAT_OK]]);
          break;
        }
        case 'message':
          sendAttrs(stream, [['status', ANVIL_STAT_OK], ['rate', st.event(ident, 'mail')]]);
          break;
        case 'recipient':
          sendAttrs(stream, [['status', ANVIL_STAT_OK], ['rate', st.event(ident, 'rcpt')]]);
          break;
        case 'newtls':
          sendAttrs(stream, [['status', ANVIL_STAT_OK], ['rate', st.event(ident, 'ntls')]]);
          break;
        case 'newtls_status':
          sendAttrs(stream, [['status', ANVIL_STAT_OK], ['rate', st.newtlsStatus(ident)]]);
          break;
        case 'auth':
          sendAttrs(stream, [['status', ANVIL_STAT_OK], ['rate', st.event(ident, 'auth')]]);
          break;
        case 'lookup': {
          const r = st.lookup(ident);
          sendAttrs(stream, [
            ['status', ANVIL_STAT_OK],
            ['count', r?.count ?? 0],
            ['rate', r?.rate ?? 0],
            ['mail', r?.mail ?? 0],
            ['rcpt', r?.rcpt ?? 0],
            ['newtls', r?.ntls ?? 0],
            ['auth', r?.auth ?? 0],
          ]);
          break;
        }
        default:
          msg.warn(`unrecognized request: "${request}", ignored`);
          sendAttrs(stream, [['status', ANVIL_STAT_FAIL]]);
      }
      await stream.flush();
    }
  } finally {
    // a client that goes away releases the connections it still holds
    for (const ident of held) st.disconnect(ident);
  }
}

let state: AnvilState | undefined;

/** main - anvil on the multi-server skeleton (one process, many smtpd clients). */
export function main(argv: string[]): Promise<void> {
  return multiServerMain(argv, {
    solitary: true,
    postInit(ctx: ServerContext) {
      state = new AnvilState(ctx.config.time('anvil_rate_time_unit'));
      state.startStatusTimer(ctx.config.time('anvil_status_update_time'));
    },
    exit() {
      state?.statusDump();
    },
    service: (stream: VStream) => anvilService(stream, state!),
  });
}

/**
 * proxymap - lookup table proxy server (Postfix proxymap(8); also the
 * proxywrite service).
 *
 * Speaks the Postfix proxymap protocol over attribute lists: the server
 * announces protocol=proxymap_protocol, then answers requests
 *   request=open   table=type:name flags=N           -> status, flags
 *   request=lookup table=type:name flags=N key=K     -> status, value
 *   request=update table flags key value (proxywrite) -> status
 *   request=delete table flags key       (proxywrite) -> status
 * with status 0 ok, 1 key not found, 2 retry, 3 bad request, 4 table not
 * approved. Only tables listed in proxy_read_maps (proxymap) or
 * proxy_write_maps (proxywrite) are served; anything else is refused with
 * Postfix's two warnings. Open tables are shared by every client of the
 * process. It must never open a table that is not approved, nor write
 * through the read-only service.
 */

import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { attrServeRequests, type AttrList } from '../util/attr.js';
import { DICT_FLAG, DICT_FLAG_FOLD_ANY, DictError, O_RDONLY, O_RDWR, O_CREAT, setDictMainConfig, type Dict } from '../util/dict.js';
import { dictOpen } from '../util/dict_open.js';
import { splitList, type MailConfig } from '../global/mail_conf.js';
import { multiServerMain } from '../master/multi_server.js';
import type { ServerContext } from '../master/mail_server.js';

export const PROXY_STAT = { OK: 0, NOKEY: 1, RETRY: 2, BAD: 3, DENY: 4, CONFIG: 5 } as const;

/** Flags a client may pass through (DICT_FLAG_RQST_MASK in Postfix). */
const RQST_MASK = DICT_FLAG_FOLD_ANY | DICT_FLAG.LOCK | DICT_FLAG.DUP_REPLACE | DICT_FLAG.DUP_WARN | DICT_FLAG.DUP_IGNORE | DICT_FLAG.SYNC_UPDATE | DICT_FLAG.UTF8_REQUEST | DICT_FLAG.TRY0NULL | DICT_FLAG.TRY1NULL;

export class ProxyState {
  readonly write: boolean;
  private readonly approved = new Set<string>();
  private readonly tables = new Map<string, Dict>();
  readonly paramName: string;

  constructor(
    readonly config: MailConfig,
    serviceName: string,
  ) {
    this.write = serviceName === 'proxywrite';
    this.paramName = this.write ? 'proxy_write_maps' : 'proxy_read_maps';
    for (const item of splitList(config.str(this.paramName))) {
      if (item.startsWith('proxy:')) this.approved.add(item.slice(6));
    }
    setDictMainConfig((name) => (config.isDefined(name) ? config.str(name) : undefined));
  }

  /** table - the open table for a request, or a status when refused. */
  table(name: string, flags: number): Dict | number {
    if (!/^[^:\s]+:\S+$/.test(name) || name.length > 1024) return PROXY_STAT.BAD;
    if (name.startsWith('proxy:')) return PROXY_STAT.BAD;
    if (!this.approved.has(name)) {
      msg.warn(`request for unapproved table: "${name}"`);
      msg.warn(`to approve this table for ${this.write ? 'read-write' : 'read-only'} access, list proxy:${name} in main.cf:${this.paramName}`);
      return PROXY_STAT.DENY;
    }
    const key = `${name}\0${flags & RQST_MASK}`;
    let dict = this.tables.get(key);
    if (!dict) {
      try {
        dict = dictOpen(name, this.write ? O_RDWR | O_CREAT : O_RDONLY, (flags & RQST_MASK) | DICT_FLAG.LOCK);
      } catch (err) {
        msg.warn(`open ${name}: ${(err as Error).message}`);
        return PROXY_STAT.CONFIG;
      }
      this.tables.set(key, dict);
    }
    return dict;
  }
}

function statusOf(err: unknown): number {
  if (err instanceof DictError) return err.kind === 'config' ? PROXY_STAT.CONFIG : PROXY_STAT.RETRY;
  throw err;
}

async function handle(st: ProxyState, req: AttrList): Promise<Array<[string, string | number]>> {
  const request = req.get('request') ?? '';
  const name = req.get('table') ?? '';
  const flagsText = req.get('flags') ?? '0';
  if (!/^\d+$/.test(flagsText)) return [['status', PROXY_STAT.BAD]];
  const flags = Number(flagsText);
  const t = st.table(name, flags);
  if (typeof t === 'number') return request === 'open' ? [['status', t], ['flags', 0]] : request === 'lookup' ? [['status', t], ['value', '']] : [['status', t]];
  switch (request) {
    case 'open':
      return [['status', PROXY_STAT.OK], ['flags', t.flags]];
    case 'lookup': {
      const key = req.get('key');
      if (key === undefined) return [['status', PROXY_STAT.BAD], ['value', '']];
      try {
        const v = await t.lookup(key);
        return v === null ? [['status', PROXY_STAT.NOKEY], ['value', '']] : [['status', PROXY_STAT.OK], ['value', v]];
      } catch (err) {
        return [['status', statusOf(err)], ['value', '']];
      }
    }
    case 'update':
    case 'delete': {
      if (!st.write) return [['status', PROXY_STAT.BAD]];
      const key = req.get('key');
      if (key === undefined) return [['status', PROXY_STAT.BAD]];
      try {
        if (request === 'update') {
          const value = req.get('value');
          if (value === undefined) return [['status', PROXY_STAT.BAD]];
          await t.update(key, value);
          return [['status', PROXY_STAT.OK]];
        }
        return [['status', (await t.delete(key)) ? PROXY_STAT.OK : PROXY_STAT.NOKEY]];
      } catch (err) {
        return [['status', statusOf(err)]];
      }
    }
    default:
      msg.warn(`unrecognized request: "${request.slice(0, 100)}", ignored`);
      return [['status', PROXY_STAT.BAD]];
  }
}

/** proxymapService - one client connection: many requests until it hangs up. */
export function proxymapService(stream: VStream, st: ProxyState): Promise<void> {
  return attrServeRequests(stream, 'proxymap_protocol', 'proxymap', (req) => handle(st, req), (t) => msg.warn(t));
}

let state: ProxyState | undefined;

export function main(argv: string[]): Promise<void> {
  return multiServerMain(argv, {
    postInit(ctx: ServerContext) {
      state = new ProxyState(ctx.config, ctx.serviceName);
    },
    service: (stream: VStream) => proxymapService(stream, state!),
  });
}

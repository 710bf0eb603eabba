/**
 * tlsmgr - TLS session cache and PRNG manager (Postfix tlsmgr(8)), reduced.
 *
 * Speaks the tlsmgr protocol (protocol=tlsmgr_protocol). "seed" returns
 * fresh random bytes (node:crypto; at most 1 KiB per request, as Postfix
 * caps it); "tktkey" and the session cache requests ("lookup", "update",
 * "delete") answer "not available", which Postfix clients handle by doing
 * a full handshake. Node's TLS keeps its own in-process session tickets,
 * so no cross-process cache is needed for correctness. It exists so that
 * the stock master.cf entry works.
 */

import { randomBytes } from 'node:crypto';
import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { attrServeRequests, type AttrList, type AttrPairs } from '../util/attr.js';
import { multiServerMain } from '../master/multi_server.js';

export const TLS_MGR_STAT_OK = 0;
export const TLS_MGR_STAT_ERR = -1;
export const TLS_MGR_STAT_FAIL = -2;
const MAX_SEED = 1024;

/** tlsmgrRequest - the reply to one request: random seed bytes; no session cache. */
function tlsmgrRequest(req: AttrList): AttrPairs {
  const request = req.get('request') ?? '';
  switch (request) {
    case 'seed': {
      const size = Number(req.get('size') ?? '0');
      if (!Number.isInteger(size) || size < 1) return [['status', TLS_MGR_STAT_FAIL], ['seed', '']];
      return [['status', TLS_MGR_STAT_OK], ['seed', randomBytes(Math.min(size, MAX_SEED)).toString('base64')]];
    }
    case 'tktkey':
      return [['status', TLS_MGR_STAT_ERR], ['keybuf', '']];
    case 'lookup':
      return [['status', TLS_MGR_STAT_ERR], ['session', '']];
    case 'update':
    case 'delete':
      return [['status', TLS_MGR_STAT_ERR]];
    default:
      msg.warn(`unknown request: "${request.slice(0, 100)}"`);
      return [['status', TLS_MGR_STAT_FAIL]];
  }
}

export function tlsmgrService(stream: VStream): Promise<void> {
  return attrServeRequests(stream, 'tlsmgr_protocol', 'tlsmgr', tlsmgrRequest, (t) => msg.warn(t));
}

export function main(argv: string[]): Promise<void> {
  return multiServerMain(argv, { solitary: true, service: tlsmgrService });
}

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
import { attrSendProtocol, readAttrs, sendAttrs, type AttrList } from '../util/attr.js';
import { multiServerMain } from '../master/multi_server.js';

export const TLS_MGR_STAT_OK = 0;
export const TLS_MGR_STAT_ERR = -1;
export const TLS_MGR_STAT_FAIL = -2;
const MAX_SEED = 1024;

export async function tlsmgrService(stream: VStream): Promise<void> {
  attrSendProtocol(stream, 'tlsmgr_protocol');
  await stream.flush();
  for (;;) {
    let req: AttrList | null;
    try {
      req = await readAttrs(stream);
    } catch (err) {
      msg.warn(`tlsmgr: ${(err as Error).message}`);
      return;
    }
    if (req === null) return;
    const request = req.get('request') ?? '';
    switch (request) {
      case 'seed': {
        const size = Number(req.get('size') ?? '0');
        if (!Number.isInteger(size) || size < 1) sendAttrs(stream, [['status', TLS_MGR_STAT_FAIL], ['seed', '']]);
        else sendAttrs(stream, [['status', TLS_MGR_STAT_OK], ['seed', randomBytes(Math.min(size, MAX_SEED)).toString('base64')]]);
        break;
      }
      case 'tktkey':
        sendAttrs(stream, [['status', TLS_MGR_STAT_ERR], ['keybuf', '']]);
        break;
      case 'lookup':
        sendAttrs(stream, [['status', TLS_MGR_STAT_ERR], ['session', '']]);
        break;
      case 'update':
      case 'delete':
        sendAttrs(stream, [['status', TLS_MGR_STAT_ERR]]);
        break;
      default:
        msg.warn(`unknown request: "${request.slice(0, 100)}"`);
        sendAttrs(stream, [['status', TLS_MGR_STAT_FAIL]]);
    }
    await stream.flush();
  }
}

export function main(argv: string[]): Promise<void> {
  return multiServerMain(argv, { solitary: true, service: tlsmgrService });
}

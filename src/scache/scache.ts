/**
 * scache - shared connection cache server (Postfix scache(8)), reduced.
 *
 * Postfix's scache keeps idle SMTP connections for all smtp(8) processes
 * by passing the open descriptors over UNIX-domain sockets (SCM_RIGHTS).
 * Node cannot send or receive descriptors on a net socket, so this server
 * speaks the scache protocol (protocol=scache_protocol; find_dest,
 * find_endp, save_dest, save_endp) but never holds a connection: every
 * find answers "not found" and every save "failed", which the Postfix
 * protocol allows (a cache may drop entries at any time). Connection reuse
 * happens instead inside each smtp process (see docs/smtp.md, conn_use=).
 * It exists so that the stock master.cf entry works.
 */

import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { attrServeRequests, type AttrList, type AttrPairs } from '../util/attr.js';
import { multiServerMain } from '../master/multi_server.js';

export const SCACHE_STAT_OK = 0;
export const SCACHE_STAT_BAD = 1;
export const SCACHE_STAT_FAIL = 2;

/** scacheRequest - the reply to one request: no connection is ever cached here. */
function scacheRequest(req: AttrList): AttrPairs {
  const request = req.get('request') ?? '';
  switch (request) {
    case 'find_dest':
      return [['status', SCACHE_STAT_FAIL], ['dest_prop', ''], ['endp_prop', '']];
    case 'find_endp':
      return [['status', SCACHE_STAT_FAIL], ['endp_prop', '']];
    case 'save_dest':
    case 'save_endp':
      return [['status', SCACHE_STAT_FAIL]];
    default:
      msg.warn(`unknown request: "${request.slice(0, 100)}"`);
      return [['status', SCACHE_STAT_BAD]];
  }
}

/** scacheService - answer requests from one client until it hangs up. */
export function scacheService(stream: VStream): Promise<void> {
  return attrServeRequests(stream, 'scache_protocol', 'scache', scacheRequest, (t) => msg.warn(t));
}

export function main(argv: string[]): Promise<void> {
  return multiServerMain(argv, { solitary: true, service: scacheService });
}

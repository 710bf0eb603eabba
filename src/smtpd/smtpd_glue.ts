/**
 * smtpd_glue - smtpd's clients of other services and of the system:
 * the fast-flush service for ETRN (Postfix global/flush_clnt.c over
 * mail_command_client.c) and the client name lookup (smtpd/smtpd_peer.c).
 */

import { promises as dns } from 'node:dns';
import type { Socket } from 'node:net';
import { isIPv6 } from 'node:net';
import { msg } from '../util/msg.js';
import { mailConnect } from '../global/mail_connect.js';
import type { MailConfig } from '../global/mail_conf.js';
import { splitList } from '../global/mail_conf.js';
import { readAttrs, sendAttrs } from '../util/attr.js';
import { DomainList } from './smtpd_resolve.js';
import { PEER_CODE, type PeerInfo } from './smtpd_state.js';

export type FlushStatus = 'ok' | 'deny' | 'bad' | 'fail';

/** flushSite - ask the flush service to deliver mail queued for a site (flush_send_site). */
export async function flushSite(config: MailConfig, site: string): Promise<FlushStatus> {
  const parent = splitList(config.str('parent_domain_matches_subdomains')).includes('fast_flush_domains');
  let listed: boolean;
  try {
    listed = await new DomainList(config.str('fast_flush_domains'), parent).match(site);
  } catch {
    return 'fail';
  }
  if (!listed) return 'deny';
  try {
    const stream = await mailConnect(config, 'public', config.str('flush_service_name') || 'flush', 100_000);
    try {
      const hello = await readAttrs(stream);
      if (hello?.get('protocol') !== 'queue_flush_protocol') return 'fail';
      sendAttrs(stream, [
        ['request', 'send_site'],
        ['site', site],
      ]);
      const reply = await readAttrs(stream);
      const status = reply ? Number(reply.get('status')) : -1;
      return status === 0 ? 'ok' : status === 3 ? 'bad' : status === 4 ? 'deny' : 'fail';
    } finally {
      stream.sock.destroy();
    }
  } catch {
    return 'fail';
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/**
 * peerInfo - the client's address, and its name when the reverse lookup is
 * confirmed by a forward lookup (smtpd_peer.c). Uses the system resolver
 * (getnameinfo/getaddrinfo, so /etc/hosts counts), as Postfix does.
 */
export async function peerInfo(config: MailConfig, sock: Socket): Promise<PeerInfo> {
  let addr = sock.remoteAddress ?? '';
  let family = sock.remoteFamily === 'IPv6' ? 10 : 2;
  if (addr.toLowerCase().startsWith('::ffff:') && addr.includes('.')) {
    addr = addr.slice(7);
    family = 2;
  }
  const info: PeerInfo = {
    name: 'unknown',
    reverseName: 'unknown',
    addr: addr || 'unknown',
    port: sock.remotePort !== undefined ? String(sock.remotePort) : 'unknown',
    nameStatus: PEER_CODE.PERM,
    reverseNameStatus: PEER_CODE.PERM,
    addrFamily: family,
    destAddr: (sock.localAddress ?? '').replace(/^::ffff:(?=\d+\.)/i, ''),
    destPort: sock.localPort !== undefined ? String(sock.localPort) : 'unknown',
  };
  if (!addr) {
    return info;
  }
  if (!config.bool('smtpd_peername_lookup')) {
    info.nameStatus = info.reverseNameStatus = PEER_CODE.PERM;
    return info;
  }
  let name: string;
  try {
    name = (await withTimeout(dns.lookupService(addr, 0), 10_000)).hostname;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    info.nameStatus = info.reverseNameStatus = code === 'ENOTFOUND' ? PEER_CODE.PERM : PEER_CODE.TEMP;
    return info;
  }
  if (!name || name === addr || (isIPv6(addr) && isIPv6(name))) {
    return info;
  }
  info.reverseName = name;
  info.reverseNameStatus = PEER_CODE.OK;
  try {
    const all = await withTimeout(dns.lookup(name, { all: true }), 10_000);
    const norm = (a: string) => a.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
    if (all.some((a) => norm(a.address) === norm(addr))) {
      info.name = name;
      info.nameStatus = PEER_CODE.OK;
    } else {
      msg.warn(`${addr}: address not listed for hostname ${name}`);
      info.nameStatus = PEER_CODE.FORGED;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') {
      msg.warn(`hostname ${name} does not resolve to address ${addr}: Name or service not known`);
      info.nameStatus = PEER_CODE.PERM;
    } else {
      msg.warn(`hostname ${name} does not resolve to address ${addr}: Temporary failure in name resolution`);
      info.nameStatus = PEER_CODE.TEMP;
    }
  }
  return info;
}

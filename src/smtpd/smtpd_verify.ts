/**
 * smtpd_verify - the smtpd restrictions that ask someone else before they
 * decide (Postfix smtpd/smtpd_check.c reject_unverified_address(),
 * permit_mx_backup(), i_am_mx(), has_my_addr(), permit_mx_primary()).
 *
 * reject_unverified_sender/recipient ask the verify service
 * (address_verify_service_name) and poll it address_verify_poll_count
 * times, address_verify_poll_delay apart, while a probe is under way.
 * permit_mx_backup asks the DNS whether this host is a backup MX of the
 * recipient domain. Neither may crash the server: a service or DNS
 * failure becomes a (conditional) temporary reject, as in Postfix.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { msg } from '../util/msg.js';
import { verifyQuery, VRFY_STAT, DEL_RCPT_STAT } from '../global/verify_clnt.js';
import { NamadrList, RESOLVE, dnsStrerror } from './smtpd_resolve.js';
import { MAIL_ERROR, type SmtpdState } from './smtpd_state.js';
import {
  CHECK_DUNNO, CHECK_OK, NAME, cc, checkReject, deferIf, deferIfPermitAction, dnsResolver, rejectDictRetry,
} from './smtpd_check.js';

/** rejectUnverifiedAddress - reject_unverified_sender / reject_unverified_recipient. */
export async function rejectUnverifiedAddress(
  state: SmtpdState, addr: string, replyName: string, replyClass: string,
  deferCode: number, rejectCode: number, tempfailAction: string, altReply: string,
): Promise<number> {
  const config = state.config;
  const dsn = replyClass === NAME.SENDER ? '4.1.7' : '4.1.1';
  const pollCount = Math.max(1, cc(state).int('address_verify_poll_count'));
  const pollDelay = config.time('address_verify_poll_delay') * 1000;
  let answer = await verifyQuery(config, addr);
  for (let count = 1; answer.status === VRFY_STAT.OK && answer.addrStatus === DEL_RCPT_STAT.TODO && count < pollCount; count++) {
    await sleep(pollDelay);
    answer = await verifyQuery(config, addr);
  }
  if (answer.status !== VRFY_STAT.OK) {
    msg.warn(`${config.str('address_verify_service_name')} service failure`);
    return deferIfPermitAction(state, tempfailAction, MAIL_ERROR.POLICY, 450, dsn,
      `<${replyName}>: ${replyClass} rejected: address verification problem`);
  }
  const why = answer.reason;
  switch (answer.addrStatus) {
    case DEL_RCPT_STAT.OK:
      return CHECK_DUNNO;
    case DEL_RCPT_STAT.TODO:
    case DEL_RCPT_STAT.DEFER:
      return deferIfPermitAction(state, tempfailAction, MAIL_ERROR.POLICY, deferCode, dsn,
        `<${replyName}>: ${replyClass} rejected: unverified address: ${why}`);
    case DEL_RCPT_STAT.BOUNCE: {
      const reason = altReply !== '' ? altReply : why;
      if (Math.floor(rejectCode / 100) === 4) {
        return deferIfPermitAction(state, tempfailAction, MAIL_ERROR.POLICY, rejectCode, dsn,
          `<${replyName}>: ${replyClass} rejected: unverified address: ${reason}`);
      }
      return checkReject(state, MAIL_ERROR.POLICY, rejectCode, dsn,
        `<${replyName}>: ${replyClass} rejected: undeliverable address: ${reason}`);
    }
    default:
      msg.warn(`unknown address verification status ${answer.addrStatus}`);
      return CHECK_DUNNO;
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN';
}

/** hostAddrs - the A and AAAA records of a host; 'notfound' or an error text. */
async function hostAddrs(host: string): Promise<string[] | { error: string | null }> {
  const out: string[] = [];
  let error: string | null = null;
  for (const lookup of [() => dnsResolver.resolve4(host), () => dnsResolver.resolve6(host)]) {
    try {
      out.push(...(await lookup()));
    } catch (e) {
      if (!isNotFound(e)) error = dnsStrerror(e);
    }
  }
  return out.length > 0 ? out : { error };
}

/** hasMyAddr - does the host resolve to an address of this machine (has_my_addr)? */
async function hasMyAddr(state: SmtpdState, host: string, replyName: string, replyClass: string): Promise<boolean> {
  const addrs = await hostAddrs(host);
  if (!Array.isArray(addrs)) {
    if (addrs.error !== null) {
      deferIf(state.deferIfReject, MAIL_ERROR.POLICY, 450, '4.4.4',
        `<${replyName}>: ${replyClass} rejected: Unable to look up host ${host} as mail exchanger: ${addrs.error}`);
    }
    return false;
  }
  const own = cc(state).own;
  return addrs.some((a) => own.has(a.toLowerCase()));
}

/** iAmMx - is one of these MX hosts this machine (i_am_mx)? */
async function iAmMx(state: SmtpdState, hosts: string[], replyName: string, replyClass: string): Promise<boolean> {
  for (const host of hosts) {
    if (await hasMyAddr(state, host, replyName, replyClass)) return true;
  }
  return false;
}

/** permitMxPrimary - are all primary MX hosts in permit_mx_backup_networks (permit_mx_primary)? */
async function permitMxPrimary(state: SmtpdState, hosts: string[]): Promise<boolean> {
  const config = state.config;
  const networks = new NamadrList(config.str('permit_mx_backup_networks'),
    config.list('parent_domain_matches_subdomains').includes('permit_mx_backup_networks'));
  for (const host of hosts) {
    const addrs = await hostAddrs(host);
    if (!Array.isArray(addrs)) return false;
    for (const a of addrs) {
      if (!(await networks.match(a, a))) return false;
    }
  }
  return true;
}

/** permitMxBackup - permit_mx_backup: this host is a backup MX for the recipient domain. */
export async function permitMxBackup(state: SmtpdState, recipient: string, replyName: string, replyClass: string): Promise<number> {
  const config = state.config;
  const reply = await cc(state).resolver.resolve(state.sender ?? '', recipient);
  if (reply.flags & RESOLVE.FLAG_FAIL) rejectDictRetry(state, recipient);
  const at = reply.recipient.lastIndexOf('@');
  if (at < 0) return CHECK_OK;
  const domain = reply.recipient.slice(at + 1);
  // first as permit_auth_destination: final and relay_domains destinations
  if (!config.bool('allow_untrusted_routing') && reply.flags & RESOLVE.FLAG_ROUTED) return CHECK_DUNNO;
  if (reply.flags & RESOLVE.CLASS_FINAL) return CHECK_OK;
  if (reply.flags & RESOLVE.CLASS_RELAY) return CHECK_OK;
  if (domain.startsWith('[') && domain.endsWith(']')) return CHECK_DUNNO;
  let mx: Array<{ priority: number; exchange: string }>;
  try {
    mx = await dnsResolver.resolveMx(domain);
  } catch (e) {
    if (isNotFound(e)) return (await hasMyAddr(state, domain, replyName, replyClass)) ? CHECK_OK : CHECK_DUNNO;
    deferIf(state.deferIfReject, MAIL_ERROR.POLICY, 450, '4.4.4',
      `<${replyName}>: ${replyClass} rejected: Unable to look up mail exchanger information: ${dnsStrerror(e)}`);
    return CHECK_DUNNO;
  }
  if (mx.length === 0) return (await hasMyAddr(state, domain, replyName, replyClass)) ? CHECK_OK : CHECK_DUNNO;
  const best = Math.min(...mx.map((r) => r.priority));
  const primaries = mx.filter((r) => r.priority === best).map((r) => r.exchange).filter((h) => h !== '');
  const backups = mx.filter((r) => r.priority !== best).sort((a, b) => a.priority - b.priority).map((r) => r.exchange).filter((h) => h !== '');
  // this host must be a backup MX, not a primary one
  if (await iAmMx(state, primaries, replyName, replyClass)) return CHECK_DUNNO;
  if (backups.length === 0 || !(await iAmMx(state, backups, replyName, replyClass))) return CHECK_DUNNO;
  if (config.str('permit_mx_backup_networks') !== '' && !(await permitMxPrimary(state, primaries))) return CHECK_DUNNO;
  return CHECK_OK;
}

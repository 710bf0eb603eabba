/**
 * smtp_connect - next-hop parsing, address lookup and TCP/UNIX connection
 * set-up for the SMTP/LMTP client (Postfix smtp/smtp_connect.c,
 * smtp_addr.c).
 *
 * Next-hop forms: `domain` (MX lookup, falling back to the domain's own
 * addresses), `[host]` (no MX lookup), either with `:port` or `:service`;
 * for LMTP `inet:host:port` and `unix:/path`. Addresses are tried in MX
 * preference order, at most smtp_mx_address_limit of them.
 */

import { connect, isIP, type Socket } from 'node:net';
import { promises as dnsp } from 'node:dns';
import { isAbsolute, join } from 'node:path';
import type { MailConfig } from '../global/mail_conf.js';

export interface SmtpTarget {
  /** host name as logged (the MX host, or the address itself for literals) */
  host: string;
  /** IP address, or the socket path for unix: destinations */
  addr: string;
  port: number;
  unixPath?: string;
}

export interface NextHop {
  host: string;
  port: number;
  /** [host]: do not look up MX records */
  noMx: boolean;
  unixPath?: string;
}

const SERVICES: Record<string, number> = { smtp: 25, lmtp: 24, submission: 587, smtps: 465, submissions: 465 };

export class LookupError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'LookupError';
  }
}

function portOf(service: string, fallback: number): number {
  if (service === '') return fallback;
  if (/^\d+$/.test(service)) return Number(service);
  return SERVICES[service] ?? fallback;
}

/** parseNextHop - Postfix nexthop syntax into its parts. */
export function parseNextHop(nexthop: string, defaultPort: number, lmtp: boolean): NextHop {
  let rest = nexthop.trim();
  if (lmtp && rest.startsWith('unix:')) return { host: rest.slice(5), port: 0, noMx: true, unixPath: rest.slice(5) };
  if (rest.startsWith('inet:')) rest = rest.slice(5);
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return { host: rest, port: defaultPort, noMx: true };
    const host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    return { host: host.replace(/^ipv6:/i, ''), port: after.startsWith(':') ? portOf(after.slice(1), defaultPort) : defaultPort, noMx: true };
  }
  const colon = rest.lastIndexOf(':');
  if (colon > 0 && !rest.slice(0, colon).includes(':')) {
    return { host: rest.slice(0, colon), port: portOf(rest.slice(colon + 1), defaultPort), noMx: lmtp };
  }
  return { host: rest, port: defaultPort, noMx: lmtp };
}

/**
 * hostAddresses - the addresses of a host: DNS A/AAAA records when
 * smtp_host_lookup includes "dns" (Postfix's default), else the system
 * resolver ("native"). A name that DNS does not know is also tried with the
 * system resolver, so /etc/hosts names such as localhost keep working.
 */
async function hostAddresses(host: string, config: MailConfig): Promise<string[]> {
  if (isIP(host)) return [host];
  const pref = config.str('smtp_address_preference');
  const protocols = config.str('inet_protocols');
  const want4 = /all|ipv4/.test(protocols);
  const want6 = /all|ipv6/.test(protocols);
  const viaDns = /\bdns\b/.test(config.str('smtp_host_lookup'));
  let out: string[] = [];
  let dnsError: string | undefined;
  if (viaDns) {
    for (const [fam, fn] of [
      [4, () => dnsp.resolve4(host)],
      [6, () => dnsp.resolve6(host)],
    ] as const) {
      if ((fam === 4 && !want4) || (fam === 6 && !want6)) continue;
      try {
        out.push(...(await fn()));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENODATA' && code !== 'ENOTFOUND') dnsError = code;
      }
    }
  }
  if (out.length === 0) {
    try {
      const results = await dnsp.lookup(host, { all: true, verbatim: true });
      for (const r of results) {
        if (r.family === 6 && !want6) continue;
        if (r.family === 4 && !want4) continue;
        out.push(r.address);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' && !dnsError) throw new LookupError(`Host or domain name not found. Name service error for name=${host} type=A: Host not found`, true);
      throw new LookupError(`Host or domain name not found. Name service error for name=${host} type=A: Host not found, try again`, false);
    }
  }
  out = [...new Set(out)];
  if (pref === 'ipv4') out.sort((a, b) => (isIP(a) === 4 ? 0 : 1) - (isIP(b) === 4 ? 0 : 1));
  if (pref === 'ipv6') out.sort((a, b) => (isIP(a) === 6 ? 0 : 1) - (isIP(b) === 6 ? 0 : 1));
  return out;
}

/** sortMx - MX records by preference, equal preferences shuffled when randomize (smtp_randomize_addresses). */
export function sortMx<T extends { priority: number }>(mx: T[], randomize: boolean, random: () => number = Math.random): T[] {
  const keyed = mx.map((m) => ({ m, r: randomize ? random() : 0 }));
  keyed.sort((a, b) => a.m.priority - b.m.priority || a.r - b.r);
  return keyed.map((k) => k.m);
}

/** resolveTargets - the addresses to try for a next hop, in order. */
export async function resolveTargets(hop: NextHop, config: MailConfig): Promise<SmtpTarget[]> {
  // A relative unix: path is relative to the queue directory (private/dovecot-lmtp) and is logged as written.
  if (hop.unixPath) return [{ host: config.str('myhostname'), addr: hop.unixPath, port: 0, unixPath: isAbsolute(hop.unixPath) ? hop.unixPath : join(config.str('queue_directory'), hop.unixPath) }];
  const limit = Math.max(1, config.int('smtp_mx_address_limit'));
  const targets: SmtpTarget[] = [];
  const disableDns = config.bool('disable_dns_lookups') || config.str('smtp_dns_support_level') === 'disabled';
  if (hop.noMx || disableDns || isIP(hop.host)) {
    for (const addr of await hostAddresses(hop.host, config)) targets.push({ host: hop.host, addr, port: hop.port });
    return targets.slice(0, limit);
  }
  let mx: Array<{ exchange: string; priority: number }> = [];
  try {
    mx = await dnsp.resolveMx(hop.host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND') throw new LookupError(`Host or domain name not found. Name service error for name=${hop.host} type=MX: Host not found`, true);
    if (code !== 'ENODATA') throw new LookupError(`Host or domain name not found. Name service error for name=${hop.host} type=MX: Host not found, try again`, false);
  }
  if (mx.length === 0) {
    for (const addr of await hostAddresses(hop.host, config)) targets.push({ host: hop.host, addr, port: hop.port });
    return targets.slice(0, limit);
  }
  mx = sortMx(mx, config.bool('smtp_randomize_addresses'));
  for (const m of mx) {
    if (m.exchange === '' || m.exchange === '.') throw new LookupError(`Domain ${hop.host} does not accept mail (nullMX)`, true);
    try {
      for (const addr of await hostAddresses(m.exchange, config)) targets.push({ host: m.exchange, addr, port: hop.port });
    } catch {
      continue;
    }
    if (targets.length >= limit) break;
  }
  return targets.slice(0, limit);
}

/** connectTarget - open the connection, bounded by smtp_connect_timeout (0: unbounded). */
export function connectTarget(t: SmtpTarget, timeoutMs: number, bindAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = t.unixPath
      ? connect(t.unixPath)
      : connect({ host: t.addr, port: t.port, ...(bindAddress ? { localAddress: bindAddress } : {}) });
    // A zero timeout (lmtp_connect_timeout's default) means: no deadline but the system's.
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            sock.destroy();
            reject(Object.assign(new Error('Connection timed out'), { code: 'ETIMEDOUT' }));
          }, timeoutMs)
        : undefined;
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.setNoDelay(true);
      resolve(sock);
    });
  });
}

/** targetLabel - host[addr]:port as Postfix logs it. */
export function targetLabel(t: SmtpTarget, withPort = true): string {
  if (t.unixPath) return `${t.host}[${t.addr}]`;
  return withPort ? `${t.host}[${t.addr}]:${t.port}` : `${t.host}[${t.addr}]`;
}

/**
 * smtpd_check - the SMTP server access restriction language (Postfix
 * smtpd/smtpd_check.c, smtpd_dsn_fix.c; access(5), the RESTRICTION CLASS and
 * SMTPD_ACCESS_README behaviour).
 *
 * Each stage (client, helo, sender, recipient/relay, data, end-of-data,
 * etrn) runs its restriction list left to right; OK ends that list, a
 * reject ends the request, DUNNO goes on. With smtpd_delay_reject the
 * client/helo/sender lists run again at RCPT time. defer_if_permit and
 * defer_if_reject are remembered and applied at the end; warn_if_reject
 * turns the next reject into a "reject_warning" log line. A restriction
 * may never crash the server: table errors become 451 replies.
 *
 * Every check returns the reply text of a reject, or null to go on.
 */

import { connect as netConnect, type Socket } from 'node:net';
import { promises as dnsPromises } from 'node:dns';
import { msg } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';
import { splitList } from '../global/mail_conf.js';
import { quoteLocal, validHostname, validHostaddr, allPrint } from './smtpd_addr.js';
import { Maps, TableError, mailAddrFind, openTable, type Table } from './smtpd_tables.js';
import { NamadrList, Resolver, RESOLVE, ownAddresses, type ResolveReply, DomainList, dnsStrerror } from './smtpd_resolve.js';
import { saslMethod, saslUsername } from './smtpd_sasl.js';
import { MAIL_ERROR, CLEANUP_FLAG, type SmtpdState, WHERE } from './smtpd_state.js';
import { rejectUnverifiedAddress, permitMxBackup } from './smtpd_verify.js';
import { fprintCompatText } from '../tls/tls_fprint.js';
import { xtextQuote } from '../global/xtext.js';

export const CHECK_DUNNO = 0;
export const CHECK_OK = 1;
export const CHECK_REJECT = 2;

export const NAME = {
  CLIENT: 'Client host',
  REV_CLIENT: 'Unverified Client host',
  HELO: 'Helo command',
  SENDER: 'Sender address',
  RECIPIENT: 'Recipient address',
  ETRN: 'Etrn command',
  DATA: 'Data command',
  EOD: 'End-of-data',
  CCERT: 'Client certificate',
};

/** A non-local exit from a check (Postfix longjmp(smtpd_check_buf)). */
class CheckAbort extends Error {
  constructor(readonly status: number) {
    super('check abort');
  }
}

/** Restriction settings read once per process (smtpd_check_init). */
export class CheckConfig {
  readonly client: string[];
  readonly helo: string[];
  readonly mail: string[];
  readonly relay: string[];
  readonly rcpt: string[];
  readonly data: string[];
  readonly eod: string[];
  readonly etrn: string[];
  readonly classes = new Map<string, string[]>();
  readonly relayBeforeRcpt: boolean;
  readonly delayReject: boolean;
  readonly resolver: Resolver;
  readonly mynetworks: NamadrList;
  readonly own: Set<string>;
  readonly localRcptMaps: Maps;
  readonly virtAliasMaps: Maps;
  readonly virtMailboxMaps: Maps;
  readonly relayRcptMaps: Maps;
  readonly canonicalMaps: Maps;
  readonly rcptCanonMaps: Maps;
  readonly sendCanonMaps: Maps;
  readonly int: (name: string) => number;
  readonly permitLogActions: Set<string>;

  constructor(readonly config: MailConfig) {
    const list = (name: string) => splitList(config.str(name));
    this.client = list('smtpd_client_restrictions');
    this.helo = list('smtpd_helo_restrictions');
    this.mail = list('smtpd_sender_restrictions');
    this.relay = list('smtpd_relay_restrictions');
    this.rcpt = list('smtpd_recipient_restrictions');
    this.data = list('smtpd_data_restrictions');
    this.eod = list('smtpd_end_of_data_restrictions');
    this.etrn = list('smtpd_etrn_restrictions');
    for (const name of list('smtpd_restriction_classes')) {
      if (!config.isDefined(name)) msg.fatal(`restriction class \`${name}' needs a definition`);
      this.classes.set(name, list(name));
    }
    this.relayBeforeRcpt = config.bool('smtpd_relay_before_recipient_restrictions');
    this.delayReject = config.bool('smtpd_delay_reject');
    this.resolver = new Resolver(config);
    const parent = list('parent_domain_matches_subdomains');
    this.mynetworks = new NamadrList(config.str('mynetworks'), parent.includes('mynetworks'));
    this.own = ownAddresses(config);
    this.localRcptMaps = Maps.fromParam('local_recipient_maps', config.str('local_recipient_maps'));
    this.virtAliasMaps = Maps.fromParam('virtual_alias_maps', config.str('virtual_alias_maps'));
    this.virtMailboxMaps = Maps.fromParam('virtual_mailbox_maps', config.str('virtual_mailbox_maps'));
    this.relayRcptMaps = Maps.fromParam('relay_recipient_maps', config.str('relay_recipient_maps'));
    this.canonicalMaps = Maps.fromParam('canonical_maps', config.str('canonical_maps'));
    this.rcptCanonMaps = Maps.fromParam('recipient_canonical_maps', config.str('recipient_canonical_maps'));
    this.sendCanonMaps = Maps.fromParam('sender_canonical_maps', config.str('sender_canonical_maps'));
    const ints = new Map<string, number>();
    this.int = (name) => {
      let v = ints.get(name);
      if (v === undefined) {
        v = config.int(name);
        ints.set(name, v);
      }
      return v;
    };
    this.permitLogActions = new Set(list('smtpd_log_access_permit_actions').map((s) => s.toLowerCase()));
    this.checkRequired();
  }

  /** checkRequired - the startup check that relaying is restricted somewhere (smtpd_check_init). */
  private checkRequired(): void {
    const required = ['reject_unauth_destination', 'defer_unauth_destination', 'reject', 'defer', 'defer_if_permit', 'check_relay_domains'];
    const has = (list: string[], depth = 0): boolean => {
      for (const item of list) {
        const lower = item.toLowerCase();
        if (required.includes(lower)) return true;
        const cls = this.classes.get(item);
        if (cls && depth < 100 && has(cls, depth + 1)) return true;
      }
      return false;
    };
    if (!has(this.rcpt) && !has(this.relay)) {
      msg.fatal(
        'in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: ' +
          required.join(', ').replace(/, check_relay_domains$/, ' or check_relay_domains').replace(', defer_if_permit or', ', defer_if_permit or'),
      );
    }
  }
}

const checkConfigs = new WeakMap<MailConfig, CheckConfig>();

/** smtpdCheckInit - build (once) and return the restriction settings; fatal on a bad configuration. */
export function smtpdCheckInit(config: MailConfig): CheckConfig {
  let c = checkConfigs.get(config);
  if (!c) {
    c = new CheckConfig(config);
    checkConfigs.set(config, c);
  }
  return c;
}

/** DNS resolver used by reject_unknown_* (tests may point it at a local server). */
export let dnsResolver: dnsPromises.Resolver = new dnsPromises.Resolver({ timeout: 10000, tries: 2 });
export function setDnsResolver(r: dnsPromises.Resolver): void {
  dnsResolver = r;
}

export function cc(state: SmtpdState): CheckConfig {
  return smtpdCheckInit(state.config);
}

/** logWhatsup - "ID: reject: RCPT from host[addr]: text; from=<> to=<> proto=ESMTP helo=<>". */
export function logWhatsup(state: SmtpdState, whatsup: string, text: string): void {
  let line = `${state.queueId ?? 'NOQUEUE'}: ${whatsup}: ${state.where} from ${state.namaddr}: ${text};`;
  if (state.sender !== null) line += ` from=<${logAddr(state, state.sender)}>`;
  if (state.recipient !== null) line += ` to=<${logAddr(state, state.recipient)}>`;
  if (state.protocol) line += ` proto=${state.protocol}`;
  if (state.heloName !== null) line += ` helo=<${state.heloName}>`;
  msg.info(line);
}

/** logAddr - an address in the log's external form (info_log_address_format). */
export function logAddr(state: SmtpdState, addr: string): string {
  return state.config.str('info_log_address_format') === 'internal' ? addr : quoteLocal(addr);
}

/** dsnSplit - an optional leading "X.Y.Z " in text, else the default. */
function dsnSplit(def: string, text: string): { dsn: string; text: string } {
  const m = /^([245]\.\d{1,3}\.\d{1,3})(\s+|$)(.*)$/s.exec(text);
  if (m) return { dsn: m[1], text: m[3] };
  return { dsn: def, text };
}

/** smtpdDsnFix - context-dependent DSN detail (smtpd_dsn_fix.c). */
function smtpdDsnFix(dsn: string, replyClass: string): string {
  const detail = dsn.slice(2);
  if (replyClass === NAME.SENDER) {
    if (detail === '1.1' || detail === '1.2' || detail === '1.3' || detail === '1.4' || detail === '1.5' || detail === '1.6' || detail === '1.8') {
      return dsn[0] + '.1.7';
    }
  } else if (replyClass === NAME.RECIPIENT) {
    if (detail === '1.0' || detail === '1.7' || detail === '1.8') return dsn[0] + '.1.' + (detail === '1.8' ? '2' : '1');
  } else if (replyClass !== NAME.HELO && replyClass !== NAME.CLIENT && replyClass !== NAME.REV_CLIENT && replyClass !== NAME.ETRN) {
    return dsn;
  } else if (detail.startsWith('1.')) {
    return dsn[0] + '.7.1';
  }
  return dsn;
}

function validDsn(text: string): boolean {
  return /^[245]\.\d{1,3}\.\d{1,3}(\s|$)/.test(text);
}

/** checkReject - format, log and record a reject (smtpd_check_reject). */
export function checkReject(state: SmtpdState, errorClass: number, code: number, dsn: string, text: string): number {
  let warn = false;
  let whatsup = 'reject';
  if (
    state.warnIfReject &&
    errorClass !== MAIL_ERROR.SOFTWARE &&
    errorClass !== MAIL_ERROR.RESOURCE &&
    errorClass !== MAIL_ERROR.DATA
  ) {
    warn = true;
    whatsup = 'reject_warning';
  }
  state.errorMask |= errorClass;
  let reply = `${code} ${dsn} ${text}`;
  if (code < 400 || code > 599) {
    msg.warn(`SMTP reply code configuration error: ${reply}`);
    reply = '450 4.7.1 Service unavailable';
  }
  if (!validDsn(reply.slice(4))) {
    msg.warn(`DSN detail code configuration error: ${reply}`);
    reply = '450 4.7.1 Service unavailable';
  }
  reply = reply.slice(0, 510).replace(/[^\x20-\x7e\u0080-\uffff]/g, ' ');
  if (!warn && state.deferIfReject.active && reply[0] === '5') {
    const d = state.deferIfReject;
    state.warnIfReject = 0;
    d.active = false;
    return checkReject(state, d.errorClass, d.code, d.dsn, d.reason);
  }
  if (state.config.bool('soft_bounce') && reply[0] === '5') reply = '4' + reply.slice(1);
  reply = reply.slice(0, 4) + reply[0] + reply.slice(5);
  state.errorText = reply;
  logWhatsup(state, whatsup, reply);
  return warn ? CHECK_DUNNO : CHECK_REJECT;
}

/** deferIf - remember a conditional deferral (defer_if). */
export function deferIf(d: SmtpdState['deferIfPermit'], errorClass: number, code: number, dsn: string, reason: string): number {
  if (!d.active) {
    d.active = true;
    d.errorClass = errorClass;
    d.code = code;
    d.dsn = dsn;
    d.reason = reason;
  }
  return CHECK_DUNNO;
}

/** DEFER_IF_PERMIT2: the action of a temporary failure, by reject_tempfail_action style name. */
export function deferIfPermitAction(state: SmtpdState, action: string, errorClass: number, code: number, dsn: string, text: string): number {
  switch (action.toLowerCase()) {
    case 'reject':
      return checkReject(state, errorClass, code, dsn, text);
    case 'defer':
      return checkReject(state, errorClass, code, dsn, text);
    case 'defer_if_reject':
      deferIf(state.deferIfReject, errorClass, code, dsn, text);
      return CHECK_DUNNO;
    case 'defer_if_permit':
    default:
      return deferIf(state.deferIfPermit, errorClass, code, dsn, text);
  }
}

export function rejectDictRetry(state: SmtpdState, replyName: string): never {
  throw new CheckAbort(checkReject(state, MAIL_ERROR.DATA, 451, '4.3.0', `<${replyName}>: Temporary lookup failure`));
}

function rejectServerError(state: SmtpdState): never {
  throw new CheckAbort(checkReject(state, MAIL_ERROR.SOFTWARE, 451, '4.3.5', 'Server configuration error'));
}

async function tableLookup(state: SmtpdState, replyName: string, fn: () => Promise<string | undefined>): Promise<string | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TableError) {
      msg.warn(e.message);
      if (e.retry) rejectDictRetry(state, replyName);
      rejectServerError(state);
    }
    throw e;
  }
}

/** aclPermit - an OK result; logs "permit" when listed in smtpd_log_access_permit_actions. */
function aclPermit(state: SmtpdState, action: string, replyClass: string, replyName: string, extra = ''): number {
  if (!state.deferIfPermit.active && cc(state).permitLogActions.has(action.toLowerCase())) {
    logWhatsup(state, 'permit', `action=${action} for ${replyClass}=${replyName}${extra ? ' ' + extra : ''}`);
  }
  return CHECK_OK;
}

async function resolveAddr(state: SmtpdState, sender: string | null, addr: string): Promise<ResolveReply> {
  return cc(state).resolver.resolve(sender ?? '', addr);
}

async function permitMynetworks(state: SmtpdState): Promise<number> {
  return (await cc(state).mynetworks.match(state.name, state.addr)) ? CHECK_OK : CHECK_DUNNO;
}

function permitInetInterfaces(state: SmtpdState): number {
  const a = state.addr.toLowerCase();
  return cc(state).own.has(a) ? CHECK_OK : CHECK_DUNNO;
}

export async function permitAuthDestination(state: SmtpdState, recipient: string): Promise<number> {
  const reply = await resolveAddr(state, state.sender, recipient);
  if (reply.flags & RESOLVE.FLAG_FAIL) rejectDictRetry(state, recipient);
  if (!reply.recipient.includes('@')) return CHECK_OK;
  if (!state.config.bool('allow_untrusted_routing') && reply.flags & RESOLVE.FLAG_ROUTED) return CHECK_DUNNO;
  if (reply.flags & RESOLVE.CLASS_FINAL) return CHECK_OK;
  if (reply.flags & RESOLVE.CLASS_RELAY) return CHECK_OK;
  return CHECK_DUNNO;
}

async function rejectUnauthDestination(state: SmtpdState, recipient: string, code: number, dsn: string): Promise<number> {
  if ((await permitAuthDestination(state, recipient)) === CHECK_OK) return CHECK_DUNNO;
  return checkReject(state, MAIL_ERROR.POLICY, code, dsn, `<${recipient}>: Relay access denied`);
}

function dupIfTruncate(name: string): string {
  return name.length > 1 && name.endsWith('.') && name[name.length - 2] !== '.' ? name.slice(0, -1) : name;
}

function rejectInvalidHostaddr(state: SmtpdState, addr: string, replyName: string, replyClass: string): number {
  let test = addr;
  if (addr.startsWith('[') && addr.length > 2 && addr.endsWith(']')) test = addr.slice(1, -1);
  if (!validHostaddr(test)) {
    return checkReject(state, MAIL_ERROR.POLICY, cc(state).int('invalid_hostname_reject_code'), '5.5.2',
      `<${replyName}>: ${replyClass} rejected: invalid ip address`);
  }
  return CHECK_DUNNO;
}

function rejectInvalidHostname(state: SmtpdState, name: string, replyName: string, replyClass: string): number {
  const test = dupIfTruncate(name);
  if (!validHostname(test) && !validHostaddr(test)) {
    return checkReject(state, MAIL_ERROR.POLICY, cc(state).int('invalid_hostname_reject_code'), '5.5.2',
      `<${replyName}>: ${replyClass} rejected: Invalid name`);
  }
  return CHECK_DUNNO;
}

function rejectNonFqdnHostname(state: SmtpdState, name: string, replyName: string, replyClass: string): number {
  const test = dupIfTruncate(name);
  if (!validHostname(test) || !test.includes('.')) {
    return checkReject(state, MAIL_ERROR.POLICY, cc(state).int('non_fqdn_reject_code'), '5.5.2',
      `<${replyName}>: ${replyClass} rejected: need fully-qualified hostname`);
  }
  return CHECK_DUNNO;
}

function rejectNonFqdnAddress(state: SmtpdState, addr: string, replyName: string, replyClass: string): number {
  const at = addr.lastIndexOf('@');
  const domain = at >= 0 ? addr.slice(at + 1) : '';
  if (domain.startsWith('[') && domain.endsWith(']')) return CHECK_DUNNO;
  const test = dupIfTruncate(domain);
  if (!test || !validHostname(test) || !test.includes('.')) {
    return checkReject(state, MAIL_ERROR.POLICY, cc(state).int('non_fqdn_reject_code'), '4.5.2',
      `<${replyName}>: ${replyClass} rejected: need fully-qualified address`);
  }
  return CHECK_DUNNO;
}

type DnsStatus = 'ok' | 'notfound' | 'retry' | 'nullmx';

function dnsErrorStatus(e: unknown): DnsStatus {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN' ? 'notfound' : 'retry';
}

/** lookupHost - A/AAAA, then MX (reject_unknown_helo_hostname order). */
async function lookupAddrOrMx(name: string, mxFirst: boolean): Promise<DnsStatus> {
  const tries: Array<() => Promise<unknown[]>> = [
    () => dnsResolver.resolve4(name),
    () => dnsResolver.resolve6(name),
  ];
  const mx = async () => {
    const rr = await dnsResolver.resolveMx(name);
    if (rr.length === 1 && rr[0].exchange === '' ) throw Object.assign(new Error('nullmx'), { code: 'NULLMX' });
    return rr;
  };
  const order = mxFirst ? [mx, ...tries] : [...tries, mx];
  let status: DnsStatus = 'notfound';
  for (const t of order) {
    try {
      const rr = await t();
      if (rr.length > 0) return 'ok';
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'NULLMX') return 'nullmx';
      const s = dnsErrorStatus(e);
      if (s === 'retry') status = 'retry';
    }
  }
  return status;
}

async function rejectUnknownHostname(state: SmtpdState, name: string, replyName: string, replyClass: string): Promise<number> {
  const status = await lookupAddrOrMx(name, false);
  if (status === 'ok' || status === 'nullmx') return CHECK_DUNNO;
  if (status !== 'retry') {
    return checkReject(state, MAIL_ERROR.POLICY, cc(state).int('unknown_hostname_reject_code'), '4.7.1',
      `<${replyName}>: ${replyClass} rejected: Host not found`);
  }
  return deferIfPermitAction(state, state.config.str('unknown_helo_hostname_tempfail_action'), MAIL_ERROR.POLICY, 450, '4.7.1',
    `<${replyName}>: ${replyClass} rejected: Host not found`);
}

async function rejectUnknownMailhost(state: SmtpdState, name: string, replyName: string, replyClass: string): Promise<number> {
  const isSender = replyClass === NAME.SENDER;
  const status = await lookupAddrOrMx(name, true);
  if (status === 'ok') return CHECK_DUNNO;
  if (status === 'nullmx') {
    return checkReject(state, MAIL_ERROR.POLICY, isSender ? 550 : 556, isSender ? '4.7.27' : '4.1.10',
      `<${replyName}>: ${replyClass} rejected: Domain ${name} does not accept mail (nullMX)`);
  }
  if (status !== 'retry') {
    return checkReject(state, MAIL_ERROR.POLICY, cc(state).int('unknown_address_reject_code'), isSender ? '4.1.8' : '4.1.2',
      `<${replyName}>: ${replyClass} rejected: Domain not found`);
  }
  return deferIfPermitAction(state, state.config.str('unknown_address_tempfail_action'), MAIL_ERROR.POLICY, 450,
    isSender ? '4.1.8' : '4.1.2', `<${replyName}>: ${replyClass} rejected: Domain not found`);
}

async function rejectUnknownAddress(state: SmtpdState, addr: string, replyName: string, replyClass: string): Promise<number> {
  const reply = await resolveAddr(state, replyClass === NAME.SENDER ? state.recipient : state.sender, addr);
  if (reply.flags & RESOLVE.FLAG_FAIL) rejectDictRetry(state, addr);
  const at = reply.recipient.lastIndexOf('@');
  if (at < 0) return CHECK_DUNNO;
  const domain = reply.recipient.slice(at + 1);
  if (reply.flags & RESOLVE.CLASS_FINAL) return CHECK_DUNNO;
  if (domain.startsWith('[') && domain.endsWith(']')) return CHECK_DUNNO;
  return rejectUnknownMailhost(state, domain, replyName, replyClass);
}

function rejectUnknownReverseName(state: SmtpdState): number {
  if (state.reverseNameStatus !== 2) {
    return checkReject(state, MAIL_ERROR.POLICY, state.reverseNameStatus === 5 ? cc(state).int('unknown_client_reject_code') : 450,
      '4.7.1', `Client host rejected: cannot find your reverse hostname, [${state.addr}]`);
  }
  return CHECK_DUNNO;
}

function rejectUnknownClient(state: SmtpdState): number {
  if (state.nameStatus !== 2) {
    return checkReject(state, MAIL_ERROR.POLICY, state.nameStatus >= 5 ? cc(state).int('unknown_client_reject_code') : 450,
      '4.7.25', `Client host rejected: cannot find your hostname, [${state.addr}]`);
  }
  return CHECK_DUNNO;
}

/** checkTableResult - act on an access(5) result (check_table_result). */
async function checkTableResult(state: SmtpdState, table: string, value: string, datum: string, replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const sp = value.search(/[ \t]/);
  const cmd = sp < 0 ? value : value.slice(0, sp);
  const cmdText = sp < 0 ? '' : value.slice(sp).replace(/^[ \t]+/, '');
  const is = (word: string) => cmd.toUpperCase() === word;
  const c = cc(state);
  if (is('DUNNO')) return CHECK_DUNNO;
  if (is('REJECT')) {
    const dp = dsnSplit('5.7.1', cmdText);
    return checkReject(state, MAIL_ERROR.POLICY, c.int('access_map_reject_code'), smtpdDsnFix(dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Access denied'}`);
  }
  if (is('DEFER')) {
    const dp = dsnSplit('4.7.1', cmdText);
    return checkReject(state, MAIL_ERROR.POLICY, c.int('access_map_defer_code'), smtpdDsnFix(dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Access denied'}`);
  }
  if (is('HANGUP')) {
    logWhatsup(state, 'hangup', cmdText);
    throw new HangupRequest();
  }
  if (is('INFO')) {
    logWhatsup(state, 'info', cmdText);
    return CHECK_DUNNO;
  }
  if (is('WARN')) {
    logWhatsup(state, 'warn', cmdText);
    return CHECK_DUNNO;
  }
  const canDelegate = (action: string): boolean => {
    if (state.where === 'ETRN') {
      msg.warn(`access table ${table}: action ${action} is unavailable in smtpd_etrn_restrictions`);
      return false;
    }
    if (state.sender === null) {
      msg.warn(`access table ${table}: with smtpd_delay_reject=no, action ${action} is always skipped in ${NAME.CLIENT} or ${NAME.HELO} restrictions`);
      return false;
    }
    return true;
  };
  if (is('FILTER')) {
    if (!canDelegate('FILTER')) return CHECK_DUNNO;
    if (!cmdText) {
      msg.warn(`access table ${table} entry "${datum}" has FILTER entry without value`);
    } else if (!cmdText.includes(':')) {
      msg.warn(`access table ${table} entry "${datum}" requires transport:destination`);
    } else {
      logWhatsup(state, 'filter', `<${replyName}>: ${replyClass} triggers FILTER ${cmdText}`);
      state.savedFilter = cmdText;
    }
    return CHECK_DUNNO;
  }
  if (is('HOLD')) {
    if (!canDelegate('HOLD') || state.savedFlags & CLEANUP_FLAG.HOLD) return CHECK_DUNNO;
    logWhatsup(state, 'hold', `<${replyName}>: ${replyClass} ${cmdText || 'triggers HOLD action'}`);
    state.savedFlags |= CLEANUP_FLAG.HOLD;
    return CHECK_DUNNO;
  }
  if (is('DISCARD')) {
    if (!canDelegate('DISCARD')) return CHECK_DUNNO;
    logWhatsup(state, 'discard', `<${replyName}>: ${replyClass} ${cmdText || 'triggers DISCARD action'}`);
    state.savedFlags |= CLEANUP_FLAG.DISCARD;
    state.discard = true;
    return aclPermit(state, cmd, replyClass, replyName, `from ${table}`);
  }
  if (is('REDIRECT') || is('BCC')) {
    const action = cmd.toUpperCase();
    if (!canDelegate(action)) return CHECK_DUNNO;
    if (!cmdText.includes('@')) {
      msg.warn(`access table ${table} entry "${datum}" requires user@domain target`);
      return CHECK_DUNNO;
    }
    logWhatsup(state, action.toLowerCase(), `<${replyName}>: ${replyClass} triggers ${action} ${cmdText}`);
    if (action === 'REDIRECT') state.savedRedirect = cmdText;
    else state.savedBcc.push(cmdText);
    return CHECK_DUNNO;
  }
  if (is('DEFER_IF_PERMIT')) {
    const dp = dsnSplit('4.7.1', cmdText);
    return deferIfPermitAction(state, 'defer_if_permit', MAIL_ERROR.POLICY, c.int('access_map_defer_code'), smtpdDsnFix(dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Service unavailable'}`);
  }
  if (is('DEFER_IF_REJECT')) {
    const dp = dsnSplit('4.7.1', cmdText);
    deferIf(state.deferIfReject, MAIL_ERROR.POLICY, c.int('access_map_defer_code'), smtpdDsnFix(dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Service unavailable'}`);
    return CHECK_DUNNO;
  }
  if (is('PREPEND')) {
    if (state.sender === null) {
      msg.warn(`access table ${table}: with smtpd_delay_reject=no, action PREPEND is always skipped in ${NAME.CLIENT} or ${NAME.HELO} restrictions`);
      return CHECK_DUNNO;
    }
    if (state.where === WHERE.AFTER_EOM) {
      msg.warn(`access table ${table}: action PREPEND must be used before smtpd_end_of_data_restrictions`);
      return CHECK_DUNNO;
    }
    if (!cmdText || !/^[\x21-\x39\x3b-\x7e]+:/.test(cmdText)) {
      msg.warn(`access table ${table} entry "${datum}" requires header: text`);
      return CHECK_DUNNO;
    }
    state.prepend.push(cmdText);
    return CHECK_DUNNO;
  }
  if (/^\d+$/.test(value)) return aclPermit(state, cmd, replyClass, replyName, `from ${table}`);
  if (cmd.length === 3 && cmdText && /^[45]\d\d$/.test(cmd)) {
    const dp = dsnSplit(cmd[0] + '.7.1', cmdText);
    return checkReject(state, MAIL_ERROR.POLICY, Number(cmd), smtpdDsnFix(dp.dsn, replyClass),
      `<${replyName}>: ${replyClass} rejected: ${dp.text || 'Access denied'}`);
  }
  if (is('OK') || is('RELAY')) return aclPermit(state, cmd, replyClass, replyName, `from ${table}`);
  if (value.includes(':')) {
    msg.warn(`access table ${table} has entry with lookup table: ${value}`);
    msg.warn('do not specify lookup tables inside SMTPD access maps');
    msg.warn('define a restriction class and specify its name instead.');
    rejectServerError(state);
  }
  if (state.recursion > 100) {
    msg.warn(`access table ${table} entry ${value} causes unreasonable recursion`);
    rejectServerError(state);
  }
  const restrictions = splitList(value);
  if (restrictions.length === 0) {
    msg.warn(`access table ${table} entry ${value} has empty value`);
    return CHECK_OK;
  }
  return genericChecks(state, restrictions, replyName, replyClass, defAcl);
}

/** Thrown by the HANGUP action: the session ends without a reply. */
export class HangupRequest extends Error {}

/** checkAccess - one lookup key in a table. */
async function checkAccessKey(state: SmtpdState, table: string, key: string, replyName: string, replyClass: string, defAcl: string | null): Promise<{ found: boolean; status: number }> {
  const t: Table = openTable(table);
  const value = await tableLookup(state, replyName, () => t.lookup(key));
  if (value === undefined) return { found: false, status: CHECK_DUNNO };
  return { found: true, status: await checkTableResult(state, table, value, key, replyName, replyClass, defAcl) };
}

function parentStyle(state: SmtpdState): boolean {
  return splitList(state.config.str('parent_domain_matches_subdomains')).includes('smtpd_access_maps');
}

/** checkDomainAccess - a name and its parent domains (check_domain_access). */
async function checkDomainAccess(state: SmtpdState, table: string, domain: string, replyName: string, replyClass: string, defAcl: string | null): Promise<{ found: boolean; status: number }> {
  let name = dupIfTruncate(domain).toLowerCase();
  let first = true;
  const parent = parentStyle(state);
  while (name) {
    const key = first || parent ? name : '.' + name;
    const r = await checkAccessKey(state, table, key, replyName, replyClass, defAcl);
    if (r.found) return r;
    if (!parent && !first) {
      const r2 = await checkAccessKey(state, table, name, replyName, replyClass, defAcl);
      void r2;
    }
    const dot = name.indexOf('.');
    if (dot < 0) break;
    name = name.slice(dot + 1);
    first = false;
  }
  return { found: false, status: CHECK_DUNNO };
}

/** checkAddrAccess - an address and its network prefixes (check_addr_access). */
async function checkAddrAccess(state: SmtpdState, table: string, address: string, replyName: string, replyClass: string, defAcl: string | null): Promise<{ found: boolean; status: number }> {
  let addr = address.toLowerCase().startsWith('ipv6:') ? address.slice(5) : address;
  const delim = addr.includes(':') ? ':' : '.';
  for (;;) {
    const r = await checkAccessKey(state, table, addr, replyName, replyClass, defAcl);
    if (r.found) return r;
    const i = addr.lastIndexOf(delim);
    if (i <= 0) break;
    addr = addr.slice(0, i);
    if (delim === ':' && addr.endsWith(':')) addr = addr.replace(/:+$/, '');
  }
  return { found: false, status: CHECK_DUNNO };
}

async function checkNamadrAccess(state: SmtpdState, table: string, name: string, addr: string, replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  if (name && name !== 'unknown') {
    const r = await checkDomainAccess(state, table, name, replyName, replyClass, defAcl);
    if (r.found) return r.status;
  }
  const r = await checkAddrAccess(state, table, addr, replyName, replyClass, defAcl);
  return r.status;
}

/** checkMailAccess - user@domain, domain (and parents), user@ (check_mail_access). */
async function checkMailAccess(state: SmtpdState, table: string, addr: string, replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const at = addr.lastIndexOf('@');
  const local = at >= 0 ? addr.slice(0, at) : addr;
  const domain = at >= 0 ? addr.slice(at + 1) : '';
  const lower = addr.toLowerCase();
  let r = await checkAccessKey(state, table, lower, replyName, replyClass, defAcl);
  if (r.found) return r.status;
  const delimiter = state.config.str('recipient_delimiter');
  if (delimiter) {
    for (const d of delimiter) {
      const i = local.indexOf(d);
      if (i > 0) {
        const stripped = `${local.slice(0, i)}@${domain}`.toLowerCase();
        r = await checkAccessKey(state, table, stripped, replyName, replyClass, defAcl);
        if (r.found) return r.status;
        break;
      }
    }
  }
  if (domain) {
    r = await checkDomainAccess(state, table, domain, replyName, replyClass, defAcl);
    if (r.found) return r.status;
  }
  r = await checkAccessKey(state, table, `${local.toLowerCase()}@`, replyName, replyClass, defAcl);
  return r.status;
}

/** checkRcptMaps - is the address a known user (check_rcpt_maps). */
async function checkRcptMaps(state: SmtpdState, sender: string | null, recipient: string, replyClass: string): Promise<number> {
  const c = cc(state);
  const reply = await resolveAddr(state, sender, recipient);
  if (reply.flags & RESOLVE.FLAG_FAIL) rejectDictRetry(state, recipient);
  const delimiter = state.config.str('recipient_delimiter');
  const local = (reply.flags & RESOLVE.CLASS_MASK) === RESOLVE.CLASS_LOCAL;
  const match = (maps: Maps) => tableLookup(state, recipient, () => mailAddrFind(maps, reply.recipient, delimiter, local));
  if (
    (await match(c.rcptCanonMaps)) !== undefined ||
    (replyClass === NAME.SENDER && (await match(c.sendCanonMaps)) !== undefined) ||
    (await match(c.canonicalMaps)) !== undefined ||
    (await match(c.virtAliasMaps)) !== undefined
  ) {
    return CHECK_DUNNO;
  }
  const isSender = replyClass === NAME.SENDER;
  if (reply.transport === 'error') {
    const dp = dsnSplit(isSender ? '5.1.0' : '5.1.1', reply.nexthop);
    return checkReject(state, MAIL_ERROR.BOUNCE, reply.flags & RESOLVE.CLASS_ALIAS ? c.int('unknown_virtual_alias_reject_code') : 550,
      smtpdDsnFix(dp.dsn, replyClass), `<${recipient}>: ${replyClass} rejected: ${dp.text}`);
  }
  if (reply.transport === 'retry') {
    const dp = dsnSplit(isSender ? '4.1.0' : '4.1.1', reply.nexthop);
    return checkReject(state, MAIL_ERROR.BOUNCE, 450, smtpdDsnFix(dp.dsn, replyClass), `<${recipient}>: ${replyClass} rejected: ${dp.text}`);
  }
  const showTable = state.config.bool('show_user_unknown_table_name');
  const unknown = (code: number, what: string) =>
    checkReject(state, MAIL_ERROR.BOUNCE, code, isSender ? '5.1.0' : '5.1.1',
      `<${recipient}>: ${replyClass} rejected: User unknown${showTable ? ` in ${what}` : ''}`);
  const localPart = reply.recipient.slice(0, reply.recipient.lastIndexOf('@')).toLowerCase();
  switch (reply.flags & RESOLVE.CLASS_MASK) {
    case RESOLVE.CLASS_LOCAL:
      if (
        !c.localRcptMaps.empty &&
        localPart !== state.config.str('double_bounce_sender').toLowerCase() &&
        localPart !== 'postmaster' &&
        localPart !== 'mailer-daemon' &&
        (await match(c.localRcptMaps)) === undefined
      ) {
        return unknown(c.int('unknown_local_recipient_reject_code'), 'local recipient table');
      }
      break;
    case RESOLVE.CLASS_VIRTUAL:
      if (!c.virtMailboxMaps.empty && (await match(c.virtMailboxMaps)) === undefined) {
        return unknown(c.int('unknown_virtual_mailbox_reject_code'), 'virtual mailbox table');
      }
      break;
    case RESOLVE.CLASS_RELAY:
      if (!c.relayRcptMaps.empty && (await match(c.relayRcptMaps)) === undefined) {
        return unknown(c.int('unknown_relay_recipient_reject_code'), 'relay recipient table');
      }
      break;
  }
  return CHECK_DUNNO;
}

async function checkRecipientRcptMaps(state: SmtpdState, recipient: string): Promise<number> {
  if (state.recipientRcptmapChecked) return CHECK_DUNNO;
  if (state.warnIfReject === 0) state.recipientRcptmapChecked = true;
  return checkRcptMaps(state, state.sender, recipient, NAME.RECIPIENT);
}

async function checkSenderRcptMaps(state: SmtpdState, sender: string): Promise<number> {
  if (state.senderRcptmapChecked) return CHECK_DUNNO;
  if (state.warnIfReject === 0) state.senderRcptmapChecked = true;
  return checkRcptMaps(state, state.recipient, sender, NAME.SENDER);
}

/** forbidAllowlist - the DNS-derived access checks may not permit (forbid_allowlist). */
function forbidAllowlist(state: SmtpdState, name: string, status: number, target: string): void {
  if (!state.discard && status === CHECK_OK) {
    msg.warn(`restriction ${name} returns OK for ${target}`);
    msg.warn('this is not allowed for security reasons');
    msg.warn('use DUNNO instead of OK if you want to make an exception');
    rejectServerError(state);
  }
}

/**
 * checkServerAccess - look up the MX hosts, name servers or the address of a
 * domain, then each host name and host address in the table
 * (check_server_access).
 */
async function checkServerAccess(state: SmtpdState, table: string, name: string, type: 'A' | 'MX' | 'NS', replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const at = name.lastIndexOf('@');
  let domain = at >= 0 ? name.slice(at + 1) : name;
  if (domain.startsWith('[')) {
    if (type === 'NS' || !domain.endsWith(']')) return CHECK_DUNNO;
    let bare = domain.slice(1, -1);
    if (bare.toLowerCase().startsWith('ipv6:')) bare = bare.slice(5);
    if (!validHostaddr(bare)) return CHECK_DUNNO;
    return (await checkAddrAccess(state, table, bare, replyName, replyClass, defAcl)).status;
  }
  let servers: string[];
  if (type === 'A') {
    servers = [domain];
  } else {
    const lookup = async (d: string): Promise<string[] | 'notfound' | 'nullmx'> => {
      try {
        if (type === 'MX') {
          const mx = (await dnsResolver.resolveMx(d)).sort((a, b) => a.priority - b.priority);
          if (mx.length === 1 && mx[0].exchange === '') return 'nullmx';
          return mx.map((m) => m.exchange);
        }
        return await dnsResolver.resolveNs(d);
      } catch (e) {
        if (dnsErrorStatus(e) === 'notfound') return 'notfound';
        throw e;
      }
    };
    let result: string[] | 'notfound' | 'nullmx';
    try {
      result = await lookup(domain);
      if (result === 'notfound' && type === 'MX') result = [domain];
      while (result === 'notfound' && type === 'NS') {
        const dot = domain.indexOf('.');
        if (dot < 0 || dot === domain.length - 1) break;
        domain = domain.slice(dot + 1);
        result = await lookup(domain);
      }
    } catch (e) {
      msg.warn(`Unable to look up ${type} host for ${domain || name}: ${dnsStrerror(e)}`);
      return CHECK_DUNNO;
    }
    if (result === 'nullmx') return CHECK_DUNNO;
    if (result === 'notfound') {
      msg.warn(`Unable to look up ${type} host for ${domain || name}: Host not found`);
      return CHECK_DUNNO;
    }
    servers = result;
  }
  let count = 0;
  for (const server of servers) {
    if (validHostaddr(server)) {
      const r = await checkAddrAccess(state, table, server, replyName, replyClass, defAcl);
      if (r.status !== CHECK_DUNNO || r.found) return r.status;
      continue;
    }
    if (type !== 'A') {
      const r = await checkDomainAccess(state, table, server, replyName, replyClass, defAcl);
      if (r.status !== CHECK_DUNNO || r.found) return r.status;
    }
    let addrs: Array<{ address: string }>;
    try {
      addrs = await dnsPromises.lookup(server, { all: true });
    } catch (e) {
      if (type !== 'A') msg.warn(`Unable to look up ${type} host ${server} for ${replyClass} ${replyName}: ${dnsStrerror(e)}`);
      continue;
    }
    for (const { address } of addrs) {
      if (++count > 100) {
        msg.warn(`check_server_access: ${type} server address count limit (100) exceeded for ${replyClass} ${replyName} -- ignoring the remainder`);
        return CHECK_DUNNO;
      }
      const r = await checkAddrAccess(state, table, address, replyName, replyClass, defAcl);
      if (r.status !== CHECK_DUNNO || r.found) return r.status;
    }
  }
  return CHECK_DUNNO;
}

const MAP_COMMANDS = new Set([
  'check_client_access', 'check_reverse_client_hostname_access', 'check_helo_access', 'check_sender_access',
  'check_recipient_access', 'check_etrn_access', 'check_ccert_access', 'check_sasl_access',
  'check_client_a_access', 'check_client_mx_access', 'check_client_ns_access',
  'check_reverse_client_hostname_a_access', 'check_reverse_client_hostname_mx_access', 'check_reverse_client_hostname_ns_access',
  'check_helo_a_access', 'check_helo_mx_access', 'check_helo_ns_access',
  'check_sender_a_access', 'check_sender_mx_access', 'check_sender_ns_access',
  'check_recipient_a_access', 'check_recipient_mx_access', 'check_recipient_ns_access',
]);

/** genericChecks - run one restriction list (generic_checks). */
async function genericChecks(state: SmtpdState, restrictions: string[], replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const c = cc(state);
  let status = CHECK_DUNNO;
  const savedRecursion = state.recursion++;
  try {
    for (let i = 0; i < restrictions.length; i++) {
      if (state.discard) break;
      let name = restrictions[i];
      const lower = () => name.toLowerCase();
      if (lower() === 'warn_if_reject') {
        if (state.warnIfReject === 0) state.warnIfReject = state.recursion;
        continue;
      }
      let arg: string | undefined;
      if (name.includes(':')) {
        if (defAcl === null) {
          msg.warn(`specify one of (check_client_access, check_reverse_client_hostname_access, check_helo_access, check_sender_access, check_recipient_access, check_etrn_access) before ${replyClass} restriction "${name}"`);
          rejectServerError(state);
        }
        arg = name;
        name = defAcl;
      } else if (MAP_COMMANDS.has(lower())) {
        arg = restrictions[i + 1];
        if (arg === undefined || !arg.includes(':')) {
          msg.warn(`restriction ${name} requires ${arg === undefined ? 'type:table argument' : `type:table argument, not "${arg}"`}`);
          rejectServerError(state);
        }
        i++;
      }
      const needArg = (): string | null => {
        if (restrictions[i + 1] === undefined) {
          msg.warn(`restriction ${name} requires domain name argument`);
          return null;
        }
        return restrictions[++i];
      };
      const n = lower();
      const sender = state.sender;
      const recipient = state.recipient;
      switch (n) {
        case 'permit':
          status = aclPermit(state, name, replyClass, replyName);
          if (restrictions[i + 1] !== undefined) msg.warn(`restriction \`${restrictions[i + 1]}' after \`permit' is ignored`);
          break;
        case 'defer':
          status = checkReject(state, MAIL_ERROR.POLICY, c.int('defer_code'), '4.3.2', `<${replyName}>: ${replyClass} rejected: Try again later`);
          if (restrictions[i + 1] !== undefined && state.warnIfReject === 0) msg.warn(`restriction \`${restrictions[i + 1]}' after \`defer' is ignored`);
          break;
        case 'reject':
          status = checkReject(state, MAIL_ERROR.POLICY, c.int('reject_code'), '5.7.1', `<${replyName}>: ${replyClass} rejected: Access denied`);
          if (restrictions[i + 1] !== undefined && state.warnIfReject === 0) msg.warn(`restriction \`${restrictions[i + 1]}' after \`reject' is ignored`);
          break;
        case 'reject_unauth_pipelining':
          if (state.flags & 2 /* FLAG.ILL_PIPELINING */) {
            status = checkReject(state, MAIL_ERROR.PROTOCOL, 503, '5.5.0', `<${replyName}>: ${replyClass} rejected: Improper use of SMTP command pipelining`);
          }
          break;
        case 'check_policy_service': {
          const server = restrictions[i + 1];
          if (server === undefined || !server.includes(':')) {
            msg.warn('restriction check_policy_service must be followed by transport:server');
            rejectServerError(state);
          }
          i++;
          status = await checkPolicyService(state, server, replyName, replyClass, defAcl);
          break;
        }
        case 'defer_if_permit':
          status = deferIfPermitAction(state, 'defer_if_permit', MAIL_ERROR.POLICY, 450, '4.7.0', `<${replyName}>: ${replyClass} rejected: defer_if_permit requested`);
          break;
        case 'defer_if_reject':
          deferIf(state.deferIfReject, MAIL_ERROR.POLICY, 450, '4.7.0', `<${replyName}>: ${replyClass} rejected: defer_if_reject requested`);
          break;
        case 'sleep': {
          const secs = restrictions[i + 1];
          if (secs === undefined || !/^\d+$/.test(secs)) {
            msg.warn('restriction sleep must be followed by number');
            rejectServerError(state);
          }
          i++;
          await new Promise((r) => setTimeout(r, Number(secs) * 1000));
          break;
        }
        case 'reject_plaintext_session':
          status = checkReject(state, MAIL_ERROR.POLICY, c.int('plaintext_reject_code'), '4.7.1', 'Session encryption is required');
          break;
        case 'reject_unknown_client_hostname':
        case 'reject_unknown_client':
          status = rejectUnknownClient(state);
          break;
        case 'reject_unknown_reverse_client_hostname':
          status = rejectUnknownReverseName(state);
          break;
        case 'permit_inet_interfaces':
          status = permitInetInterfaces(state);
          if (status === CHECK_OK) status = aclPermit(state, name, NAME.CLIENT, state.namaddr);
          break;
        case 'permit_mynetworks':
          status = await permitMynetworks(state);
          if (status === CHECK_OK) status = aclPermit(state, name, NAME.CLIENT, state.namaddr);
          break;
        case 'check_client_access':
          status = await checkNamadrAccess(state, arg!, state.name, state.addr, state.namaddr, NAME.CLIENT, defAcl);
          break;
        case 'check_reverse_client_hostname_access':
          status = await checkNamadrAccess(state, arg!, state.reverseName, state.addr, state.reverseName, NAME.REV_CLIENT, defAcl);
          break;
        case 'check_helo_access':
          if (state.heloName !== null) {
            status = (await checkDomainAccess(state, arg!, state.heloName, state.heloName, NAME.HELO, defAcl)).status;
          }
          break;
        case 'reject_invalid_helo_hostname':
        case 'reject_invalid_hostname':
          if (state.heloName !== null) {
            status = state.heloName.startsWith('[')
              ? rejectInvalidHostaddr(state, state.heloName, state.heloName, NAME.HELO)
              : rejectInvalidHostname(state, state.heloName, state.heloName, NAME.HELO);
          }
          break;
        case 'reject_unknown_helo_hostname':
        case 'reject_unknown_hostname':
          if (state.heloName !== null) {
            status = state.heloName.startsWith('[')
              ? rejectInvalidHostaddr(state, state.heloName, state.heloName, NAME.HELO)
              : await rejectUnknownHostname(state, state.heloName, state.heloName, NAME.HELO);
          }
          break;
        case 'reject_non_fqdn_helo_hostname':
        case 'reject_non_fqdn_hostname':
          if (state.heloName !== null) {
            status = state.heloName.startsWith('[')
              ? rejectInvalidHostaddr(state, state.heloName, state.heloName, NAME.HELO)
              : rejectNonFqdnHostname(state, state.heloName, state.heloName, NAME.HELO);
          }
          break;
        case 'permit_naked_ip_address':
          msg.warn('restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or permit_sasl_authenticated instead');
          if (state.heloName !== null && /^[0-9.:]+$/.test(state.heloName)) {
            status = rejectInvalidHostaddr(state, state.heloName, state.heloName, NAME.HELO);
            if (status === CHECK_DUNNO) status = aclPermit(state, name, NAME.HELO, state.heloName);
          }
          break;
        case 'check_sender_access':
          if (sender !== null && sender !== '') status = await checkMailAccess(state, arg!, sender, sender, NAME.SENDER, defAcl);
          if (sender === '') {
            status = (await checkAccessKey(state, arg!, state.config.str('smtpd_null_access_lookup_key'), sender, NAME.SENDER, defAcl)).status;
          }
          break;
        case 'reject_unknown_address':
        case 'reject_unknown_sender_domain':
          if (sender) status = await rejectUnknownAddress(state, sender, sender, NAME.SENDER);
          break;
        case 'reject_non_fqdn_sender':
          if (sender) status = rejectNonFqdnAddress(state, sender, sender, NAME.SENDER);
          break;
        case 'reject_unlisted_sender':
          if (sender) status = await checkSenderRcptMaps(state, sender);
          break;
        case 'check_recipient_access':
          if (recipient !== null) status = await checkMailAccess(state, arg!, recipient, recipient, NAME.RECIPIENT, defAcl);
          break;
        case 'permit_auth_destination':
          if (recipient !== null) {
            status = await permitAuthDestination(state, recipient);
            if (status === CHECK_OK) status = aclPermit(state, name, NAME.RECIPIENT, recipient);
          }
          break;
        case 'reject_unauth_destination':
          if (recipient !== null) status = await rejectUnauthDestination(state, recipient, c.int('relay_domains_reject_code'), '5.7.1');
          break;
        case 'defer_unauth_destination':
          if (recipient !== null) status = await rejectUnauthDestination(state, recipient, c.int('relay_domains_reject_code') - 100, '4.7.1');
          break;
        case 'check_relay_domains':
          if (recipient !== null) {
            if (await new DomainList(state.config.str('relay_domains'), true).match(state.name)) status = CHECK_OK;
            else if ((await permitAuthDestination(state, recipient)) === CHECK_OK) status = CHECK_OK;
            else status = checkReject(state, MAIL_ERROR.POLICY, c.int('relay_domains_reject_code'), '5.7.1', `<${recipient}>: ${NAME.RECIPIENT} rejected: Relay access denied`);
          }
          if (status === CHECK_OK) status = aclPermit(state, name, NAME.RECIPIENT, recipient ?? '');
          break;
        case 'permit_sasl_authenticated':
          if (!state.standAlone && saslUsername(state)) status = aclPermit(state, name, NAME.CLIENT, state.namaddr);
          break;
        case 'check_sasl_access': {
          const user = saslUsername(state);
          if (user) status = (await checkAccessKey(state, arg!, user, user, 'SASL login name', defAcl)).status;
          break;
        }
        case 'permit_tls_clientcerts':
        case 'permit_tls_all_clientcerts':
          status = await permitTlsClientcerts(state, n === 'permit_tls_all_clientcerts', replyName);
          if (status === CHECK_OK) status = aclPermit(state, name, NAME.CLIENT, state.namaddr);
          break;
        case 'check_ccert_access':
          status = await checkCcertAccess(state, arg!, defAcl);
          break;
        case 'reject_unknown_recipient_domain':
          if (recipient !== null) status = await rejectUnknownAddress(state, recipient, recipient, NAME.RECIPIENT);
          break;
        case 'reject_non_fqdn_recipient':
          if (recipient !== null) status = rejectNonFqdnAddress(state, recipient, recipient, NAME.RECIPIENT);
          break;
        case 'check_recipient_maps':
        case 'reject_unlisted_recipient':
          if (recipient) status = await checkRecipientRcptMaps(state, recipient);
          break;
        case 'reject_multi_recipient_bounce':
          if (sender === '' && state.rcptCount > (state.where !== 'RCPT' ? 1 : 0)) {
            status = checkReject(state, MAIL_ERROR.POLICY, c.int('multi_recipient_bounce_reject_code'), '5.5.3',
              `<${replyName}>: ${replyClass} rejected: Multi-recipient bounce`);
          }
          break;
        case 'check_etrn_access':
          if (state.etrnName !== null) status = (await checkDomainAccess(state, arg!, state.etrnName, state.etrnName, NAME.ETRN, defAcl)).status;
          break;
        case 'reject_rbl_client':
        case 'reject_rbl':
        case 'permit_dnswl_client':
        case 'reject_rhsbl_client':
        case 'permit_rhswl_client':
        case 'reject_rhsbl_reverse_client':
        case 'reject_rhsbl_helo':
        case 'reject_rhsbl_sender':
        case 'reject_rhsbl_recipient': {
          const domain = needArg();
          if (domain !== null) status = await dnsListCheck(state, n, domain);
          break;
        }
        case 'reject_unverified_sender':
          if (sender) {
            status = await rejectUnverifiedAddress(state, sender, sender, NAME.SENDER, c.int('unverified_sender_defer_code'),
              c.int('unverified_sender_reject_code'), state.config.str('unverified_sender_tempfail_action'),
              state.config.str('unverified_sender_reject_reason'));
          }
          break;
        case 'reject_unverified_recipient':
          if (recipient) {
            status = await rejectUnverifiedAddress(state, recipient, recipient, NAME.RECIPIENT, c.int('unverified_recipient_defer_code'),
              c.int('unverified_recipient_reject_code'), state.config.str('unverified_recipient_tempfail_action'),
              state.config.str('unverified_recipient_reject_reason'));
          }
          break;
        case 'permit_mx_backup':
          if (recipient !== null) {
            status = await permitMxBackup(state, recipient, recipient, NAME.RECIPIENT);
            if (status === CHECK_OK) status = aclPermit(state, name, NAME.RECIPIENT, recipient);
          }
          break;
        case 'reject_sender_login_mismatch':
          if (sender) {
            status = await rejectAuthSenderLoginMismatch(state, sender, false);
            if (status === CHECK_DUNNO) status = await rejectUnauthSenderLoginMismatch(state, sender);
          }
          break;
        case 'reject_authenticated_sender_login_mismatch':
          if (sender) status = await rejectAuthSenderLoginMismatch(state, sender, false);
          break;
        case 'reject_known_sender_login_mismatch':
          if (sender) {
            status = saslUsername(state) ? await rejectAuthSenderLoginMismatch(state, sender, true) : await rejectUnauthSenderLoginMismatch(state, sender);
          }
          break;
        case 'reject_unauthenticated_sender_login_mismatch':
          if (sender) status = await rejectUnauthSenderLoginMismatch(state, sender);
          break;
          msg.warn(`restriction \`${name}' ignored: not supported by this server`);
          break;
        default: {
          const dnsCheck = /^check_(client|reverse_client_hostname|helo|sender|recipient)_(a|mx|ns)_access$/.exec(n);
          if (dnsCheck) {
            const subject =
              dnsCheck[1] === 'client' ? state.name
              : dnsCheck[1] === 'reverse_client_hostname' ? state.reverseName
              : dnsCheck[1] === 'helo' ? state.heloName
              : dnsCheck[1] === 'sender' ? sender
              : recipient;
            const klass = { client: NAME.CLIENT, reverse_client_hostname: NAME.REV_CLIENT, helo: NAME.HELO, sender: NAME.SENDER, recipient: NAME.RECIPIENT }[dnsCheck[1]]!;
            const who = dnsCheck[1] === 'client' ? state.namaddr : subject ?? '';
            const usable = subject !== null && subject !== '' && !((dnsCheck[1] === 'client' || dnsCheck[1] === 'reverse_client_hostname') && subject.toLowerCase() === 'unknown');
            if (usable) {
              status = await checkServerAccess(state, arg!, subject!, dnsCheck[2].toUpperCase() as 'A' | 'MX' | 'NS', who, klass, defAcl);
              forbidAllowlist(state, name, status, subject!);
            }
            break;
          }
          if (c.classes.has(name)) {
            status = await genericChecks(state, c.classes.get(name)!, replyName, replyClass, defAcl);
            break;
          }
          msg.warn(`unknown smtpd restriction: "${name}"`);
          rejectServerError(state);
        }
      }
      if (state.warnIfReject >= state.recursion) state.warnIfReject = 0;
      if (status !== CHECK_DUNNO) break;
      if (state.deferIfPermit.active && state.deferIfReject.active) break;
    }
  } finally {
    state.recursion = savedRecursion;
    if (state.warnIfReject >= state.recursion) state.warnIfReject = 0;
  }
  return status;
}

/** dnsListCheck - DNS block/allow lists; a DNS failure means "not listed". */
async function dnsListCheck(state: SmtpdState, name: string, spec: string): Promise<number> {
  const eq = spec.indexOf('=');
  const domain = eq >= 0 ? spec.slice(0, eq) : spec;
  const want = eq >= 0 ? spec.slice(eq + 1) : null;
  let what: string;
  let query: string;
  let klass = NAME.CLIENT;
  if (name === 'reject_rbl_client' || name === 'reject_rbl' || name === 'permit_dnswl_client') {
    const a = state.addr;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(a)) return CHECK_DUNNO;
    query = a.split('.').reverse().join('.') + '.' + domain;
    what = a;
  } else {
    const subject =
      name.endsWith('helo') ? state.heloName : name.endsWith('sender') ? state.sender : name.endsWith('recipient') ? state.recipient : name.includes('reverse') ? state.reverseName : state.name;
    if (!subject || subject === 'unknown') return CHECK_DUNNO;
    const d = subject.includes('@') ? subject.slice(subject.lastIndexOf('@') + 1) : subject;
    query = `${d}.${domain}`;
    // the reply names what was checked as given (the whole address for senders and recipients)
    what = subject;
    klass = name.endsWith('helo') ? NAME.HELO : name.endsWith('sender') ? NAME.SENDER : name.endsWith('recipient') ? NAME.RECIPIENT : NAME.CLIENT;
  }
  let addrs: string[];
  try {
    addrs = await dnsResolver.resolve4(query);
  } catch {
    return CHECK_DUNNO;
  }
  if (want && !addrs.some((a) => matchByteCodes(a, want))) return CHECK_DUNNO;
  if (name.startsWith('permit_')) return aclPermit(state, name, klass, state.namaddr);
  let reason = '';
  try {
    reason = (await dnsResolver.resolveTxt(query)).map((t) => t.join('')).join(' ');
  } catch {
    // no TXT record: no reason
  }
  const code = cc(state).int('maps_rbl_reject_code');
  const rblClass = klass === NAME.CLIENT ? 'Client host' : klass;
  const text = `Service unavailable; ${rblClass} [${what}] blocked using ${domain}${reason ? '; ' + reason : ''}`;
  return checkReject(state, MAIL_ERROR.POLICY, code, '5.7.1', text);
}

function matchByteCodes(addr: string, pattern: string): boolean {
  const a = addr.split('.');
  const p = pattern.split('.');
  return p.every((part, i) => {
    if (part === '*' || part === undefined) return true;
    const m = /^\[(.*)\]$/.exec(part);
    if (m) {
      return m[1].split(';').some((r) => {
        const [lo, hi] = r.split('..');
        const v = Number(a[i]);
        return hi === undefined ? v === Number(lo) : v >= Number(lo) && v <= Number(hi);
      });
    }
    return part === a[i];
  });
}

/** senderLoginOwners - the smtpd_sender_login_maps result for a sender (check_mail_addr_find), or undefined. */
async function senderLoginOwners(state: SmtpdState, sender: string): Promise<string | undefined> {
  const spec = state.config.str('smtpd_sender_login_maps');
  let maps = senderLoginMaps.get(state.config);
  if (maps === undefined) {
    maps = Maps.fromParam('smtpd_sender_login_maps', spec);
    senderLoginMaps.set(state.config, maps);
  }
  const reply = await resolveAddr(state, state.recipient, sender);
  if (reply.flags & RESOLVE.FLAG_FAIL) rejectDictRetry(state, sender);
  const local = (reply.flags & RESOLVE.CLASS_MASK) === RESOLVE.CLASS_LOCAL;
  const m = maps;
  return tableLookup(state, sender, () => mailAddrFind(m, reply.recipient, state.config.str('recipient_delimiter'), local));
}
const senderLoginMaps = new WeakMap<MailConfig, Maps>();

/** rejectAuthSenderLoginMismatch - a logged-in client must own the sender address (reject_auth_sender_login_mismatch). */
async function rejectAuthSenderLoginMismatch(state: SmtpdState, sender: string, allowUnknown: boolean): Promise<number> {
  const user = saslUsername(state);
  if (!state.config.str('smtpd_sender_login_maps') || !user) return CHECK_DUNNO;
  const owners = await senderLoginOwners(state, sender);
  if (owners === undefined && allowUnknown) return CHECK_DUNNO;
  const found = owners !== undefined && owners.split(/[\s,]+/).some((n) => n !== '' && n.toLowerCase() === user.toLowerCase());
  if (found) return CHECK_DUNNO;
  return checkReject(state, MAIL_ERROR.POLICY, 553, '5.7.1', `<${sender}>: Sender address rejected: not owned by user ${user}`);
}

/** rejectUnauthSenderLoginMismatch - a client that is not logged in may not use an owned address. */
async function rejectUnauthSenderLoginMismatch(state: SmtpdState, sender: string): Promise<number> {
  if (!state.config.str('smtpd_sender_login_maps') || saslUsername(state)) return CHECK_DUNNO;
  if ((await senderLoginOwners(state, sender)) === undefined) return CHECK_DUNNO;
  return checkReject(state, MAIL_ERROR.POLICY, 553, '5.7.1', `<${sender}>: Sender address rejected: not logged in`);
}

const relayCcerts = new WeakMap<MailConfig, Maps>();
/** the fingerprint compatibility note is logged once per process for policy requests */
let policyCompatNoted = false;

/**
 * permitTlsClientcerts - OK when the client certificate's fingerprint or
 * public-key fingerprint is in relay_clientcerts (the CA need not be
 * trusted for that), or, for permit_tls_all_clientcerts, when the
 * certificate is trusted (Postfix smtpd_check.c permit_tls_clientcerts()).
 */
async function permitTlsClientcerts(state: SmtpdState, all: boolean, replyName: string | null): Promise<number> {
  if (state.tls === null) return CHECK_DUNNO;
  const cert = state.tls.ccert;
  if (cert.trusted && all) return CHECK_OK;
  if (cert.present) {
    const note = fprintCompatText(state.config, 'smtpd_tls_fingerprint_digest');
    if (note) msg.info(note);
    let maps = relayCcerts.get(state.config);
    if (!maps) {
      maps = Maps.fromParam('relay_clientcerts', state.config.str('relay_clientcerts'));
      relayCcerts.set(state.config, maps);
    }
    for (const fprint of [cert.certFprint, cert.pkeyFprint]) {
      let found: string | undefined;
      try {
        found = await maps.find(fprint);
      } catch (e) {
        if (!(e instanceof TableError)) throw e;
        msg.warn(`relay_clientcerts: lookup error for fingerprint '${cert.certFprint}', pkey fingerprint ${cert.pkeyFprint}`);
        if (replyName === null) return CHECK_DUNNO; // local_header_rewrite_clients: not local
        rejectDictRetry(state, replyName);
      }
      if (found !== undefined) {
        msg.debug(1, `Relaying allowed for certified client: ${found}`);
        return CHECK_OK;
      }
    }
    msg.debug(1, `relay_clientcerts: No match for fingerprint '${cert.certFprint}', pkey fingerprint ${cert.pkeyFprint}`);
  } else if (!state.config.bool('smtpd_tls_ask_ccert')) {
    msg.warn(`${all ? 'permit_tls_all_clientcerts' : 'permit_tls_clientcerts'} is requested, but "smtpd_tls_ask_ccert = no"`);
  }
  return CHECK_DUNNO;
}

/**
 * checkCcertAccess - look up the client certificate fingerprint, then the
 * public-key fingerprint, in an access table; the reply names the
 * certificate's CommonName (Postfix smtpd_check.c check_ccert_access()).
 */
async function checkCcertAccess(state: SmtpdState, spec: string, defAcl: string | null): Promise<number> {
  const acl = mapSearch(spec);
  if (acl === null) {
    msg.warn(`See earlier parsing error messages for '${spec}`);
    return checkReject(state, MAIL_ERROR.SOFTWARE, 451, '4.3.5', 'Server configuration error');
  }
  const cert = state.tls?.ccert;
  if (cert?.present) {
    const note = fprintCompatText(state.config, 'smtpd_tls_fingerprint_digest');
    for (const action of acl.order ?? ['cert_fingerprint', 'pubkey_fingerprint']) {
      if (action !== 'cert_fingerprint' && action !== 'pubkey_fingerprint') {
        msg.warn(`check_ccert_access: unexpected action '${action}' in '${spec}'`);
        return checkReject(state, MAIL_ERROR.SOFTWARE, 451, '4.3.5', 'Server configuration error');
      }
      if (note) msg.info(note);
      const fprint = action === 'cert_fingerprint' ? cert.certFprint : cert.pkeyFprint;
      const r = await checkAccessKey(state, acl.table, fprint, cert.peerCN, NAME.CCERT, defAcl);
      if (r.status !== CHECK_DUNNO) return r.status;
    }
  } else if (!state.config.bool('smtpd_tls_ask_ccert')) {
    msg.warn('check_ccert_access is requested, but "smtpd_tls_ask_ccert = no"');
  }
  return CHECK_DUNNO;
}

const SEARCH_NAMES = new Set(['cert_fingerprint', 'pubkey_fingerprint', 'issuer_cn', 'subject_cn']);
const mapSearches = new Map<string, { table: string; order: string[] | null } | null>();

/** braceTokens - words separated by commas/space, a {...} group being one word (mystrtokq). */
function braceTokens(text: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (/[\s,]/.test(text[i])) {
      i++;
      continue;
    }
    const start = i;
    let depth = 0;
    while (i < text.length && (depth > 0 || !/[\s,]/.test(text[i]))) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}' && --depth < 0) return `unexpected '}' in "${text}"`;
      i++;
    }
    if (depth > 0) return `missing '}' in "${text.slice(start)}"`;
    out.push(text.slice(start, i));
  }
  return out;
}

/**
 * mapSearch - "type:name" or "{ type:name, { search_order = a, b } }"
 * (Postfix global/map_search.c map_search_create()); null after a logged
 * parsing error. Parsed once per text.
 */
function mapSearch(spec: string): { table: string; order: string[] | null } | null {
  if (mapSearches.has(spec)) return mapSearches.get(spec)!;
  const fail = (text: string): null => {
    msg.warn(text);
    mapSearches.set(spec, null);
    return null;
  };
  let table = spec;
  let order: string[] | null = null;
  if (spec.startsWith('{')) {
    if (!spec.endsWith('}')) return fail(`malformed map specification: 'missing '}' in "${spec}"'`);
    const words = braceTokens(spec.slice(1, -1));
    if (typeof words === 'string') return fail(`malformed map specification: '${words}'`);
    if (words.length === 0) return fail(`empty map specification: '${spec}'`);
    table = words[0];
    for (let attr of words.slice(1)) {
      if (attr.startsWith('{')) {
        if (!attr.endsWith('}')) return fail(`malformed map attribute: missing '}' in "${attr}"`);
        attr = attr.slice(1, -1).trim();
      }
      const eq = attr.indexOf('=');
      if (eq < 0) return fail(`malformed map attribute in '${spec}': 'missing '=' after attribute name'`);
      const name = attr.slice(0, eq).trim();
      if (name.toLowerCase() !== 'search_order') return fail(`unknown map attribute in '${spec}': '${name}'`);
      order = [];
      for (const atom of attr.slice(eq + 1).split(/[\s,]+/).filter(Boolean)) {
        if (!SEARCH_NAMES.has(atom.toLowerCase())) return fail(`unknown search type '${atom}' in '${spec}'`);
        order.push(atom.toLowerCase());
      }
    }
  }
  if (!/^[^:{}\s]+:\S/.test(table)) {
    msg.warn(`malformed map specification: '${spec}'`);
    return fail(`expected maptype:mapname instead of '${table}'`);
  }
  const r = { table, order };
  mapSearches.set(spec, r);
  return r;
}

/** checkPolicyService - the policy delegation protocol (check_policy_service). */
async function checkPolicyService(state: SmtpdState, server: string, replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const c = state.config;
  const where = state.where === 'BDAT' ? 'DATA' : state.where;
  const countsRcpts = ['DATA', 'BDAT', WHERE.AFTER_EOM].includes(state.where);
  const tls = state.tls;
  if (tls?.ccert.certFprint && !policyCompatNoted) {
    const note = fprintCompatText(c, 'smtpd_tls_fingerprint_digest');
    if (note) msg.info(note);
    policyCompatNoted = true;
  }
  // attribute order of Postfix 3.7 check_policy_service() (SASL and TLS build)
  const attrs: Array<[string, string]> = [
    ['request', 'smtpd_access_policy'],
    ['protocol_state', where],
    ['protocol_name', state.protocol],
    ['client_address', state.addr],
    ['client_name', state.name],
    ['client_port', state.port],
    ['reverse_client_name', state.reverseName],
    ['server_address', state.destAddr],
    ['server_port', state.destPort],
    ['helo_name', state.heloName ?? ''],
    ['sender', state.sender ?? ''],
    ['recipient', state.recipient ?? ''],
    ['recipient_count', String(countsRcpts ? state.rcptCount : 0)],
    ['queue_id', state.queueId ?? ''],
    ['instance', state.instance],
    ['size', String(state.actSize > 0 ? state.actSize : state.msgSize)],
    ['etrn_domain', state.etrnName ?? ''],
    ['stress', ''],
    ['sasl_method', saslMethod(state) ?? ''],
    ['sasl_username', saslUsername(state) ?? ''],
    ['sasl_sender', state.saslSender ?? ''],
    // subject and issuer only for a trusted certificate, fingerprints for any
    ['ccert_subject', tls?.ccert.trusted ? xtextQuote(tls.ccert.peerCN) : ''],
    ['ccert_issuer', tls?.ccert.trusted ? xtextQuote(tls.ccert.issuerCN) : ''],
    ['ccert_fingerprint', tls?.ccert.certFprint ?? ''],
    ['ccert_pubkey_fingerprint', tls?.ccert.pkeyFprint ?? ''],
    ['encryption_protocol', tls?.protocol ?? ''],
    ['encryption_cipher', tls?.cipher ?? ''],
    ['encryption_keysize', String(tls?.bits ?? 0)],
    ['policy_context', c.str('smtpd_policy_service_policy_context')],
  ];
  const request = attrs.map(([k, v]) => `${k}=${v}\n`).join('') + '\n';
  let action: string | null = null;
  try {
    action = await policyClient(state, server).query(request);
  } catch (e) {
    msg.warn(`problem talking to server ${server}: ${(e as Error).message}`);
  }
  if (action === null) {
    return checkTableResult(state, server, c.str('smtpd_policy_service_default_action'), 'policy query', replyName, replyClass, defAcl);
  }
  return checkTableResult(state, server, action, 'policy query', replyName, replyClass, defAcl);
}

/**
 * PolicyClient - one policy server endpoint: a kept-open connection that
 * is closed after smtpd_policy_service_max_idle without use or
 * smtpd_policy_service_max_ttl after it was made; a failed request is tried
 * again on a new connection (smtpd_policy_service_try_limit, _retry_delay).
 */
class PolicyClient {
  private sock: Socket | null = null;
  private born = 0;
  private idleTimer?: NodeJS.Timeout;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly config: MailConfig,
    private readonly server: string,
  ) {}

  private connect(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const colon = this.server.indexOf(':');
      const type = this.server.slice(0, colon);
      const rest = this.server.slice(colon + 1);
      let sock: Socket;
      if (type === 'inet') {
        const i = rest.lastIndexOf(':');
        sock = netConnect({ host: rest.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(rest.slice(i + 1)) });
      } else if (type === 'unix') {
        sock = netConnect(rest.startsWith('/') ? rest : `${this.config.str('queue_directory')}/${rest}`);
      } else {
        reject(new Error(`unsupported policy transport: ${type}`));
        return;
      }
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        sock.on('error', () => undefined);
        sock.unref();
        resolve(sock);
      });
      sock.once('error', reject);
    });
  }

  private drop(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.sock?.destroy();
    this.sock = null;
  }

  private async once(request: string, timeoutMs: number): Promise<string> {
    const maxTtl = this.config.time('smtpd_policy_service_max_ttl') * 1000;
    if (this.sock && (this.sock.destroyed || Date.now() - this.born > maxTtl)) this.drop();
    if (!this.sock) {
      this.sock = await this.connect();
      this.born = Date.now();
    }
    const sock = this.sock;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    return new Promise<string>((resolve, reject) => {
      let buf = '';
      const done = (err: Error | null, value?: string) => {
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('close', onClose);
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
      const onData = (d: Buffer) => {
        buf += d.toString('utf8');
        if (buf.length > 65536) return done(new Error('reply too long'));
        const end = buf.indexOf('\n\n');
        if (end < 0) return;
        const act = buf
          .slice(0, end)
          .split('\n')
          .find((l) => l.startsWith('action='));
        if (act === undefined) done(new Error('malformed policy server reply'));
        else done(null, act.slice('action='.length));
      };
      const onClose = () => done(new Error('connection closed'));
      sock.on('data', onData);
      sock.once('close', onClose);
      sock.write(request);
    });
  }

  /** query - the action for one request, or throws after the try limit. */
  query(request: string): Promise<string> {
    const c = this.config;
    const p = this.chain.then(async () => {
      const tries = Math.max(1, c.int('smtpd_policy_service_try_limit'));
      const timeoutMs = c.time('smtpd_policy_service_timeout') * 1000;
      let last: Error = new Error('no attempt');
      for (let n = 0; n < tries; n++) {
        if (n > 0) await new Promise((r) => setTimeout(r, c.time('smtpd_policy_service_retry_delay') * 1000));
        try {
          const action = await this.once(request, timeoutMs);
          if (!allPrint(action) && !/^[\x20-\x7e\u0080-\uffff]*$/.test(action)) throw new Error('malformed policy server reply');
          this.idleTimer = setTimeout(() => this.drop(), c.time('smtpd_policy_service_max_idle') * 1000);
          this.idleTimer.unref();
          return action;
        } catch (e) {
          this.drop();
          last = e as Error;
        }
      }
      throw last;
    });
    this.chain = p.catch(() => undefined);
    return p;
  }
}

const policyClients = new WeakMap<MailConfig, Map<string, PolicyClient>>();

function policyClient(state: SmtpdState, server: string): PolicyClient {
  let m = policyClients.get(state.config);
  if (!m) {
    m = new Map();
    policyClients.set(state.config, m);
  }
  let pc = m.get(server);
  if (!pc) {
    pc = new PolicyClient(state.config, server);
    m.set(server, pc);
  }
  return pc;
}

function checkReset(state: SmtpdState): void {
  state.recursion = 0;
  state.warnIfReject = 0;
  state.deferIfReject.active = false;
}

async function runList(state: SmtpdState, list: string[], replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  try {
    return list.length ? await genericChecks(state, list, replyName, replyClass, defAcl) : CHECK_DUNNO;
  } catch (e) {
    if (e instanceof CheckAbort) return e.status;
    throw e;
  }
}

/** smtpdCheckClient - the client restrictions; the reject text or null. */
export async function smtpdCheckClient(state: SmtpdState): Promise<string | null> {
  state.deferIfPermit.active = false;
  checkReset(state);
  const status = await runList(state, cc(state).client, state.namaddr, NAME.CLIENT, 'check_client_access');
  state.deferIfPermitClient = state.deferIfPermit.active;
  return status === CHECK_REJECT ? state.errorText : null;
}

export async function smtpdCheckHelo(state: SmtpdState, helo: string | null): Promise<string | null> {
  if (helo === null) return null;
  const saved = state.heloName;
  state.heloName = helo;
  try {
    state.deferIfPermit.active = state.deferIfPermitClient;
    checkReset(state);
    const status = await runList(state, cc(state).helo, helo, NAME.HELO, 'check_helo_access');
    state.deferIfPermitHelo = state.deferIfPermit.active;
    return status === CHECK_REJECT ? state.errorText : null;
  } finally {
    state.heloName = saved;
  }
}

export async function smtpdCheckMail(state: SmtpdState, sender: string | null): Promise<string | null> {
  if (sender === null) return null;
  const saved = state.sender;
  state.sender = sender;
  try {
    state.deferIfPermit.active = state.deferIfPermitClient || state.deferIfPermitHelo;
    state.senderRcptmapChecked = false;
    checkReset(state);
    let status = await runList(state, cc(state).mail, sender, NAME.SENDER, 'check_sender_access');
    state.deferIfPermitSender = state.deferIfPermit.active;
    if (state.config.bool('smtpd_reject_unlisted_sender') && status !== CHECK_REJECT && !state.senderRcptmapChecked && !state.discard && sender) {
      try {
        status = await checkSenderRcptMaps(state, sender);
      } catch (e) {
        if (e instanceof CheckAbort) status = e.status;
        else throw e;
      }
    }
    return status === CHECK_REJECT ? state.errorText : null;
  } finally {
    state.sender = saved;
  }
}

export async function smtpdCheckRcpt(state: SmtpdState, recipient: string): Promise<string | null> {
  if (recipient.toLowerCase() === 'postmaster') return null;
  const c = cc(state);
  const saved = state.recipient;
  state.recipient = recipient;
  try {
    state.recipientRcptmapChecked = false;
    if (c.delayReject) {
      const err =
        (await smtpdCheckClient(state)) ?? (await smtpdCheckHelo(state, state.heloName)) ?? (await smtpdCheckMail(state, state.sender));
      if (err !== null) return err;
    }
    state.deferIfPermit.active = state.deferIfPermitSender;
    checkReset(state);
    const lists = c.relayBeforeRcpt ? [c.relay, c.rcpt] : [c.rcpt, c.relay];
    let status = CHECK_DUNNO;
    for (const list of lists) {
      status = await runList(state, list, recipient, NAME.RECIPIENT, 'check_recipient_access');
      if (status === CHECK_REJECT) break;
    }
    if (status !== CHECK_REJECT && state.deferIfPermit.active) {
      const d = state.deferIfPermit;
      status = checkReject(state, d.errorClass, d.code, d.dsn, d.reason);
    }
    if (state.config.bool('smtpd_reject_unlisted_recipient') && status !== CHECK_REJECT && !state.recipientRcptmapChecked && !state.discard) {
      try {
        status = await checkRecipientRcptMaps(state, recipient);
      } catch (e) {
        if (e instanceof CheckAbort) status = e.status;
        else throw e;
      }
    }
    return status === CHECK_REJECT ? state.errorText : null;
  } finally {
    state.recipient = saved;
  }
}

export async function smtpdCheckEtrn(state: SmtpdState, domain: string): Promise<string | null> {
  const c = cc(state);
  const saved = state.etrnName;
  state.etrnName = domain;
  try {
    if (c.delayReject) {
      const err = (await smtpdCheckClient(state)) ?? (await smtpdCheckHelo(state, state.heloName));
      if (err !== null) return err;
    }
    state.deferIfPermit.active = state.deferIfPermitClient || state.deferIfPermitHelo;
    checkReset(state);
    let status = await runList(state, c.etrn, domain, NAME.ETRN, 'check_etrn_access');
    if (status !== CHECK_REJECT && state.deferIfPermit.active) {
      const d = state.deferIfPermit;
      status = checkReject(state, d.errorClass, d.code, d.dsn, d.reason);
    }
    return status === CHECK_REJECT ? state.errorText : null;
  } finally {
    state.etrnName = saved;
  }
}

async function dataLike(state: SmtpdState, list: string[], replyName: string, replyClass: string): Promise<string | null> {
  const saved = state.recipient;
  if (state.rcptCount > 1) state.recipient = null;
  try {
    state.deferIfPermit.active = false;
    checkReset(state);
    let status = await runList(state, list, replyName, replyClass, null);
    if (status !== CHECK_REJECT && state.deferIfPermit.active) {
      const d = state.deferIfPermit;
      status = checkReject(state, d.errorClass, d.code, d.dsn, d.reason);
    }
    return status === CHECK_REJECT ? state.errorText : null;
  } finally {
    state.recipient = saved;
  }
}

export function smtpdCheckData(state: SmtpdState): Promise<string | null> {
  return dataLike(state, cc(state).data, 'DATA', NAME.DATA);
}

export function smtpdCheckEod(state: SmtpdState): Promise<string | null> {
  return dataLike(state, cc(state).eod, 'END-OF-MESSAGE', NAME.EOD);
}

/** smtpdCheckSize - MAIL FROM SIZE= against message_size_limit. */
export function smtpdCheckSize(state: SmtpdState, size: number): string | null {
  checkReset(state);
  const limit = state.config.int('message_size_limit');
  if (limit > 0 && size > limit) {
    checkReject(state, MAIL_ERROR.POLICY, 552, '5.3.4', 'Message size exceeds fixed limit');
    return state.errorText;
  }
  return null;
}

/** smtpdCheckRewrite - local or remote rewriting context (local_header_rewrite_clients). */
export async function smtpdCheckRewrite(state: SmtpdState): Promise<string | null> {
  for (const item of splitList(state.config.str('local_header_rewrite_clients'))) {
    let ok = false;
    const lower = item.toLowerCase();
    if (lower === 'permit_inet_interfaces') ok = permitInetInterfaces(state) === CHECK_OK;
    else if (lower === 'permit_mynetworks') ok = (await permitMynetworks(state)) === CHECK_OK;
    else if (lower === 'permit_sasl_authenticated') ok = saslUsername(state) !== null;
    else if (lower === 'permit_tls_clientcerts' || lower === 'permit_tls_all_clientcerts') {
      ok = (await permitTlsClientcerts(state, lower === 'permit_tls_all_clientcerts', null)) === CHECK_OK;
    } else if (item.includes(':')) {
      try {
        ok = (await openTable(item).lookup(state.addr)) !== undefined;
      } catch (e) {
        if (e instanceof TableError) {
          state.errorMask |= e.retry ? MAIL_ERROR.RESOURCE : MAIL_ERROR.SOFTWARE;
          const text = e.retry ? '451 4.3.0 Temporary lookup error' : '451 4.3.5 Server configuration error';
          logWhatsup(state, 'reject', text);
          return text;
        }
        throw e;
      }
    } else {
      msg.warn(`parameter local_header_rewrite_clients: invalid request: ${item}`);
      continue;
    }
    if (ok) {
      state.rewriteContext = 'local';
      return null;
    }
  }
  state.rewriteContext = 'remote';
  return null;
}

/** smtpdCheckAddr - the address resolves without error (used by MAIL/RCPT syntax checks). */
export async function smtpdCheckAddr(state: SmtpdState, sender: string | null, addr: string, smtputf8: boolean): Promise<boolean> {
  if (!addr) return true;
  const reply = await resolveAddr(state, sender, addr);
  if (reply.flags & RESOLVE.FLAG_ERROR) return false;
  if (!smtputf8) {
    const at = reply.recipient.lastIndexOf('@');
    if (at >= 0 && /[^\x00-\x7f]/.test(reply.recipient.slice(at + 1))) return false;
  }
  return true;
}

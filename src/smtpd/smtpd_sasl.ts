/**
 * smtpd_sasl - SASL authentication in the SMTP server (Postfix
 * smtpd/smtpd_sasl_glue.c and smtpd_sasl_proto.c): activation per session,
 * the EHLO AUTH keyword, the AUTH command dialogue, the MAIL FROM AUTH=
 * parameter, and what the rest of smtpd needs to know afterwards (login
 * name and mechanism for restrictions, the Received: header, the queue
 * file and the "client=" log line).
 *
 * Only smtpd_sasl_type = dovecot exists (src/xsasl/xsasl_dovecot.ts); the
 * connection to the auth server is made when a session first needs it (EHLO
 * or AUTH) and made again with the TLS security options after STARTTLS.
 */

import { isAbsolute, join } from 'node:path';
import { msg } from '../util/msg.js';
import { registerParams } from '../global/mail_params.js';
import type { ParamDef } from '../global/param_types.js';
import { XSASL, XsaslDovecotServer, XsaslError } from '../xsasl/xsasl_dovecot.js';
import { anvilClient } from './smtpd_anvil.js';
import { LostConnection, readWithFlush, smtpdChatReply } from './smtpd_chat.js';
import { NamadrList } from './smtpd_resolve.js';
import { openTable } from './smtpd_tables.js';
import type { SmtpdToken } from './smtpd_token.js';
import { MAIL_ERROR, inMailTransaction, type SmtpdState } from './smtpd_state.js';

const s = (name: string, def: string): ParamDef => ({ name, type: 'str', def });
const b = (name: string, def: boolean): ParamDef => ({ name, type: 'bool', def: def ? 'yes' : 'no' });

registerParams([
  b('smtpd_sasl_auth_enable', false),
  s('smtpd_sasl_type', 'cyrus'),
  s('smtpd_sasl_path', 'smtpd'),
  s('smtpd_sasl_service', 'smtp'),
  s('smtpd_sasl_security_options', 'noanonymous'),
  s('smtpd_sasl_tls_security_options', '$smtpd_sasl_security_options'),
  b('smtpd_sasl_authenticated_header', false),
  s('smtpd_sender_login_maps', ''),
  b('broken_sasl_auth_clients', false),
  b('smtpd_tls_auth_only', false),
]);

/** EHLO_MASK_AUTH (global/ehlo_mask.h) */
const EHLO_MASK_AUTH = 1 << 5;

interface SaslSession {
  server: XsaslDovecotServer | null;
  /** the TLS state the server connection was made for */
  serverTls: boolean;
  /** the auth server could not be used in this session */
  broken: boolean;
  method: string | null;
  username: string | null;
}

const sessions = new WeakMap<SmtpdState, SaslSession>();

function session(state: SmtpdState): SaslSession {
  let s = sessions.get(state);
  if (!s) {
    s = { server: null, serverTls: false, broken: false, method: null, username: null };
    sessions.set(state, s);
  }
  return s;
}

/** saslUsername - the login name after a successful AUTH, else null. */
export function saslUsername(state: SmtpdState): string | null {
  return sessions.get(state)?.username ?? null;
}

/** saslMethod - the mechanism of the successful AUTH, else null. */
export function saslMethod(state: SmtpdState): string | null {
  return sessions.get(state)?.method ?? null;
}

/** saslPath - smtpd_sasl_path as a socket: relative names are under queue_directory (smtpd runs there). */
function saslPath(state: SmtpdState): string {
  const path = state.config.str('smtpd_sasl_path');
  if (/^(inet|unix):/.test(path) || isAbsolute(path)) return path;
  return join(state.config.str('queue_directory'), path);
}

/**
 * saslActive - smtpd_sasl_is_active(): SASL is on for this session, with an
 * auth server connection and at least one mechanism.
 */
export async function saslActive(state: SmtpdState): Promise<boolean> {
  const c = state.config;
  if (state.standAlone || !c.bool('smtpd_sasl_auth_enable')) return false;
  const tls = state.tls !== null;
  if (c.bool('smtpd_tls_auth_only') && !tls) return false;
  const s = session(state);
  if (s.server !== null && s.serverTls === tls) return true;
  if (s.server !== null) {
    // STARTTLS: a new auth server connection, and what was learned before TLS is forgotten
    s.server.close();
    s.server = null;
    s.broken = false;
    s.username = null;
    s.method = null;
  }
  if (s.broken) return false;
  const type = c.str('smtpd_sasl_type');
  if (type !== 'dovecot') msg.fatal(`unsupported SASL server implementation: ${type}`);
  try {
    s.server = await XsaslDovecotServer.create(saslPath(state), c.str('smtpd_sasl_path'), {
      service: c.str('smtpd_sasl_service'),
      serverAddr: state.destAddr,
      clientAddr: state.addr,
      tls,
      securityOptions: c.str(tls ? 'smtpd_sasl_tls_security_options' : 'smtpd_sasl_security_options'),
      timeoutMs: c.time('smtpd_timeout') * 1000,
    });
  } catch (e) {
    if (!(e instanceof XsaslError)) throw e;
    s.broken = true;
    // Postfix ends the process here ("fatal:"); we serve other clients, so the session goes on without AUTH
    msg.warn('no SASL authentication mechanisms');
    return false;
  }
  s.serverTls = tls;
  const kept: string[] = [];
  for (const mech of s.server.mechanisms) if (await mechFilterMatch(c.str('smtpd_sasl_mechanism_filter'), mech)) kept.push(mech);
  s.server.mechanisms = kept;
  if (s.server.mechanisms.length === 0) {
    s.server.close();
    s.server = null;
    s.broken = true;
    msg.warn('no SASL authentication mechanisms');
    return false;
  }
  return true;
}

/**
 * mechFilterMatch - smtpd_sasl_mechanism_filter: a string list with
 * "!" negation and lookup tables (the default "!external, static:rest"
 * hides EXTERNAL); a mechanism no item matches is hidden.
 */
async function mechFilterMatch(filter: string, mech: string): Promise<boolean> {
  const items = filter.split(/[\s,]+/).filter(Boolean);
  if (items.length === 0) return true;
  for (let item of items) {
    let negate = false;
    while (item.startsWith('!')) {
      negate = !negate;
      item = item.slice(1);
    }
    let hit: boolean;
    if (item.toLowerCase().startsWith('static:')) hit = true;
    else if (/^[a-z]+:/i.test(item)) hit = (await openTable(item).lookup(mech.toLowerCase()).catch(() => undefined)) !== undefined;
    else hit = item.toLowerCase() === mech.toLowerCase();
    if (hit) return !negate;
  }
  return false;
}

/** saslEhloWords - "AUTH mechs" (and "AUTH=mechs" with broken_sasl_auth_clients) for the EHLO reply. */
export async function saslEhloWords(state: SmtpdState, discardMask: number): Promise<string[]> {
  if (discardMask & EHLO_MASK_AUTH || !(await saslActive(state))) return [];
  // smtpd_sasl_exceptions_networks: AUTH is not offered to these clients (but still accepted)
  const exceptions = state.config.str('smtpd_sasl_exceptions_networks');
  if (exceptions && (await new NamadrList(exceptions, false).match(state.name, state.addr))) return [];
  const list = session(state).server!.mechList();
  const words = [`AUTH ${list}`];
  if (state.config.bool('broken_sasl_auth_clients')) words.push(`AUTH=${list}`);
  return words;
}

/** saslAuthCmd - the AUTH command (smtpd_sasl_auth_cmd + smtpd_sasl_authenticate). */
export async function saslAuthCmd(state: SmtpdState, argv: SmtpdToken[]): Promise<number> {
  if (state.standAlone || state.ehloDiscardMask & EHLO_MASK_AUTH || !(await saslActive(state))) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    await smtpdChatReply(state, '503 5.5.1 Error: authentication not enabled');
    return -1;
  }
  const c = state.config;
  const limit = c.int('smtpd_client_auth_rate_limit');
  if (!state.xclientAllowed && limit > 0 && !(await new NamadrList(c.str('smtpd_client_event_limit_exceptions'), false).match(state.name, state.addr))) {
    const rate = await anvilClient(c).rate('auth', state.service, state.addr);
    if (rate !== null && rate > limit) {
      state.errorMask |= MAIL_ERROR.POLICY;
      msg.warn(`AUTH command rate limit exceeded: ${rate} from ${state.namaddr} for service ${state.service}`);
      await smtpdChatReply(state, `450 4.7.1 Error: too many AUTH commands from ${state.addr}`);
      return -1;
    }
  }
  if (inMailTransaction(state)) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    await smtpdChatReply(state, '503 5.5.1 Error: MAIL transaction in progress');
    return -1;
  }
  const s = session(state);
  if (s.username !== null) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    await smtpdChatReply(state, '503 5.5.1 Error: already authenticated');
    return -1;
  }
  if (argv.length < 2 || argv.length > 3) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    await smtpdChatReply(state, '501 5.5.4 Syntax: AUTH mechanism');
    return -1;
  }
  const server = s.server!;
  const mechanism = argv[1].strval;
  let init = argv.length === 3 ? argv[2].strval : null;
  if (init === '=') init = '';
  let r = await server.first(mechanism, init);
  while (r.status === XSASL.MORE) {
    await smtpdChatReply(state, `334 ${r.reply}`);
    const line = await readResponse(state, c.int('smtpd_sasl_response_limit'));
    if (line === null) {
      state.errorMask |= MAIL_ERROR.PROTOCOL;
      await smtpdChatReply(state, '500 5.5.6 SASL response limit exceeded');
      return -1;
    }
    if (line === '*') {
      msg.warn(`${state.namaddr}: SASL ${mechanism} authentication aborted`);
      state.errorMask |= MAIL_ERROR.PROTOCOL;
      await smtpdChatReply(state, '501 5.7.0 Authentication aborted');
      return -1;
    }
    r = await server.next(line);
  }
  if (r.status !== XSASL.DONE) {
    msg.warn(`${state.namaddr}: SASL ${mechanism} authentication failed: ${r.reply}, sasl_username=${server.username ?? '(unavailable)'}`);
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    if (r.status === XSASL.TEMP) await smtpdChatReply(state, `454 4.7.0 Temporary authentication failure: ${r.reply}`);
    else await smtpdChatReply(state, `535 5.7.8 Error: authentication failed: ${r.reply}`);
    return -1;
  }
  s.username = server.username;
  s.method = mechanism;
  await smtpdChatReply(state, '235 2.7.0 Authentication successful');
  return 0;
}

/**
 * readResponse - one client response to a challenge, up to
 * smtpd_sasl_response_limit bytes (not line_length_limit); null when it was
 * longer (the rest of the line is read and dropped).
 */
async function readResponse(state: SmtpdState, limit: number): Promise<string | null> {
  const max = limit + 2;
  const raw = await readWithFlush(state, () => state.client.readUntil(0x0a, max));
  if (raw === null) throw new LostConnection();
  if (raw[raw.length - 1] !== 0x0a) {
    if (raw.length < max) throw new LostConnection();
    for (;;) {
      const more = await readWithFlush(state, () => state.client.readUntil(0x0a, 65536));
      if (more === null) throw new LostConnection();
      if (more[more.length - 1] === 0x0a) return null;
    }
  }
  const line = raw.subarray(0, raw.length - 1).toString('latin1').replace(/\r+$/, '');
  msg.debug(1, `< ${state.namaddr}: ${line}`);
  return line.length > limit ? null : line;
}

/**
 * saslMailOpt - the MAIL FROM AUTH= parameter (smtpd_sasl_mail_opt), seen only with
 * smtpd_sasl_auth_enable = yes:
 * null when accepted, else the error reply.
 */
export async function saslMailOpt(state: SmtpdState, value: string): Promise<string | null> {
  // Postfix takes the value whenever smtpd_sasl_auth_enable is on, also before AUTH or with AUTH not offered
  if (state.saslSender) {
    state.errorMask |= MAIL_ERROR.PROTOCOL;
    return '503 5.5.4 Error: multiple AUTH= options';
  }
  if (value !== '<>') state.saslSender = value.replace(/[^\x20-\x7e\u0080-\uffff]/g, '?');
  return null;
}

/** saslLogSuffix - ", sasl_method=..., sasl_username=...[, sasl_sender=...]" for the client= line. */
export function saslLogSuffix(state: SmtpdState): string {
  const s = sessions.get(state);
  let out = '';
  if (s?.method) out += `, sasl_method=${s.method}`;
  if (s?.username) out += `, sasl_username=${s.username}`;
  if (state.saslSender) out += `, sasl_sender=${state.saslSender}`;
  return out;
}

/** saslAttrs - the sasl_* named attributes of the queue file. */
export function saslAttrs(state: SmtpdState): Array<[string, string]> {
  const s = sessions.get(state);
  const out: Array<[string, string]> = [];
  if (s?.method) out.push(['sasl_method', s.method]);
  if (s?.username) out.push(['sasl_username', s.username]);
  if (state.saslSender) out.push(['sasl_sender', state.saslSender]);
  return out;
}

/** saslAuthExtern - XCLIENT LOGIN=name: the session counts as logged in by "XCLIENT" (smtpd_sasl_auth_extern). */
export function saslAuthExtern(state: SmtpdState, username: string, method: string): void {
  if (!state.config.bool('smtpd_sasl_auth_enable')) return;
  const s = session(state);
  s.username = username;
  s.method = method;
}

/** saslAuthReset - forget the login (XCLIENT without LOGIN; smtpd_sasl_auth_reset). */
export function saslAuthReset(state: SmtpdState): void {
  const s = sessions.get(state);
  if (s) {
    s.username = null;
    s.method = null;
  }
}

/** saslDeactivate - end of session: drop the auth server connection. */
export function saslDeactivate(state: SmtpdState): void {
  const s = sessions.get(state);
  if (s?.server) {
    s.server.close();
    s.server = null;
  }
}

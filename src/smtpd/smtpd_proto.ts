/**
 * smtpd_proto - the SMTP session state machine (Postfix smtpd.c
 * smtpd_proto(), smtpd_flag_ill_pipelining(), smtpd_format_cmd_stats()).
 *
 * Greeting, then read-execute until QUIT, a hangup reply, the error limit,
 * a timeout or the client going away; then the session-end log lines.
 */

import { msg } from '../util/msg.js';
import { TimeoutError } from '../util/vstream.js';
import { isHeader } from './smtpd_addr.js';
import { flushReplies, LostConnection, smtpdChatQuery, smtpdChatReply, printable } from './smtpd_chat.js';
import { smtpdCheckClient, HangupRequest, logWhatsup } from './smtpd_check.js';
import { SMTPD_CMD_TABLE, ehloMask, RestartSession } from './smtpd_cmds.js';
import { openTable } from './smtpd_tables.js';
import { smtpdToken } from './smtpd_token.js';
import { BARE_LF, FLAG, MAIL_ERROR, WHERE, bareLfMaskOf, mailReset, rcptReset, type SmtpdState } from './smtpd_state.js';
import { splitList } from '../global/mail_conf.js';
import { namadrList } from './smtpd_resolve.js';
import { anvilClient } from './smtpd_anvil.js';
import { startTls, tlsContext, tlsLevel } from './smtpd_tls.js';

/** anvilWanted - any anvil limit is configured (smtpd.c creates the anvil client only then). */
function anvilWanted(state: SmtpdState): boolean {
  const c = state.config;
  return ['smtpd_client_connection_rate_limit', 'smtpd_client_connection_count_limit', 'smtpd_client_message_rate_limit', 'smtpd_client_recipient_rate_limit'].some((n) => c.int(n) > 0);
}

/** escape - C-style escaping of control characters for log lines (util/escape.c). */
function escape(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    if (ch === '\\') out += '\\\\';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\' + c.toString(8).padStart(3, '0');
    else out += ch;
  }
  return out;
}

/** flagIllPipelining - input is already waiting where the client should have waited for us. */
function flagIllPipelining(state: SmtpdState): boolean {
  const n = state.client.available;
  if (n > 0) {
    const peek = peekBytes(state, Math.min(n, 100));
    msg.info(`improper command pipelining after ${state.where} from ${state.namaddr}: ${escape(peek)}`);
    state.flags |= FLAG.ILL_PIPELINING;
    return true;
  }
  return false;
}

/** peekBytes - look at buffered input without consuming it. */
function peekBytes(state: SmtpdState, n: number): string {
  const chunks = (state.client as unknown as { chunks: Buffer[] }).chunks;
  if (!Array.isArray(chunks)) return '';
  return Buffer.concat(chunks).subarray(0, n).toString('latin1');
}

/** stringListMatch - smtpd_forbidden_commands / smtpd_noop_commands matching. */
async function stringListMatch(list: string[], word: string): Promise<boolean> {
  for (let item of list) {
    let negate = false;
    while (item.startsWith('!')) {
      negate = !negate;
      item = item.slice(1);
    }
    let hit: boolean;
    const inline = /^(regexp|pcre):\{(.*)\}$/is.exec(item);
    if (inline) {
      hit = inlineRegexpMatch(inline[2], word);
    } else if (/^[a-z]+:/i.test(item)) {
      try {
        hit = (await openTable(item).lookup(word)) !== undefined;
      } catch {
        hit = false;
      }
    } else hit = item.toLowerCase() === word.toLowerCase();
    if (hit) return !negate;
  }
  return false;
}

/**
 * inlineRegexpMatch - an inline regexp table "{/pattern/flags result}, ..."
 * (Postfix 3.7 regexp:{...}); Postfix regexps are case-insensitive unless
 * the "i" flag turns that off.
 */
function inlineRegexpMatch(body: string, word: string): boolean {
  for (const rule of splitList(body)) {
    const m = /^\{?\s*(!?)\/((?:[^/\\]|\\.)*)\/([imx]*)\s*(.*?)\s*\}?$/s.exec(rule);
    if (!m) continue;
    let re: RegExp;
    try {
      re = new RegExp(m[2], m[3].includes('i') ? '' : 'i');
    } catch {
      continue;
    }
    if (re.test(word) !== (m[1] === '!')) return true;
  }
  return false;
}

/** formatCmdStats - " helo=1 ehlo=0/1 ... commands=N[/M]" (smtpd_format_cmd_stats). */
export function formatCmdStats(state: SmtpdState): string {
  let out = '';
  let ok = 0;
  let total = 0;
  for (const c of state.counters) {
    if (c.total > 0) {
      out += ` ${c.name}=${c.success}`;
      if (c.success !== c.total) out += `/${c.total}`;
      ok += c.success;
      total += c.total;
    }
  }
  out += ` commands=${ok}`;
  if (ok !== total || total === 0) out += `/${total}`;
  return out;
}

export interface ProtoLimits {
  hardErrorLimit: number;
  junkLimit: number;
  timeoutMs: number;
  forbidUnauthPipelining: boolean;
  forbidden: string[];
  noop: string[];
  smtputf8: boolean;
  commandFilter: string[];
}

function protoLimits(state: SmtpdState): ProtoLimits {
  const c = state.config;
  return {
    hardErrorLimit: c.int('smtpd_hard_error_limit'),
    junkLimit: c.int('smtpd_junk_command_limit'),
    timeoutMs: c.time('smtpd_timeout') * 1000,
    forbidUnauthPipelining: c.bool('smtpd_forbid_unauth_pipelining'),
    forbidden: splitList(c.str('smtpd_forbidden_commands')),
    noop: splitList(c.str('smtpd_noop_commands')),
    smtputf8: c.bool('smtputf8_enable'),
    commandFilter: splitList(c.str('smtpd_command_filter')),
  };
}

/** smtpdProto - talk SMTP with one client. */
export async function smtpdProto(state: SmtpdState): Promise<void> {
  const limits = protoLimits(state);
  const c = state.config;
  state.client.timeout = limits.timeoutMs;
  const myhostname = c.str('myhostname');
  const unknownCounter = state.counters[state.counters.length - 1];
  const bareMask = bareLfMaskOf(c.str('smtpd_forbid_bare_newline'));
  if (bareMask < 0) msg.fatal(`invalid smtpd_forbid_bare_newline value: "${c.str('smtpd_forbid_bare_newline')}"`);
  state.bareLfMask =
    !state.standAlone && bareMask && !(await namadrList(c.str('smtpd_forbid_bare_newline_exclusions'), true).match(state.name, state.addr)) ? bareMask : 0;
  // who may use XCLIENT/XFORWARD is decided by the real client (XCLIENT re-decides its own)
  const xclientHosts = namadrList(c.str('smtpd_authorized_xclient_hosts'), false);
  const xforwardHosts = namadrList(c.str('smtpd_authorized_xforward_hosts'), false);
  state.xclientAllowed = !state.standAlone && (await xclientHosts.match(state.name, state.addr));
  state.xforwardAllowed = !state.standAlone && (await xforwardHosts.match(state.name, state.addr));
  // smtps (port 465): TLS starts at connect, before the greeting (smtpd_tls_wrappermode).
  if (!state.standAlone && c.bool('smtpd_tls_wrappermode')) {
    const ctx = tlsContext(c);
    if (ctx === null) {
      msg.warn(`Wrapper-mode request dropped from ${state.namaddr} for service ${state.service}. TLS context initialization failed. For details see earlier warnings in your logs.`);
      return;
    }
    try {
      state.tls = await startTls(state, ctx, true);
    } catch (e) {
      msg.debug(1, `TLS handshake failed: ${(e as Error).message}`);
      msg.info(`lost connection after CONNECT from ${state.namaddr}`);
      return;
    }
  }
  for (;;) {
  try {
    if (!state.standAlone && !(state.flags & FLAG.ILL_PIPELINING) && flagIllPipelining(state) && limits.forbidUnauthPipelining) {
      await smtpdChatReply(state, '554 5.5.0 Error: SMTP protocol synchronization');
      throw new QuietEnd();
    }
    if (!state.standAlone && !state.xclientAllowed && anvilWanted(state)) {
      const hoggers = namadrList(c.str('smtpd_client_event_limit_exceptions'), splitList(c.str('parent_domain_matches_subdomains')).includes('smtpd_client_event_limit_exceptions'));
      if (!(await hoggers.match(state.name, state.addr))) {
        const r = await anvilClient(c).connect(state.service, state.addr);
        if (r !== null) {
          state.anvilConnected = true;
          const countLimit = c.int('smtpd_client_connection_count_limit');
          const rateLimit = c.int('smtpd_client_connection_rate_limit');
          if (countLimit > 0 && r.count > countLimit) {
            state.errorMask |= MAIL_ERROR.POLICY;
            msg.warn(`Connection concurrency limit exceeded: ${r.count} from ${state.namaddr} for service ${state.service}`);
            await smtpdChatReply(state, `421 4.7.0 ${myhostname} Error: too many connections from ${state.addr}`);
            throw new QuietEnd();
          }
          if (rateLimit > 0 && r.rate > rateLimit) {
            msg.warn(`Connection rate limit exceeded: ${r.rate} from ${state.namaddr} for service ${state.service}`);
            await smtpdChatReply(state, `421 4.7.0 ${myhostname} Error: too many connections from ${state.addr}`);
            throw new QuietEnd();
          }
        }
      }
    }
    let words = c.str('smtpd_discard_ehlo_keywords');
    const ehloMaps = c.str('smtpd_discard_ehlo_keyword_address_maps');
    if (ehloMaps) {
      for (const spec of splitList(ehloMaps)) {
        const v = await openTable(spec).lookup(state.addr).catch(() => undefined);
        if (v !== undefined) {
          words = v;
          break;
        }
      }
    }
    state.ehloDiscardMask = ehloMask(words);
    let err: string | null = null;
    if (!state.standAlone && !c.bool('smtpd_delay_reject') && (err = await smtpdCheckClient(state)) !== null) {
      state.errorMask |= MAIL_ERROR.POLICY;
      state.accessDenied = err;
      await smtpdChatReply(state, err);
      state.errorCount++;
    } else {
      await smtpdChatReply(state, `220 ${c.str('smtpd_banner')}`);
    }
    for (;;) {
      if (state.flags & FLAG.HANGUP) break;
      if (state.errorCount >= limits.hardErrorLimit) {
        state.reason = 'too many errors';
        state.errorMask |= MAIL_ERROR.PROTOCOL;
        await smtpdChatReply(state, `421 4.7.0 ${myhostname} Error: too many errors`);
        break;
      }
      const q = await smtpdChatQuery(state);
      if (state.gotBareLf && state.bareLfMask & BARE_LF.REPLY_REJECT) {
        logWhatsup(state, 'reject', 'bare <LF> received');
        state.errorMask |= MAIL_ERROR.PROTOCOL;
        await smtpdChatReply(state, `${c.int('smtpd_forbid_bare_newline_reject_code')} 5.5.2 ${myhostname} Error: bare <LF> received`);
        break;
      }
      if (limits.smtputf8 && q.badUtf8) {
        state.errorMask |= MAIL_ERROR.PROTOCOL;
        await smtpdChatReply(state, '500 5.5.2 Error: bad UTF-8 syntax');
        state.errorCount++;
        continue;
      }
      let line = q.line;
      if (limits.commandFilter.length) {
        const key = line.replace(/^[ \t]+/, '');
        for (const spec of limits.commandFilter) {
          let v: string | undefined;
          try {
            v = await openTable(spec).lookup(key);
          } catch (e) {
            msg.warn(`${spec} lookup error for "${printable(line).slice(0, 100)}"`);
            throw new DataError();
          }
          if (v !== undefined) {
            msg.info(`${state.namaddr}: replacing command "${line.slice(0, 100)}" with "${v.slice(0, 100)}"`);
            line = v;
            break;
          }
        }
      }
      const argv = smtpdToken(line);
      if (argv.length === 0) {
        state.errorMask |= MAIL_ERROR.PROTOCOL;
        await smtpdChatReply(state, '500 5.5.2 Error: bad syntax');
        state.errorCount++;
        continue;
      }
      if (limits.noop.length && (await stringListMatch(limits.noop, argv[0].strval))) {
        await smtpdChatReply(state, '250 2.0.0 Ok');
        if (state.junkCmds++ > limits.junkLimit) state.errorCount++;
        continue;
      }
      const index = SMTPD_CMD_TABLE.findIndex((cmd) => cmd.name === argv[0].strval.toUpperCase());
      const cmd = index >= 0 ? SMTPD_CMD_TABLE[index] : null;
      const counter = index >= 0 ? state.counters[index] : unknownCounter;
      counter.total++;
      if (cmd === null) {
        state.where = WHERE.UNKNOWN;
        if (isHeader(argv[0].strval) || (limits.forbidden.length && (await stringListMatch(limits.forbidden, argv[0].strval)))) {
          msg.warn(`non-SMTP command from ${state.namaddr}: ${escape(line).slice(0, 100)}`);
          await smtpdChatReply(state, '221 2.7.0 Error: I can break rules, too. Goodbye.');
          break;
        }
      }
      if (state.accessDenied !== null && cmd?.name !== 'QUIT') {
        if (state.accessDenied.slice(1, 3) === '21') {
          await smtpdChatReply(state, state.accessDenied);
          continue;
        }
        await smtpdChatReply(state, `503 5.7.0 Error: access denied for ${state.namaddr}`);
        state.errorCount++;
        continue;
      }
      if (cmd === null) {
        await smtpdChatReply(state, '500 5.5.2 Error: command not recognized');
        state.errorMask |= MAIL_ERROR.PROTOCOL;
        state.errorCount++;
        continue;
      }
      if (state.tls === null && !cmd.preTls && !state.standAlone && tlsLevel(c) === 'encrypt') {
        await smtpdChatReply(state, '530 5.7.0 Must issue a STARTTLS command first');
        state.errorCount++;
        continue;
      }
      state.where = cmd.name;
      if (
        !state.standAlone &&
        (state.protocol !== 'ESMTP' || cmd.last) &&
        !(state.flags & FLAG.ILL_PIPELINING) &&
        flagIllPipelining(state) &&
        limits.forbidUnauthPipelining
      ) {
        await smtpdChatReply(state, '554 5.5.0 Error: SMTP protocol synchronization');
        break;
      }
      if ((await cmd.action(state, argv)) !== 0) state.errorCount++;
      else counter.success++;
      if (cmd.limit && state.junkCmds++ > limits.junkLimit) state.errorCount++;
      if (cmd.name === 'QUIT') break;
    }
  } catch (e) {
    if (e instanceof TimeoutError) {
      state.reason = 'timeout';
      await smtpdChatReply(state, `421 4.4.2 ${myhostname} Error: timeout exceeded`).catch(() => undefined);
    } else if (e instanceof LostConnection || isSocketError(e)) {
      state.reason = 'lost connection';
    } else if (e instanceof DataError) {
      msg.info(`${state.queueId ?? 'NOQUEUE'}: reject: ${state.where} from ${state.namaddr}: 421 4.3.0 ${myhostname} Server local data error`);
      state.errorMask |= MAIL_ERROR.DATA;
      await smtpdChatReply(state, `421 4.3.0 ${myhostname} Server local data error`).catch(() => undefined);
    } else if (e instanceof QuietEnd || e instanceof HangupRequest) {
      // no reply
    } else if (e instanceof RestartSession) {
      continue;
    } else {
      throw e;
    }
  } finally {
    flushReplies(state);
  }
  break;
  }
  if (state.anvilConnected) {
    state.anvilConnected = false;
    await anvilClient(c).disconnect(state.service, state.addr);
  }
  if (state.reason && state.where) {
    if (state.where === WHERE.AFTER_DATA) {
      msg.info(`${state.reason} after DATA (${state.actSize + state.client.available} bytes) from ${state.namaddr}`);
    } else if (state.where === WHERE.AFTER_BDAT) {
      msg.info(`${state.reason} after BDAT (${state.actSize + state.bdatPending.length} bytes) from ${state.namaddr}`);
    } else if (state.where !== WHERE.AFTER_EOM || state.reason !== 'lost connection') {
      msg.info(`${state.reason} after ${state.where} from ${state.namaddr}`);
    }
  }
  mailReset(state);
  rcptReset(state);
}

/** A table needed to go on failed (SMTP_ERR_DATA): 421 and hang up. */
class DataError extends Error {}

/** The session ends without another reply (SMTP_ERR_QUIET). */
class QuietEnd extends Error {}

function isSocketError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && /^(ECONNRESET|EPIPE|ECONNABORTED|ERR_STREAM_DESTROYED|ERR_STREAM_WRITE_AFTER_END)$/.test(code);
}

export { printable };

/**
 * postqueue - Postfix queue control (Postfix postqueue(1)).
 *
 * postqueue [-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site
 *
 * -p lists the queue in mailq format and -j as JSON lines, both from the
 * showq service (public/showq). When that service is down, the superuser
 * still gets a listing read directly from the queue (with Postfix's
 * warning); other users get Postfix's fatal error. -f wakes the queue
 * manager (public/qmgr, "FADI": forget dead destinations, ignore retry
 * times, scan deferred and incoming) and pickup (public/pickup, "W"); -s and
 * -i ask the flush service (public/flush, queue_flush_protocol). Every fatal
 * error exits with status 69 (EX_UNAVAILABLE), as Postfix's postqueue does.
 *
 * This program takes input from unprivileged users: options are validated
 * before use and it never touches queue files itself, except for root's
 * read-only listing.
 */

import { msg, msgAddOutput, msgCleanup, setMsgVerbose } from '../util/msg.js';
import { MailConfig } from '../global/mail_conf.js';
import { strerror } from '../util/msg_logwriter.js';
import { mailConnect, mailTrigger } from '../global/mail_connect.js';
import { readAttrs, sendAttrs, attrExpectProtocol } from '../util/attr.js';
import { mailQueueIdOk, longQueueIds } from '../global/mail_queue.js';
import { Getopt } from '../util/getopt.js';
import { writeAll } from '../postcat/postcat.js';
import { MAIL_ATTR_PROTO_SHOWQ, showqScan, smtputf8Enabled, type ShowqMessage } from '../showq/showq.js';
import { MailqFormatter, jsonMessage, readShowqMessage, ShowqProtocolError } from './showq_format.js';
import { getpwnam } from '../util/mypwd.js';

export const EX_UNAVAILABLE = 69;
export const EX_USAGE = 64;
export const EX_SOFTWARE = 70;
export const EX_NOPERM = 77;

export const PQ_MODE_MAILQ_LIST = 1;
export const PQ_MODE_JSON_LIST = 5;

/** Flush service request status (flush_clnt.h). */
export const FLUSH_STAT = { FAIL: -1, OK: 0, BAD: 3, DENY: 4 } as const;
export const MAIL_ATTR_PROTO_FLUSH = 'queue_flush_protocol';

/** QMGR trigger requests (qmgr.h) and the pickup wakeup. */
export const QMGR_FLUSH_ALL = 'FADI';
export const TRIGGER_REQ_WAKEUP = 'W';

/** ListingSink - where listing text goes; returns false when the reader went away (EPIPE). */
export type ListingSink = (text: string) => boolean;

/** Listing - formats ShowqMessages for one mode and writes them to a sink. */
export class Listing {
  private readonly mailq: MailqFormatter;
  private closed = false;
  constructor(
    private readonly mode: number,
    private readonly sink: ListingSink,
    longIds: boolean,
    private readonly utf8: boolean,
  ) {
    this.mailq = new MailqFormatter(longIds);
  }
  add(m: ShowqMessage): void {
    if (this.closed) return;
    const text = this.mode === PQ_MODE_JSON_LIST ? jsonMessage(m, this.utf8) : this.mailq.message(m);
    if (!this.sink(text)) this.closed = true;
  }
  finish(): void {
    if (this.closed || this.mode === PQ_MODE_JSON_LIST) return;
    this.sink(this.mailq.finish());
  }
}

/**
 * mailqListing - the whole listing read directly from the queue directory
 * (what showq would send). For sendmail -bp/mailq callers that are root or
 * that want the text without a running mail system.
 */
export async function mailqListing(config: MailConfig, mode: number = PQ_MODE_MAILQ_LIST): Promise<string> {
  let text = '';
  const listing = new Listing(mode, (t) => ((text += t), true), longQueueIds(config), smtputf8Enabled(config));
  await showqScan(config, (m) => listing.add(m));
  listing.finish();
  return text;
}

/** stdoutSink - write to fd 1; false after EPIPE (postqueue ignores SIGPIPE and stops quietly). */
function stdoutSink(text: string): boolean {
  try {
    writeAll(1, Buffer.from(text, 'utf8'));
    return true;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EPIPE') return false;
    return msg.fatal(`output write error: ${strerror(err)}`);
  }
}

/** ownerUid - the uid of mail_owner (var_owner_uid), or -1. */
function ownerUid(config: MailConfig): number {
  return getpwnam(config.str('mail_owner'))?.uid ?? -1;
}

/** userAclCheck - undefined when this uid may use the feature, else the login name (check_user_acl_byuid()). */
async function userAclCheck(config: MailConfig, param: string, uid: number): Promise<string | undefined> {
  if (uid === 0 || uid === ownerUid(config)) return undefined;
  const { checkUserAcl } = await import('../postdrop/submit_common.js');
  return checkUserAcl(config, param, uid) ?? undefined;
}

/** While true, diagnostics are not copied to stderr (the in-process showq of the root fallback). */
export const stderrQuiet = { value: false };

/** showQueue - postqueue -p / -j (show_queue()). */
export async function showQueue(config: MailConfig, mode: number, sink: ListingSink = stdoutSink): Promise<void> {
  const uid = process.getuid ? process.getuid() : 0;
  const denied = await userAclCheck(config, 'authorized_mailq_users', uid);
  if (denied !== undefined) msg.fatal(`User ${denied}(${uid}) is not allowed to view the mail queue`, EX_NOPERM);
  const mailName = config.str('mail_name');
  const service = config.str('showq_service_name') || 'showq';
  const utf8 = smtputf8Enabled(config);
  const listing = new Listing(mode, sink, longQueueIds(config), utf8);
  let stream;
  try {
    stream = await mailConnect(config, 'public', service);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = `Connect to the ${mailName} ${service} service: ${strerror(err)}`;
    if (err.code === 'EACCES' || err.code === 'EPERM') msg.fatal(why, EX_SOFTWARE);
    const euid = process.geteuid ? process.geteuid() : 0;
    if (euid === 0) {
      msg.warn(`Mail system is down -- accessing queue directly (${why})`);
      // Postfix runs showq as a child here; its diagnostics go to the mail log, not to our stderr.
      stderrQuiet.value = true;
      try {
        await showqScan(config, (m) => listing.add(m));
      } finally {
        stderrQuiet.value = false;
      }
      listing.finish();
      return;
    }
    return msg.fatal(`Queue report unavailable - mail system is down (${why})`, EX_UNAVAILABLE);
  }
  try {
    await attrExpectProtocol(stream, MAIL_ATTR_PROTO_SHOWQ);
    for (;;) {
      const m = await readShowqMessage(stream, utf8);
      if (m === null) break;
      listing.add(m);
    }
    listing.finish();
  } catch (e) {
    if (e instanceof ShowqProtocolError || (e as Error).name === 'AttrError') msg.fatal('malformed showq server response', EX_SOFTWARE);
    msg.fatal(`malformed showq server response`, EX_SOFTWARE);
  } finally {
    stream.close();
  }
}

/** mailCommandClient - one request to a public service, one status reply (mail_command_client()); -1 on failure. */
export async function mailCommandClient(config: MailConfig, service: string, proto: string, attrs: Array<[string, string]>): Promise<number> {
  let stream;
  try {
    stream = await mailConnect(config, 'public', service);
  } catch (e) {
    msg.warn(`connect to public/${service}: ${strerror(e as NodeJS.ErrnoException)}`);
    return -1;
  }
  try {
    try {
      await attrExpectProtocol(stream, proto);
    } catch (e) {
      msg.warn(`read public/${service}: ${(e as Error).message}`);
      return -1;
    }
    sendAttrs(stream, attrs);
    const reply = await readAttrs(stream);
    const status = reply?.get('status');
    if (status === undefined || !/^-?\d+$/.test(status)) {
      msg.warn(`write/read public/${service}: premature end-of-input`);
      return -1;
    }
    return Number(status);
  } catch (e) {
    msg.warn(`write/read public/${service}: ${(e as Error).message}`);
    return -1;
  } finally {
    stream.close();
  }
}

/** validHostname - Postfix valid_hostname() without diagnostics. */
export function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const labels = name.endsWith('.') ? name.slice(0, -1).split('.') : name.split('.');
  let nonNumeric = false;
  for (const label of labels) {
    if (label.length === 0 || label.length > 63) return false;
    if (!/^[A-Za-z0-9_-]+$/.test(label) || label.startsWith('-') || label.endsWith('-')) return false;
    if (!/^\d+$/.test(label)) nonNumeric = true;
  }
  return nonNumeric;
}

/** validMailhostLiteral - "[ipv4]" or "[ipv6:addr]" (valid_mailhost_literal()). */
export function validMailhostLiteral(text: string): boolean {
  const m = /^\[(.*)\]$/.exec(text);
  if (!m) return false;
  const inner = m[1];
  if (/^ipv6:/i.test(inner)) return /^[0-9A-Fa-f:.]+$/.test(inner.slice(5)) && inner.includes(':', 5);
  const parts = inner.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** fastFlushEligible - does fast_flush_domains match the site? undefined when the list could not be evaluated. */
async function fastFlushEligible(config: MailConfig, site: string): Promise<boolean | undefined> {
  try {
    const { MatchList } = await import('../trivial-rewrite/match_list.js');
    const parent = config.list('parent_domain_matches_subdomains').includes('fast_flush_domains');
    const list = await MatchList.create('fast_flush_domains', config.str('fast_flush_domains'), true, parent);
    return await list.match(site.toLowerCase());
  } catch (e) {
    msg.warn(`fast_flush_domains: ${(e as Error).message}`);
    return undefined;
  }
}

async function flushAclCheck(config: MailConfig): Promise<void> {
  const uid = process.getuid ? process.getuid() : 0;
  const denied = await userAclCheck(config, 'authorized_flush_users', uid);
  if (denied !== undefined) msg.fatal(`User ${denied}(${uid}) is not allowed to flush the mail queue`, EX_NOPERM);
}

/** flushQueue - postqueue -f: wake qmgr ("FADI") and pickup ("W"). */
export async function flushQueue(config: MailConfig): Promise<void> {
  await flushAclCheck(config);
  const qmgr = config.str('queue_service_name') || 'qmgr';
  const pickup = config.str('pickup_service_name') || 'pickup';
  try {
    await mailTrigger(config, 'public', qmgr, QMGR_FLUSH_ALL);
  } catch {
    msg.fatal('Cannot flush mail queue - mail system is down', EX_UNAVAILABLE);
  }
  try {
    await mailTrigger(config, 'public', pickup, TRIGGER_REQ_WAKEUP);
  } catch {
    msg.fatal('Cannot flush mail queue - mail system is down', EX_UNAVAILABLE);
  }
}

/** flushSite - postqueue -s site. */
export async function flushSite(config: MailConfig, site: string): Promise<void> {
  await flushAclCheck(config);
  const service = config.str('flush_service_name') || 'flush';
  const eligible = await fastFlushEligible(config, site);
  let status: number;
  if (eligible === true) {
    status = await mailCommandClient(config, service, MAIL_ATTR_PROTO_FLUSH, [
      ['request', 'send_site'],
      ['site', site],
    ]);
  } else {
    status = eligible === false ? FLUSH_STAT.DENY : FLUSH_STAT.FAIL;
  }
  switch (status) {
    case FLUSH_STAT.OK:
      return;
    case FLUSH_STAT.BAD:
      msg.fatal(`Invalid request: "${site}"`, EX_USAGE);
      break;
    case FLUSH_STAT.FAIL:
      msg.fatal('Cannot flush mail queue - mail system is down', EX_UNAVAILABLE);
      break;
    case FLUSH_STAT.DENY:
      msg.fatal(`Flush service is not configured for destination "${site}"`, EX_UNAVAILABLE);
      break;
    default:
      msg.fatal(`Unknown flush server reply status ${status}`, EX_SOFTWARE);
  }
}

/** flushFile - postqueue -i queue_id. */
export async function flushFile(config: MailConfig, queueId: string): Promise<void> {
  await flushAclCheck(config);
  const service = config.str('flush_service_name') || 'flush';
  const status = await mailCommandClient(config, service, MAIL_ATTR_PROTO_FLUSH, [
    ['request', 'send_file'],
    ['queue_id', queueId],
  ]);
  switch (status) {
    case FLUSH_STAT.OK:
      return;
    case FLUSH_STAT.BAD:
      msg.fatal(`Invalid request: "${queueId}"`, EX_USAGE);
      break;
    case FLUSH_STAT.FAIL:
      msg.fatal('Cannot flush mail queue - mail system is down', EX_UNAVAILABLE);
      break;
    default:
      msg.fatal(`Unexpected flush server reply status ${status}`, EX_SOFTWARE);
  }
}

/** initMaillog - log through the maillog client when it exists (postlogd / syslog), as Postfix's postqueue does. */
export async function initMaillog(config: MailConfig, processName: string): Promise<void> {
  try {
    const mod = '../global/maillog_client.js';
    const m = (await import(mod)) as { maillogClientInit?: (config: MailConfig, name: string) => unknown };
    if (typeof m.maillogClientInit === 'function') await m.maillogClientInit(config, processName);
  } catch {
    // No maillog client in this build: stderr only.
  }
}

const USAGE = 'usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site';

/** main - postqueue command line. */
export async function main(argv: string[]): Promise<void> {
  const progname = 'postqueue'; // censored: the user chooses argv[0]
  process.umask(0o022);
  msgAddOutput((_sev, text) => {
    if (stderrQuiet.value) return;
    process.stderr.write(`${progname}: ${text}\n`);
  });
  // Every fatal error exits with EX_UNAVAILABLE (postqueue's msg_cleanup hook).
  msgCleanup(() => process.exit(EX_UNAVAILABLE));
  const PQ_MODE_DEFAULT = 0;
  const PQ_MODE_FLUSH_QUEUE = 2;
  const PQ_MODE_FLUSH_SITE = 3;
  const PQ_MODE_FLUSH_FILE = 4;
  let mode = PQ_MODE_DEFAULT;
  let site: string | undefined;
  let idToFlush: string | undefined;
  let verbose = 0;
  const usage = (): never => msg.fatal(USAGE, EX_USAGE);
  const g = new Getopt(argv, 'c:fi:jps:v', progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    switch (c) {
      case 'c':
        process.env.MAIL_CONFIG = g.optarg;
        break;
      case 'f':
        if (mode !== PQ_MODE_DEFAULT) usage();
        mode = PQ_MODE_FLUSH_QUEUE;
        break;
      case 'i':
        if (mode !== PQ_MODE_DEFAULT) usage();
        mode = PQ_MODE_FLUSH_FILE;
        idToFlush = g.optarg;
        break;
      case 'j':
        if (mode !== PQ_MODE_DEFAULT) usage();
        mode = PQ_MODE_JSON_LIST;
        break;
      case 'p':
        if (mode !== PQ_MODE_DEFAULT) usage();
        mode = PQ_MODE_MAILQ_LIST;
        break;
      case 's':
        if (mode !== PQ_MODE_DEFAULT) usage();
        mode = PQ_MODE_FLUSH_SITE;
        site = g.optarg;
        break;
      case 'v':
        if ((process.geteuid ? process.geteuid() : 0) === 0) verbose++;
        break;
      default:
        usage();
    }
  }
  if (argv.length > g.optind) usage();
  setMsgVerbose(verbose);
  const config = MailConfig.load();
  config.setRuntime('process_name', progname);
  await initMaillog(config, progname);
  try {
    process.chdir(config.str('queue_directory'));
  } catch (e) {
    msg.fatal(`chdir ${config.str('queue_directory')}: ${strerror(e as NodeJS.ErrnoException)}`, EX_UNAVAILABLE);
  }
  const shorten = (s: string) => `${s.slice(0, 100)}${s.length > 100 ? '...' : ''}`;
  if (site !== undefined) {
    const bad = site.startsWith('[') ? !validMailhostLiteral(site) : !validHostname(site);
    if (bad) msg.fatal(`Cannot flush mail queue - invalid destination: "${shorten(site)}"`, EX_USAGE);
  }
  if (idToFlush !== undefined && !mailQueueIdOk(idToFlush)) {
    msg.fatal(`Cannot flush queue ID - invalid name: "${shorten(idToFlush)}"`, EX_USAGE);
  }
  switch (mode) {
    case PQ_MODE_MAILQ_LIST:
    case PQ_MODE_JSON_LIST:
      await showQueue(config, mode);
      break;
    case PQ_MODE_FLUSH_SITE:
      await flushSite(config, site!);
      break;
    case PQ_MODE_FLUSH_FILE:
      await flushFile(config, idToFlush!);
      break;
    case PQ_MODE_FLUSH_QUEUE:
      await flushQueue(config);
      break;
    default:
      usage();
  }
  process.exit(0);
}

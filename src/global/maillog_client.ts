/**
 * maillog_client - choose where a program's msg(3) records go (Postfix
 * global/maillog_client.c, mail_task.c, util/msg_vstream.c).
 *
 * - maillog_file set: records go as datagrams to the postlogd service at
 *   $queue_directory/public/$postlog_service_name; when that socket is not
 *   there (master not running), they are appended to maillog_file directly
 *   (synchronously by commands, as Postfix's logwriter fallback; in the
 *   background by daemons). maillog_file must start with one of
 *   maillog_file_prefixes, or the program dies with Postfix's fatal text.
 * - maillog_file empty: records go to syslog through /dev/log when it exists.
 * - optionally stderr, "progname: text" (commands, daemons under start-fg).
 *
 * The tag is $syslog_name/<process name>, e.g. postfix/smtpd, or
 * postfix/submission/smtpd with `-o syslog_name=postfix/submission`.
 * Like Postfix, the postlog socket path and host name are exported in
 * POSTLOG_SERVICE and POSTLOG_HOSTNAME so that a child process can log the
 * same way before it has read main.cf.
 *
 * Logging never stalls the caller (see util/msg_logger.ts); whatever is
 * still queued is written synchronously on exit, fatal and panic.
 */

import { basename, join } from 'node:path';
import { msg, msgAddOutput, msgCleanup, type MsgOutput } from '../util/msg.js';
import { MsgLogger, printable } from '../util/msg_logger.js';
import { createSyslogLogger, syslogAvailable, syslogFacility, SYSLOG_PATH } from '../util/msg_syslog.js';
import { splitList, type MailConfig } from './mail_conf.js';

export const POSTLOG_SERVICE_ENV = 'POSTLOG_SERVICE';
export const POSTLOG_HOSTNAME_ENV = 'POSTLOG_HOSTNAME';
/** Set by master for its children (master/master_proto.ts). */
const MASTER_CHILD_ENV = 'POSTFIX_MASTER_CHILD';

export interface MaillogClientOptions {
  /** also log to stderr: true = under the process name, a string = under that name */
  stderr?: boolean | string;
  /** the complete tag instead of $syslog_name/<process> (postlog -t) */
  tag?: string;
  /** a daemon (background fallback, never fatal); default: running under master */
  daemon?: boolean;
  /** postlogd: write our own records here instead of to the socket */
  sink?: (record: string) => void;
  /** tests: clock, pid, syslog socket path */
  now?: () => Date;
  pid?: number;
  syslogPath?: string;
}

export interface MaillogClient {
  /** the log tag, e.g. postfix/smtpd */
  readonly tag: string;
  /** where records go */
  readonly mode: 'postlog' | 'syslog';
  /** resolves when queued records are sent or written */
  flush(): Promise<void>;
  /** the way out: send or write what is queued, synchronously */
  flushSync(): void;
}

/** mailTask - the log tag for a program: $syslog_name/<basename>; before main.cf, MAIL_LOGTAG or "postfix". */
export function mailTask(config: MailConfig | undefined, processName: string): string {
  const name = basename(processName) || processName;
  const prefix = config ? config.str('syslog_name') : process.env.MAIL_LOGTAG || 'postfix';
  return `${prefix}/${name}`;
}

/** checkMaillogPrefix - maillog_file must start with one of maillog_file_prefixes (fatal otherwise). */
export function checkMaillogPrefix(config: MailConfig): void {
  const file = config.str('maillog_file');
  if (!file) return;
  const prefixes = splitList(config.str('maillog_file_prefixes'), ', \t\r\n');
  if (!prefixes.some((p) => file.startsWith(p))) {
    msg.fatal(`maillog_file value '${file}' does not match any prefix in maillog_file_prefixes`);
  }
}

/** postlogServicePath - $queue_directory/public/$postlog_service_name */
export function postlogServicePath(config: MailConfig): string {
  return join(config.str('queue_directory'), 'public', config.str('postlog_service_name'));
}

/** stderrOutput - Postfix msg_vstream: "progname: text" on stderr. */
export function stderrOutput(name: string): MsgOutput {
  return (_severity, text) => {
    process.stderr.write(`${name}: ${printable(text)}\n`);
  };
}

/* The current configuration: its msg outputs and loggers. */
let removeOutputs: Array<() => void> = [];
let loggers: MsgLogger[] = [];
let hooksInstalled = false;

function flushAllSync(): void {
  for (const l of loggers) {
    try {
      l.flushSync();
    } catch {
      // best effort on the way out
    }
  }
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', flushAllSync);
  // msg.fatal and msg.panic run the cleanup hooks (once) before exit/abort.
  msgCleanup(flushAllSync);
}

/**
 * maillogClientInit - (re)configure logging for this process. May be called
 * again (after main.cf was read, with a new tag): the previous set-up is
 * flushed and replaced. With config undefined (before main.cf is read) the
 * POSTLOG_SERVICE and POSTLOG_HOSTNAME environment decide, as in Postfix.
 */
export function maillogClientInit(
  config: MailConfig | undefined,
  processName: string,
  opts: MaillogClientOptions = {},
): MaillogClient {
  const tag = opts.tag ?? mailTask(config, processName);
  const daemon = opts.daemon ?? !!process.env[MASTER_CHILD_ENV];
  const envService = process.env[POSTLOG_SERVICE_ENV] || undefined;
  const envHost = process.env[POSTLOG_HOSTNAME_ENV] || undefined;
  const maillogFile = config ? config.str('maillog_file') : '';
  const postlogMode = config ? maillogFile !== '' : envService !== undefined;

  // Validate before anything is replaced, so the fatal text reaches the old outputs.
  let facility = 2;
  if (postlogMode) {
    if (config) checkMaillogPrefix(config);
  } else if (config) {
    const name = config.str('syslog_facility');
    const code = syslogFacility(name);
    if (code === undefined) {
      msg.fatal(`file ${config.mainCfPath}: parameter syslog_facility: unrecognized value: ${name}`);
    }
    facility = code!;
  }

  // Retire the previous set-up.
  for (const remove of removeOutputs) remove();
  removeOutputs = [];
  const previous = loggers;
  loggers = [];
  installExitHooks();

  let logger: MsgLogger | undefined;
  if (postlogMode) {
    const hostname = (config && config.str('myhostname')) || envHost || 'amnesiac';
    const servicePath = config ? postlogServicePath(config) : envService!;
    logger = new MsgLogger({
      progname: tag,
      hostname,
      servicePath: opts.sink ? undefined : servicePath,
      logfile: maillogFile || undefined,
      fallback: daemon ? 'async' : 'sync',
      // A daemon keeps its socket between records; a command closes it so that it can exit.
      idleCloseMs: daemon ? 1000 : 0,
      sink: opts.sink,
      now: opts.now,
      pid: opts.pid,
      fatal: (text) => msg.fatal(text),
    });
    process.env[POSTLOG_SERVICE_ENV] = servicePath;
    process.env[POSTLOG_HOSTNAME_ENV] = hostname;
  } else {
    delete process.env[POSTLOG_SERVICE_ENV];
    delete process.env[POSTLOG_HOSTNAME_ENV];
    const path = opts.syslogPath ?? SYSLOG_PATH;
    if (syslogAvailable(path)) {
      logger = createSyslogLogger({ tag, facility, path, now: opts.now, pid: opts.pid });
    }
  }
  // Records the previous set-up still holds (postlogd congested) move over
  // to the new one, in order, without waiting; else they are written now.
  for (const old of previous) {
    old.disable();
    if (logger && logger.canAdopt && old.pending > 0) logger.adopt(old.takePending());
    old.flushSync();
  }
  if (logger) {
    loggers.push(logger);
    removeOutputs.push(msgAddOutput(logger.output));
  }
  if (opts.stderr) {
    const name = typeof opts.stderr === 'string' ? opts.stderr : basename(processName);
    removeOutputs.push(msgAddOutput(stderrOutput(name)));
  }

  const current = logger;
  return {
    tag,
    mode: postlogMode ? 'postlog' : 'syslog',
    flush: async () => {
      if (current) await current.flushed();
    },
    flushSync: () => current?.flushSync(),
  };
}

/** maillogClientFlush - resolves when every queued record is sent or written (commands, before exit). */
export async function maillogClientFlush(): Promise<void> {
  await Promise.all(loggers.map((l) => l.flushed()));
}

/** maillogClientReset - remove every output this module installed (tests). */
export function maillogClientReset(): void {
  for (const remove of removeOutputs) remove();
  removeOutputs = [];
  for (const l of loggers) {
    l.flushSync();
    l.disable();
  }
  loggers = [];
}

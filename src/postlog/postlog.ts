/**
 * postlog - Postfix-compatible logging utility (Postfix postlog(1)).
 *
 *     postlog [-iv] [-c config_dir] [-p priority] [-t tag] [text...]
 *
 * Logs the text on the command line as one record, or else each line of
 * standard input as one record, with the tag $syslog_name/postlog (or -t),
 * through the same path as every Postfix program: postlogd when maillog_file
 * is set (appending to maillog_file directly when postlogd is not running),
 * else syslog; and to stderr when stderr is a terminal. Priorities: info
 * (default), warn(ing), err(or), fatal (crit), panic; fatal and panic are
 * only logged at that level (the program still exits 0, after a one-second
 * pause, like Postfix). Usage errors and a bad priority are fatal (exit 1).
 * The tag is made printable; it must never run anything the user names.
 */

import { msg, msgPrintf, setMsgVerbose, msgVerbose, type Severity } from '../util/msg.js';
import { printable } from '../util/msg_logger.js';
import { MailConfig, defaultConfigDirectory } from '../global/mail_conf.js';
import { maillogClientInit, maillogClientFlush, mailTask } from '../global/maillog_client.js';

const POSTLOG_CMD = 'postlog';

const LEVELS: Record<string, Severity> = {
  info: 'info',
  warn: 'warning',
  warning: 'warning',
  error: 'error',
  err: 'error',
  fatal: 'fatal',
  crit: 'fatal',
  panic: 'panic',
};

/** levelMap - a -p priority name to a severity (case-insensitive); fatal on an unknown name. */
export function levelMap(name: string): Severity {
  const level = LEVELS[name.toLowerCase()];
  if (!level) msg.fatal(`bad severity: "${name}"`);
  return level;
}

/** Longest stdin line kept; the logger cuts records at 2000 characters anyway. */
const LINE_MAX = 65536;

/** logStream - one record per input line (newline removed, other bytes kept). */
async function logStream(level: Severity, input: NodeJS.ReadableStream): Promise<void> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const flushLine = () => {
    const line = Buffer.concat(pending).toString('utf8');
    pending = [];
    pendingLen = 0;
    msgPrintf(level, line);
  };
  for await (const chunk of input) {
    let buf = chunk as Buffer;
    for (;;) {
      const nl = buf.indexOf(0x0a);
      const part = nl < 0 ? buf : buf.subarray(0, nl);
      if (pendingLen < LINE_MAX) {
        const room = LINE_MAX - pendingLen;
        const keep = part.length > room ? part.subarray(0, room) : part;
        pending.push(Buffer.from(keep));
        pendingLen += keep.length;
      }
      if (nl < 0) break;
      flushLine();
      buf = buf.subarray(nl + 1);
    }
  }
  if (pendingLen > 0) flushLine();
}

/** getopt for "c:ip:t:v"; the complaint text is glibc getopt's. */
function parseArgs(argv: string[]): { opts: Array<[string, string]>; rest: string[] } {
  const opts: Array<[string, string]> = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j];
      if ('cpt'.includes(c)) {
        let val = arg.slice(j + 1);
        if (val === '') {
          if (i + 1 >= argv.length) {
            process.stderr.write(`${POSTLOG_CMD}: option requires an argument -- '${c}'\n`);
            return usage();
          }
          val = argv[++i];
        }
        opts.push([c, val]);
        break;
      }
      if (c === 'i' || c === 'v') {
        opts.push([c, '']);
        continue;
      }
      process.stderr.write(`${POSTLOG_CMD}: invalid option -- '${c}'\n`);
      return usage();
    }
  }
  return { opts, rest: argv.slice(i) };
}

function usage(): never {
  return msg.fatal(`usage: ${POSTLOG_CMD} [-c config_dir] [-i] [-p priority] [-t tag] [-v] [text]`);
}

/** sleep - the one-second pause after fatal/panic (consistency with msg(3)). */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function main(argv: string[]): Promise<void> {
  process.umask(0o022);
  const tty = !!process.stderr.isTTY;
  // Before main.cf: the environment decides (POSTLOG_SERVICE, MAIL_LOGTAG).
  const earlyTag = mailTask(undefined, POSTLOG_CMD);
  maillogClientInit(undefined, POSTLOG_CMD, { tag: earlyTag, stderr: tty ? earlyTag : false, daemon: false });

  let level: Severity = 'info';
  let unsanitizedTag: string | undefined;
  const { opts, rest } = parseArgs(argv);
  for (const [c, v] of opts) {
    switch (c) {
      case 'c':
        process.env.MAIL_CONFIG = v;
        break;
      case 'i':
        break; // obsolete: the pid is always logged
      case 'p':
        level = levelMap(v);
        break;
      case 't':
        unsanitizedTag = v;
        break;
      case 'v':
        setMsgVerbose(msgVerbose + 1);
        break;
    }
  }

  const config = MailConfig.load(defaultConfigDirectory());
  const tag = unsanitizedTag !== undefined ? printable(unsanitizedTag) : mailTask(config, POSTLOG_CMD);
  maillogClientInit(config, POSTLOG_CMD, { tag, stderr: tty ? tag : false, daemon: false });

  if (rest.length > 0) msgPrintf(level, rest.join(' '));
  else await logStream(level, process.stdin);
  await maillogClientFlush();

  if (level === 'fatal' || level === 'panic') await sleep(1000);
  process.exitCode = 0;
}

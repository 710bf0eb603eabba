/**
 * postkick - kick a Postfix service (Postfix postkick(1)).
 *
 * postkick [-c config_dir] [-v] class service request: connects to
 * $queue_directory/class/service and writes the request bytes (a trigger:
 * "W" wakes pickup or qmgr, "I", "D", "A", "F" are qmgr requests), exactly as
 * postdrop and postqueue do. Exit status 0 when the request was written,
 * 1 (with Postfix's warnings) when the service cannot be reached.
 */

import { connect } from 'node:net';
import { join } from 'node:path';
import { MailConfig, defaultConfigDirectory } from '../global/mail_conf.js';
import { Getopt } from '../util/getopt.js';
import { msg, msgAddOutput, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { stderrOutput } from '../postdrop/submit_common.js';

/** trigger - connect, write, close; resolves true when the bytes were taken. */
export function trigger(path: string, request: string, timeoutMs: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(err);
    });
    sock.once('connect', () => {
      sock.end(request, () => {
        clearTimeout(timer);
        resolve(null);
      });
    });
  });
}

/** main - postkick [-c config_dir] [-v] class service request */
export async function main(argv: string[]): Promise<void> {
  const progname = 'postkick';
  msgAddOutput(stderrOutput(progname));
  const usage = (): never => msg.fatal(`usage: ${progname} [-c config_dir] [-v] class service request`);
  const g = new Getopt(argv, 'c:v', progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    if (c === 'c') process.env.MAIL_CONFIG = g.optarg;
    else if (c === 'v') setMsgVerbose(msgVerbose + 1);
    else usage();
  }
  const rest = argv.slice(g.optind);
  if (rest.length !== 3) usage();
  const [cls, service, request] = rest;
  if (/[/]/.test(cls) || /[/]/.test(service) || cls === '..' || service === '..') usage();
  const config = MailConfig.load(defaultConfigDirectory());
  const path = join(config.str('queue_directory'), cls, service);
  const drain = config.time('application_event_drain_time');
  const err = await trigger(path, request, drain * 1000);
  if (err) {
    if (err.code === 'ENOENT') msg.warn(`unable to look up ${cls}/${service}: No such file or directory`);
    else if (err.code !== 'ECONNREFUSED' && msgVerbose) msg.info(`${cls}/${service}: ${err.message}`);
    msg.warn(`Cannot contact class ${cls} service ${service} - perhaps the mail system is down`);
    process.exit(1);
  }
  process.exit(0);
}

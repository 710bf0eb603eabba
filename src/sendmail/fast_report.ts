/**
 * fast_report - log the warnings and the fatal error of a native sendmail
 * run (src/sendmail/sendmail_fast.c) exactly as sendmail.ts logs them: same
 * configuration, same tag ($syslog_name/<program>), same destination
 * (maillog_file through postlogd, or syslog). The native program has
 * already written them to stderr; this runs only on its rare paths (the
 * pickup service is not there, a write error, ...), never per message.
 *
 * Usage: node fast_report.js CONFIG_DIR PROGRAM W:text... [F:text]
 */

import { MailConfig } from '../global/mail_conf.js';
import { maillogClientFlush, maillogClientInit } from '../global/maillog_client.js';
import { msg } from '../util/msg.js';

export async function main(argv: string[]): Promise<void> {
  const [configDir, progname, ...records] = argv;
  if (!configDir || !progname) process.exit(1);
  const config = MailConfig.load(configDir);
  config.setRuntime('process_name', progname);
  maillogClientInit(config, progname, { daemon: false });
  for (const r of records) {
    const text = r.slice(2);
    if (r.startsWith('W:')) msg.warn(text);
    else if (r.startsWith('F:')) msg.fatal(text, 75);
  }
  await maillogClientFlush();
  process.exit(0);
}

if (process.argv[1] && /fast_report\.js$/.test(process.argv[1])) void main(process.argv.slice(2));

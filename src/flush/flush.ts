/**
 * flush - the fast flush server (Postfix flush(8)).
 *
 * Keeps per-destination logs flush/<site> of the queue ids deferred for
 * domains in fast_flush_domains, and serves:
 *   add       site, queue_id: remember a deferred message for a site
 *   send_site site: ETRN / sendmail -qR / postqueue -s: move that site's
 *             deferred messages to incoming/ and wake qmgr
 *   send_file queue_id: postqueue -i: the same for one message
 *   refresh / purge: postqueue -f: ask qmgr to retry everything now
 *             (trigger letters F, A, D, I as Postfix's flush does)
 * Replies status=0 (ok), 3 (bad request), 4 (site not eligible: smtpd
 * answers "459 <site>: service unavailable"), -1 (failure).
 */

import { appendFile, mkdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { attrSendProtocol, readAttrs, sendAttrs } from '../util/attr.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { mailTrigger } from '../global/mail_connect.js';
import { MAIL_QUEUE, mailQueueIdOk, mailQueuePath, mailQueueRename } from '../global/mail_queue.js';

import { FLUSH_PROTOCOL, FLUSH_STAT } from '../global/flush_clnt.js';

/** siteEligible - is the site covered by fast_flush_domains (a domain list, parent domains match)? */
export function siteEligible(config: MailConfig, site: string): boolean {
  const s = site.toLowerCase().replace(/^\[|\]$/g, '');
  for (const item of config.list('fast_flush_domains')) {
    const d = item.toLowerCase();
    if (d.includes(':') || d.startsWith('/')) continue; // tables and files are not supported here yet
    if (d.startsWith('!')) {
      if (s === d.slice(1) || s.endsWith('.' + d.slice(1))) return false;
      continue;
    }
    const bare = d.startsWith('.') ? d.slice(1) : d;
    if (s === bare || s.endsWith('.' + bare)) return true;
  }
  return false;
}

function siteLogPath(config: MailConfig, site: string): string {
  // One file per site; the name is the lower-cased site with '/' made safe.
  return join(config.str('queue_directory'), MAIL_QUEUE.FLUSH, site.toLowerCase().replace(/\//g, '_'));
}

async function addToLog(config: MailConfig, site: string, queueId: string): Promise<number> {
  if (!siteEligible(config, site)) return FLUSH_STAT.DENY;
  const path = siteLogPath(config, site);
  await mkdir(join(config.str('queue_directory'), MAIL_QUEUE.FLUSH), { recursive: true, mode: 0o700 });
  await appendFile(path, `${queueId}\n`, { mode: 0o600 });
  return FLUSH_STAT.OK;
}

/** requeue - deferred (or incoming) message to incoming/ with a fresh time, so qmgr takes it now. */
async function requeue(config: MailConfig, queueId: string): Promise<boolean> {
  const deferred = mailQueuePath(config, MAIL_QUEUE.DEFERRED, queueId);
  try {
    await stat(deferred);
  } catch {
    return false;
  }
  const now = new Date();
  await utimes(deferred, now, now);
  await mailQueueRename(config, queueId, MAIL_QUEUE.DEFERRED, MAIL_QUEUE.INCOMING);
  return true;
}

async function sendSite(config: MailConfig, site: string): Promise<number> {
  if (!siteEligible(config, site)) return FLUSH_STAT.DENY;
  const path = siteLogPath(config, site);
  const tmp = `${path}.${process.pid}`;
  try {
    await rename(path, tmp);
  } catch {
    return FLUSH_STAT.OK; // nothing logged for the site
  }
  const ids = (await readFile(tmp, 'utf8')).split('\n').filter((id) => mailQueueIdOk(id));
  await unlink(tmp).catch(() => undefined);
  let moved = 0;
  for (const id of new Set(ids)) if (await requeue(config, id)) moved++;
  if (moved > 0) await kickQmgr(config, 'I');
  return FLUSH_STAT.OK;
}

async function sendFile(config: MailConfig, queueId: string): Promise<number> {
  if (!mailQueueIdOk(queueId)) return FLUSH_STAT.BAD;
  if (await requeue(config, queueId)) await kickQmgr(config, 'I');
  return FLUSH_STAT.OK;
}

async function kickQmgr(config: MailConfig, letters: string): Promise<void> {
  try {
    await mailTrigger(config, 'public', config.str('queue_service_name') || 'qmgr', letters);
  } catch (err) {
    msg.warn(`trigger qmgr: ${(err as Error).message}`);
  }
}

export async function flushService(stream: VStream, ctx: ServerContext): Promise<void> {
  attrSendProtocol(stream, FLUSH_PROTOCOL);
  const req = await readAttrs(stream);
  if (req === null) return;
  const config = ctx.config;
  let status: number = FLUSH_STAT.BAD;
  try {
    switch (req.get('request')) {
      case 'add':
        status = await addToLog(config, req.str('site'), req.str('queue_id'));
        break;
      case 'send_site':
        status = await sendSite(config, req.str('site'));
        break;
      case 'send_file':
        status = await sendFile(config, req.str('queue_id'));
        break;
      case 'refresh':
      case 'purge':
        await kickQmgr(config, 'FADI');
        status = FLUSH_STAT.OK;
        break;
      default:
        msg.warn(`unrecognized request: "${req.get('request') ?? ''}", ignored`);
    }
  } catch (err) {
    msg.warn(`flush request: ${(err as Error).message}`);
    status = FLUSH_STAT.FAIL;
  }
  sendAttrs(stream, [['status', status]]);
  await stream.flush();
}

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  singleServerMain(argv, { service: flushService });
}

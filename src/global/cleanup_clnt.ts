/**
 * cleanup_clnt - client side of the cleanup protocol (Postfix
 * smtpd/smtpd.c, pickup/pickup.c, global/post_mail.c, cleanup/cleanup.c).
 *
 * The cleanup server speaks first (`protocol=cleanup_protocol`,
 * `queue_id=ID`); the client answers with `flags=N`, then streams queue
 * file records (record.ts encoding) ending with an `E` record; the server
 * answers `status=N`, `reason=text`. Records are written straight to the
 * socket with back-pressure, never collected into one message buffer.
 * cleanupSmtpReply() maps the status to the reply smtpd sends.
 */

import type { MailConfig } from './mail_conf.js';
import { mailConnect, type ServiceClass } from './mail_connect.js';
import { readAttrs, sendAttrs, AttrError } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import { encodeRecord } from './record.js';
import { REC } from './rec_type.js';
import { CLEANUP_STAT, cleanupStatDetail } from './cleanup_user.js';

export const MAIL_ATTR_PROTO_CLEANUP = 'cleanup_protocol';

export interface CleanupResult {
  status: number;
  reason: string;
  queueId: string;
}

export class CleanupClient {
  readonly stream: VStream;
  readonly queueId: string;
  private closed = false;
  /** content bytes written (for statistics and size checks by the caller) */
  written = 0;

  private constructor(stream: VStream, queueId: string) {
    this.stream = stream;
    this.queueId = queueId;
  }

  /** connect - open a session on a connected stream: read the greeting, send the flags. */
  static async connect(stream: VStream, flags: number): Promise<CleanupClient> {
    // One list: protocol=cleanup_protocol, queue_id=ID.
    const first = await readAttrs(stream);
    if (first === null) throw new AttrError('cleanup server closed the connection before the handshake');
    const proto = first.get('protocol');
    if (proto !== MAIL_ATTR_PROTO_CLEANUP) {
      throw new AttrError(`unexpected protocol: wanted ${MAIL_ATTR_PROTO_CLEANUP}, got ${proto ?? '(none)'}`);
    }
    const queueId = first.get('queue_id');
    if (queueId === undefined) throw new AttrError('missing attribute: queue_id');
    sendAttrs(stream, [['flags', flags]]);
    return new CleanupClient(stream, queueId);
  }

  /** open - connect to $cleanup_service_name (public/cleanup) and start a session. */
  static async open(
    config: MailConfig,
    flags: number,
    opts: { service?: string; cls?: ServiceClass; timeoutMs?: number } = {},
  ): Promise<CleanupClient> {
    const service = opts.service ?? (config.str('cleanup_service_name') || 'cleanup');
    const stream = await mailConnect(config, opts.cls ?? 'public', service, opts.timeoutMs);
    try {
      return await CleanupClient.connect(stream, flags);
    } catch (e) {
      stream.sock.destroy();
      throw e;
    }
  }

  /** record - send one record; waits for the socket to drain when its buffer is full. */
  async record(type: number, data: Buffer | string = ''): Promise<void> {
    if (this.closed) throw new Error('cleanup_clnt: session already finished');
    const rec = encodeRecord(type, data);
    this.written += rec.length;
    if (!this.stream.write(rec)) await this.stream.flush();
  }

  /** attr - send an `A name=value` record. */
  attr(name: string, value: string | number): Promise<void> {
    return this.record(REC.ATTR, `${name}=${value}`);
  }

  /**
   * text - send one content line (without its newline), split into `L`
   * records of at most lineLimit bytes followed by a final `N`, as Postfix
   * does for long lines. Pass `continued=true` when the line has no end yet
   * (the next call continues it).
   */
  async text(line: Buffer | string, lineLimit = 2048, continued = false): Promise<void> {
    let buf = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
    while (buf.length > lineLimit) {
      await this.record(REC.CONT, buf.subarray(0, lineLimit));
      buf = buf.subarray(lineLimit);
    }
    await this.record(continued ? REC.CONT : REC.NORM, buf);
  }

  /** finish - send the `E` record and read the server's verdict. */
  async finish(): Promise<CleanupResult> {
    await this.record(REC.END, '');
    this.closed = true;
    const reply = await readAttrs(this.stream);
    if (reply === null) throw new AttrError('cleanup server closed the connection without a status');
    const status = reply.int('status');
    const reason = reply.get('reason') ?? '';
    this.stream.close();
    return { status, reason, queueId: this.queueId };
  }

  /** abort - drop the connection; the server removes its unfinished file. */
  abort(): void {
    this.closed = true;
    this.stream.sock.destroy();
  }
}

/** isSmtpReject - does the text look like "4xx ..." or "5xx ..." (an SMTP reply from a milter)? */
function isSmtpReject(text: string): boolean {
  return /^[45]\d\d[ -]/.test(text);
}

/**
 * cleanupSmtpReply - the reply smtpd sends after end-of-data for a cleanup
 * status (smtpd.c), most severe error first.
 */
export function cleanupSmtpReply(
  status: number,
  reason: string,
  queueId: string,
  opts: { myhostname?: string; bareLfCode?: number } = {},
): string {
  if (status === CLEANUP_STAT.OK) return `250 2.0.0 Ok: queued as ${queueId}`;
  if (status & CLEANUP_STAT.BARE_LF) {
    return `${opts.bareLfCode ?? 550} 5.5.2 ${opts.myhostname ?? ''} Error: bare <LF> received`;
  }
  if (reason && isSmtpReject(reason)) return reason;
  const plain = (bit: number) => {
    const d = cleanupStatDetail(bit);
    return `${d.smtp} ${d.dsn} Error: ${d.text}`;
  };
  if (status & CLEANUP_STAT.DEFER) {
    const d = cleanupStatDetail(CLEANUP_STAT.DEFER);
    return reason ? `${d.smtp} ${reason}` : plain(CLEANUP_STAT.DEFER);
  }
  if (status & CLEANUP_STAT.BAD) {
    const d = cleanupStatDetail(CLEANUP_STAT.BAD);
    return `${d.smtp} ${d.dsn} Error: internal error ${status}`;
  }
  if (status & CLEANUP_STAT.SIZE) return plain(CLEANUP_STAT.SIZE);
  if (status & CLEANUP_STAT.HOPS) return plain(CLEANUP_STAT.HOPS);
  if (status & CLEANUP_STAT.CONT) {
    const d = cleanupStatDetail(CLEANUP_STAT.CONT);
    return reason ? `${d.smtp} ${reason}` : plain(CLEANUP_STAT.CONT);
  }
  if (status & CLEANUP_STAT.WRITE) return plain(CLEANUP_STAT.WRITE);
  const d = cleanupStatDetail(CLEANUP_STAT.BAD);
  return `${d.smtp} ${d.dsn} Error: internal error ${status}`;
}

/**
 * smtpd_dest - where smtpd sends a message: the cleanup service (Postfix
 * global/mail_stream.c mail_stream_service(), the cleanup protocol of
 * cleanup/cleanup.c), or, in "sendmail -bs" mode, a destination that the
 * caller provides (the submission path of sendmail).
 *
 * Cleanup protocol: the server announces protocol=cleanup_protocol and
 * queue_id=ID in one attribute list; the client sends flags=N, then queue
 * file records ending with an END record; the server answers status=N,
 * reason=TEXT. A message counts as accepted only when status is 0.
 *
 * This is the small adapter the brief asks for; when src/global/cleanup_clnt
 * is available it speaks the same wire protocol, so nothing changes here.
 */

import { mailConnect } from '../global/mail_connect.js';
import { errnoText, type MailConfig } from '../global/mail_conf.js';
import { encodeRecord } from '../global/record.js';
import { readAttrs, sendAttrs } from '../util/attr.js';
import type { VStream } from '../util/vstream.js';
import { CLEANUP_STAT } from './smtpd_state.js';
import { msg } from '../util/msg.js';
import { MaildropWriter, kickPickup } from '../postdrop/maildrop.js';
import { currentUid } from '../postdrop/submit_common.js';

export interface DestResult {
  status: number;
  why: string;
}

export interface MessageDest {
  readonly queueId: string;
  /** record - queue one record (written in order; errors surface at finish) */
  record(type: number, data: Buffer | string): void;
  /** finish - send the end and wait for the verdict */
  finish(): Promise<DestResult>;
  /** abort - give up on the message (the server removes its file) */
  abort(): void;
}

/** A factory that opens a destination with CLEANUP_FLAG_* flags. */
export type DestOpener = (flags: number) => Promise<MessageDest>;

/** Thrown when the cleanup service cannot be reached (smtpd treats this as fatal, as Postfix). */
export class DestUnavailable extends Error {}

class CleanupDest implements MessageDest {
  private failed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly stream: VStream,
    readonly queueId: string,
  ) {
    stream.sock.on('error', () => {
      this.failed = true;
    });
  }

  record(type: number, data: Buffer | string): void {
    if (this.failed) return;
    const rec = encodeRecord(type, data);
    this.pending.push(rec);
    this.pendingBytes += rec.length;
    if (this.pendingBytes >= 65536) this.push();
  }

  private push(): void {
    if (this.pending.length === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.stream.sock.destroyed || !this.stream.sock.writable) {
      this.failed = true;
      return;
    }
    this.stream.write(buf);
  }

  async finish(): Promise<DestResult> {
    this.push();
    if (this.failed) {
      this.abort();
      return { status: CLEANUP_STAT.WRITE, why: '' };
    }
    try {
      await this.stream.flush();
      const reply = await readAttrs(this.stream);
      if (reply === null) return { status: CLEANUP_STAT.WRITE, why: '' };
      const status = reply.int('status');
      return { status, why: reply.get('reason') ?? '' };
    } catch {
      return { status: CLEANUP_STAT.WRITE, why: '' };
    } finally {
      this.stream.sock.destroy();
    }
  }

  abort(): void {
    this.pending = [];
    this.stream.sock.destroy();
  }
}

/** Attempts and pause of the cleanup connection (Postfix retries every 10s without end). */
const CONNECT_TRIES = 6;
const CONNECT_RETRY_MS = 10_000;

/** cleanupOpener - connect to public/$cleanup_service_name for each message. */
export function cleanupOpener(config: MailConfig): DestOpener {
  return async (flags: number) => {
    const service = config.str('cleanup_service_name') || 'cleanup';
    let stream: VStream | undefined;
    // mail_connect_wait(): keep trying, with a warning per attempt
    for (let attempt = 1; stream === undefined; attempt++) {
      try {
        stream = await mailConnect(config, 'public', service);
      } catch (e) {
        msg.warn(`connect #${attempt} to subsystem public/${service}: ${errnoText(e as NodeJS.ErrnoException)}`);
        if (attempt >= CONNECT_TRIES) throw new DestUnavailable((e as Error).message);
        await new Promise((r) => setTimeout(r, CONNECT_RETRY_MS));
      }
    }
    try {
      const hello = await readAttrs(stream);
      if (hello === null || hello.get('protocol') !== 'cleanup_protocol' || !hello.has('queue_id')) {
        throw new Error('bad cleanup protocol announcement');
      }
      sendAttrs(stream, [['flags', flags]]);
      return new CleanupDest(stream, hello.str('queue_id'));
    } catch (e) {
      stream.sock.destroy();
      throw new DestUnavailable((e as Error).message);
    }
  };
}

/** cleanupStatDetail - SMTP code, DSN and text per CLEANUP_STAT bit (cleanup_strerror.c). */
export function cleanupStatDetail(status: number): { smtp: number; dsn: string; text: string } {
  const table: Array<[number, number, string, string]> = [
    [CLEANUP_STAT.DEFER, 451, '4.7.1', 'service unavailable'],
    [CLEANUP_STAT.PROXY, 451, '4.3.0', 'queue file write error'],
    [CLEANUP_STAT.BAD, 451, '4.3.0', 'internal protocol error'],
    [CLEANUP_STAT.RCPT, 550, '5.1.0', 'no recipients specified'],
    [CLEANUP_STAT.HOPS, 554, '5.4.0', 'too many hops'],
    [CLEANUP_STAT.SIZE, 552, '5.3.4', 'message file too big'],
    [CLEANUP_STAT.CONT, 550, '5.7.1', 'message content rejected'],
    [CLEANUP_STAT.WRITE, 451, '4.3.0', 'queue file write error'],
    [CLEANUP_STAT.NOPERM, 550, '5.7.1', 'service denied'],
    [CLEANUP_STAT.BARE_LF, 521, '5.5.2', 'bare <LF> received'],
  ];
  if (status === 0) return { smtp: 250, dsn: '2.0.0', text: 'Success' };
  for (const [bit, smtp, dsn, text] of table) if (status & bit) return { smtp, dsn, text };
  return { smtp: 451, dsn: '4.3.0', text: 'internal protocol error' };
}

/**
 * maildropOpener - the "sendmail -bs" destination: each message becomes a
 * maildrop file through the postdrop whitelist (as Postfix smtpd runs
 * postdrop in stand-alone mode), and pickup is woken when it is complete.
 */
export function maildropOpener(config: MailConfig): DestOpener {
  return async () => {
    const writer = new MaildropWriter(config, currentUid());
    await writer.open();
    let failure: Error | null = null;
    return {
      get queueId() {
        return writer.id;
      },
      record(type: number, data: Buffer | string) {
        if (failure) return;
        try {
          writer.put(type, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
        } catch (e) {
          failure = e as Error;
        }
      },
      async finish(): Promise<DestResult> {
        if (failure) {
          msg.warn(`uid=${writer.uid}: ${failure.message}`);
          writer.abort();
          return { status: CLEANUP_STAT.WRITE, why: '' };
        }
        const r = await writer.finish();
        if (r.status === 0) await kickPickup(config).catch(() => undefined);
        return { status: r.status, why: r.reason };
      },
      abort() {
        writer.abort();
      },
    };
  };
}

/**
 * postdrop - Postfix mail posting utility (Postfix postdrop(1)).
 *
 * Reads a queue-file record stream on standard input (as written by
 * sendmail), creates maildrop/<id> through the whitelist of MaildropWriter,
 * and speaks Postfix's postdrop protocol on standard output: first an
 * attribute list with queue_id, then, after the END record, one with status
 * and reason. End of input before END cancels the submission (the file is
 * removed, exit 0); malformed input or a forbidden record type is fatal and
 * removes the file. On success pickup is woken with "W".
 *
 * Postfix's postdrop is set-gid postdrop; a Node script cannot be, so this
 * one runs with the submitter's own identity and writes into the sticky
 * world-writable maildrop directory, where the file owner identifies the
 * submitter to pickup (DESIGN.md section 3).
 */

import { writeSync } from 'node:fs';
import { MailConfig, defaultConfigDirectory } from '../global/mail_conf.js';
import { REC } from '../global/rec_type.js';
import { encodeAttrs } from '../util/attr.js';
import { msg, msgAddOutput, msgCleanup, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { Getopt } from '../util/getopt.js';
import { MaildropWriter, PostdropError, kickPickup } from './maildrop.js';
import { checkUserAclAsync, confInt, currentUid, readInput, stderrOutput } from './submit_common.js';

/** SyncRecordReader - rec_get_raw() over a file descriptor, bounded; records are parsed synchronously from the buffer. */
export class SyncRecordReader {
  private buf = Buffer.allocUnsafe(256 * 1024);
  private start = 0;
  private end = 0;
  private eof = false;

  constructor(
    private readonly fd: number,
    private readonly maxLen: number,
  ) {}

  /** fill - read more input in the thread pool (the event loop stays free for signals). */
  async fill(): Promise<void> {
    if (this.eof) return;
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.end);
      this.buf = bigger;
    }
    const n = await readInput(this.fd, this.buf, this.end);
    if (n === 0) this.eof = true;
    this.end += n;
  }

  /** next - the next record; 'eof' at a clean end of input, 'error' for malformed or truncated input. */
  async next(): Promise<{ type: number; data: Buffer } | 'eof' | 'error'> {
    for (;;) {
      const avail = this.end - this.start;
      if (avail === 0) {
        if (this.eof) return 'eof';
        await this.fill();
        continue;
      }
      // parse type + varint length
      let len = 0;
      let shift = 1;
      let pos = this.start + 1;
      let complete = false;
      for (let n = 0; pos < this.end; n++) {
        const b = this.buf[pos++];
        len += (b & 0x7f) * shift;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
        shift *= 128;
        if (n >= 4) return 'error';
      }
      if (complete && len > this.maxLen) return 'error';
      if (complete && pos + len <= this.end) {
        const type = this.buf[this.start];
        const data = Buffer.from(this.buf.subarray(pos, pos + len));
        this.start = pos + len;
        return { type, data };
      }
      if (this.eof) return 'error';
      await this.fill();
    }
  }
}

/** main - postdrop [-rv] [-c config_dir] */
export async function main(argv: string[]): Promise<void> {
  const progname = 'postdrop';
  process.umask(0o022);
  msgAddOutput(stderrOutput(progname));
  if (process.env.MAIL_VERBOSE) setMsgVerbose(1);
  const g = new Getopt(argv, 'c:rv', progname);
  for (let c = g.next(); c !== -1; c = g.next()) {
    switch (c) {
      case 'c':
        process.env.MAIL_CONFIG = g.optarg;
        break;
      case 'r':
        break;
      case 'v':
        if (currentUid() === 0) setMsgVerbose(msgVerbose + 1);
        break;
      default:
        msg.fatal(`usage: ${progname} [-c config_dir] [-v]`);
    }
  }
  const config = MailConfig.load(defaultConfigDirectory());
  config.setRuntime('process_name', progname);
  const { maillogClientInit } = await import('../global/maillog_client.js');
  maillogClientInit(config, progname, { daemon: false });
  const uid = currentUid();
  const denied = await checkUserAclAsync(config, 'authorized_submit_users', uid);
  if (denied !== null) msg.fatal(`User ${denied}(${uid}) is not allowed to submit mail`);
  const queueDir = config.str('queue_directory');
  try {
    process.chdir(queueDir);
  } catch (e) {
    msg.fatal(`chdir ${queueDir}: ${(e as Error).message}`);
  }
  if (msgVerbose) msg.info(`chdir ${queueDir}`);

  const dst = new MaildropWriter(config, uid);
  msgCleanup(() => dst.abort());
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) {
    // Remove the file, then die by the signal itself: process.exit() would wait for the
    // thread-pool read of standard input, which may never return.
    process.once(sig, () => {
      dst.abort();
      process.kill(process.pid, sig);
    });
  }
  try {
    await dst.open();
  } catch (e) {
    msg.fatal(`uid=${uid}: create maildrop file: ${(e as Error).message}`);
  }
  const writeOut = (data: Buffer): void => {
    try {
      let off = 0;
      while (off < data.length) off += writeSync(1, data, off, data.length - off);
    } catch {
      // the caller went away; the status still decides what happens to the file
    }
  };
  writeOut(encodeAttrs([['queue_id', dst.id]]));

  const reader = new SyncRecordReader(0, confInt(config, 'line_length_limit', 2048));
  let writeError: Error | undefined;
  for (;;) {
    const rec = await reader.next();
    if (rec === 'eof') {
      const path = dst.path;
      dst.abort();
      if (msgVerbose) msg.info(`remove ${path}`);
      process.exit(0);
    }
    if (rec === 'error') return msg.fatal(`uid=${uid}: malformed input`);
    if (writeError) {
      // slurp the rest so the client does not get SIGPIPE before our reply
      if (rec.type === REC.END) break;
      continue;
    }
    try {
      dst.put(rec.type, rec.data);
    } catch (e) {
      if (e instanceof PostdropError) {
        if (e.warning) msg.warn(e.warning);
        msg.fatal(e.message);
      }
      writeError = e as Error;
      continue;
    }
    if (rec.type === REC.END) break;
  }
  let status: number;
  let reason = '';
  if (writeError) {
    msg.warn(`uid=${uid}: ${writeError.message}`);
    dst.abort();
    status = 2; // CLEANUP_STAT_WRITE
  } else {
    ({ status, reason } = await dst.finish());
    if (status === 0) await kickPickup(config);
  }
  writeOut(
    encodeAttrs([
      ['status', status],
      ['reason', reason],
    ]),
  );
  process.exit(status);
}

/**
 * local_deliver - the delivery methods of the local agent (Postfix
 * local/mailbox.c, maildir.c, file.c, command.c, forward.c).
 *
 * mbox: append with the From_ line, >From quoting and a trailing blank line,
 * under a dotlock (<mailbox>.lock, O_EXCL, retried deliver_lock_attempts
 * times, stale locks broken after stale_lock_time); on a write error the
 * file is truncated back to its old size so a mailbox never holds half a
 * message. Maildir: tmp/ then a link into new/ under a unique name.
 * Commands: /bin/sh -c as the recipient with Postfix's environment and
 * command_time_limit; exit 75/71 defers, other non-zero exits bounce.
 * Forwarding: a new message through cleanup, "forwarded as ID".
 */

import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { closeSync, fchownSync, fstatSync, fsyncSync, ftruncateSync, linkSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { mailCopy, MAIL_COPY, MAIL_COPY_MBOX, readMessageLines, type QueueSource } from '../global/mail_copy.js';
import type { MailConfig } from '../global/mail_conf.js';
import { dotLock, kernelLock, lockStyles, type LockParams } from '../global/mbox_lock.js';
import { CleanupClient } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_FLAG_MASK_INTERNAL } from '../global/cleanup_user.js';
import { mailDate } from '../global/mail_date.js';
import { REC } from '../global/rec_type.js';
import { commandFailure } from '../global/sys_exits.js';
import type { DeliverRequest } from '../global/deliver_request.js';
import { closeQuietly } from '../util/iostuff.js';

/** The outcome of one delivery attempt: sent, defer or bounce with a DSN and text. */
export interface LocalResult {
  /**
   * passed: another agent (mailbox_transport, fallback_transport) took the
   * recipient and logged it; expanded: an alias or .forward whose members
   * were each reported already
   */
  kind: 'sent' | 'defer' | 'bounce' | 'passed' | 'expanded';
  /** for passed: the other agent deferred the recipient */
  deferred?: boolean;
  dsn: string;
  text: string;
  /**
   * for bounce: the list owner that gets the notice at once (bounce_one)
   * instead of the message's sender (Postfix bounce_workaround)
   */
  bounceTo?: string;
  /** DSN diagnostic (Diagnostic-Code: type; text), e.g. x-unix for commands */
  diagType?: string;
  diagText?: string;
}

export const sent = (text: string): LocalResult => ({ kind: 'sent', dsn: '2.0.0', text });
export const defer = (dsn: string, text: string): LocalResult => ({ kind: 'defer', dsn, text });
export const bounce = (dsn: string, text: string): LocalResult => ({ kind: 'bounce', dsn, text });

/** The delivery request attributes that a forwarded copy keeps (Postfix forward_open). */
export type ForwardRequestAttrs = Pick<
  DeliverRequest,
  'dsn_ret' | 'dsn_envid' | 'client_name' | 'client_addr' | 'client_proto' | 'client_helo' | 'sasl_method' | 'sasl_username' | 'sasl_sender' | 'log_ident' | 'rewrite_context'
>;

/** A recipient of a forwarded copy (Postfix forward_append). */
export interface ForwardRecipient {
  address: string;
  /** original recipient ('' after a mailing-list expansion) */
  orig: string;
  dsnOrcpt?: string;
  notify?: number;
}

export interface Identity {
  uid: number;
  gid: number;
}

export interface MessageRef {
  /** the queue file, opened before any change of identity */
  path: QueueSource;
  dataOffset: number;
  sender: string;
  origRecipient: string;
  deliveredTo: string;
}

/** lockParams - the retry settings of mailbox locking. */
function lockParams(config: MailConfig): LockParams {
  return {
    attempts: Math.max(1, config.int('deliver_lock_attempts')),
    delayMs: config.time('deliver_lock_delay') * 1000,
    staleMs: config.time('stale_lock_time') * 1000,
  };
}

/**
 * appendMbox - deliver to an mbox file (created 0600 when missing), all or
 * nothing. The agent serves one delivery at a time (as Postfix's local), so
 * the file work is synchronous: a mailbox append is a handful of system
 * calls, each far cheaper than a thread-pool round trip.
 */
export async function appendMbox(config: MailConfig, path: string, m: MessageRef, owner: Identity | undefined, what: string): Promise<LocalResult> {
  const limit = config.int('mailbox_size_limit');
  const params = lockParams(config);
  const styles = lockStyles('mailbox_delivery_lock', config.str('mailbox_delivery_lock'));
  let dotlock: string | undefined;
  let fd: number | undefined;
  try {
    if (styles.includes('dotlock')) dotlock = await dotLock(path, params);
  } catch (err) {
    return defer('4.2.0', `cannot update mailbox ${path} for user ${what}. ${(err as Error).message}`);
  }
  try {
    fd = openSync(path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600);
    for (const style of styles) {
      if (style === 'fcntl' || style === 'flock') {
        try {
          await kernelLock(fd, style, params);
        } catch (err) {
          return defer('4.2.0', `cannot update mailbox ${path} for user ${what}. ${(err as Error).message}`);
        }
      }
    }
    const st = fstatSync(fd);
    if (!st.isFile()) return bounce('5.2.0', `cannot update mailbox ${path} for user ${what}. file is not a regular file`);
    if (owner && process.getuid?.() === 0 && st.uid !== owner.uid) {
      if (st.size === 0) fchownSync(fd, owner.uid, owner.gid);
      else if (config.bool('strict_mailbox_ownership')) {
        return bounce('5.2.0', `cannot update mailbox ${path} for user ${what}. file has bad owner`);
      }
    }
    const start = st.size;
    let written = 0;
    const out = fd;
    try {
      await mailCopy(m.path, m.dataOffset, { flags: MAIL_COPY_MBOX, sender: m.sender, deliveredTo: m.deliveredTo, origRecipient: m.origRecipient }, (chunk) => {
        written += chunk.length;
        if (limit > 0 && start + written > limit) throw Object.assign(new Error('File too large'), { code: 'EFBIG' });
        writeAll(out, chunk);
      });
      fsyncSync(out);
    } catch (err) {
      try {
        ftruncateSync(out, start);
      } catch {
        // the write error is what gets reported
      }
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EFBIG') return bounce('5.2.2', `cannot update mailbox ${path} for user ${what}. error writing message: File too large`);
      return defer('4.2.0', `cannot update mailbox ${path} for user ${what}. error writing message: ${(err as Error).message}`);
    }
    return sent('');
  } catch (err) {
    return defer('4.2.0', `cannot open mailbox ${path} for user ${what}. ${(err as Error).message}`);
  } finally {
    // Closing the file releases fcntl/flock locks.
    if (fd !== undefined) closeQuietly(fd);
    if (dotlock) {
      try {
        unlinkSync(dotlock);
      } catch {
        // gone already
      }
    }
  }
}

/** writeAll - write a whole buffer to a descriptor (a short write continues). */
function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

let maildirCounter = 0;

/** makeDirs - mkdir -p (0700), existing directories are left alone. */
function makeDirs(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * deliverMaildir - tmp/ then new/ with a unique name (Postfix maildir.c).
 * As Postfix, the directories are made only when the file or the link
 * cannot be made because they are missing; synchronous, like appendMbox.
 */
export async function deliverMaildir(dir: string, m: MessageRef, what: string): Promise<LocalResult> {
  const tmpDir = join(dir, 'tmp');
  const newDir = join(dir, 'new');
  const now = Date.now();
  const host = hostname();
  const tmpName = join(tmpDir, `${Math.floor(now / 1000)}.P${process.pid}Q${++maildirCounter}.${host}`);
  let fd: number | undefined;
  try {
    fd = openTmp(tmpName, tmpDir);
  } catch (err) {
    return defer('4.2.0', `create maildir file ${tmpName}: ${(err as Error).message}`);
  }
  try {
    const out = fd;
    await mailCopy(m.path, m.dataOffset, { flags: MAIL_COPY.DELIVERED | MAIL_COPY.RETURN_PATH | MAIL_COPY.ORIG_RCPT, sender: m.sender, deliveredTo: m.deliveredTo, origRecipient: m.origRecipient }, (chunk) => {
      writeAll(out, chunk);
    });
    fsyncSync(out);
    const st = fstatSync(out);
    closeSync(out);
    fd = undefined;
    const usec = Math.floor((now % 1000) * 1000);
    const newName = join(newDir, `${Math.floor(now / 1000)}.V${st.dev.toString(16).toUpperCase()}I${st.ino.toString(16).toUpperCase()}M${usec}.${host}`);
    try {
      linkSync(tmpName, newName);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      makeDirs(join(dir, 'cur'));
      makeDirs(newDir);
      linkSync(tmpName, newName);
    }
    unlinkSync(tmpName);
    return sent('delivered to maildir');
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // reported below
      }
    }
    try {
      unlinkSync(tmpName);
    } catch {
      // never made, or gone
    }
    return defer('4.2.0', `maildir delivery failed for user ${what}: ${(err as Error).message}`);
  }
}

/** openTmp - create the tmp/ file exclusively, making tmp/ (and its parents) when missing. */
function openTmp(tmpName: string, tmpDir: string): number {
  try {
    return openSync(tmpName, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  makeDirs(tmpDir);
  return openSync(tmpName, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
}

/** deliverFile - append to a file named in an alias or .forward (mbox style). */
export async function deliverFile(config: MailConfig, path: string, m: MessageRef, owner: Identity | undefined): Promise<LocalResult> {
  if (path.endsWith('/')) return deliverMaildir(path, m, path);
  const r = await appendMbox(config, path, m, owner, path);
  return r.kind === 'sent' ? sent(`delivered to file: ${path}`) : r;
}

export interface CommandEnv {
  home: string;
  user: string;
  shell: string;
  recipient: string;
  local: string;
  domain: string;
  extension: string;
  origRecipient: string;
  clientAddress: string;
  clientHostname: string;
  clientHelo: string;
  clientProtocol: string;
  saslMethod: string;
  saslUsername: string;
  saslSender: string;
}

/** deliverCommand - run the command through the shell as the given identity, message on stdin. */
export async function deliverCommand(config: MailConfig, command: string, m: MessageRef, id: Identity | undefined, env: CommandEnv): Promise<LocalResult> {
  const shell = config.str('local_command_shell') || '/bin/sh';
  const argv = config.str('local_command_shell') ? ['-c', command] : ['-c', command];
  const limit = (config.raw('local_command_time_limit') !== undefined ? config.time('local_command_time_limit') : config.time('command_time_limit')) * 1000;
  const childEnv: NodeJS.ProcessEnv = {
    HOME: env.home,
    USER: env.user,
    LOGNAME: env.user,
    SHELL: env.shell,
    PATH: '/usr/bin:/bin',
    SENDER: m.sender,
    RECIPIENT: env.recipient,
    LOCAL: env.local,
    DOMAIN: env.domain,
    EXTENSION: env.extension,
    ORIGINAL_RECIPIENT: env.origRecipient,
    CLIENT_ADDRESS: env.clientAddress,
    CLIENT_HOSTNAME: env.clientHostname,
    CLIENT_HELO: env.clientHelo,
    CLIENT_PROTOCOL: env.clientProtocol,
    SASL_METHOD: env.saslMethod,
    SASL_USERNAME: env.saslUsername,
    SASL_SENDER: env.saslSender,
  };
  for (const name of config.list('export_environment')) {
    const eq = name.indexOf('=');
    if (eq > 0) childEnv[name.slice(0, eq)] = name.slice(eq + 1);
    else if (process.env[name] !== undefined) childEnv[name] = process.env[name];
  }
  const runAs = id && process.getuid?.() === 0 ? { uid: id.uid, gid: id.gid } : {};
  return new Promise<LocalResult>((resolve) => {
    let output = '';
    let timedOut = false;
    let child;
    try {
      child = spawn(shell, argv, { env: childEnv, cwd: env.home || '/', stdio: ['pipe', 'pipe', 'pipe'], ...runAs });
    } catch (err) {
      resolve(defer('4.3.0', `cannot execute command ${command}: ${(err as Error).message}`));
      return;
    }
    const collect = (b: Buffer) => {
      if (output.length < 4096) output += b.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limit);
    child.stdin.on('error', () => undefined);
    void (async () => {
      try {
        await mailCopy(m.path, m.dataOffset, { flags: MAIL_COPY.FROM | MAIL_COPY.RETURN_PATH | MAIL_COPY.DELIVERED | MAIL_COPY.ORIG_RCPT, sender: m.sender, deliveredTo: m.deliveredTo, origRecipient: m.origRecipient }, (chunk) =>
          new Promise<void>((res) => {
            if (child.stdin.destroyed) return res();
            if (child.stdin.write(chunk)) res();
            else child.stdin.once('drain', () => res());
          }),
        );
      } catch {
        // the command closed its input early; its exit status decides
      }
      child.stdin.end();
    })();
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const out = output.trim().replace(/\s+/g, ' ');
      if (!timedOut && !signal && code === 0) return resolve(sent(`delivered to command: ${command}`));
      // As Postfix pipe_command(): the DSN diagnostic is "x-unix; <output, or the sysexits text>".
      const f = commandFailure(command, code, signal, out, timedOut);
      resolve({ kind: f.kind, dsn: f.dsn, text: f.text, diagType: 'x-unix', diagText: f.diagText });
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve(defer('4.3.0', `cannot execute command ${command}: ${err.message}`));
    });
  });
}

/**
 * forwardMessage - send the message on to new recipients through cleanup
 * (Postfix local/forward.c): same sender, a Delivered-To: header for the
 * recipient that forwarded, original content. Returns the new queue id.
 */
export async function forwardMessage(
  config: MailConfig,
  m: MessageRef,
  recipients: ForwardRecipient[],
  sender: string,
  deliveredTo: string,
  req?: ForwardRequestAttrs,
): Promise<LocalResult> {
  let clnt: CleanupClient;
  try {
    // cleanup bounces what it refuses (too many hops, too large) to the sender itself
    clnt = await CleanupClient.open(config, CLEANUP_FLAG.BOUNCE | CLEANUP_FLAG_MASK_INTERNAL);
  } catch (err) {
    return defer('4.3.0', `cannot forward: cleanup service: ${(err as Error).message}`);
  }
  try {
    const now = Date.now();
    await clnt.record(REC.TIME, `${Math.floor(now / 1000)} ${(now % 1000) * 1000}`);
    await clnt.record(REC.FROM, sender);
    // The request's DSN and client attributes go along (Postfix forward_open); empty ones do not.
    if (req?.dsn_ret) await clnt.attr('ret_flags', req.dsn_ret);
    if (req?.dsn_envid) await clnt.attr('envelope_id', req.dsn_envid);
    const pass: Array<[string, string | undefined]> = [
      ['log_client_name', req?.client_name],
      ['log_client_address', req?.client_addr],
      ['log_protocol_name', req?.client_proto],
      ['log_helo_name', req?.client_helo],
      ['sasl_method', req?.sasl_method],
      ['sasl_username', req?.sasl_username],
      ['sasl_sender', req?.sasl_sender],
      ['log_ident', req?.log_ident],
      ['rewrite_context', req ? req.rewrite_context : 'local'],
    ];
    for (const [name, value] of pass) if (value) await clnt.attr(name, value);
    for (const r of recipients) {
      // As Postfix forward_append: DSN original recipient, NOTIFY, then O and R.
      if (r.dsnOrcpt) await clnt.attr('dsn_orig_rcpt', r.dsnOrcpt);
      if (r.notify) await clnt.attr('notify_flags', String(r.notify));
      if (r.orig) await clnt.record(REC.ORCP, r.orig);
      await clnt.record(REC.RCPT, r.address);
    }
    await clnt.record(REC.MESG, '');
    await clnt.text(`Received: by ${config.str('myhostname')} (${config.str('mail_name')})`);
    await clnt.text(`\tid ${clnt.queueId}; ${mailDate(new Date(now))}`);
    await clnt.text(`Delivered-To: ${deliveredTo.toLowerCase()}`);
    for await (const line of readMessageLines(m.path, m.dataOffset)) await clnt.text(line);
    await clnt.record(REC.XTRA, '');
    const result = await clnt.finish();
    if (result.status !== 0) return defer('4.3.0', `cannot forward: ${result.reason || 'cleanup error'}`);
    return sent(`forwarded as ${result.queueId}`);
  } catch (err) {
    clnt.abort();
    return defer('4.3.0', `cannot forward: ${(err as Error).message}`);
  }
}

/** ensureDir - the directory of a mailbox file exists (home_mailbox = "Mailbox" style paths). */
export async function ensureDir(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
}

/**
 * asUser - run a file-system delivery with the effective identity of a user
 * (root only; one delivery at a time per process, so a process-wide
 * effective uid is safe: DESIGN.md §3). Without root it just runs.
 */
export async function asUser<T>(id: Identity | undefined, fn: () => Promise<T>): Promise<T> {
  if (!id || process.getuid?.() !== 0 || !process.seteuid || !process.setegid) return fn();
  // Each set*id() is broadcast to every thread of the process (glibc setxid);
  // skip the switch when it would change nothing (deliveries as root).
  if (id.uid === 0 && id.gid === 0 && process.geteuid?.() === 0 && process.getegid?.() === 0) return fn();
  process.setegid(id.gid);
  process.seteuid(id.uid);
  try {
    return await fn();
  } finally {
    process.seteuid(0);
    process.setegid(0);
  }
}

/**
 * msg_logwriter - append log records to a file (Postfix util/logwriter.c,
 * with the checks of safe_open.c).
 *
 * A record is one line; the writer adds the newline. Every write(2) carries
 * whole lines and the file is opened O_APPEND, so records from several
 * writers (postlogd, and commands that write directly while postlogd is not
 * running) interleave but are never torn.
 *
 * LogWriter never blocks its caller: records are queued (bounded) and
 * written asynchronously in batches; flushSync() is for the way out
 * (process exit, fatal errors). logwriterOneShot() is the synchronous
 * open-append-close that Postfix commands use as their fallback.
 */

import * as fs from 'node:fs';

/** LogfileError - open/create failure, with Postfix's safe_open() reason text. */
export class LogfileError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`open logfile '${path}': ${reason}`);
    this.name = 'LogfileError';
  }
}

const STDOUT_PATH = '/dev/stdout';
const CREATE_MODE = 0o644;

/** glibc strerror() texts where libuv words them differently. */
const GLIBC_TEXT: Record<string, string> = {
  EACCES: 'Permission denied',
  EAGAIN: 'Resource temporarily unavailable',
  EBADF: 'Bad file descriptor',
  ECONNREFUSED: 'Connection refused',
  EDQUOT: 'Disk quota exceeded',
  EEXIST: 'File exists',
  EFBIG: 'File too large',
  EIO: 'Input/output error',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  EMFILE: 'Too many open files',
  ENAMETOOLONG: 'File name too long',
  ENOENT: 'No such file or directory',
  ENOSPC: 'No space left on device',
  ENOTDIR: 'Not a directory',
  ENXIO: 'No such device or address',
  EPERM: 'Operation not permitted',
  EPIPE: 'Broken pipe',
  EROFS: 'Read-only file system',
};

/** strerror - the C library's text for a Node system error ("No such file or directory"). */
export function strerror(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code && GLIBC_TEXT[err.code]) return GLIBC_TEXT[err.code];
  let text = String(err?.message ?? e);
  if (err?.code && text.startsWith(`${err.code}: `)) text = text.slice(err.code.length + 2);
  const comma = text.lastIndexOf(', ');
  if (err?.syscall && comma > 0 && text.slice(comma + 2).startsWith(err.syscall)) text = text.slice(0, comma);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const why = strerror;

/**
 * openLogfile - open path for appending, creating it (mode 0644 less umask)
 * when it does not exist; "/dev/stdout" is our standard output. Refuses what
 * safe_open() refuses: non-regular files, files with several hard links, and
 * symbolic links not owned by root. Returns the descriptor; throws LogfileError.
 */
export function openLogfile(path: string): number {
  if (path === STDOUT_PATH) return 1;
  const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL } = fs.constants;
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = fs.openSync(path, O_WRONLY | O_APPEND);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new LogfileError(path, `cannot open file: ${why(e)}`);
      try {
        return fs.openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, CREATE_MODE);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new LogfileError(path, `cannot create file exclusively: ${why(e2)}`);
      }
    }
    try {
      checkOpened(path, fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return fd;
  }
  throw new LogfileError(path, 'cannot open file: file was removed and re-created while opening');
}

function checkOpened(path: string, fd: number): void {
  const st = fs.fstatSync(fd);
  if (!st.isFile()) throw new LogfileError(path, 'file is not a regular file');
  if (st.nlink !== 1) throw new LogfileError(path, `file has ${st.nlink} hard links`);
  const lst = fs.lstatSync(path);
  if (lst.isSymbolicLink()) {
    if (lst.uid !== 0) throw new LogfileError(path, 'file is a symbolic link');
    return;
  }
  if (lst.dev !== st.dev || lst.ino !== st.ino) throw new LogfileError(path, 'file status changed unexpectedly');
}

/** logwriterOneShot - synchronously open, append one record plus newline, close. Throws on error. */
export function logwriterOneShot(path: string, record: string): void {
  const fd = openLogfile(path);
  try {
    writeAllSync(fd, Buffer.from(record + '\n'));
  } finally {
    if (fd !== 1) fs.closeSync(fd);
  }
}

function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  let spins = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      // A non-blocking stdout pipe may be full for a moment.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN' && spins++ < 200) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw e;
    }
  }
}

export interface LogWriterOptions {
  /** open, write, close for every batch (a client's fallback), instead of keeping the file open */
  oneShot?: boolean;
  /** most bytes queued before records are dropped (default 4 MB) */
  maxQueued?: number;
  /** told about write errors and dropped records (must not log through this writer) */
  onError?: (text: string, lost: number) => void;
  /**
   * gather records for this many ms before a write starts (default 0: the
   * records of one event-loop turn). Each asynchronous write is a hand-off
   * to the thread pool and back, which costs more than the write itself.
   */
  batchMs?: number;
}

/**
 * LogWriter - a queued, asynchronous appender to one file. Create it with
 * open() (postlogd: "open or die") or lazily (oneShot clients).
 */
export class LogWriter {
  private fd = -1;
  private queue: string[] = [];
  private queuedBytes = 0;
  private busy = false;
  private dropped = 0;
  private waiters: Array<() => void> = [];
  private readonly maxQueued: number;

  constructor(readonly path: string, private readonly opts: LogWriterOptions = {}) {
    this.maxQueued = opts.maxQueued ?? 4 * 1024 * 1024;
  }

  /** open - open the file now (throws LogfileError). */
  open(): void {
    if (this.fd < 0) this.fd = openLogfile(this.path);
  }

  /** reopen - close and open again (after the file was renamed by logrotate); throws LogfileError. */
  reopen(): void {
    const fresh = openLogfile(this.path);
    const old = this.fd;
    this.fd = fresh;
    if (old > 1) fs.close(old, () => undefined);
  }

  /** isCurrent - false when the path now names another file than the open one (renamed or removed). */
  isCurrent(): boolean {
    if (this.fd <= 1) return true;
    try {
      const a = fs.fstatSync(this.fd);
      const b = fs.statSync(this.path);
      return a.ino === b.ino && a.dev === b.dev;
    } catch {
      return false;
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  /** write - queue one record (no newline); never blocks. */
  write(record: string): void {
    const len = Buffer.byteLength(record) + 1;
    if (this.queuedBytes + len > this.maxQueued) {
      this.dropped++;
      return;
    }
    this.queue.push(record);
    this.queuedBytes += len;
    if (!this.busy) {
      this.busy = true;
      if (this.opts.batchMs) setTimeout(() => this.drain(), this.opts.batchMs);
      else setImmediate(() => this.drain());
    }
  }

  /** flushed - resolves when everything queued so far is written (or dropped). */
  flushed(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private takeBatch(): { buf: Buffer; count: number } {
    const text = this.queue.join('\n') + '\n';
    const count = this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    return { buf: Buffer.from(text), count };
  }

  private reportDropped(): void {
    if (this.dropped > 0) {
      const n = this.dropped;
      this.dropped = 0;
      this.opts.onError?.(`logfile '${this.path}': write queue full`, n);
    }
  }

  private drain(): void {
    if (this.queue.length === 0) {
      this.busy = false;
      this.reportDropped();
      const w = this.waiters;
      this.waiters = [];
      for (const resolve of w) resolve();
      return;
    }
    const { buf, count } = this.takeBatch();
    const oneShot = this.opts.oneShot && this.path !== STDOUT_PATH;
    let fd = this.fd;
    if (fd < 0 || oneShot) {
      try {
        fd = openLogfile(this.path);
      } catch (e) {
        this.opts.onError?.((e as Error).message, count);
        setImmediate(() => this.drain());
        return;
      }
      if (!oneShot) this.fd = fd;
    }
    this.writeAsync(fd, buf, count, 0, 0, () => {
      if (oneShot && fd > 1) fs.close(fd, () => undefined);
      this.drain();
    });
  }

  private writeAsync(fd: number, buf: Buffer, count: number, off: number, retries: number, done: () => void): void {
    fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
      if (err) {
        if (err.code === 'EAGAIN' && retries < 2000) {
          setTimeout(() => this.writeAsync(fd, buf, count, off, retries + 1, done), 5);
          return;
        }
        this.opts.onError?.(`logfile '${this.path}' write error: ${why(err)}`, count);
        done();
        return;
      }
      if (off + n < buf.length) this.writeAsync(fd, buf, count, off + n, retries, done);
      else done();
    });
  }

  /** flushSync - write what is queued now, synchronously (exit and fatal paths). */
  flushSync(): void {
    if (this.queue.length === 0) return;
    const { buf, count } = this.takeBatch();
    let fd = this.fd;
    try {
      if (fd < 0) fd = openLogfile(this.path);
      writeAllSync(fd, buf);
    } catch (e) {
      this.opts.onError?.((e as Error).message, count);
    } finally {
      if (fd > 1 && fd !== this.fd) fs.closeSync(fd);
    }
  }

  /** close - flush synchronously and close the file. */
  close(): void {
    this.flushSync();
    if (this.fd > 1) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * iostuff - small descriptor helpers (after Postfix util/iostuff.h): a close
 * whose error nobody can act on, and an fsync that waits for the disk on the
 * thread pool instead of the event loop.
 */

import { closeSync, fsync } from 'node:fs';

/** closeQuietly - close a descriptor on a clean-up path, ignoring errors. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed, or an error that nothing can be done about here
  }
}

/** fsyncAsync - fsync on the thread pool: the one queue-file step that waits for the disk. */
export function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

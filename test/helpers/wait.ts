/**
 * wait - polling helpers shared by the tests that wait for a running
 * instance to reach a state (a log line, a file, a process): every wait is
 * bounded and says what it waited for, with context (the maillog) when it
 * gives up.
 */

import { existsSync, readFileSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** give up after this long (default 20 s) */
  timeoutMs?: number;
  /** poll this often (default 50 ms) */
  intervalMs?: number;
  /** text appended to the timeout error, e.g. () => inst.readLog() */
  context?: () => string;
}

/**
 * waitUntil - poll fn until it gives a value (anything but undefined or
 * false) and return that value; throw "timed out waiting for WHAT" when the
 * time is up.
 */
export async function waitUntil<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const end = Date.now() + (opts.timeoutMs ?? 20000);
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) {
      const context = opts.context ? `\n--- maillog:\n${opts.context()}` : '';
      throw new Error(`timed out waiting for ${what}${context}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

/** readOr - a file's text, or "" while it does not exist. */
export function readOr(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

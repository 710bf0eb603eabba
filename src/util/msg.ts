/**
 * msg - diagnostic interface (Postfix util/msg.c, msg_output.c).
 *
 * Every program logs through this module: msg.info / warn / error / fatal /
 * panic, with the Postfix severity prefixes ("warning: ", "error: ", ...).
 * Output back-ends (stderr, maillog client, syslog) register themselves with
 * msgAddOutput(); this module only formats the text and fans it out.
 * It must never block the caller: back-ends queue or write small lines.
 */

export type Severity = 'info' | 'warning' | 'error' | 'fatal' | 'panic';

/** A back-end receives the severity and the complete text (prefix included). */
export type MsgOutput = (severity: Severity, text: string) => void;

/** Thrown by msg.fatal() when a program installed a fatal hook that throws. */
export class FatalError extends Error {
  constructor(message: string, readonly status = 1) {
    super(message);
    this.name = 'FatalError';
  }
}

const outputs: MsgOutput[] = [];
const cleanupHooks: Array<() => void> = [];
let errorCount = 0;

/** msg_verbose: raised by -v flags, read by code that logs debug detail. */
export let msgVerbose = 0;

export function setMsgVerbose(level: number): void {
  msgVerbose = level;
}

/** msgAddOutput - register a back-end; returns a function that removes it. */
export function msgAddOutput(output: MsgOutput): () => void {
  outputs.push(output);
  return () => {
    const i = outputs.indexOf(output);
    if (i >= 0) outputs.splice(i, 1);
  };
}

/** msgResetOutputs - drop every back-end (tests, re-initialisation). */
export function msgResetOutputs(): void {
  outputs.length = 0;
}

/** msgCleanup - run this before exiting on a fatal error (flush logs, remove temp files). */
export function msgCleanup(hook: () => void): void {
  cleanupHooks.push(hook);
}

const PREFIX: Record<Severity, string> = {
  info: '',
  warning: 'warning: ',
  error: 'error: ',
  fatal: 'fatal: ',
  panic: 'panic: ',
};

function emit(severity: Severity, text: string): void {
  const line = PREFIX[severity] + text;
  for (const out of outputs) {
    try {
      out(severity, line);
    } catch {
      // A broken log back-end must not take the program down with it.
    }
  }
}

function runCleanup(): void {
  while (cleanupHooks.length > 0) {
    const hook = cleanupHooks.pop()!;
    try {
      hook();
    } catch {
      // best effort on the way out
    }
  }
}

/** What fatal() does after logging: exit by default; tests and libraries may throw instead. */
let fatalAction: (text: string, status: number) => never = (_text, status) => {
  runCleanup();
  process.exit(status);
};

export function setFatalAction(action: (text: string, status: number) => never): void {
  fatalAction = action;
}

/**
 * msgPrintf - log text at any severity without the side effects of that
 * severity (no error count, no exit): Postfix msg_printf(), used by postlog.
 */
export function msgPrintf(severity: Severity, text: string): void {
  emit(severity, text);
}

export const msg = {
  info(text: string): void {
    emit('info', text);
  },
  warn(text: string): void {
    emit('warning', text);
  },
  /** error - like warn, but after 13 errors the program gives up (as Postfix). */
  error(text: string): void {
    emit('error', text);
    if (++errorCount >= 13) msg.fatal('too many errors - program terminated');
  },
  fatal(text: string, status = 1): never {
    emit('fatal', text);
    return fatalAction(text, status);
  },
  panic(text: string): never {
    emit('panic', text);
    runCleanup();
    process.abort();
  },
  /** debug - info-level text that only appears at the given verbosity. */
  debug(level: number, text: string): void {
    if (msgVerbose >= level) emit('info', text);
  },
};

/**
 * sys_exits - sysexits(3) codes as Postfix reports them (Postfix
 * global/sys_exits.c): the enhanced status code and the text that a
 * delivery agent gives for a command's exit status.
 */

import { constants as osConstants } from 'node:os';

/** SYS_EXITS - exit status to [dsn, text]. */
export const SYS_EXITS: Readonly<Record<number, readonly [string, string]>> = {
  64: ['5.3.0', 'command line usage error'],
  65: ['5.6.0', 'data format error'],
  66: ['5.3.0', 'cannot open input'],
  67: ['5.1.1', 'user unknown'],
  68: ['5.1.2', 'host name unknown'],
  69: ['5.3.0', 'service unavailable'],
  70: ['5.3.0', 'internal software error'],
  71: ['4.3.0', 'system resource problem'],
  72: ['5.3.0', 'critical OS file missing'],
  73: ['5.2.0', "can't create user output file"],
  74: ['5.3.0', 'input/output error'],
  75: ['4.3.0', 'temporary failure'],
  76: ['5.5.0', 'remote error in protocol'],
  77: ['5.7.0', 'permission denied'],
  78: ['5.3.5', 'local configuration error'],
};

/** The outcome of a command that did not exit 0 (Postfix pipe_command's result and DSN diagnostic). */
export interface CommandFailure {
  kind: 'defer' | 'bounce';
  dsn: string;
  text: string;
  /** the x-unix diagnostic: the command output, else the sysexits text */
  diagText: string;
}

/**
 * commandFailure - what a delivery agent reports for a command that timed
 * out, died on a signal or exited non-zero (Postfix pipe_command, shared by
 * local(8) and pipe(8)): a time limit bounces, a signal defers, "D.S.N text"
 * output chooses the status, sysexits(3) codes use their table entry, any
 * other status bounces. `output` is the command output as the caller shows it.
 */
export function commandFailure(command: string, code: number | null, signal: NodeJS.Signals | null, output: string, timedOut: boolean): CommandFailure {
  const has = output.trim() !== '';
  const suffix = has ? `. Command output: ${output}` : '';
  const software = SYS_EXITS[70][1];
  if (timedOut) return { kind: 'bounce', dsn: '5.3.0', text: `Command time limit exceeded: "${command}"${suffix}`, diagText: has ? output : software };
  if (signal) return { kind: 'defer', dsn: '4.3.0', text: `Command died with signal ${osConstants.signals[signal] ?? 0}: "${command}"${suffix}`, diagText: has ? output : software };
  const dsnOut = /^([45]\.\d{1,3}\.\d{1,3})(?:\s+(.*))?$/.exec(output);
  if (dsnOut) {
    const text = dsnOut[2] ?? '';
    return { kind: dsnOut[1].startsWith('4') ? 'defer' : 'bounce', dsn: dsnOut[1], text, diagText: text };
  }
  const known = code !== null ? SYS_EXITS[code] : undefined;
  if (known) return { kind: known[0].startsWith('4') ? 'defer' : 'bounce', dsn: known[0], text: `${known[1]}${suffix}`, diagText: has ? output : known[1] };
  return { kind: 'bounce', dsn: '5.3.0', text: `Command died with status ${code}: "${command}"${suffix}`, diagText: has ? output : `unknown mail system error ${code}` };
}

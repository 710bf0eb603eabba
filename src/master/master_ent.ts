/**
 * master_ent - master.cf entries as master runs them (Postfix
 * master/master_ent.c).
 *
 * The syntax is read by the shared reader src/global/master_cf.ts; this
 * module turns its entries into what master needs and builds the child's
 * command line the way Postfix does:
 * `command [-l] [-z] [-n name] -t type [-v] [-u] [-c] args...`.
 */

import { parseMasterCf, serviceKey as cfServiceKey, MasterCfError, type MasterEntry as CfEntry } from '../global/master_cf.js';

export { MasterCfError };

export type ServiceType = 'inet' | 'unix' | 'unix-dgram' | 'fifo' | 'pass';

/** One master.cf service, resolved. */
export interface MasterEntry {
  /** service name as written (inet: [host:]port) */
  name: string;
  type: ServiceType;
  private: boolean;
  unpriv: boolean;
  chroot: boolean;
  /** wakeup seconds, 0 = none */
  wakeup: number;
  /** "?" after the wakeup time: only once the service was used */
  condWakeup: boolean;
  /** maxproc resolved with default_process_limit; 0 = no limit */
  maxproc: number;
  command: string;
  /** arguments after the command, as master passes them */
  args: string[];
  /** identity: canonical name and type */
  key: string;
  line: number;
}

function fromCf(e: CfEntry): MasterEntry {
  return {
    name: e.service,
    type: e.type,
    private: e.private,
    unpriv: e.unpriv,
    chroot: e.chroot,
    wakeup: e.wakeup,
    condWakeup: e.wakeupConditional,
    maxproc: e.maxproc,
    command: e.command,
    args: e.args,
    key: cfServiceKey(e),
    line: e.line,
  };
}

/**
 * parseMasterEntries - master.cf text to entries (throws MasterCfError with
 * master's fatal text). Duplicates are reported through `warn`; the last
 * entry wins.
 */
export function parseMasterEntries(
  text: string,
  path: string,
  defaultProcessLimit: number,
  compatibilityLevel: string,
  warn: (text: string) => void,
): MasterEntry[] {
  return parseMasterCf(text, path, { defaultProcessLimit, compatibilityLevel, warn }).map(fromCf);
}

/** serviceKey - the identity of a service. */
export function serviceKey(e: MasterEntry): string {
  return e.key;
}

/** childArgs - the daemon's argv after the program, as master_ent.c builds it. */
export function childArgs(e: MasterEntry, verbose: number): string[] {
  const argv: string[] = [];
  if (e.maxproc === 1) argv.push('-l');
  if (e.maxproc === 0) argv.push('-z');
  const base = e.command.slice(e.command.lastIndexOf('/') + 1);
  if (base !== e.name) argv.push('-n', e.name);
  argv.push('-t', e.type);
  for (let i = 0; i < verbose; i++) argv.push('-v');
  if (e.unpriv) argv.push('-u');
  if (e.chroot) argv.push('-c');
  argv.push(...e.args);
  return argv;
}

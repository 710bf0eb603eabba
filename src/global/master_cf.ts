/**
 * master_cf - master.cf reader and writer (Postfix master/master_ent.c for
 * the meaning of the fields, postconf/postconf_master.c for the normalised
 * form that `postconf -M` prints and edits).
 *
 * A logical line (continuation lines start with whitespace; # lines are
 * comments) has 8 fields: service type private unpriv chroot wakeup maxproc
 * command [args...]. "-" selects the default: private y, unpriv y, chroot n
 * (y below compatibility level 1), wakeup 0, maxproc $default_process_limit.
 * Arguments are split on blanks; "{ text with blanks }" is one argument.
 * `-o name=value` and `-o { name = value }` override main.cf for the service.
 *
 * parseMasterCf() returns typed entries for master; errors carry master's
 * fatal texts ("/etc/postfix/master.cf: line 3: field "private": bad value:
 * "x""). A duplicate service logs Postfix's warning and the last entry wins,
 * in the position of the first. Must never: touch the network or the queue.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import { errnoText, logicalLines, splitNameval } from './mail_conf.js';
import { compatLevelValue } from './mac_expand.js';

export type MasterServiceType = 'inet' | 'unix' | 'unix-dgram' | 'fifo' | 'pass';
export const MASTER_TYPES: MasterServiceType[] = ['unix', 'fifo', 'inet', 'pass', 'unix-dgram'];

/** One `-o name=value` service override, in master.cf order. */
export interface MasterOverride {
  name: string;
  value: string;
}

export interface MasterEntry {
  /** service name as written (for inet: [host:]port) */
  service: string;
  type: MasterServiceType;
  private: boolean;
  unpriv: boolean;
  chroot: boolean;
  /** wakeup interval in seconds, 0 = none */
  wakeup: number;
  /** wakeup field ended in "?": send wake-ups only after the service was used */
  wakeupConditional: boolean;
  /** process limit, 0 = no limit */
  maxproc: number;
  /** program name (the command field) */
  command: string;
  /** the arguments after the program name, { } groups extracted, as master passes them */
  args: string[];
  /** the -o overrides in order */
  overrides: MasterOverride[];
  /** other daemon options (-v, -D, -S ...) before the first non-option argument */
  flags: string[];
  /** inet only: bind host ("" = every interface) and port */
  host?: string;
  port?: string;
  /** the first seven fields as written ("-" kept), for postconf */
  fields: string[];
  /** the physical line number where the entry starts, and its logical text */
  line: number;
  text: string;
}

/** A master.cf error; the message is master's fatal text without the program prefix. */
export class MasterCfError extends Error {}

export interface MasterCfOptions {
  /** $default_process_limit (for maxproc "-"); default 100 */
  defaultProcessLimit?: number;
  /** $compatibility_level (chroot "-" is y below level 1); default "3.7" */
  compatibilityLevel?: string;
  /** warning sink (default msg.warn) */
  warn?: (text: string) => void;
}

const BLANKS = ' \t\r\n';

/**
 * splitQuoted - Postfix mystrtokq() with {} grouping: split on blanks, but
 * keep a { ... } group (with its blanks) inside one token.
 */
export function splitQuoted(text: string, blanks = BLANKS): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && blanks.includes(text[i])) i++;
    if (i >= text.length) break;
    let level = 0;
    const start = i;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '{') level++;
      else if (c === '}') {
        if (level > 0) level--;
      } else if (level === 0 && blanks.includes(c)) break;
    }
    out.push(text.slice(start, i));
  }
  return out;
}

/** extpar - Postfix extpar(): the text inside a leading { } with blanks trimmed, or an error text. */
export function extpar(text: string): { text: string; err?: string } {
  if (text[0] !== '{') return { text, err: `no '{' at start of text in "${text}"` };
  let level = 0;
  let end = -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '{') level++;
    else if (text[i] === '}' && --level === 0) {
      end = i;
      break;
    }
  }
  if (end < 0) return { text: text.slice(1).trim(), err: `missing '}' in "${text}"` };
  const inner = text.slice(1, end).trim();
  if (end !== text.length - 1) return { text: inner, err: `syntax error after '}' in "${text}"` };
  return { text: inner };
}

/** servicePort - a port name from /etc/services to its number (for duplicate detection); the name if unknown. */
let servicesCache: Map<string, string> | undefined;
function servicePort(port: string): string {
  if (/^[0-9]+$/.test(port)) return String(Number(port));
  if (!servicesCache) {
    servicesCache = new Map();
    try {
      for (const line of readFileSync('/etc/services', 'utf8').split('\n')) {
        const m = /^([^\s#]+)\s+([0-9]+)\/tcp\b([^#]*)/.exec(line);
        if (!m) continue;
        for (const n of [m[1], ...m[3].trim().split(/\s+/).filter(Boolean)]) {
          if (!servicesCache.has(n)) servicesCache.set(n, m[2]);
        }
      }
    } catch {
      /* no services file: names stay names */
    }
  }
  return servicesCache.get(port) ?? port;
}

/** hostPort - Postfix host_port() for "[host]:port", "host:port" or "port"; an error text on bad syntax. */
export function hostPort(name: string): { host: string; port: string } | string {
  let host = '';
  let port: string;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close < 0) return 'missing "]"';
    host = name.slice(1, close);
    const rest = name.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return 'garbage after "]"';
    port = rest.slice(1);
    if (!host.includes(':') && !/^[0-9.]+$/.test(host)) return 'malformed IPv6 address';
  } else {
    const colon = name.lastIndexOf(':');
    if (colon >= 0) {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
      if (host === '') return 'missing host information';
    } else port = name;
  }
  if (port === '') return 'missing service information';
  if (/^[0-9]/.test(port) && !/^[0-9]+$/.test(port)) return 'garbage after numerical service';
  return { host, port };
}

/** normalizeArgs - postconf's canonical daemon arguments: "-oname=value" split, { } extracted, "name = value" joined. */
export function normalizeArgs(args: string[], warn: (text: string) => void = () => {}): string[] {
  const argv = [...args];
  let field = 0;
  for (; field < argv.length; field++) {
    const arg = argv[field];
    if (arg[0] !== '-' || arg === '--') break;
    const oPos = arg.indexOf('o', 1);
    if (oPos > 1) {
      argv.splice(field + 1, 0, '-' + arg.slice(oPos));
      argv[field] = arg.slice(0, oPos);
      continue;
    }
    if (arg[1] !== 'o') continue;
    let extract = false;
    if (arg.length > 2) {
      argv.splice(field + 1, 0, arg.slice(2));
      argv[field] = '-o';
      field++;
      extract = argv[field][0] === '{';
    } else if (field + 1 < argv.length) {
      field++;
      extract = argv[field][0] === '{';
    }
    if (extract) {
      const r = extpar(argv[field]);
      if (r.err) warn(`master.cf: ${r.err}`);
      const nv = splitNameval(r.text);
      if (typeof nv === 'string') {
        warn(`master.cf: ${nv}: "${r.text}"`);
        argv[field] = r.text;
      } else argv[field] = `${nv.name}=${nv.value}`;
    }
  }
  for (; field < argv.length; field++) {
    if (argv[field][0] === '{') {
      const r = extpar(argv[field]);
      if (r.err) warn(`master.cf: ${r.err}`);
      argv[field] = r.text;
    }
  }
  return argv;
}

/** parseEntry - one logical master.cf line to an entry; throws MasterCfError (text without the file context). */
function parseEntry(text: string, line: number, opts: MasterCfOptions): MasterEntry {
  const toks = splitQuoted(text);
  const names = ['service', 'transport type', 'private', 'unprivileged', 'chroot', 'wakeup_time', 'max_proc', 'command'];
  for (let f = 1; f < 8; f++) if (toks[f] === undefined) throw new MasterCfError(`missing "${names[f]}" field`);
  const [service, typeText, privText, unprivText, chrootText, wakeText, procText, command] = toks;
  if (command === '-') throw new MasterCfError('field "command" has no default value');
  if (typeText === '-') throw new MasterCfError('field "transport type" has no default value');
  if (!(MASTER_TYPES as string[]).includes(typeText)) throw new MasterCfError(`bad transport type: ${typeText}`);
  const type = typeText as MasterServiceType;
  const bool = (name: string, v: string, def: string): boolean => {
    const x = v === '-' ? def : v;
    if (x === 'y') return true;
    if (x === 'n') return false;
    throw new MasterCfError(`field "${name}": bad value: "${v}"`);
  };
  const priv = bool('private', privText, 'y');
  let host: string | undefined;
  let port: string | undefined;
  if (type === 'inet') {
    const hp = hostPort(service);
    if (typeof hp === 'string') throw new MasterCfError(`${hp} in "${service}"`);
    host = hp.host;
    port = hp.port;
    if (priv) throw new MasterCfError('inet service cannot be private');
  }
  const unpriv = bool('unprivileged', unprivText, 'y');
  let level = 0;
  try {
    level = compatLevelValue(opts.compatibilityLevel ?? '3.7');
  } catch {
    level = compatLevelValue('3.7');
  }
  const chroot = bool('chroot', chrootText, level < compatLevelValue('1') ? 'y' : 'n');
  const int = (name: string, v: string, def: string): number => {
    const x = v === '-' ? def : v;
    if (!/^[0-9]/.test(x)) throw new MasterCfError(`field "${name}": bad value: "${v}"`);
    return parseInt(x, 10);
  };
  const wakeup = int('wakeup_time', wakeText, '0');
  const wakeupConditional = wakeup > 0 && wakeText.endsWith('?');
  const maxproc = int('max_proc', procText, String(opts.defaultProcessLimit ?? 100));
  const rawArgs = toks.slice(8);
  const args: string[] = [];
  for (const a of rawArgs) {
    if (a[0] === '{') {
      const r = extpar(a);
      if (r.err) throw new MasterCfError(r.err);
      args.push(r.text);
    } else args.push(a);
  }
  const overrides: MasterOverride[] = [];
  const flags: string[] = [];
  const norm = normalizeArgs(rawArgs);
  for (let i = 0; i < norm.length; i++) {
    const a = norm[i];
    if (a[0] !== '-' || a === '--') break;
    if (a === '-o' && i + 1 < norm.length) {
      const nv = norm[++i];
      const eq = nv.indexOf('=');
      if (eq > 0) overrides.push({ name: nv.slice(0, eq).trim(), value: nv.slice(eq + 1).trim() });
      continue;
    }
    flags.push(a);
  }
  return {
    service,
    type,
    private: priv,
    unpriv,
    chroot,
    wakeup,
    wakeupConditional,
    maxproc,
    command,
    args,
    overrides,
    flags,
    ...(type === 'inet' ? { host, port } : {}),
    fields: toks.slice(0, 7),
    line,
    text,
  };
}

/** serviceKey - the identity master uses for duplicate detection (canonical name and type). */
export function serviceKey(e: MasterEntry): string {
  if (e.type === 'inet') {
    const port = servicePort(e.port ?? '');
    return `${e.host ? `[${e.host}]:${port}` : port}/inet`;
  }
  return `${e.service}/${e.type}`;
}

/**
 * parseMasterCf - master.cf text to entries, in file order. Throws
 * MasterCfError("PATH: line N: ...") on a bad line; warns about duplicates.
 */
export function parseMasterCf(text: string, path: string, opts: MasterCfOptions = {}): MasterEntry[] {
  const warn = opts.warn ?? ((t: string) => msg.warn(t));
  const entries: MasterEntry[] = [];
  const index = new Map<string, number>();
  for (const { text: lineText, lineNo } of logicalLines(text, path, warn)) {
    let e: MasterEntry;
    try {
      e = parseEntry(lineText, lineNo, opts);
    } catch (err) {
      if (err instanceof MasterCfError) throw new MasterCfError(`${path}: line ${lineNo}: ${err.message}`);
      throw err;
    }
    const key = serviceKey(e);
    const at = index.get(key);
    if (at !== undefined) {
      const name = key.slice(0, key.lastIndexOf('/'));
      warn(`duplicate master.cf entry for service "${e.service}" (${name}) -- using the last entry`);
      entries[at] = e;
    } else {
      index.set(key, entries.length);
      entries.push(e);
    }
  }
  return entries;
}

/** readMasterCf - read and parse $configDir/master.cf; open and syntax errors are fatal, as in master. */
export function readMasterCf(configDir: string, opts: MasterCfOptions = {}): MasterEntry[] {
  const path = join(configDir, 'master.cf');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return msg.fatal(`open ${path}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  try {
    return parseMasterCf(text, path, opts);
  } catch (e) {
    if (e instanceof MasterCfError) return msg.fatal(e.message);
    throw e;
  }
}

/* ------------------------------------------------------------------ */
/* postconf's view: entries as written, normalised, and their printing. */

/** A master.cf logical line as postconf sees it: 7 fields + command + normalised arguments. */
export interface PcfMasterEntry {
  /** fields[0..7]: service type private unpriv chroot wakeup maxproc command; then the arguments */
  argv: string[];
  line: number;
  text: string;
}

export const PCF_LINE_LIMIT = 80;
export const PCF_INDENT = '    ';
const COLUMN_GOAL = [0, 11, 17, 25, 33, 41, 49, 57];
const FIELD_NAMES = ['service', 'type', 'private', 'unprivileged', 'chroot', 'wakeup', 'process_limit', 'command'];
export { FIELD_NAMES as MASTER_FIELD_NAMES };

/** checkPcfEntry - postconf's per-field checks; the error text, or undefined when the entry is fine. */
export function checkPcfEntry(argv: string[], raw: string): string | undefined {
  const oneLine = (s: string): string => s.replace(/\n/g, ' ');
  if (!(MASTER_TYPES as string[]).includes(argv[1])) return oneLine(`invalid type field "${argv[1]}" in "${raw}"`);
  for (let f = 2; f <= 4; f++) {
    if (argv[f].length !== 1 || !'yn-'.includes(argv[f])) return oneLine(`invalid ${FIELD_NAMES[f]} field "${argv[f]}" in "${raw}"`);
  }
  const w = argv[5];
  const len = w.endsWith('?') ? w.length - 1 : w.length;
  if (!(w[0] === '-' && len === 1) && !/^[0-9]*$/.test(w.slice(0, len))) return oneLine(`invalid wakeup field "${w}" in "${raw}"`);
  if (argv[6] !== '-' && !/^[0-9]*$/.test(argv[6])) return oneLine(`invalid process_limit field "${argv[6]}" in "${raw}"`);
  return undefined;
}

/** parsePcfEntry - one logical line in postconf's normalised form; "bad field count" or a check error. */
export function parsePcfEntry(text: string, line: number, warn: (t: string) => void): PcfMasterEntry | { err: string; fatal?: boolean } {
  const toks = splitQuoted(text);
  if (toks.length < 8) return { err: 'bad field count' };
  const bad = checkPcfEntry(toks, text);
  if (bad) return { err: bad, fatal: true };
  return { argv: [...toks.slice(0, 8), ...normalizeArgs(toks.slice(8), warn)], line, text };
}

/**
 * formatPcfEntry - Postfix pcf_print_master_entry(): aligned columns, -o
 * options on their own (folded) lines. Like Postfix, the display form does
 * not put { } around the first non-option argument even when it has blanks;
 * `forWriting` (master.cf edits) keeps them, so an edit never changes how
 * the arguments group.
 */
export function formatPcfEntry(
  argv: string[],
  fold: boolean,
  expandValue?: (value: string) => string,
  forWriting = false,
): string {
  let out = '';
  let lineLen = 0;
  const add = (t: string): void => {
    out += t;
    lineLen += t.length;
  };
  let field = 0;
  for (; field < 8; field++) {
    if (lineLen > 0) {
      do add(' ');
      while (lineLen < COLUMN_GOAL[field]);
    }
    add(argv[field]);
  }
  let inOptions = true;
  for (; field < argv.length; field++) {
    const arg = argv[field];
    let argLen = arg.length;
    let aval: string | undefined;
    let needParens = false;
    if (inOptions) {
      if (arg[0] !== '-' || arg === '--') {
        inOptions = false;
        needParens = forWriting && /[ \t\r\n]/.test(arg);
      } else if (arg[1] === 'o' && field + 1 < argv.length) {
        aval = argv[field + 1];
        lineLen = PCF_LINE_LIMIT;
        if (arg === '-o' && expandValue) aval = expandValue(aval);
        argLen += aval.length + 3;
        needParens = /[ \t\r\n]/.test(aval);
        if (needParens) argLen += 2;
      }
    } else needParens = /[ \t\r\n]/.test(arg);
    if (lineLen > PCF_INDENT.length) {
      if (!fold || lineLen + 1 + argLen < PCF_LINE_LIMIT) add(' ');
      else {
        out += '\n' + PCF_INDENT;
        lineLen = PCF_INDENT.length;
      }
    }
    if (!inOptions && needParens) add('{');
    add(arg);
    if (!inOptions && needParens) add('}');
    if (aval !== undefined) {
      add(' ');
      if (needParens) add('{');
      add(aval);
      if (needParens) add('}');
      field++;
      lineLen = PCF_LINE_LIMIT;
    }
  }
  return out + '\n';
}

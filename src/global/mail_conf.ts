/**
 * mail_conf - main.cf reader and typed parameter access (Postfix
 * global/mail_conf.c, mail_conf_{str,raw,int,long,bool,time,nint,nbool}.c,
 * util/readlline.c, util/split_nameval.c, util/dict.c dict_load_fp()).
 *
 * A MailConfig holds these layers, looked up in this order: read-only
 * run-time values (process_name, process_id, service_name), per-service
 * overrides (master.cf `-o name=value`, command-line `-o`), main.cf, other
 * run-time values (config_directory), and the built-in defaults of the
 * parameter registry. Values are stored raw and expanded lazily when read,
 * exactly as Postfix does ($name, ${name?x}, ${name:x}, relational forms).
 *
 * Errors in values are fatal (msg.fatal) with Postfix's texts, because a
 * daemon with a broken configuration must die and let master throttle it.
 * The configuration directory is the `configDir` argument, else
 * $MAIL_CONFIG, else the built-in default (`-c DIR` in a program sets
 * MAIL_CONFIG, as Postfix does, so its children see the same instance).
 */

import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { msg } from '../util/msg.js';
import { compatLevelValue, macExpandEx, MacroError } from './mac_expand.js';
import { lookupParam, type ParamDef } from './mail_params.js';
import { installDefaults } from './install_defaults.js';

/** Postfix CONFIG_DICT: the name used in "dictionary mail_dict: macro processing error". */
export const CONFIG_DICT = 'mail_dict';

/** One `name = value` logical line of main.cf, with the number of its first physical line. */
export interface MainCfEntry {
  name: string;
  value: string;
  line: number;
}

/** A main.cf syntax error; the message is Postfix's fatal text. */
export class ConfigFileError extends Error {}

/** Extra limits for a parameter that the registry does not know (per-transport names and the like). */
export interface ParamOpts {
  /** raw default used when no layer defines the name */
  def?: string;
  min?: number;
  max?: number;
}

/**
 * logicalLines - Postfix readllines(): a logical line starts with a
 * non-blank; following lines that start with whitespace continue it (the
 * newline is dropped, the text is kept as is); comment lines and blank lines
 * are skipped, also inside a continued line. A logical line that starts with
 * whitespace draws a warning and is skipped. The line number is that of the
 * first non-blank physical line.
 */
export function logicalLines(
  text: string,
  path = 'main.cf',
  warn: (text: string) => void = (t) => msg.warn(t),
): Array<{ text: string; lineNo: number }> {
  const out: Array<{ text: string; lineNo: number }> = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let cur: { text: string; lineNo: number } | undefined;
  const flush = (): void => {
    if (!cur) return;
    if (/^\s/.test(cur.text)) {
      const t = cur.text;
      warn(`${path}: logical line must not start with whitespace: "${t.slice(0, 30)}${t.length > 30 ? '...' : ''}"`);
    } else out.push(cur);
    cur = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const trimmed = raw.replace(/^\s+/, '');
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const continues = /^\s/.test(raw);
    if (cur && continues) {
      cur.text += raw;
      continue;
    }
    flush();
    cur = { text: raw, lineNo: i + 1 };
  }
  flush();
  return out;
}

/** splitNameval - Postfix split_nameval(): name and trimmed value, or the error text. */
export function splitNameval(line: string): { name: string; value: string } | string {
  const m = /^\s*([^\s=]*)\s*(=?)/.exec(line)!;
  if (m[1] === '') return 'missing attribute name';
  if (m[2] !== '=') return "missing '=' after attribute name";
  const value = line.slice(m[0].length).replace(/^\s+/, '').replace(/\s+$/, '');
  return { name: m[1], value };
}

/**
 * parseMainCf - main.cf text to entries in file order. A syntax error throws
 * ConfigFileError with Postfix's text; a name defined again with a different
 * value draws Postfix's "overriding earlier entry" warning.
 */
export function parseMainCf(text: string, path: string, warn: (text: string) => void = (t) => msg.warn(t)): MainCfEntry[] {
  const entries: MainCfEntry[] = [];
  const seen = new Map<string, string>();
  for (const { text: line, lineNo } of logicalLines(text, path, warn)) {
    const r = splitNameval(line);
    if (typeof r === 'string') throw new ConfigFileError(`${path}, line ${lineNo}: ${r}: "${line}"`);
    const old = seen.get(r.name);
    if (old !== undefined && old !== r.value) warn(`${path}, line ${lineNo}: overriding earlier entry: ${r.name}=${old}`);
    seen.set(r.name, r.value);
    entries.push({ name: r.name, value: r.value, line: lineNo });
  }
  return entries;
}

/** defaultConfigDirectory - the instance chosen by MAIL_CONFIG, else the built-in default. */
export function defaultConfigDirectory(): string {
  return process.env.MAIL_CONFIG || installDefaults.config_directory;
}

/** selectConfigDir - a program's `-c DIR`: MAIL_CONFIG for this process and its children, as Postfix does. */
export function selectConfigDir(dir: string): void {
  process.env.MAIL_CONFIG = dir;
}

/** strtolPrefix - C strtol(): leading blanks, sign, digits; the number text and what follows, or undefined. */
function strtolPrefix(s: string): { num: bigint; rest: string } | undefined {
  const m = /^[ \t\n\r\f\v]*([+-]?[0-9]+)/.exec(s);
  if (!m) return undefined;
  return { num: BigInt(m[1]), rest: s.slice(m[0].length) };
}

const INT_MAX = 2147483647n;
const INT_MIN = -2147483648n;
const LONG_MAX = 9223372036854775807n;
const LONG_MIN = -9223372036854775808n;

/** convInt - a C int/long parameter value, or undefined on bad syntax or overflow. */
export function convInt(value: string, bits: 32 | 64 = 32): number | undefined {
  const r = strtolPrefix(value);
  if (!r || r.rest !== '') return undefined;
  const [lo, hi] = bits === 32 ? [INT_MIN, INT_MAX] : [LONG_MIN, LONG_MAX];
  if (r.num < lo || r.num > hi) return undefined;
  return Number(r.num);
}

const TIME_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * convTime - Postfix conv_time(): a non-negative number with an optional
 * unit letter (s m h d w; text after the letter is ignored), the default unit
 * for a bare number; seconds, or undefined on bad syntax or overflow.
 */
export function convTime(value: string, defaultUnit: string): number | undefined {
  const r = strtolPrefix(value);
  if (!r || r.num < 0n || r.num > INT_MAX) return undefined;
  const unit = r.rest === '' ? defaultUnit : r.rest[0];
  const mult = TIME_UNITS[unit];
  if (mult === undefined) return undefined;
  const n = Number(r.num);
  if (mult !== 1 && n >= Math.floor(2147483647 / mult)) return undefined;
  return n * mult;
}

/** processNameDefault - basename of the running program (Postfix var_procname). */
function processNameDefault(): string {
  const script = process.argv[1];
  return script ? basename(script).replace(/\.js$/, '') : 'postfix';
}

export class MailConfig {
  readonly configDir: string;
  readonly mainCfPath: string;
  /** the directory came from -c or MAIL_CONFIG (postconf -n then shows config_directory) */
  readonly configDirExplicit: boolean;
  /** main.cf settings, last definition wins */
  readonly mainCf = new Map<string, string>();
  /** main.cf settings in file order (for postconf -n and warnings) */
  readonly mainCfEntries: MainCfEntry[];
  /** -o overrides (master.cf service arguments, command lines) */
  readonly overrides = new Map<string, string>();
  /** run-time parameters (process_name, process_id, service_name, config_directory) */
  readonly runtime = new Map<string, string>();
  private readonly cache = new Map<string, string>();
  /** checked values of str/int/bool/time without options: daemons read some per message */
  private readonly checked = new Map<string, string | number | boolean>();
  private gen = 0;

  private constructor(configDir: string, entries: MainCfEntry[], explicit: boolean) {
    this.configDir = configDir;
    this.configDirExplicit = explicit;
    this.mainCfPath = join(configDir, 'main.cf');
    this.mainCfEntries = entries;
    for (const e of entries) this.mainCf.set(e.name, e.value);
    this.runtime.set('config_directory', configDir);
    this.runtime.set('process_id', String(process.pid));
    this.runtime.set('process_name', processNameDefault());
    this.runtime.set('service_name', '');
  }

  /** load - read $configDir/main.cf; a missing file or a syntax error is fatal, as in Postfix. */
  static load(configDir?: string): MailConfig {
    const explicit = configDir !== undefined || !!process.env.MAIL_CONFIG;
    const dir = configDir ?? defaultConfigDirectory();
    const path = join(dir, 'main.cf');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      return msg.fatal(`open ${path}: ${errnoText(e as NodeJS.ErrnoException)}`);
    }
    try {
      return new MailConfig(dir, parseMainCf(text, path), explicit);
    } catch (e) {
      if (e instanceof ConfigFileError) return msg.fatal(e.message);
      throw e;
    }
  }

  /** fromText - a configuration built from main.cf text (tests, scratch configurations). */
  static fromText(text: string, configDir = installDefaults.config_directory, explicit = false): MailConfig {
    return new MailConfig(configDir, parseMainCf(text, join(configDir, 'main.cf')), explicit);
  }

  /** empty - a configuration with no main.cf at all (postconf -d). */
  static empty(configDir = installDefaults.config_directory): MailConfig {
    return new MailConfig(configDir, [], false);
  }

  /** override - set a -o name=value override (clears the expansion cache). */
  override(name: string, value: string): void {
    this.overrides.set(name, value);
    this.changed();
  }

  /** setRuntime - set a run-time value (service_name from master, process_name ...). */
  setRuntime(name: string, value: string): void {
    this.runtime.set(name, value);
    this.changed();
  }

  /** changed - a value may differ now: drop what was computed from the old ones. */
  private changed(): void {
    this.cache.clear();
    this.checked.clear();
    this.gen++;
  }

  /** generation - changes whenever a value may have changed (for caches of derived settings). */
  get generation(): number {
    return this.gen;
  }

  /** memo - the checked value of a parameter read without options, computed once per generation. */
  private memo<T extends string | number | boolean>(kind: string, name: string, opts: ParamOpts, compute: () => T): T {
    if (opts.def !== undefined || opts.min !== undefined || opts.max !== undefined) return compute();
    const key = kind + name;
    const hit = this.checked.get(key);
    if (hit !== undefined) return hit as T;
    const value = compute();
    this.checked.set(key, value);
    return value;
  }

  /** raw - the unexpanded value: read-only run-time, override, main.cf, run-time, default; undefined if unknown. */
  raw(name: string): string | undefined {
    const def = lookupParam(name);
    if (def?.readonly || name === 'config_directory') {
      const rt = this.runtime.get(name);
      if (rt !== undefined) return rt;
    }
    const o = this.overrides.get(name);
    if (o !== undefined) return o;
    const m = this.mainCf.get(name);
    if (m !== undefined) return m;
    const rt = this.runtime.get(name);
    if (rt !== undefined) return rt;
    return this.defaultRaw(name);
  }

  /** defaultRaw - the built-in default of a registered name (computed ones evaluated), else undefined. */
  defaultRaw(name: string): string | undefined {
    const def = lookupParam(name);
    if (!def) return undefined;
    if (def.fn) {
      const key = `\0default:${name}`;
      const cached = this.cache.get(key);
      if (cached !== undefined) return cached;
      const v = def.fn(
        (n) => this.str(n),
        (n) => this.explicit(n),
      );
      this.cache.set(key, v);
      return v;
    }
    return def.def;
  }

  /** explicit - the expanded value when main.cf or an override sets the name, else undefined. */
  explicit(name: string): string | undefined {
    if (!this.overrides.has(name) && !this.mainCf.has(name)) return undefined;
    return this.str(name);
  }

  /** isDefined - the name has a value in some layer. */
  isDefined(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** isSet - the name is set in main.cf or by an override (not just a default). */
  isSet(name: string): boolean {
    return this.overrides.has(name) || this.mainCf.has(name);
  }

  /**
   * expandEx - expand text against this configuration; returns the value
   * and whether an undefined name was referenced. Throws MacroError.
   */
  expandEx(text: string, opts: { recurse?: boolean; filter?: string } = {}): { value: string; undef: boolean } {
    return macExpandEx(text, (n) => this.raw(n), opts);
  }

  /** expand - expand $name references in arbitrary text; a syntax error is fatal (Postfix dict_eval()). */
  expand(text: string): string {
    try {
      return this.expandEx(text).value;
    } catch (e) {
      if (e instanceof MacroError) {
        msg.warn(e.message);
        return msg.fatal(`dictionary ${CONFIG_DICT}: macro processing error`);
      }
      throw e;
    }
  }

  /** lookupEval - Postfix mail_conf_lookup_eval(): the expanded value, or undefined when no layer defines it. */
  lookupEval(name: string, opts: ParamOpts = {}): string | undefined {
    const cached = this.cache.get(name);
    if (cached !== undefined) return cached;
    const def = lookupParam(name);
    let raw = this.raw(name);
    if (raw === undefined) raw = opts.def;
    if (raw === undefined) return undefined;
    const value = def?.type === 'raw' ? raw : this.expand(raw);
    this.cache.set(name, value);
    return value;
  }

  /**
   * str - the expanded value ("" for unknown names); raw-typed parameters
   * are not expanded. String length limits are checked as in Postfix.
   */
  str(name: string, opts: ParamOpts = {}): string {
    return this.memo('s', name, opts, () => this.strChecked(name, opts));
  }

  private strChecked(name: string, opts: ParamOpts): string {
    const value = this.lookupEval(name, opts) ?? '';
    const def = lookupParam(name);
    const min = opts.min ?? (def?.type === 'str' || def?.type === 'raw' ? def.min : undefined);
    const max = opts.max ?? (def?.type === 'str' || def?.type === 'raw' ? def.max : undefined);
    const len = Buffer.byteLength(value, 'utf8');
    if (def?.type === 'raw') {
      if (min && len < min) msg.fatal(`bad string length (${len} < ${min}): ${name} = ${value}`);
      if (max && len > max) msg.fatal(`bad string length (${len} > ${max}): ${name} = ${value}`);
    } else {
      if (min && len < min) msg.fatal(`bad string length ${len} < ${min}: ${name} = ${value}`);
      if (max && len > max) msg.fatal(`bad string length ${len} > ${max}: ${name} = ${value}`);
    }
    return value;
  }

  private number(name: string, bits: 32 | 64, opts: ParamOpts): number {
    const value = this.lookupEval(name, opts) ?? '';
    const n = convInt(value, bits);
    if (n === undefined) return msg.fatal(`bad numerical configuration: ${name} = ${value}`);
    const def = lookupParam(name);
    const min = opts.min ?? def?.min;
    const max = opts.max ?? def?.max;
    if (min && n < min) msg.fatal(`invalid ${name} parameter value ${n} < ${min}`);
    if (max && n > max) msg.fatal(`invalid ${name} parameter value ${n} > ${max}`);
    return n;
  }

  /** int - an int/nint parameter (C int range), with the registry's (or opts') limits. */
  int(name: string, opts: ParamOpts = {}): number {
    return this.memo('i', name, opts, () => this.number(name, 32, opts));
  }

  /** long - a long parameter (64-bit range; precision beyond 2^53 is not kept). */
  long(name: string, opts: ParamOpts = {}): number {
    return this.number(name, 64, opts);
  }

  /** bool - a bool/nbool parameter: yes or no, in any case. */
  bool(name: string, opts: ParamOpts = {}): boolean {
    return this.memo('b', name, opts, () => this.boolChecked(name, opts));
  }

  private boolChecked(name: string, opts: ParamOpts): boolean {
    const value = this.lookupEval(name, opts) ?? '';
    const v = value.toLowerCase();
    if (v === 'yes') return true;
    if (v === 'no') return false;
    return msg.fatal(`bad boolean configuration: ${name} = ${value}`);
  }

  /** timeUnit - the default unit of a time parameter: the first letter of its expanded default. */
  timeUnit(name: string, opts: ParamOpts = {}): string {
    const def = lookupParam(name);
    if (def?.unit) return def.unit;
    const text = opts.def ?? def?.def;
    if (text === undefined) return 's';
    const m = /[A-Za-z]/.exec(this.expand(text));
    return m ? m[0] : 's';
  }

  /** time - a time value in seconds; a bare number uses the parameter's default unit. */
  time(name: string, opts: ParamOpts = {}): number {
    return this.memo('t', name, opts, () => this.timeChecked(name, opts));
  }

  private timeChecked(name: string, opts: ParamOpts): number {
    const unit = this.timeUnit(name, opts);
    const value = this.lookupEval(name, opts) ?? '';
    const seconds = convTime(value, unit);
    if (seconds === undefined) return msg.fatal(`parameter ${name}: bad time value or unit: ${value}`);
    const def = lookupParam(name);
    const min = opts.min ?? def?.min;
    const max = opts.max ?? def?.max;
    if (min && seconds < min) msg.fatal(`invalid ${name}: ${seconds} (min ${min})`);
    if (max && seconds > max) msg.fatal(`invalid ${name}: ${seconds} (max ${max})`);
    return seconds;
  }

  /** list - the expanded value split into items on whitespace and commas, honouring { } groups. */
  list(name: string): string[] {
    return splitList(this.str(name));
  }

  /** compatLevel - $compatibility_level as a comparable number (see compatLevelValue); malformed is fatal. */
  compatLevel(): number {
    const v = this.str('compatibility_level');
    try {
      return compatLevelValue(v);
    } catch (e) {
      if (e instanceof MacroError) return msg.fatal(e.message);
      throw e;
    }
  }

  /**
   * compatWarnings - Postfix mail_params.c check_legacy_defaults(): the
   * names whose backwards-compatible default is in effect because
   * compatibility_level is low and the name is not set. A daemon that relies
   * on one of these logs Postfix's "using backwards-compatible default
   * setting name=value ..." when it makes a difference. "chroot" stands for
   * the master.cf chroot default (level below 1).
   */
  compatWarnings(): Set<string> {
    const level = this.compatLevel();
    const out = new Set<string>();
    const unset = (n: string): boolean => !this.isSet(n);
    if (level < compatLevelValue('3.6')) {
      for (const n of [
        'smtpd_tls_fingerprint_digest',
        'smtp_tls_fingerprint_digest',
        'lmtp_tls_fingerprint_digest',
        'smtpd_relay_before_recipient_restrictions',
        'respectful_logging',
      ]) {
        if (unset(n)) out.add(n);
      }
    }
    if (level < compatLevelValue('2')) {
      if (unset('relay_domains')) {
        out.add('relay_domains');
        if (unset('fast_flush_domains')) out.add('fast_flush_domains');
      }
      if (unset('mynetworks') && unset('mynetworks_style')) out.add('mynetworks_style');
    }
    if (level < compatLevelValue('1')) {
      if (unset('append_dot_mydomain')) out.add('append_dot_mydomain');
      if (unset('smtputf8_enable')) out.add('smtputf8_enable');
      out.add('chroot');
      if (unset('smtpd_relay_restrictions')) out.add('smtpd_relay_restrictions');
    }
    return out;
  }

  /** validate - read one registered parameter with its type, so a bad value is fatal now rather than later. */
  validate(def: ParamDef): void {
    switch (def.type) {
      case 'int':
      case 'nint':
        this.int(def.name);
        break;
      case 'long':
        this.long(def.name);
        break;
      case 'bool':
      case 'nbool':
        this.bool(def.name);
        break;
      case 'time':
        this.time(def.name);
        break;
      default:
        this.str(def.name);
    }
  }
}

/**
 * splitList - Postfix mystrtokq(): split on whitespace and commas, except
 * inside { } groups, which stay part of their item.
 */
export function splitList(value: string, separators = ' \t\r\n,'): string[] {
  const items: string[] = [];
  let current = '';
  let depth = 0;
  for (const ch of value) {
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    if (depth === 0 && separators.includes(ch)) {
      if (current) items.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  if (current) items.push(current);
  return items;
}

/** stripBraces - "{ text }" to "text" (Postfix extpar()); other strings are returned unchanged. */
export function stripBraces(item: string): string {
  if (item.startsWith('{') && item.endsWith('}')) return item.slice(1, -1).trim();
  return item;
}

/** errnoText - the strerror()-style text Postfix prints for a system error. */
export function errnoText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EEXIST':
      return 'File exists';
    case 'ENOTDIR':
      return 'Not a directory';
    case 'EISDIR':
      return 'Is a directory';
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'EPERM':
      return 'Operation not permitted';
    case 'ENOSPC':
      return 'No space left on device';
    case 'EAGAIN':
      return 'Resource temporarily unavailable';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    case 'EADDRINUSE':
      return 'Address already in use';
    default:
      return err.message;
  }
}

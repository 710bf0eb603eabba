/**
 * mail_conf - main.cf reader and typed parameter access (Postfix
 * global/mail_conf.c, mail_conf_{str,int,bool,time}.c, util/dict_load_file).
 *
 * A MailConfig holds three layers, looked up in this order: per-service
 * overrides (master.cf `-o name=value`, command-line `-o`), main.cf, and the
 * built-in defaults of the parameter registry. Values are stored raw and
 * expanded lazily when read, exactly as Postfix does. Errors in values are
 * fatal (msg.fatal), because a daemon with a broken configuration must die
 * and let master throttle it.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import { macExpand, MacroError } from './mac_expand.js';
import { lookupParam, type ParamDef } from './mail_params.js';
import { installDefaults } from './install_defaults.js';

/** One `name = value` line of main.cf, with where it came from (for postconf -e/-n and warnings). */
export interface MainCfEntry {
  name: string;
  value: string;
  line: number;
}

export class ConfigFileError extends Error {}

/** parseMainCf - split main.cf text into entries; later definitions win in the map, order is kept in the list. */
export function parseMainCf(text: string, path: string): MainCfEntry[] {
  const entries: MainCfEntry[] = [];
  const logical = logicalLines(text);
  for (const { text: line, lineNo } of logical) {
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw new ConfigFileError(`${path}, line ${lineNo}: missing '=' after attribute name: "${line.trim()}"`);
    }
    const name = line.slice(0, eq).trim();
    if (name.length === 0) {
      throw new ConfigFileError(`${path}, line ${lineNo}: missing attribute name before '=' in "${line.trim()}"`);
    }
    if (/\s/.test(name)) {
      throw new ConfigFileError(`${path}, line ${lineNo}: whitespace in attribute name: "${name}"`);
    }
    entries.push({ name, value: line.slice(eq + 1).trim(), line: lineNo });
  }
  return entries;
}

/**
 * logicalLines - join continuation lines (leading whitespace) and drop
 * comments and blank lines (Postfix readlline()). The line number is that of
 * the first physical line.
 */
export function logicalLines(text: string): Array<{ text: string; lineNo: number }> {
  const out: Array<{ text: string; lineNo: number }> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    const trimmed = raw.trimStart();
    if (trimmed.length === 0 || trimmed.startsWith('#')) continue;
    if (raw !== trimmed && out.length > 0) {
      // continuation: the newline goes, the text is appended after a space
      out[out.length - 1].text += ' ' + trimmed.replace(/\s+$/, '');
      continue;
    }
    out.push({ text: raw.replace(/\s+$/, ''), lineNo: i + 1 });
  }
  return out;
}

/** configDirectoryFromEnv - the instance chosen by MAIL_CONFIG, else the built-in default. */
export function defaultConfigDirectory(): string {
  return process.env.MAIL_CONFIG || installDefaults.config_directory;
}

export class MailConfig {
  readonly configDir: string;
  readonly mainCfPath: string;
  /** main.cf settings, last definition wins */
  readonly mainCf = new Map<string, string>();
  /** main.cf settings in file order (for postconf -n and warnings) */
  readonly mainCfEntries: MainCfEntry[];
  /** -o overrides (master.cf service arguments, command lines) */
  readonly overrides = new Map<string, string>();
  /** read-only run-time parameters (process_name, process_id, service_name) */
  readonly runtime = new Map<string, string>();
  private readonly cache = new Map<string, string>();

  private constructor(configDir: string, entries: MainCfEntry[]) {
    this.configDir = configDir;
    this.mainCfPath = join(configDir, 'main.cf');
    this.mainCfEntries = entries;
    for (const e of entries) this.mainCf.set(e.name, e.value);
    this.runtime.set('config_directory', configDir);
    this.runtime.set('process_id', String(process.pid));
  }

  /** load - read $configDir/main.cf; a missing file is fatal, as in Postfix. */
  static load(configDir: string = defaultConfigDirectory()): MailConfig {
    const path = join(configDir, 'main.cf');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return msg.fatal(`open ${path}: ${errnoText(err)}`);
    }
    try {
      return new MailConfig(configDir, parseMainCf(text, path));
    } catch (e) {
      if (e instanceof ConfigFileError) return msg.fatal(e.message);
      throw e;
    }
  }

  /** fromText - a configuration built from main.cf text (tests, postconf -o on a scratch config). */
  static fromText(text: string, configDir = '/etc/postfix'): MailConfig {
    return new MailConfig(configDir, parseMainCf(text, join(configDir, 'main.cf')));
  }

  /** override - set a -o name=value override (clears the expansion cache). */
  override(name: string, value: string): void {
    this.overrides.set(name, value);
    this.cache.clear();
  }

  setRuntime(name: string, value: string): void {
    this.runtime.set(name, value);
    this.cache.clear();
  }

  /** raw - the unexpanded value: override, main.cf, built-in default, run-time; undefined if unknown. */
  raw(name: string): string | undefined {
    if (name === 'config_directory') return this.configDir;
    const o = this.overrides.get(name);
    if (o !== undefined) return o;
    const m = this.mainCf.get(name);
    if (m !== undefined) return m;
    const rt = this.runtime.get(name);
    if (rt !== undefined) return rt;
    const def = lookupParam(name);
    if (def?.fn) return def.fn((n) => this.str(n), (n) => this.explicit(n));
    if (def) return def.def;
    return undefined;
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

  /** expand - expand $name references in arbitrary text against this configuration. */
  expand(text: string): string {
    try {
      return macExpand(text, (n) => this.raw(n));
    } catch (e) {
      if (e instanceof MacroError) return msg.fatal(e.message);
      throw e;
    }
  }

  /** str - the expanded value ("" for unknown names). Raw-typed parameters are not expanded. */
  str(name: string): string {
    const cached = this.cache.get(name);
    if (cached !== undefined) return cached;
    const raw = this.raw(name) ?? '';
    const def = lookupParam(name);
    let value: string;
    try {
      value = def?.type === 'raw' ? raw : macExpand(raw, (n) => this.raw(n));
    } catch (e) {
      if (e instanceof MacroError) return msg.fatal(`parameter ${name}: ${e.message}`);
      throw e;
    }
    if ((def?.type === 'str' || def?.type === 'raw') && def.min && value.length < def.min) {
      msg.fatal(`bad string length ${value.length} < ${def.min}: ${name} = ${value}`);
    }
    this.cache.set(name, value);
    return value;
  }

  int(name: string): number {
    const value = this.str(name).trim();
    if (!/^[+-]?\d+$/.test(value)) return msg.fatal(`bad numerical configuration: ${name} = ${value}`);
    const n = Number(value);
    checkRange(name, n, lookupParam(name));
    return n;
  }

  long(name: string): number {
    return this.int(name);
  }

  bool(name: string): boolean {
    const value = this.str(name).trim().toLowerCase();
    if (value === 'yes' || value === 'true') return true;
    if (value === 'no' || value === 'false') return false;
    return msg.fatal(`bad boolean configuration: ${name} = ${this.str(name)}`);
  }

  /** time - a time value in seconds; a bare number uses the parameter's default unit. */
  time(name: string): number {
    const def = lookupParam(name);
    const value = this.str(name).trim();
    const seconds = convTime(value, def?.unit ?? 's');
    if (seconds === undefined) return msg.fatal(`parameter ${name}: bad time value or unit: ${value}`);
    checkRange(name, seconds, def);
    return seconds;
  }

  /** list - the expanded value split into items on whitespace and commas, honouring { } groups. */
  list(name: string): string[] {
    return splitList(this.str(name));
  }
}

function checkRange(name: string, n: number, def: ParamDef | undefined): void {
  if (!def) return;
  if (def.min !== undefined && def.min !== 0 && n < def.min) {
    msg.fatal(`invalid ${name} parameter value ${n} < ${def.min}`);
  }
  if (def.max !== undefined && def.max !== 0 && n > def.max) {
    msg.fatal(`invalid ${name} parameter value ${n} > ${def.max}`);
  }
}

const TIME_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** convTime - "30", "30s", "5m", "1d" to seconds; undefined on bad syntax. */
export function convTime(value: string, defaultUnit: string): number | undefined {
  const m = /^(\d+)([smhdw]?)$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * TIME_UNITS[m[2] || defaultUnit];
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

/**
 * postconf - Postfix configuration utility (Postfix postconf(1)).
 *
 * Shows main.cf parameters (all, -n non-default, -d defaults, -x expanded,
 * -h/-H values or names only, -f folded), edits main.cf in place (-e, -X,
 * -#) keeping comments and order, shows and edits master.cf entries (-M,
 * -F, -P with -e/-X/-#), and lists the table types (-m), lock methods (-l)
 * and SASL plug-ins (-a/-A) of this build. Warnings for unknown, unused and
 * undefined parameters use Postfix's texts; exit status is 0, or 1 after a
 * fatal error.
 *
 * Must never: leave a half-written main.cf or master.cf (edits go to a
 * temporary file that is renamed over the original).
 */

import { getoptAll as getopt } from '../util/getopt.js';
import { closeSync, existsSync, fstatSync, statSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, chmodSync } from 'node:fs';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { msg, msgAddOutput, setFatalAction, FatalError, setMsgVerbose, msgVerbose } from '../util/msg.js';
import {
  MailConfig,
  ConfigFileError,
  defaultConfigDirectory,
  errnoText,
  logicalLines,
  parseMainCf,
  splitNameval,
  type MainCfEntry,
} from '../global/mail_conf.js';
import { PARAMS, LEGACY_PARAMS, lookupParam, serviceParams, type ParamDef } from '../global/mail_params.js';
import { macExpandEx, MacroError } from '../global/mac_expand.js';
import { installDefaults, packageRoot } from '../global/install_defaults.js';
import {
  MASTER_FIELD_NAMES,
  checkPcfEntry,
  extpar,
  formatPcfEntry,
  normalizeArgs,
  parsePcfEntry,
  splitQuoted,
  PCF_INDENT,
  PCF_LINE_LIMIT,
} from '../global/master_cf.js';

/** fatal - msg.fatal() as a declared never-returning function, so the compiler narrows after it. */
function fatal(text: string): never {
  return msg.fatal(text);
}

/* Command modes (Postfix postconf.h PCF_*). */
export const M = {
  SHOW_NONDEF: 1 << 0,
  SHOW_DEFS: 1 << 1,
  HIDE_NAME: 1 << 2,
  SHOW_MAPS: 1 << 3,
  EDIT_CONF: 1 << 4,
  SHOW_LOCKS: 1 << 5,
  SHOW_EVAL: 1 << 6,
  SHOW_SASL_SERV: 1 << 7,
  SHOW_SASL_CLNT: 1 << 8,
  COMMENT_OUT: 1 << 9,
  MASTER_ENTRY: 1 << 10,
  FOLD_LINE: 1 << 11,
  EDIT_EXCL: 1 << 12,
  MASTER_FLD: 1 << 13,
  MAIN_PARAM: 1 << 14,
  EXP_DSN_TEMPL: 1 << 15,
  PARAM_CLASS: 1 << 16,
  MAIN_OVER: 1 << 17,
  DUMP_DSN_TEMPL: 1 << 18,
  MASTER_PARAM: 1 << 19,
  HIDE_VALUE: 1 << 20,
  SHOW_TLS: 1 << 21,
} as const;

const OPT_NAMES: Array<[string, number]> = [
  ['-a', M.SHOW_SASL_SERV],
  ['-A', M.SHOW_SASL_CLNT],
  ['-b', M.EXP_DSN_TEMPL],
  ['-C', M.PARAM_CLASS],
  ['-d', M.SHOW_DEFS],
  ['-e', M.EDIT_CONF],
  ['-f', M.FOLD_LINE],
  ['-F', M.MASTER_FLD],
  ['-h', M.HIDE_NAME],
  ['-H', M.HIDE_VALUE],
  ['-l', M.SHOW_LOCKS],
  ['-m', M.SHOW_MAPS],
  ['-M', M.MASTER_ENTRY],
  ['-n', M.SHOW_NONDEF],
  ['-o', M.MAIN_OVER],
  ['-p', M.MAIN_PARAM],
  ['-P', M.MASTER_PARAM],
  ['-t', M.DUMP_DSN_TEMPL],
  ['-T', M.SHOW_TLS],
  ['-x', M.SHOW_EVAL],
  ['-X', M.EDIT_EXCL],
  ['-#', M.COMMENT_OUT],
];

const INCOMPAT = [
  M.SHOW_SASL_SERV |
    M.SHOW_SASL_CLNT |
    M.EXP_DSN_TEMPL |
    M.SHOW_LOCKS |
    M.SHOW_MAPS |
    M.DUMP_DSN_TEMPL |
    M.MAIN_PARAM |
    M.MASTER_ENTRY |
    M.MASTER_FLD |
    M.MASTER_PARAM |
    M.SHOW_TLS,
  M.SHOW_DEFS | M.EDIT_CONF | M.SHOW_NONDEF | M.COMMENT_OUT | M.EDIT_EXCL,
  M.FOLD_LINE | M.EDIT_CONF | M.COMMENT_OUT | M.EDIT_EXCL,
  M.SHOW_EVAL | M.EDIT_CONF | M.COMMENT_OUT | M.EDIT_EXCL,
  M.MAIN_OVER | M.SHOW_DEFS | M.EDIT_CONF | M.COMMENT_OUT | M.EDIT_EXCL,
  M.HIDE_NAME | M.EDIT_CONF | M.COMMENT_OUT | M.EDIT_EXCL | M.HIDE_VALUE,
];

const COMPAT: Array<[number, number]> = [
  [M.SHOW_SASL_SERV, 0],
  [M.SHOW_SASL_CLNT, 0],
  [M.EXP_DSN_TEMPL, 0],
  [M.SHOW_LOCKS, 0],
  [M.SHOW_MAPS, 0],
  [M.SHOW_TLS, 0],
  [M.DUMP_DSN_TEMPL, 0],
  [
    M.MAIN_PARAM,
    M.EDIT_CONF |
      M.EDIT_EXCL |
      M.COMMENT_OUT |
      M.FOLD_LINE |
      M.HIDE_NAME |
      M.PARAM_CLASS |
      M.SHOW_EVAL |
      M.SHOW_DEFS |
      M.SHOW_NONDEF |
      M.MAIN_OVER |
      M.HIDE_VALUE,
  ],
  [M.MASTER_ENTRY, M.EDIT_CONF | M.EDIT_EXCL | M.COMMENT_OUT | M.FOLD_LINE | M.MAIN_OVER | M.SHOW_EVAL],
  [M.MASTER_FLD, M.EDIT_CONF | M.FOLD_LINE | M.HIDE_NAME | M.MAIN_OVER | M.SHOW_EVAL | M.HIDE_VALUE],
  [M.MASTER_PARAM, M.EDIT_CONF | M.EDIT_EXCL | M.FOLD_LINE | M.HIDE_NAME | M.MAIN_OVER | M.SHOW_EVAL | M.HIDE_VALUE],
  [M.PARAM_CLASS, M.MAIN_PARAM | M.SHOW_DEFS | M.SHOW_NONDEF],
];

const maskNames = (mask: number): string =>
  OPT_NAMES.filter(([, bit]) => mask & bit)
    .map(([n]) => n)
    .join(' ');

/** Parameter classes (postconf -C). */
const CLASS = { builtin: 1, service: 2, user: 4, legacy: 8 } as const;

/** Settings that each database client reads from its configuration file (Postfix postconf_dbms.c). */
const SQL_LEGACY = ['table', 'select_field', 'where_field', 'additional_conditions'];
const DBMS_SUFFIXES: Record<string, string[]> = {
  ldap: [
    'domain', 'server_host', 'server_port', 'version', 'scope', 'search_base', 'timeout', 'query_filter',
    'result_format', 'result_filter', 'terminal_result_attribute', 'leaf_result_attribute', 'result_attribute',
    'special_result_attribute', 'bind', 'bind_dn', 'bind_pw', 'cache', 'cache_expiry', 'cache_size', 'size_limit',
    'dereference', 'sasl_mechs', 'sasl_realm', 'sasl_authz_id', 'sasl_minssf', 'start_tls', 'tls_require_cert',
    'tls_cert', 'tls_key', 'debuglevel', 'chase_referrals', 'expansion_limit', 'recursion_limit', 'tls_ca_cert_dir',
    'tls_ca_cert_file', 'tls_cipher_suite', 'tls_random_file',
  ],
  mysql: [
    'domain', 'user', 'password', 'dbname', 'result_format', 'option_file', 'option_group', 'tls_key_file',
    'tls_cert_file', 'tls_CAfile', 'tls_CApath', 'tls_ciphers', 'tls_verify_cert', 'require_result_set', 'query',
    'hosts', 'expansion_limit', ...SQL_LEGACY,
  ],
  pgsql: ['domain', 'user', 'password', 'dbname', 'result_format', 'query', 'select_function', 'hosts', 'expansion_limit', ...SQL_LEGACY],
  sqlite: ['domain', 'dbpath', 'query', 'result_format', 'expansion_limit', ...SQL_LEGACY],
  memcache: [
    'domain', 'key_format', 'timeout', 'ttl', 'flags', 'retry_pause', 'max_try', 'line_size_limit', 'data_size_limit',
    'memcache', 'backup',
  ],
};

/** Lock methods of this build, in Postfix order (postconf -l). */
export const LOCK_METHODS = ['flock', 'fcntl', 'dotlock'];
/** SASL server plug-ins of this build (postconf -a): the Dovecot auth protocol client. */
export const SASL_SERVER_TYPES = ['dovecot'];
/** SASL client plug-ins of this build (postconf -A): none yet. */
export const SASL_CLIENT_TYPES: string[] = [];

const USAGE =
  ' [-a (server SASL types)] [-A (client SASL types)] [-b (bounce templates)] [-c config_dir]' +
  ' [-c param_class] [-d (parameter defaults)] [-e (edit configuration)] [-f (fold lines)]' +
  ' [-F (master.cf fields)] [-h (no names)] [-H (no values)] [-l (lock types)] [-m (map types)]' +
  ' [-M (master.cf)] [-n (non-default parameters)] [-o name=value (override parameter value)]' +
  ' [-p (main.cf, default)] [-P (master.cf parameters)] [-t (bounce templates)]' +
  ' [-T compile-version|run-version|public-key-algorithms] [-v (verbose)] [-x (expand parameter values)]' +
  ' [-X (exclude)] [-# (comment-out)] [name...]';

/* ------------------------------------------------------------------ */
/* Output.                                                              */

const outFd = 1;
let outBuf: string[] = [];

/** writeOut - buffer stdout text, as Postfix's VSTREAM_OUT; flushed before late warnings and at exit. */
function writeOut(text: string): void {
  outBuf.push(text);
}

/** flushOut - write the buffered stdout text synchronously. */
function flushOut(): void {
  const buf = Buffer.from(outBuf.join(''), 'latin1');
  outBuf = [];
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(outFd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw e;
    }
  }
}

/** printLine - Postfix pcf_print_line(): normalise blanks to one space, optionally fold at 80 columns. */
export function printLine(text: string, fold: boolean): string {
  let out = '';
  let lineLen = 0;
  for (const word of text.split(/[ \t\r\n]+/).filter((w) => w.length > 0)) {
    if (lineLen > 0) {
      if (!fold || lineLen + word.length < PCF_LINE_LIMIT) {
        out += ' ';
        lineLen += 1;
      } else {
        out += '\n' + PCF_INDENT;
        lineLen = PCF_INDENT.length;
      }
    }
    out += word;
    lineLen += word.length;
  }
  return out + '\n';
}

/* ------------------------------------------------------------------ */
/* The parameter name space: built-in, service-defined and user-defined. */

interface Node {
  cls: number;
  def?: ParamDef;
  /** service parameters: the "$global" default */
  svcDefault?: string;
  readonly?: boolean;
}

/** A master.cf entry with its -o name space (Postfix PCF_MASTER_ENT). */
interface MasterScope {
  argv: string[];
  line: number;
  /** -o name=value, last wins, in first-seen order */
  params: Map<string, string>;
  /** read-only per-service values (process_name, service_name) */
  ro: Map<string, string>;
  /** user-defined names validated in this scope */
  valid: Set<string>;
}

class Postconf {
  mode = 0;
  classMask = CLASS.builtin | CLASS.service | CLASS.user;
  configDir: string;
  configDirExplicit: boolean;
  /** main.cf settings (after -o overrides), in first-seen order, last value wins */
  main = new Map<string, string>();
  table = new Map<string, Node>();
  masters: MasterScope[] = [];
  private cfg?: MailConfig;
  private defCfg?: MailConfig;

  constructor() {
    this.configDirExplicit = !!process.env.MAIL_CONFIG;
    this.configDir = defaultConfigDirectory();
  }

  get mainCfPath(): string {
    return join(this.configDir, 'main.cf');
  }

  get masterCfPath(): string {
    return join(this.configDir, 'master.cf');
  }

  /** readParameters - read main.cf (fatal when missing or malformed), as Postfix mail_conf_read(). */
  readParameters(): void {
    let text: string;
    try {
      text = readFileSync(this.mainCfPath, 'latin1');
    } catch (e) {
      fatal(`open ${this.mainCfPath}: ${errnoText(e as NodeJS.ErrnoException)}`);
    }
    let entries: MainCfEntry[];
    try {
      entries = parseMainCf(text, this.mainCfPath);
    } catch (e) {
      if (e instanceof ConfigFileError) fatal(e.message);
      throw e;
    }
    if (this.configDirExplicit) this.main.set('config_directory', this.configDir);
    for (const e of entries) this.main.set(e.name, e.value);
  }

  /** setParameters - the -o name=value overrides. */
  setParameters(list: string[]): void {
    for (const item of list) {
      const r = splitNameval(item);
      if (typeof r === 'string') fatal(`invalid parameter override: ${item}: ${r}`);
      this.main.set(r.name, r.value);
    }
  }

  /** registerBuiltin - every registry parameter (legacy ones only as known names). */
  registerBuiltin(): void {
    for (const def of PARAMS) {
      this.table.set(def.name, { cls: CLASS.builtin, def, readonly: def.readonly });
    }
    for (const def of LEGACY_PARAMS) this.table.set(def.name, { cls: CLASS.legacy, def });
  }

  /** readMaster - master.cf in postconf's normalised form; a missing file is fatal or a warning. */
  readMaster(failOnOpen: boolean): void {
    let text: string;
    try {
      text = readFileSync(this.masterCfPath, 'latin1');
    } catch (e) {
      const t = `open ${this.masterCfPath}: ${errnoText(e as NodeJS.ErrnoException)}`;
      if (failOnOpen) fatal(t);
      msg.warn(t);
      return;
    }
    for (const { text: line, lineNo } of logicalLines(text, this.masterCfPath)) {
      const r = parsePcfEntry(line, lineNo, (t) => msg.warn(t));
      if ('err' in r) {
        if (r.fatal) fatal(r.err);
        fatal(`file ${this.masterCfPath}: line ${lineNo}: ${r.err}`);
      }
      this.masters.push(this.scopeOf(r.argv, lineNo));
    }
  }

  scopeOf(argv: string[], line: number): MasterScope {
    const procName = basename(argv[7]);
    const ro = new Map<string, string>([
      ['process_name', procName],
      ['service_name', procName !== argv[0] ? argv[0] : procName],
    ]);
    return { argv, line, params: new Map(), ro, valid: new Set() };
  }

  /** registerService - <service>_<suffix> parameters for delivery agents in master.cf. */
  registerService(): void {
    for (const m of this.masters) {
      for (const p of serviceParams(m.argv[0], m.argv[7])) {
        const node = this.table.get(p.name);
        if (node) node.cls = CLASS.service;
        else this.table.set(p.name, { cls: CLASS.service, svcDefault: p.def });
      }
    }
  }

  /* -------------------------- user-defined parameters -------------------- */

  private flagUser(name: string, scope: MasterScope | undefined, dbms = false): void {
    const source = scope ? 'master.cf' : 'main.cf';
    let supplied = false;
    if (scope && scope.params.has(name)) {
      supplied = true;
      scope.valid.add(name);
    } else if (this.main.has(name)) {
      supplied = true;
      if (!this.table.has(name)) this.table.set(name, { cls: CLASS.user });
    }
    if (!scope) {
      for (const m of this.masters) {
        if (m.params.has(name)) {
          supplied = true;
          m.valid.add(name);
        }
      }
    }
    if (!supplied && !dbms && !this.table.has(name)) msg.warn(`${this.configDir}/${source}: undefined parameter: ${name}`);
  }

  private scanValue(value: string, scope: MasterScope | undefined): void {
    try {
      macExpandEx(
        value,
        (n) => {
          this.flagUser(n, scope);
          return undefined;
        },
        { scan: true },
      );
    } catch (e) {
      if (e instanceof MacroError) msg.warn(e.message);
      else throw e;
    }
  }

  private restClassTable = new Set<string>();

  private scanNamespace(scope: MasterScope | undefined): void {
    const dict = scope ? scope.params : this.main;
    // Postfix evaluates smtpd_restriction_classes within the name space being scanned only.
    const classes = dict.get('smtpd_restriction_classes');
    if (classes !== undefined) {
      let expanded = classes;
      try {
        expanded = macExpandEx(classes, (n) => dict.get(n)).value;
      } catch {
        /* reported elsewhere */
      }
      for (const name of expanded.split(/[\s,]+/).filter(Boolean)) {
        if (!scope) this.restClassTable.add(name);
        this.flagUser(name, scope);
      }
    }
    for (const [name, value] of [...dict]) {
      if (scope && !scope.valid.has(name) && this.restClassTable.has(name)) scope.valid.add(name);
      const node = this.table.get(name);
      if (node) {
        if (node.readonly) {
          msg.warn(`${this.configDir}/${scope ? 'master.cf' : 'main.cf'}: read-only parameter assignment: ${name}=${value}`);
          dict.delete(name);
          continue;
        }
        if (node.cls === CLASS.legacy) node.cls = CLASS.user;
        if (node.def?.type === 'raw') continue;
      }
      this.scanValue(value, scope);
      if (node && (node.cls === CLASS.builtin || node.cls === CLASS.service)) this.registerDbms(value, scope);
    }
  }

  /* ------------------- database client configurations ------------------ */

  private dbmsSeen = new Set<string>();

  /**
   * registerDbms - Postfix pcf_register_dbms_parameters(): in the expanded
   * value, "type:/path" of an ldap/mysql/pgsql/sqlite/memcache client gets
   * its file checked for unused settings; legacy "type:name" validates the
   * "name_suffix" parameters of that client.
   */
  private registerDbms(value: string, scope: MasterScope | undefined): void {
    this.dbmsHelper(this.expand(M.SHOW_EVAL, value, scope), scope);
  }

  private dbmsHelper(text: string, scope: MasterScope | undefined): void {
    const where = scope ? `master.cf:${scope.argv[0]}/${scope.argv[1]}` : 'main.cf';
    for (let tok of splitQuoted(text, ', \t\r\n')) {
      if (tok.startsWith('{')) {
        const r = extpar(tok);
        if (r.err) msg.warn(`${where}: ${r.err}`);
        this.dbmsHelper(r.text, scope);
        continue;
      }
      let type = tok;
      let prefix: string | undefined;
      for (;;) {
        const colon = tok.indexOf(':');
        if (colon < 0) {
          prefix = undefined;
          break;
        }
        type = tok.slice(0, colon);
        prefix = tok.slice(colon + 1);
        if (type !== 'proxy') break;
        tok = prefix;
      }
      if (prefix === undefined) continue;
      const suffixes = DBMS_SUFFIXES[type];
      if (prefix.startsWith('/')) {
        if (suffixes) this.checkDbmsClient(type, prefix, suffixes);
        continue;
      }
      if (prefix.startsWith('.')) continue;
      if (prefix.startsWith('{')) {
        const r = extpar(prefix);
        if (r.err) msg.warn(`${where}: ${r.err}`);
        this.dbmsHelper(r.text, scope);
        continue;
      }
      if (suffixes) for (const sfx of suffixes) this.flagUser(`${prefix}_${sfx}`, scope, true);
    }
  }

  private checkDbmsClient(type: string, file: string, suffixes: string[]): void {
    const spec = `${type}:${file}`;
    if (this.dbmsSeen.has(spec)) return;
    this.dbmsSeen.add(spec);
    let text: string;
    try {
      if (!statSync(file).isFile()) {
        msg.warn(`open "${type}" configuration "${file}": not a regular file`);
        return;
      }
      text = readFileSync(file, 'latin1');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'EACCES') msg.warn(`open "${type}" configuration "${file}": ${errnoText(err)}`);
      return;
    }
    let entries: MainCfEntry[];
    try {
      entries = parseMainCf(text, file);
    } catch (e) {
      if (e instanceof ConfigFileError) fatal(e.message);
      throw e;
    }
    const settings = new Map<string, string>();
    for (const e of entries) settings.set(e.name, e.value);
    for (const sfx of suffixes) settings.delete(sfx);
    for (const [name, value] of settings) msg.warn(`${spec}: unused parameter: ${name}=${value}`);
  }

  /** registerUser - Postfix pcf_register_user_parameters(). */
  registerUser(): void {
    for (const m of this.masters) {
      const a = m.argv;
      for (let f = 8; f < a.length; f++) {
        const arg = a[f];
        if (arg[0] !== '-' || arg === '--') break;
        if (arg[1] !== 'o' || f + 1 >= a.length) continue;
        if (arg === '-o') {
          const nv = splitNameval(a[f + 1]);
          if (typeof nv !== 'string') m.params.set(nv.name, nv.value);
        }
        f++;
      }
    }
    for (const m of this.masters) if (m.params.size > 0) this.scanNamespace(m);
    for (const [name, node] of this.table) {
      if (node.def?.type === 'raw' || this.main.has(name)) continue;
      if (node.cls === CLASS.legacy || node.cls === CLASS.user) continue;
      this.scanValue(this.defaultValue(name, node), undefined);
    }
    this.scanNamespace(undefined);
  }

  flagUnusedMain(): void {
    flushOut();
    for (const [name, value] of this.main) {
      const node = this.table.get(name);
      if (!node) msg.warn(`${this.configDir}/main.cf: unused parameter: ${name}=${value}`);
    }
  }

  flagUnusedMaster(): void {
    flushOut();
    for (const m of this.masters) {
      for (const [name, value] of m.params) {
        const node = this.table.get(name);
        if ((!node || node.cls === CLASS.legacy) && !m.valid.has(name)) {
          msg.warn(`${this.configDir}/master.cf: unused parameter: ${name}=${value}`);
        }
      }
    }
  }

  /* ------------------------------- values ------------------------------- */

  /** config - a MailConfig for computed defaults: empty for -d, else main.cf and -o. */
  private config(defs: boolean): MailConfig {
    if (defs) return (this.defCfg ??= MailConfig.empty(installDefaults.config_directory));
    if (!this.cfg) {
      const text = [...this.main].map(([n, v]) => `${n} = ${v.replace(/\n/g, ' ')}`).join('\n');
      this.cfg = MailConfig.fromText(text, this.configDir);
    }
    return this.cfg;
  }

  /** defaultValue - a parameter's default as postconf prints it. */
  defaultValue(name: string, node: Node | undefined = this.table.get(name), defs = (this.mode & M.SHOW_DEFS) !== 0): string {
    if (!node) return '';
    if (node.svcDefault !== undefined) return node.svcDefault;
    if (!node.def) return '';
    if (name === 'process_name') return 'postconf';
    if (name === 'process_id') return String(process.pid);
    if (name === 'config_directory') return installDefaults.config_directory;
    if (node.def.fn) return this.config(defs).defaultRaw(name) ?? '';
    return node.def.def;
  }

  /** lookup - Postfix pcf_lookup_parameter_value(). */
  lookup(mode: number, name: string, scope?: MasterScope): string | undefined {
    if (!(mode & M.SHOW_DEFS)) {
      const v = scope?.ro.get(name) ?? scope?.params.get(name) ?? this.main.get(name);
      if (v !== undefined) return v;
      if (mode & M.SHOW_NONDEF) return undefined;
    }
    const node = this.table.get(name);
    return node ? this.defaultValue(name, node, (mode & M.SHOW_DEFS) !== 0) : undefined;
  }

  /** expand - Postfix pcf_expand_parameter_value(); a syntax error is fatal. */
  expand(mode: number, value: string, scope?: MasterScope): string {
    const m = mode & ~M.SHOW_NONDEF;
    try {
      return macExpandEx(value, (n) => this.lookup(m, n, scope)).value;
    } catch (e) {
      if (e instanceof MacroError) {
        msg.warn(e.message);
        fatal('macro processing error');
      }
      throw e;
    }
  }

  /* ------------------------------- main.cf ------------------------------ */

  printParameter(name: string, node: Node): void {
    let value = this.lookup(this.mode, name);
    if (value === undefined) return;
    const fold = (this.mode & M.FOLD_LINE) !== 0;
    if (this.mode & M.HIDE_VALUE) {
      writeOut(printLine(name, fold));
      return;
    }
    if (this.mode & M.SHOW_EVAL && node.def?.type !== 'raw') value = this.expand(this.mode, value);
    writeOut(printLine(this.mode & M.HIDE_NAME ? value : `${name} = ${value}`, fold));
  }

  showParameters(names: string[]): void {
    if (names.length === 0) {
      const list = [...this.table.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const name of list) {
        const node = this.table.get(name)!;
        if (node.cls & this.classMask) this.printParameter(name, node);
      }
      return;
    }
    for (const name of names) {
      const node = this.table.get(name);
      if (!node) msg.warn(`${name}: unknown parameter`);
      else this.printParameter(name, node);
    }
  }

  /** editMain - Postfix pcf_edit_main(): -e name=value, -X name, -# name. */
  editMain(args: string[]): void {
    const table = new Map<string, { value?: string; found: number }>();
    for (const raw of args) {
      if (raw.includes('\n')) fatal('-e, -X, or -# accepts no multi-line input');
      const cp = raw.replace(/^\s+/, '');
      if (cp.startsWith('#')) fatal('-e, -X, or -# accepts no comment input');
      let pattern: string;
      let value: string | undefined;
      if (this.mode & M.EDIT_CONF) {
        const r = splitNameval(cp);
        if (typeof r === 'string') fatal(`${r}: "${cp}"`);
        pattern = r.name;
        value = r.value;
      } else {
        if (cp === '') fatal('-X or -# requires non-blank parameter names');
        if (cp.includes('=')) fatal('-X or -# requires parameter names without value');
        pattern = cp; // Postfix trims nothing here: "name " matches no entry
      }
      const old = table.get(pattern);
      if (old) {
        msg.warn(`ignoring earlier request: '${pattern} = ${old.value ?? '(null)'}'`);
        table.delete(pattern);
      }
      table.set(pattern, { value, found: 0 });
    }
    const path = this.mainCfPath;
    editFile(path, (lines, out) => {
      let interesting = false;
      for (const line of lines) {
        const body = line.replace(/\n$/, '');
        const first = body.search(/\S/);
        if (first < 0 || body[first] === '#') {
          out.push(line);
          continue;
        }
        if (first > 0) {
          if (!interesting) out.push(line);
          else if (this.mode & M.COMMENT_OUT) out.push('#' + line);
          continue;
        }
        const key = /^[^ \t\r\n\v\f=]*/.exec(body)![0];
        const cv = table.get(key);
        interesting = cv !== undefined;
        if (cv) {
          if (cv.found++ === 1) msg.warn(`${path}: multiple entries for "${key}"`);
          if (this.mode & M.EDIT_CONF) out.push(`${key} = ${cv.value}\n`);
          else if (this.mode & M.COMMENT_OUT) out.push('#' + line);
        } else out.push(line);
      }
      if (this.mode & M.EDIT_CONF) {
        for (const [key, cv] of table) {
          if (cv.found > 0) continue;
          // Postfix would glue the new entry to a last line without newline; we end that line first.
          if (out.length > 0 && !out[out.length - 1].endsWith('\n')) out[out.length - 1] += '\n';
          out.push(`${key} = ${cv.value}\n`);
        }
      }
    });
  }

  /* ------------------------------ master.cf ----------------------------- */

  showMasterEntries(args: string[]): void {
    const reqs = args.map((raw) => {
      const pat = parseServicePattern(raw, 1, 2);
      if (!pat) fatal('-M option requires service_name[/type]');
      return { raw, pat, count: 0 };
    });
    const fold = (this.mode & M.FOLD_LINE) !== 0;
    for (const m of this.masters) {
      const exp = this.mode & M.SHOW_EVAL ? (v: string) => this.expand(this.mode, v, m) : undefined;
      if (reqs.length === 0) writeOut(formatPcfEntry(m.argv, fold, exp));
      for (const r of reqs) {
        if (matchService(r.pat, m.argv[0], m.argv[1])) {
          r.count++;
          writeOut(formatPcfEntry(m.argv, fold, exp));
        }
      }
    }
    for (const r of reqs) if (r.count === 0) msg.warn(`unmatched request: "${r.raw}"`);
  }

  printMasterField(m: MasterScope, field: number): void {
    const argv = m.argv;
    let out = '';
    let lineLen = 0;
    const add = (t: string): void => {
      out += t;
      lineLen += t.length;
    };
    const fold = (this.mode & M.FOLD_LINE) !== 0;
    if (!(this.mode & M.HIDE_NAME)) add(`${argv[0]}/${argv[1]}/${MASTER_FIELD_NAMES[field]}`);
    if (!(this.mode & (M.HIDE_NAME | M.HIDE_VALUE))) add(' = ');
    if (!(this.mode & M.HIDE_VALUE)) {
      if (lineLen > 0 && lineLen + argv[field].length > PCF_LINE_LIMIT) {
        out += '\n' + PCF_INDENT;
        lineLen = PCF_INDENT.length;
      }
      add(argv[field]);
    }
    if (field === 7 && !(this.mode & M.HIDE_VALUE)) {
      let inOpts = true;
      for (let f = 8; f < argv.length; f++) {
        const arg = argv[f];
        let argLen = arg.length;
        let aval: string | undefined;
        let parens = false;
        if (inOpts) {
          if (arg[0] !== '-' || arg === '--') inOpts = false;
          else if (arg[1] === 'o' && f + 1 < argv.length) {
            lineLen = PCF_LINE_LIMIT;
            aval = argv[f + 1];
            if (arg === '-o' && this.mode & M.SHOW_EVAL) aval = this.expand(this.mode, aval, m);
            argLen += aval.length + 1;
            parens = /[ \t\r\n]/.test(aval);
            if (parens) argLen += 2;
          }
        }
        if (!inOpts) parens = /[ \t\r\n]/.test(arg);
        if (lineLen > PCF_INDENT.length) {
          if (!fold || lineLen + 1 + argLen < PCF_LINE_LIMIT) add(' ');
          else {
            out += '\n' + PCF_INDENT;
            lineLen = PCF_INDENT.length;
          }
        }
        if (!inOpts && parens) add('{');
        add(arg);
        if (!inOpts && parens) add('}');
        if (aval !== undefined) {
          add(' ');
          if (parens) add('{');
          add(aval);
          if (parens) add('}');
          f++;
          lineLen = PCF_LINE_LIMIT;
        }
      }
    }
    writeOut(out + '\n');
  }

  showMasterFields(args: string[]): void {
    const reqs = args.map((raw) => {
      const pat = parseServicePattern(raw, 1, 3);
      if (!pat) fatal('-F option requires service_name[/type[/field]]');
      return { raw, pat, field: parseFieldPattern(pat[2]), count: 0 };
    });
    for (const m of this.masters) {
      if (reqs.length === 0) for (let f = 0; f <= 7; f++) this.printMasterField(m, f);
      for (const r of reqs) {
        if (!matchService(r.pat, m.argv[0], m.argv[1])) continue;
        r.count++;
        if (r.field < 0) for (let f = 0; f <= 7; f++) this.printMasterField(m, f);
        else this.printMasterField(m, r.field);
      }
    }
    for (const r of reqs) if (r.count === 0) msg.warn(`unmatched request: "${r.raw}"`);
  }

  printMasterParam(m: MasterScope, name: string, value: string): void {
    const fold = (this.mode & M.FOLD_LINE) !== 0;
    const ns = `${m.argv[0]}/${m.argv[1]}`;
    if (this.mode & M.HIDE_VALUE) {
      writeOut(printLine(`${ns}/${name}`, fold));
      return;
    }
    if (this.mode & M.SHOW_EVAL) value = this.expand(this.mode, value, m);
    writeOut(printLine(this.mode & M.HIDE_NAME ? value : `${ns}/${name} = ${value}`, fold));
  }

  showMasterParams(args: string[]): void {
    const reqs = args.map((raw) => {
      const pat = parseServicePattern(raw, 1, 3);
      if (!pat) fatal('-P option requires service_name[/type[/parameter]]');
      return { raw, pat, count: 0 };
    });
    for (const m of this.masters) {
      if (m.params.size === 0) continue;
      if (reqs.length === 0) for (const [n, v] of m.params) this.printMasterParam(m, n, v);
      for (const r of reqs) {
        if (!matchService(r.pat, m.argv[0], m.argv[1])) continue;
        if (r.pat[2] === '*') {
          for (const [n, v] of m.params) this.printMasterParam(m, n, v);
          r.count++;
        } else if (m.params.has(r.pat[2])) {
          this.printMasterParam(m, r.pat[2], m.params.get(r.pat[2])!);
          r.count++;
        }
      }
    }
    for (const r of reqs) if (r.count === 0) msg.warn(`unmatched request: "${r.raw}"`);
  }

  /** editMaster - Postfix pcf_edit_master(): -Me/-MX/-M#, -Fe, -Pe/-PX. */
  editMaster(args: string[]): void {
    const editOpts = '-Me, -Fe, -Pe, -X, or -#';
    const kind = this.mode & (M.MASTER_ENTRY | M.MASTER_FLD | M.MASTER_PARAM);
    const reqs = args.map((raw) => {
      if (raw.includes('\n')) fatal(`${editOpts} accept no multi-line input`);
      const cp = raw.replace(/^\s+/, '');
      if (cp.startsWith('#')) fatal(`${editOpts} accept no comment input`);
      let pattern: string;
      let value: string | undefined;
      if (this.mode & M.EDIT_CONF) {
        const r = splitNameval(cp);
        if (typeof r === 'string') fatal(`${r}: "${raw}"`);
        pattern = r.name;
        value = r.value;
      } else {
        if (cp.includes('=')) fatal('-X or -# requires names without value');
        pattern = cp; // as Postfix: trailing blanks are kept (and then match nothing)
      }
      let pat: string[] | undefined;
      let field = -2;
      if (kind === M.MASTER_ENTRY) {
        pat = parseServicePattern(pattern, 2, 2);
        if (!pat) fatal('-Me, -MX or -M# requires service_name/type');
      } else if (kind === M.MASTER_FLD) {
        pat = parseServicePattern(pattern, 3, 3);
        if (!pat) fatal('-Fe or -FX requires service_name/type/field_name');
        field = parseFieldPattern(pat[2]);
        if (field < 0) fatal('-Fe does not accept wild-card field name');
        if (this.mode & M.EDIT_CONF && field < 7 && /[ \t\r\n]/.test(value!)) {
          fatal('-Fe does not accept whitespace in non-command field');
        }
      } else {
        pat = parseServicePattern(pattern, 3, 3);
        if (!pat) fatal('-Pe or -PX requires service_name/type/parameter');
        if (pat[2] === '*') fatal('-Pe does not accept wild-card parameter name');
        if (this.mode & M.EDIT_CONF && /[ \t\r\n]/.test(value!)) fatal('-Pe does not accept whitespace in parameter value');
      }
      return { raw, pat: pat!, value, field, count: 0 };
    });
    const path = this.masterCfPath;
    const parseWhole = (text: string, raw: string): string[] => {
      const r = parsePcfEntry(text, 0, (t) => msg.warn(t));
      if ('err' in r) {
        if (r.fatal) fatal(r.err);
        fatal(`${r.err}: "${raw}"`);
      }
      return r.argv;
    };
    editFile(path, (lines, out) => {
      let matched = false;
      let lineno = 0;
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        lineno++;
        const body = line.replace(/\n$/, '');
        const first = body.search(/\S/);
        if (first < 0 || body[first] === '#') {
          out.push(line);
          continue;
        }
        if (first > 0) {
          if (!matched) out.push(line);
          else if (this.mode & M.COMMENT_OUT) out.push('#' + line);
          continue;
        }
        matched = false;
        const toks = body.split(/[ \t\r\n]+/).filter(Boolean);
        const [svc, type] = toks;
        if (type === undefined) fatal(`file ${path}: line ${lineno}: specify service name and type on the same line`);
        if (svc.includes('=')) {
          fatal(`file ${path}: line ${lineno}: service name syntax "${svc}" is unsupported with ${editOpts}`);
        }
        if (/[=/]/.test(type)) {
          fatal(`file ${path}: line ${lineno}: service type syntax "${type}" is unsupported with ${editOpts}`);
        }
        let newEntry: string[] | undefined;
        for (const r of reqs) {
          let tentative: string[] | undefined;
          let useTentative = false;
          if (kind === M.MASTER_ENTRY && this.mode & M.EDIT_CONF) tentative = parseWhole(r.value!, r.raw);
          if (matchService(r.pat, svc, type)) {
            matched = true;
            r.count++;
            if (this.mode & M.EDIT_CONF || (kind === M.MASTER_PARAM && this.mode & M.EDIT_EXCL)) {
              if (kind === M.MASTER_FLD || kind === M.MASTER_PARAM) {
                if (!newEntry) {
                  /* Postfix pcf_gobble_cf_line(): comments and blank lines pass through, continuations join. */
                  let full = body;
                  while (i + 1 < lines.length && /^[#\s]/.test(lines[i + 1])) {
                    const next = lines[++i];
                    lineno++;
                    const t = next.replace(/^\s+/, '');
                    if (t === '' || t.startsWith('#')) out.push(next);
                    else full += '\n' + next.replace(/\n$/, '');
                  }
                  const p = parsePcfEntry(full, lineno, (t) => msg.warn(t));
                  if ('err' in p) {
                    if (p.fatal) fatal(p.err);
                    fatal(`file ${path}: line ${lineno}: ${p.err}`);
                  }
                  newEntry = p.argv;
                }
                if (kind === M.MASTER_FLD) newEntry = editMasterField(newEntry, r.field, r.value!);
                else newEntry = editMasterParam(newEntry, this.mode, r.pat[2], r.value);
              } else if (r.count === 1) useTentative = true;
            }
          } else if (tentative && matchService([tentative[0], tentative[1]], svc, type)) {
            matched = true;
            r.count++;
            if (r.count === 1) useTentative = true;
          }
          if (tentative && useTentative) newEntry = tentative;
        }
        if (newEntry) out.push(formatPcfEntry(newEntry, true, undefined, true));
        else if (!matched) out.push(line);
        else if (this.mode & M.COMMENT_OUT) out.push('#' + line);
      }
      for (const r of reqs) {
        if (r.count > 0) continue;
        if (kind === M.MASTER_ENTRY && this.mode & M.EDIT_CONF) out.push(formatPcfEntry(parseWhole(r.value!, r.raw), true, undefined, true));
        else if (kind !== M.MASTER_ENTRY) msg.warn(`unmatched service_name/type: "${r.raw}"`);
      }
    });
  }
}

/** parseServicePattern - "name[/type[/x]]" with "*" wild cards, padded with "*"; undefined on bad syntax. */
export function parseServicePattern(pattern: string, min: number, max: number): string[] | undefined {
  if (pattern.startsWith('/')) return undefined;
  const parts = pattern.split('/').filter((p) => p !== '');
  if (parts.length < min || parts.length > max) return undefined;
  if (parts.some((p) => p !== '*' && p.includes('*'))) return undefined;
  while (parts.length < max) parts.push('*');
  return parts;
}

function matchService(pat: string[], name: string, type: string): boolean {
  return (pat[0] === '*' || pat[0] === name) && (pat[1] === '*' || pat[1] === type);
}

/** parseFieldPattern - a master.cf field name to its index; -1 for "*"; fatal for others. */
function parseFieldPattern(name: string): number {
  if (name === '*') return -1;
  const i = MASTER_FIELD_NAMES.indexOf(name);
  if (i < 0) fatal(`invalid service attribute name: "${name}"`);
  return i;
}

function editMasterField(argv: string[], field: number, value: string): string[] {
  let out: string[];
  if (field === 7) out = [...argv.slice(0, 7), ...splitQuoted(value)].slice(0);
  else {
    out = [...argv];
    out[field] = value;
  }
  if (field === 7) out = [...out.slice(0, 8), ...normalizeArgs(out.slice(8))];
  const bad = checkPcfEntry(out, value);
  if (bad) fatal(bad);
  return out;
}

function editMasterParam(argv: string[], mode: number, name: string, value: string | undefined): string[] {
  const out = [...argv];
  let matched = false;
  let f = 8;
  for (; f < out.length; f++) {
    const arg = out[f];
    if (arg[0] !== '-' || arg === '--') break;
    if (arg[1] === 'o' && f + 1 < out.length) {
      if (arg === '-o' && out[f + 1].startsWith(name + '=')) {
        matched = true;
        if (mode & M.EDIT_CONF) out[f + 1] = `${name}=${value}`;
        else {
          out.splice(f, 2);
          f -= 2;
        }
      }
      f++;
    }
  }
  if (mode & M.EDIT_CONF && !matched) out.splice(f, 0, '-o', `${name}=${value}`);
  return out;
}

/**
 * bytesOf - a string as one JS character per byte. postconf works on bytes
 * like Postfix: files are read as latin1, arguments converted with this, and
 * stdout/stderr written back as latin1, so any encoding passes unchanged.
 */
function bytesOf(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/**
 * editFile - Postfix edit_file_open()/edit_file_close(): write the edited
 * text to PATH.tmp (mode of the original, 0644 for a new file) and rename
 * it over PATH. A missing original is fatal.
 */
function editFile(path: string, edit: (lines: string[], out: string[]) => void): void {
  const tmp = `${path}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w', 0o644);
  } catch (e) {
    fatal(`open ${tmp}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  let text: string;
  let mode = 0o644;
  try {
    const src = openSync(path, 'r');
    mode = fstatSync(src).mode & 0o7777;
    text = readFileSync(src, 'latin1'); // bytes kept exactly, whatever the encoding
    closeSync(src);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    fatal(`open ${path} for reading: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const out: string[] = [];
  try {
    edit(lines, out);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  try {
    writeSync(fd, Buffer.from(out.join(''), 'latin1'));
    closeSync(fd);
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    fatal(`close ${tmp}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
}

/** mapTypes - the table types of this build (postconf -m), from the table registry when it loads. */
async function mapTypes(): Promise<string[]> {
  try {
    const m = (await import('../util/dict_open.js')) as { dictTypes?: () => string[] };
    if (m.dictTypes) return m.dictTypes();
  } catch {
    /* fall through to the planned list */
  }
  return [
    'btree',
    'cidr',
    'environ',
    'fail',
    'hash',
    'inline',
    'internal',
    'lmdb',
    'pcre',
    'pipemap',
    'proxy',
    'randmap',
    'regexp',
    'socketmap',
    'sqlite',
    'static',
    'tcp',
    'texthash',
    'unionmap',
    'unix',
  ];
}

/** runBounce - postconf -b/-t: run the bounce daemon's template mode, as Postfix does. */
function runBounce(extArgs: string[], template: string | undefined, pc: Postconf): never {
  const cfg = MailConfig.load(pc.configDir);
  const args = [...extArgs];
  if (template !== undefined) args.push('-o', `bounce_template_file=${template}`);
  args.push('-o', 'queue_directory=.');
  let daemon = join(cfg.str('daemon_directory'), 'bounce');
  if (!existsSync(daemon) && existsSync(join(packageRoot, 'libexec', 'bounce'))) daemon = join(packageRoot, 'libexec', 'bounce');
  const r = spawnSync(daemon, args, { stdio: 'inherit', env: { ...process.env, MAIL_CONFIG: pc.configDir } });
  if (r.error) fatal(`${daemon}: ${errnoText(r.error as NodeJS.ErrnoException)}`);
  process.exit(r.status ?? 1);
}

export async function main(argv: string[]): Promise<void> {
  const prog = process.argv[1] ? basename(process.argv[1]) : 'postconf';
  // Postfix msg_output: non-printable bytes in diagnostics become "?".
  msgAddOutput((_sev, text) => process.stderr.write(`${prog}: ${text.replace(/[^\x20-\x7e]/g, '?')}\n`));
  setFatalAction((text, status) => {
    throw new FatalError(text, status);
  });
  try {
    if (run(argv, prog) === 'maps') for (const t of await mapTypes()) writeOut(`${t}\n`);
    flushOut();
  } catch (e) {
    if (e instanceof FatalError) {
      outBuf = [];
      process.exitCode = e.status;
      return;
    }
    throw e;
  }
}

/** run - everything but the asynchronous table-type listing, which it asks for by returning "maps". */
function run(argv: string[], prog: string): 'maps' | undefined {
  const pc = new Postconf();
  let overrides: string[] | undefined;
  let extArgs: string[] | undefined;
  let tlsArg: string | undefined;
  const g = getopt(argv, 'aAbc:C:deEfFhHlmMno:pPtT:vxX#', prog);
  if (!g) fatal(`usage: ${prog}${USAGE}`);
  for (const [c, optArg] of g.opts) {
    const arg = c === 'c' ? optArg : bytesOf(optArg);
    switch (c) {
      case 'a':
        pc.mode |= M.SHOW_SASL_SERV;
        break;
      case 'A':
        pc.mode |= M.SHOW_SASL_CLNT;
        break;
      case 'b':
        pc.mode |= M.EXP_DSN_TEMPL;
        if (extArgs) fatal('specify one of -b and -t');
        extArgs = ['-SVnexpand_templates'];
        break;
      case 'c':
        process.env.MAIL_CONFIG = arg;
        pc.configDir = arg;
        pc.configDirExplicit = true;
        break;
      case 'C': {
        let mask = 0;
        for (const w of arg.split(/[\s,|]+/).filter(Boolean)) {
          const k = w.toLowerCase();
          if (k === 'builtin') mask |= CLASS.builtin;
          else if (k === 'service') mask |= CLASS.service;
          else if (k === 'user') mask |= CLASS.user;
          else if (k === 'all') mask |= CLASS.builtin | CLASS.service | CLASS.user;
          else fatal(`unknown -C option value "${w}" in "${arg}"`);
        }
        pc.classMask = mask;
        break;
      }
      case 'd':
        pc.mode |= M.SHOW_DEFS;
        break;
      case 'e':
        pc.mode |= M.EDIT_CONF;
        break;
      case 'f':
        pc.mode |= M.FOLD_LINE;
        break;
      case 'F':
        pc.mode |= M.MASTER_FLD;
        break;
      case '#':
        pc.mode |= M.COMMENT_OUT;
        break;
      case 'h':
        pc.mode |= M.HIDE_NAME;
        break;
      case 'H':
        pc.mode |= M.HIDE_VALUE;
        break;
      case 'l':
        pc.mode |= M.SHOW_LOCKS;
        break;
      case 'm':
        pc.mode |= M.SHOW_MAPS;
        break;
      case 'M':
        pc.mode |= M.MASTER_ENTRY;
        break;
      case 'n':
        pc.mode |= M.SHOW_NONDEF;
        break;
      case 'o':
        pc.mode |= M.MAIN_OVER;
        (overrides ??= []).push(arg);
        break;
      case 'p':
        pc.mode |= M.MAIN_PARAM;
        break;
      case 'P':
        pc.mode |= M.MASTER_PARAM;
        break;
      case 't':
        pc.mode |= M.DUMP_DSN_TEMPL;
        if (extArgs) fatal('specify one of -b and -t');
        extArgs = ['-SVndump_templates'];
        break;
      case 'T':
        if (pc.mode & M.SHOW_TLS) fatal('At most one -T <mode> option may be specified');
        pc.mode |= M.SHOW_TLS;
        tlsArg = arg;
        break;
      case 'x':
        pc.mode |= M.SHOW_EVAL;
        break;
      case 'X':
        pc.mode |= M.EDIT_EXCL;
        break;
      case 'v':
        setMsgVerbose(msgVerbose + 1);
        break;
    }
  }
  const names = g.rest.map(bytesOf);
  if ((pc.mode & INCOMPAT[0]) === 0) pc.mode |= M.MAIN_PARAM;
  const mainOrMaster = M.MAIN_PARAM | M.MASTER_ENTRY | M.MASTER_FLD | M.MASTER_PARAM;
  if (pc.mode & mainOrMaster && names[0] !== undefined && names[0].includes('=')) pc.mode |= M.EDIT_CONF;
  for (const set of INCOMPAT) {
    const v = set & pc.mode;
    if (v & (v - 1)) fatal(`specify one of ${maskNames(v)}`);
  }
  for (const [major, allowed] of COMPAT) {
    const excess = pc.mode & ~(major | allowed);
    if (pc.mode & major && excess) fatal(`with option ${maskNames(major)}, do not specify ${maskNames(excess)}`);
  }
  if (pc.mode & M.EDIT_CONF && names.length === 0) fatal('-e requires name=value argument');

  if (extArgs) {
    if (names.length > 1) fatal('options -b and -t require at most one template file');
    runBounce(extArgs, names[0], pc);
  }
  if (pc.mode & M.SHOW_MAPS) {
    pc.readParameters();
    return 'maps';
  }
  if (pc.mode & M.SHOW_LOCKS) {
    for (const l of LOCK_METHODS) writeOut(`${l}\n`);
    return undefined;
  }
  const masterModes = M.MASTER_ENTRY | M.MASTER_FLD | M.MASTER_PARAM;
  const editModes = M.EDIT_CONF | M.EDIT_EXCL | M.COMMENT_OUT;
  if (pc.mode & masterModes && !(pc.mode & editModes)) {
    pc.readMaster(true);
    pc.readParameters();
    if (overrides) pc.setParameters(overrides);
    pc.registerBuiltin();
    pc.registerService();
    pc.registerUser();
    if (pc.mode & M.MASTER_FLD) pc.showMasterFields(names);
    else if (pc.mode & M.MASTER_PARAM) pc.showMasterParams(names);
    else pc.showMasterEntries(names);
    pc.flagUnusedMaster();
    return undefined;
  }
  if (pc.mode & M.SHOW_SASL_SERV) {
    for (const t of SASL_SERVER_TYPES) writeOut(`${t}\n`);
    return undefined;
  }
  if (pc.mode & M.SHOW_SASL_CLNT) {
    for (const t of SASL_CLIENT_TYPES) writeOut(`${t}\n`);
    return undefined;
  }
  if (pc.mode & M.SHOW_TLS) {
    showTls(tlsArg ?? '');
    return undefined;
  }
  if (pc.mode & editModes) {
    if (names.length === 0) fatal('missing service argument');
    if (pc.mode & masterModes) pc.editMaster(names);
    else pc.editMain(names);
    return undefined;
  }
  if (!(pc.mode & M.SHOW_DEFS)) {
    pc.readParameters();
    if (overrides) pc.setParameters(overrides);
  }
  pc.registerBuiltin();
  pc.readMaster(false);
  pc.registerService();
  if (!(pc.mode & M.SHOW_DEFS)) pc.registerUser();
  pc.showParameters(names);
  if (!(pc.mode & M.SHOW_DEFS)) {
    pc.flagUnusedMain();
    pc.flagUnusedMaster();
  }
}

/** showTls - postconf -T: the TLS library Node is built with. */
function showTls(what: string): void {
  const ver = process.versions.openssl ?? '';
  switch (what) {
    case 'compile-version':
    case 'run-version':
      writeOut(`OpenSSL ${ver}\n`);
      break;
    case 'public-key-algorithms':
      // Postfix lists the algorithms its TLS library has, alphabetically; Node's OpenSSL has all three.
      writeOut('dsa\necdsa\nrsa\n');
      break;
    default:
      msg.warn(`unknown 'postconf -T' mode: ${what}`);
      throw new FatalError('unknown -T mode', 1);
  }
}

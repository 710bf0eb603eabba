/**
 * table_cli - what postmap(1) and postalias(1) share: POSIX getopt with
 * glibc's diagnostics, stderr logging as `prog: warning: ...`, buffered
 * stdout that is flushed before the exit status is set, the open helpers
 * that turn table errors into Postfix's fatal messages, and the bulk-build
 * driver (owner/mode of the result, atomic replace).
 */

import { strerror } from '../util/msg_logwriter.js';
import { existsSync, statSync, readFileSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { maillogClientInit, maillogClientFlush } from '../global/maillog_client.js';
import { msg, setFatalAction, FatalError, setMsgVerbose, msgVerbose } from '../util/msg.js';
import { MailConfig } from '../global/mail_conf.js';
import { DICT_FLAG, O_CREAT, O_RDWR, O_TRUNC, setDictMainConfig, DictError, DictOpenError, DictUnsupportedError, type Dict } from '../util/dict.js';
import { dictIsBulkType, dictOpen3 } from '../util/dict_open.js';
import { DictLmdb, lmdbSuffix } from '../util/dict_lmdb.js';

/** Program context: name, output buffer, configuration. */
export class TableCli {
  readonly progname: string;
  private out: string[] = [];
  config!: MailConfig;

  constructor(defaultName: string) {
    const p = process.argv[1] ? basename(process.argv[1]) : defaultName;
    this.progname = p === 'newaliases' || p === defaultName ? p : defaultName;
    // stderr, plus syslog or maillog_file as every Postfix command (msg_vstream + maillog_client)
    maillogClientInit(undefined, this.progname, { stderr: this.progname, daemon: false });
    setFatalAction((text, status) => {
      throw new FatalError(text, status);
    });
    if (process.env.MAIL_VERBOSE) setMsgVerbose(1);
  }

  print(text: string): void {
    this.out.push(text);
  }

  /** flush - write buffered stdout (call before exiting). */
  async flush(): Promise<void> {
    if (this.out.length === 0) return;
    const data = this.out.join('');
    this.out = [];
    await new Promise<void>((resolve) => process.stdout.write(data, () => resolve()));
  }

  verbose(): void {
    setMsgVerbose(msgVerbose + 1);
  }

  loadConfig(configDir: string | undefined): void {
    if (configDir !== undefined) process.env.MAIL_CONFIG = configDir;
    this.config = MailConfig.load(configDir ?? (process.env.MAIL_CONFIG || undefined));
    const config = this.config;
    maillogClientInit(config, this.progname, { stderr: this.progname, daemon: false });
    setDictMainConfig((name) => (config.isDefined(name) ? config.str(name) : undefined));
  }

  /** defaultType - $default_database_type (lmdb when the registry has no value). */
  defaultType(): string {
    return this.config.str('default_database_type') || 'lmdb';
  }

  /** utf8Active - smtputf8_enable = yes (Postfix util_utf8_enable). */
  utf8Active(): boolean {
    const v = this.config.str('smtputf8_enable').trim().toLowerCase();
    return v === 'yes' || v === 'true';
  }

  /** splitMap - "type:name" or a bare file name with the default type (Postfix split_at(..., ':')). */
  splitMap(arg: string): { type: string; name: string } {
    const colon = arg.indexOf(':');
    if (colon < 0) return { type: this.defaultType(), name: arg };
    return { type: arg.slice(0, colon), name: arg.slice(colon + 1) };
  }

  /** open - open a table for queries or edits; open errors are fatal, as in postmap. */
  open(type: string, name: string, openFlags: number, dictFlags: number): Dict {
    try {
      return dictOpen3(type, name, openFlags, dictFlags);
    } catch (e) {
      if (e instanceof DictOpenError) return msg.fatal(e.message);
      throw e;
    }
  }

  /**
   * openIncremental - postmap/postalias -i: update the table in place; a
   * missing indexed table is created the way a bulk build creates it (LMDB
   * data format 1, readable by C Postfix).
   */
  openIncremental(type: string, name: string, dictFlags: number): Dict {
    if (['lmdb', 'hash', 'btree'].includes(type) && !existsSync(name + lmdbSuffix(type))) {
      return this.open(type, name, O_RDWR | O_CREAT | O_TRUNC, dictFlags);
    }
    return this.open(type, name, O_RDWR | O_CREAT, dictFlags);
  }

  /**
   * openForEdit - postmap/postalias -d: open for writing. A missing lmdb:
   * table is created empty (liblmdb creates the file, in the format C Postfix
   * reads); proxy: tables are opened with O_CREAT as in Postfix.
   */
  openForEdit(type: string, name: string, dictFlags: number): Dict {
    if (type === 'lmdb' && !existsSync(name + lmdbSuffix(type))) {
      return this.open(type, name, O_RDWR | O_CREAT | O_TRUNC, dictFlags);
    }
    return this.open(type, name, type === 'proxy' ? O_RDWR | O_CREAT : O_RDWR, dictFlags);
  }

  /** tableError - turn a DictError into Postfix's fatal text for the given operation. */
  tableError(dict: Dict, e: unknown, op: 'query' | 'write' | 'delete' | 'sequence'): never {
    if (e instanceof DictUnsupportedError) return msg.fatal(e.message);
    if (e instanceof DictError) {
      if (e.kind === 'config' && /duplicate entry/.test(e.message)) return msg.fatal(e.message);
      return msg.fatal(`table ${dict.type}:${dict.name}: ${op} error: ${e.message}`);
    }
    throw e;
  }

  /** stdinLines - the lines of standard input, without newlines (vstring_get_nonl). */
  async *stdinLines(): AsyncIterable<string> {
    const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
    for await (const line of rl) yield line;
  }

  /** warnEmpty - postmap's complaints about empty results. */
  warnEmptyResult(dict: Dict, key: string): void {
    msg.warn(`table ${dict.type}:${dict.name}: key ${key}: empty string result is not allowed`);
    msg.warn(`table ${dict.type}:${dict.name} should return NO RESULT in case of NOT FOUND`);
  }

  /**
   * openBulk - open a table for bulk creation from `path`: check the type,
   * stat the source, and arrange owner/mode of the result (Postfix: umask
   * from the source mode unless -p; run as the source owner when root unless -o).
   */
  openBulk(
    type: string,
    name: string,
    dictFlags: number,
    opt: { savePerm: boolean; asOwner: boolean },
  ): { dict: Dict; source: Buffer } {
    if (type === 'proxy') msg.fatal("can't create maps via the proxy service");
    if (!dictIsBulkType(type)) {
      try {
        dictOpen3(type, '\0probe', 0, 0);
      } catch (e) {
        if (e instanceof DictOpenError && /^unsupported dictionary type/.test(e.message)) {
          msg.fatal(`unsupported dictionary type: ${type}. Is the postfix-${type} package installed?`);
        }
      }
      msg.fatal(`unsupported dictionary type: ${type} does not support bulk-mode creation.`);
    }
    let st: Stats;
    let source: Buffer;
    try {
      source = readFileSync(name);
      st = statSync(name);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return msg.fatal(`open ${name}: ${strerror(err)}`);
    }
    const dict = this.open(type, name, 0o2 | 0o100 | 0o1000, dictFlags | DICT_FLAG.BULK_UPDATE);
    if (dict instanceof DictLmdb) {
      let mode = 0o644;
      if (opt.savePerm && st.isFile()) mode &= st.mode | 0o700;
      const asOwner = opt.asOwner && process.getuid?.() === 0;
      dict.setCreateMode(mode, asOwner ? st.uid : undefined, asOwner ? st.gid : undefined);
    }
    return { dict, source };
  }

  /** run - call the program body, map fatal errors to exit status, flush output, exit. */
  static async run(cli: TableCli, body: () => Promise<number>): Promise<void> {
    let status: number;
    try {
      status = await body();
    } catch (e) {
      if (e instanceof FatalError) status = e.status;
      else {
        process.stderr.write(`${cli.progname}: fatal: ${(e as Error).message}\n`);
        status = 1;
      }
    }
    await cli.flush();
    await maillogClientFlush().catch(() => undefined);
    process.exit(status);
  }
}

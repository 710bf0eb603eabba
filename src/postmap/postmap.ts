/**
 * postmap - Postfix lookup table management (Postfix postmap(1)).
 *
 * postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...
 *
 * Builds an indexed table from a `key whitespace value` text file (atomic
 * replace, owner and mode taken from the source), queries (-q key, -q -),
 * dumps (-s), deletes (-d), updates from stdin (-i), and tests message
 * headers/bodies against tables (-b/-h/-m with -q -). Exit status and
 * diagnostics follow Postfix. See docs/postmap.md.
 */

import { strerror } from '../util/msg_logwriter.js';
import { readFileSync } from 'node:fs';
import { msg } from '../util/msg.js';
import { DICT_FLAG, O_RDONLY, DictError, type Dict } from '../util/dict.js';
import { readLogicalLines, showInvalid, splitKeyValue } from '../util/dict_text.js';
import { TableCli } from './table_cli.js';
import { getoptAll as getopt } from '../util/getopt.js';

const USAGE = 'usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...';

const FLAG_BODY = 1;
const FLAG_HEADER = 2;
const FLAG_MIME = 4;

export async function main(argv: string[]): Promise<void> {
  const cli = new TableCli('postmap');
  await TableCli.run(cli, () => postmap(cli, argv));
}

async function postmap(cli: TableCli, argv: string[]): Promise<number> {
  const parsed = getopt(argv, 'bc:d:fFhimnNopq:rsuUvw', cli.progname);
  if (!parsed) return msg.fatal(USAGE);
  let dictFlags = DICT_FLAG.DUP_WARN | DICT_FLAG.FOLD_FIX | DICT_FLAG.UTF8_REQUEST;
  let keyFlags = 0;
  let savePerm = true;
  let asOwner = true;
  let incremental = false;
  let query: string | undefined;
  let delkey: string | undefined;
  let sequence = false;
  let forceUtf8 = false;
  let configDir: string | undefined;
  for (const [c, arg] of parsed.opts) {
    switch (c) {
      case 'N':
        dictFlags = (dictFlags | DICT_FLAG.TRY1NULL) & ~DICT_FLAG.TRY0NULL;
        break;
      case 'b':
        keyFlags |= FLAG_BODY;
        break;
      case 'c':
        configDir = arg;
        break;
      case 'd':
        if (sequence || query !== undefined || delkey !== undefined) msg.fatal('specify only one of -s -q or -d');
        delkey = arg;
        break;
      case 'f':
        dictFlags &= ~DICT_FLAG.FOLD_FIX;
        break;
      case 'F':
        dictFlags |= DICT_FLAG.SRC_RHS_IS_FILE;
        break;
      case 'h':
        keyFlags |= FLAG_HEADER;
        break;
      case 'i':
        incremental = true;
        break;
      case 'm':
        keyFlags |= FLAG_MIME;
        break;
      case 'n':
        dictFlags = (dictFlags | DICT_FLAG.TRY0NULL) & ~DICT_FLAG.TRY1NULL;
        break;
      case 'o':
        asOwner = false;
        break;
      case 'p':
        savePerm = false;
        break;
      case 'q':
        if (sequence || query !== undefined || delkey !== undefined) msg.fatal('specify only one of -s -q or -d');
        query = arg;
        break;
      case 'r':
        dictFlags = (dictFlags & ~(DICT_FLAG.DUP_WARN | DICT_FLAG.DUP_IGNORE)) | DICT_FLAG.DUP_REPLACE;
        break;
      case 's':
        if (query !== undefined || delkey !== undefined) msg.fatal('specify only one of -s or -q or -d');
        sequence = true;
        break;
      case 'u':
        dictFlags &= ~DICT_FLAG.UTF8_REQUEST;
        break;
      case 'U':
        forceUtf8 = true;
        break;
      case 'v':
        cli.verbose();
        break;
      case 'w':
        dictFlags = (dictFlags & ~(DICT_FLAG.DUP_WARN | DICT_FLAG.DUP_REPLACE)) | DICT_FLAG.DUP_IGNORE;
        break;
    }
  }
  cli.loadConfig(configDir);
  if ((query === undefined || query !== '-') && keyFlags) msg.fatal('specify -b -h or -m only with "-q -"');
  if (keyFlags && keyFlags === (keyFlags & FLAG_MIME)) msg.warn('ignoring -m option without -b or -h');
  if (dictFlags & DICT_FLAG.UTF8_REQUEST && cli.utf8Active()) dictFlags |= DICT_FLAG.UTF8_ACTIVE;
  if (keyFlags & (FLAG_BODY | FLAG_HEADER) && !forceUtf8) dictFlags &= ~(DICT_FLAG.UTF8_REQUEST | DICT_FLAG.UTF8_ACTIVE);
  const maps = parsed.rest;

  if (delkey !== undefined) {
    if (maps.length < 1) msg.fatal(USAGE);
    if (delkey === '-') return (await deletes(cli, maps, dictFlags | DICT_FLAG.LOCK)) ? 0 : 1;
    let found = false;
    for (const m of maps) found = (await deleteOne(cli, m, delkey, dictFlags | DICT_FLAG.LOCK)) || found;
    return found ? 0 : 1;
  }
  if (query !== undefined) {
    if (maps.length < 1) msg.fatal(USAGE);
    if (query === '-') return (await queries(cli, maps, keyFlags, dictFlags | DICT_FLAG.LOCK)) ? 0 : 1;
    for (const m of maps) {
      if (await queryOne(cli, m, query, dictFlags | DICT_FLAG.LOCK)) return 0;
    }
    return 1;
  }
  if (sequence) {
    if (maps.length < 1) return 1;
    await sequenceOne(cli, maps[0], dictFlags | DICT_FLAG.LOCK, (k, v) => `${k}\t${v}\n`);
    return 0;
  }
  if (maps.length < 1) msg.fatal(USAGE);
  for (const m of maps) await build(cli, m, dictFlags, { savePerm, asOwner, incremental });
  return 0;
}

/** fileToBase64 - postmap -F: the value names a file whose content is stored base64-encoded. */
function fileToBase64(path: string): string | { error: string } {
  try {
    return readFileSync(path).toString('base64');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { error: `open ${path}: ${strerror(err)}` };
  }
}

/** lookupFlagged - a lookup honouring -F (decode the stored base64). */
async function lookupFlagged(dict: Dict, key: string, dictFlags: number): Promise<string | null> {
  const v = await dict.lookup(key);
  if (v === null || !(dictFlags & DICT_FLAG.SRC_RHS_IS_FILE)) return v;
  return Buffer.from(v, 'base64').toString('utf8');
}

async function queryOne(cli: TableCli, spec: string, key: string, dictFlags: number): Promise<boolean> {
  const { type, name } = cli.splitMap(spec);
  const dict = cli.open(type, name, O_RDONLY, dictFlags);
  let value: string | null;
  try {
    value = await lookupFlagged(dict, key, dictFlags);
  } catch (e) {
    return cli.tableError(dict, e, 'query');
  }
  if (value !== null) {
    if (value === '') cli.warnEmptyResult(dict, key);
    cli.print(`${value}\n`);
  }
  await dict.close();
  return value !== null;
}

async function queries(cli: TableCli, maps: string[], keyFlags: number, dictFlags: number): Promise<boolean> {
  const dicts: Array<Dict | undefined> = maps.map(() => undefined);
  let found = false;
  const one = async (key: string): Promise<void> => {
    for (let n = 0; n < maps.length; n++) {
      if (!dicts[n]) {
        const { type, name } = cli.splitMap(maps[n]);
        dicts[n] = cli.open(type, name, O_RDONLY, dictFlags);
      }
      const dict = dicts[n]!;
      let value: string | null;
      try {
        value = await lookupFlagged(dict, key, dictFlags);
      } catch (e) {
        return cli.tableError(dict, e, 'query');
      }
      if (value !== null) {
        if (value === '') cli.warnEmptyResult(dict, key);
        cli.print(`${key}\t${value}\n`);
        found = true;
        return;
      }
    }
  };
  if (!keyFlags) {
    for await (const line of cli.stdinLines()) await one(line);
  } else {
    const lines: string[] = [];
    for await (const line of cli.stdinLines()) lines.push(line);
    for (const key of messageKeys(lines, keyFlags)) await one(key);
  }
  for (const d of dicts) if (d) await d.close();
  return found;
}

/**
 * messageKeys - the lookup keys of a message for postmap -h/-b/-m: logical
 * headers (folded lines joined with newlines) and body lines; with -m also
 * the headers of MIME parts (a simplified MIME walk: multipart boundaries
 * from Content-Type, nested parts, message/rfc822 headers).
 */
export function messageKeys(lines: string[], flags: number): string[] {
  const keys: string[] = [];
  const wantHeaders = (flags & FLAG_HEADER) !== 0;
  const wantBody = (flags & FLAG_BODY) !== 0;
  const mime = (flags & FLAG_MIME) !== 0;
  const boundaries: string[] = [];
  let inHeader = true;
  let primary = true;
  let header: string | undefined;
  let pendingBoundary: string | undefined;
  let nestedMessage = false;
  const endHeader = (): void => {
    if (header !== undefined) {
      if (wantHeaders) keys.push(header);
      if (mime) {
        const ct = /^content-type:\s*([^;\s]+)([\s\S]*)$/i.exec(header);
        if (ct) {
          const b = /boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))/i.exec(ct[2]);
          if (/^multipart\//i.test(ct[1]) && b) pendingBoundary = b[1] ?? b[2];
          if (/^message\/rfc822$/i.test(ct[1])) nestedMessage = true;
        }
      }
      header = undefined;
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (inHeader) {
      if (line === '') {
        endHeader();
        if (primary && !wantBody && !mime) return keys;
        primary = false;
        if (pendingBoundary) {
          boundaries.push(pendingBoundary);
          pendingBoundary = undefined;
        }
        if (nestedMessage) {
          nestedMessage = false;
          continue; // the body is another header block
        }
        inHeader = false;
        continue;
      }
      if (/^[ \t]/.test(line) && header !== undefined) {
        header += '\n' + line;
        continue;
      }
      if (/^[\x21-\x39\x3b-\x7e]+:/.test(line)) {
        endHeader();
        header = line;
        continue;
      }
      // not a header: the body starts here
      endHeader();
      inHeader = false;
      primary = false;
    }
    if (mime && boundaries.length) {
      const b = boundaries[boundaries.length - 1];
      if (line === `--${b}`) {
        if (wantBody) keys.push(line);
        inHeader = true;
        continue;
      }
      if (line === `--${b}--`) {
        if (wantBody) keys.push(line);
        boundaries.pop();
        continue;
      }
    }
    if (wantBody) keys.push(line);
  }
  endHeader();
  return keys;
}

async function deleteOne(cli: TableCli, spec: string, key: string, dictFlags: number): Promise<boolean> {
  const { type, name } = cli.splitMap(spec);
  const dict = cli.openForEdit(type, name, dictFlags);
  let found: boolean;
  try {
    found = await dict.delete(key);
  } catch (e) {
    return cli.tableError(dict, e, 'delete');
  }
  await dict.close();
  return found;
}

async function deletes(cli: TableCli, maps: string[], dictFlags: number): Promise<boolean> {
  const dicts = maps.map((spec) => {
    const { type, name } = cli.splitMap(spec);
    return cli.openForEdit(type, name, dictFlags);
  });
  let found = false;
  for await (const key of cli.stdinLines()) {
    for (const dict of dicts) {
      try {
        found = (await dict.delete(key)) || found;
      } catch (e) {
        return cli.tableError(dict, e, 'delete');
      }
    }
  }
  for (const d of dicts) await d.close();
  return found;
}

/** sequenceOne - postmap/postalias -s. */
export async function sequenceOne(
  cli: TableCli,
  spec: string,
  dictFlags: number,
  format: (k: string, v: string) => string,
): Promise<void> {
  const { type, name } = cli.splitMap(spec);
  if (type === 'proxy') msg.fatal("can't sequence maps via the proxy service");
  const dict = cli.open(type, name, O_RDONLY, dictFlags);
  try {
    for await (const [key, value] of dict.sequence()) {
      let v = value;
      if (key === '') msg.warn(`table ${type}:${name}: empty lookup key value is not allowed`);
      else if (value === '') cli.warnEmptyResult(dict, key);
      if (dictFlags & DICT_FLAG.SRC_RHS_IS_FILE) v = Buffer.from(value, 'base64').toString('utf8');
      cli.print(format(key, v));
    }
  } catch (e) {
    if (e instanceof DictError) return cli.tableError(dict, e, 'sequence');
    throw e;
  }
  await dict.close();
}

/** build - postmap [-i] type:file: create the table from the file (or update it from stdin). */
async function build(
  cli: TableCli,
  spec: string,
  dictFlags: number,
  opt: { savePerm: boolean; asOwner: boolean; incremental: boolean },
): Promise<void> {
  const { type, name } = cli.splitMap(spec);
  let dict: Dict;
  let source: Buffer;
  let path: string;
  if (opt.incremental) {
    dict = cli.openIncremental(type, name, dictFlags);
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    source = Buffer.concat(chunks);
    path = 'stdin';
  } else {
    ({ dict, source } = cli.openBulk(type, name, dictFlags, opt));
    path = name;
  }
  for (const { text, lineNo, utf8 } of readLogicalLines(source, path)) {
    if (dict.flags & DICT_FLAG.UTF8_ACTIVE && !utf8) {
      msg.warn(`${path}, line ${lineNo}: non-UTF-8 input "${showInvalid(text)}" -- ignoring this line`);
      continue;
    }
    const kv = splitKeyValue(text);
    if ('error' in kv) {
      msg.warn(`${path}, line ${lineNo}: unbalanced '"' in '${text}' -- ignoring this line`);
      continue;
    }
    if (kv.key === '' || kv.value === '') {
      msg.warn(`${path}, line ${lineNo}: expected format: key whitespace value`);
      continue;
    }
    if (kv.key.endsWith(':')) {
      msg.warn(`${path}, line ${lineNo}: record is in "key: value" format; is this an alias file?`);
    }
    let value = kv.value;
    if (dictFlags & DICT_FLAG.SRC_RHS_IS_FILE) {
      const b = fileToBase64(value);
      if (typeof b !== 'string') {
        msg.warn(`${path}, line ${lineNo}: ${b.error}: skipping this entry`);
        continue;
      }
      value = b;
    }
    try {
      await dict.update(kv.key, value);
    } catch (e) {
      return cli.tableError(dict, e, 'write');
    }
  }
  try {
    await dict.close();
  } catch (e) {
    return cli.tableError(dict, e, 'write');
  }
}

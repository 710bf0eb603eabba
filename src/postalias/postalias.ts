/**
 * postalias - Postfix alias database maintenance (Postfix postalias(1)),
 * and the engine of newaliases / sendmail -bi.
 *
 * postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file...
 *
 * Input is aliases(5): `name: value, value, ...`; the name is stored in
 * internal (unquoted) form and lower case, the value in external (quoted)
 * form with one space after each comma. The `@ -> @` sentinel is added; the
 * NIS entries YP_LAST_MODIFIED / YP_MASTER_NAME are not, as in a Postfix
 * built without NIS (like the rest of this build). See docs/postalias.md.
 */

import { msg } from '../util/msg.js';
import { DICT_FLAG, O_RDONLY, type Dict } from '../util/dict.js';
import { readLogicalLines, showInvalid } from '../util/dict_text.js';
import { MailConfig } from '../global/mail_conf.js';
import { TableCli } from '../postmap/table_cli.js';
import { getoptAll as getopt } from '../util/getopt.js';
import { sequenceOne } from '../postmap/postmap.js';

const USAGE = 'usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file...';

export async function main(argv: string[]): Promise<void> {
  const cli = new TableCli('postalias');
  await TableCli.run(cli, () => postalias(cli, argv));
}

type Token = { kind: 'atom' | 'quoted' | 'comment' | 'special'; text: string; spaceBefore: boolean };

/**
 * tokenize - RFC 822 tokens as Postfix tok822_scan() sees them: quoted
 * strings, (nested) comments, specials, and atoms (a backslash quotes the
 * next character). Returns undefined for an empty line.
 */
export function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let space = false;
  const SPECIALS = '()<>@,;:\\".[]';
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      space = true;
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      out.push({ kind: 'quoted', text: s.slice(i, Math.min(j + 1, s.length)), spaceBefore: space });
      i = j + 1;
    } else if (c === '(') {
      let depth = 0;
      let j = i;
      for (; j < s.length; j++) {
        if (s[j] === '\\') j++;
        else if (s[j] === '(') depth++;
        else if (s[j] === ')' && --depth === 0) break;
      }
      out.push({ kind: 'comment', text: s.slice(i, Math.min(j + 1, s.length)), spaceBefore: space });
      i = j + 1;
    } else if (SPECIALS.includes(c) && c !== '\\') {
      out.push({ kind: 'special', text: c, spaceBefore: space });
      i++;
    } else {
      let text = '';
      while (i < s.length && !/\s/.test(s[i]) && !(SPECIALS.includes(s[i]) && s[i] !== '\\')) {
        if (s[i] === '\\' && i + 1 < s.length) {
          text += s[i + 1];
          i += 2;
        } else {
          text += s[i++];
        }
      }
      out.push({ kind: 'atom', text, spaceBefore: space });
    }
    space = false;
  }
  return out;
}

/** internalize - the key in internal form: quotes removed, words separated by one space. */
function internalize(tokens: Token[]): string {
  let out = '';
  for (const t of tokens) {
    if (t.spaceBefore && out !== '' && t.kind !== 'special') out += ' ';
    if (t.kind === 'quoted') out += t.text.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (t.kind === 'comment') continue;
    else out += t.text;
  }
  return out;
}

/** externalize - the value in external form: ", " after commas, single spaces between words, atoms quoted when needed. */
function externalize(tokens: Token[]): string {
  let out = '';
  let prev: Token | undefined;
  for (const t of tokens) {
    if (prev && !(prev.kind === 'special' && prev.text === ',') && t.spaceBefore && !(t.kind === 'special' && t.text === ',')) out += ' ';
    if (t.kind === 'special' && t.text === ',') out += ', ';
    else if (t.kind === 'atom' && /[()<>@,;:\\".[\]\s]/.test(t.text)) out += `"${t.text.replace(/(["\\])/g, '\\$1')}"`;
    else out += t.text;
    prev = t;
  }
  return out;
}

/** parseAliasLine - a logical aliases(5) line to key and value, or Postfix's warning text. */
export function parseAliasLine(line: string): { key: string; value: string } | { warning: string } | undefined {
  const tokens = tokenize(line);
  if (tokens.length === 0) return undefined;
  const colon = tokens.findIndex((t) => t.kind === 'special' && t.text === ':');
  if (colon <= 0 || colon === tokens.length - 1 || tokens.slice(0, colon).some((t) => t.kind === 'special' && t.text === ',')) {
    return { warning: 'need name:value pair' };
  }
  if (tokens.slice(0, colon).some((t) => t.kind === 'special' && t.text === '@') || tokens.slice(0, colon).some((t) => t.kind === 'atom' && t.text.includes('%'))) {
    return { warning: 'name must be local' };
  }
  return { key: internalize(tokens.slice(0, colon)), value: externalize(tokens.slice(colon + 1)) };
}

async function postalias(cli: TableCli, argv: string[]): Promise<number> {
  const parsed = getopt(argv, 'Nc:d:finopq:rsuvw', cli.progname);
  if (!parsed) return msg.fatal(USAGE);
  let dictFlags = DICT_FLAG.DUP_WARN | DICT_FLAG.FOLD_FIX | DICT_FLAG.UTF8_REQUEST;
  let savePerm = true;
  let asOwner = true;
  let incremental = false;
  let query: string | undefined;
  let delkey: string | undefined;
  let sequence = false;
  let configDir: string | undefined;
  for (const [c, arg] of parsed.opts) {
    switch (c) {
      case 'N':
        dictFlags = (dictFlags | DICT_FLAG.TRY1NULL) & ~DICT_FLAG.TRY0NULL;
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
      case 'i':
        incremental = true;
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
      case 'v':
        cli.verbose();
        break;
      case 'w':
        dictFlags = (dictFlags & ~(DICT_FLAG.DUP_WARN | DICT_FLAG.DUP_REPLACE)) | DICT_FLAG.DUP_IGNORE;
        break;
    }
  }
  cli.loadConfig(configDir);
  if (dictFlags & DICT_FLAG.UTF8_REQUEST && cli.utf8Active()) dictFlags |= DICT_FLAG.UTF8_ACTIVE;
  const maps = parsed.rest;
  const lockFlags = dictFlags | DICT_FLAG.LOCK;

  if (delkey !== undefined) {
    if (maps.length < 1) msg.fatal(USAGE);
    const keys: string[] = [];
    if (delkey === '-') for await (const k of cli.stdinLines()) keys.push(k);
    else keys.push(delkey);
    const dicts = maps.map((spec) => {
      const { type, name } = cli.splitMap(spec);
      return cli.openForEdit(type, name, lockFlags);
    });
    let found = false;
    for (const key of keys) {
      for (const dict of dicts) {
        try {
          found = (await dict.delete(key)) || found;
        } catch (e) {
          return cli.tableError(dict, e, 'delete');
        }
      }
    }
    for (const d of dicts) await d.close();
    return found ? 0 : 1;
  }
  if (query !== undefined) {
    if (maps.length < 1) msg.fatal(USAGE);
    if (query === '-') {
      const dicts: Array<Dict | undefined> = maps.map(() => undefined);
      let found = false;
      for await (const key of cli.stdinLines()) {
        for (let n = 0; n < maps.length; n++) {
          if (!dicts[n]) {
            const { type, name } = cli.splitMap(maps[n]);
            dicts[n] = cli.open(type, name, O_RDONLY, lockFlags);
          }
          let v: string | null;
          try {
            v = await dicts[n]!.lookup(key);
          } catch (e) {
            return cli.tableError(dicts[n]!, e, 'query');
          }
          if (v !== null) {
            if (v === '') cli.warnEmptyResult(dicts[n]!, key);
            cli.print(`${key}:\t${v}\n`);
            found = true;
            break;
          }
        }
      }
      for (const d of dicts) if (d) await d.close();
      return found ? 0 : 1;
    }
    for (const spec of maps) {
      const { type, name } = cli.splitMap(spec);
      const dict = cli.open(type, name, O_RDONLY, lockFlags);
      let v: string | null;
      try {
        v = await dict.lookup(query);
      } catch (e) {
        return cli.tableError(dict, e, 'query');
      }
      await dict.close();
      if (v !== null) {
        if (v === '') cli.warnEmptyResult(dict, query);
        cli.print(`${v}\n`);
        return 0;
      }
    }
    return 1;
  }
  if (sequence) {
    if (maps.length < 1) return 1;
    await sequenceOne(cli, maps[0], lockFlags, (k, v) => `${k}:\t${v}\n`);
    return 0;
  }
  if (maps.length < 1) msg.fatal(USAGE);
  for (const spec of maps) await buildAliases(cli, spec, dictFlags, { savePerm, asOwner, incremental });
  return 0;
}

/** buildAliases - postalias [-i] type:file: build (or update from stdin) one alias database. */
export async function buildAliases(
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
  const put = async (k: string, v: string): Promise<void> => {
    try {
      await dict.update(k, v);
    } catch (e) {
      cli.tableError(dict, e, 'write');
    }
  };
  for (const { text, lineNo, utf8 } of readLogicalLines(source, path)) {
    if (dict.flags & DICT_FLAG.UTF8_ACTIVE && !utf8) {
      msg.warn(`${path}, line ${lineNo}: non-UTF-8 input "${showInvalid(text)}" -- ignoring this line`);
      continue;
    }
    const r = parseAliasLine(text);
    if (!r) continue;
    if ('warning' in r) {
      msg.warn(`${path}, line ${lineNo}: ${r.warning}`);
      continue;
    }
    await put(r.key, r.value);
  }
  if (opt.incremental) dict.flags |= DICT_FLAG.DUP_REPLACE;
  await put('@', '@');
  // No YP_LAST_MODIFIED / YP_MASTER_NAME entries: like the rest of this build
  // (alias_maps without nis:, no nis: table type) this is a Postfix without
  // HAS_NIS, which does not write them.
  try {
    await dict.close();
  } catch (e) {
    cli.tableError(dict, e, 'write');
  }
}

/**
 * newaliases - rebuild every table in $alias_database (sendmail -bi,
 * newaliases). Errors are fatal (msg.fatal), as in Postfix; callers that
 * must survive install a fatal action.
 */
export async function newaliases(config: MailConfig): Promise<void> {
  const cli = Object.create(TableCli.prototype) as TableCli;
  Object.assign(cli, { progname: 'newaliases', out: [], config });
  let dictFlags = DICT_FLAG.DUP_WARN | DICT_FLAG.FOLD_FIX | DICT_FLAG.UTF8_REQUEST;
  if (cli.utf8Active()) dictFlags |= DICT_FLAG.UTF8_ACTIVE;
  for (const spec of config.list('alias_database')) {
    await buildAliases(cli, spec, dictFlags, { savePerm: true, asOwner: true, incremental: false });
  }
}


/**
 * qshape - print Postfix queue domain and age distribution (Postfix
 * qshape(1)).
 *
 * Walks the named queues (default incoming and active; relative names are
 * under queue_directory), reads each complete queue file's envelope (arrival
 * time, sender, recipients; content skipped) and counts recipient domains
 * (-s: sender domains) per age bucket: [0,t), [t,2t), [2t,4t), ... (-l:
 * linear), the last one open-ended. -p adds parent domains (".example.com")
 * that have at least -m subdomains. Columns are right-justified so that the
 * last ends at column 80 (-w wider). On a terminal, intermediate results are
 * shown every -N messages (top -n domains).
 */

import { closeSync, lstatSync, openSync, readSync, readdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { MailConfig } from '../global/mail_conf.js';

const USAGE = (prog: string) =>
  `Usage: ${prog} [ -s ] [ -p ] [ -m <min_subdomains> ] [ -l ]\n` +
  '\t[ -b <bucket_count> ] [ -t <bucket_time> ] [ -w <terminal_width> ]\n' +
  '\t[ -N <batch_msg_count> ] [ -n <batch_top_domains> ]\n' +
  '\t[ -c <config_directory> ] [ <queue_name> ... ]\n' +
  "The 's' option shows sender domain counts.\n" +
  "The 'p' option shows address counts by for parent domains.\n" +
  "Parent domains are shown with a leading '.' before the domain name.\n" +
  'Parent domains are only shown if the domain is not a TLD, and at\n' +
  'least <min_subdomains> (default 5) subdomains are shown in the output.\n\n' +
  'The bucket age ranges in units of <bucket_time> minutes are\n' +
  '[0,1), [1,2), [2,4), [4,8), [8, 16), ... i.e.:\n' +
  '\tthe first bucket is [0, bucket_time) minutes\n' +
  '\tthe second bucket is [bucket_time, 2*bucket_time) minutes\n' +
  '\tthe third bucket is [2*bucket_time, 4*bucket_time) minutes...\n' +
  "'-l' makes the ages linear, the number of buckets shown is <bucket_count>\n\n" +
  'The default summary is for the incoming and active queues. An explicit\n' +
  'list of queue names can be given on the command line. Non-absolute queue\n' +
  'names are interpreted relative to the Postfix queue directory. Use\n' +
  '<config_directory> to specify a non-default Postfix instance.  Values of\n' +
  'the main.cf queue_directory parameter that use variable expansions are\n' +
  'not supported. If necessary, use explicit absolute paths for all queues.\n';

class UsageError extends Error {}

interface Options {
  flags: Set<string>;
  values: Map<string, string>;
  queues: string[];
}

/** getopts - Perl Getopt::Std getopts("lhc:psw:b:t:m:n:N:") */
function getopts(argv: string[], prog: string): Options {
  const withArg = new Set(['c', 'w', 'b', 't', 'm', 'n', 'N']);
  const noArg = new Set(['l', 'h', 'p', 's']);
  const o: Options = { flags: new Set(), values: new Map(), queues: [] };
  let i = 0;
  let bad = '';
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      if (withArg.has(c)) {
        const v = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
        if (v !== undefined) o.values.set(c, v);
        break;
      } else if (noArg.has(c)) o.flags.add(c);
      else bad += `${prog}: Unknown option: ${c}\n`;
    }
  }
  o.queues = argv.slice(i);
  if (bad || o.flags.has('h')) throw new UsageError(bad);
  return o;
}

/** Envelope facts qshape needs; undefined for files that are not complete queue files. */
function queueEnvelope(path: string, name: string): { time: number; sender: string; rcpts: string[] } | undefined {
  if (!/[A-Za-z0-9]{6,}$/.test(name)) return undefined;
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (!st.isFile() || (st.mode & 0o733) !== 0o700) return undefined;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    let pos = 0;
    const one = Buffer.alloc(1);
    const next = (): { type: string; data: Buffer } | undefined => {
      if (readSync(fd, one, 0, 1, pos) !== 1) return undefined;
      const type = String.fromCharCode(one[0]);
      pos++;
      let len = 0;
      let shift = 0;
      for (;;) {
        if (readSync(fd, one, 0, 1, pos) !== 1) return undefined;
        pos++;
        len |= (one[0] & 0x7f) << shift;
        if ((one[0] & 0x80) === 0) break;
        shift += 7;
        if (shift > 14) return undefined;
      }
      const data = Buffer.alloc(len);
      if (len > 0 && readSync(fd, data, 0, len, pos) !== len) return undefined;
      pos += len;
      return { type, data };
    };
    let r = next();
    if (!r) return undefined;
    let time: number | undefined;
    let sender: string | undefined;
    let dataLen: number | undefined;
    const rcpts: string[] = [];
    if (r.type === 'C') {
      const m = /^\s*(\d+)\s+\d+\s+\d+/.exec(r.data.toString('latin1'));
      if (m) dataLen = Number(m[1]);
      r = next();
      if (!r || r.type !== 'T') return undefined;
      time = Number(r.data.toString('latin1').split(/\s+/)[0]);
    } else if (r.type === 'S' || r.type === 'F') {
      time = Math.floor(st.mtimeMs / 1000);
      if (r.type !== 'S') {
        r = next();
        if (!r || r.type !== 'S') return undefined;
      }
      sender = r.data.toString('utf8');
    } else {
      return undefined;
    }
    for (let guard = 0; guard < 1_000_000; guard++) {
      r = next();
      if (!r) return undefined;
      const text = r.data.toString('utf8');
      if (r.type === 'p' && Number(text) > 0) pos = Number(text);
      if (r.type === 'R') rcpts.push(text);
      else if (r.type === 'S') sender = text;
      else if (r.type === 'M') {
        if (sender === undefined) return undefined;
        if (dataLen !== undefined) {
          pos += dataLen;
          r = next();
        } else {
          while ((r = next()) && /^[NLp]$/.test(r.type)) {
            const t = r.data.toString('latin1');
            if (r.type === 'p' && Number(t) > 0) pos = Number(t);
          }
        }
        if (!r || r.type !== 'X') return undefined;
      } else if (r.type === 'E') {
        if (time === undefined || sender === undefined || rcpts.length === 0) return undefined;
        return { time, sender, rcpts };
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export function main(argv: string[]): void {
  const prog = process.argv[1] ?? 'qshape';
  let o: Options;
  try {
    o = getopts(argv, prog);
  } catch (err) {
    process.stderr.write((err as Error).message + USAGE(prog));
    process.exitCode = 255;
    return;
  }
  const num = (k: string, min: number, def: number) => {
    const v = Number(o.values.get(k));
    return o.values.has(k) && v > min ? Math.floor(v) : def;
  };
  const width = num('w', 80, 80);
  const bnum = num('b', 0, 10);
  const tick = o.values.has('t') && Number(o.values.get('t')) > 0 ? Number(o.values.get('t')) : 5;
  const minsub = num('m', 0, 5);
  const linear = o.flags.has('l');
  const parents = o.flags.has('p');
  const senders = o.flags.has('s');
  const queues = o.queues.length > 0 ? o.queues : ['incoming', 'active'];
  let base = '';
  if (queues.some((q) => !isAbsolute(q))) {
    const config = MailConfig.load(o.values.get('c'));
    base = config.str('queue_directory');
  }
  const tty = process.stdout.isTTY === true;
  const batchMsgs = tty ? Number(o.values.get('N') ?? 1000) : 0;
  const batchTop = tty ? Number(o.values.get('n') ?? 20) : 0;
  const cls = tty ? '\x1b[H\x1b[2J' : '';

  const counts = new Map<string, number[]>();
  const sub = new Map<string, number>();
  const now = Date.now() / 1000;
  const bucket = (t: number): number => {
    const m = (now - t) / (60 * tick);
    if (m < 1) return 1;
    const b = linear ? Math.floor(m + 1) : 2 + Math.floor(Math.log(m) / Math.log(2));
    return b < bnum ? b : bnum;
  };
  const bump = (key: string, b: number): boolean => {
    let c = counts.get(key);
    if (!c) counts.set(key, (c = []));
    c[0] = (c[0] ?? 0) + 1;
    c[b] = (c[b] ?? 0) + 1;
    return c[0] > 1;
  };

  const results = () => {
    const heads: string[] = [];
    const widths: number[] = [];
    let dw = width;
    const total = counts.get('TOTAL') ?? [];
    let t: number | string = 0;
    for (let i = 0; i <= bnum; ) {
      const h = i === 0 ? 'T' : String(t);
      let l = String(total[i] ?? 0).length;
      if (h.length >= l) l = h.length;
      l = l > 2 ? l + 1 : 3;
      heads.push(h);
      widths.push(l);
      dw -= l;
      if (++i < bnum) t = (t as number) + ((t as number) && !linear ? (t as number) : tick);
      else t = `${t}+`;
    }
    if (dw < 18) dw = 18;
    const row = (d: string, cells: Array<string | number | undefined>) => {
      let name: string;
      if (d.length > dw) name = d.startsWith('.') ? '.+' + d.slice(d.length - dw + 2) : '+' + d.slice(d.length - dw + 1);
      else name = ' '.repeat(dw - d.length) + d;
      let line = name;
      for (let i = 0; i <= bnum; i++) line += String(cells[i] ?? 0).padStart(widths[i]);
      return line + '\n';
    };
    let out = cls + row('', heads);
    const keys = [...counts.keys()].sort((a, b) => counts.get(b)![0] - counts.get(a)![0] || a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
    let n = 0;
    for (const d of keys) {
      if (d.startsWith('.') && (sub.get(d) ?? 0) < minsub) continue;
      if (batchTop > 0 && ++n > batchTop) break;
      out += row(d, counts.get(d)!);
    }
    process.stdout.write(out);
  };

  let msgs = 0;
  const visit = (path: string, name: string) => {
    const env = queueEnvelope(path, name);
    if (!env) return;
    const b = bucket(env.time);
    for (const addr of senders ? [env.sender] : env.rcpts) {
      let a = addr.toLowerCase();
      bump('TOTAL', b);
      if (a === '') a = 'MAILER-DAEMON';
      a = a.replace(/^.*@/s, '').replace(/\.\./g, '.').replace(/^\.?(.+?)\.?$/s, '$1');
      let isNew = false;
      for (;;) {
        const old = bump(a, b);
        if (isNew) sub.set(a, (sub.get(a) ?? 0) + 1);
        isNew = !old;
        if (!parents) break;
        const m = /^\.?[^.]+\.(.*\.)/s.exec(a);
        if (!m) break;
        a = '.' + m[1] + a.slice(m[0].length);
      }
    }
    if (batchMsgs > 0 && ++msgs % batchMsgs === 0) results();
  };
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      process.stderr.write(`${prog}: Can't opendir ${dir}: ${(err as Error).message}\n`);
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else visit(p, e.name);
    }
  };
  for (const q of queues) walk(isAbsolute(q) ? q : join(base, q));
  results();
}

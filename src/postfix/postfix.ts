/**
 * postfix - Postfix control program (Postfix postfix(1) and the
 * postfix-script / post-install shell scripts it runs).
 *
 * SYNOPSIS: postfix [-Dv] [-c config_dir] command
 *
 * Commands: start, start-fg, stop, abort, reload, status, flush, check,
 * set-permissions [name=value ...], upgrade-configuration, logrotate.
 * Messages carry the postfix/postfix-script tag and go to the mail log (and
 * to stderr when it is a terminal), as with Postfix.
 *
 * Unlike Postfix it may be run by an ordinary user: the instance then runs
 * entirely as that user and no privilege calls are made (DESIGN §3).
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, statSync, appendFileSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { msg, msgAddOutput, setMsgVerbose } from '../util/msg.js';
import { MailConfig, errnoText } from '../global/mail_conf.js';
import { maillogClientInit, maillogClientFlush } from '../global/maillog_client.js';
import { parseMasterCf, MasterCfError } from '../global/master_cf.js';
import { getopt } from '../master/mail_server_common.js';
import { masterRunning, programCommand } from '../master/master.js';
import { accountProblem, getpwnam, getgrnam } from '../master/mail_owner.js';
import { createMissing, setPermissions } from './postfix_files.js';

const USAGE = 'usage: postfix [-c config_dir] [-Dv] command';
const UNKNOWN =
  "Usage: postfix start (or stop, reload, abort, flush, check, status, set-permissions, upgrade-configuration, logrotate)";

/** How long stop waits for master before it uses force (postfix-script: 5 polls a second apart). */
const STOP_WAIT_SECONDS = 5;

interface Ctx {
  config: MailConfig;
  configDir: string;
  verbose: number;
  debug: boolean;
  env: NodeJS.ProcessEnv;
  tty: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** scriptLogging - from now on, messages are postfix-script's (postlog -t $MAIL_LOGTAG/postfix-script). */
function scriptLogging(ctx: Ctx): void {
  maillogClientInit(ctx.config, 'postfix-script', {
    stderr: ctx.tty ? `${ctx.config.str('syslog_name')}/postfix-script` : false,
    daemon: false,
  });
}

/** fatal - postfix-script's $FATAL then exit 1. */
function fatal(text: string): never {
  return msg.fatal(text);
}

/** run - a Postfix program (Node shim or other executable); resolves with its exit status. */
function run(ctx: Ctx, path: string, args: string[], stdio: 'inherit' | 'ignore' = 'inherit', timeoutMs = 0): Promise<number> {
  return new Promise((resolve) => {
    const command = programCommand(path, args);
    const child = spawn(command.file, command.argv, { stdio, env: ctx.env });
    // A helper that hangs must not hold up the command (e.g. reload): past the
    // limit we go on without it and let it finish on its own.
    const timer = timeoutMs > 0 ? setTimeout(() => {
      msg.warn(`${path} ${args.join(' ')}: still running after ${timeoutMs / 1000}s, continuing without it`);
      child.unref();
      resolve(-1);
    }, timeoutMs) : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      msg.warn(`${path}: ${errnoText(e as NodeJS.ErrnoException)}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

function running(ctx: Ctx): number | undefined {
  return masterRunning(ctx.config.str('queue_directory'));
}

/** checkFatal - postfix-script check-fatal. */
async function checkFatal(ctx: Ctx): Promise<void> {
  try {
    createMissing(ctx.config);
  } catch (e) {
    msg.warn(errnoText(e as NodeJS.ErrnoException));
    fatal('unable to create missing queue directories');
  }
  const masterCf = join(ctx.configDir, 'master.cf');
  if (!existsSync(masterCf)) fatal(`no ${masterCf} file found`);
  if (ctx.config.str('maillog_file')) {
    let found = false;
    try {
      const entries = parseMasterCf(readFileSync(masterCf, 'utf8'), masterCf, { warn: () => undefined });
      found = entries.some((e) => e.service === ctx.config.str('postlog_service_name') && e.type === 'unix-dgram');
    } catch (e) {
      if (!(e instanceof MasterCfError)) throw e;
      fatal(e.message); // a broken master.cf is reported as master would, with file and line
    }
    if (!found) fatal("missing 'postlog' service in master.cf - run 'postfix upgrade-configuration'");
  }
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    const problem = accountProblem(ctx.config);
    if (problem) {
      msg.warn(problem.hint);
      fatal(problem.message);
    }
  }
  const postsuper = join(ctx.config.str('command_directory'), 'postsuper');
  if (existsSync(postsuper)) {
    const status = await run(ctx, postsuper, [], 'inherit');
    if (status !== 0) msg.warn(`${postsuper} exited with status ${status}`);
  }
}

/** checkWarn - postfix-script check-warn: ownership and permission warnings. */
function checkWarn(ctx: Ctx): void {
  const c = ctx.config;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const me = typeof process.getuid === 'function' ? process.getuid() : 0;
  const owner = c.str('mail_owner');
  const ownerUid = root ? getpwnam(owner)?.uid : me;
  const rootUid = root ? 0 : me;
  const rootName = root ? 'root' : (getpwnam(owner)?.uid === me ? owner : String(me));
  const ownerName = root ? owner : rootName;
  const q = c.str('queue_directory');
  const warn = (text: string) => msg.warn(text);
  const st = (p: string) => {
    try {
      return lstatSync(p);
    } catch {
      return undefined;
    }
  };
  const writable = (p: string, mode: number) => {
    if (mode & 0o022) warn(`group or other writable: ${p}`);
  };
  const walk = (dir: string, fn: (p: string, s: Stats) => void) => {
    const s = st(dir);
    if (!s) return;
    fn(dir.endsWith('/.') ? dir : dir, s);
    if (!s.isDirectory()) return;
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      const ps = st(p);
      if (!ps) continue;
      if (ps.isDirectory()) walk(p, fn);
      else fn(p, ps);
    }
  };
  for (const p of [`${q}/.`, `${q}/pid`]) {
    const s = st(p);
    if (!s) continue;
    if (s.uid !== rootUid) warn(`not owned by ${rootName}: ${p}`);
    writable(p, s.mode);
  }
  const shared = [...new Set([`${ctx.configDir}/.`])];
  for (const d of shared) {
    walk(d, (p, s) => {
      if (s.uid !== rootUid) warn(`not owned by ${rootName}: ${p}`);
      if (!s.isSymbolicLink()) writable(p, Number(s.mode));
    });
  }
  const data = `${c.str('data_directory')}/.`;
  walk(data, (p, s) => {
    if (ownerUid !== undefined && s.uid !== ownerUid) warn(`not owned by ${ownerName}: ${p}`);
    writable(p, Number(s.mode));
  });
  for (const name of ['saved', 'incoming', 'active', 'defer', 'deferred', 'bounce', 'hold', 'trace', 'corrupt', 'public', 'private', 'flush']) {
    walk(join(q, name), (p, s) => {
      if (s.isSocket() || s.isFIFO()) return;
      if (ownerUid !== undefined && s.uid !== ownerUid) warn(`not owned by ${ownerName}: ${p}`);
    });
  }
  const md = st(join(q, 'maildrop'));
  if (md && ownerUid !== undefined && md.uid !== ownerUid) warn(`not owned by ${ownerName}: ${join(q, 'maildrop')}`);
  if (root) {
    const gid = getgrnam(c.str('setgid_group'))?.gid;
    for (const p of [join(q, 'public'), join(q, 'maildrop')]) {
      const s = st(p);
      if (s && gid !== undefined && s.gid !== gid) warn(`not owned by group ${c.str('setgid_group')}: ${p}`);
    }
  }
  try {
    for (const n of readdirSync(join(q, 'corrupt'))) {
      if (st(join(q, 'corrupt', n))?.isFile()) warn(`damaged message: corrupt/${n}`);
    }
  } catch {
    // no corrupt directory
  }
  // This implementation cannot chroot (Node has no chroot(2)); say so for every service that asks for it.
  const masterCf = join(ctx.configDir, 'master.cf');
  try {
    for (const e of parseMasterCf(readFileSync(masterCf, 'utf8'), masterCf, {
      warn: () => undefined,
      compatibilityLevel: c.str('compatibility_level'),
    })) {
      if (e.chroot) {
        warn(`${masterCf}: line ${e.line}: service ${e.service}/${e.type}: chroot is not supported by this implementation; the service runs without a chroot jail`);
      }
    }
  } catch {
    // master reports syntax errors
  }
}

/** waitGone - poll until master is gone; false after `seconds` (with postfix-script's waiting messages). */
async function waitGone(ctx: Ctx, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds; i++) {
    for (let j = 0; j < 20; j++) {
      if (running(ctx) === undefined) return true;
      await sleep(50);
    }
    if (running(ctx) === undefined) return true;
    if (i < seconds - 1) msg.info('waiting for the Postfix mail system to terminate');
  }
  return running(ctx) === undefined;
}

async function cmdStart(ctx: Ctx, fg: boolean): Promise<number> {
  if (running(ctx) !== undefined) fatal('the Postfix mail system is already running');
  await checkFatal(ctx);
  checkWarn(ctx);
  msg.info('starting the Postfix mail system');
  const master = join(ctx.config.str('daemon_directory'), 'master');
  if (!fg) {
    const status = await run(ctx, master, ['-w'], 'inherit');
    if (status !== 0) fatal('mail system startup failed');
    return 0;
  }
  return new Promise((resolve) => {
    const command = programCommand(master, ['-s']);
    const child: ChildProcess = spawn(command.file, command.argv, {
      stdio: 'inherit',
      env: ctx.env,
    });
    const forward = (sig: NodeJS.Signals) => () => {
      try {
        child.kill(sig);
      } catch {
        // gone
      }
    };
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as NodeJS.Signals[]) process.on(sig, forward(sig));
    child.on('error', (e) => {
      msg.warn(`${master}: ${errnoText(e as NodeJS.ErrnoException)}`);
      resolve(1);
    });
    child.on('exit', (code) => resolve(code ?? 0));
  });
}

async function cmdStop(ctx: Ctx): Promise<number> {
  const pid = running(ctx);
  if (pid === undefined) fatal('the Postfix mail system is not running');
  msg.info('stopping the Postfix mail system');
  await maillogClientFlush(); // before postlogd is told to go
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // gone already
  }
  if (await waitGone(ctx, STOP_WAIT_SECONDS)) return 0;
  msg.warn('stopping the Postfix mail system with force');
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // not a group leader (start-fg): kill the process itself
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
  return 0;
}

async function cmdAbort(ctx: Ctx): Promise<number> {
  const pid = running(ctx);
  if (pid === undefined) fatal('the Postfix mail system is not running');
  msg.info('aborting the Postfix mail system');
  await maillogClientFlush();
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // gone
  }
  return 0;
}

async function cmdReload(ctx: Ctx): Promise<number> {
  const pid = running(ctx);
  if (pid === undefined) fatal('the Postfix mail system is not running');
  msg.info('refreshing the Postfix mail system');
  const postsuper = join(ctx.config.str('command_directory'), 'postsuper');
  const havePostsuper = existsSync(postsuper);
  if (havePostsuper) {
    const status = await run(ctx, postsuper, ['active'], 'inherit', 5000);
    if (status > 0) msg.warn(`${postsuper} active exited with status ${status}`);
  }
  await maillogClientFlush();
  process.kill(pid, 'SIGHUP');
  if (havePostsuper) {
    const command = programCommand(postsuper, []);
    const bg = spawn(command.file, command.argv, {
      stdio: 'ignore',
      env: ctx.env,
      detached: true,
    });
    bg.on('error', () => undefined);
    bg.unref();
  }
  return 0;
}

async function cmdStatus(ctx: Ctx): Promise<number> {
  const pid = running(ctx);
  if (pid === undefined) {
    msg.info('the Postfix mail system is not running');
    return 1;
  }
  msg.info(`the Postfix mail system is running: PID: ${pid}`);
  return 0;
}

async function cmdFlush(ctx: Ctx): Promise<number> {
  return run(ctx, join(ctx.config.str('command_directory'), 'postqueue'), ['-f']);
}

/** The master.cf entries upgrade-configuration adds when missing (post-install). */
const REQUIRED_SERVICES: Array<[string, string, string]> = [
  ['relay', 'unix', 'relay     unix  -       -       n       -       -       smtp\n        -o syslog_name=postfix/$service_name'],
  ['flush', 'unix', 'flush     unix  n       -       n       1000?   0       flush'],
  ['trace', 'unix', 'trace     unix  -       -       n       -       0       bounce'],
  ['verify', 'unix', 'verify    unix  -       -       n       -       1       verify'],
  ['proxymap', 'unix', 'proxymap  unix  -       -       n       -       -       proxymap'],
  ['anvil', 'unix', 'anvil     unix  -       -       n       -       1       anvil'],
  ['scache', 'unix', 'scache    unix  -       -       n       -       1       scache'],
  ['discard', 'unix', 'discard   unix  -       -       n       -       -       discard'],
  ['tlsmgr', 'unix', 'tlsmgr    unix  -       -       n       1000?   1       tlsmgr'],
  ['retry', 'unix', 'retry     unix  -       -       n       -       -       error'],
  ['proxywrite', 'unix', 'proxywrite unix -       -       n       -       1       proxymap'],
  ['postlog', 'unix-dgram', 'postlog   unix-dgram n  -       n       -       1       postlogd'],
];

const SERVICE_WORDS: Record<string, string> = {
  'unix-dgram': 'unix-domain datagram',
};

async function cmdUpgradeConfiguration(ctx: Ctx): Promise<number> {
  createMissing(ctx.config);
  const masterCf = join(ctx.configDir, 'master.cf');
  let text = '';
  try {
    text = readFileSync(masterCf, 'utf8');
  } catch (e) {
    fatal(`open ${masterCf}: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const have = new Set(
    parseMasterCf(text, masterCf, { warn: () => undefined }).map((e) => `${e.service}/${e.type}`),
  );
  for (const [name, type, line] of REQUIRED_SERVICES) {
    if (have.has(`${name}/${type}`)) continue;
    const words = SERVICE_WORDS[type] ? `${SERVICE_WORDS[type]} ` : '';
    process.stdout.write(`Editing ${masterCf}, adding missing entry for ${name} ${words}service\n`);
    appendFileSync(masterCf, (text.endsWith('\n') || text === '' ? '' : '\n') + line + '\n');
    text += line + '\n';
  }
  return 0;
}

/** The installation parameters post-install accepts as name=value (and records in main.cf). */
const INSTALL_PARAMS = [
  'command_directory',
  'config_directory',
  'daemon_directory',
  'data_directory',
  'html_directory',
  'mail_owner',
  'mailq_path',
  'manpage_directory',
  'meta_directory',
  'newaliases_path',
  'queue_directory',
  'readme_directory',
  'sendmail_path',
  'setgid_group',
  'shlib_directory',
];

/** setMainCfValue - postconf -e name=value: replace the setting (with its continuation lines) or append it. */
export function setMainCfValue(text: string, name: string, value: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let done = false;
  let skipping = false;
  for (const line of lines) {
    if (skipping && /^[ \t]+\S/.test(line)) continue;
    skipping = false;
    if (!done && new RegExp(`^${name}\\s*=`).test(line)) {
      out.push(`${name} = ${value}`);
      done = skipping = true;
      continue;
    }
    out.push(line);
  }
  if (!done) {
    if (out.length > 0 && out[out.length - 1] === '') out.pop();
    out.push(`${name} = ${value}`, '');
  }
  return out.join('\n');
}

async function cmdSetPermissions(ctx: Ctx, args: string[]): Promise<number> {
  const mainCf = join(ctx.configDir, 'main.cf');
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) fatal(`set-permissions: bad argument: ${a} (expected name=value)`);
    const name = a.slice(0, eq);
    const value = a.slice(eq + 1);
    if (!INSTALL_PARAMS.includes(name)) fatal(`set-permissions: unknown installation parameter: ${name}`);
    ctx.config.override(name, value);
    if (name !== 'config_directory') writeFileSync(mainCf, setMainCfValue(readFileSync(mainCf, 'utf8'), name, value));
  }
  try {
    setPermissions(ctx.config);
  } catch (e) {
    fatal(`set-permissions: ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  return 0;
}

async function cmdLogrotate(ctx: Ctx, args: string[]): Promise<number> {
  if (args.length > 0) fatal('usage postfix logrotate (no arguments)');
  const values: Record<string, string> = {};
  for (const name of ['maillog_file', 'maillog_file_compressor', 'maillog_file_rotate_suffix']) {
    values[name] = ctx.config.str(name);
    if (!values[name]) fatal(`empty '${name}' parameter value - logfile rotation failed`);
  }
  const file = values.maillog_file;
  if (file.startsWith('/dev/')) fatal(`not rotating '${file}'`);
  const fail = (why: string) => fatal(`logfile '${file}' rotation failed: ${why}`);
  const date = spawnSync('date', [`+${values.maillog_file_rotate_suffix}`], { encoding: 'utf8' });
  if (date.status !== 0) fail((date.stderr || 'date failed').trim());
  const rotated = `${file}.${date.stdout.trim()}`;
  try {
    renameSync(file, rotated);
  } catch (e) {
    fail(`mv: cannot move '${file}' to '${rotated}': ${errnoText(e as NodeJS.ErrnoException)}`);
  }
  const pid = running(ctx);
  if (pid !== undefined) {
    await maillogClientFlush();
    try {
      process.kill(pid, 'SIGHUP');
    } catch (e) {
      fail(errnoText(e as NodeJS.ErrnoException));
    }
  }
  await sleep(1000);
  const z = spawnSync(values.maillog_file_compressor, [rotated], { encoding: 'utf8' });
  if (z.status !== 0) fail((z.stderr || z.error?.message || 'compressor failed').trim());
  return 0;
}

async function cmdCheck(ctx: Ctx): Promise<number> {
  await checkFatal(ctx);
  checkWarn(ctx);
  return 0;
}

/** main - the postfix command. */
export async function main(argv: string[]): Promise<void> {
  const tty = !!process.stderr.isTTY;
  const removeEarly = msgAddOutput((_s, text) => {
    if (tty) process.stderr.write(`postfix: ${text}\n`);
  });
  const p = getopt(argv, 'c:Dv');
  if (p.bad !== undefined) msg.fatal(USAGE);
  let configDir = process.env.MAIL_CONFIG || undefined;
  let verbose = 0;
  let debug = false;
  for (const [c, v] of p.opts) {
    if (c === 'c') {
      if (!v!.startsWith('/')) msg.fatal('-c requires absolute pathname');
      configDir = v!;
    } else if (c === 'v') verbose++;
    else if (c === 'D') debug = true;
  }
  if (p.rest.length === 0) msg.fatal(USAGE);
  setMsgVerbose(verbose);
  const config = MailConfig.load(configDir);
  configDir = config.configDir;
  removeEarly();
  maillogClientInit(config, 'postfix', { stderr: tty ? 'postfix' : false, daemon: false });
  for (const name of ['command_directory', 'daemon_directory', 'queue_directory']) {
    const dir = config.str(name);
    try {
      if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      process.chdir(dir);
    } catch (e) {
      msg.fatal(`chdir(${dir}): ${errnoText(e as NodeJS.ErrnoException)}`);
    }
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MAIL_CONFIG: configDir,
    config_directory: configDir,
    command_directory: config.str('command_directory'),
    daemon_directory: config.str('daemon_directory'),
    data_directory: config.str('data_directory'),
    queue_directory: config.str('queue_directory'),
    mail_owner: config.str('mail_owner'),
    setgid_group: config.str('setgid_group'),
  };
  if (verbose) env.MAIL_VERBOSE = String(verbose);
  else delete env.MAIL_VERBOSE;
  if (debug) env.MAIL_DEBUG = '1';
  const ctx: Ctx = { config, configDir, verbose, debug, env, tty };
  const [command, ...args] = p.rest;
  scriptLogging(ctx);
  let status: number;
  switch (command) {
    case 'start':
      status = await cmdStart(ctx, false);
      break;
    case 'start-fg':
      status = await cmdStart(ctx, true);
      break;
    case 'stop':
      status = await cmdStop(ctx);
      break;
    case 'abort':
      status = await cmdAbort(ctx);
      break;
    case 'reload':
      status = await cmdReload(ctx);
      break;
    case 'status':
      status = await cmdStatus(ctx);
      break;
    case 'flush':
      status = await cmdFlush(ctx);
      break;
    case 'check':
      status = await cmdCheck(ctx);
      break;
    case 'set-permissions':
      status = await cmdSetPermissions(ctx, args);
      break;
    case 'upgrade-configuration':
      status = await cmdUpgradeConfiguration(ctx);
      break;
    case 'logrotate':
      status = await cmdLogrotate(ctx, args);
      break;
    default:
      fatal(`unknown command: '${command}'. ${UNKNOWN}`);
  }
  await maillogClientFlush();
  process.exit(status);
}

/**
 * Makefile - build-time and installation tasks (Postfix's Makefile,
 * postfix-install and post-install), compiled to dist/Makefile.js.
 *
 * Usage: node dist/Makefile.js TARGET [name=value ...]
 *
 *   links      make the bin/ and libexec/ shims executable
 *   embedded   create ./var (a private instance for `npm start`) when it is
 *              missing; an existing (possibly edited) configuration is never
 *              overwritten
 *   install    copy the package to install_root (default /usr/local/lib/postfix-ts),
 *              write its install.json with the directory settings given as
 *              name=value (config_directory, queue_directory, command_directory,
 *              daemon_directory, data_directory, mail_owner, setgid_group, ...),
 *              install main.cf/master.cf when absent, link the commands into
 *              command_directory, then run `postfix set-permissions`
 *   upgrade    like install, reusing the existing install.json, never touching
 *              the configuration, then `postfix upgrade-configuration`
 *   clean      remove the build output (dist/)
 */

import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  lstatSync,
} from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from './src/sendmail/build_native.js';
import { getpwnam } from './src/util/mypwd.js';

/** The package root (this file runs as dist/Makefile.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Port of the embedded instance's SMTP listener. */
export const EMBEDDED_SMTP = '127.0.0.1:2525';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** links - chmod +x every shim. */
export function links(root = ROOT): void {
  for (const dir of ['bin', 'libexec']) {
    const d = join(root, dir);
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isFile()) chmodSync(p, 0o755);
    }
  }
}

/** The upstream Postfix 3.7 master.cf services (used when conf/master.cf is absent). */
export const DEFAULT_MASTER_CF = `#
# Postfix master process configuration file.  For details on the format
# of the file, see the master(5) manual page (command: "man 5 master" or
# on-line: http://www.postfix.org/master.5.html).
#
# Do not forget to execute "postfix reload" after editing this file.
#
# ==========================================================================
# service type  private unpriv  chroot  wakeup  maxproc command + args
#               (yes)   (yes)   (no)    (never) (100)
# ==========================================================================
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
#qmgr     unix  n       -       n       300     1       oqmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

/** The smallest useful main.cf (used when conf/main.cf is absent). */
export const DEFAULT_MAIN_CF = `# Global Postfix configuration file. See postconf(5) for the parameters.
compatibility_level = 3.7
`;

/** setMainCf - replace (or append) name = value settings in main.cf text, keeping everything else. */
export function setMainCf(text: string, settings: Array<[string, string]>): string {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const pending = new Map(settings);
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (skipping && /^[ \t]+\S/.test(line)) continue; // continuation of a replaced setting
    skipping = false;
    const m = /^([A-Za-z0-9_]+)\s*=/.exec(line);
    if (m && pending.has(m[1])) {
      out.push(`${m[1]} = ${pending.get(m[1])}`);
      pending.delete(m[1]);
      skipping = true;
      continue;
    }
    out.push(line);
  }
  if (pending.size > 0) {
    out.push('', '# Settings of this instance (written by Makefile.ts).');
    for (const [k, v] of pending) out.push(`${k} = ${v}`);
  }
  return out.join('\n') + '\n';
}

/**
 * embeddedMasterCf - the shipped master.cf with the SMTP listener moved to a
 * loopback port, chroot off (Node cannot chroot), and a postlog service.
 */
export function embeddedMasterCf(text: string, smtp = EMBEDDED_SMTP): string {
  const out = text
    .split('\n')
    .map((line) => {
      if (/^smtp\s+inet\s/.test(line)) return line.replace(/^smtp\s+/, `${smtp} `);
      const f = line.split(/\s+/);
      if (!line.startsWith('#') && !/^\s/.test(line) && f.length >= 8 && f[4] !== 'n') {
        f[4] = 'n';
        return f.join(' ');
      }
      return line;
    })
    .join('\n');
  if (/^postlog\s+unix-dgram/m.test(out)) return out;
  return out.replace(/\n*$/, '\n') + 'postlog   unix-dgram n  -       n       -       1       postlogd\n';
}

function groupName(gid: number): string {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && Number(f[2]) === gid) return f[0];
    }
  } catch {
    // fall through
  }
  return String(gid);
}

/** embeddedSettings - the main.cf settings of the ./var instance. */
export function embeddedSettings(root: string, varDir: string): Array<[string, string]> {
  const s: Array<[string, string]> = [
    ['queue_directory', join(varDir, 'spool')],
    ['data_directory', join(varDir, 'data')],
    ['daemon_directory', join(root, 'libexec')],
    ['command_directory', join(root, 'bin')],
    ['meta_directory', join(varDir, 'etc')],
    ['mail_spool_directory', join(varDir, 'mail')],
    ['maillog_file', join(varDir, 'log', 'maillog')],
    ['maillog_file_prefixes', `${join(varDir, 'log')}, /dev/stdout`],
    ['inet_interfaces', '127.0.0.1'],
    ['inet_protocols', 'ipv4'],
    ['mynetworks', '127.0.0.0/8'],
    ['alias_maps', ''],
    ['alias_database', ''],
  ];
  if (!isRoot()) {
    const me = userInfo();
    s.push(['mail_owner', me.username], ['setgid_group', groupName(me.gid)], ['default_privs', me.username]);
  } else if (!getpwnam('postfix')) {
    // As root without a postfix account: run the daemons as an existing unprivileged account.
    const nobody = getpwnam('nobody');
    if (nobody) {
      s.push(['mail_owner', 'nobody'], ['setgid_group', groupName(nobody.gid)]);
      process.stderr.write(
        'warning: there is no "postfix" account; the ./var instance runs its daemons as "nobody".\n' +
          'warning: to use a proper account: groupadd --system postdrop && useradd --system --home-dir /var/spool/postfix --shell /usr/sbin/nologin postfix,\n' +
          'warning: then set mail_owner = postfix and setgid_group = postdrop in var/etc/main.cf\n',
      );
    }
  }
  return s;
}

/** embeddedBanner - where the ./var instance keeps things and how to send a first message. */
export function embeddedBanner(varDir: string): string {
  const user = userInfo().username;
  return [
    `mail system instance in ${varDir}:`,
    `  configuration  ${join(varDir, 'etc')}/main.cf, master.cf`,
    `  mail log       ${join(varDir, 'log', 'maillog')}`,
    `  mailboxes      ${join(varDir, 'mail')}/`,
    `  SMTP           ${EMBEDDED_SMTP}`,
    `send a first message:  printf 'Subject: hello\\n\\nfirst message\\n' | ./bin/sendmail -C ${join(varDir, 'etc')} ${user}`,
    `               or:     swaks --server ${EMBEDDED_SMTP} --to ${user}@localhost`,
    `read the queue:        ./bin/postqueue -c ${join(varDir, 'etc')} -p     stop: Ctrl-C`,
    '',
  ].join('\n');
}

/** embedded - create ./var (config in ./var/etc) unless it exists. */
export function embedded(root = ROOT, varDir = join(ROOT, 'var')): string {
  const etc = join(varDir, 'etc');
  for (const d of ['etc', 'spool', 'log']) mkdirSync(join(varDir, d), { recursive: true, mode: 0o755 });
  const mail = join(varDir, 'mail');
  if (!existsSync(mail)) {
    mkdirSync(mail, { recursive: true });
    chmodSync(mail, isRoot() ? 0o1777 : 0o755);
  }
  const mainCf = join(etc, 'main.cf');
  if (!existsSync(mainCf)) {
    const shipped = join(root, 'conf', 'main.cf');
    const text = existsSync(shipped) ? readFileSync(shipped, 'utf8') : DEFAULT_MAIN_CF;
    writeFileSync(mainCf, setMainCf(text, embeddedSettings(root, varDir)), { mode: 0o644 });
  }
  const masterCf = join(etc, 'master.cf');
  if (!existsSync(masterCf)) {
    const shipped = join(root, 'conf', 'master.cf');
    const text = existsSync(shipped) ? readFileSync(shipped, 'utf8') : DEFAULT_MASTER_CF;
    writeFileSync(masterCf, embeddedMasterCf(text), { mode: 0o644 });
  }
  for (const name of readdirSyncSafe(join(root, 'conf'))) {
    if (name === 'main.cf' || name === 'master.cf') continue;
    const dst = join(etc, name);
    if (!existsSync(dst) && statSync(join(root, 'conf', name)).isFile()) cpSync(join(root, 'conf', name), dst);
  }
  return etc;
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The install-time settings install.json may carry (src/global/install_defaults.ts). */
const INSTALL_NAMES = [
  'config_directory',
  'command_directory',
  'daemon_directory',
  'data_directory',
  'queue_directory',
  'meta_directory',
  'shlib_directory',
  'sendmail_path',
  'newaliases_path',
  'mailq_path',
  'html_directory',
  'manpage_directory',
  'readme_directory',
  'sample_directory',
  'mail_owner',
  'setgid_group',
  'mail_spool_directory',
];

function parseSettings(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new Error(`bad argument: ${a} (expected name=value)`);
    out[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return out;
}

/** install - copy the package to install_root and configure its directories. */
export function install(args: string[], upgrade: boolean): void {
  const given = parseSettings(args);
  const dest = resolve(given.install_root ?? '/usr/local/lib/postfix-ts');
  delete given.install_root;
  for (const k of Object.keys(given)) {
    if (!INSTALL_NAMES.includes(k)) throw new Error(`unknown setting: ${k}`);
  }
  const jsonPath = join(dest, 'install.json');
  const previous: Record<string, string> = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : {};
  if (dest !== ROOT) {
    mkdirSync(dest, { recursive: true });
    for (const item of ['package.json', 'dist', 'bin', 'libexec', 'conf', 'node_modules', 'docs', 'README.md']) {
      const src = join(ROOT, item);
      if (!existsSync(src)) continue;
      rmSync(join(dest, item), { recursive: true, force: true });
      cpSync(src, join(dest, item), { recursive: true, dereference: false, verbatimSymlinks: true });
    }
  }
  const settings: Record<string, string> = {
    daemon_directory: join(dest, 'libexec'),
    command_directory: join(dest, 'bin'),
    ...previous,
    ...(upgrade ? {} : given),
  };
  if (upgrade) Object.assign(settings, given);
  writeFileSync(jsonPath, JSON.stringify(settings, null, 2) + '\n');
  links(dest);
  const configDir = settings.config_directory ?? '/etc/postfix';
  mkdirSync(configDir, { recursive: true });
  for (const [name, fallback] of [
    ['main.cf', DEFAULT_MAIN_CF],
    ['master.cf', DEFAULT_MASTER_CF],
  ] as const) {
    const dst = join(configDir, name);
    if (existsSync(dst)) continue;
    const shipped = join(ROOT, 'conf', name);
    writeFileSync(dst, existsSync(shipped) ? readFileSync(shipped, 'utf8') : fallback);
  }
  // As post-install does with postconf -e: main.cf names the installed directories.
  const mainCf = join(configDir, 'main.cf');
  const pathSettings = Object.entries(settings).filter(([k]) => k !== 'config_directory');
  writeFileSync(mainCf, setMainCf(readFileSync(mainCf, 'utf8'), pathSettings));
  const commandDir = settings.command_directory;
  if (commandDir && resolve(commandDir) !== join(dest, 'bin')) {
    mkdirSync(commandDir, { recursive: true });
    for (const name of readdirSync(join(dest, 'bin'))) {
      const link = join(commandDir, name);
      try {
        if (lstatSync(link).isSymbolicLink()) unlinkSync(link);
        else continue; // never replace a real file (another MTA's)
      } catch {
        // absent
      }
      symlinkSync(join(dest, 'bin', name), link);
    }
  }
  const queueDir = settings.queue_directory ?? '/var/spool/postfix';
  mkdirSync(queueDir, { recursive: true, mode: 0o755 });
  const postfix = join(dest, 'bin', 'postfix');
  const r = spawnSync(process.execPath, [postfix, '-c', configDir, upgrade ? 'upgrade-configuration' : 'set-permissions'], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`postfix ${upgrade ? 'upgrade-configuration' : 'set-permissions'} failed`);
  if (upgrade) spawnSync(process.execPath, [postfix, '-c', configDir, 'set-permissions'], { stdio: 'inherit' });
}

/** clean - remove the build output. */
export function clean(root = ROOT): void {
  rmSync(join(root, 'dist'), { recursive: true, force: true });
}

/** main - dispatch a target. */
export function main(argv: string[]): number {
  const [target, ...args] = argv;
  try {
    switch (target) {
      case 'links': {
        links();
        // the native sendmail submission path (src/sendmail/build_native.ts); never fails the build
        const note = buildNative(ROOT);
        if (note) process.stderr.write(note + '\n');
        return 0;
      }
      case 'embedded':
        embedded();
        process.stdout.write(embeddedBanner(join(ROOT, 'var')));
        return 0;
      case 'install':
        install(args, false);
        return 0;
      case 'upgrade':
        install(args, true);
        return 0;
      case 'clean':
        clean();
        return 0;
      default:
        process.stderr.write('usage: node dist/Makefile.js links|embedded|install|upgrade|clean [name=value ...]\n');
        return 1;
    }
  } catch (e) {
    process.stderr.write(`Makefile: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}

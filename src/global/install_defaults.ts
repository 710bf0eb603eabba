/**
 * install_defaults - built-in directory and ownership defaults (Postfix
 * DEF_CONFIG_DIR, DEF_QUEUE_DIR, ... set by `make makefiles CCARGS=-D...`).
 *
 * The Postfix 3.7 upstream values apply unless `Makefile.ts install` (or
 * `upgrade`) wrote `install.json` at the package root with other values,
 * which is how an installation chooses its own paths without rebuilding.
 */

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the installed package (holds bin/, libexec/, conf/, dist/). */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface InstallDefaults {
  config_directory: string;
  command_directory: string;
  daemon_directory: string;
  data_directory: string;
  queue_directory: string;
  meta_directory: string;
  shlib_directory: string;
  sendmail_path: string;
  newaliases_path: string;
  mailq_path: string;
  html_directory: string;
  manpage_directory: string;
  readme_directory: string;
  sample_directory: string;
  mail_owner: string;
  setgid_group: string;
  mail_spool_directory: string;
}

const upstream: InstallDefaults = {
  config_directory: '/etc/postfix',
  command_directory: '/usr/sbin',
  daemon_directory: '/usr/libexec/postfix',
  data_directory: '/var/lib/postfix',
  queue_directory: '/var/spool/postfix',
  meta_directory: '/etc/postfix',
  shlib_directory: '/usr/lib/postfix',
  sendmail_path: '/usr/sbin/sendmail',
  newaliases_path: '/usr/bin/newaliases',
  mailq_path: '/usr/bin/mailq',
  html_directory: 'no',
  manpage_directory: '/usr/local/man',
  readme_directory: 'no',
  sample_directory: '/etc/postfix',
  mail_owner: 'postfix',
  setgid_group: 'postdrop',
  mail_spool_directory: '/var/mail',
};

function loadInstallJson(): Partial<InstallDefaults> {
  try {
    return JSON.parse(readFileSync(join(packageRoot, 'install.json'), 'utf8')) as Partial<InstallDefaults>;
  } catch {
    return {};
  }
}

export const installDefaults: InstallDefaults = { ...upstream, ...loadInstallJson() };

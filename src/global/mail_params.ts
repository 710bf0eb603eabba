/**
 * mail_params - the parameter registry: every main.cf parameter the system
 * knows, with its type, built-in default (Postfix 3.7 `postconf -d`) and range
 * (Postfix global/mail_params.h and the per-daemon CONFIG_*_TABLEs).
 *
 * One source of truth: daemons read typed values through MailConfig,
 * `postconf -d` prints from here, and unknown names in main.cf are those that
 * are not listed here.
 */

import type { ParamDef } from './param_types.js';
import { installDefaults as dirs } from './install_defaults.js';

export type { ParamDef } from './param_types.js';

const s = (name: string, def: string, extra: Partial<ParamDef> = {}): ParamDef => ({ name, type: 'str', def, ...extra });
const r = (name: string, def: string): ParamDef => ({ name, type: 'raw', def });
const i = (name: string, def: number, min = 0, max = 0): ParamDef => ({ name, type: 'int', def: String(def), min, max });
const l = (name: string, def: number, min = 0, max = 0): ParamDef => ({ name, type: 'long', def: String(def), min, max });
const b = (name: string, def: boolean): ParamDef => ({ name, type: 'bool', def: def ? 'yes' : 'no' });
const t = (name: string, def: string, min = 0, max = 0): ParamDef => ({
  name,
  type: 'time',
  def,
  unit: (/[smhdw]$/.exec(def)?.[0] ?? 's') as ParamDef['unit'],
  min,
  max,
});

/** The registry. Keep it sorted by name within each group; postconf sorts on output. */
export const PARAMS: ParamDef[] = [
  // Installation and ownership (build-time defaults, see install_defaults.ts).
  s('command_directory', dirs.command_directory),
  s('daemon_directory', dirs.daemon_directory),
  s('data_directory', dirs.data_directory),
  s('queue_directory', dirs.queue_directory),
  s('meta_directory', dirs.meta_directory),
  s('shlib_directory', dirs.shlib_directory),
  s('sendmail_path', dirs.sendmail_path),
  s('newaliases_path', dirs.newaliases_path),
  s('mailq_path', dirs.mailq_path),
  s('html_directory', dirs.html_directory),
  s('manpage_directory', dirs.manpage_directory),
  s('readme_directory', dirs.readme_directory),
  s('sample_directory', dirs.sample_directory),
  s('mail_owner', dirs.mail_owner),
  s('setgid_group', dirs.setgid_group),
  s('mail_spool_directory', dirs.mail_spool_directory),
  s('config_directory', dirs.config_directory),
  // Identity.
  s('mail_name', 'Postfix'),
  s('mail_version', '3.7.11'),
  s('compatibility_level', '0'),
  s('myhostname', ''),
  s('mydomain', ''),
  s('myorigin', '$myhostname'),
  s('mydestination', '$myhostname, localhost.$mydomain, localhost'),
  s('inet_interfaces', 'all'),
  s('inet_protocols', 'all'),
  s('syslog_name', '${multi_instance_name?{$multi_instance_name}:{postfix}}'),
  s('syslog_facility', 'mail'),
  s('maillog_file', ''),
  s('maillog_file_prefixes', '/var, /dev/stdout'),
  s('maillog_file_rotate_suffix', '%Y%m%d-%H%M%S'),
  s('postlog_service_name', 'postlog'),
  s('multi_instance_name', ''),
  // Processes.
  i('default_process_limit', 100, 1),
  i('max_use', 100, 1),
  t('max_idle', '100s', 1),
  t('ipc_timeout', '3600s', 1),
  t('service_throttle_time', '60s', 1),
  s('smtpd_banner', '$myhostname ESMTP $mail_name'),
  l('message_size_limit', 10240000),
  i('line_length_limit', 2048, 2),
];

const byName = new Map<string, ParamDef>(PARAMS.map((p) => [p.name, p]));

/** lookupParam - the registry entry of a name, or undefined for unknown (user-defined) names. */
export function lookupParam(name: string): ParamDef | undefined {
  return byName.get(name);
}

/** registerParams - add parameters declared by a daemon or a transport-specific pattern. */
export function registerParams(defs: ParamDef[]): void {
  for (const d of defs) {
    if (!byName.has(d.name)) {
      PARAMS.push(d);
      byName.set(d.name, d);
    }
  }
}

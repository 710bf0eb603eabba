/**
 * bounce_template - delivery status notification templates (Postfix
 * bounce/bounce_template.c, bounce_templates.c; bounce(5)).
 *
 * Four templates: failure, delay, success, verify. Each has header-like
 * lines (Charset:, From:, Subject:, Postmaster-Subject:), an empty line,
 * and the text. bounce_template_file may replace any of them with
 * `name_template = <<EOF ... EOF` sections. The text expands $name and
 * ${name} from main.cf, plus the time conversions <param>_<unit> for
 * maximal_queue_lifetime and delay_warning_time in seconds, minutes, hours,
 * days or weeks (a result of 0 or of 1000 and more is warned about, as
 * Postfix does). An unknown $name is fatal.
 * `postconf -t` dumps the templates, `postconf -b` expands them: both run
 * this program with -n dump_templates / -n expand_templates.
 */

import { readFileSync } from 'node:fs';
import { msg } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';

export type TemplateKind = 'failure' | 'delay' | 'success' | 'verify';
export const TEMPLATE_KINDS: TemplateKind[] = ['failure', 'delay', 'success', 'verify'];

const FOOTER = ['', 'For further assistance, please send mail to postmaster.', '', 'If you do so, please include this problem report. You can', 'delete your own text from the attached returned message.'];
const SIGNATURE = ['', '                   The mail system'];

/** The built-in templates, as `postconf -t` prints them. */
export const BUILTIN_TEMPLATES: Record<TemplateKind, string> = {
  failure: [
    'Charset: us-ascii',
    'From: Mail Delivery System <MAILER-DAEMON>',
    'Subject: Undelivered Mail Returned to Sender',
    'Postmaster-Subject: Postmaster Copy: Undelivered Mail',
    '',
    'This is the mail system at host $myhostname.',
    '',
    "I'm sorry to have to inform you that your message could not",
    "be delivered to one or more recipients. It's attached below.",
    ...FOOTER,
    ...SIGNATURE,
  ].join('\n'),
  delay: [
    'Charset: us-ascii',
    'From: Mail Delivery System <MAILER-DAEMON>',
    'Subject: Delayed Mail (still being retried)',
    'Postmaster-Subject: Postmaster Warning: Delayed Mail',
    '',
    'This is the mail system at host $myhostname.',
    '',
    '####################################################################',
    '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
    '####################################################################',
    '',
    'Your message could not be delivered for more than $delay_warning_time_hours hour(s).',
    'It will be retried until it is $maximal_queue_lifetime_days day(s) old.',
    ...FOOTER,
    ...SIGNATURE,
  ].join('\n'),
  success: [
    'Charset: us-ascii',
    'From: Mail Delivery System <MAILER-DAEMON>',
    'Subject: Successful Mail Delivery Report',
    '',
    'This is the mail system at host $myhostname.',
    '',
    'Your message was successfully delivered to the destination(s)',
    'listed below. If the message was delivered to mailbox you will',
    'receive no further notifications. Otherwise you may still receive',
    'notifications of mail delivery errors from other systems.',
    ...SIGNATURE,
  ].join('\n'),
  verify: [
    'Charset: us-ascii',
    'From: Mail Delivery System <MAILER-DAEMON>',
    'Subject: Mail Delivery Status Report',
    '',
    'This is the mail system at host $myhostname.',
    '',
    'Enclosed is the mail delivery report that you requested.',
    ...SIGNATURE,
  ].join('\n'),
};

export interface Template {
  kind: TemplateKind;
  /** where it came from: "[built-in]" or the template file */
  origin: string;
  raw: string;
  charset: string;
  from: string;
  subject: string;
  postmasterSubject: string;
  body: string[];
}

export function parseTemplate(kind: TemplateKind, raw: string, origin: string): Template {
  const lines = raw.split('\n');
  const t: Template = { kind, origin, raw, charset: 'us-ascii', from: 'Mail Delivery System <MAILER-DAEMON>', subject: '', postmasterSubject: '', body: [] };
  let i = 0;
  for (; i < lines.length && lines[i] !== ''; i++) {
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(lines[i]);
    if (!m) {
      msg.warn(`${origin}: malformed ${kind} template header: "${lines[i]}"`);
      continue;
    }
    const name = m[1].toLowerCase();
    if (name === 'charset') t.charset = m[2];
    else if (name === 'from') t.from = m[2];
    else if (name === 'subject') t.subject = m[2];
    else if (name === 'postmaster-subject') t.postmasterSubject = m[2];
    else msg.warn(`${origin}: unknown ${kind} template header: "${m[1]}"`);
  }
  t.body = lines.slice(i + 1);
  if (origin !== '[built-in]') {
    const builtin = parseTemplate(kind, BUILTIN_TEMPLATES[kind], '[built-in]');
    if (!t.subject) t.subject = builtin.subject;
    if (!t.postmasterSubject) t.postmasterSubject = builtin.postmasterSubject;
  }
  if (!t.postmasterSubject) t.postmasterSubject = t.subject;
  return t;
}

/** loadTemplates - the built-in templates, with those of bounce_template_file in their place. */
export function loadTemplates(config: MailConfig): Record<TemplateKind, Template> {
  const out = {} as Record<TemplateKind, Template>;
  for (const k of TEMPLATE_KINDS) out[k] = parseTemplate(k, BUILTIN_TEMPLATES[k], '[built-in]');
  const file = config.str('bounce_template_file').trim();
  if (!file) return out;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return msg.fatal(`open template file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (err as Error).message}`);
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*(#.*)?$/.test(line)) continue;
    const m = /^\s*(\w+)\s*=\s*<<\s*(\S+)\s*$/.exec(line);
    if (!m) {
      msg.warn(`${file}, line ${i + 1}: expected "name = <<EOF"; skipping`);
      continue;
    }
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && lines[j] !== m[2]; j++) body.push(lines[j]);
    if (j >= lines.length) msg.fatal(`${file}, line ${i + 1}: missing "${m[2]}" end marker`);
    const kind = m[1].replace(/_template$/, '') as TemplateKind;
    if (!m[1].endsWith('_template') || !TEMPLATE_KINDS.includes(kind)) msg.warn(`${file}, line ${i + 1}: unknown template name: ${m[1]}`);
    else out[kind] = parseTemplate(kind, body.join('\n'), file);
    i = j;
  }
  return out;
}

const TIME_PARAMS = ['maximal_queue_lifetime', 'delay_warning_time'];
const UNITS: Record<string, number> = { seconds: 1, minutes: 60, hours: 3600, days: 86400, weeks: 604800 };

class UndefinedName extends Error {}

/** expandTemplate - the body with $name / ${name} expanded (unknown names stay empty, as mac_expand). */
export function expandTemplate(config: MailConfig, t: Template): string[] {
  const value = (name: string): string => {
    const m = /^(.*)_(seconds|minutes|hours|days|weeks)$/.exec(name);
    if (m && TIME_PARAMS.includes(m[1])) {
      const secs = config.time(m[1]);
      const result = Math.floor(secs / UNITS[m[2]]);
      if (result === 0) {
        msg.warn(`${t.origin}: zero result in ${t.kind} template conversion of parameter "${name}"`);
        msg.warn(`please reduce time unit "${m[2]}" of "${name}" in ${t.kind} template`);
        msg.warn('for instructions see the bounce(5) manual');
      } else if (result >= 1000) {
        msg.warn(`${t.origin}: excessive result "${result}" in ${t.kind} template conversion of parameter "${name}"`);
        msg.warn(`please increase time unit "${m[2]}" of "${name}" in ${t.kind} template`);
        msg.warn('for instructions see the bounce(5) manual');
      }
      return String(result);
    }
    if (config.raw(name) === undefined) throw new UndefinedName(name);
    return config.str(name);
  };
  return t.body.map((line) => {
    try {
      return line.replace(/\$(?:\{(\w+)\}|\((\w+)\)|(\w+))/g, (_all, a, b, c) => value(a ?? b ?? c));
    } catch (err) {
      if (err instanceof UndefinedName) return msg.fatal(`${t.origin}: undefined $name in ${t.kind} template: ${line}`);
      throw err;
    }
  });
}

/** dumpText - the template as postconf -t shows it: Charset, From, Subject, Postmaster-Subject (failure, delay), text. */
function dumpText(t: Template): string {
  const head = [`Charset: ${t.charset}`, `From: ${t.from}`, `Subject: ${t.subject}`];
  if (t.kind === 'failure' || t.kind === 'delay') head.push(`Postmaster-Subject: ${t.postmasterSubject}`);
  return [...head, '', ...t.body].join('\n');
}

/** templateMain - bounce -n dump_templates / expand_templates (postconf -t / -b). */
export function templateMain(config: MailConfig, mode: 'dump_templates' | 'expand_templates'): void {
  const templates = loadTemplates(config);
  const parts: string[] = [];
  for (const k of TEMPLATE_KINDS) {
    const t = templates[k];
    if (mode === 'dump_templates') parts.push(`${k}_template = <<EOF\n${dumpText(t)}\nEOF\n`);
    else parts.push(`expanded_${k}_text = <<EOF\n${expandTemplate(config, t).join('\n')}\nEOF\n`);
  }
  process.stdout.write(parts.join('\n'));
}

/**
 * smtp_sasl - client credentials for SMTP AUTH (Postfix smtp/smtp_sasl_glue.c,
 * smtp_sasl_passwd_lookup()).
 *
 * smtp_sasl_password_maps is searched with each key in order (the next hop
 * as written in the delivery request, e.g. "[mail.isp.example]:587", then
 * the remote host name, then the next-hop domain); the value is
 * "username:password" (the password may contain colons).
 */

import type { MailConfig } from '../global/mail_conf.js';
import { Maps } from '../global/maps.js';
import { param } from './smtp_tls.js';

const opened = new Map<string, Maps>();

export async function saslCredentials(config: MailConfig, prefix: string, keys: string[]): Promise<{ user: string; pass: string } | null> {
  const spec = param(config, prefix, 'sasl_password_maps');
  if (!spec.trim()) return null;
  let maps = opened.get(spec);
  if (!maps) {
    maps = Maps.create(`${prefix}_sasl_password_maps`, spec);
    opened.set(spec, maps);
  }
  for (const key of keys) {
    if (!key) continue;
    const v = await maps.find(key);
    if (v === null) continue;
    const colon = v.indexOf(':');
    return colon < 0 ? { user: v, pass: '' } : { user: v.slice(0, colon), pass: v.slice(colon + 1) };
  }
  return null;
}

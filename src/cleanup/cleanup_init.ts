/**
 * cleanup_init - cleanup's parameters and tables, read once per process
 * (Postfix cleanup/cleanup_init.c).
 */

import type { MailConfig } from '../global/mail_conf.js';
import { RewriteClient, trivialClient } from '../global/rewrite_clnt.js';
import { openMaps, type MapsLike } from './maps_adapter.js';

/** canonical_classes / masquerade_classes bits. */
export const CANON = { ENV_FROM: 1, ENV_RCPT: 2, HDR_FROM: 4, HDR_RCPT: 8 } as const;

function classMask(config: MailConfig, param: string): number {
  let mask = 0;
  for (const c of config.list(param)) {
    switch (c.toLowerCase()) {
      case 'envelope_sender':
        mask |= CANON.ENV_FROM;
        break;
      case 'envelope_recipient':
        mask |= CANON.ENV_RCPT;
        break;
      case 'header_sender':
        mask |= CANON.HDR_FROM;
        break;
      case 'header_recipient':
        mask |= CANON.HDR_RCPT;
        break;
      default:
        throw new Error(`bad ${param} value: ${c}`);
    }
  }
  return mask;
}

/** unescape - Postfix unescape(): \\a \\b \\f \\n \\r \\t \\v \\ooo and \\any; result as byte values. */
export function unescape(data: string): number[] {
  const out: number[] = [];
  const bytes = Buffer.from(data, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    let ch = bytes[i];
    if (ch === 0x5c) {
      if (++i >= bytes.length) break;
      ch = bytes[i];
      const map: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };
      const c = String.fromCharCode(ch);
      if (c in map) ch = map[c];
      else if (ch >= 0x30 && ch <= 0x37) {
        let oval = ch - 0x30;
        for (let k = 0; k < 2 && i + 1 < bytes.length && bytes[i + 1] >= 0x30 && bytes[i + 1] <= 0x37; k++) oval = (oval << 3) | (bytes[++i] - 0x30);
        ch = oval & 0xff;
      }
    }
    out.push(ch);
  }
  return out;
}

function charSet(value: string): Set<number> | null {
  const chars = unescape(value);
  return chars.length > 0 ? new Set(chars) : null;
}

export interface CleanupGlobals {
  config: MailConfig;
  rewrite: RewriteClient;
  myhostname: string;
  myorigin: string;
  longQueueIds: boolean;
  lineLimit: number;
  headerLimit: number;
  hopcountLimit: number;
  messageLimit: number;
  bodyCheckLen: number;
  delayWarnTime: number;
  dupFilterLimit: number;
  virtExpanLimit: number;
  virtRecurLimit: number;
  virtAddrlenLimit: number;
  qattrCountLimit: number;
  enableOrcpt: boolean;
  alwaysAddHdrs: boolean;
  rcptWitheld: string;
  alwaysBcc: string;
  emptyAddr: string;
  remoteRwrDomain: string;
  rcptDelim: string;
  dropHeaders: Set<string>;
  extPropCanonical: boolean;
  extPropVirtual: boolean;
  hfromFormatStd: boolean;
  masqDomains: string[];
  masqExceptions: Set<string>;
  masqFlags: number;
  sendCanonFlags: number;
  rcptCanonFlags: number;
  commCanonFlags: number;
  commCanonMaps: MapsLike | null;
  sendCanonMaps: MapsLike | null;
  rcptCanonMaps: MapsLike | null;
  virtAliasMaps: MapsLike | null;
  sendBccMaps: MapsLike | null;
  rcptBccMaps: MapsLike | null;
  headerChecks: MapsLike | null;
  mimeHdrChecks: MapsLike | null;
  nestHdrChecks: MapsLike | null;
  bodyChecks: MapsLike | null;
  autoEightBitEncHdr: boolean;
  smtputf8Enable: boolean;
  verpFilter: string;
  /** message_reject_characters / message_strip_characters, unescaped (byte values) */
  rejectChars: Set<number> | null;
  stripChars: Set<number> | null;
  /** is a domain local for address lookups ($myorigin, $mydestination) */
  isLocalDomain(domain: string): boolean;
  /** trigger qmgr after a message is queued (tests may replace it) */
  triggerQmgr: boolean;
}

/** cleanupInit - read parameters and open tables (cleanup_pre_jail + cleanup_post_jail). */
export async function cleanupInit(config: MailConfig): Promise<CleanupGlobals> {
  const prop = config.list('propagate_unmatched_extensions').map((s) => s.toLowerCase());
  const mydest = new Set(config.list('mydestination').map((s) => s.toLowerCase()));
  const myorigin = config.str('myorigin');
  return {
    config,
    rewrite: new RewriteClient(trivialClient(config)),
    myhostname: config.str('myhostname'),
    myorigin,
    longQueueIds: config.bool('enable_long_queue_ids'),
    lineLimit: config.int('line_length_limit'),
    headerLimit: config.int('header_size_limit'),
    hopcountLimit: config.int('hopcount_limit'),
    messageLimit: config.long('message_size_limit'),
    bodyCheckLen: config.int('body_checks_size_limit'),
    delayWarnTime: config.time('delay_warning_time'),
    dupFilterLimit: config.int('duplicate_filter_limit'),
    virtExpanLimit: config.int('virtual_alias_expansion_limit'),
    virtRecurLimit: config.int('virtual_alias_recursion_limit'),
    virtAddrlenLimit: config.int('virtual_alias_address_length_limit'),
    qattrCountLimit: config.int('queue_file_attribute_count_limit'),
    enableOrcpt: config.bool('enable_original_recipient'),
    alwaysAddHdrs: config.bool('always_add_missing_headers'),
    rcptWitheld: config.str('undisclosed_recipients_header'),
    alwaysBcc: config.str('always_bcc'),
    emptyAddr: config.str('empty_address_recipient') || 'MAILER-DAEMON',
    remoteRwrDomain: config.str('remote_header_rewrite_domain'),
    rcptDelim: config.str('recipient_delimiter'),
    dropHeaders: new Set(config.list('message_drop_headers').map((s) => s.toLowerCase())),
    extPropCanonical: prop.includes('canonical'),
    extPropVirtual: prop.includes('virtual'),
    hfromFormatStd: config.str('header_from_format').toLowerCase() !== 'obsolete',
    masqDomains: config.list('masquerade_domains'),
    masqExceptions: new Set(config.list('masquerade_exceptions').map((s) => s.toLowerCase())),
    masqFlags: classMask(config, 'masquerade_classes'),
    sendCanonFlags: classMask(config, 'sender_canonical_classes'),
    rcptCanonFlags: classMask(config, 'recipient_canonical_classes'),
    commCanonFlags: classMask(config, 'canonical_classes'),
    commCanonMaps: await openMaps('canonical_maps', config.str('canonical_maps')),
    sendCanonMaps: await openMaps('sender_canonical_maps', config.str('sender_canonical_maps')),
    rcptCanonMaps: await openMaps('recipient_canonical_maps', config.str('recipient_canonical_maps')),
    virtAliasMaps: await openMaps('virtual_alias_maps', config.str('virtual_alias_maps')),
    sendBccMaps: await openMaps('sender_bcc_maps', config.str('sender_bcc_maps')),
    rcptBccMaps: await openMaps('recipient_bcc_maps', config.str('recipient_bcc_maps')),
    headerChecks: await openMaps('header_checks', config.str('header_checks')),
    mimeHdrChecks: await openMaps('mime_header_checks', config.str('mime_header_checks')),
    nestHdrChecks: await openMaps('nested_header_checks', config.str('nested_header_checks')),
    bodyChecks: await openMaps('body_checks', config.str('body_checks')),
    autoEightBitEncHdr: config.bool('detect_8bit_encoding_header'),
    smtputf8Enable: config.bool('smtputf8_enable'),
    verpFilter: config.str('verp_delimiter_filter'),
    rejectChars: charSet(config.str('message_reject_characters')),
    stripChars: charSet(config.str('message_strip_characters')),
    isLocalDomain: (d: string) => d.toLowerCase() === myorigin.toLowerCase() || mydest.has(d.toLowerCase()),
    triggerQmgr: true,
  };
}

/**
 * cleanup_addr - envelope address processing (Postfix cleanup/cleanup_addr.c,
 * cleanup_map11.c, cleanup_map1n.c, cleanup_masquerade.c,
 * cleanup_out_recipient.c, cleanup_rewrite.c).
 *
 * Sender and recipients are rewritten in the "local" context by
 * trivial-rewrite, then mapped with canonical_maps / sender_canonical_maps /
 * recipient_canonical_maps and masquerade_domains; recipients are expanded
 * with virtual_alias_maps (recursion and expansion limits, duplicates
 * suppressed) and written as [A notify_flags] [A dsn_orig_rcpt] O R; bcc
 * maps and always_bcc add recipients.
 */

import { REC, DSN_NOTIFY } from '../global/rec_type.js';

const DSN_NOTIFY_NEVER = DSN_NOTIFY.NEVER;
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { quote822Local, unquote822Local } from '../global/quote_822_local.js';
import { tok822Externalize, tok822GrepAddr, tok822Parse } from '../global/tok822.js';
import { msg } from '../util/msg.js';
import { bounceLogAppend } from '../global/bounce_log.js';
import { CANON } from './cleanup_init.js';
import { SMTPUTF8_FLAG, type CleanupState } from './cleanup_state.js';
import { loadTableModules, type MapsLike } from './maps_adapter.js';

const NON_ASCII = /[^\x00-\x7f]/;

/** autoUtf8 - a non-ASCII recipient makes the message SMTPUTF8 when the client asked for autodetection. */
function autoUtf8(state: CleanupState, addr: string): void {
  if (state.g.smtputf8Enable && NON_ASCII.test(addr) && state.flags & CLEANUP_FLAG.AUTOUTF8) {
    state.smtputf8 |= SMTPUTF8_FLAG.REQUESTED;
  }
}

/** rewriteInternal - trivial-rewrite in a context, internal form in and out (cleanup_rewrite_internal). */
export function rewriteInternal(state: CleanupState, context: string, addr: string): Promise<string> {
  return state.g.rewrite.rewriteInternal(context, addr);
}

/** addrFind - mail_addr_find in virtual(5)/canonical(5) order; value plus the unmatched extension. */
async function addrFind(state: CleanupState, maps: MapsLike, addr: string): Promise<{ value: string; extension?: string } | null> {
  const [, { mailAddrFind: mailAddrFindCore }] = await loadTableModules();
  const hit = await mailAddrFindCore(maps.maps, addr, {
    delimiter: state.g.rcptDelim,
    myorigin: state.g.myorigin,
    isLocal: (d) => state.g.isLocalDomain(d),
  });
  // "@otherdomain": the same user in the other domain, without the unmatched extension.
  if (hit && hit.value.startsWith('@')) {
    const at = addr.lastIndexOf('@');
    let local = at >= 0 ? addr.slice(0, at) : addr;
    if (hit.extension && local.endsWith(hit.extension)) local = local.slice(0, local.length - hit.extension.length);
    return { value: quote822Local(local + hit.value) };
  }
  return hit;
}

/** crunch - split a lookup result into internal-form addresses (mail_addr_crunch). */
async function crunch(state: CleanupState, value: string, extension: string | undefined): Promise<string[]> {
  let text = value;
  if (text === '' || text === '<>') text = '""';
  const out: string[] = [];
  for (const a of tok822GrepAddr(tok822Parse(text))) {
    const ext = tok822Externalize(a.head ?? []);
    const canon = await state.g.rewrite.rewrite('local', ext);
    let intern = unquote822Local(canon);
    if (extension) {
      const at = intern.lastIndexOf('@');
      intern = at < 0 ? intern + extension : intern.slice(0, at) + extension + intern.slice(at);
    }
    out.push(intern);
  }
  return out;
}

/** map11 - one-to-one mapping (canonical); returns the new address (cleanup_map11_internal). */
export async function map11(state: CleanupState, addr: string, maps: MapsLike, propagate: boolean): Promise<string> {
  let cur = addr;
  const seen = new Set<string>();
  for (let count = 0; count < 100; count++) {
    let hit;
    try {
      hit = await addrFind(state, maps, cur);
    } catch {
      msg.warn(`${state.queueId}: ${maps.title} map lookup problem for ${cur} -- message not accepted, try again later`);
      state.errs |= CLEANUP_STAT.WRITE;
      state.reason = '4.6.0 Canonical map lookup error';
      return cur;
    }
    if (hit === null) return cur;
    const list = await crunch(state, hit.value, propagate ? hit.extension : undefined);
    if (list.length > 1) {
      msg.warn(`${state.queueId}: multi-valued ${maps.title} entry for ${cur}`);
    }
    const next = list[0] ?? cur;
    if (next.toLowerCase() === cur.toLowerCase() || seen.has(next.toLowerCase())) return next;
    seen.add(cur.toLowerCase());
    cur = next;
  }
  msg.warn(`${state.queueId}: unreasonable ${maps.title} map nesting for ${addr}`);
  return cur;
}

/** masquerade - strip subdomains of masquerade_domains (cleanup_masquerade_internal). */
export function masquerade(state: CleanupState, addr: string): string {
  const at = addr.lastIndexOf('@');
  if (at < 0) return addr;
  const local = addr.slice(0, at);
  if (state.g.masqExceptions.has(local.toLowerCase())) return addr;
  const domain = addr.slice(at + 1).toLowerCase();
  for (let item of state.g.masqDomains) {
    let negate = false;
    if (item.startsWith('!')) {
      negate = true;
      item = item.slice(1);
    }
    const masq = item.toLowerCase();
    if (masq.length === 0) continue;
    if (domain === masq) break; // exact match: nothing to strip
    if (domain.endsWith('.' + masq)) {
      if (negate) break;
      return local + '@' + addr.slice(addr.length - masq.length);
    }
  }
  return addr;
}

/** mapAddress - canonical maps and masquerading for one address class. */
async function mapAddress(state: CleanupState, addr: string, classBit: number, which: 'send' | 'rcpt'): Promise<string> {
  const g = state.g;
  let clean = addr;
  if (!(state.flags & CLEANUP_FLAG.MAP_OK)) return clean;
  const own = which === 'send' ? g.sendCanonMaps : g.rcptCanonMaps;
  const ownFlags = which === 'send' ? g.sendCanonFlags : g.rcptCanonFlags;
  if (own && ownFlags & classBit) clean = await map11(state, clean, own, g.extPropCanonical);
  if (g.commCanonMaps && g.commCanonFlags & classBit) clean = await map11(state, clean, g.commCanonMaps, g.extPropCanonical);
  if (g.masqDomains.length > 0 && g.masqFlags & classBit) clean = masquerade(state, clean);
  return clean;
}

/** mapHeaderAddress - the same for an address found in a header (classBit HDR_FROM or HDR_RCPT). */
export function mapHeaderAddress(state: CleanupState, addr: string, classBit: number): Promise<string> {
  return mapAddress(state, addr, classBit, classBit === CANON.HDR_FROM ? 'send' : 'rcpt');
}

/** addrSender - the envelope sender: rewrite, map, write S (cleanup_addr_sender). */
export async function addrSender(state: CleanupState, buf: string): Promise<void> {
  let clean = await rewriteInternal(state, 'local', buf);
  const md = 'MAILER-DAEMON@';
  if (clean.slice(0, md.length).toLowerCase() === md.toLowerCase()) {
    const canon = await rewriteInternal(state, 'local', 'MAILER-DAEMON');
    if (clean.toLowerCase() === canon.toLowerCase()) clean = '';
  }
  clean = await mapAddress(state, clean, CANON.ENV_FROM, 'send');
  if (state.g.smtputf8Enable && NON_ASCII.test(clean)) {
    state.smtputf8 |= SMTPUTF8_FLAG.SENDER;
    if (state.flags & CLEANUP_FLAG.AUTOUTF8) state.smtputf8 |= SMTPUTF8_FLAG.REQUESTED;
  }
  state.out(REC.FROM, clean);
  state.sender = clean;
  if (state.flags & CLEANUP_FLAG.BCC_OK && clean && state.g.sendBccMaps) {
    await bccLookup(state, state.g.sendBccMaps, clean);
  }
}

async function bccLookup(state: CleanupState, maps: MapsLike, addr: string): Promise<void> {
  let hit;
  try {
    hit = await addrFind(state, maps, addr);
  } catch {
    msg.warn(`${state.queueId}: ${maps.title} map lookup problem -- message not accepted, try again later`);
    state.errs |= CLEANUP_STAT.WRITE;
    return;
  }
  if (hit !== null) await addrBcc(state, unquote822Local(hit.value));
}

/** addrRecipient - one envelope recipient (cleanup_addr_recipient). */
export async function addrRecipient(state: CleanupState, buf: string): Promise<void> {
  let clean = await rewriteInternal(state, 'local', buf || state.g.emptyAddr);
  clean = await mapAddress(state, clean, CANON.ENV_RCPT, 'rcpt');
  autoUtf8(state, clean);
  if (state.dsnOrcpt === null && clean) {
    const utf8 = NON_ASCII.test(clean) && state.smtputf8 & SMTPUTF8_FLAG.REQUESTED;
    state.dsnOrcpt = `${utf8 ? 'utf-8' : 'rfc822'};${clean}`;
  }
  await outRecipient(state, state.dsnOrcpt, state.dsnNotify, state.origRcpt ?? buf, clean);
  state.recip = clean;
  if (state.flags & CLEANUP_FLAG.BCC_OK && clean && state.g.rcptBccMaps) {
    await bccLookup(state, state.g.rcptBccMaps, clean);
  }
}

/** addrBcc - an automatic bcc recipient (cleanup_addr_bcc). */
export async function addrBcc(state: CleanupState, bcc: string): Promise<void> {
  let clean = await rewriteInternal(state, 'local', bcc);
  clean = await mapAddress(state, clean, CANON.ENV_RCPT, 'rcpt');
  autoUtf8(state, clean);
  // No DSN original recipient, NOTIFY=NEVER (cleanup_addr_bcc).
  await outRecipient(state, null, DSN_NOTIFY_NEVER, clean, clean);
}

/** map1n - virtual alias expansion of one address (cleanup_map1n_internal). */
async function map1n(state: CleanupState, addr: string, maps: MapsLike): Promise<string[]> {
  const g = state.g;
  const argv = [addr];
  const beenHere = new Set<string>();
  const fail = (why: string, stat: number): string[] => {
    msg.warn(`${state.queueId}: ${why} -- message not accepted, try again later`);
    state.errs |= stat;
    state.reason = '4.6.0 Alias expansion error';
    return [addr];
  };
  for (let arg = 0; arg < argv.length; arg++) {
    if (argv.length > g.virtExpanLimit) return fail(`unreasonable ${maps.title} map expansion size for ${addr}`, CLEANUP_STAT.DEFER);
    for (let count = 0; ; count++) {
      if (beenHere.has(argv[arg].toLowerCase())) break;
      if (count >= g.virtRecurLimit) return fail(`unreasonable ${maps.title} map nesting for ${addr}`, CLEANUP_STAT.DEFER);
      let hit;
      try {
        hit = await addrFind(state, maps, argv[arg]);
      } catch {
        return fail(`${maps.title} map lookup problem for ${addr}`, CLEANUP_STAT.WRITE);
      }
      if (hit === null) break;
      const lookup = await crunch(state, hit.value, g.extPropVirtual ? hit.extension : undefined);
      const savedLhs = argv[arg];
      for (let i = 0; i < lookup.length; i++) {
        if (lookup[i].length > g.virtAddrlenLimit) {
          return fail(`unreasonable ${maps.title} result ${lookup[i].slice(0, 300)}...`, CLEANUP_STAT.DEFER);
        }
        if (i === 0) argv[arg] = lookup[i];
        else argv.push(lookup[i]);
        if (savedLhs.toLowerCase() === lookup[i].toLowerCase()) beenHere.add(savedLhs.toLowerCase());
      }
      if (lookup.length === 0) break;
    }
  }
  return argv;
}

/** outRecipient - expand virtual aliases, suppress duplicates, write the records (cleanup_out_recipient). */
export async function outRecipient(
  state: CleanupState,
  dsnOrcpt: string | null,
  dsnNotify: number,
  orcpt: string,
  recip: string,
): Promise<void> {
  const orc = dsnOrcpt ?? '';
  const list =
    state.flags & CLEANUP_FLAG.MAP_OK && state.g.virtAliasMaps ? await map1n(state, recip, state.g.virtAliasMaps) : [recip];
  // NOTIFY=SUCCESS: report the expansion now ("alias expanded"), and do not ask the new addresses for success reports.
  if (dsnNotify & DSN_NOTIFY.SUCCESS && (list.length > 1 || list[0] !== recip)) {
    try {
      await bounceLogAppend(state.g.config, 'trace', state.queueId, {
        recipient: recip,
        original_recipient: orcpt.toLowerCase() === recip.toLowerCase() ? '' : orcpt,
        offset: 0,
        dsn_orig_rcpt: orc,
        notify_flags: dsnNotify,
        status: '2.0.0',
        action: 'expanded',
        diag_type: '',
        diag_text: '',
        mta_type: '',
        mta_mname: '',
        reason: 'alias expanded',
      });
    } catch {
      msg.warn(`${state.queueId}: trace logfile update error`);
      state.errs |= CLEANUP_STAT.WRITE;
    }
    dsnNotify = dsnNotify === DSN_NOTIFY.SUCCESS ? DSN_NOTIFY.NEVER : dsnNotify & ~DSN_NOTIFY.SUCCESS;
  }
  for (const r of list) {
    const key = state.g.enableOrcpt ? `${orc}\n${dsnNotify}\n${orcpt}\n${r}` : r;
    if (state.dups.has(key)) continue;
    if (state.g.dupFilterLimit === 0 || state.dups.size < state.g.dupFilterLimit) state.dups.add(key);
    if (dsnNotify) state.out(REC.ATTR, `notify_flags=${dsnNotify}`);
    if (orc) state.out(REC.ATTR, `dsn_orig_rcpt=${orc}`);
    state.out(REC.ORCP, orcpt);
    state.out(REC.RCPT, r);
    state.rcptCount++;
  }
}

export { quote822Local };

/**
 * local - the local mail delivery agent (Postfix local(8)).
 *
 * For each recipient, in Postfix's order: Delivered-To: loop detection;
 * alias_maps (user+ext, then user; `owner-`/`-request` handling; an
 * owner-listname alias becomes the envelope sender and list owner);
 * local members of a list with an owner, of a ~/.forward naming other
 * users and of :include: files go on as a new message (deliver_indirect),
 * like remote members: one forwarded copy per Delivered-To and sender;
 * other local members are delivered here recursively; ~/.forward via
 * forward_path; mailbox_transport(_maps); mailbox_command; home_mailbox
 * (Maildir/ when it ends in a slash, else an mbox file in the home
 * directory); the mbox in mail_spool_directory (with a biff notice);
 * fallback_transport; luser_relay; "unknown user". A failed file, command
 * or forwarding loop whose address has an owner- alias is reported at once
 * to that owner (bounce_workaround, bounce ONE). Deliveries for a user run
 * with that user's identity when the agent runs as root; alias commands and
 * files run as the alias table's owner, or default_privs when that owner is
 * root. Never as root.
 */

import { closeSync, constants as fsc, openSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { readDeliverRequest, sendDeliverReply, emptyHop, DELIVER_STAT_DEFER, DEL_REQ_FLAG, type DeliverRecipient, type DeliverRequest } from '../global/deliver_request.js';
import { DeliveryStatus } from '../global/deliver_status.js';
import { mailQueuePath } from '../global/mail_queue.js';
import { messageHasDeliveredTo } from '../global/mail_copy.js';
import { getpwnam, type Passwd } from '../util/mypwd.js';
import {
  appendMbox,
  asUser,
  bounce,
  defer,
  deliverCommand,
  deliverFile,
  deliverMaildir,
  forwardMessage,
  sent,
  type CommandEnv,
  type ForwardRecipient,
  type Identity,
  type LocalResult,
  type MessageRef,
} from './local_deliver.js';
import { LocalMaps } from './local_maps.js';
import { deliverPass } from '../global/deliver_pass.js';

const MAX_RECURSION = 100;

/** Where a delivery instruction came from: decides what allow_mail_to_* permits. */
type Origin = 'alias' | 'forward' | 'include';

interface RecipientState {
  /** the address being delivered now (changes during alias expansion) */
  address: string;
  /** the recipient that qmgr asked for */
  top: DeliverRecipient;
  level: number;
  /** addresses already handled in this expansion (Postfix been_here) */
  seen: Set<string>;
  sender: string;
  /** the alias whose expansion led to this address (for the loop report) */
  via?: { alias: string; address: string };
  /**
   * the list owner (owner-name@$myorigin, or the owner- alias's value with
   * expand_owner_alias) once a list with an owner- alias was expanded: its
   * local members are forwarded with the owner as sender (Postfix
   * msg_attr.owner)
   */
  owner?: string;
  /** a list with an owner was expanded: original recipient and DSN ORCPT no longer apply */
  origCleared?: boolean;
  /** what expanded this address: :include: members are always forwarded */
  expType?: Origin;
  /** copies to forward, per (Delivered-To, sender), sent once the top recipient is done (Postfix forward_append) */
  forwards: Map<string, { deliveredTo: string; sender: string; rcpts: ForwardRecipient[]; seen: Set<string> }>;
  /** report the outcome for one address of the expansion (Postfix logs each) */
  report: (address: string, r: LocalResult, origCleared?: boolean) => Promise<void>;
}

export class LocalAgent {
  private readonly maps: LocalMaps;
  /** the open queue file of each request in progress (a process may serve several) */
  private readonly queueFiles = new WeakMap<DeliverRequest, number>();

  constructor(private readonly config: MailConfig) {
    this.maps = new LocalMaps(config);
  }

  async service(stream: VStream): Promise<void> {
    const req = await readDeliverRequest(stream);
    if (req === null) return;
    const status = new DeliveryStatus(this.config, req);
    // Open the queue file while still privileged (deliveries run as the
    // recipient), for reading and for the done marks, as Postfix
    // deliver_request_read (O_RDWR). One delivery at a time per process, so
    // the file is read and marked synchronously: no thread-pool round trips.
    const queueFile = openSync(mailQueuePath(this.config, req.queue_name, req.queue_id), fsc.O_RDWR);
    this.queueFiles.set(req, queueFile);
    status.queueFile = queueFile;
    try {
      await this.deliverAll(req, status);
    } finally {
      this.queueFiles.delete(req);
      status.queueFile = undefined;
      closeSync(queueFile);
    }
    await sendDeliverReply(stream, { hop: emptyHop(), status: status.status });
  }

  private async deliverAll(req: DeliverRequest, status: DeliveryStatus): Promise<void> {
    for (const rcpt of req.rcpt) {
      let deferred = false;
      const report = async (address: string, result: LocalResult, origCleared = false): Promise<void> => {
        if (result.kind === 'expanded') return;
        if (result.kind === 'passed') {
          // The other agent logged and marked the recipient; only its verdict counts here.
          if (result.deferred) {
            deferred = true;
            status.status = DELIVER_STAT_DEFER;
          }
          return;
        }
        let leaf = address === rcpt.address ? rcpt : { ...rcpt, address, orig_addr: rcpt.orig_addr || rcpt.address };
        if (origCleared) leaf = { ...leaf, orig_addr: '', dsn_orcpt: '' };
        const outcome = { dsn: result.dsn, text: result.text, relay: 'local', diagType: result.diagType, diagText: result.diagText };
        if (result.kind === 'sent') await status.sent(leaf, outcome);
        else if (result.kind === 'defer') {
          deferred = true;
          await status.defer(leaf, outcome);
        } else if (result.bounceTo !== undefined) {
          // a list member's failure goes at once to the list owner (bounce_one)
          // Inside a list with an owner the poster's ENVID and RET no longer apply (Postfix alias.c).
          const dsn = origCleared ? { ret: 0, envid: '' } : undefined;
          if (!(await status.bounceOne(leaf, outcome, result.bounceTo, dsn))) deferred = true;
        } else await status.bounce(leaf, outcome);
      };
      // Each address of an alias expansion is logged, the recipient is marked done once.
      status.heldMarks = new Set();
      try {
        const forwards: RecipientState['forwards'] = new Map();
        const state: RecipientState = { address: rcpt.address, top: rcpt, level: 0, seen: new Set(), sender: req.sender, report, forwards };
        await report(rcpt.address, await this.deliverRecipient(req, state));
        // One forwarded copy per (Delivered-To, sender), logged for the recipient (Postfix forward_finish).
        for (const f of forwards.values()) {
          await report(rcpt.address, await forwardMessage(this.config, this.messageRef(req, rcpt, f.deliveredTo, f.sender), f.rcpts, f.sender, f.deliveredTo, req));
        }
      } catch (err) {
        msg.warn(`${req.queue_id}: ${(err as Error).message}`);
        await report(rcpt.address, defer('4.3.0', 'local delivery agent internal error'));
      }
      await status.releaseMarks(!deferred);
    }
  }

  private messageRef(req: DeliverRequest, rcpt: DeliverRecipient, deliveredTo: string, sender: string = req.sender): MessageRef {
    return {
      path: this.queueFiles.get(req) ?? mailQueuePath(this.config, req.queue_name, req.queue_id),
      dataOffset: req.data_offset,
      sender,
      origRecipient: rcpt.orig_addr || rcpt.address,
      deliveredTo,
    };
  }

  /**
   * deliveredTo - the Delivered-To: address of a delivery: the recipient qmgr
   * asked for (frozen_delivered_to = yes, the default), else the alias or
   * address expanded last (Postfix msg_attr.delivered).
   */
  private deliveredTo(s: RecipientState): string {
    if (this.config.bool('frozen_delivered_to')) return s.top.address;
    return s.via?.address ?? s.address;
  }

  private splitAddress(address: string): { local: string; domain: string } {
    const at = address.lastIndexOf('@');
    return at < 0 ? { local: address, domain: '' } : { local: address.slice(0, at), domain: address.slice(at + 1) };
  }

  /** stripExtension - user+ext into user and ext, per recipient_delimiter (several characters allowed). */
  private stripExtension(local: string): { user: string; ext: string } {
    const delims = this.config.str('recipient_delimiter');
    if (!delims) return { user: local, ext: '' };
    // owner-list and list-request are never split (Postfix split_addr).
    if (this.config.bool('owner_request_special')) {
      const lc = local.toLowerCase();
      if (lc.startsWith('owner-') || (lc.length > 8 && lc.endsWith('-request'))) return { user: local, ext: '' };
    }
    for (let i = 0; i < local.length; i++) {
      if (delims.includes(local[i]) && i > 0) return { user: local.slice(0, i), ext: local.slice(i + 1) };
    }
    return { user: local, ext: '' };
  }

  private isLocalDomain(domain: string): boolean {
    if (domain === '') return true;
    const d = domain.toLowerCase();
    return this.config.list('mydestination').some((x) => x.toLowerCase() === d);
  }

  /** deliverRecipient - one address: loop check, aliases, then the user's own delivery. */
  private async deliverRecipient(req: DeliverRequest, s: RecipientState): Promise<LocalResult> {
    if (s.level > MAX_RECURSION) return bounce('5.4.6', `mail forwarding loop for ${s.top.address}`);
    const ref = this.messageRef(req, s.top, this.deliveredTo(s), s.sender);
    if (await messageHasDeliveredTo(ref.path, ref.dataOffset, s.address)) {
      // Account for a possible owner- sender override.
      return this.bounceWorkaround(s.address, bounce('5.4.6', `mail forwarding loop for ${s.address}`));
    }
    const { local } = this.splitAddress(s.address);
    const lcLocal = local.toLowerCase();
    const { user, ext } = this.stripExtension(lcLocal);

    // 1. aliases: user+ext first, then user.
    const candidates = ext ? [lcLocal, user] : [user];
    for (const key of candidates) {
      let value: { value: string; owner: Identity | undefined } | null;
      try {
        value = await this.maps.alias(key);
      } catch (err) {
        return defer('4.3.0', `alias database unavailable: ${(err as Error).message}`);
      }
      if (value === null) continue;
      if (s.seen.has(`alias:${key}`)) {
        // Postfix blames the alias whose expansion came back to an alias already expanded.
        const who = s.via ?? { alias: key, address: s.address };
        msg.warn(`alias database loop for ${who.alias}`);
        await s.report(who.address, bounce('5.4.6', `alias database loop for ${who.alias}`));
        return { kind: 'expanded', dsn: '', text: '' };
      }
      s.seen.add(`alias:${key}`);
      const owner = await this.ownerOf(key);
      const list = { ...s, via: { alias: key, address: s.address } };
      if (owner !== null) Object.assign(list, { sender: owner, owner, origCleared: true });
      else if (this.config.bool('reset_owner_alias')) list.owner = undefined;
      return this.expandList(req, list, value.value, 'alias', value.owner, key);
    }

    // 2. a local member of a list with an owner, and :include: members, go
    // on as a new message from that sender (Postfix deliver_indirect), so
    // that their failures reach the owner.
    if ((s.owner !== undefined && s.owner.toLowerCase() !== user) || s.expType === 'include') return this.indirect(req, s, s.address);

    // 3. the user's own delivery
    const pw = getpwnam(user);
    if (!pw) return this.unknownUser(req, s, user);
    return this.deliverUser(req, s, pw, ext);
  }

  /**
   * ownerOf - the list owner of alias `name`: with owner_request_special,
   * when an owner-name alias exists, owner-name@$myorigin (or, with
   * expand_owner_alias, the owner alias's value); null when there is none.
   * The owner becomes the envelope sender of the expansion so that list
   * errors go to the owner (Postfix local/alias.c).
   */
  private async ownerOf(name: string): Promise<string | null> {
    if (!this.config.bool('owner_request_special')) return null;
    const owner = `owner-${name}`;
    let found: { value: string } | null;
    try {
      found = await this.maps.alias(owner);
    } catch {
      return null;
    }
    if (found === null) return null;
    return this.canonOwner(this.config.bool('expand_owner_alias') ? stripQuotesAndBrackets(found.value.trim()) : owner);
  }

  /** canonOwner - an owner address in internal form: @$myorigin appended when it has no domain (canon_addr_internal). */
  private canonOwner(addr: string): string {
    return addr.includes('@') ? addr : `${addr}@${this.config.str('myorigin')}`;
  }

  /**
   * bounceWorkaround - a permanent failure of `address` goes at once, as a
   * one-recipient notice, to the owner when an owner-<localpart> alias (or
   * owner-<localpart without extension>) exists; else into the bounce
   * logfile as usual (Postfix local/bounce_workaround.c). Used for files,
   * commands and forwarding loops, whose failures cannot wait for the
   * message's own notice because the sender may have been replaced.
   */
  private async bounceWorkaround(address: string, r: LocalResult): Promise<LocalResult> {
    if (r.kind !== 'bounce' || !this.config.bool('owner_request_special')) return r;
    const local = this.splitAddress(address).local.toLowerCase();
    const candidates = [local];
    const stripped = this.stripExtension(local).user;
    if (stripped !== local) candidates.push(stripped);
    for (const name of candidates) {
      let found: { value: string } | null;
      try {
        found = await this.maps.alias(`owner-${name}`);
      } catch {
        return defer('4.3.0', 'alias database unavailable');
      }
      if (found === null) continue;
      return { ...r, bounceTo: this.canonOwner(this.config.bool('expand_owner_alias') ? stripQuotesAndBrackets(found.value.trim()) : `owner-${name}`) };
    }
    return r;
  }

  /**
   * indirect - queue `addr` for the forwarded copy of the current
   * (Delivered-To, sender); nothing is logged for it here (Postfix
   * deliver_indirect, forward_append). Delivered-To is the top recipient
   * (frozen_delivered_to = yes) or the address expanded last.
   */
  private async indirect(req: DeliverRequest, s: RecipientState, addr: string): Promise<LocalResult> {
    if (verifyOnly(req)) return sent(`forwards to ${addr}`);
    const deliveredTo = this.deliveredTo(s);
    const key = `${deliveredTo}\0${s.sender}`;
    let f = s.forwards.get(key);
    if (!f) {
      f = { deliveredTo, sender: s.sender, rcpts: [], seen: new Set() };
      s.forwards.set(key, f);
    }
    if (!f.seen.has(addr)) {
      f.seen.add(addr);
      const cleared = s.origCleared === true;
      f.rcpts.push({
        address: addr,
        orig: cleared ? '' : s.top.orig_addr || s.top.address,
        dsnOrcpt: cleared ? '' : s.top.dsn_orcpt,
        notify: s.top.dsn_notify,
      });
    }
    return { kind: 'expanded', dsn: '', text: '' };
  }

  /** unknownUser - fallback_transport(_maps), then luser_relay, then "unknown user" (Postfix local/unknown.c). */
  private async unknownUser(req: DeliverRequest, s: RecipientState, user: string): Promise<LocalResult> {
    const fallback = (await this.maps.transportFor('fallback_transport_maps', s.address)) ?? this.config.str('fallback_transport');
    if (fallback) return this.pass(fallback, req, s);
    const luser = this.config.str('luser_relay');
    if (luser) {
      const target = luser.replace(/\$\{user\}|\$user/g, user);
      return this.deliverAddress(req, s, target);
    }
    return bounce('5.1.1', `unknown user: "${user}"`);
  }

  /** pass - hand the recipient to another transport (deliver_pass); that agent logs the outcome. */
  private async pass(spec: string, req: DeliverRequest, s: RecipientState): Promise<LocalResult> {
    const rcpt = s.address === s.top.address ? s.top : { ...s.top, address: s.address, orig_addr: s.top.orig_addr || s.top.address };
    try {
      const status = await deliverPass(this.config, spec, req, rcpt);
      return { kind: 'passed', dsn: '', text: '', deferred: status !== 0 };
    } catch (err) {
      return defer('4.3.0', `mail transport unavailable: ${spec}: ${(err as Error).message}`);
    }
  }

  /** deliverUser - .forward, mailbox_command, home_mailbox or the spool mbox, as the user. */
  private async deliverUser(req: DeliverRequest, s: RecipientState, pw: Passwd, ext: string, noForward = false): Promise<LocalResult> {
    const id: Identity = { uid: pw.uid, gid: pw.gid };
    // .forward (not for root-owned deliveries of aliases that named this user themselves)
    if (!noForward && !s.seen.has(`forward:${pw.name}`)) {
      s.seen.add(`forward:${pw.name}`);
      const fwd = await this.readForward(pw, ext);
      // The owner (forwarder) attribute: other local users named here get a new message (Postfix dotforward.c).
      if (fwd !== null) return this.expandList(req, { ...s, owner: pw.name }, fwd, 'forward', id, pw.name);
    }
    const mailboxTransport = (await this.maps.transportFor('mailbox_transport_maps', s.address)) ?? this.config.str('mailbox_transport');
    if (mailboxTransport) return this.pass(mailboxTransport, req, s);
    const ref = this.messageRef(req, s.top, this.deliveredTo(s), s.sender);
    const env = this.commandEnv(req, s, pw, ext);
    const mailboxCommand = (await this.maps.transportFor('mailbox_command_maps', pw.name)) ?? this.config.str('mailbox_command');
    if (mailboxCommand) {
      if (verifyOnly(req)) return sent(`delivers to command: ${this.config.expand(mailboxCommand)}`);
      const r =
        pw.uid === 0
          ? await this.asDefaultPrivs(async (dp) => deliverCommand(this.config, this.config.expand(mailboxCommand), ref, dp, env))
          : await deliverCommand(this.config, this.config.expand(mailboxCommand), ref, id, env);
      return this.bounceWorkaround(s.address, r);
    }
    // Mailboxes belong to their user, root included (only commands and files of
    // root-owned aliases fall back to default_privs).
    const owner = id;
    const home = this.config.str('home_mailbox');
    if (home) {
      const path = join(pw.dir, home);
      if (verifyOnly(req)) return sent(home.endsWith('/') ? 'delivers to maildir' : 'delivers to mailbox');
      if (home.endsWith('/')) return asUser(owner, () => deliverMaildir(path, ref, pw.name));
      const offset = await fileSize(path);
      const r = await asUser(owner, () => appendMbox(this.config, path, ref, owner, pw.name));
      if (r.kind === 'sent') await this.biff(pw.name, offset);
      return r.kind === 'sent' ? sent('delivered to mailbox') : r;
    }
    const spool = join(this.config.str('mail_spool_directory'), pw.name);
    if (verifyOnly(req)) return sent('delivers to mailbox');
    const offset = await fileSize(spool);
    const r = await appendMbox(this.config, spool, ref, owner, pw.name);
    if (r.kind === 'sent') await this.biff(pw.name, offset);
    return r.kind === 'sent' ? sent('delivered to mailbox') : r;
  }

  /**
   * biff - with biff = yes, tell the local comsat service "user@offset" (the
   * mailbox size before this message) after a mailbox delivery, as Postfix's
   * biff_notify(); one UDP datagram ("user@offset" and a NUL, as Postfix) to 127.0.0.1
   * port biff (512); errors are ignored.
   */
  private async biff(user: string, offset: number): Promise<void> {
    if (!this.config.bool('biff')) return;
    await new Promise<void>((resolve) => {
      const sock = createSocket('udp4');
      const done = (): void => {
        try {
          sock.close();
        } catch {
          // already closed
        }
        resolve();
      };
      sock.once('error', done);
      sock.send(`${user}@${offset}\0`, BIFF_PORT, '127.0.0.1', done);
    });
  }

  /** readForward - the first .forward of forward_path that exists and is owned by the user. */
  private async readForward(pw: Passwd, ext: string): Promise<string | null> {
    const delim = this.config.str('recipient_delimiter').charAt(0);
    // $home, $user, $extension are per-recipient: expand them here, not through main.cf.
    const raw = this.config.raw('forward_path') ?? '';
    const paths = raw
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((p) =>
        p
          .replace(/\$\{recipient_delimiter\}|\$recipient_delimiter/g, delim)
          .replace(/\$\{extension\}|\$extension/g, ext)
          .replace(/\$\{home\}|\$home/g, pw.dir)
          .replace(/\$\{user\}|\$user/g, pw.name),
      );
    for (const p of paths) {
      if (!ext && p !== paths[paths.length - 1] && p.endsWith(`.forward${delim}`)) continue;
      try {
        const st = await stat(p);
        if (!st.isFile() || st.uid !== pw.uid) continue;
        const text = await readFile(p, 'utf8');
        const items = text
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
          .join(',');
        if (items.trim() !== '') return items;
      } catch {
        continue;
      }
    }
    return null;
  }

  /** expandList - deliver each member of an alias value, .forward or :include: file; each outcome is reported. */
  private async expandList(req: DeliverRequest, parent: RecipientState, list: string, origin: Origin, owner: Identity | undefined, name: string): Promise<LocalResult> {
    const members = splitAliasList(list);
    if (members.length === 0) return bounce('5.3.0', `empty alias expansion for ${name}`);
    const s: RecipientState = { ...parent, expType: origin };
    const oc = s.origCleared === true;
    for (const quoted of members) {
      const member = unquoteMember(quoted);
      if (member.startsWith('|')) await s.report(s.address, await this.memberCommand(req, s, member.slice(1), origin, owner), oc);
      else if (member.startsWith('/')) await s.report(s.address, await this.bounceWorkaround(s.address, await this.memberFile(req, s, member, origin, owner)), oc);
      else if (member.toLowerCase().startsWith(':include:')) await s.report(s.address, await this.memberInclude(req, s, member.slice(9).trim(), owner), oc);
      else {
        const addr = stripQuotesAndBrackets(member);
        const { local, domain } = this.splitAddress(addr);
        const full = addr.includes('@') ? addr : `${addr}@${this.config.str('myorigin')}`;
        if (local.toLowerCase() === name.toLowerCase() && this.isLocalDomain(domain)) {
          // "root: root, other": the user's own mailbox, no further aliasing
          const pw = getpwnam(this.stripExtension(local.toLowerCase()).user);
          const sub = { ...s, address: full, level: s.level + 1 };
          await s.report(full, pw ? await this.deliverUser(req, sub, pw, '') : await this.unknownUser(req, sub, local), oc);
        } else if (this.isLocalDomain(domain)) {
          await this.deliverAddress(req, s, addr);
        } else {
          // A remote member: part of the forwarded copy.
          const r = await this.indirect(req, s, addr);
          if (r.kind !== 'expanded') await s.report(addr, r, oc);
        }
      }
    }
    return { kind: 'expanded', dsn: '', text: '' };
  }

  /** deliverAddress - a local member address: a new recipient of its own (logged with orig_to). */
  private async deliverAddress(req: DeliverRequest, s: RecipientState, addr: string): Promise<LocalResult> {
    // \user: the user's own mailbox, no alias, .forward or forwarding (Postfix deliver_switch).
    const backslash = addr.startsWith('\\');
    const bare = backslash ? addr.slice(1) : addr;
    const full = bare.includes('@') ? bare : `${bare}@${this.config.str('myorigin')}`;
    const key = `${backslash ? 'mbox' : 'addr'}:${full.toLowerCase()}`;
    if (s.seen.has(key)) return { kind: 'expanded', dsn: '', text: '' }; // duplicate
    s.seen.add(key);
    const sub = { ...s, address: full, level: s.level + 1 };
    let r: LocalResult;
    if (backslash) {
      const { user, ext } = this.stripExtension(this.splitAddress(full).local.toLowerCase());
      const pw = getpwnam(user);
      r = pw ? await this.deliverUser(req, sub, pw, ext, true) : await this.unknownUser(req, sub, user);
    } else {
      r = await this.deliverRecipient(req, sub);
    }
    await s.report(full, r, s.origCleared === true);
    return { kind: 'expanded', dsn: '', text: '' };
  }

  private allowed(param: string, origin: Origin): boolean {
    return this.config.list(param).some((x) => x.toLowerCase() === origin);
  }

  private async memberCommand(req: DeliverRequest, s: RecipientState, command: string, origin: Origin, owner: Identity | undefined): Promise<LocalResult> {
    if (!this.allowed('allow_mail_to_commands', origin)) return bounce('5.7.1', `mail to command is restricted`);
    const runAs = owner && owner.uid !== 0 ? owner : await this.defaultPrivs();
    const pw = runAsPasswd(runAs);
    const env = this.commandEnv(req, s, pw, '');
    const cmd = command.trim().replace(/^"(.*)"$/, '$1');
    if (verifyOnly(req)) return sent(`delivers to command: ${cmd}`);
    // Account for a possible owner- sender override (a restricted command is an ordinary bounce).
    return this.bounceWorkaround(s.address, await deliverCommand(this.config, cmd, this.messageRef(req, s.top, this.deliveredTo(s), s.sender), runAs, env));
  }

  private async memberFile(req: DeliverRequest, s: RecipientState, path: string, origin: Origin, owner: Identity | undefined): Promise<LocalResult> {
    if (!this.allowed('allow_mail_to_files', origin)) return bounce('5.7.1', `mail to file is restricted`);
    const runAs = owner && owner.uid !== 0 ? owner : await this.defaultPrivs();
    if (verifyOnly(req)) return sent(`delivers to file: ${path}`);
    return asUser(runAs, () => deliverFile(this.config, path, this.messageRef(req, s.top, this.deliveredTo(s), s.sender), runAs));
  }

  private async memberInclude(req: DeliverRequest, s: RecipientState, path: string, owner: Identity | undefined): Promise<LocalResult> {
    if (s.seen.has(`include:${path}`)) return { kind: 'expanded', dsn: '', text: '' };
    s.seen.add(`include:${path}`);
    let text: string;
    let st;
    try {
      st = await stat(path);
      text = await readFile(path, 'utf8');
    } catch (err) {
      return defer('4.3.0', `cannot open include file ${path}: ${(err as Error).message}`);
    }
    const includeOwner = st.uid !== 0 ? { uid: st.uid, gid: st.gid } : owner;
    const list = text
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
      .join(',');
    return this.expandList(req, { ...s, level: s.level + 1 }, list, 'include', includeOwner, path);
  }

  private commandEnv(req: DeliverRequest, s: RecipientState, pw: Passwd | undefined, ext: string): CommandEnv {
    const { local, domain } = this.splitAddress(s.address);
    return {
      home: pw?.dir ?? '/',
      user: pw?.name ?? '',
      shell: pw?.shell ?? '/bin/sh',
      recipient: s.address,
      local,
      domain,
      extension: ext,
      origRecipient: s.top.orig_addr || s.top.address,
      clientAddress: req.client_addr,
      clientHostname: req.client_name,
      clientHelo: req.client_helo,
      clientProtocol: req.client_proto,
      saslMethod: req.sasl_method,
      saslUsername: req.sasl_username,
      saslSender: req.sasl_sender,
    };
  }

  /** defaultPrivs - the identity of default_privs (nobody), for root-owned aliases. */
  private async defaultPrivs(): Promise<Identity | undefined> {
    if (process.getuid?.() !== 0) return undefined;
    const pw = getpwnam(this.config.str('default_privs'));
    if (!pw || pw.uid === 0) throw new Error(`unknown or privileged default_privs user: ${this.config.str('default_privs')}`);
    return { uid: pw.uid, gid: pw.gid };
  }

  private async asDefaultPrivs(fn: (id: Identity | undefined) => Promise<LocalResult>): Promise<LocalResult> {
    return fn(await this.defaultPrivs());
  }
}

/** The comsat service port (getservbyname("biff", "udp")). */
export let BIFF_PORT = 512;
/** setBiffPort - tests point biff at a port of their own. */
export function setBiffPort(port: number): void {
  BIFF_PORT = port;
}

/** fileSize - the size of a file, 0 when it does not exist yet. */
async function fileSize(path: string): Promise<number> {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** verifyOnly - sendmail -bv and address probes: say what would happen, deliver nothing (Postfix local verify mode). */
function verifyOnly(req: DeliverRequest): boolean {
  return (req.flags & (DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY)) !== 0;
}

function runAsPasswd(id: Identity | undefined): Passwd | undefined {
  if (!id) return undefined;
  return { name: String(id.uid), uid: id.uid, gid: id.gid, gecos: '', dir: '/', shell: '/bin/sh' };
}

/** splitAliasList - comma/whitespace separated members; quotes group (aliases(5)). */
export function splitAliasList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') {
      quoted = !quoted;
      cur += ch;
      continue;
    }
    if (!quoted && (ch === ',' || ch === '\n')) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/**
 * unquoteMember - `"|command args"` and `"/file name"` are a command and a
 * file, as Postfix's RFC 822 tokenizer reads a quoted local part; other
 * quoted addresses stay as they are (they are forwarded with their quotes).
 */
export function unquoteMember(member: string): string {
  const m = /^"((?:[^"\\]|\\.)*)"(?:@[^\s"]*)?$/s.exec(member.trim());
  if (!m) return member;
  const inner = m[1].replace(/\\(.)/gs, '$1');
  return /^(\||\/|:include:)/i.test(inner) ? inner : member;
}

function stripQuotesAndBrackets(addr: string): string {
  let a = addr.trim();
  if (a.startsWith('<') && a.endsWith('>')) a = a.slice(1, -1);
  return a;
}

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  let agent: LocalAgent | undefined;
  singleServerMain(argv, {
    privileged: true,
    postInit(ctx: ServerContext) {
      agent = new LocalAgent(ctx.config);
    },
    async service(stream: VStream) {
      await agent!.service(stream);
    },
  });
}

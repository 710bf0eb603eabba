/**
 * virtual - the virtual mailbox delivery agent (Postfix virtual(8)).
 *
 * Looks the recipient up in virtual_mailbox_maps (user@domain, then the
 * @domain catch-all); the result is a path under virtual_mailbox_base,
 * a Maildir when it ends in a slash, else an mbox file. The owner comes
 * from virtual_uid_maps / virtual_gid_maps (usually static:N); a uid below
 * virtual_minimum_uid is refused. No aliases, no .forward, no commands.
 * Logs relay=virtual.
 */

import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { readDeliverRequest, sendDeliverReply, emptyHop, type DeliverRecipient, type DeliverRequest } from '../global/deliver_request.js';
import { DeliveryStatus } from '../global/deliver_status.js';
import { mailQueuePath } from '../global/mail_queue.js';
import { messageHasDeliveredTo } from '../global/mail_copy.js';
import { DICT_FLAG_DEFAULT_MAPS, O_RDONLY, type Dict } from '../util/dict.js';
import { dictOpenShared } from '../util/dict_open.js';
import { appendMbox, asUser, bounce, defer, deliverMaildir, sent, type LocalResult, type MessageRef } from '../local/local_deliver.js';

class VirtualMaps {
  private readonly cache = new Map<string, Dict[]>();

  constructor(private readonly config: MailConfig) {}

  private tables(param: string): Dict[] {
    let t = this.cache.get(param);
    if (!t) {
      t = this.config.list(param).map((spec) => dictOpenShared(spec, O_RDONLY, DICT_FLAG_DEFAULT_MAPS));
      this.cache.set(param, t);
    }
    return t;
  }

  /** find - user@domain, then @domain, in each table of the parameter. */
  async find(param: string, address: string): Promise<string | null> {
    const at = address.lastIndexOf('@');
    const keys = at >= 0 ? [address.toLowerCase(), address.slice(at).toLowerCase()] : [address.toLowerCase()];
    for (const key of keys) {
      for (const dict of this.tables(param)) {
        const v = await dict.lookup(key);
        if (v !== null) return v;
      }
    }
    return null;
  }
}

export class VirtualAgent {
  private readonly maps: VirtualMaps;

  constructor(private readonly config: MailConfig) {
    this.maps = new VirtualMaps(config);
  }

  async service(stream: VStream): Promise<void> {
    const req = await readDeliverRequest(stream);
    if (req === null) return;
    const status = new DeliveryStatus(this.config, req);
    // Open the queue file while still privileged: deliveries run as the mailbox owner.
    const queueFile = await open(mailQueuePath(this.config, req.queue_name, req.queue_id), 'r');
    try {
      for (const rcpt of req.rcpt) await this.deliverOne(req, rcpt, queueFile, status);
    } finally {
      await queueFile.close();
    }
    await sendDeliverReply(stream, { hop: emptyHop(), status: status.status });
  }

  private async deliverOne(req: DeliverRequest, rcpt: DeliverRecipient, queueFile: FileHandle, status: DeliveryStatus): Promise<void> {
    let r: LocalResult;
    try {
      r = await this.deliver(req, rcpt, queueFile);
    } catch (err) {
      msg.warn(`${req.queue_id}: ${(err as Error).message}`);
      r = defer('4.3.0', 'virtual mailbox lookup failure');
    }
    const o = { dsn: r.dsn, text: r.text, relay: 'virtual' };
    if (r.kind === 'sent') await status.sent(rcpt, o);
    else if (r.kind === 'defer') await status.defer(rcpt, o);
    else await status.bounce(rcpt, o);
  }

  private async deliver(req: DeliverRequest, rcpt: DeliverRecipient, queueFile: FileHandle): Promise<LocalResult> {
    const address = rcpt.address;
    const ref: MessageRef = {
      path: queueFile,
      dataOffset: req.data_offset,
      sender: req.sender,
      origRecipient: rcpt.orig_addr || address,
      deliveredTo: address,
    };
    if (await messageHasDeliveredTo(ref.path, ref.dataOffset, address)) return bounce('5.4.6', `mail forwarding loop for ${address}`);
    const mailbox = await this.maps.find('virtual_mailbox_maps', address);
    if (mailbox === null) return bounce('5.1.1', `unknown user: "${address.toLowerCase()}"`);
    const uidText = await this.maps.find('virtual_uid_maps', address);
    const gidText = await this.maps.find('virtual_gid_maps', address);
    if (uidText === null) return defer('4.3.0', `recipient ${address}: uid not found in virtual_uid_maps`);
    if (gidText === null) return defer('4.3.0', `recipient ${address}: gid not found in virtual_gid_maps`);
    const uid = Number(uidText);
    const gid = Number(gidText);
    if (!Number.isInteger(uid) || uid < this.config.int('virtual_minimum_uid')) {
      return defer('4.3.0', `recipient ${address}: bad uid ${uidText} in virtual_uid_maps`);
    }
    const base = this.config.str('virtual_mailbox_base');
    const path = join(base, mailbox);
    const id = { uid, gid };
    if (mailbox.endsWith('/')) return asUser(id, () => deliverMaildir(path, ref, address));
    const r = await asUser(id, () => appendMbox(this.config, path, ref, id, address));
    return r.kind === 'sent' ? sent('delivered to mailbox') : r;
  }
}

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  let agent: VirtualAgent | undefined;
  singleServerMain(argv, {
    privileged: true,
    postInit(ctx: ServerContext) {
      agent = new VirtualAgent(ctx.config);
    },
    async service(stream: VStream) {
      await agent!.service(stream);
    },
  });
}

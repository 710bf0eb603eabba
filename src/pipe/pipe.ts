/**
 * pipe - deliver mail to an external command (Postfix pipe(8)).
 *
 * The master.cf entry gives the attributes: user=name[:group] (required,
 * never root), argv=command... (required, no shell), flags=, size=,
 * eol=, directory=, null_sender=. ${sender} ${recipient} ${nexthop}
 * ${user} ${extension} ${domain} ${mailbox} ${queue_id} ${size} ${client_*}
 * ${sasl_*} ${original_recipient} are expanded per argument; ${recipient}
 * in an argument yields one argument per recipient. Exit status follows
 * sysexits: 0 sent, 75/71 (and others in the temporary class) defer, other
 * non-zero bounce with the command's output as the reason; "D.S.N text"
 * output sets the status, a signal defers, the time limit bounces (the
 * rules local(8) shares, global/sys_exits.ts commandFailure). Logs relay=
 * the master.cf service name.
 */

import { spawn } from 'node:child_process';
import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';
import { readDeliverRequest, sendDeliverReply, emptyHop, type DeliverRequest } from '../global/deliver_request.js';
import { DeliveryStatus } from '../global/deliver_status.js';
import { mailQueuePath } from '../global/mail_queue.js';
import { mailCopy, MAIL_COPY } from '../global/mail_copy.js';
import { getpwnam } from '../util/mypwd.js';
import { commandFailure } from '../global/sys_exits.js';

export interface PipeAttrs {
  user: string;
  group: string;
  argv: string[];
  flags: string;
  size: number;
  eol: string;
  directory: string;
  nullSender: string;
}

export class PipeConfigError extends Error {}

/** parsePipeArgs - the master.cf attributes after the program name. */
export function parsePipeArgs(args: string[]): PipeAttrs {
  const a: PipeAttrs = { user: '', group: '', argv: [], flags: '', size: 0, eol: '\n', directory: '', nullSender: 'MAILER-DAEMON' };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = eq > 0 ? arg.slice(eq + 1) : '';
    switch (name) {
      case 'argv':
        a.argv = [value, ...args.slice(i + 1)].filter((x, n) => n > 0 || x !== '');
        i = args.length;
        break;
      case 'user': {
        const [u, g] = value.split(':');
        a.user = u;
        a.group = g ?? '';
        break;
      }
      case 'flags':
        a.flags = value;
        break;
      case 'size':
        a.size = Number(value) || 0;
        break;
      case 'eol':
        a.eol = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
        break;
      case 'directory':
        a.directory = value;
        break;
      case 'null_sender':
        a.nullSender = value;
        break;
      default:
        throw new PipeConfigError(`unknown attribute name: ${name}`);
    }
  }
  if (a.argv.length === 0) throw new PipeConfigError('missing argv= command-line attribute');
  if (!a.user) throw new PipeConfigError('missing user= command-line attribute');
  return a;
}

function splitAddr(addr: string): { local: string; domain: string } {
  const at = addr.lastIndexOf('@');
  return at < 0 ? { local: addr, domain: '' } : { local: addr.slice(0, at), domain: addr.slice(at + 1) };
}

/** expandArgv - macro expansion per argument; ${recipient}-style macros multiply the argument. */
export function expandArgv(argv: string[], req: DeliverRequest, recipients: string[], flags: string, delimiter: string): string[] {
  const lowerHost = flags.includes('h');
  const lowerUser = flags.includes('u');
  const quote = flags.includes('q');
  const perRcpt = /\$\{?(recipient|user|extension|mailbox|domain|original_recipient)\}?/;
  const fmtAddr = (a: string) => {
    let { local, domain } = splitAddr(a);
    if (lowerUser) local = local.toLowerCase();
    if (lowerHost) domain = domain.toLowerCase();
    if (quote && /[\s"(),:;<>@[\\\]]/.test(local)) local = `"${local.replace(/(["\\])/g, '\\$1')}"`;
    return domain ? `${local}@${domain}` : local;
  };
  const common: Record<string, string> = {
    sender: req.sender,
    nexthop: req.nexthop,
    queue_id: req.queue_id,
    size: String(req.data_size),
    client_address: req.client_addr,
    client_hostname: req.client_name,
    client_helo: req.client_helo,
    client_port: req.client_port,
    client_protocol: req.client_proto,
    sasl_method: req.sasl_method,
    sasl_username: req.sasl_username,
    sasl_sender: req.sasl_sender,
  };
  const sub = (text: string, vars: Record<string, string>) =>
    text.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a: string | undefined, b: string | undefined) => {
      const k = (a ?? b ?? '').toLowerCase();
      return k in vars ? vars[k] : m;
    });
  const out: string[] = [];
  for (const arg of argv) {
    if (!perRcpt.test(arg)) {
      out.push(sub(arg, common));
      continue;
    }
    for (const r of recipients) {
      const addr = fmtAddr(r);
      const { local, domain } = splitAddr(addr);
      let user = local;
      let extension = '';
      for (let i = 1; delimiter && i < local.length; i++) {
        if (delimiter.includes(local[i])) {
          user = local.slice(0, i);
          extension = local.slice(i + 1);
          break;
        }
      }
      out.push(sub(arg, { ...common, recipient: addr, user, extension, mailbox: local, domain, original_recipient: addr }));
    }
  }
  return out;
}

function copyFlags(flags: string): number {
  let f = 0;
  if (flags.includes('F')) f |= MAIL_COPY.FROM;
  if (flags.includes('R')) f |= MAIL_COPY.RETURN_PATH;
  if (flags.includes('D')) f |= MAIL_COPY.DELIVERED;
  if (flags.includes('O')) f |= MAIL_COPY.ORIG_RCPT;
  if (flags.includes('>')) f |= MAIL_COPY.QUOTE;
  if (flags.includes('.')) f |= MAIL_COPY.DOT;
  if (flags.includes('B')) f |= MAIL_COPY.BLANK;
  return f;
}

/**
 * exitOutcome - the delivery result for a finished command, in Postfix's
 * words: "delivered via X service (output)", "user unknown. Command
 * output: ...", "Command died with status 1: \"/bin/cmd\"", ...
 */
export function exitOutcome(transport: string, command: string, code: number | null, signal: NodeJS.Signals | null, output: string, timedOut: boolean): { kind: 'sent' | 'defer' | 'bounce'; dsn: string; text: string } {
  const flat = output.replace(/[\r\n\t]/g, ' ');
  if (!timedOut && !signal && code === 0) {
    const out = flat.trim();
    return { kind: 'sent', dsn: '2.0.0', text: `delivered via ${transport} service${out ? ` (${out})` : ''}` };
  }
  const f = commandFailure(command, code, signal, flat, timedOut);
  return { kind: f.kind, dsn: f.dsn, text: f.text };
}

export class PipeAgent {
  constructor(
    private readonly config: MailConfig,
    private readonly attrs: PipeAttrs,
    private readonly serviceName: string,
  ) {}

  async service(stream: VStream): Promise<void> {
    const req = await readDeliverRequest(stream);
    if (req === null) return;
    const status = new DeliveryStatus(this.config, req);
    const relay = this.serviceName;
    const result = await this.run(req);
    for (const rcpt of req.rcpt) {
      const o = { dsn: result.dsn, text: result.text, relay };
      if (result.kind === 'sent') await status.sent(rcpt, o);
      else if (result.kind === 'defer') await status.defer(rcpt, o);
      else await status.bounce(rcpt, o);
    }
    await sendDeliverReply(stream, { hop: emptyHop(), status: status.status });
  }

  private async run(req: DeliverRequest): Promise<{ kind: 'sent' | 'defer' | 'bounce'; dsn: string; text: string }> {
    const a = this.attrs;
    if (a.size > 0 && req.data_size > a.size) return { kind: 'bounce', dsn: '5.2.3', text: 'message too large' };
    const pw = getpwnam(a.user);
    if (!pw) return { kind: 'defer', dsn: '4.3.5', text: `user ${a.user}: unknown user` };
    if (pw.uid === 0) return { kind: 'defer', dsn: '4.3.5', text: `user= command-line attribute specifies root privileges` };
    const transport = this.serviceName;
    const limitParam = `${transport}_time_limit`;
    const limit = (this.config.raw(limitParam) !== undefined ? this.config.time(limitParam) : this.config.time('command_time_limit')) * 1000;
    const argv = expandArgv(a.argv, req, req.rcpt.map((r) => r.address), a.flags, this.config.str('recipient_delimiter'));
    const sender = req.sender === '' ? a.nullSender : req.sender;
    const path = mailQueuePath(this.config, req.queue_name, req.queue_id);
    const runAs = process.getuid?.() === 0 ? { uid: pw.uid, gid: pw.gid } : {};
    return new Promise((resolve) => {
      let output = '';
      let timedOut = false;
      const child = spawn(argv[0], argv.slice(1), {
        cwd: a.directory || '/',
        env: { PATH: '/usr/bin:/bin', SHELL: pw.shell, HOME: pw.dir, USER: pw.name, LOGNAME: pw.name },
        stdio: ['pipe', 'pipe', 'pipe'],
        ...runAs,
      });
      const collect = (b: Buffer) => {
        if (output.length < 4096) output += b.toString('utf8');
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.stdin.on('error', () => undefined);
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, limit);
      void (async () => {
        try {
          await mailCopy(path, req.data_offset, { flags: copyFlags(a.flags), sender, deliveredTo: req.rcpt[0]?.address, origRecipient: req.rcpt[0]?.orig_addr || req.rcpt[0]?.address, eol: a.eol }, (chunk) =>
            new Promise<void>((res) => {
              if (child.stdin.destroyed || child.stdin.write(chunk)) res();
              else child.stdin.once('drain', () => res());
            }),
          );
        } catch (err) {
          msg.warn(`${req.queue_id}: copy to command: ${(err as Error).message}`);
        }
        child.stdin.end();
      })();
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ kind: 'defer', dsn: '4.3.0', text: `cannot execute ${argv[0]}: ${err.message}` });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve(exitOutcome(transport, argv[0], code, signal, output, timedOut));
      });
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  let agent: PipeAgent | undefined;
  singleServerMain(argv, {
    privileged: true,
    postInit(ctx: ServerContext) {
      try {
        agent = new PipeAgent(ctx.config, parsePipeArgs(ctx.args), ctx.serviceName);
      } catch (err) {
        msg.fatal((err as Error).message);
      }
    },
    async service(stream: VStream) {
      await agent!.service(stream);
    },
  });
}

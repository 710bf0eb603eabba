/**
 * spawn - run a command for each client connection (Postfix spawn(8)),
 * typically a policy server: `policy unix - n n - 0 spawn user=nobody
 * argv=/usr/bin/policyd`.
 *
 * The command runs without a shell, as user= (never root; as an ordinary
 * user instance it runs as that user), with the client connection on its
 * standard input and output and stderr discarded, in an environment of
 * just the export_environment variables. It is killed after
 * <service>_time_limit (default command_time_limit). A non-zero exit or a
 * signal is logged as in Postfix ("command /path exit status 1").
 */

import { spawn as spawnChild } from 'node:child_process';
import type { Socket } from 'node:net';
import { msg } from '../util/msg.js';
import type { VStream } from '../util/vstream.js';
import { getpwnam } from '../util/mypwd.js';
import { splitList, type MailConfig } from '../global/mail_conf.js';
import type { ServerContext } from '../master/mail_server.js';

export interface SpawnAttrs {
  user: string;
  group?: string;
  argv: string[];
}

export class SpawnConfigError extends Error {}

/** parseSpawnArgs - user=name[:group] and argv=command args... from master.cf. */
export function parseSpawnArgs(args: string[]): SpawnAttrs {
  let user = '';
  let group: string | undefined;
  let argv: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('user=')) {
      const v = a.slice(5);
      const colon = v.indexOf(':');
      user = colon < 0 ? v : v.slice(0, colon);
      group = colon < 0 ? undefined : v.slice(colon + 1);
    } else if (a.startsWith('argv=')) {
      argv = [a.slice(5), ...args.slice(i + 1)].filter((x, n) => n > 0 || x !== '');
      break;
    } else {
      throw new SpawnConfigError(`unknown command-line attribute: ${a}`);
    }
  }
  if (argv.length === 0) throw new SpawnConfigError('missing argv= command-line attribute');
  if (!user) throw new SpawnConfigError('missing user= command-line attribute');
  return { user, group, argv };
}

/** exportEnv - the variables named in export_environment (NAME or NAME=value). */
function exportEnv(config: MailConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of splitList(config.str('export_environment'))) {
    const eq = item.indexOf('=');
    if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
    else if (process.env[item] !== undefined) env[item] = process.env[item]!;
  }
  return env;
}

export class SpawnService {
  constructor(
    readonly config: MailConfig,
    readonly attrs: SpawnAttrs,
    readonly serviceName: string,
  ) {}

  private timeLimit(): number {
    const p = `${this.serviceName}_time_limit`;
    return (this.config.raw(p) !== undefined ? this.config.time(p) : this.config.time('command_time_limit')) * 1000;
  }

  /**
   * service - run the command for this client and relay the connection to
   * its standard input and output. (Postfix hands over the descriptor
   * itself; Node may already have read the client's first bytes into the
   * stream, so the bytes are relayed instead, with the same effect.)
   */
  service(stream: VStream): Promise<void> {
    const sock = stream.sock as Socket;
    const a = this.attrs;
    let ids: { uid?: number; gid?: number } = {};
    if (process.getuid?.() === 0) {
      const pw = getpwnam(a.user);
      if (!pw) {
        msg.warn(`unknown user: ${a.user}`);
        return Promise.resolve();
      }
      if (pw.uid === 0) msg.fatal('user= command-line attribute specifies root privileges');
      ids = { uid: pw.uid, gid: pw.gid };
    }
    return new Promise((resolve) => {
      const child = spawnChild(a.argv[0], a.argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'], env: exportEnv(this.config), cwd: '/', ...ids });
      const timer = setTimeout(() => {
        msg.warn(`${a.argv[0]}: process id ${child.pid}: command time limit exceeded`);
        child.kill('SIGKILL');
      }, this.timeLimit());
      child.stdin.on('error', () => undefined);
      child.stdout.on('data', (chunk: Buffer) => {
        if (!sock.destroyed) sock.write(chunk);
      });
      // client -> command
      void (async () => {
        stream.timeout = 0;
        try {
          for (;;) {
            const chunk = await stream.readSome(64 * 1024);
            if (chunk.length === 0) break;
            if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
          }
        } catch {
          /* the client went away: the command sees end of input */
        }
        child.stdin.end();
      })();
      child.on('error', (err) => {
        clearTimeout(timer);
        msg.warn(`command ${a.argv[0]}: ${err.message}`);
        resolve();
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (signal) msg.warn(`command ${a.argv[0]} killed by signal ${signalNumber(signal)}`);
        else if (code) msg.warn(`command ${a.argv[0]} exit status ${code}`);
        if (!sock.destroyed) sock.end();
        resolve();
      });
    });
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
  return table[sig] ?? 0;
}

export async function main(argv: string[]): Promise<void> {
  const { singleServerMain } = await import('../master/single_server.js');
  let svc: SpawnService | undefined;
  singleServerMain(argv, {
    privileged: true,
    postInit(ctx: ServerContext) {
      try {
        svc = new SpawnService(ctx.config, parseSpawnArgs(ctx.args), ctx.serviceName);
      } catch (err) {
        msg.fatal((err as Error).message);
      }
    },
    service: (stream: VStream) => svc!.service(stream),
  });
}

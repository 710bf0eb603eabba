/**
 * mail_server - the contract between master, the server skeletons and the
 * daemons built on them (Postfix master/mail_server.h, master_proto.h).
 *
 * A daemon's main() declares what it needs and hands its service routine to
 * one skeleton: singleServerMain (one client per call of the service routine;
 * smtpd, cleanup, local, smtp, bounce, showq ...), multiServerMain (many
 * clients on an event loop; trivial-rewrite, anvil, scache, proxymap),
 * triggerServerMain (wake-up bytes, no reply; qmgr, pickup) and
 * dgramServerMain (datagrams; postlogd). The skeleton owns option parsing,
 * configuration loading, privilege drop, accept, max_use/max_idle and the
 * busy/idle status reports to master.
 */

import type { MailConfig } from '../global/mail_conf.js';
import type { VStream } from '../util/vstream.js';

/** What the skeleton tells a daemon about where it runs. */
export interface ServerContext {
  config: MailConfig;
  /** master.cf service name (argv -n), e.g. "smtp", "relay", "cleanup" */
  serviceName: string;
  /** master.cf service type (argv -t): inet, unix, unix-dgram, fifo, pass */
  transport: string;
  /** process name (the program, e.g. "smtpd") */
  processName: string;
  /** remaining command-line arguments from master.cf (e.g. pipe's argv=) */
  args: string[];
}

export interface ServerHooks {
  /** before privileges are dropped (open files only root may open) */
  preInit?(ctx: ServerContext): void | Promise<void>;
  /** after privileges are dropped, before the first client */
  postInit?(ctx: ServerContext): void | Promise<void>;
  /** before the process exits on max_use/max_idle/master's request */
  exit?(ctx: ServerContext): void | Promise<void>;
  /** the process must run as the only one of its service (maxproc 1) */
  solitary?: boolean;
  /** keep root privileges (local, pipe, virtual switch uid per delivery) */
  privileged?: boolean;
  /** ignore max_use/max_idle */
  unlimited?: boolean;
}

export interface StreamServerOptions extends ServerHooks {
  /** serve one client connection; resolve when done with it (the skeleton closes it) */
  service(stream: VStream, ctx: ServerContext): Promise<void>;
  /** clients served at the same time by one process (single_server: default 1) */
  concurrency?: number;
}

export interface TriggerServerOptions extends ServerHooks {
  /** handle the bytes of one trigger (e.g. "W", "IDFA") */
  service(request: Buffer, ctx: ServerContext): Promise<void>;
}

export interface DgramServerOptions extends ServerHooks {
  service(datagram: Buffer, ctx: ServerContext): void | Promise<void>;
}

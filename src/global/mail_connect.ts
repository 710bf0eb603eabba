/**
 * mail_connect - connect to an internal service, and send triggers
 * (Postfix global/mail_connect.c, mail_trigger.c, util/unix_trigger.c).
 *
 * Services live at $queue_directory/{public,private}/<name> as UNIX-domain
 * stream sockets. A trigger is connect, write a few bytes, close.
 */

import { connect } from 'node:net';
import { join } from 'node:path';
import type { MailConfig } from './mail_conf.js';
import { VStream } from '../util/vstream.js';

export type ServiceClass = 'public' | 'private';

/** servicePath - the socket path of a service. */
export function servicePath(config: MailConfig, cls: ServiceClass, name: string): string {
  return join(config.str('queue_directory'), cls, name);
}

/** mailConnect - open a stream to a service; rejects (e.g. ECONNREFUSED, ENOENT) when it is not there. */
export function mailConnect(config: MailConfig, cls: ServiceClass, name: string, timeoutMs?: number): Promise<VStream> {
  const path = servicePath(config, cls, name);
  const timeout = timeoutMs ?? config.time('ipc_timeout') * 1000;
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const onError = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      resolve(new VStream(sock, { timeout }));
    });
  });
}

/** mailTrigger - wake a service with request bytes (e.g. "W", "I", "D"); resolves when written. */
export function mailTrigger(config: MailConfig, cls: ServiceClass, name: string, request: string): Promise<void> {
  const path = servicePath(config, cls, name);
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    sock.once('error', (err) => {
      sock.destroy();
      reject(err);
    });
    sock.once('connect', () => {
      sock.end(request, () => resolve());
    });
  });
}

/**
 * dict_socketmap - `socketmap:inet:host:port:name` and
 * `socketmap:unix:/path:name` clients of the Sendmail socketmap protocol
 * (Postfix util/dict_sockmap.c): request netstring `name SPACE key`, reply
 * netstring `OK value`, `NOTFOUND `, or `TEMP`/`TIMEOUT`/`PERM reason`
 * (errors). Replies are limited to 100000 bytes.
 */

import { DICT_FLAG, DictBase, DictError, DictOpenError } from './dict.js';
import { LineClient } from './dict_tcp.js';

const MAX_REPLY = 100_000;

/** netstring - "len:data," */
export function netstring(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from(`${b.length}:`), b, Buffer.from(',')]);
}

export function parseNetstring(buf: Buffer): { msg: Buffer; rest: Buffer } | undefined | Error {
  const colon = buf.indexOf(0x3a);
  if (colon < 0) return buf.length > 10 ? new Error('malformed netstring') : undefined;
  const lenText = buf.subarray(0, colon).toString('latin1');
  if (!/^\d{1,9}$/.test(lenText)) return new Error('malformed netstring length');
  const len = Number(lenText);
  if (len > MAX_REPLY) return new Error('netstring too long');
  if (buf.length < colon + 1 + len + 1) return undefined;
  if (buf[colon + 1 + len] !== 0x2c) return new Error('netstring missing comma');
  return { msg: buf.subarray(colon + 1, colon + 1 + len), rest: buf.subarray(colon + 2 + len) };
}

export class DictSocketmap extends DictBase {
  private readonly client: LineClient;
  private readonly mapName: string;

  constructor(name: string, _openFlags: number, dictFlags: number) {
    super('socketmap', name, dictFlags | DICT_FLAG.PATTERN);
    const last = name.lastIndexOf(':');
    const bad = (): never => {
      throw new DictOpenError(`open dictionary: expecting "socketmap:inet:host:port:name" or "socketmap:unix:path:name" instead of "socketmap:${name}"`);
    };
    if (last <= 0) bad();
    this.mapName = name.slice(last + 1);
    const endpoint = name.slice(0, last);
    if (endpoint.startsWith('unix:')) {
      this.client = new LineClient({ path: endpoint.slice(5) }, parseNetstring);
    } else if (endpoint.startsWith('inet:')) {
      const hp = endpoint.slice(5);
      const c = hp.lastIndexOf(':');
      const port = Number(hp.slice(c + 1));
      if (c <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) bad();
      this.client = new LineClient({ host: hp.slice(0, c).replace(/^\[(.*)\]$/, '$1'), port }, parseNetstring);
    } else {
      this.client = bad();
    }
    if (this.mapName === '') bad();
  }

  async lookup(key: string): Promise<string | null> {
    let reply: string;
    try {
      reply = (await this.client.request(netstring(`${this.mapName} ${this.fold(key)}`))).toString('utf8');
    } catch (e) {
      throw new DictError(`socketmap:${this.name}: ${(e as Error).message}`);
    }
    const sp = reply.indexOf(' ');
    const status = sp < 0 ? reply : reply.slice(0, sp);
    const text = sp < 0 ? '' : reply.slice(sp + 1);
    if (status === 'OK') return text;
    if (status === 'NOTFOUND') return null;
    throw new DictError(`socketmap:${this.name}: ${status} ${text}`.trim());
  }

  override async close(): Promise<void> {
    this.client.close();
  }
}

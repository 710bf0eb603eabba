/**
 * attr - attribute lists for internal IPC (Postfix util/attr_print0.c,
 * attr_scan0.c).
 *
 * Wire format: attr-list := (name NUL value NUL)* NUL. Names are
 * [A-Za-z0-9_-]; values are text (binary payloads are base64 by the caller).
 * Every read is bounded: MAX_ATTR_LEN per name or value, MAX_ATTR_COUNT per
 * list, so a confused or hostile peer cannot make a daemon buffer without
 * limit. The server speaks first with `protocol=<name>` (attrSendProtocol /
 * attrExpectProtocol), as in Postfix.
 */

import { VStream, LimitError } from './vstream.js';

export const MAX_ATTR_LEN = 64 * 1024;
export const MAX_ATTR_COUNT = 1024;

export type AttrValue = string | number | boolean;
export type AttrPairs = Array<[string, AttrValue]>;

/** An attribute list as received: ordered pairs with by-name access. */
export class AttrList {
  readonly pairs: Array<[string, string]>;
  private readonly map = new Map<string, string>();

  constructor(pairs: Array<[string, string]>) {
    this.pairs = pairs;
    for (const [k, v] of pairs) if (!this.map.has(k)) this.map.set(k, v);
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  /** get - the value of a name, or undefined. */
  get(name: string): string | undefined {
    return this.map.get(name);
  }

  /** str - a required string attribute; throws AttrError when missing. */
  str(name: string): string {
    const v = this.map.get(name);
    if (v === undefined) throw new AttrError(`missing attribute: ${name}`);
    return v;
  }

  /** int - a required decimal attribute. */
  int(name: string): number {
    const v = this.str(name);
    if (!/^-?\d+$/.test(v)) throw new AttrError(`bad numerical attribute: ${name}=${v}`);
    return Number(v);
  }

  /** intOr - an optional decimal attribute with a default. */
  intOr(name: string, def: number): number {
    return this.map.has(name) ? this.int(name) : def;
  }
}

export class AttrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttrError';
  }
}

function valueText(v: AttrValue): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}

/** encodeAttrs - one complete attribute list, terminator included. */
export function encodeAttrs(pairs: AttrPairs): Buffer {
  const parts: string[] = [];
  for (const [k, v] of pairs) {
    parts.push(k, '\0', valueText(v).replace(/\0/g, ''), '\0');
  }
  parts.push('\0');
  return Buffer.from(parts.join(''), 'utf8');
}

/** sendAttrs - write one attribute list to the stream. */
export function sendAttrs(stream: VStream, pairs: AttrPairs): boolean {
  return stream.write(encodeAttrs(pairs));
}

/**
 * readAttrs - read one attribute list; null when the peer closed before
 * sending anything. Names and values already buffered are taken without
 * waiting (no await per name and value).
 */
export async function readAttrs(stream: VStream): Promise<AttrList | null> {
  const pairs: Array<[string, string]> = [];
  for (;;) {
    const name = stream.tryReadUntil(0, MAX_ATTR_LEN + 1) ?? (await stream.readUntil(0, MAX_ATTR_LEN + 1));
    if (name === null) {
      if (pairs.length === 0) return null;
      throw new AttrError('premature end-of-input while reading attribute name');
    }
    if (name[name.length - 1] !== 0) {
      if (name.length > MAX_ATTR_LEN) throw new LimitError('attribute name too long');
      throw new AttrError('premature end-of-input while reading attribute name');
    }
    if (name.length === 1) return new AttrList(pairs); // the terminating NUL
    const key = name.subarray(0, name.length - 1).toString('utf8');
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new AttrError(`bad attribute name: "${key.slice(0, 64)}"`);
    const value = stream.tryReadUntil(0, MAX_ATTR_LEN + 1) ?? (await stream.readUntil(0, MAX_ATTR_LEN + 1));
    if (value === null || value[value.length - 1] !== 0) {
      if (value && value.length > MAX_ATTR_LEN) throw new LimitError(`attribute value too long: ${key}`);
      throw new AttrError(`premature end-of-input while reading attribute value: ${key}`);
    }
    pairs.push([key, value.subarray(0, value.length - 1).toString('utf8')]);
    if (pairs.length > MAX_ATTR_COUNT) throw new LimitError('too many attributes');
  }
}

/** attrSendProtocol - the server's opening announcement. */
export function attrSendProtocol(stream: VStream, protocol: string): void {
  sendAttrs(stream, [['protocol', protocol]]);
}

/** attrExpectProtocol - the client's check of the server's announcement. */
export async function attrExpectProtocol(stream: VStream, protocol: string): Promise<void> {
  const list = await readAttrs(stream);
  if (list === null) throw new AttrError(`server closed the connection instead of announcing ${protocol}`);
  const got = list.get('protocol');
  if (got !== protocol) throw new AttrError(`unexpected protocol: wanted ${protocol}, got ${got ?? '(none)'}`);
}

/**
 * attrServeRequests - the request loop of a multi-request service (proxymap,
 * scache, tlsmgr ...): announce the protocol, then answer one attribute list
 * per request until the client hangs up. A malformed request ends the
 * connection with a warning naming the service.
 */
export async function attrServeRequests(
  stream: VStream,
  protocol: string,
  serviceName: string,
  handle: (req: AttrList) => AttrPairs | Promise<AttrPairs>,
  warn: (text: string) => void,
): Promise<void> {
  attrSendProtocol(stream, protocol);
  await stream.flush();
  for (;;) {
    let req: AttrList | null;
    try {
      req = await readAttrs(stream);
    } catch (err) {
      warn(`${serviceName}: ${(err as Error).message}`);
      return;
    }
    if (req === null) return;
    sendAttrs(stream, await handle(req));
    await stream.flush();
  }
}

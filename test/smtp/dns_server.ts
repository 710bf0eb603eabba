/**
 * dns_server - a tiny authoritative DNS server on loopback UDP for the
 * smtp client tests (MX and A records, NXDOMAIN, empty answers). Tests
 * point node:dns at it with dns.setServers and restore the old servers.
 */

import { createSocket, type Socket } from 'node:dgram';

export interface Zone {
  /** name -> records; a name that is present with no record of a type gives an empty answer, an absent name NXDOMAIN */
  [name: string]: { mx?: Array<[number, string]>; a?: string[] };
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])), Buffer.from([0])]);
}

function decodeName(msg: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  for (;;) {
    const len = msg[off];
    if (len === 0) return [labels.join('.'), off + 1];
    labels.push(msg.subarray(off + 1, off + 1 + len).toString());
    off += 1 + len;
  }
}

function answer(query: Buffer, zone: Zone): Buffer {
  const id = query.readUInt16BE(0);
  const [qname, end] = decodeName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const entry = zone[qname.toLowerCase()];
  const answers: Buffer[] = [];
  if (entry && qtype === 15) {
    for (const [pref, ex] of entry.mx ?? []) {
      const rdata = Buffer.concat([Buffer.from([pref >> 8, pref & 255]), encodeName(ex)]);
      answers.push(rr(15, rdata));
    }
  }
  if (entry && qtype === 1) for (const a of entry.a ?? []) answers.push(rr(1, Buffer.from(a.split('.').map(Number))));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(entry ? 0x8580 : 0x8583, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, question, ...answers]);
}

function rr(type: number, rdata: Buffer): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xc00c, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt32BE(60, 6);
  b.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([b, rdata]);
}

export function startDnsServer(zone: Zone): Promise<{ port: number; sock: Socket; close(): Promise<void> }> {
  const sock = createSocket('udp4');
  sock.on('message', (m, rinfo) => {
    try {
      sock.send(answer(m, zone), rinfo.port, rinfo.address);
    } catch {
      /* malformed query from the test itself: no answer */
    }
  });
  return new Promise((resolve) => {
    sock.bind(0, '127.0.0.1', () => resolve({ port: sock.address().port, sock, close: () => new Promise<void>((r) => sock.close(() => r())) }));
  });
}

/**
 * dns_server - a tiny authoritative DNS responder on a loopback UDP port for
 * tests (A, MX, TXT, NS; NXDOMAIN for unknown names), so DNS-based
 * restrictions can be exercised without the network.
 */

import { createSocket, type Socket } from 'node:dgram';

export type Zone = Record<string, { A?: string[]; MX?: Array<[number, string]>; TXT?: string[]; NS?: string[] }>;

const TYPES: Record<number, 'A' | 'MX' | 'TXT' | 'NS'> = { 1: 'A', 15: 'MX', 16: 'TXT', 2: 'NS' };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  const bufs = parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')]));
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

function readName(msg: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  for (;;) {
    const len = msg[off++];
    if (len === 0) break;
    labels.push(msg.subarray(off, off + len).toString('ascii'));
    off += len;
  }
  return [labels.join('.'), off];
}

export class TestDnsServer {
  private sock: Socket | null = null;
  port = 0;
  constructor(private readonly zone: Zone) {}

  async start(): Promise<void> {
    const sock = createSocket('udp4');
    this.sock = sock;
    sock.on('message', (query, rinfo) => {
      const reply = this.answer(query);
      if (reply) sock.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    this.port = sock.address().port;
  }

  private answer(q: Buffer): Buffer | null {
    if (q.length < 12) return null;
    const id = q.readUInt16BE(0);
    const [name, off] = readName(q, 12);
    const qtype = q.readUInt16BE(off);
    const question = q.subarray(12, off + 4);
    const entry = this.zone[name.toLowerCase()];
    const type = TYPES[qtype];
    const answers: Buffer[] = [];
    if (entry && type && entry[type]) {
      for (const v of entry[type]!) {
        let rdata: Buffer;
        if (type === 'A') rdata = Buffer.from((v as string).split('.').map(Number));
        else if (type === 'MX') {
          const [pref, host] = v as [number, string];
          rdata = Buffer.concat([Buffer.from([pref >> 8, pref & 255]), encodeName(host)]);
        } else if (type === 'NS') rdata = encodeName(v as string);
        else {
          const s = Buffer.from(v as string);
          rdata = Buffer.concat([Buffer.from([s.length]), s]);
        }
        const rr = Buffer.alloc(10);
        rr.writeUInt16BE(qtype, 0);
        rr.writeUInt16BE(1, 2);
        rr.writeUInt32BE(60, 4);
        rr.writeUInt16BE(rdata.length, 8);
        answers.push(Buffer.concat([Buffer.from([0xc0, 12]), rr, rdata]));
      }
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    // QR, AA, RD copied, RA; rcode 3 (NXDOMAIN) when the name is unknown
    header.writeUInt16BE(0x8400 | (q.readUInt16BE(2) & 0x0100) | 0x0080 | (entry ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    return Buffer.concat([header, question, ...answers]);
  }

  stop(): void {
    this.sock?.close();
    this.sock = null;
  }
}

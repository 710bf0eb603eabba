/**
 * fake_dovecot - a small Dovecot auth server for tests: the real Dovecot
 * authentication protocol (VERSION/MECH/SPID/CUID/COOKIE/DONE handshake,
 * AUTH/CONT/OK/FAIL) on a UNIX socket, with mechanisms PLAIN and LOGIN and
 * a fixed user table. Run directly ("node fake_dovecot.js SOCKET") it
 * serves until killed, so a real Postfix can use it too.
 */

import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface FakeDovecot {
  server: Server;
  /** every line the clients sent, in order */
  requests: string[];
  close(): Promise<void>;
}

export const USERS: Record<string, string> = { bob: 'secret', alice: 'wonderland' };

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/** startFakeDovecot - listen on path; opts.mechs replaces the MECH list. */
export async function startFakeDovecot(path: string, opts: { mechs?: string[] } = {}): Promise<FakeDovecot> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const mechs = opts.mechs ?? ['PLAIN\tplaintext', 'LOGIN\tplaintext'];
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.write(
      'VERSION\t1\t2\n' + mechs.map((m) => `MECH\t${m}\n`).join('') + `SPID\t${process.pid}\nCUID\t1\nCOOKIE\t0123456789abcdef0123456789abcdef\nDONE\n`,
    );
    // per-request state for the LOGIN mechanism
    const login = new Map<string, { step: number; user: string }>();
    let buf = '';
    const check = (id: string, user: string, pass: string) => {
      if (user === 'tempfail') {
        sock.write(`FAIL\t${id}\treason=Temporary server failure, try again later\ttemp\n`);
        return;
      }
      if (USERS[user] !== undefined && USERS[user] === pass) sock.write(`OK\t${id}\tuser=${user}\n`);
      else sock.write(`FAIL\t${id}\tuser=${user}\n`);
    };
    const handle = (line: string) => {
      requests.push(line);
      const f = line.split('\t');
      if (f[0] === 'AUTH') {
        const id = f[1];
        const mech = f[2].toUpperCase();
        const resp = f.find((x) => x.startsWith('resp='))?.slice(5);
        if (mech === 'PLAIN') {
          if (resp === undefined) {
            login.set(id, { step: 9, user: '' });
            sock.write(`CONT\t${id}\t\n`);
            return;
          }
          const parts = unb64(resp).split('\0');
          if (parts.length !== 3) sock.write(`FAIL\t${id}\treason=Invalid PLAIN data\n`);
          else check(id, parts[1], parts[2]);
        } else if (mech === 'LOGIN') {
          if (resp !== undefined && resp !== '') {
            login.set(id, { step: 1, user: unb64(resp) });
            sock.write(`CONT\t${id}\t${b64('Password:')}\n`);
          } else {
            login.set(id, { step: 0, user: '' });
            sock.write(`CONT\t${id}\t${b64('Username:')}\n`);
          }
        } else {
          sock.write(`FAIL\t${id}\treason=Unsupported mechanism\n`);
        }
      } else if (f[0] === 'CONT') {
        const id = f[1];
        const st = login.get(id);
        if (!st) {
          sock.write(`FAIL\t${id}\n`);
          return;
        }
        const data = unb64(f[2] ?? '');
        if (st.step === 9) {
          login.delete(id);
          const parts = data.split('\0');
          if (parts.length !== 3) sock.write(`FAIL\t${id}\treason=Invalid PLAIN data\n`);
          else check(id, parts[1], parts[2]);
        } else if (st.step === 0) {
          st.user = data;
          st.step = 1;
          sock.write(`CONT\t${id}\t${b64('Password:')}\n`);
        } else {
          login.delete(id);
          check(id, st.user, data);
        }
      }
    };
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        handle(line);
      }
    });
  });
  rmSync(path, { force: true });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    server,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void startFakeDovecot(process.argv[2]).then((d) => {
    process.on('SIGTERM', () => void d.close().then(() => process.exit(0)));
  });
}

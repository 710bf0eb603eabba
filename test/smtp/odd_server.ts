/**
 * odd_server - a scripted SMTP/LMTP server on loopback for client tests:
 * each stage (greeting, EHLO/LHLO, HELO, MAIL, RCPT, DATA, end of data)
 * answers with a fixed reply, closes the connection, or hangs, so every
 * error path of smtp(8) can be reached. It records the commands it saw.
 * The same scenarios were run against real Postfix 3.7 smtp(8) to obtain
 * the expected log texts (see test/smtp/golden/).
 */

import { createServer, type Server, type Socket } from 'node:net';

/** A reply: text lines ("250 ok", multi-line joined with \n), or an action. */
export type Act = string | 'close' | 'hang';

export interface Scenario {
  greeting?: Act;
  /** EHLO/LHLO reply; default 250 with the extensions below */
  ehlo?: Act;
  helo?: Act;
  extensions?: string[];
  mail?: Act;
  /** per recipient: the reply for RCPT TO:<addr> */
  rcpt?: (addr: string) => Act;
  data?: Act;
  /** end-of-data reply; for LMTP a function giving one reply per accepted recipient */
  dot?: Act;
  lmtpDot?: (addr: string) => Act;
  /** accept STARTTLS etc. are not supported here */
}

export interface Seen {
  commands: string[];
  messages: string[];
  sessions: number;
}

export interface OddServer {
  server: Server;
  port: number;
  seen: Seen;
  close(): Promise<void>;
}

function send(sock: Socket, act: Act): boolean {
  if (act === 'close') {
    sock.destroy();
    return false;
  }
  if (act === 'hang') return false;
  const lines = act.split('\n');
  sock.write(lines.map((l, i) => (i < lines.length - 1 ? l.replace(/^(\d{3})[ -]?/, '$1-') : l)).join('\r\n') + '\r\n');
  return true;
}

/** handle - one session driven by the scenario. */
function handle(sock: Socket, sc: Scenario, seen: Seen): void {
  seen.sessions++;
  const sockets = sock;
  sockets.on('error', () => undefined);
  if (!send(sock, sc.greeting ?? '220 odd.example.test ESMTP')) return;
  let buf = '';
  let inData = false;
  let body = '';
  let accepted: string[] = [];
  let lmtp = false;
  sock.setEncoding('latin1');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    for (;;) {
      if (inData) {
        const end = buf.indexOf('\r\n.\r\n');
        const atStart = body === '' && buf.startsWith('.\r\n');
        if (end < 0 && !atStart) {
          if (buf.length > 1e6) sock.destroy();
          return;
        }
        const cut = atStart ? 0 : end + 2;
        body += buf.slice(0, cut);
        buf = buf.slice(cut + 3);
        inData = false;
        seen.messages.push(body);
        body = '';
        if (lmtp && sc.lmtpDot) {
          for (const a of accepted) if (!send(sock, sc.lmtpDot(a))) return;
        } else if (lmtp) {
          for (let i = 0; i < accepted.length; i++) if (!send(sock, sc.dot ?? '250 2.0.0 Ok: queued as 4ODD')) return;
        } else if (!send(sock, sc.dot ?? '250 2.0.0 Ok: queued as 4ODD')) return;
        accepted = [];
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      seen.commands.push(line);
      const verb = line.split(' ')[0].toUpperCase();
      let act: Act;
      switch (verb) {
        case 'EHLO':
        case 'LHLO':
          lmtp = verb === 'LHLO';
          act = sc.ehlo ?? ['250 odd.example.test', ...(sc.extensions ?? ['PIPELINING', '8BITMIME']).map((e) => '250 ' + e)].join('\n');
          break;
        case 'HELO':
          act = sc.helo ?? '250 odd.example.test';
          break;
        case 'MAIL':
          accepted = [];
          act = sc.mail ?? '250 2.1.0 Ok';
          break;
        case 'RCPT': {
          const addr = /<([^>]*)>/.exec(line)?.[1] ?? '';
          act = sc.rcpt ? sc.rcpt(addr) : '250 2.1.5 Ok';
          if (typeof act === 'string' && act.startsWith('2')) accepted.push(addr);
          break;
        }
        case 'DATA':
          act = sc.data ?? '354 End data with <CR><LF>.<CR><LF>';
          if (act.startsWith('354')) inData = true;
          break;
        case 'RSET':
          accepted = [];
          act = '250 2.0.0 Ok';
          break;
        case 'QUIT':
          send(sock, '221 2.0.0 Bye');
          sock.end();
          return;
        default:
          act = '502 5.5.2 Error: command not recognized';
      }
      if (!send(sock, act)) return;
    }
  });
}

/** startOddServer - listen on a free loopback port (or a UNIX path) with a scenario. */
export function startOddServer(sc: Scenario, path?: string, port = 0, host = '127.0.0.1'): Promise<OddServer> {
  const seen: Seen = { commands: [], messages: [], sessions: 0 };
  const open = new Set<Socket>();
  const server = createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    handle(sock, sc, seen);
  });
  return new Promise((resolve) => {
    const done = () => {
      const addr = server.address();
      resolve({
        server,
        port: typeof addr === 'object' && addr ? addr.port : 0,
        seen,
        close: () =>
          new Promise<void>((r) => {
            for (const s of open) s.destroy();
            server.close(() => r());
          }),
      });
    };
    if (path) server.listen(path, done);
    else server.listen(port, host, done);
  });
}

/** SCENARIOS - the named odd peers shared by the tests and the oracle run. */
export const SCENARIOS: Record<string, Scenario> = {
  greet554: { greeting: '554 5.7.1 odd.example.test go away' },
  greetclose: { greeting: 'close' },
  greethang: { greeting: 'hang' },
  ehlo502: { ehlo: '502 5.5.2 Error: command not recognized' },
  ehloclose: { ehlo: 'close' },
  mailclose: { mail: 'close', extensions: [] },
  rcptclose: { rcpt: () => 'close', extensions: [] },
  dataclose: { data: 'close', extensions: [] },
  dotclose: { dot: 'close' },
  dothang: { dot: 'hang' },
  rcpthang: { rcpt: () => 'hang', extensions: [] },
  mail553: { mail: '553 5.1.8 <s@example.org>: Sender address rejected: Domain not found' },
  mixed: {
    rcpt: (a) => (a.startsWith('busy') ? '450 4.2.0 <' + a + '>: Recipient address rejected: Mailbox busy' : a.startsWith('nouser') ? '550 5.1.1 <' + a + '>: Recipient address rejected: User unknown' : '250 2.1.5 Ok'),
  },
  mixednopipe: {
    extensions: [],
    rcpt: (a) => (a.startsWith('busy') ? '450 4.2.0 <' + a + '>: Recipient address rejected: Mailbox busy' : a.startsWith('nouser') ? '550 5.1.1 <' + a + '>: Recipient address rejected: User unknown' : '250 2.1.5 Ok'),
  },
  allbad: { rcpt: (a) => '550 5.1.1 <' + a + '>: Recipient address rejected: User unknown' },
  data554: { data: '554 5.5.1 Error: no valid recipients', extensions: [] },
  dot552: { dot: '552 5.3.4 Message size exceeds fixed limit' },
  size100: { extensions: ['PIPELINING', 'SIZE 100'] },
  multiline: { rcpt: () => '550-5.1.1 first line\n550-5.1.1 second line\n550 5.1.1 third line' },
  nocode: { rcpt: () => '550 no such user here' },
  lmtp: { lmtpDot: (a) => (a.startsWith('over') ? '552 5.2.2 <' + a + '>: Mailbox full' : a.startsWith('later') ? '452 4.2.2 <' + a + '>: Mailbox busy' : '250 2.0.0 <' + a + '> Ok') },
};

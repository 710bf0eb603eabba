/** smtp-source <-> smtp-sink on loopback: counts, LMTP, pipelining, error injection, dumps, the CLIs. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SinkServer, defaultSinkOptions, type SinkOptions } from '../../src/smtp-sink/smtp-sink.js';
import { SmtpSource, SourceError, makeMessageData, type SourceOptions } from '../../src/smtp-source/smtp-source.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function startSink(over: Partial<SinkOptions> = {}): Promise<{ srv: SinkServer; port: number; out: string[] }> {
  const out: string[] = [];
  const srv = new SinkServer({ ...defaultSinkOptions(), out: (t) => out.push(t), ...over });
  srv.onExit = () => undefined;
  await srv.listen('127.0.0.1:0', 100);
  return { srv, port: (srv.server.address() as AddressInfo).port, out };
}

function sourceOpts(port: number, over: Partial<SourceOptions> = {}): SourceOptions {
  return {
    endpoint: { host: '127.0.0.1', port },
    sessions: 1,
    messages: 1,
    recipients: 1,
    sender: 'foo@source.test',
    recipient: 'foo@source.test',
    myhostname: 'source.test',
    sendHeadersAndHelo: true,
    sendHeaders: true,
    disconnect: true,
    lmtp: false,
    numberRcpts: false,
    count: false,
    connectCount: 1,
    allowReject: false,
    randomDelay: 0,
    fixedDelay: 0,
    out: () => undefined,
    ...over,
  };
}

test('smtp-source sends every message through parallel sessions; smtp-sink counts them', async () => {
  const { srv, port, out } = await startSink({ count: true });
  try {
    const counter: string[] = [];
    const src = new SmtpSource(sourceOpts(port, { sessions: 4, messages: 40, recipients: 3, messageData: makeMessageData(5000), count: true, out: (t) => counter.push(t) }));
    await src.run();
    assert.equal(src.delivered, 40);
    assert.equal(srv.stats.messages, 40);
    assert.equal(srv.stats.recipients, 120);
    assert.equal(srv.stats.quits, 40);
    assert.equal(counter.join(''), Array.from({ length: 40 }, (_, i) => `${i + 1}\r`).join('') + '\n');
    assert.ok(out.some((l) => /^sess=\d+ quit=\d+ mesg=40\r$/.test(l)));
  } finally {
    await srv.close();
  }
});

test('-d keeps the connection; -L talks LMTP with one reply per recipient', async () => {
  const { srv, port } = await startSink({ enableLmtp: true });
  try {
    const src = new SmtpSource(sourceOpts(port, { messages: 5, recipients: 2, lmtp: true, disconnect: false }));
    await src.run();
    assert.equal(src.delivered, 10);
    assert.equal(srv.stats.messages, 5);
    assert.equal(srv.stats.quits, 1);
  } finally {
    await srv.close();
  }
});

test('smtp-sink answers a pipelined transaction in order, with Postfix texts', async () => {
  const { srv, port } = await startSink();
  try {
    const replies = await new Promise<string>((done) => {
      const s = connect(port, '127.0.0.1');
      let text = '';
      s.on('data', (d) => (text += d.toString('latin1')));
      s.on('close', () => done(text));
      s.write('EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\nSubject: x\r\n\r\n..\r\n.\r\nRCPT TO:<x@y>\r\nBDAT 1\r\nQUIT\r\n');
    });
    assert.equal(
      replies,
      '220 smtp-sink ESMTP\r\n250-smtp-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250-XCLIENT NAME HELO\r\n' +
        '250-XFORWARD NAME ADDR PROTO HELO\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 \r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n' +
        '354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n500 5.5.1 Error: unknown command\r\n221 Bye\r\n',
    );
    assert.equal(srv.stats.messages, 1);
  } finally {
    await srv.close();
  }
});

test('error injection: -r soft errors; smtp-source aborts, or continues with -A', async () => {
  const { srv, port } = await startSink({ softCmds: new Set(['rcpt']) });
  try {
    await assert.rejects(new SmtpSource(sourceOpts(port)).run(), (e: Error) => e instanceof SourceError && e.message === 'recipient rejected: 450 4.3.0 Error: command failed');
    const src = new SmtpSource(sourceOpts(port, { messages: 3, allowReject: true }));
    await src.run();
    assert.equal(src.delivered, 0);
    assert.equal(srv.stats.messages, 0);
  } finally {
    await srv.close();
  }
});

test('smtp-sink -d dumps each message with its envelope', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'smtp-tools-'));
  const { srv, port } = await startSink({ dumpTemplate: join(dir, 'd') + '/' });
  try {
    await new SmtpSource(sourceOpts(port, { subject: 'dumped', recipients: 2 })).run();
    const files = readdirSync(join(dir, 'd'));
    assert.equal(files.length, 1);
    assert.match(files[0], /^[0-9a-f]{8}$/);
    const text = readFileSync(join(dir, 'd', files[0]), 'latin1');
    assert.match(
      text,
      /^X-Client-Addr: 127\.0\.0\.1\nX-Client-Proto: SMTP\nX-Helo-Args: source\.test\nX-Mail-Args: <foo@source\.test>\nX-Rcpt-Args: <2foo@source\.test>\nX-Rcpt-Args: <foo@source\.test>\nReceived: from source\.test \(\[127\.0\.0\.1\]\)\n\tby smtp-sink \(smtp-sink\) with SMTP id [0-9a-f]{8};\n\t.+\nFrom: <foo@source\.test>\n/,
    );
    assert.match(text, /\nSubject: dumped\n\nLa de da de da 1\.\n(.|\n)*La de da de da 4\.\n\n$/);
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the commands: smtp-sink -n 1 on a UNIX socket, smtp-source -c', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'smtp-tools-'));
  const path = join(dir, 'sink.sock');
  const sinkArgs = ['-c', '-n', '1', `unix:${path}`, '10'];
  if (process.getuid && process.getuid() === 0) sinkArgs.unshift('-u', 'nobody');
  const sink = spawn(join(ROOT, 'bin', 'smtp-sink'), sinkArgs);
  try {
    let sinkOut = '';
    sink.stdout.on('data', (d) => (sinkOut += d));
    const exited = new Promise<number | null>((r) => sink.on('exit', (code) => r(code)));
    // wait for the socket
    for (let i = 0; i < 100; i++) {
      try {
        readdirSync(dir).includes('sink.sock') || (await new Promise((r) => setTimeout(r, 50)));
        if (readdirSync(dir).includes('sink.sock')) break;
      } catch {
        // retry
      }
    }
    const src = spawn(join(ROOT, 'bin', 'smtp-source'), ['-c', '-m', '2', '-d', `unix:${path}`]);
    let srcOut = '';
    let srcErr = '';
    src.stdout.on('data', (d) => (srcOut += d));
    src.stderr.on('data', (d) => (srcErr += d));
    const srcCode = await new Promise<number | null>((r) => src.on('exit', (code) => r(code)));
    assert.equal(srcCode, 0, srcErr);
    assert.equal(srcOut, '1\r2\r\n');
    assert.equal(await exited, 0);
    assert.ok(sinkOut.endsWith('sess=1 quit=1 mesg=2\r'), JSON.stringify(sinkOut));
    // bad usage
    const bad = spawn(join(ROOT, 'bin', 'smtp-source'), ['-s', '0', 'x']);
    let badErr = '';
    bad.stderr.on('data', (d) => (badErr += d));
    assert.equal(await new Promise<number | null>((r) => bad.on('exit', (code) => r(code))), 1);
    assert.equal(badErr, 'smtp-source: fatal: bad session count: 0\n');
  } finally {
    sink.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** captureServer - answers like a minimal SMTP server and records every line the client sends. */
async function captureServer(): Promise<{ port: number; lines: () => string; close: () => Promise<void> }> {
  const { createServer } = await import('node:net');
  let text = '';
  const srv = createServer((sock) => {
    let inData = false;
    let pending = '';
    sock.write('220 cap ESMTP\r\n');
    sock.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        text += line;
        if (inData) {
          if (line === '.\r\n') {
            inData = false;
            sock.write('250 2.0.0 Ok: queued\r\n');
          }
          continue;
        }
        const u = line.toUpperCase();
        if (u.startsWith('DATA')) {
          inData = true;
          sock.write('354 go\r\n');
        } else if (u.startsWith('QUIT')) sock.end('221 bye\r\n');
        else sock.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as AddressInfo).port,
    lines: () => text,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

test('smtp-source sends byte for byte what Postfix smtp-source sends (golden transcripts)', async () => {
  const golden = join(ROOT, 'test', 'smtp-tools', 'golden');
  for (const [args, file] of [
    [['-d', '-m', '2', '-r', '2', '-N', '-F', join(golden, 'payload.txt'), '-M', 'myhost.test', '-f', 's@x', '-t', 'r@y'], 'source-F.txt'],
    [['-r', '3', '-l', '250', '-S', 'subj', '-M', 'myhost.test'], 'source-l.txt'],
  ] as Array<[string[], string]>) {
    const cap = await captureServer();
    try {
      const child = spawn(join(ROOT, 'bin', 'smtp-source'), [...args, `127.0.0.1:${cap.port}`]);
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      assert.equal(await new Promise<number | null>((r) => child.on('exit', (c) => r(c))), 0, err);
      const got = cap
        .lines()
        .replace(/^Date: [^\r]*/m, 'Date: DATE')
        .replace(/^Message-Id: <[0-9a-f]{4}\./m, 'Message-Id: <PID.');
      assert.equal(got, readFileSync(join(golden, file), 'latin1'), file);
    } finally {
      await cap.close();
    }
  }
});

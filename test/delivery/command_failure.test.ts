/** command_failure - the shared Postfix pipe_command result of local(8) and pipe(8) commands. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandFailure } from '../../src/global/sys_exits.js';
import { exitOutcome } from '../../src/pipe/pipe.js';

test('commandFailure: time limit bounces, signal defers, with the output and the x-unix diagnostic', () => {
  assert.deepEqual(commandFailure('/bin/x', null, 'SIGKILL', '', true), { kind: 'bounce', dsn: '5.3.0', text: 'Command time limit exceeded: "/bin/x"', diagText: 'internal software error' });
  assert.deepEqual(commandFailure('/bin/x', null, 'SIGTERM', 'bye', false), { kind: 'defer', dsn: '4.3.0', text: 'Command died with signal 15: "/bin/x". Command output: bye', diagText: 'bye' });
});

test('commandFailure: "D.S.N text" output chooses the status; sysexits codes; other statuses bounce', () => {
  assert.deepEqual(commandFailure('/bin/x', 1, null, '4.2.2 mailbox full', false), { kind: 'defer', dsn: '4.2.2', text: 'mailbox full', diagText: 'mailbox full' });
  assert.deepEqual(commandFailure('/bin/x', 67, null, '', false), { kind: 'bounce', dsn: '5.1.1', text: 'user unknown', diagText: 'user unknown' });
  assert.deepEqual(commandFailure('/bin/x', 75, null, 'later', false), { kind: 'defer', dsn: '4.3.0', text: 'temporary failure. Command output: later', diagText: 'later' });
  assert.deepEqual(commandFailure('/bin/x', 3, null, '', false), { kind: 'bounce', dsn: '5.3.0', text: 'Command died with status 3: "/bin/x"', diagText: 'unknown mail system error 3' });
});

test('pipe(8) uses the same rules: a time limit bounces as in Postfix', () => {
  assert.deepEqual(exitOutcome('p', '/bin/x', null, 'SIGKILL', '', true), { kind: 'bounce', dsn: '5.3.0', text: 'Command time limit exceeded: "/bin/x"' });
  assert.deepEqual(exitOutcome('p', '/bin/x', 1, null, '5.7.1 go away\n', false), { kind: 'bounce', dsn: '5.7.1', text: 'go away ' });
  assert.deepEqual(exitOutcome('p', '/bin/x', 0, null, 'hello\n', false), { kind: 'sent', dsn: '2.0.0', text: 'delivered via p service (hello)' });
});

/**
 * verp_sender - the VERP'ed sender address and the delimiter check, case by
 * case as Postfix 3.7's verp_sender() and verp_delims_verify() build them.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verpSender, verpDelimsVerify } from '../../src/global/verp_sender.js';

test('verpSender: prefix@origin becomes prefix+user=domain@origin, from the original recipient when known', () => {
  assert.equal(verpSender('+=', 'owner@origin.test', { address: 'user@domain.test' }), 'owner+user=domain.test@origin.test');
  assert.equal(verpSender('-=', 'list-owner@origin.test', { address: 'user@domain.test' }), 'list-owner-user=domain.test@origin.test');
  assert.equal(verpSender('+=', 'owner@origin.test', { address: 'rewritten@domain.test', orig: 'alias@domain.test' }), 'owner+alias=domain.test@origin.test');
  assert.equal(verpSender('+=', 'owner@origin.test', { address: 'user@domain.test', orig: '' }), 'owner+user=domain.test@origin.test');
  // the last @ separates the domain
  assert.equal(verpSender('+=', '"a@b"@origin.test', { address: '"x@y"@domain.test' }), '"a@b"+"x@y"=domain.test@origin.test');
});

test('verpSender: recipients and senders without a domain (or with an empty one)', () => {
  assert.equal(verpSender('+=', 'owner@origin.test', { address: 'user' }), 'owner+user@origin.test');
  assert.equal(verpSender('+=', 'owner@origin.test', { address: 'user@' }), 'owner+user@origin.test');
  assert.equal(verpSender('+=', 'owner', { address: 'user@domain.test' }), 'owner+user=domain.test');
  assert.equal(verpSender('+=', 'owner@', { address: 'user@domain.test' }), 'owner+user=domain.test');
});

test('verpDelimsVerify: two characters of verp_delimiter_filter, Postfix reasons otherwise', () => {
  assert.equal(verpDelimsVerify('+=', '-=+'), null);
  assert.equal(verpDelimsVerify('--', '-=+'), null);
  assert.equal(verpDelimsVerify('+', '-=+'), 'bad VERP delimiter character count');
  assert.equal(verpDelimsVerify('+=+', '-=+'), 'bad VERP delimiter character count');
  assert.equal(verpDelimsVerify('a=', '-=+'), 'bad first VERP delimiter character');
  assert.equal(verpDelimsVerify('+a', '-=+'), 'bad second VERP delimiter character');
});

/**
 * dns_strerror - the resolver texts smtpd puts in replies and warnings for a
 * failed DNS lookup, as Postfix's dns_strerror() gives them for h_errno.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsStrerror } from '../../src/smtpd/smtpd_resolve.js';

test('dnsStrerror: NXDOMAIN, NODATA, TRY_AGAIN (SERVFAIL, time-out) and NO_RECOVERY (REFUSED) texts', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(dnsStrerror(err('ENOTFOUND')), 'Host not found');
  assert.equal(dnsStrerror(err('ENODATA')), 'No address associated with hostname');
  assert.equal(dnsStrerror(err('ESERVFAIL')), 'Host not found, try again');
  assert.equal(dnsStrerror(err('ETIMEOUT')), 'Host not found, try again');
  assert.equal(dnsStrerror(err('EREFUSED')), 'Non-recoverable error');
  assert.equal(dnsStrerror(err('EFORMERR')), 'Non-recoverable error');
});

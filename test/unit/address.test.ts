// types/address: what config/ and route/ rely on, as tables worked out by hand (RFC 5952 for
// IPv6 text, network byte order for netlink).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressBytes, addressFamily, bytesToAddress, parseDestination } from '../../src/types/address.js';

describe('addresses', () => {
  it('families: strict dotted quads and IPv6 only', () => {
    const rows: [string, 4 | 6 | undefined][] = [
      ['198.51.100.10', 4],
      ['2001:db8::1', 6],
      ['::ffff:198.51.100.1', 6],
      ['127.1', undefined],
      ['0x7f.0.0.1', undefined],
      ['198.51.100.300', undefined],
      ['2001:db8::1::2', undefined],
      ['', undefined],
      ['fe80::1%eth0', undefined],
      ['fe80::1%-1', undefined],
    ];
    for (const [text, want] of rows) assert.equal(addressFamily(text), want, text);
  });

  it('bytes in network order, and back in RFC 5952 form', () => {
    const rows: [string, string, string][] = [
      ['100.64.1.1', '64400101', '100.64.1.1'],
      ['2001:db8::1', '20010db8000000000000000000000001', '2001:db8::1'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001', '2001:db8::1'],
      // The longest run of zeros is compressed; on a tie, the first (RFC 5952 4.2.3).
      ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
      // A single zero group is not compressed (4.2.2).
      ['2001:db8:0:1:1:1:1:1', '20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
      ['::', '00000000000000000000000000000000', '::'],
      ['FE80::A', 'fe80000000000000000000000000000a', 'fe80::a'],
    ];
    for (const [text, hex, back] of rows) {
      assert.equal(addressBytes(text).toString('hex'), hex, text);
      assert.equal(bytesToAddress(Buffer.from(hex, 'hex')), back, text);
    }
  });

  it('destinations: default is both families; host bits and bad lengths are refused', () => {
    assert.deepEqual(parseDestination('default'), [
      { prefix: '0.0.0.0/0', family: 4, address: '0.0.0.0', length: 0 },
      { prefix: '::/0', family: 6, address: '::', length: 0 },
    ]);
    const rows: [string, string][] = [
      ['203.0.113.0/24', '203.0.113.0/24'],
      ['203.0.113.7', '203.0.113.7/32'],
      ['2001:DB8:0::/32', '2001:db8::/32'],
      ['2001:db8::1', '2001:db8::1/128'],
      ['203.0.113.0/024', '203.0.113.0/24'],
    ];
    for (const [text, prefix] of rows) {
      const d = parseDestination(text);
      assert.ok(Array.isArray(d), `${text}: ${String(d)}`);
      assert.equal(d[0]!.prefix, prefix);
    }
    const bad: [string, RegExp][] = [
      ['203.0.113.1/24', /host bits set past \/24/],
      ['2001:db8::1/64', /host bits/],
      ['203.0.113.0/33', /0 to 32/],
      ['2001:db8::/129', /0 to 128/],
      ['203.0.113.0/x', /0 to 32/],
      ['203.0.113.0/24/1', /not a prefix/],
      ['example.com', /not a prefix/],
    ];
    for (const [text, why] of bad) assert.match(String(parseDestination(text)), why, text);
  });
});

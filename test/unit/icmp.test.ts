// probe/: ICMP packet building and parsing (the socket's heartbeats are tested in the lab; here
// only what it does before any packet goes out).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echoRequest, errnoCode, IcmpPinger, internetChecksum, parseEchoReply } from '../../src/probe/index.js';

describe('icmp', () => {
  it('an echo request carries a checksum that verifies to zero (RFC 1071)', () => {
    const req = echoRequest(4, 0x1234, 7);
    assert.equal(req[0], 8);
    assert.equal(req.readUInt16BE(4), 0x1234);
    assert.equal(req.readUInt16BE(6), 7);
    assert.equal(internetChecksum(req), 0);
  });

  it('parses an IPv4 echo reply behind its IP header', () => {
    const icmp = echoRequest(4, 0xbeef, 42);
    icmp[0] = 0; // echo reply
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    assert.deepEqual(parseEchoReply(4, Buffer.concat([ip, icmp])), { id: 0xbeef, seq: 42 });
  });

  it('ignores what is not an echo reply', () => {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    const unreachable = Buffer.alloc(8);
    unreachable[0] = 3;
    assert.equal(parseEchoReply(4, Buffer.concat([ip, unreachable])), undefined);
    assert.equal(parseEchoReply(4, Buffer.alloc(10)), undefined);
  });

  it('parses an ICMPv6 echo reply (no IP header on raw v6 sockets)', () => {
    const icmp = echoRequest(6, 9, 10);
    assert.equal(icmp[0], 128);
    icmp[0] = 129;
    assert.deepEqual(parseEchoReply(6, icmp), { id: 9, seq: 10 });
  });

  it('maps strerror text to errno codes', () => {
    assert.equal(errnoCode(new Error('No such device')), 'ENODEV');
    assert.equal(errnoCode(new Error('Network is unreachable')), 'ENETUNREACH');
    assert.equal(errnoCode({ code: 'EPERM' }), 'EPERM');
  });

  it('a heartbeat on a missing interface fails with ENODEV at once, in either family (no packet sent)', async () => {
    for (const [family, address] of [
      [4, '198.51.100.1'],
      [6, '2001:db8::1'],
    ] as const) {
      const pinger = new IcmpPinger('uplnkd-nonic0', family, () => performance.now());
      assert.deepEqual(await pinger.echo(address, 1000), { ok: false, error: 'ENODEV' });
      pinger.close();
    }
  });
});

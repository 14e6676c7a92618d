// netlink/nflog.ts: the NFLOG bind requests byte by byte and a logged packet's interfaces
// (include/uapi/linux/netfilter/nfnetlink_log.h), and track/'s pace for the passive sampler.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindRequests, parseLoggedPacket } from '../../src/netlink/nflog.js';
import { passiveSampleMs } from '../../src/track/index.js';
import { TrackSession } from './track-session.js';
import { upLink } from '../../src/link/index.js';

describe('NFLOG', () => {
  it('binds the group (res_id big-endian), then metadata only and each packet at once', () => {
    const [bind, mode] = bindRequests(30517, 7);
    // nlmsghdr: len, type (NFNL_SUBSYS_ULOG 4 << 8 | NFULNL_MSG_CONFIG 1), REQUEST|ACK, seq.
    assert.deepEqual([bind!.readUInt32LE(0), bind!.readUInt16LE(4), bind!.readUInt16LE(6), bind!.readUInt32LE(8)], [bind!.length, 0x401, 0x5, 7]);
    // nfgenmsg: AF_UNSPEC, version 0, res_id = group; NFULA_CFG_CMD (1) = NFULNL_CFG_CMD_BIND (1).
    assert.deepEqual([...bind!.subarray(16, 20)], [0, 0, 0x77, 0x35]);
    assert.deepEqual([...bind!.subarray(20, 25)], [5, 0, 1, 0, 1]);
    assert.equal(mode!.readUInt32LE(8), 8);
    // NFULA_CFG_MODE (2): copy_range 0, NFULNL_COPY_NONE; NFULA_CFG_QTHRESH (5) 1; NFULA_CFG_TIMEOUT (4) 0.
    assert.deepEqual([...mode!.subarray(20, 32)], [10, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...mode!.subarray(32, 40)], [8, 0, 5, 0, 0, 0, 0, 1]);
    assert.deepEqual([...mode!.subarray(40, 48)], [8, 0, 4, 0, 0, 0, 0, 0]);
  });

  it("reads a logged packet's interfaces (big-endian) and nothing else", () => {
    const attr = (type: number, value: number[]) => Buffer.from([4 + value.length, 0, type, 0, ...value]);
    const body = Buffer.concat([Buffer.from([2, 0, 0x77, 0x35]), attr(1, [8, 0, 3, 0]), attr(5, [0, 0, 0, 11])]);
    assert.deepEqual(parseLoggedPacket({ type: 0x400, body }), { inIfindex: 0, outIfindex: 11 });
    assert.equal(parseLoggedPacket({ type: 0x401, body }), undefined, 'a config answer');
    assert.equal(parseLoggedPacket({ type: 0x400, body: Buffer.alloc(2) }), undefined, 'truncated');
  });
});

describe("the passive sampler's pace", () => {
  const YAML = `uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, targets: [ { icmp: 198.51.100.10 } ] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, targets: [ { icmp: 198.51.100.10 } ], probe: { interval: 500ms } }
`;
  const links = [upLink('wan1', 11, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')];
  it('the quickest heartbeat pace while all is quiet; 10 ms while one watches; always 10 ms without wake-ups', () => {
    const s = new TrackSession(YAML, links);
    const uplinks = () => s.t.uplinks.values();
    assert.equal(passiveSampleMs(uplinks(), 0, true), 500);
    assert.equal(passiveSampleMs(uplinks(), 0, false), 10);
    const fiber = s.t.uplinks.get('fiber')!;
    const watching = [{ ...fiber, passive: { ...fiber.passive, silentSince: 0, lastTxAt: 0 } }, s.t.uplinks.get('dsl')!];
    assert.equal(passiveSampleMs(watching, 5, true), 10);
    const off = new TrackSession(YAML.replace(/targets/g, 'probe: { passive: false }, targets').replace(', probe: { interval: 500ms }', ''), links);
    assert.equal(passiveSampleMs(off.t.uplinks.values(), 0, true), 1000, 'no passive uplink: a look a second for a reload');
  });
});

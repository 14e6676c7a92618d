// The ctnetlink messages of host/conntrack.ts: a dumped entry's mark and state, its reply
// address, the dump request and the deletions built from dumped entries. The messages are
// laid out as nf_conntrack_netlink.c writes them (ctnetlink_fill_info).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeleteBatches, dumpRequest, liveMark, replyDst } from '../../src/host/conntrack.js';
import { nfMessage } from '../../src/netlink/index.js';
import { nlattr } from '../../src/types/netlink.js';

const NESTED = 0x8000;
const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
};
const nest = (type: number, ...parts: Buffer[]): Buffer => nlattr(type | NESTED, Buffer.concat(parts));
const tuple = (type: number, family: 4 | 6, src: number[], dst: number[], sport: number, dport: number): Buffer => {
  const port = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);
  const ip =
    family === 4 ? nest(1, nlattr(1, Buffer.from(src)), nlattr(2, Buffer.from(dst))) : nest(1, nlattr(3, Buffer.from(src)), nlattr(4, Buffer.from(dst)));
  return nest(type, ip, nest(2, nlattr(1, Buffer.from([17])), nlattr(2, port(sport)), nlattr(3, port(dport))));
};

interface Entry {
  family?: 4 | 6;
  mark?: number;
  tcpState?: number;
  id?: number;
  zone?: number;
  replyDst?: number[];
}
/** One entry as a dump carries it: IPCTNL_MSG_CT_NEW, nfgenmsg, tuples, status, protoinfo, mark, id. */
function entry(e: Entry): Buffer {
  const f = e.family ?? 4;
  const a = f === 4 ? [100, 64, 100, 2] : [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2];
  const b = f === 4 ? [203, 0, 113, 10] : [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10];
  const parts = [tuple(1, f, a, b, 40000, 7000), tuple(2, f, b, e.replyDst ?? a, 7000, 40000), nlattr(3, be32(0x188))];
  if (e.tcpState !== undefined) parts.push(nest(4, nest(1, nlattr(1, Buffer.from([e.tcpState])), nlattr(2, Buffer.from([7])))));
  if (e.mark !== undefined) parts.push(nlattr(8, be32(e.mark)));
  if (e.zone !== undefined) parts.push(nlattr(18, Buffer.from([0, e.zone])));
  parts.push(nlattr(12, be32(e.id ?? 0x12345678)), nlattr(11, be32(1)));
  return nfMessage((1 << 8) | 0, 0x2, 7, f === 4 ? 2 : 10, Buffer.concat(parts));
}
const whole = (m: Buffer): [Buffer, number, number] => [m, 0, m.length];

describe('conntrack dump entries', () => {
  const cases: [string, Entry, number][] = [
    ['an established TCP connection: its mark', { mark: 0x200, tcpState: 3 }, 0x200],
    ['a UDP flow (no protoinfo): its mark', { mark: 0x101 }, 0x101],
    ['a mark above 2^31 read unsigned', { mark: 0x80000100 }, 0x80000100],
    ['no mark: 0', { tcpState: 3 }, 0],
    ['TIME_WAIT: ended', { mark: 0x200, tcpState: 7 }, -1],
    ['CLOSE: ended', { mark: 0x200, tcpState: 8 }, -1],
    ['SYN_SENT2 (9) is live', { mark: 0x200, tcpState: 9 }, 0x200],
    ['IPv6', { family: 6, mark: 0x300, tcpState: 3 }, 0x300],
  ];
  for (const [name, e, want] of cases) it(name, () => assert.equal(liveMark(...whole(entry(e))), want));

  it('read in place inside a datagram of several messages', () => {
    const ms = [entry({ mark: 1 }), entry({ mark: 2, tcpState: 7 }), entry({ mark: 3 })];
    const d = Buffer.concat(ms);
    let off = 0;
    const got = ms.map((m) => {
      const v = liveMark(d, off, off + m.length);
      off += m.length;
      return v;
    });
    assert.deepEqual(got, [1, -1, 3]);
  });

  it('a truncated attribute ends the walk without reading past the message', () => {
    const m = entry({ mark: 0x200 });
    // The mark comes after the tuples and status: cut the message in the middle of it.
    const markAt = entry({}).length - 16;
    assert.equal(m.readUInt16LE(markAt + 2), 8, 'CTA_MARK there');
    assert.equal(liveMark(m, 0, markAt + 6), 0);
    assert.equal(liveMark(m, 0, markAt + 8), 0x200);
  });

  it('give the reply tuple destination of both families', () => {
    assert.deepEqual([...replyDst(...whole(entry({ replyDst: [100, 64, 1, 2] })))!], [100, 64, 1, 2]);
    const v6 = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 9];
    assert.deepEqual([...replyDst(...whole(entry({ family: 6, replyDst: v6 })))!], v6);
  });
});

describe('conntrack requests', () => {
  it('a dump filtered by mark in the kernel', () => {
    const r = dumpRequest(5, 0, { mark: 0x100, mask: 0x3f00 });
    assert.equal(r.readUInt16LE(4), (1 << 8) | 1, 'IPCTNL_MSG_CT_GET');
    assert.equal(r.readUInt16LE(6), 0x301, 'NLM_F_REQUEST | NLM_F_DUMP');
    assert.equal(r.readUInt32LE(8), 5);
    assert.equal(r[16], 0, 'both families');
    assert.deepEqual([r.readUInt16LE(22), r.readUInt32BE(24), r.readUInt16LE(30), r.readUInt32BE(32)], [8, 0x100, 21, 0x3f00]);
    assert.equal(dumpRequest(1, 10).length, 20, 'no filter: nlmsghdr and nfgenmsg only');
  });

  it('a deletion names the entry by its original tuple, zone and ID, in its family', () => {
    const batches = new DeleteBatches();
    const e = entry({ family: 6, mark: 0x100, zone: 3, id: 0xdeadbeef });
    batches.add(...whole(e));
    batches.seal();
    const [b] = batches.batches;
    const m = b!.datagram;
    assert.equal(m.readUInt16LE(4), (1 << 8) | 2, 'IPCTNL_MSG_CT_DELETE');
    assert.equal(m.readUInt16LE(6), 0x5, 'NLM_F_REQUEST | NLM_F_ACK');
    assert.equal(m.readUInt32LE(8), b!.seq);
    assert.equal(m[16], 10, 'AF_INET6');
    assert.deepEqual(b!.families, [10]);
    const types: number[] = [];
    for (let off = 20; off < m.length; off += (m.readUInt16LE(off) + 3) & ~3) types.push(m.readUInt16LE(off + 2) & 0x3fff);
    assert.deepEqual(types, [1, 18, 12], 'CTA_TUPLE_ORIG, CTA_ZONE, CTA_ID');
    assert.equal(m.readUInt32BE(m.length - 4), 0xdeadbeef);
    assert.equal(m.readUInt32LE(0), m.length);
  });

  it('batches of 256, numbered in a row', () => {
    const batches = new DeleteBatches();
    for (let i = 0; i < 600; i++) batches.add(...whole(entry({ mark: 0x100, id: i })));
    batches.seal();
    assert.deepEqual(
      batches.batches.map((b) => b.families.length),
      [256, 256, 88],
    );
    for (const b of batches.batches) {
      let off = 0;
      for (let i = 0; i < b.families.length; i++) {
        assert.equal(b.datagram.readUInt32LE(off + 8), b.seq + i);
        off += b.datagram.readUInt32LE(off);
      }
      assert.equal(off, b.datagram.length);
    }
  });

  it('an entry without its original tuple is not deleted (nothing names it)', () => {
    const batches = new DeleteBatches();
    batches.add(...whole(nfMessage(0x100, 0, 1, 2, nlattr(8, be32(0x100)))));
    batches.seal();
    assert.equal(batches.batches.length, 0);
  });
});

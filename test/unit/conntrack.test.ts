// The ctnetlink messages of host/: the marked entries kept from a dump and the events after it
// (mark, TCP state, DESTROY), a dumped entry's reply address, the dump request and the
// deletions built from dumped entries. The messages are laid out as nf_conntrack_netlink.c
// writes them (ctnetlink_fill_info, ctnetlink_conntrack_event).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeleteBatches, dumpRequest, replyDst } from '../../src/host/conntrack.js';
import { MarkedEntries } from '../../src/host/conntrack-entries.js';
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
  /** The message: 0 IPCTNL_MSG_CT_NEW (an entry of a dump, NEW or UPDATE), 2 IPCTNL_MSG_CT_DELETE (DESTROY). */
  type?: number;
  sport?: number;
  replyDst?: number[];
}
/** One entry as a dump carries it: IPCTNL_MSG_CT_NEW, nfgenmsg, tuples, status, protoinfo, mark, id. */
function entry(e: Entry): Buffer {
  const f = e.family ?? 4;
  const a = f === 4 ? [100, 64, 100, 2] : [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2];
  const b = f === 4 ? [203, 0, 113, 10] : [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10];
  const sport = e.sport ?? 40000;
  const parts = [tuple(1, f, a, b, sport, 7000), tuple(2, f, b, e.replyDst ?? a, 7000, sport), nlattr(3, be32(0x188))];
  if (e.tcpState !== undefined) parts.push(nest(4, nest(1, nlattr(1, Buffer.from([e.tcpState])), nlattr(2, Buffer.from([7])))));
  if (e.mark !== undefined) parts.push(nlattr(8, be32(e.mark)));
  if (e.zone !== undefined) parts.push(nlattr(18, Buffer.from([0, e.zone])));
  parts.push(nlattr(12, be32(e.id ?? 0x12345678)), nlattr(11, be32(1)));
  return nfMessage((1 << 8) | (e.type ?? 0), 0x2, 7, f === 4 ? 2 : 10, Buffer.concat(parts));
}
const whole = (m: Buffer): [Buffer, number, number] => [m, 0, m.length];

describe('marked entries: counts from a dump and the events after it', () => {
  const dumped = (t: MarkedEntries, e: Entry): void => t.apply(...whole(entry(e)), true);
  const event = (t: MarkedEntries, e: Entry): void => t.applyEvents(entry(e));
  const counts = (t: MarkedEntries, mask = 0xffffffff): Record<string, number> =>
    Object.fromEntries([...t.countByMark(mask)].map(([m, n]) => [m.toString(16), n]));

  const dumps: [string, Entry, Record<string, number>][] = [
    ['an established TCP connection: its mark', { mark: 0x200, tcpState: 3 }, { 200: 1 }],
    ['a UDP flow (no protoinfo): its mark', { mark: 0x101 }, { 101: 1 }],
    ['a mark above 2^31 read unsigned', { mark: 0x80000100 }, { 80000100: 1 }],
    ['no mark: not counted', { tcpState: 3 }, {}],
    ['TIME_WAIT: ended, not counted', { mark: 0x200, tcpState: 7 }, {}],
    ['CLOSE: ended, not counted', { mark: 0x200, tcpState: 8 }, {}],
    ['SYN_SENT2 (9) is live', { mark: 0x200, tcpState: 9 }, { 200: 1 }],
    ['IPv6', { family: 6, mark: 0x300, tcpState: 3 }, { 300: 1 }],
  ];
  for (const [name, e, want] of dumps)
    it(name, () => {
      const t = new MarkedEntries();
      dumped(t, e);
      assert.deepEqual(counts(t), want);
    });

  it('counted under the mask: marks that share their uplink bits add up', () => {
    const t = new MarkedEntries();
    dumped(t, { mark: 0x101, id: 1 });
    dumped(t, { mark: 0x102, id: 2 });
    dumped(t, { mark: 0x201, id: 3 });
    dumped(t, { mark: 0x001, id: 4 });
    assert.deepEqual(counts(t, 0xff00), { 100: 2, 200: 1 });
  });

  const events: [string, Entry[], Record<string, number>, number][] = [
    ['NEW adds', [{ mark: 0x100 }], { 100: 1 }, 1],
    ['a second message for the same entry replaces the first', [{ mark: 0x100 }, { mark: 0x200 }], { 200: 1 }, 1],
    [
      'UPDATE to TIME_WAIT: no longer live, still held',
      [
        { mark: 0x100, tcpState: 3 },
        { mark: 0x100, tcpState: 7 },
      ],
      {},
      1,
    ],
    ['an UPDATE without protoinfo keeps the state it had', [{ mark: 0x100, tcpState: 7 }, { mark: 0x100 }], {}, 1],
    ['an UPDATE without a mark: the mark is 0 now', [{ mark: 0x100 }, {}], {}, 0],
    [
      'DESTROY removes',
      [
        { mark: 0x100, tcpState: 3 },
        { mark: 0x100, type: 2 },
      ],
      {},
      0,
    ],
    [
      'DESTROY of an ended one removes it',
      [
        { mark: 0x100, tcpState: 7 },
        { mark: 0x100, type: 2 },
      ],
      {},
      0,
    ],
    ['DESTROY of an entry never seen: nothing', [{ mark: 0x100, type: 2 }], {}, 0],
    ['the same ID on another tuple is another entry', [{ mark: 0x100 }, { mark: 0x100, sport: 40001 }], { 100: 2 }, 2],
    ['an unmarked entry marked later counts', [{}, { mark: 0x100 }], { 100: 1 }, 1],
  ];
  for (const [name, es, want, size] of events)
    it(name, () => {
      const t = new MarkedEntries();
      for (const e of es) event(t, e);
      assert.deepEqual(counts(t), want);
      assert.equal(t.size, size);
    });

  it('entries known from a dump alone are unheard until an event tells of them', () => {
    const t = new MarkedEntries();
    dumped(t, { mark: 0x100, id: 1 });
    dumped(t, { mark: 0x100, id: 2 });
    assert.equal(t.unheard, 2);
    event(t, { mark: 0x100, id: 1, tcpState: 3 });
    event(t, { mark: 0x100, id: 2, type: 2 });
    assert.equal(t.unheard, 0);
    assert.deepEqual(counts(t), { 100: 1 });
  });

  it('events held over a dump are applied again without counting twice', () => {
    const t = new MarkedEntries();
    dumped(t, { mark: 0x100, id: 1, tcpState: 3 });
    dumped(t, { mark: 0x100, id: 2, tcpState: 7 });
    // Held: entry 1 was already in the dump; entry 3 came and went; entry 4 came.
    for (const e of [{ id: 1, tcpState: 3 }, { id: 3 }, { id: 3, type: 2 }, { id: 4 }]) event(t, { mark: 0x100, ...e });
    assert.deepEqual(counts(t), { 100: 2 });
    assert.equal(t.size, 3);
  });

  it('a datagram of several events, each applied; a truncated one ends the walk', () => {
    const t = new MarkedEntries();
    const ms = [entry({ mark: 1, id: 1 }), entry({ mark: 2, id: 2, tcpState: 7 }), entry({ mark: 3, id: 3 })];
    const d = Buffer.concat(ms);
    t.applyEvents(d.subarray(0, d.length - 4));
    assert.deepEqual(counts(t), { 1: 1 });
    t.applyEvents(d);
    assert.deepEqual(counts(t), { 1: 1, 3: 1 });
  });

  it('a message without an ID is passed by', () => {
    const t = new MarkedEntries();
    const m = entry({ mark: 0x100 });
    // The ID is the second-last attribute: cut the message before it.
    t.apply(m, 0, m.length - 16, true);
    assert.equal(t.size, 0);
  });
});

describe('conntrack dump entries', () => {
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

// route/table-owner: the nf_tables table messages uplinkd sends itself, and the answers it reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseReplies, tableBatch, tableBody } from '../../src/route/index.js';

describe('nf_tables table messages', () => {
  it('a batch: begin, the table messages (acked, create), end, with consecutive sequence numbers', () => {
    const { datagram, acks } = tableBatch('uplinkd', [{ op: 'delete' }, { op: 'new', flags: 0x6 }], 40);
    assert.deepEqual(acks, [41, 42]);
    const msgs: { type: number; flags: number; seq: number; family: number; resId: number; body: Buffer }[] = [];
    for (let off = 0; off < datagram.length; ) {
      const len = datagram.readUInt32LE(off);
      msgs.push({
        type: datagram.readUInt16LE(off + 4),
        flags: datagram.readUInt16LE(off + 6),
        seq: datagram.readUInt32LE(off + 8),
        family: datagram.readUInt8(off + 16),
        resId: datagram.readUInt16BE(off + 18),
        body: datagram.subarray(off + 20, off + len),
      });
      off += (len + 3) & ~3;
    }
    // NFNL_MSG_BATCH_BEGIN names the subsystem (NFNL_SUBSYS_NFTABLES = 10) in res_id.
    assert.deepEqual(
      msgs.map((m) => [m.type, m.flags, m.seq, m.family, m.resId]),
      [
        [0x10, 0x1, 40, 0, 10],
        [(10 << 8) | 2, 0x1 | 0x4, 41, 1, 0],
        [(10 << 8) | 0, 0x1 | 0x4 | 0x400, 42, 1, 0],
        [0x11, 0x1, 43, 0, 10],
      ],
    );
    assert.deepEqual(msgs[2]!.body, tableBody('uplinkd', 6));
  });

  it('a table body: the name NUL-terminated and padded, flags big-endian', () => {
    assert.deepEqual(
      [...tableBody('uplinkd', 6)],
      [12, 0, 1, 0, ...Buffer.from('uplinkd\0'), 8, 0, 2, 0, 0, 0, 0, 6],
    );
    assert.equal(tableBody('ab').length, 8);
  });

  it('answers: acks, errors, and a table with its flags and owner', () => {
    const err = (seq: number, errno: number): Buffer => {
      const b = Buffer.alloc(36);
      b.writeUInt32LE(36, 0);
      b.writeUInt16LE(2, 4);
      b.writeUInt32LE(seq, 8);
      b.writeInt32LE(errno, 16);
      return b;
    };
    const table = (seq: number, flags: number, owner: number): Buffer => {
      const attrs = Buffer.concat([tableBody('uplinkd', flags), Buffer.from([8, 0, 7, 0, 0, 0, 0, 0])]);
      attrs.writeUInt32BE(owner, attrs.length - 4);
      const b = Buffer.alloc(20 + attrs.length);
      b.writeUInt32LE(b.length, 0);
      b.writeUInt16LE((10 << 8) | 0, 4);
      b.writeUInt32LE(seq, 8);
      b.writeUInt8(1, 16);
      attrs.copy(b, 20);
      return b;
    };
    assert.deepEqual(parseReplies(Buffer.concat([table(7, 0x6, 4242), err(7, 0), err(8, -1)])), [
      { seq: 7, table: { flags: 6, ownerPort: 4242 } },
      { seq: 7, error: 0 },
      { seq: 8, error: -1 },
    ]);
    // An unowned (persistent) table reports no owner even if the attribute is there.
    assert.deepEqual(parseReplies(table(9, 0x4, 0)), [{ seq: 9, table: { flags: 4, ownerPort: undefined } }]);
    assert.deepEqual(parseReplies(Buffer.alloc(8)), [], 'a short datagram is no answer');
  });
});

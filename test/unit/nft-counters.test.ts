// nft/counters: the named-counter dump of uplinkd's nftables table, as bytes: the request and the
// parsing of the kernel's answers (nf_tables.h); and the fake beside the reader.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeCounters } from '../../src/nft/fake.js';
import { KernelError } from '../../src/netlink/errors.js';
import { counterDumpRequest, parseCounterObject } from '../../src/nft/counters.js';
import { nlattr } from '../../src/types/netlink.js';

const NESTED = 0x8000;

const be32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
};
const be64 = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v), 0);
  return b;
};

/** A NEWOBJ answer's payload as nf_tables_fill_obj_info writes it. */
function answer(name: string, type: number, packets: number, bytes: number): Buffer {
  return Buffer.concat([
    Buffer.from([1, 0, 0, 0x2a]), // nfgenmsg: NFPROTO_INET, v0, res_id = the generation, be16
    nlattr(1, Buffer.from('uplinkd\0')), // NFTA_OBJ_TABLE
    nlattr(2, Buffer.from(`${name}\0`)), // NFTA_OBJ_NAME
    nlattr(3, be32(type)), // NFTA_OBJ_TYPE
    // NFTA_OBJ_DATA: NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS
    nlattr(4 | NESTED, Buffer.concat([nlattr(1, be64(bytes)), nlattr(2, be64(packets))])),
    nlattr(5, be32(1)), // NFTA_OBJ_USE
    nlattr(6, be64(7)), // NFTA_OBJ_HANDLE
  ]);
}

describe('counterDumpRequest', () => {
  it('is one NFT_MSG_GETOBJ dump of inet uplinkd, filtered to counters', () => {
    const req = counterDumpRequest();
    assert.equal(req.type, (10 << 8) | 19);
    assert.equal(req.flags, 0x1 | 0x300);
    assert.equal(
      req.payload.toString('hex'),
      [
        '01000000', // nfgenmsg: NFPROTO_INET, NFNETLINK_V0, res_id 0
        '0c000100', // NFTA_OBJ_TABLE, 12 bytes
        Buffer.from('uplinkd\0').toString('hex'),
        '08000300', // NFTA_OBJ_TYPE, 8 bytes
        '00000001', // NFT_OBJECT_COUNTER, big-endian
      ].join(''),
    );
  });

  it('pads another table name to 4 bytes', () => {
    const { payload } = counterDumpRequest('lab');
    assert.equal(payload.subarray(4, 12).toString('hex'), '08000100' + Buffer.from('lab\0').toString('hex'));
  });
});

describe('parseCounterObject', () => {
  it('reads the name and the big-endian u64 values', () => {
    assert.deepEqual(parseCounterObject(answer('tx_a', 1, 3, 252)), { name: 'tx_a', value: { packets: 3, bytes: 252 } });
  });

  it('keeps values above 2^32', () => {
    assert.deepEqual(parseCounterObject(answer('rx_b', 1, 2 ** 33 + 5, 2 ** 45 + 1))?.value, { packets: 2 ** 33 + 5, bytes: 2 ** 45 + 1 });
  });

  it('passes other objects by (a quota, say)', () => {
    assert.equal(parseCounterObject(answer('q', 2, 0, 0)), undefined);
  });

  it('a counter without data reads as zero; a truncated answer as nothing', () => {
    const bare = Buffer.concat([Buffer.from([1, 0, 0, 0]), nlattr(2, Buffer.from('c\0')), nlattr(3, be32(1))]);
    assert.deepEqual(parseCounterObject(bare), { name: 'c', value: { packets: 0, bytes: 0 } });
    assert.equal(parseCounterObject(Buffer.from([1, 0, 0, 0])), undefined);
  });
});

describe('FakeCounters', () => {
  it('hands back a copy of its values, or the refusal', async () => {
    const fake = new FakeCounters();
    fake.values.set('tx_a', { packets: 1, bytes: 84 });
    const read = await fake.read();
    fake.values.set('tx_a', { packets: 2, bytes: 168 });
    assert.deepEqual([...read], [['tx_a', { packets: 1, bytes: 84 }]]);
    fake.refuse = 'EPERM';
    await assert.rejects(fake.read(), (err: unknown) => err instanceof KernelError && err.code === 'EPERM');
    assert.equal(fake.reads, 2);
  });
});

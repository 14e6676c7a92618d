// nft/owner: the nf_tables table messages uplinkd sends itself, and the answers it reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeTableOwner } from '../../src/nft/fake.js';
import { parseAnswers } from '../../src/netlink/index.js';
import { tableBatch, tableBody, tableInfo } from '../../src/nft/owner.js';
import { NftPinningTable, type NftRunner } from '../../src/nft/table.js';

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
    assert.deepEqual([...tableBody('uplinkd', 6)], [12, 0, 1, 0, ...Buffer.from('uplinkd\0'), 8, 0, 2, 0, 0, 0, 0, 6]);
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
    const answers = parseAnswers(Buffer.concat([table(7, 0x6, 4242), err(7, 0), err(8, -1)]));
    assert.deepEqual(
      answers.map((a) => ({ seq: a.seq, type: a.type, error: a.error, table: tableInfo(a) })),
      [
        { seq: 7, type: 10 << 8, error: undefined, table: { flags: 6, ownerPort: 4242 } },
        { seq: 7, type: 2, error: 0, table: undefined },
        { seq: 8, type: 2, error: -1, table: undefined },
      ],
    );
    // An unowned (persistent) table reports no owner even if the attribute is there.
    assert.deepEqual(parseAnswers(table(9, 0x4, 0)).map(tableInfo), [{ flags: 4, ownerPort: undefined }]);
    assert.deepEqual(parseAnswers(Buffer.alloc(8)), [], 'a short datagram is no answer');
  });
});

describe('loading the pinning table (NftPinningTable with a fake kernel and nft)', () => {
  const t = 'inet uplinkd';
  const SCRIPT = `add counter ${t} new_fiber\nadd chain ${t} prerouting { type filter hook prerouting priority mangle; policy accept; }\nadd rule ${t} prerouting return\n`;

  /** nft as the kernel would answer it: no writes into a held table, no table no listing. */
  function setup() {
    const owner = new FakeTableOwner();
    const loads: string[] = [];
    let contents = { chains: [] as string[], counters: [] as string[] };
    let failLoads = 0;
    const nft: NftRunner = async (args, input) => {
      const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' });
      const fail = (stderr: string) => ({ code: 1, stdout: '', stderr });
      if (args[0] === '-j' && args[1] === 'list') {
        if (!owner.table) return fail('Error: No such file or directory');
        const items = [...contents.chains.map((name) => ({ chain: { name } })), ...contents.counters.map((name) => ({ counter: { name, packets: 0 } }))];
        return ok(JSON.stringify({ nftables: items }));
      }
      if (args[0] === '-f') {
        if (owner.table?.ownerPort !== undefined) return fail('Error: Could not process rule: Operation not permitted');
        if (failLoads > 0) return (failLoads--, fail('Error: syntax error'));
        loads.push(input!);
        const lines = input!.split('\n');
        if (lines[0] === `add table ${t}` && !owner.table) owner.table = { flags: 0, ownerPort: undefined };
        contents = {
          chains: lines.filter((l) => l.startsWith('add chain')).map((l) => l.split(' ')[4]!),
          counters: lines.filter((l) => l.startsWith('add counter')).map((l) => l.split(' ')[4]!),
        };
        return ok();
      }
      return fail(`unexpected nft ${args.join(' ')}`);
    };
    return { owner, nft, loads, table: new NftPinningTable(owner, nft), failNext: () => (failLoads = 1) };
  }

  it('first start: creates the table persistent, holds it, lets go only for nft -f, holds it again', async () => {
    const { owner, loads, table } = setup();
    assert.deepEqual(await table.load(SCRIPT), { owned: true });
    assert.deepEqual(owner.calls, ['query', 'create', 'adopt', 'release', 'adopt']);
    assert.equal(loads.length, 1);
    assert.equal(loads[0], `flush table ${t}\n${SCRIPT}`);
    assert.notEqual(owner.ownPort(), undefined);
    // A second load empties what the first put in, in the same transaction.
    owner.calls.length = 0;
    await table.load(SCRIPT);
    assert.deepEqual(owner.calls, ['query', 'release', 'adopt']);
    assert.equal(loads[1], `flush table ${t}\ndelete chain ${t} prerouting\ndelete counter ${t} new_fiber\n${SCRIPT}`);
  });

  it('a table of an older run (persistent, nobody holds it) is taken back as it is; an old non-persistent one is replaced, said once', async () => {
    const { owner, table } = setup();
    owner.table = { flags: 0x4, ownerPort: undefined };
    assert.deepEqual(await table.load(SCRIPT), { owned: true });
    assert.ok(!owner.calls.includes('create'));
    const other = setup();
    other.owner.table = { flags: 0, ownerPort: undefined };
    const r = await other.table.load(SCRIPT);
    assert.match(r.note ?? '', /replaced table inet uplinkd, which was not persistent/);
    assert.deepEqual(other.owner.calls.slice(0, 2), ['query', 'create (replace)']);
    assert.equal((await other.table.load(SCRIPT)).note, undefined);
  });

  it('refuses a table another process holds (another uplinkd), touching nothing', async () => {
    const { owner, loads, table } = setup();
    owner.table = { flags: 0x6, ownerPort: 4242 };
    await assert.rejects(table.load(SCRIPT), /held by another process \(netlink port 4242\): is another uplinkd running\?/);
    assert.deepEqual(owner.calls, ['query']);
    assert.equal(loads.length, 0);
  });

  it('a failed nft -f still takes the table back, so the old contents stay protected', async () => {
    const { owner, table, failNext } = setup();
    await table.load(SCRIPT);
    failNext();
    await assert.rejects(table.load(SCRIPT), /nft -f: Error: syntax error/);
    assert.notEqual(owner.ownPort(), undefined);
  });

  it('a failed hold is made good by the next look at the table', async () => {
    const { owner, table } = setup();
    await table.load(SCRIPT);
    owner.failAdopt = 1;
    await assert.rejects(table.load(SCRIPT), /no answer from the kernel/);
    assert.equal(owner.ownPort(), undefined, 'left unowned');
    assert.deepEqual(await table.shape(), { chains: 1, rules: 0, counters: 1, sets: 0 });
    assert.notEqual(owner.ownPort(), undefined, 'held again before it was listed');
  });

  it('a kernel without persistent tables (EOPNOTSUPP, before Linux 6.9): unowned loads, said once even after a failed first one', async () => {
    const { owner, loads, table, failNext } = setup();
    owner.refusePersist = 95;
    failNext();
    await assert.rejects(table.load(SCRIPT));
    const r = await table.load(SCRIPT);
    assert.equal(r.owned, false);
    assert.match(r.note ?? '', /cannot keep a table for its owner/);
    assert.equal(loads.at(-1)!.split('\n')[0], `add table ${t}`);
    assert.deepEqual(await table.load(SCRIPT), { owned: false });
    assert.equal(owner.calls.filter((c) => c.startsWith('create')).length, 1, 'asked once');
  });
});

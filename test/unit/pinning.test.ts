// nft/, host/ and types/: the pure parts of connection pinning. Marks spread over the mask, the
// nftables script, conntrack listings, and nftables table events.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  emptyingCommands,
  expectedShape,
  nftEventStep,
  nftString,
  type PinningCause,
  pinningRetry,
  pinningRuleset,
  pinningStep,
  stillLoaded,
} from '../../src/nft/index.js';
import { tableEvent } from '../../src/nft/index.js';
import { markCapacity, uplinkMark } from '../../src/types/layout.js';

describe('marks', () => {
  it('spread index + 1 over the mask, lowest bit first', () => {
    const table: [number, number, number | undefined][] = [
      [0x3f00, 0, 0x100],
      [0x3f00, 1, 0x200],
      [0x3f00, 2, 0x300],
      [0x3f00, 62, 0x3f00],
      [0x3f00, 63, undefined], // 6 bits: 63 uplinks
      [0x0a, 0, 0x2], // bits 1 and 3
      [0x0a, 1, 0x8],
      [0x0a, 2, 0xa],
      [0x80000000, 0, 0x80000000],
    ];
    for (const [mask, index, mark] of table) assert.equal(uplinkMark(mask, index), mark, `mask ${mask.toString(16)} index ${index}`);
    assert.deepEqual([markCapacity(0x3f00), markCapacity(0x100), markCapacity(0xff0000)], [63, 1, 255]);
  });
});

describe('the pinning table', () => {
  const spec = {
    markMask: 0x3f00,
    uplinks: [
      { name: 'fiber', interface: 'wan1', mark: 0x100 },
      { name: 'lte', interface: 'wwan0', mark: 0x200, passive: true },
    ],
    tcpTargets: [{ family: 4 as const, address: '198.51.100.11', port: 443 }],
  };

  it('fills the table without declaring it, and touches only the mask bits', () => {
    const lines = pinningRuleset(spec).split('\n');
    const t = 'inet uplinkd';
    // A declaration would carry flags 0, which the kernel refuses for a persistent table.
    assert.ok(!lines.some((l) => /^(add |create )?table /.test(l)), 'the table itself is not declared');
    assert.ok(lines.includes(`add rule ${t} prerouting iifname { "wan1", "wwan0" } return`), 'replies from an uplink are not marked');
    assert.ok(lines.includes(`add rule ${t} prerouting ct mark and 0x3f00 == 0x200 meta mark set meta mark and 0xffffc0ff or 0x200`));
    assert.ok(lines.includes(`add rule ${t} postrouting ct state != new return`));
    assert.ok(
      lines.includes(`add rule ${t} postrouting ip daddr . tcp dport { 198.51.100.11 . 443 } fib saddr type local return`),
      "TCP heartbeats are not pinned, a LAN host's connection to the same target is",
    );
    assert.ok(lines.includes(`add rule ${t} postrouting oifname "wwan0" counter name "new_lte" ct mark set ct mark and 0xffffc0ff or 0x200`));
    // Restores in prerouting and output, one each per uplink, after a fast exit for the unpinned.
    assert.equal(lines.filter((l) => / (prerouting|output) ct mark and 0x3f00 == 0x100 /.test(l)).length, 2);
    assert.equal(lines.filter((l) => / (prerouting|output) ct mark and 0x3f00 == 0 return$/.test(l)).length, 2);
    // Counters come before the rules that name them.
    assert.ok(lines.indexOf(`add counter ${t} new_lte`) < lines.findIndex((l) => l.includes('"new_lte"')));
    // The passive signal: the users' packets each way, first in their chains (ICMP, the
    // heartbeats' protocol, left out), counted in chains of their own that let the TCP
    // heartbeats by, per interface through one map lookup.
    const pre = lines.findIndex((l) => l.startsWith(`add rule ${t} prerouting`));
    assert.equal(lines[pre], `add rule ${t} prerouting meta l4proto != { icmp, ipv6-icmp } ct direction reply jump passive_rx`);
    const post = lines.findIndex((l) => l.startsWith(`add rule ${t} postrouting`));
    assert.equal(lines[post], `add rule ${t} postrouting meta l4proto != { icmp, ipv6-icmp } ct direction original jump passive_tx`);
    assert.deepEqual(
      lines.filter((l) => / passive_(rx|tx) /.test(l) && !l.includes('jump')),
      [
        `add rule ${t} passive_rx ip saddr . tcp sport { 198.51.100.11 . 443 } fib daddr type local return`,
        `add rule ${t} passive_rx counter name iifname map { "wan1" : "rx_fiber", "wwan0" : "rx_lte" }`,
        `add rule ${t} passive_rx iifname { "wan1", "wwan0" } update @passive_answered { iifname timeout 50ms }`,
        `add rule ${t} passive_tx ip daddr . tcp dport { 198.51.100.11 . 443 } fib saddr type local return`,
        `add rule ${t} passive_tx counter name oifname map { "wan1" : "tx_fiber", "wwan0" : "tx_lte" }`,
        // The wake-up, for the passive uplink only: sent within 50 ms, answered not.
        `add rule ${t} passive_tx oifname "wwan0" oifname @passive_sending oifname != @passive_answered limit rate 5/second log group 30517`,
        `add rule ${t} passive_tx oifname { "wan1", "wwan0" } update @passive_sending { oifname timeout 50ms }`,
      ],
    );
    assert.ok(lines.indexOf(`add set ${t} passive_sending { type ifname; flags timeout; }`) < lines.findIndex((l) => l.includes('@passive_sending')));
    assert.ok(lines.indexOf(`add chain ${t} passive_rx`) < pre && lines.indexOf(`add counter ${t} rx_lte`) < lines.indexOf(`add chain ${t} passive_rx`));
  });

  it('empties what the table holds now, rules first, in front of the new contents', () => {
    assert.deepEqual(emptyingCommands({ chains: ['prerouting', 'output'], counters: ['new_old'], sets: ['passive_sending'], rules: 4 }), [
      'flush table inet uplinkd',
      'delete chain inet uplinkd prerouting',
      'delete chain inet uplinkd output',
      'delete counter inet uplinkd new_old',
      'delete set inet uplinkd passive_sending',
    ]);
    assert.deepEqual(emptyingCommands({ chains: [], counters: [], rules: 0 }), ['flush table inet uplinkd']);
  });

  // Issue 26: bare, `a@b` reads as a set reference and `eth*` as a wildcard; a quote ends the string.
  it('quotes every interface name, "@" and all, and refuses what config/ refuses', () => {
    const odd = { ...spec, uplinks: [{ name: 'fiber', interface: 'a.b_c-d@e0', mark: 0x100, passive: true }] };
    const lines = pinningRuleset(odd).split('\n');
    const naming = lines.filter((l) => l.includes('a.b_c-d@e0'));
    // The passive chains' counter maps and set updates (2 each), the wake-up, prerouting's exit, postrouting's mark.
    assert.equal(naming.length, 7, naming.join('\n'));
    for (const l of naming) assert.ok(!/(^|[^"])a\.b_c-d@e0/.test(l) && !/a\.b_c-d@e0[^"]/.test(l), `quoted in: ${l}`);
    assert.ok(lines.includes('add rule inet uplinkd prerouting iifname { "a.b_c-d@e0" } return'));
    assert.ok(lines.includes('add rule inet uplinkd passive_rx counter name iifname map { "a.b_c-d@e0" : "rx_fiber" }'));
    assert.equal(nftString('wan1'), '"wan1"');
    assert.equal(nftString('AZaz09._-@'), '"AZaz09._-@"');
    for (const bad of ['eth*', 'a"}drop#', 'a\0b', 'a\nb', 'a b', '', '.', '..', 'abcdefghijklmnop', 'é']) {
      assert.throws(() => nftString(bad), /cannot go into the nftables ruleset/, JSON.stringify(bad));
      const broken = { ...spec, uplinks: [{ name: 'fiber', interface: bad, mark: 0x100 }] };
      assert.throws(() => pinningRuleset(broken), /cannot go into the nftables ruleset/, JSON.stringify(bad));
    }
  });

  it('empties objects by handle when the listing gives one (a name made by hand may be a keyword or hold a quote)', () => {
    assert.deepEqual(
      emptyingCommands({
        chains: [{ name: 'counter', handle: 7 }, { name: 'we ird"x', handle: 8 }, 'postrouting'],
        counters: [{ name: 'c;x', handle: 9 }],
        sets: [{ name: 'passive_sending', handle: 3 }],
        rules: 0,
      }),
      [
        'flush table inet uplinkd',
        'delete chain inet uplinkd handle 7',
        'delete chain inet uplinkd handle 8',
        'delete chain inet uplinkd postrouting',
        'delete counter inet uplinkd handle 9',
        'delete set inet uplinkd handle 3',
      ],
    );
    assert.throws(() => emptyingCommands({ chains: ['we ird'], counters: [], rules: 0 }), /cannot delete chain "we ird".*no handle/);
  });

  it('knows its own shape, so a changed table is seen', () => {
    // The passive chains: the TCP heartbeats' exit, the counting rule and the wake-up's set
    // update each, a jump to each, a wake-up rule for the passive uplink; iifname; per
    // restoring chain a fast exit and one rule an uplink; postrouting's two exits, the TCP
    // heartbeats, one rule an uplink. Three counters an uplink: new connections, and the
    // users' packets each way. The wake-up's two sets.
    assert.deepEqual(expectedShape(spec), { chains: 5, rules: 21, counters: 6, sets: 2 });
    // And the script it loads has that shape.
    const lines = pinningRuleset(spec).split('\n');
    const count = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).length;
    assert.deepEqual([count('add chain '), count('add rule '), count('add counter '), count('add set ')], [5, 21, 6, 2]);
  });
});

describe('nftables table events', () => {
  const msg = (family: number, name: string): Buffer => {
    const value = Buffer.from(`${name}\0`);
    const attr = Buffer.alloc((4 + value.length + 3) & ~3);
    attr.writeUInt16LE(4 + value.length, 0);
    attr.writeUInt16LE(1, 2); // NFTA_TABLE_NAME
    value.copy(attr, 4);
    return Buffer.concat([Buffer.from([family, 0, 0, 0]), attr]);
  };
  it('tell the deletion and creation of inet uplinkd from everything else', () => {
    const NEW = (10 << 8) | 0;
    const DEL = (10 << 8) | 2;
    assert.equal(tableEvent(DEL, msg(1, 'uplinkd'), 'uplinkd'), 'deleted');
    assert.equal(tableEvent(NEW, msg(1, 'uplinkd'), 'uplinkd'), 'created');
    assert.equal(tableEvent(DEL, msg(1, 'lab'), 'uplinkd'), undefined, 'another table');
    assert.equal(tableEvent(DEL, msg(2, 'uplinkd'), 'uplinkd'), undefined, 'ip, not inet');
    assert.equal(tableEvent((10 << 8) | 8, msg(1, 'uplinkd'), 'uplinkd'), undefined, 'a rule message');
    assert.equal(tableEvent((11 << 8) | 2, msg(1, 'uplinkd'), 'uplinkd'), undefined, 'another subsystem');
  });
});

describe('keeping the table loaded (nft/keeping.ts)', () => {
  const rows: [string, PinningCause, string, string | undefined, ReturnType<typeof pinningStep>][] = [
    ['start, nothing loaded: load', 'start', 'A', undefined, 'load'],
    ['start, the same script in: nothing', 'start', 'A', 'A', 'none'],
    ['reload to another script: load', 'reload', 'B', 'A', 'load'],
    ['reload to the same script: look whether the table is still it', 'reload', 'A', 'A', 'look'],
    ['an nftables event: look', 'check', 'A', 'A', 'look'],
    ['the table deleted: restore without a look', 'deleted', 'A', 'A', 'restore'],
  ];
  for (const [what, why, script, loaded, want] of rows) it(what, () => assert.equal(pinningStep(why, script, loaded), want));

  it('a look: the table is kept only with the shape and the script last loaded', () => {
    const shape = { chains: 5, rules: 18, counters: 6, sets: 2 };
    assert.equal(stillLoaded(shape, shape, 'A', 'A'), true);
    assert.equal(stillLoaded({ ...shape, rules: 17 }, shape, 'A', 'A'), false, 'a rule deleted by hand');
    assert.equal(stillLoaded(undefined, shape, 'A', 'A'), false, 'gone');
    assert.equal(stillLoaded(shape, shape, 'B', 'A'), false, 'another script wanted (other marks, same shape)');
  });

  it('retries: 1 s doubling to a minute; a failed start is retried as a reload', () => {
    assert.deepEqual(
      [0, 1, 2, 5, 6, 7, 20].map((n) => pinningRetry('check', n).inMs),
      [1000, 2000, 4000, 32_000, 60_000, 60_000, 60_000],
    );
    assert.deepEqual([pinningRetry('start', 0).why, pinningRetry('reload', 0).why, pinningRetry('deleted', 3).why], ['reload', 'reload', 'deleted']);
  });

  const events: [string, boolean, number, number, boolean, ReturnType<typeof nftEventStep>][] = [
    ['deleted: restored at once', true, 1000, -Infinity, false, 'restore'],
    ['deleted again within 50 ms of the last restore: looked at once the window ends', true, 1040, 1000, false, 'debounce'],
    ['deleted 51 ms after the last restore: restored at once', true, 1051, 1000, false, 'restore'],
    ['changed: looked at after the window', false, 1000, -Infinity, false, 'debounce'],
    ['changed while a look is due: nothing more', false, 1010, -Infinity, true, 'none'],
  ];
  for (const [what, deleted, now, last, debouncing, want] of events)
    it(`nftables event: ${what}`, () => assert.equal(nftEventStep(deleted, now, last, debouncing), want));
});

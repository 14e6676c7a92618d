// link/snapshot: the changes between two interface snapshots, read as describeChange's
// sentences: vanished before appeared, then per interface admin, carrier, addresses gained
// (in the new order) and lost (in the old). A new ifindex under the same name is a new NIC.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeChange, diffSnapshots, type LinkAddress, type LinkInfo, type LinkSnapshot } from '../../src/types/link.js';

const V4: LinkAddress = { family: 4, prefix: '100.64.1.2/24', global: true };
const V6: LinkAddress = { family: 6, prefix: '2001:db8:1::2/64', global: true };
const LL: LinkAddress = { family: 6, prefix: 'fe80::1/64', global: false };

const nic = (name: string, index: number, more: Partial<LinkInfo> = {}): LinkInfo => ({ index, name, adminUp: true, carrier: true, addresses: [V4], ...more });
const snap = (...links: LinkInfo[]): LinkSnapshot => new Map(links.map((l) => [l.name, l]));

describe('link snapshot changes', () => {
  const rows: [string, LinkSnapshot, LinkSnapshot, string[]][] = [
    ['nothing changed', snap(nic('wan1', 3)), snap(nic('wan1', 3)), []],
    ['from nothing', snap(), snap(nic('wan1', 3), nic('wan2', 4)), ['interface wan1 appeared (ifindex 3)', 'interface wan2 appeared (ifindex 4)']],
    ['an interface appeared', snap(nic('wan1', 3)), snap(nic('wan1', 3), nic('wan2', 5)), ['interface wan2 appeared (ifindex 5)']],
    ['an interface vanished', snap(nic('wan1', 3), nic('wan2', 5)), snap(nic('wan1', 3)), ['interface wan2 vanished']],
    [
      'deleted and created again: a new ifindex',
      snap(nic('wan1', 3)),
      snap(nic('wan1', 9, { carrier: false })),
      ['interface wan1 vanished', 'interface wan1 appeared (ifindex 9)'],
    ],
    ['admin down', snap(nic('wan1', 3)), snap(nic('wan1', 3, { adminUp: false })), ['wan1 is admin down']],
    ['admin up', snap(nic('wan1', 3, { adminUp: false })), snap(nic('wan1', 3)), ['wan1 is admin up']],
    ['carrier lost', snap(nic('wan1', 3)), snap(nic('wan1', 3, { carrier: false })), ['carrier lost on wan1']],
    ['carrier gained', snap(nic('wan1', 3, { carrier: false })), snap(nic('wan1', 3)), ['carrier gained on wan1']],
    [
      'admin and carrier down together: admin first',
      snap(nic('wan1', 3)),
      snap(nic('wan1', 3, { adminUp: false, carrier: false })),
      ['wan1 is admin down', 'carrier lost on wan1'],
    ],
    ['an IPv6 address gained', snap(nic('wan1', 3)), snap(nic('wan1', 3, { addresses: [V4, V6] })), ['wan1 gained address 2001:db8:1::2/64']],
    [
      'every address lost',
      snap(nic('wan1', 3, { addresses: [V4, LL] })),
      snap(nic('wan1', 3, { addresses: [] })),
      ['wan1 lost address 100.64.1.2/24', 'wan1 lost address fe80::1/64'],
    ],
    ['the same addresses in another order: nothing', snap(nic('wan1', 3, { addresses: [V4, V6] })), snap(nic('wan1', 3, { addresses: [V6, V4] })), []],
    [
      'a new prefix length is a new address: gained first',
      snap(nic('wan1', 3)),
      snap(nic('wan1', 3, { addresses: [{ family: 4, prefix: '100.64.1.2/25', global: true }] })),
      ['wan1 gained address 100.64.1.2/25', 'wan1 lost address 100.64.1.2/24'],
    ],
    [
      'two interfaces: vanished first, then each in the new order',
      snap(nic('wan1', 3), nic('wan2', 4), nic('wan3', 5)),
      snap(nic('wan2', 4, { carrier: false }), nic('wan4', 6), nic('wan1', 3, { addresses: [] })),
      ['interface wan3 vanished', 'carrier lost on wan2', 'interface wan4 appeared (ifindex 6)', 'wan1 lost address 100.64.1.2/24'],
    ],
  ];
  for (const [what, before, after, want] of rows) {
    it(what, () => assert.deepEqual(diffSnapshots(before, after).map(describeChange), want));
  }

  it('changes carry what the daemon acts on', () => {
    assert.deepEqual(diffSnapshots(snap(nic('wan1', 3)), snap(nic('wan1', 9, { adminUp: false, addresses: [V6] }))), [
      { kind: 'vanished', name: 'wan1', index: 3 },
      { kind: 'appeared', name: 'wan1', index: 9 },
    ]);
    assert.deepEqual(diffSnapshots(snap(nic('wan1', 3)), snap(nic('wan1', 3, { carrier: false, addresses: [V6] }))), [
      { kind: 'carrier', name: 'wan1', up: false },
      { kind: 'address', name: 'wan1', added: true, prefix: '2001:db8:1::2/64' },
      { kind: 'address', name: 'wan1', added: false, prefix: '100.64.1.2/24' },
    ]);
  });
});

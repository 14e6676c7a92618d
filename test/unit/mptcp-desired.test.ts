// track/: the MPTCP endpoints uplinkd wants, from a tracking driven through the reducer (as in
// track.test.ts) and a link snapshot: IDs by uplink and family, roles, addresses, limits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import type { LinkInfo } from '../../src/types/link.js';
import { upLink } from '../../src/link/index.js';
import type { DesiredMptcp } from '../../src/types/mptcp.js';
import { initialTracking, type Tracking, track } from '../../src/track/index.js';
import { desiredMptcp } from '../../src/track/kernel-sync.js';

// lte has a gateway6 but no IPv6 address; dsl routes no IPv6 at all.
const THREE = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, gateway6: "2001:db8:1::1", priority: 1, targets: [icmp: 198.51.100.10] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
  - { name: lte, interface: wan3, gateway: 100.64.3.1, gateway6: "2001:db8:3::1", priority: 3, targets: [icmp: 198.51.100.10] }
probe: { up: 1, down: 1 }
mptcp: {}
`;

const WAN1: LinkInfo = {
  ...upLink('wan1', 11, '100.64.1.2/24'),
  addresses: [...upLink('wan1', 11, '100.64.1.2/24').addresses, { family: 6, prefix: '2001:db8:1::2/64', global: true }],
};
const SNAPSHOT = new Map([WAN1, upLink('wan2', 12, '100.64.2.2/24'), upLink('wan3', 13, '100.64.3.2/24')].map((l) => [l.name, l]));

function session(yaml = THREE) {
  const parsed = parseConfig(yaml);
  assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
  let t: Tracking = track(initialTracking(parsed.config), { kind: 'start', snapshot: SNAPSHOT }, { wall: 0, mono: 0 }).state;
  let seq = 0;
  let ms = 0;
  /** One round of `uplink`'s only heartbeat, a second after the last. */
  const round = (uplink: string, ok: boolean): void => {
    ms += 1000;
    const target = 'icmp 198.51.100.10';
    const results = [ok ? { target, ok: true, rttMs: 2 } : { target, ok: false, error: 'timeout' }];
    t = track(t, { kind: 'round', uplink, round: { seq: ++seq, startedAt: ms, results } }, { wall: ms, mono: ms }).state;
  };
  const desired = (): DesiredMptcp => desiredMptcp(t, SNAPSHOT, t.config.mptcp!);
  const lines = (): string[] => desired().endpoints.map((e) => `${e.id} ${e.uplink} ${e.interface} ${e.address}${e.backup ? ' backup' : ''}`);
  return { round, desired, lines };
}

describe('desiredMptcp', () => {
  it('IDs from id_base + 2 x index (+1 for IPv6); only where the uplink has an address and a next hop', () => {
    const s = session();
    for (const u of ['fiber', 'dsl', 'lte']) s.round(u, true);
    assert.deepEqual(s.lines(), [
      '100 fiber wan1 100.64.1.2',
      '102 dsl wan2 100.64.2.2 backup',
      '104 lte wan3 100.64.3.2 backup',
      '101 fiber wan1 2001:db8:1::2',
    ]);
    assert.deepEqual(s.desired().ids, [100, 105]);
    assert.equal(s.desired().subflows, 3);
  });

  it('before any verdict (a restart): none added, every one the kernel has kept as it is', () => {
    assert.deepEqual(session().lines(), []);
    assert.deepEqual(session().desired().kept, [100, 102, 104, 101, 105]);
  });

  it('a lost uplink while another is up has no endpoint, in either family; recovered, it is backup through the hold', () => {
    const s = session();
    for (const u of ['fiber', 'dsl', 'lte']) s.round(u, true);
    s.round('fiber', false);
    assert.deepEqual(s.lines(), ['102 dsl wan2 100.64.2.2', '104 lte wan3 100.64.3.2 backup']);
    // Back up: in the failback hold it returns as backup, the data staying on dsl.
    s.round('fiber', true);
    assert.deepEqual(s.lines(), [
      '100 fiber wan1 100.64.1.2 backup',
      '102 dsl wan2 100.64.2.2',
      '104 lte wan3 100.64.3.2 backup',
      '101 fiber wan1 2001:db8:1::2 backup',
    ]);
  });

  it('every uplink lost, one after the other: only the last carrier keeps its endpoint', () => {
    const s = session();
    for (const u of ['fiber', 'dsl', 'lte']) s.round(u, true);
    for (const u of ['fiber', 'dsl', 'lte']) s.round(u, false);
    assert.deepEqual(s.lines(), ['104 lte wan3 100.64.3.2']);
  });

  it('limits subflows: one per uplink, at most 8; the ID range from id_base', () => {
    const eight = Array.from({ length: 8 }, (_, i) => `  - { name: u${i}, interface: eth${i}, gateway: 100.64.${i}.1, targets: [icmp: 198.51.100.10] }\n`).join(
      '',
    );
    const d = session(`uplinks:\n${eight}mptcp: { id_base: 10 }\n`).desired();
    assert.equal(d.subflows, 8);
    assert.deepEqual(d.ids, [10, 25]);
    assert.deepEqual(d.endpoints, [], 'no eth* in the snapshot: no address, no endpoint');
  });
});

// steer/: which uplinks carry new flows, as tables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { adoptedSteering, desiredRoutes, isLoss, percentShares, pinRuleFor, steer, uplinkRoutes, type SteerUplink } from '../../src/steer/index.js';
import type { UplinkState } from '../../src/types/index.js';

const U = (name: string, priority: number, state: UplinkState, weight = 1): SteerUplink => ({ name, priority, weight, state });

describe('steer', () => {
  const table: { name: string; uplinks: SteerUplink[]; active: string[] }[] = [
    { name: 'the preferred tier gets everything', uplinks: [U('fiber', 1, 'up'), U('dsl', 2, 'up')], active: ['fiber 100'] },
    { name: 'a down primary hands over to the backup', uplinks: [U('fiber', 1, 'down'), U('dsl', 2, 'up')], active: ['dsl 100'] },
    { name: 'init is not up', uplinks: [U('fiber', 1, 'init'), U('dsl', 2, 'up')], active: ['dsl 100'] },
    { name: 'equal priority shares by weight', uplinks: [U('a', 1, 'up', 3), U('b', 1, 'up', 1), U('c', 2, 'up')], active: ['a 75', 'b 25'] },
    { name: 'a down member leaves its tier', uplinks: [U('a', 1, 'up', 3), U('b', 1, 'down', 1)], active: ['a 100'] },
    { name: 'the third tier when two are down', uplinks: [U('a', 1, 'down'), U('b', 2, 'down'), U('c', 3, 'up')], active: ['c 100'] },
    { name: 'degraded carries nothing while any tier is up', uplinks: [U('a', 1, 'degraded'), U('b', 2, 'up')], active: ['b 100'] },
    { name: 'degraded carries traffic when no uplink is up', uplinks: [U('a', 1, 'degraded'), U('b', 2, 'down'), U('c', 3, 'degraded')], active: ['a 100'] },
    { name: 'priorities need not be contiguous', uplinks: [U('a', 10, 'up'), U('b', 5, 'down'), U('c', 7, 'up')], active: ['c 100'] },
  ];
  for (const row of table) {
    it(row.name, () => {
      const s = steer(row.uplinks);
      assert.deepEqual(
        s.active.map((a) => `${a.uplink} ${a.share}`),
        row.active,
      );
      assert.equal(s.allDown, false);
    });
  }

  it('keeps the last choice when every uplink is down, and says so', () => {
    const before = steer([U('fiber', 1, 'down'), U('dsl', 2, 'up')]);
    const after = steer([U('fiber', 1, 'down'), U('dsl', 2, 'down')], before);
    assert.deepEqual(after.active, before.active);
    assert.equal(after.allDown, true);
    assert.match(after.reason, /no uplink is up: keeping the last routes \(dsl\)/);
  });

  it('chooses nothing before any uplink was up', () => {
    const s = steer([U('fiber', 1, 'init'), U('dsl', 2, 'down')]);
    assert.deepEqual(s.active, []);
    assert.equal(s.allDown, false);
  });

  it('percent shares always sum to 100', () => {
    for (const w of [[1, 1, 1], [1, 2], [7, 7, 7, 7, 7, 7], [256, 1], [1]]) {
      assert.equal(
        percentShares(w).reduce((a, b) => a + b, 0),
        100,
        String(w),
      );
    }
    assert.deepEqual(percentShares([1, 1, 1]), [34, 33, 33]);
  });
});

describe('desired routes', () => {
  const result = parseConfig(`
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, gateway6: 2001:db8:1::1, targets: [icmp: 198.51.100.10] }
  - { name: lte, interface: wwan0, gateway: 100.64.2.1, targets: [icmp: 198.51.100.10] }
  - { name: vpn, interface: tun0, priority: 2, targets: [icmp: 198.51.100.10] }
routing: { table: 100 }
`);
  assert.ok(result.ok);
  const config = result.config;

  it('one multipath route per destination, IPv6 only through uplinks with gateway6', () => {
    const both = steer([U('fiber', 1, 'up'), U('lte', 1, 'up'), U('vpn', 2, 'up')]);
    const routes = desiredRoutes(config, { 4: both, 6: both });
    assert.deepEqual(
      routes.map((r) => `${r.destination.prefix} ${r.nexthops.map((n) => `${n.interface}:${n.gateway}`).join(',')}`),
      ['0.0.0.0/0 wan1:100.64.1.1,wwan0:100.64.2.1', '::/0 wan1:2001:db8:1::1'],
    );
  });

  it('a point-to-point uplink routes via its device for both families', () => {
    const vpn = steer([U('fiber', 1, 'down'), U('lte', 1, 'down'), U('vpn', 2, 'up')]);
    const routes = desiredRoutes(config, { 4: vpn, 6: vpn });
    assert.deepEqual(
      routes.map((r) => `${r.destination.prefix} ${r.nexthops[0]!.interface} ${r.nexthops[0]!.gateway ?? 'dev'}`),
      ['0.0.0.0/0 tun0 dev', '::/0 tun0 dev'],
    );
  });

  it('each family follows its own steering: IPv6 moves while IPv4 stays', () => {
    const v4 = steer([U('fiber', 1, 'up'), U('lte', 1, 'down'), U('vpn', 2, 'up')]);
    const v6 = steer([U('fiber', 1, 'down'), U('lte', 1, 'down'), U('vpn', 2, 'up')]);
    const routes = desiredRoutes(config, { 4: v4, 6: v6 });
    assert.deepEqual(
      routes.map((r) => `${r.destination.prefix} ${r.nexthops.map((n) => n.interface).join(',')}`),
      ['0.0.0.0/0 wan1', '::/0 tun0'],
    );
  });

  it('each uplink gets its own table for its heartbeats', () => {
    assert.deepEqual(
      uplinkRoutes(config).map((r) => `${r.table} ${r.destination.prefix} ${r.nexthops[0]!.interface}`),
      ['1100 0.0.0.0/0 wan1', '1100 ::/0 wan1', '1101 0.0.0.0/0 wwan0', '1102 0.0.0.0/0 tun0', '1102 ::/0 tun0'],
    );
  });
});

describe('adoptedSteering', () => {
  it("sums a group's two members per uplink, leaves out a draining one, and ignores an empty route", () => {
    const s = adoptedSteering([
      { uplink: 'fiber', weight: 254 },
      { uplink: 'fiber', weight: 254 },
      { uplink: 'dsl', weight: 1 },
      { uplink: 'dsl', weight: 1 },
    ]);
    assert.deepEqual(s?.active, [{ uplink: 'fiber', weight: 254, share: 100 }]);
    assert.deepEqual(
      adoptedSteering([
        { uplink: 'fiber', weight: 28 },
        { uplink: 'fiber', weight: 28 },
        { uplink: 'dsl', weight: 254 },
        { uplink: 'dsl', weight: 254 },
      ])?.active,
      [
        { uplink: 'fiber', weight: 28, share: 10 },
        { uplink: 'dsl', weight: 254, share: 90 },
      ],
    );
    assert.equal(adoptedSteering([]), undefined);
  });
});

describe('pinned connections and losses, per state', () => {
  it("keeps an uplink's connections while it works, lets them go when it is lost, leaves them in init", () => {
    const table: [UplinkState, string, boolean][] = [
      ['up', 'on', false],
      ['degraded', 'on', true],
      ['init', 'as-is', false],
      ['down', 'off', true],
      ['detached', 'off', true],
    ];
    for (const [state, rule, loss] of table) {
      assert.equal(pinRuleFor(state), rule, `${state}: rule`);
      assert.equal(isLoss(state), loss, `${state}: a loss`);
    }
  });
});

// steer/: which uplinks carry new flows, as tables.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import {
  adoptedSteering,
  cancelFailback,
  desiredRoutes,
  isLoss,
  type OverrideKind,
  percentShares,
  pinRuleFor,
  type SteerState,
  steer,
  steeringCause,
  type SteerUplink,
  uplinkRoutes,
  withOverrides,
} from '../../src/steer/index.js';
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

describe('steer: operator overrides bend the input', () => {
  const up = (name: string, priority: number, state: UplinkState = 'up'): SteerUplink => ({ name, priority, weight: 1, state });
  const rows: [string, SteerUplink[], [string, OverrideKind][], string, string][] = [
    ['no override: as given', [up('fiber', 1), up('dsl', 2)], [], 'fiber:1:up dsl:2:up', ''],
    ['drained while another answers: steered as down', [up('fiber', 1), up('dsl', 2)], [['fiber', 'drain']], 'fiber:1:down dsl:2:up', 'drained: fiber'],
    [
      'drained, but the only one that answers: carries on',
      [up('fiber', 1), up('dsl', 2, 'down')],
      [['fiber', 'drain']],
      'fiber:1:up dsl:2:down',
      'drained but no other uplink answers: fiber',
    ],
    [
      'two drained: neither is "another uplink" for the other',
      [up('fiber', 1), up('dsl', 2)],
      [
        ['fiber', 'drain'],
        ['dsl', 'drain'],
      ],
      'fiber:1:up dsl:2:up',
      'drained but no other uplink answers: fiber, dsl',
    ],
    [
      'preferred: above every tier, its state as it is',
      [up('fiber', 1), up('dsl', 2, 'init')],
      [['dsl', 'prefer']],
      'fiber:1:up dsl:-1:init',
      'preferred: dsl',
    ],
  ];
  for (const [what, uplinks, overrides, want, note] of rows) {
    it(what, () => {
      const r = withOverrides(uplinks, new Map(overrides));
      assert.equal(r.uplinks.map((u) => `${u.name}:${u.priority}:${u.state}`).join(' '), want);
      assert.equal(r.note, note);
    });
  }
});

describe('steer: why the steering changed', () => {
  const st = (active: [string, number][], extra: Partial<SteerState> = {}, allDown = false): SteerState => ({
    steering: { active: active.map(([uplink, share]) => ({ uplink, share, weight: share })), allDown, reason: '' },
    ...extra,
  });
  const fb = { to: st([['fiber', 100]]).steering, from: st([['dsl', 100]]).steering, holdUntil: 0 };
  // lte stopped answering; fiber and dsl answer.
  const answering = new Set(['fiber', 'dsl']);
  const rows: [string, SteerState, SteerState, string][] = [
    ['nothing answers any more', st([['dsl', 100]]), st([['dsl', 100]], {}, true), 'all-down'],
    ['out of all-down', st([['fiber', 100]], {}, true), st([['dsl', 100]]), 'steering'],
    ['the carrying uplink was lost', st([['lte', 100]]), st([['dsl', 100]]), 'failover'],
    [
      'a step of the failback',
      st([['dsl', 100]], { failback: fb }),
      st(
        [
          ['fiber', 10],
          ['dsl', 90],
        ],
        { failback: fb },
      ),
      'failback-step',
    ],
    [
      'the failback done',
      st(
        [
          ['fiber', 50],
          ['dsl', 50],
        ],
        { failback: fb },
      ),
      st([['fiber', 100]]),
      'failback-done',
    ],
    ['a first verdict', st([]), st([['dsl', 100]]), 'steering'],
  ];
  for (const [what, before, after, want] of rows) {
    it(what, () =>
      assert.equal(
        steeringCause(before, after, (u) => answering.has(u)),
        want,
      ),
    );
  }

  it('an operator drops a failback under way, keeping a pending drain', () => {
    const drain = { at: 90_000, uplinks: ['dsl'] };
    assert.deepEqual(cancelFailback(st([['dsl', 100]], { failback: fb, nextAt: 5000, drain })), st([['dsl', 100]], { drain, nextAt: 90_000 }));
    const plain = st([['fiber', 100]]);
    assert.equal(cancelFailback(plain), plain);
  });
});

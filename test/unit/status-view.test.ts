// status/view: `uplinkd status` from tracked state and a kernel read-back, with no I/O: the
// summary state is the best family's, disagreeing families are both named, one uplink named
// twice in a route adds up, new-flow shares are of the counted total, and what the kernel
// could not tell is null.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { INITIAL_PASSIVE, SampleWindow, type Health } from '../../src/health/index.js';
import { statusView, type KernelReadback, type ShownUplink } from '../../src/status/view.js';
import { NO_DAMPING, NO_STEERING, type FamilySteering } from '../../src/steer/index.js';
import type { Family } from '../../src/types/index.js';

const parsed = parseConfig(`uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, gateway6: "fe80::1", targets: [icmp: 198.51.100.10, icmp: "2001:db8::10"] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
`);
assert.ok(parsed.ok);
const config = parsed.config;
const T0 = Date.parse('2026-11-21T10:00:00Z');

function health(state: Health['state'], reason: string): Health {
  return { state, since: T0, reason, goodStreak: 0, badStreak: 0 };
}

function tracked(i: number, states: [Family, Health][], rtts: (number | null)[]): ShownUplink {
  const u = config.uplinks[i]!;
  const windows = new Map(u.targets.map((t) => [t.label, new SampleWindow()]));
  windows.set(
    u.targets[0]!.label,
    rtts.reduce((w, r) => w.push(r), new SampleWindow()),
  );
  return { config: u, health: new Map(states), windows, last: new Map(), damping: NO_DAMPING, rtt: new Map(), passive: INITIAL_PASSIVE, learnt: {} };
}

const STEERING: FamilySteering = {
  4: { active: [{ uplink: 'dsl', weight: 1, share: 100 }], allDown: false, reason: 'dsl is the most preferred uplink that is up (priority 2)' },
  6: { ...NO_STEERING, reason: 'no uplink is up yet' },
};

const KERNEL: KernelReadback = {
  flows: new Map([
    ['fiber', 3],
    ['dsl', 7],
  ]),
  fresh: new Map([
    ['fiber', 1],
    ['dsl', 3],
  ]),
  routes: [
    {
      route: {
        family: 4,
        table: 100,
        prefix: '0.0.0.0/0',
        nexthops: [
          { ifindex: 12, weight: 1 },
          { ifindex: 12, weight: 2 },
          { ifindex: 11, weight: 1 },
        ],
      },
      interfaces: ['wan2', 'wan2', 'wan1'],
    },
  ],
  foreignRules: ['ip rule add pref 9899 unreachable'],
  refused: [],
  connected: [],
};

describe('status view', () => {
  const fiber = tracked(
    0,
    [
      [4, health('down', '3 failed rounds')],
      [6, health('up', '5 good rounds')],
    ],
    [1, null, 3, null],
  );
  const dsl = tracked(1, [[4, health('up', '5 good rounds')]], [2]);
  const s = statusView(config, [fiber, dsl], STEERING, KERNEL, 0);

  it('an uplink shows its best family, and names both when they disagree', () => {
    const f = s.uplinks[0]!;
    assert.equal(f.state, 'up');
    assert.equal(f.reason, 'IPv4 down: 3 failed rounds; IPv6 up: 5 good rounds');
    assert.deepEqual(
      f.families.map((x) => [x.family, x.state, x.weight]),
      [
        ['ipv4', 'down', 0],
        ['ipv6', 'up', 0],
      ],
    );
    assert.equal(s.uplinks[1]!.reason, '5 good rounds');
  });

  it('weight is the share of new flows steered to it; flows and new flows come from the kernel', () => {
    assert.deepEqual(
      s.uplinks.map((u) => [u.name, u.weight, u.flows, u.new_flows, u.new_flows_pct]),
      [
        ['fiber', 0, 3, 1, 25],
        ['dsl', 100, 7, 3, 75],
      ],
    );
  });

  it('RTT and loss over every heartbeat in the windows', () => {
    // fiber: 1, lost, 3, lost in its first target's window; its IPv6 target has none.
    assert.equal(s.uplinks[0]!.rtt_ms, 2);
    assert.equal(s.uplinks[0]!.loss_pct, 50);
  });

  it('a route naming one uplink twice adds its weights: wan2 1 + 2 of 4, wan1 1 of 4', () => {
    assert.deepEqual(s.routes, [
      {
        destination: '0.0.0.0/0',
        table: 100,
        nexthops: [
          { uplink: 'dsl', weight: 75 },
          { uplink: 'fiber', weight: 25 },
        ],
      },
    ]);
  });

  it('families that disagree on steering are both named; kernel findings pass through', () => {
    assert.equal(s.steering.reason, 'IPv4: dsl is the most preferred uplink that is up (priority 2); IPv6: no uplink is up yet');
    assert.equal(s.steering.all_down, false);
    assert.deepEqual(s.kernel, { refused: [], foreign_rules: ['ip rule add pref 9899 unreachable'], connected_routes: [] });
  });

  it('what the kernel could not tell is null', () => {
    const blind = statusView(config, [fiber, dsl], STEERING, { ...KERNEL, flows: null, fresh: null }, 0);
    assert.deepEqual(
      blind.uplinks.map((u) => [u.flows, u.new_flows, u.new_flows_pct]),
      [
        [null, null, null],
        [null, null, null],
      ],
    );
  });
});

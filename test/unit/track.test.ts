// track/: every decision of the uplink-tracking reducer as a table row, on a fake clock: no
// sockets, no timers, no sleeps. Events go in, the new tracking and the effects (data) come out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffConfig, parseConfig } from '../../src/config/index.js';
import { type Health, INITIAL_PASSIVE, initialHealth } from '../../src/health/index.js';
import { upLink } from '../../src/link/index.js';
import type { LinkInfo } from '../../src/types/link.js';
import type { ApplyReport } from '../../src/types/routes.js';
import { NO_DAMPING } from '../../src/steer/index.js';
import { TrackSession, WALL0 } from './track-session.js';
import {
  drainPlan,
  type Effect,
  initialTracking,
  type ManagedRoute,
  steerInput,
  steeringOf,
  type TrackedUplink,
  type TrackEvent,
  type Tracking,
} from '../../src/track/index.js';
import type { Family, UplinkState } from '../../src/types/index.js';

const TWO = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, gateway6: "2001:db8:1::1", priority: 1, targets: [icmp: 198.51.100.10, icmp: 198.51.100.11] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, gateway6: "2001:db8:2::1", priority: 2, targets: [icmp: 198.51.100.10] }
probe: { up: 2, down: 2 }
routing: { table: 100, failback: { hold: 10s, steps: [50, 100], step_interval: 5s } }
`;

const LINKS: LinkInfo[] = [upLink('wan1', 11, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')];

/** A session with the reducer: events at fake times, the effects of each kept. */
class Session extends TrackSession {
  constructor(yaml = TWO, links: LinkInfo[] = LINKS) {
    super(yaml, links);
  }
  active(family: Family): string {
    return steeringOf(this.t)
      [family].active.map((a) => `${a.uplink} ${a.share}%`)
      .join(', ');
  }
}

const logs = (effects: readonly Effect[], event: string): Extract<Effect, { kind: 'log' }>[] =>
  effects.filter((e): e is Extract<Effect, { kind: 'log' }> => e.kind === 'log' && e.fields.event === event);

describe('track: stale and cut-short rounds', () => {
  // fiber goes up, its link vanishes at 10 s and comes back at 11 s (init, fresh from then on);
  // then two rounds as the row says. `up: 2`: two counted good rounds make it `up`.
  const rows: [string, number, (boolean | string)[], UplinkState][] = [
    ['rounds started after the return to init count', 11_000, [true, true], 'up'],
    ['rounds started before it (sent while the link was gone) are dropped', 10_800, [true, true], 'init'],
    ['a round with a heartbeat cut short by a rebind is dropped', 11_000, [true, 'closed'], 'init'],
  ];
  for (const [what, startedAt, answers, expected] of rows) {
    it(what, () => {
      const s = new Session();
      s.round('fiber', 1000, [true, true]);
      s.round('fiber', 2000, [true, true]);
      assert.equal(s.state('fiber'), 'up');
      s.links.splice(0, 1);
      s.send({ kind: 'links', changes: [{ kind: 'vanished', name: 'wan1', index: 11 }], snapshot: s.snapshot() }, 10_000);
      assert.equal(s.state('fiber'), 'detached');
      s.links.unshift(upLink('wan1', 21, '100.64.1.2/24'));
      const back = s.send({ kind: 'links', changes: [{ kind: 'appeared', name: 'wan1', index: 21 }], snapshot: s.snapshot() }, 11_000);
      assert.equal(s.state('fiber'), 'init');
      assert.ok(
        back.some((e) => e.kind === 'prober' && e.action === 'rebind' && e.uplink === 'fiber'),
        'a recreated NIC: sockets rebound',
      );
      s.round('fiber', 12_000, answers, startedAt);
      s.round('fiber', 13_000, answers, startedAt + 100);
      assert.equal(s.state('fiber'), expected);
    });
  }
});

describe('track: reliability is clamped per family', () => {
  // probe.reliability 2 over 3 IPv4 targets and 1 IPv6 target: IPv6 needs its only target.
  const yaml = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, gateway6: "2001:db8:1::1", targets: [icmp: 198.51.100.10, icmp: 198.51.100.11, icmp: 198.51.100.12, icmp: "2001:db8::10"] }
probe: { up: 2, down: 2, reliability: 2 }
`;
  const dual: LinkInfo = {
    ...upLink('wan1', 11, '100.64.1.2/24'),
    addresses: [...upLink('wan1', 11, '100.64.1.2/24').addresses, { family: 6, prefix: '2001:db8:1::2/64', global: true }],
  };
  // IPv4 answers (3 targets), IPv6 answer (1 target) -> state of each after two such rounds
  const rows: [string, boolean[], boolean, UplinkState, UplinkState][] = [
    ['2 of 3 and 1 of 1: both good', [true, true, false], true, 'up', 'up'],
    ['1 of 3 is under 2; 1 of 1 is all IPv6 has', [true, false, false], true, 'down', 'up'],
    ['3 of 3, 0 of 1', [true, true, true], false, 'up', 'down'],
  ];
  for (const [what, v4, v6, s4, s6] of rows) {
    it(what, () => {
      const s = new Session(yaml, [dual]);
      for (const ms of [1000, 2000]) s.round('fiber', ms, [...v4, v6]);
      assert.deepEqual([s.state('fiber', 4), s.state('fiber', 6)], [s4, s6]);
    });
  }
});

describe('track: what steer/ is told of an uplink (family fallback, dampening forces down)', () => {
  const u = (health: [Family, UplinkState][], everLost: Family[], suppressed = false): TrackedUplink => {
    const parsed = parseConfig(TWO);
    assert.ok(parsed.ok);
    const h = (state: UplinkState): Health => ({ ...initialHealth(WALL0), state });
    return {
      config: parsed.config.uplinks[0]!,
      health: new Map(health.map(([f, st]) => [f, h(st)])),
      windows: new Map(),
      last: new Map(),
      linkSeen: true,
      freshSince: 0,
      localError: undefined,
      damping: { ...NO_DAMPING, suppressed },
      addresses: [],
      everLost: new Set(everLost),
      rtt: new Map(),
      passive: INITIAL_PASSIVE,
      learnt: {},
      probing: true,
    };
  };
  // health per family, families lost before, suppressed?, steered family -> state, everLost
  const rows: [string, TrackedUplink, Family, UplinkState, boolean][] = [
    [
      'its own verdict in a family it probes',
      u(
        [
          [4, 'up'],
          [6, 'down'],
        ],
        [],
        false,
      ),
      6,
      'down',
      false,
    ],
    ['IPv6 routed, only IPv4 probed: IPv4 verdict steers IPv6', u([[4, 'up']], [], false), 6, 'up', false],
    ['... and an IPv4 loss makes its IPv6 return a recovery', u([[4, 'up']], [4], false), 6, 'up', true],
    [
      'a loss in the other probed family is not this one',
      u(
        [
          [4, 'up'],
          [6, 'up'],
        ],
        [4],
        false,
      ),
      6,
      'up',
      false,
    ],
    ['held out by dampening: down, whatever heartbeats say', u([[4, 'up']], [4], true), 4, 'down', true],
    ['held out by dampening, in the fallback family too', u([[4, 'up']], [4], true), 6, 'down', true],
  ];
  for (const [what, tracked, family, state, everLost] of rows) {
    it(what, () => {
      const got = steerInput(tracked, family);
      assert.deepEqual([got.state, got.everLost], [state, everLost]);
    });
  }

  it('end to end: IPv6 follows the IPv4 verdicts of uplinks that probe only IPv4', () => {
    const s = new Session();
    for (const ms of [1000, 2000]) s.round('fiber', ms, [true, true]), s.round('dsl', ms, [true]);
    assert.deepEqual([s.active(4), s.active(6)], ['fiber 100%', 'fiber 100%']);
    for (const ms of [3000, 4000]) s.round('fiber', ms, [false, false]);
    assert.deepEqual([s.active(4), s.active(6)], ['dsl 100%', 'dsl 100%']);
  });
});

describe('track: a loss penalises the uplink and may flush conntrack', () => {
  const flushOn = TWO.replace('routing: {', 'routing: { conntrack_flush: true,');
  const damped = flushOn.replace('routing: {', 'routing: { dampening: { penalty: 1000, suppress: 2000, reuse: 750, half_life: 60s, max_suppress: 5m },');
  // config, answers of fiber's rounds at 1, 2 s (make it up or not), then at 3, 4 s -> flush?, penalty logs
  const rows: [string, string, boolean[], boolean[], boolean, number][] = [
    ['up -> down with conntrack_flush: its addresses are flushed', flushOn, [true, true], [false, false], true, 0],
    ['up -> down without it: nothing flushed', TWO, [true, true], [false, false], false, 0],
    ['init -> down was never usable: no flush, no penalty', damped, [false, false], [false, false], false, 0],
    ['up -> down with dampening: one penalty of 1000', damped, [true, true], [false, false], true, 1000],
    ['up -> up: nothing', damped, [true, true], [true, true], false, 0],
  ];
  for (const [what, yaml, first, then, flushed, penalty] of rows) {
    it(what, () => {
      const s = new Session(yaml);
      for (const ms of [1000, 2000]) s.round('fiber', ms, first);
      const effects = [...s.round('fiber', 3000, then), ...s.round('fiber', 4000, then)];
      const flush = effects.filter((e) => e.kind === 'flush-conntrack');
      assert.deepEqual(flush, flushed ? [{ kind: 'flush-conntrack', uplink: 'fiber', addresses: [{ family: 4, address: '100.64.1.2' }] }] : []);
      assert.deepEqual(
        logs(effects, 'dampening').map((l) => l.fields.penalty),
        penalty ? [penalty] : [],
      );
    });
  }

  it('three losses in 20 s hold the uplink out (forced down), then it is released when the penalty decays', () => {
    const s = new Session(TWO.replace('routing: {', 'routing: { dampening: { penalty: 1000, suppress: 2000, reuse: 750, half_life: 60s, max_suppress: 5m },'));
    s.round('dsl', 500, [true]), s.round('dsl', 600, [true]);
    let ms = 1000;
    for (let loss = 0; loss < 3; loss++) {
      for (const ok of [true, true, false, false]) s.round('fiber', (ms += 1000), [ok, ok]);
    }
    // Losses at 5, 9 and 13 s; 4 s decays by 2^(-4/60) = 0.954842: 1000, then
    // 1000 * 0.954842 + 1000 = 1954.842, then 1954.842 * 0.954842 + 1000 = 2866.564.
    const u = s.t.uplinks.get('fiber')!;
    assert.equal(u.damping.suppressed, true);
    assert.equal(u.damping.penalty.toFixed(3), '2866.564');
    for (const ok of [true, true]) s.round('fiber', (ms += 1000), [ok, ok]);
    assert.equal(s.state('fiber'), 'up', 'its heartbeats say up');
    assert.equal(s.active(4), 'dsl 100%', 'held out all the same');
    assert.match(steeringOf(s.t)[4].reason, /held out by flap dampening: fiber$/);
    // Released when 2866.564 decays to 750: 60 s * log2(2866.564 / 750) = 116,062 ms after 13 s.
    const timer = s.effects.filter((e) => e.kind === 'timer' && e.timer === 'steer').at(-1) as Extract<Effect, { kind: 'timer' }>;
    assert.equal(Math.round(ms + timer.inMs!), 129_062);
    const released = s.send({ kind: 'timer', timer: 'steer' }, 129_062);
    assert.equal(logs(released, 'dampening')[0]?.msg, 'fiber: flap penalty decayed to 749 (under 750): may carry traffic again');
  });
});

describe('track: which uplinks a failback drain may reset', () => {
  const base = new Session();
  for (const ms of [1000, 2000]) base.round('fiber', ms, [true, true]), base.round('dsl', ms, [true]);
  const withSteering = (active: { uplink: string; share: number }[], family: Family = 4, lastApplyOk = true): Tracking => ({
    ...base.t,
    lastApplyOk,
    steer: { ...base.t.steer, [family]: { steering: { active: active.map((a) => ({ ...a, weight: 1 })), allDown: false, reason: 'test' } } },
  });
  // tracking, uplinks the schedule left -> plan
  const rows: [string, Tracking, string[], ReturnType<typeof drainPlan>][] = [
    ['the route change did not go through: nothing is reset', withSteering([{ uplink: 'fiber', share: 100 }], 4, false), ['dsl'], { kind: 'skip' }],
    [
      'dsl left: its connections (mark 0x200) are reset',
      withSteering([{ uplink: 'fiber', share: 100 }]),
      ['dsl'],
      { kind: 'reset', reset: [{ uplink: 'dsl', mark: 0x200 }], carrying: [] },
    ],
    ['dsl carries new flows again: kept', withSteering([{ uplink: 'dsl', share: 100 }]), ['dsl'], { kind: 'reset', reset: [], carrying: ['dsl'] }],
    [
      'dsl carries IPv6 flows: its mark covers both families, kept',
      withSteering([{ uplink: 'dsl', share: 100 }], 6),
      ['dsl'],
      { kind: 'reset', reset: [], carrying: ['dsl'] },
    ],
    ['an uplink no longer in the config: nothing', withSteering([{ uplink: 'fiber', share: 100 }]), ['lte'], { kind: 'reset', reset: [], carrying: [] }],
  ];
  for (const [what, t, uplinks, plan] of rows) {
    it(what, () => assert.deepEqual(drainPlan(t, uplinks), plan));
  }

  it('the schedule asks for a drain once the last step is due', () => {
    const s = new Session(TWO.replace('step_interval: 5s', 'step_interval: 5s, drain: 30s'));
    for (const ms of [1000, 2000]) s.round('fiber', ms, [true, true]), s.round('dsl', ms, [true]);
    for (const ms of [3000, 4000]) s.round('fiber', ms, [false, false]);
    for (const ms of [5000, 6000]) s.round('fiber', ms, [true, true]);
    const drains = (from: number) => s.effects.slice(from).filter((e) => e.kind === 'reset-pinned');
    // hold 10 s from 6 s, then 50% at 16 s, 100% at 21 s, drain 30 s after: 51 s.
    const steerTimer = (effects: Effect[]) => effects.filter((e) => e.kind === 'timer' && e.timer === 'steer').map((e) => (e as { inMs?: number }).inMs);
    assert.deepEqual(steerTimer(s.effects).at(-1), 10_000, 'the hold is timed');
    assert.deepEqual(steerTimer(s.send({ kind: 'timer', timer: 'steer' }, 16_000)), [5000], 'then the next step');
    assert.equal(s.active(4), 'fiber 50%, dsl 50%');
    assert.deepEqual(steerTimer(s.send({ kind: 'timer', timer: 'steer' }, 21_000)), [30_000], 'then the drain');
    assert.equal(s.active(4), 'fiber 100%');
    const mark = s.effects.length;
    s.send({ kind: 'timer', timer: 'steer' }, 50_000);
    assert.deepEqual(drains(mark), []);
    s.send({ kind: 'timer', timer: 'steer' }, 51_000);
    assert.deepEqual(drains(mark), [], 'not before the route change is in');
    s.applied(51_010);
    assert.deepEqual(drains(mark), [{ kind: 'reset-pinned', uplink: 'dsl', mark: 0x200, mask: 0x3f00, cause: 'failback', drainMs: 30_000 }]);
  });
});

const report = (changes: string[]): ApplyReport => ({ changes, missing: [], refused: [], foreign: [], connected: [], deferred: [] });

describe('track: outside changes and the reconcile limiter', () => {
  // event -> is it uplinkd's (arms the reconcile timer)?
  const rows: [string, TrackEvent, boolean][] = [
    ['a route deleted in the managed table', { kind: 'route-events', events: [{ kind: 'route', deleted: true, table: 100 }] }, true],
    ['a route in an uplink table (1101)', { kind: 'route-events', events: [{ kind: 'route', deleted: false, table: 1101 }] }, true],
    ['a route in main', { kind: 'route-events', events: [{ kind: 'route', deleted: true, table: 254 }] }, false],
    ['a route whose table is unknown', { kind: 'route-events', events: [{ kind: 'route', deleted: true }] }, true],
    ['a rule at 9500 (in 9000-9999)', { kind: 'route-events', events: [{ kind: 'rule', deleted: true, table: 1100, priority: 9500 }] }, true],
    ['a rule at 100', { kind: 'route-events', events: [{ kind: 'rule', deleted: true, table: 50, priority: 100 }] }, false],
  ];
  for (const [what, event, ours] of rows) {
    it(what, () => {
      const s = new Session();
      const effects = s.send(event, 1000);
      assert.deepEqual(
        effects.filter((e) => e.kind === 'timer'),
        ours ? [{ kind: 'timer', timer: 'reconcile', inMs: 20 }] : [],
      );
    });
  }

  // restores that changed something, at these seconds -> paused?, and the next reconcile waits (ms)
  const fights: [string, number[], boolean, number][] = [
    ['9 restores in 9 s: not paused', [1, 2, 3, 4, 5, 6, 7, 8, 9], false, 20],
    ['10 restores in 10 s: paused for 10 s', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], true, 10_000],
    ['10 restores over 12 s: the first fell out of the window', [0, 3, 4, 5, 6, 7, 8, 9, 10, 11.5], false, 20],
  ];
  for (const [what, seconds, paused, wait] of fights) {
    it(what, () => {
      const s = new Session();
      for (const sec of seconds) {
        s.send({ kind: 'route-events', events: [{ kind: 'route', deleted: true, table: 100 }] }, sec * 1000);
        s.send({ kind: 'timer', timer: 'reconcile' }, sec * 1000 + 20);
        const reasons = s.t.reconcile.reasons;
        s.send({ kind: 'apply-begun' }, sec * 1000 + 20);
        s.send({ kind: 'applied', report: report(['ip route replace 0.0.0.0/0 table 100 via 100.64.1.1 dev wan1']), reasons }, sec * 1000 + 20);
      }
      const last = seconds.at(-1)! * 1000 + 20;
      assert.equal(logs(s.effects, 'reconcile').filter((l) => l.level === 'error').length, paused ? 1 : 0);
      const next = s.send({ kind: 'route-events', events: [{ kind: 'route', deleted: true, table: 100 }] }, last);
      assert.deepEqual(next, [{ kind: 'timer', timer: 'reconcile', inMs: wait }]);
    });
  }

  it('an outside change that an apply under way already undid is logged, not counted', () => {
    const s = new Session();
    s.send({ kind: 'route-events', events: [{ kind: 'rule', deleted: true, priority: 9900 }] }, 1000);
    const effects = s.send({ kind: 'applied', report: report([]), reasons: ['rule 9900 deleted'] }, 1020);
    assert.deepEqual(
      logs(effects, 'reconcile').map((l) => l.msg),
      ['changed outside uplinkd (rule 9900 deleted); nothing left to restore'],
    );
    assert.deepEqual(s.t.reconcile.restores, []);
  });
});

describe('track: adopting the routes an earlier run left', () => {
  const route = (family: Family, hops: [string, number, number][]): ManagedRoute => ({
    route: {
      family,
      table: 100,
      prefix: family === 4 ? '0.0.0.0/0' : '::/0',
      nexthops: hops.map(([gateway, ifindex, weight]) => ({ gateway, ifindex, weight })),
    },
    interfaces: hops.map(([, ifindex]) => (ifindex === 11 ? 'wan1' : ifindex === 12 ? 'wan2' : 'wan9')),
  });
  // routes in the kernel -> IPv4 steering, IPv6 steering ('' = none adopted)
  const rows: [string, ManagedRoute[], string, string][] = [
    ['one next hop, interface and gateway of fiber', [route(4, [['100.64.1.1', 11, 1]])], 'fiber 100%', ''],
    [
      'weights 3 and 1: shares 75/25',
      [
        route(4, [
          ['100.64.1.1', 11, 3],
          ['100.64.2.1', 12, 1],
        ]),
      ],
      'fiber 75%, dsl 25%',
      '',
    ],
    ['the interface is fiber but the gateway is not: not ours', [route(4, [['100.64.1.9', 11, 1]])], '', ''],
    ['an interface no uplink has: not ours', [route(4, [['100.64.1.1', 13, 1]])], '', ''],
    ['IPv6 matched by gateway6', [route(6, [['2001:db8:2::1', 12, 1]])], '', 'dsl 100%'],
  ];
  for (const [what, routes, v4, v6] of rows) {
    it(what, () => {
      const s = new Session();
      s.t = initialTracking(s.t.config);
      const effects = s.send({ kind: 'adopt', routes }, 0);
      assert.deepEqual([s.active(4), s.active(6)], [v4, v6]);
      assert.equal(logs(effects, 'adopt').length, (v4 ? 1 : 0) + (v6 ? 1 : 0));
    });
  }
});

describe('track: applies, retries and probers', () => {
  it('start tracks each uplink, asks for an apply first and then its prober, spread over the interval', () => {
    const s = new Session();
    const kinds = s.effects.filter((e) => e.kind !== 'log');
    assert.deepEqual(kinds, [
      { kind: 'apply' },
      { kind: 'prober-new', uplink: 'fiber', phaseMs: 0 },
      { kind: 'apply' },
      { kind: 'prober-new', uplink: 'dsl', phaseMs: 500 },
    ]);
  });

  it('a refused route arms the retry after doubling pauses; a clean apply cancels it', () => {
    const s = new Session();
    const refused: ApplyReport = {
      ...report([]),
      refused: [{ command: 'ip route replace 0.0.0.0/0 table 1101 via 100.64.2.1 dev wan2', code: 'ENETUNREACH', managed: false }],
    };
    const retries = [1000, 1020, 3100, 7200].map((ms) => s.send({ kind: 'applied', report: refused, reasons: [] }, ms).find((e) => e.kind === 'timer'));
    assert.deepEqual(
      retries.map((e) => (e as Extract<Effect, { kind: 'timer' }>).inMs),
      [1000, 2000, 4000, 8000],
    );
    assert.equal(s.t.lastApplyOk, true, 'a refused uplink route leaves the managed route as asked');
    assert.deepEqual(
      s.send({ kind: 'applied', report: report([]), reasons: [] }, 16_000).filter((e) => e.kind === 'timer'),
      [{ kind: 'timer', timer: 'retry', inMs: undefined }],
    );
  });

  it('an apply that cannot read the kernel is retried in 1 s and holds back drains', () => {
    const s = new Session();
    const effects = s.send({ kind: 'apply-failed', error: 'EPERM' }, 1000);
    assert.deepEqual(
      effects.filter((e) => e.kind === 'timer'),
      [{ kind: 'timer', timer: 'retry', inMs: 1000 }],
    );
    assert.equal(s.t.lastApplyOk, false);
  });

  it('a reload stops the probers of removed and restarted uplinks and keeps the history of a restarted one', () => {
    const s = new Session();
    for (const ms of [1000, 2000]) s.round('fiber', ms, [true, true]), s.round('dsl', ms, [true]);
    for (const ms of [3000, 4000]) s.round('dsl', ms, [false]);
    const next = parseConfig(TWO.replace('icmp: 198.51.100.10] }\nprobe', 'icmp: 198.51.100.12] }\nprobe'));
    assert.ok(next.ok);
    const diff = diffConfig(s.t.config, next.config);
    assert.deepEqual(diff.changed, ['dsl']);
    const effects = s.send({ kind: 'reload', config: next.config, diff, path: '/etc/uplinkd.yaml', snapshot: s.snapshot() }, 5000);
    assert.deepEqual(
      effects.filter((e) => e.kind === 'prober' || e.kind === 'prober-new'),
      [
        { kind: 'prober', uplink: 'dsl', action: 'stop' },
        { kind: 'prober-new', uplink: 'dsl', phaseMs: 500 },
      ],
    );
    assert.equal(s.state('dsl'), 'init', 'probed afresh');
    assert.deepEqual([...s.t.uplinks.get('dsl')!.everLost], [4], 'still a recovery when it comes back');
    assert.equal(s.state('fiber'), 'up', 'untouched');
    assert.equal(logs(effects, 'reload')[0]?.msg, 'reloaded /etc/uplinkd.yaml: restarted dsl');
  });
});

describe('track: operator events (hooks, metrics, the status line) and their log levels', () => {
  const notices = (effects: readonly Effect[], family: Family = 4): string[] =>
    effects.flatMap((e) => {
      if (e.kind !== 'notify') return [];
      const n = e.event;
      if (n.event === 'state') return n.family === family ? [`state ${n.uplink} ${n.from}->${n.to}`] : [];
      if (n.event === 'gateway_changed') return [];
      return n.family === family
        ? [`${n.event} ${n.shares.map((s) => `${s.uplink} ${s.share}%`).join(', ') || 'none'} (was ${n.was.map((s) => s.uplink).join(', ') || 'none'})`]
        : [];
    });
  const steeringLevel = (effects: readonly Effect[]): string[] =>
    logs(effects, 'steering')
      .filter((l) => l.fields.family === 4)
      .map((l) => l.level);

  // [what happens, events at that time, the family-4 notices, the steering log's level]
  it('a loss, the failover, the recovery with its hold, both failback steps, then all down', () => {
    const s = new Session();
    const rows: [string, () => Effect[], string[], string[]][] = [
      [
        'both answer twice: first verdicts, new flows on fiber',
        () => [
          ...s.round('fiber', 1000, [true, true]),
          ...s.round('dsl', 1000, [true]),
          ...s.round('fiber', 2000, [true, true]),
          ...s.round('dsl', 2000, [true]),
        ],
        ['state fiber init->up', 'steering fiber 100% (was none)', 'state dsl init->up'],
        ['info'],
      ],
      [
        'fiber fails twice: a loss, then the failover (warn)',
        () => [...s.round('fiber', 3000, [false, false]), ...s.round('fiber', 4000, [false, false])],
        ['state fiber up->down', 'failover dsl 100% (was fiber)'],
        ['warn'],
      ],
      [
        'fiber answers twice: up, but flows stay on dsl for the hold',
        () => [...s.round('fiber', 5000, [true, true]), ...s.round('fiber', 6000, [true, true])],
        ['state fiber down->up'],
        ['info'],
      ],
      [
        'the hold is over: failback step 1 (50%)',
        () => s.send({ kind: 'timer', timer: 'steer' }, 16_000),
        ['failback-step fiber 50%, dsl 50% (was dsl)'],
        ['info'],
      ],
      ['the last step: failback done', () => s.send({ kind: 'timer', timer: 'steer' }, 21_000), ['failback-done fiber 100% (was fiber, dsl)'], ['info']],
      [
        'both fail: all down (warn), the last route kept',
        () => [
          ...s.round('fiber', 22_000, [false, false]),
          ...s.round('dsl', 22_000, [false]),
          ...s.round('fiber', 23_000, [false, false]),
          ...s.round('dsl', 23_000, [false]),
        ],
        ['state fiber up->down', 'failover dsl 100% (was fiber)', 'state dsl up->down', 'all-down dsl 100% (was dsl)'],
        ['warn', 'warn'],
      ],
    ];
    for (const [what, act, expected, levels] of rows) {
      const effects = act();
      assert.deepEqual(notices(effects), expected, what);
      assert.deepEqual(steeringLevel(effects), levels, `${what}: log levels`);
    }
    assert.ok(
      s.effects.some((e) => e.kind === 'log' && e.fields.event === 'state' && e.fields.to === 'down' && e.level === 'warn'),
      'a loss is a warning',
    );
  });

  it('out of all-down an uplink that answers again is a steering change, not a failover', () => {
    const s = new Session();
    for (const ms of [1000, 2000]) s.round('fiber', ms, [true, true]), s.round('dsl', ms, [true]);
    for (const ms of [3000, 4000]) s.round('fiber', ms, [false, false]), s.round('dsl', ms, [false]);
    assert.equal(steeringOf(s.t)[4].allDown, true);
    const back = [5000, 6000].flatMap((ms) => s.round('dsl', ms, [true]));
    assert.deepEqual(notices(back), ['state dsl down->up', 'steering dsl 100% (was dsl)']);
    assert.deepEqual(steeringLevel(back), ['info']);
  });

  it('a hold whose countdown changes the reason only says nothing new', () => {
    const s = new Session();
    for (const ms of [1000, 2000]) s.round('fiber', ms, [true, true]), s.round('dsl', ms, [true]);
    for (const ms of [3000, 4000]) s.round('fiber', ms, [false, false]);
    for (const ms of [5000, 6000]) s.round('fiber', ms, [true, true]);
    const later = [7000, 8000, 9000].flatMap((ms) => s.round('fiber', ms, [true, true]));
    assert.deepEqual(notices(later), []);
  });
});

describe('track: operator overrides (drain, prefer, resume)', () => {
  const by = 'root (uid 0)';
  const since = '2026-11-21T10:00:05.000Z';
  const bothUp = (): Session => {
    const s = new Session();
    for (const ms of [1000, 2000]) s.round('fiber', ms, [true, true]), s.round('dsl', ms, [true]);
    return s;
  };
  const saved = (effects: readonly Effect[]) =>
    effects.filter((e) => e.kind === 'save-overrides').map((e) => Object.keys((e as { overrides: object }).overrides).join(','));

  // [what, actions after both are up, new IPv4 flows, the steering reason contains]
  const rows: [string, (s: Session) => void, string, RegExp][] = [
    [
      'drain the primary: new flows leave it at once',
      (s) => s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: false }, 5000),
      'dsl 100%',
      /drained: fiber/,
    ],
    [
      'drain the only uplink that answers: it carries on, said so',
      (s) => {
        s.round('dsl', 3000, [false]);
        s.round('dsl', 4000, [false]);
        s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: false }, 5000);
      },
      'fiber 100%',
      /drained but no other uplink answers: fiber/,
    ],
    [
      'prefer the backup: above its tier',
      (s) => s.send({ kind: 'override', uplink: 'dsl', override: { kind: 'prefer', by, since }, flush: false }, 5000),
      'dsl 100%',
      /preferred: dsl/,
    ],
    [
      'resume: back to the configured order',
      (s) => {
        s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: false }, 5000);
        s.send({ kind: 'override', uplink: 'fiber', override: undefined, flush: false }, 6000);
      },
      'fiber 100%',
      /^(?!.*drained)/,
    ],
  ];
  for (const [what, act, flows, reason] of rows) {
    it(what, () => {
      const s = bothUp();
      assert.equal(s.active(4), 'fiber 100%');
      act(s);
      assert.equal(s.active(4), flows);
      assert.match(steeringOf(s.t)[4].reason, reason);
    });
  }

  it('prefer and resume act at once, even for an uplink that was lost before (no hold, no steps)', () => {
    const s = bothUp();
    // fiber lost and back: a failback with a 10 s hold is under way, dsl carries.
    for (const ms of [3000, 4000]) s.round('fiber', ms, [false, false]);
    for (const ms of [5000, 6000]) s.round('fiber', ms, [true, true]);
    assert.equal(s.active(4), 'dsl 100%');
    assert.match(steeringOf(s.t)[4].reason, /proving itself/);
    s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'prefer', by, since }, flush: false }, 7000);
    assert.equal(s.active(4), 'fiber 100%', 'prefer: at once');
    // dsl lost and back too, then preferred: at once.
    for (const ms of [8000, 9000]) s.round('dsl', ms, [false]);
    for (const ms of [10_000, 11_000]) s.round('dsl', ms, [true]);
    s.send({ kind: 'override', uplink: 'fiber', override: undefined, flush: false }, 12_000);
    s.send({ kind: 'override', uplink: 'dsl', override: { kind: 'prefer', by, since }, flush: false }, 13_000);
    assert.equal(s.active(4), 'dsl 100%');
    s.send({ kind: 'override', uplink: 'dsl', override: undefined, flush: false }, 14_000);
    assert.equal(s.active(4), 'fiber 100%', 'resume: back to fiber at once');
  });

  it('a drained uplink keeps its pinned-flow rule (its connections finish) and its probing', () => {
    const s = bothUp();
    const effects = s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: false }, 5000);
    assert.equal(s.state('fiber'), 'up');
    assert.ok(!effects.some((e) => e.kind === 'prober' && e.uplink === 'fiber'), 'the prober is left alone');
    assert.ok(!effects.some((e) => e.kind === 'drain'), 'nothing reset without --now');
    assert.deepEqual(saved(effects), ['fiber']);
    const log = effects.find((e) => e.kind === 'log' && e.fields.event === 'override');
    assert.equal(log?.kind === 'log' && log.level, 'warn');
  });

  it('drain --now resets its pinned connections once the route has moved', () => {
    const s = bothUp();
    const effects = s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: true }, 5000);
    assert.ok(effects.some((e) => e.kind === 'apply'));
    assert.ok(!effects.some((e) => e.kind === 'reset-pinned' || e.kind === 'drain'), 'nothing reset before the route has moved');
    assert.deepEqual(
      s.applied(5010).filter((e) => e.kind === 'reset-pinned'),
      [{ kind: 'reset-pinned', uplink: 'fiber', mark: 0x100, mask: 0x3f00, cause: 'operator' }],
    );
  });

  it('kept over a reload for the uplinks that stay, restored at start, unknown ones dropped', () => {
    const s = bothUp();
    s.send({ kind: 'override', uplink: 'dsl', override: { kind: 'prefer', by, since }, flush: false }, 5000);
    const parsed = parseConfig(TWO.replace('priority: 1,', 'priority: 1, weight: 2,'));
    assert.ok(parsed.ok);
    s.send(
      {
        kind: 'reload',
        config: parsed.config,
        diff: diffConfig(s.t.config, parsed.config),
        path: 'x',
        snapshot: s.snapshot(),
      },
      6000,
    );
    assert.equal(s.t.overrides.get('dsl')?.kind, 'prefer');
    assert.equal(s.active(4), 'dsl 100%');

    const restarted = new Session();
    const effects = restarted.send(
      {
        kind: 'restore-overrides',
        overrides: new Map([
          ['fiber', { kind: 'drain', by, since }],
          ['lte', { kind: 'drain', by, since }],
        ]),
      },
      100,
    );
    assert.deepEqual([...restarted.t.overrides.keys()], ['fiber']);
    assert.deepEqual(saved(effects), ['fiber']);
    for (const ms of [1000, 2000]) restarted.round('fiber', ms, [true, true]), restarted.round('dsl', ms, [true]);
    assert.equal(restarted.active(4), 'dsl 100%');
  });
});

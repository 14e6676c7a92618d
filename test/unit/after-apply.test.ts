// track/after-apply: what waits for an apply (a new prober's start, a drain's reset, the
// new-flow base) runs once the apply that began after it was decided is done; a look at the
// MPTCP endpoints counts only when no apply was asked for, ran or began meanwhile. Also the
// other decisions the hub used to take: the sysctls a config wants, the override reply.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffConfig, parseConfig } from '../../src/config/index.js';
import { upLink } from '../../src/link/index.js';
import { applyQuiet, type Effect, overrideDone, wantedSysctls } from '../../src/track/index.js';
import { settleAfterApply } from '../../src/track/after-apply.js';
import type { LinkInfo } from '../../src/types/link.js';
import { TrackSession } from './track-session.js';

const TWO = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, priority: 1, targets: [icmp: 198.51.100.10] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
probe: { up: 2, down: 2 }
routing: { table: 100, failback: { hold: 10s, steps: [50, 100], step_interval: 5s } }
`;
const LINKS: LinkInfo[] = [upLink('wan1', 11, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')];
const by = 'root (uid 0)';
const since = '2026-11-21T10:00:05.000Z';

const kinds = (effects: readonly Effect[], ...wanted: Effect['kind'][]) =>
  effects.filter((e) => wanted.includes(e.kind)).map((e) => ('uplink' in e && e.uplink ? `${e.kind} ${e.uplink}` : e.kind));
const failed = (s: TrackSession, ms: number): Effect[] => {
  s.send({ kind: 'apply-begun' }, ms);
  return s.send({ kind: 'apply-failed', error: 'EPERM' }, ms);
};

/** Both up (the start's apply done), the steering's apply done too. */
function bothUp(): TrackSession {
  const s = new TrackSession(TWO, LINKS);
  s.applied(10);
  for (const ms of [1000, 2000]) s.round('fiber', ms, [true]), s.round('dsl', ms, [true]);
  s.applied(2010);
  return s;
}

describe('after-apply: a new prober starts once its table and oif rule are in', () => {
  it('made at start, started when the start apply is done, not when it begins', () => {
    const s = new TrackSession(TWO, LINKS);
    assert.deepEqual(kinds(s.effects, 'prober-new', 'prober-run'), ['prober-new fiber', 'prober-new dsl']);
    assert.ok(s.effects.some((e) => e.kind === 'apply') && !applyQuiet(s.t.applyPhase), 'an apply asked for');
    assert.deepEqual(kinds(s.send({ kind: 'apply-begun' }, 5), 'prober-run'), []);
    assert.deepEqual(
      kinds(
        s.send({ kind: 'applied', report: { changes: [], missing: [], refused: [], foreign: [], connected: [], deferred: [] }, reasons: [] }, 10),
        'prober-run',
      ),
      ['prober-run fiber', 'prober-run dsl'],
    );
  });

  it('an apply that failed still lets the probers start (the heartbeats tell what works)', () => {
    const s = new TrackSession(TWO, LINKS);
    assert.deepEqual(kinds(failed(s, 10), 'prober-run'), ['prober-run fiber', 'prober-run dsl']);
  });

  it('an apply under way when the prober was made is not the one it waits for', () => {
    const s = new TrackSession(TWO, LINKS);
    s.send({ kind: 'apply-begun' }, 5);
    s.applied(10);
    const u = s.t.config.uplinks.find((x) => x.name === 'dsl')!;
    const next = parseConfig(TWO.replace('icmp: 198.51.100.10] }\nprobe', 'icmp: 198.51.100.12] }\nprobe'));
    assert.ok(next.ok && u);
    s.send({ kind: 'apply-begun' }, 20); // an apply for something else, begun before the reload
    const reload = s.send({ kind: 'reload', config: next.config, diff: diffConfig(s.t.config, next.config), path: 'x', snapshot: s.snapshot() }, 21);
    assert.deepEqual(kinds(reload, 'prober-new', 'prober-run'), ['prober-new dsl']);
    assert.deepEqual(kinds(s.send({ kind: 'applied', report: emptyReport, reasons: [] }, 22), 'prober-run'), [], 'the apply under way');
    assert.deepEqual(kinds(s.applied(30), 'prober-run'), ['prober-run dsl'], 'the next one');
  });

  it('a prober replaced before it started: only the new one starts, after its own apply', () => {
    const s = new TrackSession(TWO, LINKS);
    s.send({ kind: 'apply-begun' }, 5); // the start's apply, under way
    const next = parseConfig(TWO.replace('icmp: 198.51.100.10] }\nprobe', 'icmp: 198.51.100.12] }\nprobe'));
    assert.ok(next.ok);
    s.send({ kind: 'reload', config: next.config, diff: diffConfig(s.t.config, next.config), path: 'x', snapshot: s.snapshot() }, 6);
    assert.deepEqual(
      kinds(s.send({ kind: 'applied', report: emptyReport, reasons: [] }, 10), 'prober-run'),
      ['prober-run fiber'],
      "dsl's first prober is gone",
    );
    assert.deepEqual(kinds(s.applied(20), 'prober-run'), ['prober-run dsl']);
  });
});

const emptyReport = { changes: [], missing: [], refused: [], foreign: [], connected: [], deferred: [] };

describe('after-apply: a drain resets pinned connections once the route has moved', () => {
  const rows: [string, (s: TrackSession) => Effect[], string[], string[]][] = [
    ['the apply went through: fiber reset', (s) => s.applied(5010), ['reset-pinned fiber'], []],
    ['the apply failed: nothing reset, said why', (s) => failed(s, 5010), [], ['drain --now of fiber skipped: the route change did not go through']],
    [
      'uplinkd stops first: nothing reset, said why',
      (s) => [...s.send({ kind: 'stop' }, 5005), ...s.applied(5010)],
      [],
      ['drain --now of fiber skipped: uplinkd stopped'],
    ],
  ];
  for (const [what, then, resets, warnings] of rows) {
    it(what, () => {
      const s = bothUp();
      const now = s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: true }, 5000);
      assert.deepEqual(kinds(now, 'reset-pinned', 'drain'), [], 'not before the route change');
      const effects = then(s);
      assert.deepEqual(kinds(effects, 'reset-pinned'), resets);
      assert.deepEqual(
        effects.filter((e) => e.kind === 'log' && e.fields.event === 'drain' && e.level === 'warn').map((e) => (e as { msg: string }).msg),
        warnings,
      );
    });
  }

  it('decided while another apply runs: waits for the one after it', () => {
    const s = bothUp();
    s.send({ kind: 'apply-begun' }, 4990);
    s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: true }, 5000);
    assert.deepEqual(kinds(s.send({ kind: 'applied', report: emptyReport, reasons: [] }, 5005), 'reset-pinned'), []);
    assert.deepEqual(kinds(s.applied(5010), 'reset-pinned'), ['reset-pinned fiber']);
  });

  it('the reset carries the mark and the cause', () => {
    const s = bothUp();
    s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: true }, 5000);
    assert.deepEqual(
      s.applied(5010).filter((e) => e.kind === 'reset-pinned'),
      [{ kind: 'reset-pinned', uplink: 'fiber', mark: 0x100, mask: 0x3f00, cause: 'operator' }],
    );
  });
});

describe('after-apply: nothing to wait for', () => {
  it('decided with no apply asked for or under way: runs at once', () => {
    const s = bothUp();
    assert.ok(applyQuiet(s.t.applyPhase));
    // A drain with no route change to wait for (none of the reducer's own paths decides one so).
    const effects: Effect[] = [{ kind: 'drain', uplinks: ['dsl'], cause: 'operator' }];
    const t = settleAfterApply(s.t, 'timer', effects);
    assert.deepEqual(kinds(effects, 'reset-pinned', 'drain'), ['reset-pinned dsl']);
    assert.deepEqual(t.applyPhase.waiting, []);
  });
});

describe('after-apply: new flows are counted from the steering change on', () => {
  it('the counters are read as the base once the change is in, then kept', () => {
    const s = new TrackSession(TWO, LINKS);
    s.applied(10);
    s.round('fiber', 1000, [true]);
    const second = s.round('fiber', 2000, [true]);
    assert.ok(second.some((e) => e.kind === 'apply'));
    assert.deepEqual(kinds(second, 'count-new-flows'), [], 'not while the route is being written');
    assert.deepEqual(kinds(s.applied(2010), 'count-new-flows'), ['count-new-flows']);
    s.send({ kind: 'new-flow-base', counters: new Map([['new_fiber', 7]]) }, 2020);
    assert.deepEqual([...s.t.newFlowBase], [['new_fiber', 7]]);
  });
});

describe('after-apply: a look at the MPTCP endpoints', () => {
  const MPTCP = `${TWO}mptcp: {}\n`;
  const rows: [string, (s: TrackSession) => void, readonly string[], boolean][] = [
    ['quiet, a drift: reconciled', () => undefined, ['ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow'], true],
    ['quiet, no drift: nothing', () => undefined, [], false],
    ['an apply asked for meanwhile: discounted', (s) => s.send({ kind: 'timer', timer: 'retry' }, 2995), ['ip mptcp endpoint delete id 100'], false],
    ['an apply ran meanwhile: discounted', (s) => s.applied(2995), ['ip mptcp endpoint delete id 100'], false],
    ['an apply under way: discounted', (s) => s.send({ kind: 'apply-begun' }, 2995), ['ip mptcp endpoint delete id 100'], false],
  ];
  for (const [what, meanwhile, drift, reconciled] of rows) {
    it(what, () => {
      const s = new TrackSession(MPTCP, LINKS);
      s.applied(10);
      assert.ok(applyQuiet(s.t.applyPhase));
      const begun = s.t.applyPhase.begun;
      meanwhile(s);
      const effects = s.send({ kind: 'mptcp-look', drift, begun }, 3000);
      assert.deepEqual(kinds(effects, 'timer'), reconciled ? ['timer'] : []);
      assert.equal(
        s.t.reconcile.reasons.some((r) => r.startsWith('MPTCP endpoints differ')),
        reconciled,
      );
    });
  }
});

describe('the sysctls a config wants at 1', () => {
  const rows: [string, string, string[]][] = [
    ['the default (hash_policy set)', '', ['net.ipv4.fib_multipath_hash_policy', 'net.ipv6.fib_multipath_hash_policy']],
    ['hash_policy keep', 'routing: { hash_policy: keep }\n', []],
    ['mptcp: too', 'mptcp: {}\n', ['net.ipv4.fib_multipath_hash_policy', 'net.ipv6.fib_multipath_hash_policy', 'net.mptcp.enabled']],
    ['hash_policy keep, mptcp:', 'routing: { hash_policy: keep }\nmptcp: {}\n', ['net.mptcp.enabled']],
  ];
  const ONE = 'uplinks:\n  - { name: fiber, interface: wan1, gateway: 100.64.1.1, targets: [icmp: 198.51.100.10] }\n';
  for (const [what, extra, keys] of rows) {
    it(what, () => {
      const parsed = parseConfig(ONE + extra);
      assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
      assert.deepEqual(wantedSysctls(parsed.config), keys);
    });
  }
});

describe('the override reply', () => {
  it('says what new flows do now, in the first destination family', () => {
    const s = bothUp();
    s.send({ kind: 'override', uplink: 'fiber', override: { kind: 'drain', by, since }, flush: false }, 5000);
    assert.match(overrideDone(s.t, 'fiber', 'drain'), /^fiber drained; new flows: .*drained: fiber/);
    s.send({ kind: 'override', uplink: 'fiber', override: undefined, flush: false }, 6000);
    assert.match(overrideDone(s.t, 'fiber', 'resume'), /^fiber resumed; new flows: /);
  });
});

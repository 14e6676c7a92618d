// health/: the state machine as tables, with a fake clock (each round is 1000 ms later).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyLink,
  applyQuality,
  applyRound,
  initialHealth,
  linkProblem,
  probePace,
  withoutLocalFailures,
  type Health,
  type HealthSettings,
  type LinkView,
} from '../../src/health/index.js';
import type { UplinkState } from '../../src/types/index.js';

/** Runs rounds written as a string: `+` a round where every target answered, `-` none, digits the number that answered. */
function runRounds(rounds: string, settings: HealthSettings, targets = 2): { states: UplinkState[]; changes: string[]; last: Health } {
  let h = initialHealth(0);
  const states: UplinkState[] = [];
  const changes: string[] = [];
  [...rounds].forEach((c, i) => {
    const answered = c === '+' ? targets : c === '-' ? 0 : Number(c);
    const step = applyRound(h, { answered, total: targets }, settings, (i + 1) * 1000);
    h = step.health;
    states.push(h.state);
    if (step.change) changes.push(`${step.change.from}->${step.change.to}@${step.change.at}`);
  });
  return { states, changes, last: h };
}

const S = (up: number, down: number, reliability = 1): HealthSettings => ({ up, down, reliability });

describe('health state machine', () => {
  const table: { name: string; rounds: string; settings: HealthSettings; targets?: number; final: UplinkState; changes: string[] }[] = [
    { name: 'init -> up after `up` good rounds', rounds: '+++', settings: S(3, 3), final: 'up', changes: ['init->up@3000'] },
    { name: 'init stays init before `up` good rounds', rounds: '++', settings: S(3, 3), final: 'init', changes: [] },
    { name: 'init -> down after `down` failed rounds', rounds: '---', settings: S(3, 3), final: 'down', changes: ['init->down@3000'] },
    { name: 'up -> down after `down` failed rounds', rounds: '+++---', settings: S(3, 3), final: 'down', changes: ['init->up@3000', 'up->down@6000'] },
    { name: 'a flap shorter than `down` changes nothing', rounds: '+++--+--+', settings: S(3, 3), final: 'up', changes: ['init->up@3000'] },
    { name: 'a recovery shorter than `up` stays down', rounds: '---++-++-', settings: S(3, 3), final: 'down', changes: ['init->down@3000'] },
    { name: 'down -> up after `up` good rounds', rounds: '---+++', settings: S(3, 3), final: 'up', changes: ['init->down@3000', 'down->up@6000'] },
    {
      name: 'counts of 1 react to every round',
      rounds: '+-+-',
      settings: S(1, 1),
      final: 'down',
      changes: ['init->up@1000', 'up->down@2000', 'down->up@3000', 'up->down@4000'],
    },
    { name: 'reliability 2 of 3: two answers are good', rounds: '222', settings: S(3, 3, 2), targets: 3, final: 'up', changes: ['init->up@3000'] },
    {
      name: 'reliability 2 of 3: one answer is a failed round',
      rounds: '+++111',
      settings: S(3, 3, 2),
      targets: 3,
      final: 'down',
      changes: ['init->up@3000', 'up->down@6000'],
    },
    { name: 'reliability 1 of 2: one dead target changes nothing', rounds: '1111111', settings: S(3, 3, 1), final: 'up', changes: ['init->up@3000'] },
    { name: 'asymmetric counts: up 5, down 2', rounds: '+++++--', settings: S(5, 2), final: 'down', changes: ['init->up@5000', 'up->down@7000'] },
  ];
  for (const row of table) {
    it(row.name, () => {
      const r = runRounds(row.rounds, row.settings, row.targets);
      assert.equal(r.last.state, row.final);
      assert.deepEqual(r.changes, row.changes);
    });
  }

  it('records when and why the state changed', () => {
    const r = runRounds('+++---', S(3, 3));
    assert.equal(r.last.since, 6000);
    assert.match(r.last.reason, /^3 failed rounds \(0 of 2 targets answered, 1 needed\)$/);
  });

  it('an unchanged state keeps its since', () => {
    const r = runRounds('+++++', S(3, 3));
    assert.equal(r.last.since, 3000);
    assert.equal(r.last.goodStreak, 5);
  });
});

describe('detached', () => {
  const settings = S(3, 3);
  const view = (o: Partial<LinkView> = {}): LinkView => ({ present: true, wasPresent: true, adminUp: true, carrier: true, families: [4], ...o });

  const problems: { name: string; view: LinkView; needed: (4 | 6)[]; problem: string | undefined }[] = [
    { name: 'a healthy link', view: view(), needed: [4], problem: undefined },
    { name: 'missing at start', view: view({ present: false, wasPresent: false }), needed: [4], problem: 'interface wan1 is missing' },
    { name: 'vanished', view: view({ present: false }), needed: [4], problem: 'interface wan1 vanished' },
    { name: 'admin down wins over carrier', view: view({ adminUp: false, carrier: false }), needed: [4], problem: 'wan1 is admin down' },
    { name: 'carrier lost', view: view({ carrier: false }), needed: [4], problem: 'carrier lost on wan1' },
    { name: 'no IPv6 address for IPv6 targets', view: view(), needed: [4, 6], problem: 'wan1 has no IPv6 address for its heartbeats' },
    { name: 'no address needed when there are no targets of that family', view: view({ families: [] }), needed: [], problem: undefined },
  ];
  for (const row of problems) {
    it(`linkProblem: ${row.name}`, () => assert.equal(linkProblem('wan1', row.view, row.needed), row.problem));
  }

  it('a link problem detaches an up uplink at once, without probe rounds', () => {
    const up = runRounds('+++', settings).last;
    const step = applyLink(up, 'carrier lost on wan1', 'wan1', 9000);
    assert.equal(step.health.state, 'detached');
    assert.equal(step.health.reason, 'carrier lost on wan1');
    assert.deepEqual(step.change, { from: 'up', to: 'detached', reason: 'carrier lost on wan1', at: 9000 });
  });

  it('rounds do not end a detachment the link monitor started; the link coming back starts over in init', () => {
    let h = applyLink(runRounds('+++', settings).last, 'interface wan1 vanished', 'wan1', 4000).health;
    for (let i = 0; i < 5; i++) h = applyRound(h, { answered: 2, total: 2 }, settings, 5000 + i).health;
    assert.equal(h.state, 'detached');
    const back = applyLink(h, undefined, 'wan1', 6000);
    assert.equal(back.health.state, 'init');
    assert.equal(back.health.reason, 'wan1 is usable again: proving the uplink');
    // No instant flap back: `up` good rounds again.
    h = back.health;
    const states: string[] = [];
    for (let i = 0; i < 3; i++) {
      h = applyRound(h, { answered: 2, total: 2 }, settings, 7000 + i).health;
      states.push(h.state);
    }
    assert.deepEqual(states, ['init', 'init', 'up']);
  });

  it('a heartbeat link error (ENODEV) detaches at once and is not counted as a lost packet', () => {
    const up = runRounds('+++', settings).last;
    const step = applyRound(up, { answered: 0, total: 2, linkError: 'ENODEV' }, settings, 9000);
    assert.equal(step.health.state, 'detached');
    assert.equal(step.health.reason, 'heartbeats cannot be sent: ENODEV');
    assert.equal(step.health.detachedBy, 'probe');
  });

  it('a detachment from heartbeats ends with the first round that could be sent', () => {
    const detached = applyRound(runRounds('+++', settings).last, { answered: 0, total: 2, linkError: 'ENETUNREACH' }, settings, 1).health;
    const step = applyRound(detached, { answered: 0, total: 2 }, settings, 2);
    assert.equal(step.health.state, 'init');
    assert.equal(step.health.badStreak, 1);
  });

  it('a new link problem while detached updates the reason without a state change', () => {
    const h = applyLink(runRounds('+++', settings).last, 'wan1 is admin down', 'wan1', 1).health;
    const step = applyLink(h, 'interface wan1 vanished', 'wan1', 2);
    assert.equal(step.change, undefined);
    assert.equal(step.health.reason, 'interface wan1 vanished');
    assert.equal(step.health.since, 1);
  });

  it('the same link problem twice changes nothing the second time', () => {
    const h = applyLink(initialHealth(0), 'interface wan1 is missing', 'wan1', 1).health;
    assert.equal(applyLink(h, 'interface wan1 is missing', 'wan1', 2).change, undefined);
    assert.equal(applyLink(runRounds('+++', settings).last, undefined, 'wan1', 2).change, undefined);
  });
});

describe('quality: degraded', () => {
  const T = { maxRttMs: 500, maxLossPct: 20, minSamples: 5 };
  const up = (): Health => runRounds('+++', S(3, 3)).last;
  const q = (rttMs: number | null, lossPct: number, samples = 10) => ({ rttMs, lossPct, samples });
  const table: {
    name: string;
    from: 'up' | 'degraded';
    q: ReturnType<typeof q>;
    t?: Partial<typeof T> & { recoverRttMs?: number; recoverLossPct?: number };
    to: string;
    reason?: RegExp;
  }[] = [
    { name: 'RTT over max_rtt degrades', from: 'up', q: q(612, 0), to: 'degraded', reason: /^avg RTT 612 ms over max_rtt 500 ms$/ },
    { name: 'loss over max_loss degrades', from: 'up', q: q(10, 40), to: 'degraded', reason: /^loss 40% over max_loss 20%$/ },
    { name: 'both over: both named', from: 'up', q: q(900, 50), to: 'degraded', reason: /RTT .* loss/ },
    { name: 'at the threshold is not over', from: 'up', q: q(500, 20), to: 'up' },
    { name: 'too few samples: no verdict', from: 'up', q: q(900, 50, 4), to: 'up' },
    { name: 'no thresholds: never degraded', from: 'up', q: q(9000, 90), t: { maxRttMs: undefined, maxLossPct: undefined }, to: 'up' },
    { name: 'under max but over recovery (400 ms, default 80%) stays degraded', from: 'degraded', q: q(450, 0), to: 'degraded' },
    { name: 'under both recovery thresholds recovers', from: 'degraded', q: q(300, 5), to: 'up', reason: /^quality recovered: avg RTT 300 ms, loss 5%$/ },
    { name: 'loss under max but not under recover_loss (default half) stays', from: 'degraded', q: q(10, 15), to: 'degraded' },
    { name: 'explicit recovery thresholds', from: 'degraded', q: q(440, 15), t: { recoverRttMs: 450, recoverLossPct: 16 }, to: 'up' },
  ];
  for (const row of table) {
    it(row.name, () => {
      const start = row.from === 'up' ? up() : applyQuality(up(), q(999, 99), T, 1).health;
      assert.equal(start.state, row.from);
      const step = applyQuality(start, row.q, { ...T, ...row.t }, 5000);
      assert.equal(step.health.state, row.to);
      if (row.reason) assert.match(step.health.reason, row.reason);
    });
  }

  it('good rounds do not lift degraded to up; failed rounds take it down', () => {
    let h = applyQuality(up(), q(999, 0), T, 1).health;
    for (let i = 0; i < 10; i++) h = applyRound(h, { answered: 2, total: 2 }, S(3, 3), 2 + i).health;
    assert.equal(h.state, 'degraded');
    for (let i = 0; i < 3; i++) h = applyRound(h, { answered: 0, total: 2 }, S(3, 3), 20 + i).health;
    assert.equal(h.state, 'down');
  });
});

describe('probe pace', () => {
  const P = { intervalMs: 1000, failureIntervalMs: 100, recoveryIntervalMs: 5000 };
  const h = (state: Health['state'], badStreak = 0): Health => ({ state, since: 0, reason: '', goodStreak: 0, badStreak });
  const table: { name: string; families: Health[]; pace: number }[] = [
    { name: 'healthy: the interval', families: [h('up')], pace: 1000 },
    { name: 'a failed round while up: fast confirmation', families: [h('up', 1)], pace: 100 },
    { name: 'confirming while degraded too', families: [h('degraded', 2)], pace: 100 },
    { name: 'init with a failed round confirms fast', families: [h('init', 1)], pace: 100 },
    { name: 'down: the recovery pace', families: [h('down', 7)], pace: 5000 },
    { name: 'detached: the recovery pace', families: [h('detached')], pace: 5000 },
    { name: 'one family down, the other up: the interval', families: [h('down', 3), h('up')], pace: 1000 },
    { name: 'one family confirming wins', families: [h('down', 3), h('up', 1)], pace: 100 },
  ];
  for (const row of table) it(row.name, () => assert.equal(probePace(row.families, P), row.pace));
  it('without failure/recovery intervals, always the interval', () => {
    assert.equal(probePace([h('up', 1)], { intervalMs: 700 }), 700);
    assert.equal(probePace([h('down', 1)], { intervalMs: 700 }), 700);
  });
});

describe('local heartbeat failures', () => {
  it('are left out of what the verdict counts, and the first one is named', () => {
    const ok = { target: 'a', ok: true };
    const lost = { target: 'b', ok: false, error: 'timeout' };
    const emfile = { target: 'c', ok: false, error: 'EMFILE' };
    const enobufs = { target: 'd', ok: false, error: 'ENOBUFS' };
    const table: [object[], object[], string | undefined][] = [
      [[ok, lost], [ok, lost], undefined],
      [[emfile, ok, enobufs], [ok], 'EMFILE'],
      [[enobufs, emfile], [], 'ENOBUFS'],
      [[{ target: 'e', ok: false, error: 'ENODEV' }], [{ target: 'e', ok: false, error: 'ENODEV' }], undefined], // a link error is not local
    ];
    for (const [results, counted, localError] of table) {
      assert.deepEqual(withoutLocalFailures(results as { error?: string }[]), localError === undefined ? { counted } : { counted, localError });
    }
  });
});

// health/rto: `timeout: auto` as tables. RFC 6298's estimator per target (the first sample,
// the update, the floor, the ceiling and the initial value), the passive signal's span, and
// the timeout in force (configured, auto, raised while the users' traffic is answered).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seeded } from '../fuzz/random.js';
import {
  INITIAL_PASSIVE,
  isRttSample,
  nextEstimate,
  type PassiveState,
  passiveSpanMs,
  type RttEstimate,
  rtoMs,
  timeoutInForce,
} from '../../src/health/index.js';
import { RTO_INITIAL_MS, RTO_MAX_MS, RTO_MIN_MS } from '../../src/types/layout.js';

/** The estimate after feeding `rtts` in order. */
const fed = (rtts: readonly number[]): RttEstimate | undefined => rtts.reduce<RttEstimate | undefined>((e, r) => nextEstimate(e, r), undefined);

describe("rto: which answers are samples (Karn's rule, RFC 6298 §3)", () => {
  it("an echo reply always; a TCP handshake only under the kernel's 1 s SYN retry", () => {
    const rows: [Parameters<typeof isRttSample>[0], number, boolean][] = [
      ['icmp', 0.5, true],
      ['icmp', 2999, true],
      ['tcp', 999.9, true],
      ['tcp', 1000, false],
      ['tcp', 2500, false],
    ];
    for (const [kind, rtt, want] of rows) assert.equal(isRttSample(kind, rtt), want, `${kind} ${rtt}`);
  });
});

describe('rto: the layout constants', () => {
  it('floor 50 ms, ceiling 3 s, 1 s before the first answer', () => assert.deepEqual([RTO_MIN_MS, RTO_MAX_MS, RTO_INITIAL_MS], [50, 3000, 1000]));
});

describe('rto: nextEstimate (RFC 6298 §2.2, §2.3)', () => {
  // samples in order -> SRTT, RTTVAR (dyadic values: exact in binary floating point)
  const rows: [string, number[], RttEstimate][] = [
    ['the first sample: SRTT = R, RTTVAR = R/2', [100], { srttMs: 100, rttvarMs: 50 }],
    ['a sub-ms first sample', [0.5], { srttMs: 0.5, rttvarMs: 0.25 }],
    // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 (with the old SRTT); SRTT = 7/8 * 100 + 1/8 * 200 = 112.5
    ['the update: RTTVAR from the old SRTT, then SRTT', [100, 200], { srttMs: 112.5, rttvarMs: 62.5 }],
    ['a faster second sample: |SRTT - R| either way', [100, 20], { srttMs: 90, rttvarMs: 57.5 }],
    ['the same RTT again: RTTVAR decays by 3/4, SRTT stays', [100, 100, 100], { srttMs: 100, rttvarMs: 28.125 }],
    ['five equal sub-ms samples', [0.5, 0.5, 0.5, 0.5, 0.5], { srttMs: 0.5, rttvarMs: 0.0791015625 }],
  ];
  for (const [what, rtts, want] of rows) it(what, () => assert.deepEqual(fed(rtts), want));

  it('never changes the estimate it is given', () => {
    const e = Object.freeze({ srttMs: 100, rttvarMs: 50 });
    nextEstimate(e, 300);
    assert.deepEqual(e, { srttMs: 100, rttvarMs: 50 });
  });
});

describe('rto: rtoMs (SRTT + max(G, K * RTTVAR), 50 ms-3 s)', () => {
  const rows: [string, RttEstimate | undefined, number][] = [
    ['no answer yet: the initial 1 s', undefined, 1000],
    ['SRTT + 4 RTTVAR', { srttMs: 100, rttvarMs: 50 }, 300],
    ['the first sample of 300 ms: 3R', fed([300]), 900],
    ['a steady path: the granularity (10 ms) over K * RTTVAR', { srttMs: 100, rttvarMs: 1 }, 110],
    ['K * RTTVAR just over the granularity', { srttMs: 100, rttvarMs: 3 }, 112],
    ['a 1 ms fiber: the floor, 50 ms', { srttMs: 1, rttvarMs: 0.5 }, 50],
    ['just over the floor', { srttMs: 45, rttvarMs: 2 }, 55],
    ['exactly the floor', { srttMs: 40, rttvarMs: 0 }, 50],
    ['a slow, jittery path: the ceiling, 3 s', { srttMs: 2000, rttvarMs: 500 }, 3000],
    ['exactly the ceiling', { srttMs: 1000, rttvarMs: 500 }, 3000],
    ['just under the ceiling', { srttMs: 999, rttvarMs: 500 }, 2999],
  ];
  for (const [what, e, want] of rows) it(what, () => assert.equal(rtoMs(e), want));

  it('a 1 ms fiber fed through the estimator gets 50 ms', () => {
    assert.equal(rtoMs(fed(Array.from({ length: 30 }, () => 1))), 50);
    assert.equal(rtoMs(fed([1])), 50, 'from its first answer on: 1 + max(10, 2) = 11 is under the floor');
  });

  it('a 300 ms ± 50 ms jittered series stays under its RTO once converged (seeded)', () => {
    const rand = seeded(0x5eed);
    const rtts = Array.from({ length: 500 }, () => 250 + 100 * rand());
    assert.ok(
      rtts.every((r) => r >= 250 && r < 350),
      'the series is what it claims',
    );
    let e: RttEstimate | undefined;
    const over: number[] = [];
    const rtos: number[] = [];
    rtts.forEach((r, i) => {
      if (i >= 20) {
        rtos.push(rtoMs(e));
        if (r >= rtoMs(e)) over.push(i);
      }
      e = nextEstimate(e, r);
    });
    assert.deepEqual(over, [], 'no sample is a spurious timeout');
    // Converged: SRTT near 300, and the RTO well under the initial 1 s (not a ceiling in disguise).
    assert.ok(Math.abs(e!.srttMs - 300) < 20, `srtt ${e!.srttMs}`);
    assert.ok(Math.max(...rtos) < 600 && Math.min(...rtos) > 350, `rto between ${Math.min(...rtos)} and ${Math.max(...rtos)}`);
    // K = 1 would sit inside the jitter: the K = 4 of the RFC is what keeps it out.
    const k1 = (x: RttEstimate) => x.srttMs + Math.max(10, x.rttvarMs);
    let e1: RttEstimate | undefined;
    let under = 0;
    rtts.forEach((r, i) => {
      if (i >= 20 && r >= k1(e1!)) under++;
      e1 = nextEstimate(e1, r);
    });
    assert.ok(under > 50, `a K of 1 would time out ${under} of these`);
  });
});

describe('rto: passiveSpanMs (the slowest target, never under the floor)', () => {
  const fast = { srttMs: 1, rttvarMs: 0.5 }; // rto 50
  const mid = { srttMs: 100, rttvarMs: 50 }; // rto 300
  const slow = { srttMs: 2000, rttvarMs: 500 }; // rto 3000
  const rows: [string, string[], [string, RttEstimate][], number][] = [
    ['no targets: the initial 1 s', [], [], 1000],
    ['a target with no answer yet: the initial 1 s', ['a'], [], 1000],
    ['a fast target: the floor', ['a'], [['a', fast]], 50],
    [
      'the slowest of its targets',
      ['a', 'b'],
      [
        ['a', fast],
        ['b', mid],
      ],
      300,
    ],
    ['a target that never answered does not count (a dead one would hold it at 1 s)', ['a', 'b'], [['a', fast]], 50],
    [
      'the ceiling',
      ['a', 'b'],
      [
        ['a', mid],
        ['b', slow],
      ],
      3000,
    ],
    [
      "another uplink's (or a removed) target does not count",
      ['a'],
      [
        ['a', fast],
        ['z', slow],
      ],
      50,
    ],
  ];
  for (const [what, targets, rtt, want] of rows) it(what, () => assert.equal(passiveSpanMs(targets, new Map(rtt)), want));
});

describe('rto: timeoutInForce', () => {
  const NOW = 10_000;
  const SPAN = 50;
  const quiet: PassiveState = INITIAL_PASSIVE;
  const answered = (msAgo: number, silentFor?: number): PassiveState => ({
    ...INITIAL_PASSIVE,
    lastRxAt: NOW - msAgo,
    ...(silentFor !== undefined ? { silentSince: NOW - silentFor } : {}),
  });
  const fast = { srttMs: 1, rttvarMs: 0.5 }; // rto 50
  const mid = { srttMs: 100, rttvarMs: 50 }; // rto 300
  const slow = { srttMs: 2000, rttvarMs: 500 }; // rto 3000
  const big = { srttMs: 1000, rttvarMs: 100 }; // rto 1400
  const rows: [string, number | 'auto', RttEstimate | undefined, PassiveState, number][] = [
    ['an explicit timeout wins', 200, fast, quiet, 200],
    ['an explicit timeout wins while traffic is answered', 200, fast, answered(10), 200],
    ['an explicit timeout wins over a slow estimate', 200, slow, quiet, 200],
    ['auto, no answer yet: 1 s', 'auto', undefined, quiet, 1000],
    ['auto: the RTO', 'auto', mid, quiet, 300],
    ['auto: a 1 ms fiber gets 50 ms', 'auto', fast, quiet, 50],
    ['auto: the ceiling', 'auto', slow, quiet, 3000],
    ['auto, answered 10 ms ago: raised to 1 s', 'auto', fast, answered(10), 1000],
    ['auto, answered: an RTO over 1 s stays', 'auto', big, answered(10), 1400],
    ['auto, answered: never over the ceiling', 'auto', slow, answered(10), 3000],
    ['answered exactly 1 s ago still counts', 'auto', fast, answered(1000), 1000],
    ['answered 1001 ms ago: the RTO', 'auto', fast, answered(1001), 50],
    ['answered, silent for less than the span: still 1 s', 'auto', fast, answered(100, 49), 1000],
    ['answered, silent for the span: the RTO', 'auto', fast, answered(100, 50), 50],
    ['answered, silent for the span: the RTO of a mid path', 'auto', mid, answered(100, 60), 300],
  ];
  for (const [what, configured, e, passive, want] of rows) it(what, () => assert.equal(timeoutInForce(configured, e, passive, NOW, SPAN), want));
});

// health/passive: the passive signal as tables on a fake clock. Traffic is written as a string,
// one character per 10 ms sample of the counters (the first one is the baseline, at 0 ms):
//   b  both ways: 5 packets out (one every 2 ms) and 5 answers in
//   t  out only: 5 packets out, nothing back
//   r  in only: 5 answers, nothing out
//   1  a single packet out
//   .  nothing
//   R  the counters start over at zero (the table was loaded again)
// Packets out are 100 bytes, answers 1000.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  answering,
  endConfirmation,
  INITIAL_PASSIVE,
  NO_TRAFFIC,
  observeTraffic,
  type PassiveState,
  silentMs,
  type TrafficCounters,
  wakeUp,
  wantsFastSamples,
} from '../../src/health/index.js';
import { PASSIVE_SAMPLE_MS } from '../../src/types/layout.js';

const TX_BYTES = 100;
const RX_BYTES = 1000;

const counters = (tx: number, rx: number): TrafficCounters => ({ txPackets: tx, txBytes: tx * TX_BYTES, rxPackets: rx, rxBytes: rx * RX_BYTES });

/** Feeds a traffic script sample by sample: the state after it and each signal as [ms, silentForMs]. */
function drive(script: string, o: { spanMs?: number; mayCarry?: boolean | ((ms: number) => boolean); from?: PassiveState } = {}) {
  const spanMs = o.spanMs ?? 50;
  let s = o.from ?? INITIAL_PASSIVE;
  let tx = 0;
  let rx = 0;
  const signals: [number, number][] = [];
  const states: PassiveState[] = [];
  [...script].forEach((c, i) => {
    const ms = i * PASSIVE_SAMPLE_MS;
    if (c === 'b' || c === 't') tx += 5;
    if (c === 'b' || c === 'r') rx += 5;
    if (c === '1') tx += 1;
    if (c === 'R') tx = rx = 0;
    const mayCarry = typeof o.mayCarry === 'function' ? o.mayCarry(ms) : (o.mayCarry ?? true);
    const step = observeTraffic(s, counters(tx, rx), ms, spanMs, mayCarry);
    s = step.state;
    states.push(s);
    if (step.silentForMs !== undefined) signals.push([ms, step.silentForMs]);
  });
  return { state: s, states, signals };
}

const x = (c: string, n: number): string => c.repeat(n);
/** A flow both ways from 0 to 990 ms: the last answer comes in the sample at 990 ms. */
const FLOW = x('b', 100);

describe('passive: observeTraffic, when the signal fires', () => {
  // script, span, start state, may carry -> signals [ms, silent for]
  const rows: [string, string, { spanMs?: number; mayCarry?: boolean; from?: PassiveState }, [number, number][]][] = [
    ['a two-way flow never signals', x('b', 500), {}, []],
    ['a blackhole of a flow sending every 2 ms: once, when the silence reaches the span', FLOW + x('t', 100), {}, [[1050, 50]]],
    ['... one sample short of the span: nothing yet', FLOW + x('t', 5), {}, []],
    ['the span is the argument: 200 ms', FLOW + x('t', 100), { spanMs: 200 }, [[1200, 200]]],
    ['a single last packet (an ACK), then a pause: never', FLOW + '1' + x('.', 300), {}, []],
    ['a pause longer than the span starts the silence again', FLOW + '1' + x('.', 6) + x('t', 20), {}, [[1120, 50]]],
    ['a pause of exactly the span is no pause', FLOW + '1' + x('.', 4) + x('t', 20), {}, [[1050, 50]]],
    ['answers again before the span: the silence is over', FLOW + x('t', 4) + 'b' + x('t', 4) + 'b', {}, []],
    ['answers without packets out (a download winding down) end a silence too', FLOW + x('t', 4) + 'r' + x('t', 4), {}, []],
    ['a one-way stream from the start signals', x('t', 20), {}, [[60, 50]]],
    ['only answers coming in: never', x('r', 200), {}, []],
    ['idle: never', x('.', 200), {}, []],
    ['counters that start over: a baseline, no signal at it, the silence starts again', FLOW + x('t', 4) + 'R' + x('t', 20), {}, [[1100, 50]]],
    ['counters that start over, then nothing: never', FLOW + x('t', 4) + 'R' + x('.', 100), {}, []],
    ['held off: the signal waits for the end of the holdoff', FLOW + x('t', 100), { from: { ...INITIAL_PASSIVE, holdoffUntil: 1100 } }, [[1100, 100]]],
    ['held off past the silence: never', FLOW + x('t', 100), { from: { ...INITIAL_PASSIVE, holdoffUntil: 5000 } }, []],
    ['while a confirmation runs: never', FLOW + x('t', 100), { from: { ...INITIAL_PASSIVE, confirmingSince: 500 } }, []],
    ['an uplink that may carry nothing: never', FLOW + x('t', 100), { mayCarry: false }, []],
  ];
  for (const [what, script, o, want] of rows) it(what, () => assert.deepEqual(drive(script, o).signals, want));

  it('may carry again while still silent: the signal comes at the next sample, with the whole silence', () => {
    const r = drive(FLOW + x('t', 100), { mayCarry: (ms) => ms >= 1300 });
    assert.deepEqual(r.signals, [[1300, 300]]);
  });

  it('what the signal leaves behind: when the silence started, from which packet, one confirmation started', () => {
    const { state } = drive(FLOW + x('t', 6));
    // The flow sent 500 packets up to 990 ms; the signal at 1050 ms has 30 more unanswered.
    assert.deepEqual(
      [state.silentSince, state.silentFromTx, state.counters?.txPackets, state.confirmingSince, state.started, state.lastTxAt, state.lastRxAt],
      [1000, 500, 530, 1050, 1, 1050, 990],
    );
  });

  it('a pause longer than the span: the silence starts at the next packet, counted from there', () => {
    const { state } = drive(FLOW + '1' + x('.', 6) + x('t', 3));
    assert.deepEqual([state.silentSince, state.silentFromTx, state.lastTxAt], [1070, 501, 1090]);
  });

  it('counters that start over: the silence, its first packet and the last packet out are forgotten', () => {
    const { states } = drive(FLOW + x('t', 4) + 'R');
    const before = states.at(-2)!;
    const reset = states.at(-1)!;
    assert.deepEqual([before.silentSince, before.silentFromTx, before.lastTxAt], [1000, 500, 1030]);
    assert.deepEqual([reset.silentSince, reset.silentFromTx, reset.lastTxAt, reset.lastRxAt], [undefined, undefined, undefined, 990]);
    assert.deepEqual([reset.counters, reset.sampledAt, reset.window], [NO_TRAFFIC, 1040, { at: 1040, counters: NO_TRAFFIC }]);
  });

  it('a baseline only: the first sample signals nothing, whatever the counters say', () => {
    const step = observeTraffic(INITIAL_PASSIVE, counters(1_000_000, 0), 0, 50, true);
    assert.equal(step.silentForMs, undefined);
    assert.deepEqual([step.state.counters, step.state.silentSince], [counters(1_000_000, 0), undefined]);
  });
});

describe('passive: rates per second', () => {
  it('rates over the last full second of a flow both ways', () => {
    // 500 packets each way per second: 50,000 B/s out, 500,000 B/s in.
    const { states } = drive(x('b', 201));
    const rate = (ms: number) => states[ms / PASSIVE_SAMPLE_MS]!.rate;
    assert.deepEqual(rate(990), NO_TRAFFIC, 'no full window yet');
    assert.deepEqual(rate(1000), { txPackets: 500, txBytes: 50_000, rxPackets: 500, rxBytes: 500_000 });
    assert.deepEqual(rate(1990), rate(1000), 'kept until the next window is full');
    assert.deepEqual(states[100]!.window, { at: 1000, counters: counters(505, 505) });
  });

  it('a flow that stops being answered: the answers rate falls to zero a window later', () => {
    const { states } = drive(x('b', 101) + x('t', 100));
    assert.deepEqual(states[200]!.rate, { txPackets: 500, txBytes: 50_000, rxPackets: 0, rxBytes: 0 });
  });

  it('a window longer than a second (slow samples): per second, rounded', () => {
    let s = observeTraffic(INITIAL_PASSIVE, counters(0, 0), 0, 50, true).state;
    s = observeTraffic(s, counters(60, 10), 600, 50, true).state;
    assert.deepEqual(s.rate, NO_TRAFFIC);
    s = observeTraffic(s, counters(131, 13), 1300, 50, true).state;
    // 131 packets in 1.3 s: 100.77 -> 101; 13 answers: 10; bytes 13,100 -> 10,077; 13,000 -> 10,000
    assert.deepEqual(s.rate, { txPackets: 101, txBytes: 10_077, rxPackets: 10, rxBytes: 10_000 });
  });

  it('answers decreasing alone are a reset too', () => {
    let s = observeTraffic(INITIAL_PASSIVE, counters(10, 10), 0, 50, true).state;
    s = observeTraffic(s, counters(20, 5), 10, 50, true).state;
    assert.deepEqual([s.counters, s.window], [counters(20, 5), { at: 10, counters: counters(20, 5) }]);
  });
});

describe('passive: endConfirmation', () => {
  const confirming = (s: PassiveState, ms: number): PassiveState => ({ ...s, confirmingSince: ms });

  /** `n` confirmations in a row, each starting as the holdoff ends and refuted 100 ms later: each holdoff. */
  function refutedInARow(n: number, intervalMs: number): { holdoffs: number[]; state: PassiveState; at: number } {
    let s = INITIAL_PASSIVE;
    let t = 0;
    const holdoffs: number[] = [];
    for (let i = 0; i < n; i++) {
      t += 100;
      s = endConfirmation(confirming(s, t - 100), 'refuted', t, intervalMs);
      holdoffs.push(s.holdoffUntil - t);
      t = s.holdoffUntil;
    }
    return { holdoffs, state: s, at: t };
  }

  const rows: [string, number, number, number[]][] = [
    ['interval 1 s: 1, 2, 4 ... 32 s, then capped at 60 s', 1000, 9, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]],
    ['interval 10 s: 10, 20, 40, then 60 s', 10_000, 5, [10_000, 20_000, 40_000, 60_000, 60_000]],
    ['interval 100 ms: doubling until the cap', 100, 12, [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000]],
    ['an interval over the cap: capped from the first', 120_000, 2, [60_000, 60_000]],
  ];
  for (const [what, interval, n, want] of rows) it(`refuted in a row: ${what}`, () => assert.deepEqual(refutedInARow(n, interval).holdoffs, want));

  it('refuted: counts, the time, no confirmation running', () => {
    const { state } = refutedInARow(3, 1000);
    assert.deepEqual([state.falseAlarms, state.refuted, state.lastFalseAlarmAt, state.confirmingSince], [3, 3, 3300, undefined]);
  });

  it('confirmed: clears the holdoff and the count, keeps the tally of refuted ones', () => {
    const { state, at } = refutedInARow(3, 1000);
    const cleared = endConfirmation(confirming(state, at), 'confirmed', at + 200, 1000);
    assert.deepEqual([cleared.falseAlarms, cleared.holdoffUntil, cleared.refuted, cleared.confirmingSince], [0, 0, 3, undefined]);
    // The next refutation starts from the interval again.
    const next = endConfirmation(confirming(cleared, at + 300), 'refuted', at + 400, 1000);
    assert.deepEqual([next.falseAlarms, next.holdoffUntil - (at + 400)], [1, 1000]);
  });

  // After refutations in a row (the last at 100 ms, its holdoff H), the next refutation comes
  // `later` ms after it: within 2H + interval it counts on, past that the count starts over.
  const quiet: [string, number, number, [number, number]][] = [
    ['one refuted (H 1 s), the next 3 s later: in a row', 1, 3000, [2, 2000]],
    ['one refuted (H 1 s), the next 3.001 s later: starts over', 1, 3001, [1, 1000]],
    ['two refuted (H 2 s), the next 5 s later: in a row', 2, 5000, [3, 4000]],
    ['two refuted (H 2 s), the next 5.001 s later: starts over', 2, 5001, [1, 1000]],
    ['seven refuted (H 60 s), the next 121 s later: in a row, still capped', 7, 121_000, [8, 60_000]],
    ['seven refuted (H 60 s), the next 121.001 s later: starts over', 7, 121_001, [1, 1000]],
  ];
  for (const [what, n, later, want] of quiet) {
    it(`quiet time: ${what}`, () => {
      const { state } = refutedInARow(n, 1000);
      const last = state.lastFalseAlarmAt!;
      const next = endConfirmation(confirming(state, last + later - 50), 'refuted', last + later, 1000);
      assert.deepEqual([next.falseAlarms, next.holdoffUntil - (last + later)], want);
    });
  }

  it('no confirmation running: nothing changes, the state is the same object', () => {
    const s: PassiveState = { ...INITIAL_PASSIVE, falseAlarms: 2, holdoffUntil: 5000 };
    assert.equal(endConfirmation(s, 'refuted', 1000, 1000), s);
    assert.equal(endConfirmation(s, 'confirmed', 1000, 1000), s);
  });
});

describe('passive: answering and silentMs', () => {
  const NOW = 10_000;
  const SPAN = 50;
  const rows: [string, Partial<PassiveState>, boolean][] = [
    ['no answer ever', {}, false],
    ['an answer 10 ms ago', { lastRxAt: NOW - 10 }, true],
    ['an answer exactly the window (a second) ago', { lastRxAt: NOW - 1000 }, true],
    ['an answer just over the window ago', { lastRxAt: NOW - 1001 }, false],
    ['answered, a silence shorter than the span', { lastRxAt: NOW - 100, silentSince: NOW - 49 }, true],
    ['answered, a silence of the span', { lastRxAt: NOW - 100, silentSince: NOW - 50 }, false],
    ['a silence, and the last answer long ago', { lastRxAt: NOW - 5000, silentSince: NOW - 10 }, false],
  ];
  for (const [what, s, want] of rows) it(`answering: ${what}`, () => assert.equal(answering({ ...INITIAL_PASSIVE, ...s }, NOW, SPAN), want));

  it('answering along a blackhole: until the silence reaches the span', () => {
    const { states } = drive(FLOW + x('t', 10));
    // samples at 990 (last answer) ... 1090; asked at each sample's time
    const got = states.slice(99).map((s, i) => answering(s, 990 + i * 10, 50));
    assert.deepEqual(got, [true, true, true, true, true, true, false, false, false, false, false]);
  });

  const silent: [string, Partial<PassiveState>, number][] = [
    ['not silent', {}, 0],
    ['silent since 1000 ms, still sending', { silentSince: 1000, lastTxAt: NOW - 10 }, NOW - 1000],
    ['silent since 1000 ms, sending paused for the span', { silentSince: 1000, lastTxAt: NOW - 50 }, NOW - 1000],
    ['silent since 1000 ms, sending paused longer than the span: no silence now', { silentSince: 1000, lastTxAt: NOW - 51 }, 0],
  ];
  for (const [what, s, want] of silent) it(`silentMs: ${what}`, () => assert.equal(silentMs({ ...INITIAL_PASSIVE, ...s }, NOW, 50), want));
});

describe('passive: the wake-up and when samples come fast', () => {
  const answered = drive('bbbbb').state;
  it('a wake-up takes the counters as a new baseline and the silence as begun the quiet time ago', () => {
    const s = wakeUp(answered, counters(1000, 25), 5000, 50);
    assert.deepEqual([s.counters, s.sampledAt, s.silentSince, s.lastTxAt, s.silentFromTx], [counters(1000, 25), 5000, 4950, 5000, 1000]);
    assert.equal(wantsFastSamples(s, 5000, 50), true);
    // The next sample: still nothing back, 60 ms of silence, over the span: the signal fires.
    const step = observeTraffic(s, counters(1005, 25), 5010, 50, true);
    assert.equal(step.silentForMs, 60);
  });
  it('an answer after the wake-up ends the watch', () => {
    const s = observeTraffic(wakeUp(answered, counters(1000, 25), 5000, 50), counters(1005, 30), 5010, 50, true).state;
    assert.equal(wantsFastSamples(s, 5010, 50), false);
  });
  it('a silence or a confirmation under way is left as it is', () => {
    const silent = drive('bbttt').state;
    assert.equal(wakeUp(silent, counters(99, 0), 100, 50), silent);
    const confirming = { ...answered, confirmingSince: 40 };
    assert.equal(wakeUp(confirming, counters(99, 0), 100, 50), confirming);
    assert.equal(wantsFastSamples(confirming, 10_000, 50), true, 'a confirmation is watched until it ends');
  });
  it('sending that paused for the span is no silence to watch', () => {
    const s = wakeUp(answered, counters(1000, 25), 5000, 50);
    assert.equal(wantsFastSamples(s, 5051, 50), false);
    assert.equal(wantsFastSamples(INITIAL_PASSIVE, 0, 50), false);
  });
});

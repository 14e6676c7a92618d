// health/window: SampleWindow's figures after a row of heartbeats (an RTT in ms, or null for a
// lost one), and `combine` over several windows, which weighs every heartbeat alike (not
// every window). Expected figures worked out by hand; fractions compared to 1e-9.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combine, DEFAULT_WINDOW, SampleWindow } from '../../src/health/index.js';

function fill(size: number | undefined, samples: readonly (number | null)[]): SampleWindow {
  let w = size === undefined ? new SampleWindow() : new SampleWindow(size);
  for (const s of samples) w = w.push(s);
  return w;
}

function close(actual: number | null, want: number | null, what: string): void {
  if (want === null || actual === null) assert.equal(actual, want, what);
  else assert.ok(Math.abs(actual - want) < 1e-9, `${what}: ${actual}, want ${want}`);
}

describe('sample window', () => {
  // size, pushed, then: count, mean RTT, jitter (mean |step| between answered RTTs), loss %, last
  type Row = [string, number, (number | null)[], number, number | null, number | null, number, number | null | undefined];
  const rows: Row[] = [
    ['empty', 3, [], 0, null, null, 0, undefined],
    ['one answer: no jitter yet', 3, [10], 1, 10, null, 0, 10],
    ['steady steps of 10', 3, [10, 20, 30], 3, 20, 10, 0, 30],
    ['a loss between answers: jitter spans it', 3, [10, null, 30], 3, 20, 20, 100 / 3, 30],
    ['the oldest falls out: [20, 30, 40] remain', 3, [10, 20, 30, 40], 3, 30, 10, 0, 40],
    ['up and down: steps 8 and 6', 5, [12, 4, 10], 3, 26 / 3, 7, 0, 10],
    ['losses pushed out and in: [null, 5, 15, null] remain', 4, [null, null, 5, 15, null], 4, 10, 10, 50, null],
    ['all lost', 4, [null, null], 2, null, null, 100, null],
    ['size 1 keeps only the newest', 1, [5, null], 1, null, null, 100, null],
  ];
  for (const [what, size, pushed, count, rtt, jitter, loss, last] of rows) {
    it(what, () => {
      const w = fill(size, pushed);
      assert.equal(w.count, count, 'count');
      close(w.rttMs, rtt, 'rttMs');
      close(w.jitterMs, jitter, 'jitterMs');
      close(w.lossPct, loss, 'lossPct');
      assert.equal(w.last, last, 'last');
    });
  }

  it('by default the last 20 heartbeats: 1..25 pushed keeps 6..25', () => {
    assert.equal(DEFAULT_WINDOW, 20);
    const w = fill(
      undefined,
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    assert.equal(w.size, 20);
    assert.equal(w.count, 20);
    close(w.rttMs, (6 + 25) / 2, 'rttMs');
    close(w.jitterMs, 1, 'jitterMs');
  });
});

describe('combine', () => {
  type Row = [string, (number | null)[][], number | null, number, number];
  const rows: Row[] = [
    ['no windows', [], null, 0, 0],
    ['an empty window', [[]], null, 0, 0],
    // (10 + 20 + 40) / 3, not the mean of the means (15 + 40) / 2 = 27.5.
    ['every answer weighs alike', [[10, 20], [40]], 70 / 3, 0, 3],
    [
      'losses count per heartbeat: 4 of 6',
      [
        [10, null],
        [null, null, null, 30],
      ],
      20,
      200 / 3,
      6,
    ],
    ['one target all lost, one empty', [[null, null], []], null, 100, 2],
    ['(100 + 200 + 50) / 3; 1 of 4 lost', [[100, 200, null], [50]], 350 / 3, 25, 4],
    ['3 of 7 lost: the answered count comes back whole', [[1, null, 2, null, 3, null, 4]], 2.5, 300 / 7, 7],
  ];
  for (const [what, windows, rtt, loss, samples] of rows) {
    it(what, () => {
      const got = combine(windows.map((s) => fill(10, s)));
      close(got.rttMs, rtt, 'rttMs');
      close(got.lossPct, loss, 'lossPct');
      assert.equal(got.samples, samples, 'samples');
    });
  }
});

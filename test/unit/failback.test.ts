// steer/: the failback schedule, as a timeline with a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adoptedSteering, NO_STEER_STATE, steerWithFailback, takeDueDrain, type SteerState, type SteerUplink } from '../../src/steer/index.js';
import type { UplinkState } from '../../src/types/index.js';

const SETTINGS = { holdMs: 30_000, steps: [10, 50, 100], stepIntervalMs: 10_000 };
/** `everLost`: whether they have been lost since start (their next `up` is a recovery). */
const U = (fiber: UplinkState, dsl: UplinkState, everLost = true): SteerUplink[] => [
  { name: 'fiber', priority: 1, weight: 1, state: fiber, everLost },
  { name: 'dsl', priority: 2, weight: 1, state: dsl, everLost },
];
const shares = (s: SteerState): string => s.steering.active.map((a) => `${a.uplink} ${a.share}`).join(', ');

/** Runs states at times (ms) and returns what carried new flows after each. */
function timeline(events: [number, SteerUplink[]][], settings: typeof SETTINGS & { drainMs?: number } = SETTINGS, start = NO_STEER_STATE): string[] {
  let state = start;
  return events.map(([t, uplinks]) => {
    state = steerWithFailback(uplinks, state, settings, t);
    const due = takeDueDrain(state, t);
    state = due.state;
    return `${t / 1000}s: ${shares(state)}${due.uplinks.length ? `; drain ${due.uplinks.join(',')}` : ''}`;
  });
}

describe('failback schedule', () => {
  it('failover is immediate; failback holds, then follows the steps', () => {
    assert.deepEqual(
      timeline([
        [0, U('up', 'up')],
        [1000, U('down', 'up')], // primary lost: at once
        [5000, U('up', 'up')], // back: hold 30 s
        [34_000, U('up', 'up')],
        [35_000, U('up', 'up')], // hold over: 10%
        [45_000, U('up', 'up')], // 50%
        [54_999, U('up', 'up')],
        [55_000, U('up', 'up')], // 100%: done
      ]),
      [
        '0s: fiber 100',
        '1s: dsl 100',
        '5s: dsl 100',
        '34s: dsl 100',
        '35s: fiber 10, dsl 90',
        '45s: fiber 50, dsl 50',
        '54.999s: fiber 50, dsl 50',
        '55s: fiber 100',
      ],
    );
  });

  it('a failure of the recovering uplink mid-ramp drops it to 0 at once and restarts the hold', () => {
    assert.deepEqual(
      timeline([
        [0, U('up', 'up')],
        [1000, U('down', 'up')],
        [2000, U('up', 'up')], // hold until 32 s
        [40_000, U('up', 'up')], // 10%
        [41_000, U('down', 'up')], // fails: 0 at once
        [42_000, U('up', 'up')], // new hold until 72 s
        [71_000, U('up', 'up')],
        [72_000, U('up', 'up')],
      ]),
      ['0s: fiber 100', '1s: dsl 100', '2s: dsl 100', '40s: fiber 10, dsl 90', '41s: dsl 100', '42s: dsl 100', '71s: dsl 100', '72s: fiber 10, dsl 90'],
    );
  });

  it('the backup failing mid-ramp hands everything to the primary at once', () => {
    assert.deepEqual(
      timeline([
        [0, U('up', 'up')],
        [1000, U('down', 'up')],
        [2000, U('up', 'up')],
        [40_000, U('up', 'up')],
        [40_500, U('up', 'down')],
      ]),
      ['0s: fiber 100', '1s: dsl 100', '2s: dsl 100', '40s: fiber 10, dsl 90', '40.5s: fiber 100'],
    );
  });

  it('says when the next change is due, and why the weights are what they are', () => {
    let s = steerWithFailback(U('up', 'up'), NO_STEER_STATE, SETTINGS, 0);
    s = steerWithFailback(U('down', 'up'), s, SETTINGS, 1000);
    s = steerWithFailback(U('up', 'up'), s, SETTINGS, 2000);
    assert.equal(s.nextAt, 32_000);
    assert.match(s.steering.reason, /^fiber recovered: proving itself for 30s more before failback$/);
    s = steerWithFailback(U('up', 'up'), s, SETTINGS, 32_000);
    assert.equal(s.nextAt, 42_000);
    assert.equal(s.steering.reason, 'failback to fiber: step 1 of 3, 10% of new flows');
  });

  it('steps [100] fail back in one move after the hold', () => {
    const one = { holdMs: 500, steps: [100], stepIntervalMs: 1000 };
    let s = steerWithFailback(U('up', 'up'), NO_STEER_STATE, one, 0);
    s = steerWithFailback(U('down', 'up'), s, one, 100);
    s = steerWithFailback(U('up', 'up'), s, one, 200);
    assert.equal(shares(s), 'dsl 100');
    s = steerWithFailback(U('up', 'up'), s, one, 700);
    assert.equal(shares(s), 'fiber 100');
    assert.equal(s.nextAt, undefined);
  });

  it('at start the best tier takes everything at once (nothing to fail back from)', () => {
    assert.equal(shares(steerWithFailback(U('up', 'up'), NO_STEER_STATE, SETTINGS, 0)), 'fiber 100');
  });

  it("adopted routes wait for their uplink's first verdict: a backup judged first takes nothing", () => {
    const adopted: SteerState = { steering: { active: [{ uplink: 'fiber', weight: 1, share: 100 }], allDown: false, reason: 'adopted' } };
    const s1 = steerWithFailback(U('init', 'up'), adopted, SETTINGS, 0);
    assert.equal(shares(s1), 'fiber 100');
    assert.equal(s1.steering.reason, 'waiting for the first verdict on fiber');
    assert.equal(shares(steerWithFailback(U('up', 'up'), s1, SETTINGS, 100)), 'fiber 100');
    // The verdict is down: failover at once.
    assert.equal(shares(steerWithFailback(U('down', 'up'), s1, SETTINGS, 100)), 'dsl 100');
  });

  it('a first verdict is no recovery: the preferred uplink takes its flows without a hold', () => {
    assert.deepEqual(
      timeline([
        [0, U('init', 'up', false)], // the backup answers first
        [5, U('up', 'up', false)], // the primary's first verdict: at once
        [1000, U('down', 'up', true)],
        [2000, U('up', 'up', true)], // a recovery: hold
      ]),
      ['0s: dsl 100', '0.005s: fiber 100', '1s: dsl 100', '2s: dsl 100'],
    );
  });

  it('routes adopted at start still hold a primary that comes up after the backup', () => {
    const adopted = { steering: adoptedSteering([{ uplink: 'dsl', weight: 1 }])! };
    assert.deepEqual(
      timeline(
        [
          [0, U('init', 'up', false)],
          [5, U('up', 'up', false)],
        ],
        SETTINGS,
        adopted,
      ),
      ['0s: dsl 100', '0.005s: dsl 100'],
    );
  });

  it("drain: the backup's pinned flows are due `drain` after the last step, and a failover cancels it", () => {
    const settings = { ...SETTINGS, drainMs: 600_000 };
    assert.deepEqual(
      timeline(
        [
          [0, U('up', 'up')],
          [1000, U('down', 'up')],
          [5000, U('up', 'up')], // hold until 35 s; steps at 35, 45, 55 s
          [55_000, U('up', 'up')], // 100%: drain due at 655 s
          [654_999, U('up', 'up')],
          [655_000, U('up', 'up')],
          [700_000, U('up', 'up')], // once only
        ],
        settings,
      ),
      ['0s: fiber 100', '1s: dsl 100', '5s: dsl 100', '55s: fiber 100', '654.999s: fiber 100', '655s: fiber 100; drain dsl', '700s: fiber 100'],
    );
    assert.deepEqual(
      timeline(
        [
          [0, U('up', 'up')],
          [1000, U('down', 'up')],
          [5000, U('up', 'up')],
          [55_000, U('up', 'up')],
          [60_000, U('down', 'up')], // lost again before the drain: nothing is reset
          [700_000, U('down', 'up')],
        ],
        settings,
      ),
      ['0s: fiber 100', '1s: dsl 100', '5s: dsl 100', '55s: fiber 100', '60s: dsl 100', '700s: dsl 100'],
    );
  });
});

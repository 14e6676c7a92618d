// steer/: route-flap dampening (RFC 2439) as a timeline with a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dampAt, dampLoss, NO_DAMPING, penaltyCeiling, reuseAt, type Damping } from '../../src/steer/index.js';

const S = { penalty: 1000, suppress: 2000, reuse: 750, halfLifeMs: 60_000, maxSuppressMs: 300_000 };

describe('flap dampening', () => {
  it('halves the penalty every half-life', () => {
    const d = dampLoss(NO_DAMPING, 0, S);
    assert.equal(d.penalty, 1000);
    assert.equal(Math.round(dampAt(d, 60_000, S).penalty), 500);
  });

  it('suppresses above `suppress`, releases below `reuse`, at the time reuseAt says', () => {
    // Worked by hand: 5 s is 1/12 of a half-life, a decay factor of 2^(-1/12) = 0.943874.
    //   t = 0:     1000
    //   t = 5 s:   1000 * 0.943874 + 1000 = 1943.874  (not over 2000: not held)
    //   t = 10 s:  1943.874 * 0.943874 + 1000 = 2834.773  (over 2000: held out)
    // Down to 750 takes log2(2834.773 / 750) = 1.918271 half-lives = 115,096 ms: released at 125,096 ms.
    let d: Damping = NO_DAMPING;
    d = dampLoss(d, 0, S);
    d = dampLoss(d, 5000, S);
    assert.equal(d.suppressed, false);
    assert.equal(d.penalty.toFixed(3), '1943.874');
    d = dampLoss(d, 10_000, S);
    assert.equal(d.suppressed, true);
    assert.equal(d.penalty.toFixed(3), '2834.773');
    assert.equal(Math.round(reuseAt(d, S)!), 125_096);
    assert.equal(dampAt(d, 125_000, S).suppressed, true, 'still held just before');
    assert.equal(dampAt(d, 125_200, S).suppressed, false, 'released just after');
  });

  it('two losses far apart never suppress', () => {
    const d = dampLoss(dampLoss(NO_DAMPING, 0, S), 120_000, S);
    assert.equal(d.suppressed, false);
    assert.equal(Math.round(d.penalty), 1250);
  });

  it('caps the penalty so nothing is held out longer than max_suppress', () => {
    let d: Damping = NO_DAMPING;
    for (let t = 0; t < 100_000; t += 1000) d = dampLoss(d, t, S);
    // 750 * 2^(300 s / 60 s) = 750 * 32: the penalty that takes max_suppress to decay to reuse.
    assert.equal(penaltyCeiling(S), 24_000);
    assert.equal(d.penalty, 24_000);
    assert.equal(Math.round(reuseAt(d, S)! - d.at), 300_000);
  });

  it('forgets a penalty under half of reuse', () => {
    const d = dampAt(dampLoss(NO_DAMPING, 0, S), 200_000, S);
    assert.deepEqual(d, { penalty: 0, at: 200_000, suppressed: false });
  });
});

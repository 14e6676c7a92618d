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
    let d: Damping = NO_DAMPING;
    for (const t of [0, 5000, 10_000]) d = dampLoss(d, t, S); // three losses in 10 s
    assert.ok(d.suppressed && d.penalty > 2000);
    const at = reuseAt(d, S)!;
    assert.ok(dampAt(d, at - 100, S).suppressed, 'still held just before');
    assert.equal(dampAt(d, at + 100, S).suppressed, false, 'released just after');
    // Same numbers by hand: 2*2^(-1/12)+... decays to 750 after half_life * log2(p/750).
    assert.equal(Math.round(at), Math.round(10_000 + 60_000 * Math.log2(d.penalty / 750)));
  });

  it('two losses far apart never suppress', () => {
    const d = dampLoss(dampLoss(NO_DAMPING, 0, S), 120_000, S);
    assert.equal(d.suppressed, false);
    assert.equal(Math.round(d.penalty), 1250);
  });

  it('caps the penalty so nothing is held out longer than max_suppress', () => {
    let d: Damping = NO_DAMPING;
    for (let t = 0; t < 100_000; t += 1000) d = dampLoss(d, t, S);
    assert.equal(d.penalty, penaltyCeiling(S));
    assert.equal(Math.round(reuseAt(d, S)! - d.at), 300_000);
  });

  it('forgets a penalty under half of reuse', () => {
    const d = dampAt(dampLoss(NO_DAMPING, 0, S), 200_000, S);
    assert.deepEqual(d, { penalty: 0, at: 200_000, suppressed: false });
  });
});

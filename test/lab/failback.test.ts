// Lab: a recovered primary proves itself for `hold`, then takes new flows back step by step,
// and a failure mid-ramp sends everything back to the backup at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

describe('gradual failback', { timeout: 120_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(labConfig({ failback: '{ hold: 1500ms, steps: [10, 50, 100], step_interval: 1500ms }' }), (r) => ({ lab, daemon } = r));

  const weights = (): Promise<string> => lab.shares(100);

  const failOver = async () => {
    const mark = daemon.logs.length;
    await lab.blackhole(1);
    await daemon.waitState('fiber', 'down', 10_000, mark);
    await waitUntil(async () => (await weights()) === 'wan2:100', 5000, 'all on wan2');
  };

  it('hold, then 10%, 50%, 100% of new flows, each step visible in the kernel and in status', async () => {
    await failOver();
    const mark = daemon.logs.length;
    await lab.heal(1);
    const up = await daemon.waitState('fiber', 'up', 10_000, mark);
    const upAt = Date.now();
    assert.ok(up);
    // Holding: the backup still carries everything.
    assert.equal(await weights(), 'wan2:100');
    await waitUntil(async () => (await weights()) === 'wan1:10 wan2:90', 5000, 'step 1: 10/90');
    assert.ok(Date.now() - upAt >= 1000, 'the hold was kept');
    const s = (await daemon.status()).json as { uplinks: { name: string; weight: number }[]; steering: { reason: string } };
    assert.deepEqual(
      s.uplinks.map((u) => `${u.name} ${u.weight}`),
      ['fiber 10', 'dsl 90'],
    );
    assert.equal(s.steering.reason, 'failback to fiber: step 1 of 3, 10% of new flows');
    await waitUntil(async () => (await weights()) === 'wan1:50 wan2:50', 5000, 'step 2: 50/50');
    await waitUntil(async () => (await weights()) === 'wan1:100', 5000, 'step 3: all on wan1');
  });

  it('the primary failing mid-ramp sends everything back to the backup at once', async () => {
    await failOver();
    const mark = daemon.logs.length;
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 10_000, mark);
    await waitUntil(async () => (await weights()) === 'wan1:10 wan2:90', 5000, 'step 1');
    const failAt = daemon.logs.length;
    await lab.blackhole(1);
    await daemon.waitState('fiber', 'down', 10_000, failAt);
    await waitUntil(async () => (await weights()) === 'wan2:100', 2000, 'back on wan2 at once');
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 10_000, failAt);
    // A new hold: still all on the backup right after the recovery.
    assert.equal(await weights(), 'wan2:100');
  });
});

// Lab: a recovered primary proves itself for `hold`, then takes new flows back step by step
// (here with the weighted multipath route: the kernel splits new flows by the weights), and a
// failure mid-ramp sends everything back to the backup at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

const CONFIG = labConfig({ failback: '{ hold: 1500ms, steps: [10, 50, 100], step_interval: 1500ms }' });

describe('gradual failback', { timeout: 120_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(CONFIG, (r) => ({ lab, daemon } = r));

  /** `wan1:W wan2:W` of the kernel's default route in table 100 (a single path shows weight 1). */
  const weights = async (): Promise<string> => {
    const r = (await lab.routes(100)).find((x) => x.dst === 'default');
    if (!r) return 'none';
    if (!r.nexthops) return `${r.dev}:1`;
    return r.nexthops.map((n) => `${n.dev}:${n.weight ?? 1}`).join(' ');
  };

  const failOver = async () => {
    const mark = daemon.logs.length;
    await lab.blackhole(1);
    await daemon.waitState('fiber', 'down', 10_000, mark);
    await waitUntil(async () => (await weights()) === 'wan2:1', 5000, 'all on wan2');
  };

  it('hold, then 10%, 50%, 100% of new flows, each step visible in the kernel and in status', async () => {
    await failOver();
    const mark = daemon.logs.length;
    await lab.heal(1);
    const up = await daemon.waitState('fiber', 'up', 10_000, mark);
    const upAt = Date.now();
    assert.ok(up);
    // Holding: the backup still carries everything.
    assert.equal(await weights(), 'wan2:1');
    await waitUntil(async () => (await weights()) === 'wan1:10 wan2:90', 5000, 'step 1: 10/90');
    assert.ok(Date.now() - upAt >= 1000, 'the hold was kept');
    const s = (await daemon.status()).json as { uplinks: { name: string; weight: number }[]; steering: { reason: string } };
    assert.deepEqual(s.uplinks.map((u) => `${u.name} ${u.weight}`), ['fiber 10', 'dsl 90']);
    assert.equal(s.steering.reason, 'failback to fiber: step 1 of 3, 10% of new flows');
    await waitUntil(async () => (await weights()) === 'wan1:50 wan2:50', 5000, 'step 2: 50/50');
    await waitUntil(async () => (await weights()) === 'wan1:1', 5000, 'step 3: all on wan1');
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
    await waitUntil(async () => (await weights()) === 'wan2:1', 2000, 'back on wan2 at once');
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 10_000, failAt);
    // A new hold: still all on the backup right after the recovery.
    assert.equal(await weights(), 'wan2:1');
  });
});

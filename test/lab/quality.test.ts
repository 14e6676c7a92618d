// Lab: an uplink that answers with 40% loss, or later than max_rtt, is `degraded`: it hands
// its traffic to a healthy backup, and takes it back once the recovery thresholds hold.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import { assertStatusContract } from './contract.js';
import { TARGETS, type DaemonHandle, type Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

// Three targets with reliability 1: at 40% loss a round fails only when all three are lost.
const CONFIG = `${labConfig({ interval: '400ms', timeout: '400ms', down: 5, up: 3, targets: TARGETS })}`.replace(
  'reliability: 1',
  'reliability: 1\n  window: 10\n  max_rtt: 200ms\n  max_loss: 20\n  recover_rtt: 100ms\n  recover_loss: 10',
);

describe('quality thresholds', { timeout: 180_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(
    CONFIG,
    (r) => ({ lab, daemon } = r),
    (l) => l.startResponder(),
  );

  const fiber = async () => assertStatusContract((await daemon.status()).json).uplinks.find((u) => u.name === 'fiber')!;

  const degradeAndRecover = async (inject: () => Promise<void> | void, heal: () => Promise<void> | void, reason: RegExp) => {
    const mark = daemon.logs.length;
    await inject();
    const line = await daemon.waitState('fiber', 'degraded', 20_000, mark);
    assert.match(line.reason!, reason);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan2', 5000, 'route via wan2');
    const f = await fiber();
    assert.equal(f.state, 'degraded');
    assert.equal(f.weight, 0);
    const back = daemon.logs.length;
    await heal();
    const up = await daemon.waitState('fiber', 'up', 20_000, back);
    assert.match(up.reason!, /^quality recovered: avg RTT [\d.]+ ms, loss [\d.]+%$/);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 5000, 'route back via wan1');
  };

  it('40% loss on the primary: degraded, traffic on the backup; back once loss is under recover_loss', async () => {
    await degradeAndRecover(
      () => lab.loss(1, 40),
      () => lab.heal(1),
      /^loss [\d.]+% over max_loss 20%$/,
    );
    assert.ok(!daemon.stateChanges('fiber').some((l) => l.to === 'down'), 'lossy, not dead');
  });

  it('latency over max_rtt: degraded; back once RTT is under recover_rtt', async () => {
    await degradeAndRecover(
      () => lab.latency(1, 300),
      () => lab.latency(1, 0),
      /^avg RTT [\d.]+ ms over max_rtt 200 ms$/,
    );
    const t = (await fiber()).targets[0]!;
    assert.ok(t.jitter_ms !== undefined, 'targets report jitter');
  });

  it('a degraded uplink still carries traffic when nothing is up', async () => {
    const mark = daemon.logs.length;
    lab.latency(1, 300);
    await daemon.waitState('fiber', 'degraded', 20_000, mark);
    await lab.blackhole(2);
    await daemon.waitState('dsl', 'down', 20_000, mark);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 5000, 'route via the degraded wan1');
    lab.latency(1, 0);
    await lab.heal(2);
    await daemon.waitState('dsl', 'up', 20_000, mark);
  });
});

// Lab (issue 5 g): a primary that keeps failing and recovering collects a flap penalty and is
// held out of the routes, though its heartbeats answer, until the penalty decays (RFC 2439).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UplinkStatus } from '../../src/types/status.js';
import { labConfig } from './config.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

// Two losses within a few seconds pass `suppress`; the penalty then needs a few seconds to decay.
const DAMPENING = '  dampening: { penalty: 1000, suppress: 1500, reuse: 800, half_life: 3s, max_suppress: 20s }\n';

describe('flap dampening', { timeout: 90_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(labConfig({ routingExtra: DAMPENING }), (r) => ({ lab, daemon } = r));

  const fiber = async (): Promise<UplinkStatus> => ((await daemon.status()).json as { uplinks: UplinkStatus[] }).uplinks.find((u) => u.name === 'fiber')!;

  it('a primary flapping every few seconds is held out until its penalty decays', async (t) => {
    // Two flaps: down, up, down, up.
    for (let i = 0; i < 2; i++) {
      const mark = daemon.logs.length;
      await lab.blackhole(1);
      await daemon.waitState('fiber', 'down', 10_000, mark);
      await lab.heal(1);
      await daemon.waitState('fiber', 'up', 10_000, mark);
    }
    const held = await daemon.waitFor((l) => l.event === 'dampening' && l.suppressed === true, 1000, 'fiber held out');
    // Healthy, and yet not carrying traffic.
    const s = await fiber();
    assert.equal(s.state, 'up');
    assert.equal(s.weight, 0);
    assert.ok(s.dampening?.suppressed && s.dampening.penalty > 800, JSON.stringify(s.dampening));
    assert.ok((s.dampening.reuse_in_s ?? 0) > 0);
    assert.deepEqual(await lab.defaultVia(100), ['wan2']);
    const status = (await daemon.status()).json as { steering: { reason: string } };
    assert.match(status.steering.reason, /held out by flap dampening: fiber/);
    // Once the penalty decays under `reuse`, fiber is released and takes the traffic back.
    const released = await daemon.waitFor(
      (l) => l.event === 'dampening' && l.suppressed === false && /may carry traffic again/.test(l.msg),
      20_000,
      'fiber released',
    );
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 10_000, 'back on wan1');
    const heldMs = Date.parse(String(released.time)) - Date.parse(String(held.time));
    t.diagnostic(`held out for ${heldMs} ms at penalty ${String(held.penalty)}`);
    assert.ok(heldMs >= 1000, `held out for ${heldMs} ms`);
    assert.equal((await fiber()).dampening?.suppressed, false);
  });
});

// Lab: a flap shorter than `down` rounds is seen (failed rounds in status) but changes nothing.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { labConfig } from './config.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { sleep } from './wait.js';

let lab: Lab;
let daemon: DaemonHandle;
// 200 ms rounds, also while confirming, 5 failed rounds for `down`: a 500 ms cut loses at most
// 3 or 4. (At the default failure_interval of 50 ms, 5 rounds take 400 ms: a 500 ms cut is a failure.)
settledLab(labConfig({ interval: '200ms', timeout: '200ms', down: 5, up: 3, failureInterval: '200ms' }), (r) => ({ lab, daemon } = r));

it('(e) a flap shorter than `down` rounds changes nothing', { timeout: 60_000 }, async () => {
  const mark = daemon.logs.length;
  const stream = lab.stream(1500, 2);
  await sleep(500);
  await lab.blackhole(1);
  await sleep(500);
  await lab.heal(1);
  await sleep(2000);
  await stream;
  assert.deepEqual(
    daemon.logs.slice(mark).filter((l) => l.event === 'state' || l.event === 'route' || l.event === 'steering'),
    [],
  );
  assert.deepEqual(await lab.defaultVia(100), ['wan1']);
  const st = await daemon.status();
  const fiber = (st.json as { uplinks: { name: string; state: string; loss_pct: number }[] }).uplinks.find((u) => u.name === 'fiber')!;
  assert.equal(fiber.state, 'up');
  assert.ok(fiber.loss_pct > 0, `the flap was seen: loss ${fiber.loss_pct}%`);
});

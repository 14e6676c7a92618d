// Lab: with reliability 1 of 2, one dead target on the primary's path is no reason to fail over.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { labConfig } from './config.js';
import { assertRoutesMatchKernel, assertStatusContract } from './contract.js';
import { TARGETS, type DaemonHandle, type Lab } from './lab.js';
import { settledLab } from './running.js';
import { sleep, waitUntil } from './wait.js';

let lab: Lab;
let daemon: DaemonHandle;
settledLab(labConfig({ reliability: 1, targets: TARGETS.slice(0, 2) }), (r) => ({ lab, daemon } = r));

it('(c) reliability 1 of 2 with one target dead: no failover', { timeout: 60_000 }, async () => {
  const mark = daemon.logs.length;
  await lab.killTarget(1, TARGETS[1]!);
  // 15 rounds at 200 ms: five times what `down: 3` needs.
  await sleep(3000);
  assert.deepEqual(
    daemon.logs.slice(mark).filter((l) => l.event === 'state' || l.event === 'route'),
    [],
  );
  assert.deepEqual(await lab.defaultVia(100), ['wan1']);
  const st = await daemon.status();
  const s = assertStatusContract(st.json);
  assertRoutesMatchKernel(s, await lab.routes(100), 100, { wan1: 'fiber', wan2: 'dsl' });
  const fiber = s.uplinks.find((u) => u.name === 'fiber')!;
  assert.equal(fiber.state, 'up');
  // The dead target is seen and shown, it just does not decide.
  const dead = fiber.targets.find((t) => t.target === `icmp ${TARGETS[1]}`)!;
  assert.equal(dead.ok, false);
  assert.equal(dead.error, 'timeout');
  assert.ok(dead.loss_pct >= 50, `loss ${dead.loss_pct}`);
  assert.equal(fiber.targets.find((t) => t.target === `icmp ${TARGETS[0]}`)!.ok, true);
  assert.equal(
    s.uplinks.find((u) => u.name === 'dsl')!.targets.every((t) => t.ok),
    true,
  );
});

it('the same dead target plus the other one: failover (the check above can fail)', { timeout: 60_000 }, async () => {
  const mark = daemon.logs.length;
  await lab.blackhole(1);
  await daemon.waitState('fiber', 'down', 10_000, mark);
  await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan2', 5000, 'route via wan2');
  await lab.heal(1);
  await lab.reviveTarget(1);
});

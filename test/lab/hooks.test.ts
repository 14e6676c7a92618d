// Lab: hooks see every event, in order per queue, with the right variables and the same event
// as JSON on stdin; a hook that never ends is killed at its timeout, and failover does not wait
// for it. Two hooks take every event: one records it, one sleeps forever (4 s timeout), so
// each queue is busy while the primary fails. Queues run side by side, so each hook appends
// its line in one write.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { labConfig } from './config.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

const VARS = ['EVENT', 'UPLINK', 'INTERFACE', 'FAMILY', 'FROM', 'TO', 'SHARES'].map((v) => `"$UPLINKD_${v}"`).join(' ');
const PREFIX = `/tmp/uplinkd-hooks-${process.pid}`;
const ENV_FILE = `${PREFIX}.env`;
const JSON_FILE = `${PREFIX}.json`;
const CONFIG = `${labConfig()}hooks:
  - run: ['/bin/sh', '-c', 'printf "%s|%s|%s|%s|%s|%s|%s\\n" ${VARS} >> ${ENV_FILE}; j=$(cat); printf "%s\\n" "$j" >> ${JSON_FILE}']
  - run: [/bin/sleep, '100000']
    timeout: 4s
`;

describe('hooks', { timeout: 180_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(CONFIG, (r) => ({ lab, daemon } = r));
  after(() => {
    for (const f of [ENV_FILE, JSON_FILE]) rmSync(f, { force: true });
  });
  const lines = (file: string): string[] => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  it('a blackholed primary fails over on time while every queue waits on a sleeping hook', async () => {
    const mark = daemon.logs.length;
    const t0 = Date.now();
    await lab.blackhole(1);
    // 3 failed rounds at 200 ms: about a second; the sleeping hooks hold their queues for 4 s each.
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan2', 2500, 'route via wan2 while hooks sleep');
    const failoverMs = Date.now() - t0;
    // Logged after the kernel's acknowledgement: it may come a moment after the kernel shows the route.
    const moved = await daemon.waitFor(
      (l) => l.event === 'route' && /table 100 via 100\.64\.2\.1 dev wan2/.test(String(l.command)),
      5000,
      'the route move to wan2 logged',
      mark,
    );
    const movedAt = Date.parse(String(moved.time));
    const killed = await daemon.waitFor(
      (l) => l.event === 'hook' && l.timed_out === true && Date.parse(String(l.time)) > movedAt,
      15_000,
      'a sleeping hook killed',
    );
    assert.ok(Number(killed.duration_ms) >= 4000 && Number(killed.duration_ms) < 7000, `killed after ${killed.duration_ms} ms`);
    assert.equal(killed.level, 40);
    // That hook was running when the route moved: the failover did not wait for it.
    assert.ok(Date.parse(String(killed.time)) - Number(killed.duration_ms) < movedAt, 'a sleeping hook was running at the failover');
    assert.ok(failoverMs < 2500, `failover took ${failoverMs} ms`);
  });

  it('every event reaches the hooks, in order per uplink and for steering, with its variables and JSON', async () => {
    await lab.heal(1);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 20_000, 'back on wan1');
    // Each event is held 4 s by the sleeping hook in its queue: fiber 3, dsl 1, steering 3 (or
    // 4, when dsl answered first at start and fiber's first verdict then took the flows).
    await waitUntil(async () => lines(ENV_FILE).some((l) => l.startsWith('failback-done|')), 90_000, 'the failback recorded');
    await waitUntil(async () => lines(ENV_FILE).filter((l) => l.startsWith('state|fiber')).length >= 3, 30_000, "fiber's three states recorded");
    // The hook appends its ENV line, then reads its input and appends the JSON line.
    await waitUntil(async () => lines(JSON_FILE).length >= lines(ENV_FILE).length, 10_000, 'each recorded event also written as JSON');
    const env = lines(ENV_FILE);
    const of = (prefix: string) => env.filter((l) => l.startsWith(prefix));
    assert.deepEqual(of('state|fiber'), ['state|fiber|wan1|ipv4|init|up|', 'state|fiber|wan1|ipv4|up|down|', 'state|fiber|wan1|ipv4|down|up|']);
    assert.deepEqual(of('state|dsl'), ['state|dsl|wan2|ipv4|init|up|']);
    const steering = env.filter((l) => !l.startsWith('state|'));
    assert.deepEqual(steering.slice(-3), [
      'steering|fiber|wan1|ipv4|'.concat(steering.length === 4 ? 'dsl=100' : '', '|fiber=100|fiber=100'),
      'failover|dsl|wan2|ipv4|fiber=100|dsl=100|dsl=100',
      'failback-done|fiber|wan1|ipv4|dsl=100|fiber=100|fiber=100',
    ]);
    if (steering.length === 4) assert.equal(steering[0], 'steering|dsl|wan2|ipv4||dsl=100|dsl=100');
    assert.ok(steering.length === 3 || steering.length === 4, steering.join('\n'));
    const json = lines(JSON_FILE).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(json.length, env.length);
    const failover = json.find((j) => j.event === 'failover')!;
    assert.deepEqual(failover.shares, [{ uplink: 'dsl', share: 100 }]);
    assert.deepEqual(failover.was, [{ uplink: 'fiber', share: 100 }]);
    assert.equal(failover.family, 'ipv4');
    assert.match(String(failover.time), /^\d{4}-\d\d-\d\dT/);
    // Each recorded run is logged with its exit code once it has ended.
    const recorded = (l: { event?: unknown; exit_code?: unknown; hook?: unknown }) =>
      l.event === 'hook' && l.exit_code === 0 && String(l.hook).startsWith('/bin/sh');
    await waitUntil(async () => daemon.logs.filter(recorded).length >= env.length, 10_000, `${env.length} hook runs logged with exit 0`);
  });
});

// Lab: a silent blackhole beyond the primary's ISP moves the default route to the backup,
// the LAN stream flows again, and healing moves it back. Status matches the contract and
// the kernel in every phase.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import { assertRoutesMatchKernel, assertStatusContract } from './contract.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { sleep, waitUntil } from './wait.js';

const DEVS = { wan1: 'fiber', wan2: 'dsl' };

describe('failover on a silent blackhole', { timeout: 180_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  // settledLab's after hook also checks that uplinkd exits 0 on SIGTERM.
  settledLab(labConfig(), (r) => ({ lab, daemon } = r));

  const checkStatus = async (expectState: Record<string, string>, via: string[]) => {
    const st = await daemon.status();
    assert.equal(st.code, 0, st.stderr);
    const s = assertStatusContract(st.json);
    assertRoutesMatchKernel(s, await lab.routes(100), 100, DEVS);
    for (const [name, state] of Object.entries(expectState)) assert.equal(s.uplinks.find((u) => u.name === name)?.state, state, name);
    assert.deepEqual(await lab.defaultVia(100), via);
    return s;
  };

  it('(d) starts on the primary; status matches the contract and the kernel', async () => {
    const s = await checkStatus({ fiber: 'up', dsl: 'up' }, ['wan1']);
    assert.equal(s.uplinks.find((u) => u.name === 'fiber')!.weight, 100);
    assert.equal(s.uplinks.find((u) => u.name === 'dsl')!.weight, 0);
    assert.ok(s.uplinks.every((u) => u.targets.every((t) => t.ok && t.rtt_ms !== null && t.rtt_ms > 0)));
  });

  it('(a) blackhole beyond the primary ISP: the route moves to the backup and the LAN stream flows again', async () => {
    const mark = daemon.logs.length;
    const stream = lab.stream(2500, 2); // 5 s of traffic
    await sleep(500);
    await lab.blackhole(1);
    const down = await daemon.waitState('fiber', 'down', 10_000, mark);
    assert.match(down.reason!, /^3 failed rounds/);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan2', 5000);
    const result = await stream;
    assert.ok(result.longestOutageMs > 300, `the blackhole cut the stream (outage ${result.longestOutageMs} ms)`);
    assert.ok(result.longestOutageMs < 3000, `the stream came back after failover (outage ${result.longestOutageMs} ms)`);
    assert.ok(result.receivedAfterGap > 500, `packets flowed after failover: ${result.receivedAfterGap}`);
    const s = await checkStatus({ fiber: 'down', dsl: 'up' }, ['wan2']);
    assert.equal(s.uplinks.find((u) => u.name === 'dsl')!.weight, 100);
    // The route moves, then the lost uplink's pinned-flow rule goes: its flows follow the route.
    for (const command of ['ip route replace 0.0.0.0/0 table 100 via 100.64.2.1 dev wan2', 'ip rule del pref 9500 fwmark 0x100/0x3f00 lookup 1100']) {
      await daemon.waitFor((l) => l.event === 'route' && l.command === command, 5000, command, mark);
    }
  });

  it('(b) heal: the primary comes back and the route moves back to it', async () => {
    const mark = daemon.logs.length;
    await lab.heal(1);
    const up = await daemon.waitState('fiber', 'up', 10_000, mark);
    assert.match(up.reason!, /^3 good rounds/);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 5000);
    await checkStatus({ fiber: 'up', dsl: 'up' }, ['wan1']);
    const result = await lab.stream(500, 2);
    assert.ok(result.received >= 490, `LAN stream through the primary: ${result.received}/500`);
  });
});

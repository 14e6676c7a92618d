// Lab: TCP-only uplinks (the native addon's handshake from each uplink's interface) fail over
// on a silently dropped port and on a closed one, each with its own reason in status.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import { assertRoutesMatchKernel, assertStatusContract } from './contract.js';
import type { DaemonHandle, Lab } from './lab.js';
import { settledLab } from './running.js';
import { waitUntil } from './wait.js';

const TARGET = 'tcp 198.51.100.12:443';
const CONFIG = labConfig({ interval: '200ms', timeout: '200ms', down: 3, up: 3 }).replace(
  / {4}targets:\n( {6}- icmp: .*\n)+/g,
  `    targets:\n      - tcp: 198.51.100.12:443\n`,
);

describe('TCP heartbeats', { timeout: 120_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  assert.match(CONFIG, /- tcp: 198\.51\.100\.12:443/);
  assert.doesNotMatch(CONFIG, /icmp/);
  // An echo server answers the handshakes, and the LAN host's connections to the same port.
  settledLab(
    CONFIG,
    (r) => ({ lab, daemon } = r),
    (l) => l.echoServer('198.51.100.12', 443),
  );

  const fiberTarget = async () => {
    const s = assertStatusContract((await daemon.status()).json);
    assertRoutesMatchKernel(s, await lab.routes(100), 100, { wan1: 'fiber', wan2: 'dsl' });
    return s.uplinks.find((u) => u.name === 'fiber')!.targets.find((t) => t.target === TARGET)!;
  };

  it('handshakes make both uplinks up, with an RTT', async () => {
    const t = await fiberTarget();
    assert.equal(t.ok, true);
    assert.ok(t.rtt_ms !== null && t.rtt_ms > 0 && t.rtt_ms < 100, `rtt ${t.rtt_ms}`);
  });

  it("uplinkd's own handshakes are neither pinned nor counted; a LAN host's connections to the same target are", async () => {
    const newFlows = async (): Promise<number | null> =>
      ((await daemon.status()).json as { uplinks: { name: string; new_flows: number | null }[] }).uplinks.find((u) => u.name === 'fiber')!.new_flows;
    // Five heartbeats a second per uplink have gone out since the route moved to fiber.
    assert.equal(await newFlows(), 0, 'heartbeats are not new flows');
    const probes = await lab.probeFlows('198.51.100.12', 443, 20);
    assert.deepEqual(probes, { via: { '100.64.1.2': 20 }, errors: 0 });
    assert.equal(await newFlows(), 20, "the LAN host's 20 connections are");
    const entries = (await lab.exec('gw', 'conntrack', ['-L', '-p', 'tcp', '--dport', '443', '-s', '100.64.100.2'], { reject: false })).stdout;
    assert.match(entries, /mark=256/, 'and pinned to fiber (mark 0x100)');
  });

  for (const [how, reason] of [
    ['drop', 'timeout'],
    ['reset', 'refused'],
  ] as const) {
    it(`a ${how === 'drop' ? 'silently dropped' : 'closed (RST)'} port on the primary's path: failover, reason "${reason}"`, async () => {
      const mark = daemon.logs.length;
      await lab.blockPort(1, 443, how);
      const down = await daemon.waitState('fiber', 'down', 10_000, mark);
      assert.deepEqual(down.failed, [`${TARGET}: ${reason}`]);
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan2', 5000, 'route via wan2');
      const t = await fiberTarget();
      assert.equal(t.ok, false);
      assert.equal(t.error, reason);
      const back = daemon.logs.length;
      await lab.unblockPort(1);
      await daemon.waitState('fiber', 'up', 10_000, back);
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 5000, 'route via wan1');
    });
  }
});

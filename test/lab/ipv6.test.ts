// Lab: ICMPv6 heartbeats through each uplink and ::/0 managed beside 0.0.0.0/0.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Lab, TARGETS, TARGETS6, type DaemonHandle } from './lab.js';
import { waitUntil } from './wait.js';

let lab: Lab;
let daemon: DaemonHandle;

const config = (fiberTargets: string, dslTargets: string): string => `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    gateway6: 2001:db8:1::1
    priority: 1
    targets: ${fiberTargets}
  - name: dsl
    interface: wan2
    gateway: 100.64.2.1
    gateway6: 2001:db8:2::1
    priority: 2
    targets: ${dslTargets}
probe: { interval: 200ms, timeout: 200ms, down: 3, up: 3 }
routing: { table: 100, failback: { hold: 100ms, steps: [100], step_interval: 100ms } }
`;

before(async () => {
  lab = await Lab.create();
  await lab.tcpServer(TARGETS6[2]!, 443);
  const v6 = `[ { icmp: ${TARGETS6[0]} }, { icmp: ${TARGETS6[1]} } ]`;
  daemon = lab.startDaemon(config(`[ { icmp: ${TARGETS6[0]} }, { icmp: ${TARGETS6[1]} }, { tcp: "[${TARGETS6[2]}]:443" } ]`, v6));
  await daemon.waitState('fiber', 'up', 20_000);
  await daemon.waitState('dsl', 'up', 20_000);
});
after(async () => {
  if (daemon) await daemon.stop();
  await lab?.destroy();
});

it('IPv6 heartbeats bring both uplinks up; ::/0 and 0.0.0.0/0 go via the primary', { timeout: 30_000 }, async () => {
  await waitUntil(async () => (await lab.defaultVia(100, 6)).join() === 'wan1', 5000, '::/0 via wan1');
  assert.deepEqual(await lab.defaultVia(100, 4), ['wan1']);
  const s = (await daemon.status()).json as { uplinks: { targets: { ok: boolean; rtt_ms: number | null }[] }[]; routes: { destination: string }[] };
  assert.ok(s.uplinks.every((u) => u.targets.every((t) => t.ok && t.rtt_ms !== null)));
  // TCP over IPv6, from the addon, bound to wan1.
  assert.equal((s.uplinks[0] as unknown as { targets: { target: string }[] }).targets[2]!.target, `tcp [${TARGETS6[2]}]:443`);
  assert.deepEqual(s.routes.map((r) => r.destination).sort(), ['0.0.0.0/0', '::/0']);
});

it('a blackhole on the primary moves ::/0 to the backup', { timeout: 30_000 }, async () => {
  const mark = daemon.logs.length;
  await lab.blackhole(1);
  await daemon.waitState('fiber', 'down', 10_000, mark);
  await waitUntil(async () => (await lab.defaultVia(100, 6)).join() === 'wan2', 5000, '::/0 via wan2');
  // The log line follows the kernel's change: wait for it rather than race it.
  const command = 'ip -6 route replace ::/0 table 100 via 2001:db8:2::1 dev wan2 onlink';
  await daemon.waitFor((l) => l.command === command, 5000, command, mark);
});

describe('dual-stack, only IPv6 breaks', { timeout: 120_000 }, () => {
  let dual: Lab;
  let d: DaemonHandle;
  const both = `[ { icmp: ${TARGETS[0]} }, { icmp: ${TARGETS6[0]} } ]`;
  before(async () => {
    dual = await Lab.create();
    d = dual.startDaemon(config(both, both));
    await d.waitFor((l) => l.event === 'state' && l.uplink === 'fiber' && l.family === 6 && l.to === 'up', 20_000, 'fiber IPv6 up');
    await d.waitFor((l) => l.event === 'state' && l.uplink === 'dsl' && l.family === 6 && l.to === 'up', 20_000, 'dsl IPv6 up');
    await waitUntil(async () => (await dual.defaultVia(100, 6)).join() === 'wan1' && (await dual.defaultVia(100, 4)).join() === 'wan1', 5000, 'both via wan1');
  });
  after(async () => {
    if (d) await d.stop();
    await dual?.destroy();
  });

  it('::/0 moves to the backup, 0.0.0.0/0 stays on the primary; status shows each family', async () => {
    const mark = d.logs.length;
    await dual.blackhole(1, 6);
    await d.waitFor((l) => l.event === 'state' && l.uplink === 'fiber' && l.family === 6 && l.to === 'down', 10_000, 'fiber IPv6 down', mark);
    await waitUntil(async () => (await dual.defaultVia(100, 6)).join() === 'wan2', 5000, '::/0 via wan2');
    assert.deepEqual(await dual.defaultVia(100, 4), ['wan1']);
    assert.ok(!d.logs.slice(mark).some((l) => l.event === 'state' && l.family === 4), 'IPv4 verdicts did not change');
    const s = (await d.status()).json as {
      uplinks: { name: string; state: string; reason: string; weight: number; families: { family: string; state: string; weight: number }[] }[];
    };
    const fiber = s.uplinks.find((u) => u.name === 'fiber')!;
    assert.equal(fiber.state, 'up');
    assert.equal(fiber.weight, 100);
    assert.deepEqual(
      fiber.families.map((f) => `${f.family} ${f.state} ${f.weight}`),
      ['ipv4 up 100', 'ipv6 down 0'],
    );
    assert.match(fiber.reason, /^IPv4 up: .*; IPv6 down: 3 failed rounds/);
    const back = d.logs.length;
    await dual.heal(1);
    await d.waitFor((l) => l.event === 'state' && l.uplink === 'fiber' && l.family === 6 && l.to === 'up', 10_000, 'fiber IPv6 up again', back);
    await waitUntil(async () => (await dual.defaultVia(100, 6)).join() === 'wan1', 10_000, '::/0 back via wan1');
  });
});

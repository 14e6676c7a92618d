// Lab (issue 5 f): tunnels as uplinks. The gateway has a VXLAN tunnel through each ISP to a
// VPS of its own; the uplinks are the tunnel devices, without a gateway address (routes via
// the device). A dead path under the primary tunnel fails over to the backup tunnel, and the
// recovered primary takes new flows back step by step.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Lab, TARGETS, type DaemonHandle } from './lab.js';
import { waitUntil } from './wait.js';

const CONFIG = `uplinks:
  - name: vpn1
    interface: tun1
    priority: 1
    targets: [ { icmp: ${TARGETS[0]} }, { icmp: ${TARGETS[1]} } ]
  - name: vpn2
    interface: tun2
    priority: 2
    targets: [ { icmp: ${TARGETS[0]} }, { icmp: ${TARGETS[1]} } ]
probe: { interval: 200ms, timeout: 200ms, down: 3, up: 3 }
routing:
  table: 100
  failback: { hold: 1s, steps: [50, 100], step_interval: 1500ms }
`;

describe('tunnels to two VPS as uplinks', { timeout: 120_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  before(async () => {
    lab = await Lab.create({ tunnels: true });
    daemon = lab.startDaemon(CONFIG);
    await daemon.waitState('vpn1', 'up', 20_000);
    await daemon.waitState('vpn2', 'up', 20_000);
  });
  after(async () => {
    if (daemon) assert.equal(await daemon.stop(), 0);
    await lab?.destroy();
  });

  it('carries the LAN through the primary tunnel, routed via the device', async () => {
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'tun1', 5000, 'via tun1');
    const r = (await lab.routes(100)).find((x) => x.dst === 'default')!;
    assert.ok(r.gateway === undefined && (r.nexthops ?? []).every((n) => n.gateway === undefined), 'no gateway address: via the device');
    const s = await lab.stream(300, 2);
    assert.ok(s.received >= 295, `LAN stream through tun1: ${s.received}/300`);
  });

  it('the primary ISP dies under tun1: failover to tun2, then a gradual failback', async () => {
    let mark = daemon.logs.length;
    await lab.blackhole(1);
    await daemon.waitState('vpn1', 'down', 10_000, mark);
    await waitUntil(async () => (await lab.shares()) === 'tun2:100', 5000, 'all on tun2');
    const s = await lab.stream(300, 2);
    assert.ok(s.received >= 295, `LAN stream through tun2: ${s.received}/300`);
    mark = daemon.logs.length;
    await lab.heal(1);
    await daemon.waitState('vpn1', 'up', 10_000, mark);
    await waitUntil(async () => (await lab.shares()) === 'tun1:50 tun2:50', 5000, 'step 1: 50/50');
    await waitUntil(async () => (await lab.shares()) === 'tun1:100', 5000, 'step 2: all on tun1');
  });
});

// Lab (issue 5 d): uplinkd killed with SIGKILL and started again, in steady state and during
// a failover. The new daemon adopts the kernel's routes and rules: the LAN stream sees no
// outage and `ip monitor` shows no managed route or rule deleted (nor re-added).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import { SINK, type DaemonHandle, type Lab } from './lab.js';
import { settledLab, type RunningLab } from './running.js';
import { waitUntil } from './wait.js';

/** Longest outage allowed in the LAN stream across the restart (issue 5 d). */
const MAX_OUTAGE_MS = 50;

describe('restart without a flap', { timeout: 120_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  let running: RunningLab;
  const config = labConfig({ failback: '{ hold: 1s, steps: [50, 100], step_interval: 1s }' });
  settledLab(config, (r) => ({ lab, daemon } = running = r));

  // The restarted daemon wants more good rounds of fiber, so the backup is judged up first:
  // a daemon that did not adopt the kernel's routes would move them to it.
  const slowFiber = config.replace('    priority: 1\n', '    priority: 1\n    probe: { up: 8 }\n');

  /** SIGKILL, start again, and wait until the new daemon has judged both uplinks. */
  const killAndRestart = async (fiber: 'up' | 'down'): Promise<DaemonHandle> => {
    daemon.proc.kill('SIGKILL');
    await daemon.proc;
    const next = lab.startDaemon(slowFiber);
    running.daemon = next;
    await next.waitState('fiber', fiber, 20_000);
    await next.waitState('dsl', 'up', 20_000);
    if (fiber === 'up') {
      const order = next
        .stateChanges()
        .filter((l) => l.to === 'up')
        .map((l) => l.uplink);
      assert.deepEqual(order, ['dsl', 'fiber'], 'the backup was judged up first');
    }
    return next;
  };

  for (const phase of ['steady state', 'during a failover'] as const) {
    it(`in ${phase}: no outage, nothing deleted and re-added`, async (t) => {
      const failover = phase === 'during a failover';
      if (failover) {
        const mark = daemon.logs.length;
        await lab.blackhole(1);
        await daemon.waitState('fiber', 'down', 10_000, mark);
        await waitUntil(async () => (await lab.shares()) === 'wan2:100', 5000, 'all on wan2');
      }
      const before = await lab.routes(100);
      const monitor = await lab.monitor();
      // 5 s of packets every 2 ms, across the kill, the restart and the new verdicts.
      const stream = lab.stream(2500, 2);
      await new Promise((r) => setTimeout(r, 300));
      const restartedAt = Date.now();
      daemon = await killAndRestart(failover ? 'down' : 'up');
      const verdictsMs = Date.now() - restartedAt;
      const result = await stream;
      const lines = await monitor.stop();
      t.diagnostic(
        `outage ${result.longestOutageMs.toFixed(1)} ms, arrival gap ${result.longestGapMs.toFixed(1)} ms, ` +
          `${result.received} of ${result.sent} packets arrived, both verdicts ${verdictsMs} ms after the kill`,
      );
      assert.ok(result.longestOutageMs < MAX_OUTAGE_MS, `outage ${result.longestOutageMs} ms`);
      assert.deepEqual(
        lines.filter((l) => l.startsWith('Deleted')),
        [],
        'nothing was deleted',
      );
      assert.deepEqual(await lab.routes(100), before, 'the managed routes are as they were');
      assert.ok(
        daemon.logs.some((l) => l.event === 'adopt'),
        'the new daemon adopted the kernel routes',
      );
      assert.ok(!daemon.logs.some((l) => l.event === 'route'), `no route change: ${JSON.stringify(daemon.logs.filter((l) => l.event === 'route'))}`);
      if (failover) {
        const mark = daemon.logs.length;
        await lab.heal(1);
        await daemon.waitState('fiber', 'up', 10_000, mark);
        await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 15_000, 'failback after the restart');
      }
    });
  }
});

describe('on exit', { timeout: 60_000 }, () => {
  let lab: Lab;
  let running: RunningLab;
  settledLab(labConfig(), (r) => ({ lab } = running = r));

  const owned = async (): Promise<{ routes: string; table: boolean; rules: string[] }> => ({
    routes: (await lab.exec('gw', 'ip', ['route', 'show', 'table', '100'])).stdout,
    table: (await lab.exec('gw', 'nft', ['list', 'table', 'inet', 'uplinkd'], { reject: false })).exitCode === 0,
    rules: (await lab.exec('gw', 'ip', ['rule', 'show'])).stdout.split('\n').filter((l) => /^9\d\d\d:/.test(l)),
  });

  it('leaves routes, rules and the nftables table in place by default; remove_on_exit removes them', async () => {
    const before = await owned();
    assert.equal(await running.daemon.stop(), 0);
    assert.deepEqual(await owned(), before, 'SIGTERM left everything in place');
    const config = labConfig({ routingExtra: '  remove_on_exit: true\n' });
    running.daemon = lab.startDaemon(config);
    await running.daemon.waitState('fiber', 'up', 20_000);
    assert.equal(await running.daemon.stop(), 0);
    assert.ok(before.table && before.rules.length > 0);
    assert.deepEqual(await owned(), { routes: '', table: false, rules: [] });
    assert.ok(running.daemon.logs.some((l) => l.event === 'stop' && /remove_on_exit: removed \d+/.test(l.msg)));
    // The after hook stops uplinkd again: give it a live one.
    running.daemon = lab.startDaemon(labConfig());
    await running.daemon.waitState('fiber', 'up', 20_000);
  });
});

describe('restart during a failback ramp', { timeout: 120_000 }, () => {
  let lab: Lab;
  let running: RunningLab;
  const config = labConfig({ failback: '{ hold: 1s, steps: [10, 50, 100], step_interval: 5s }' });
  settledLab(
    config,
    (r) => ({ lab } = running = r),
    (l) => l.echoServer(SINK, 7000),
  );

  it('no pinned flow moves, no route or rule deleted and re-added', async (t) => {
    let daemon = running.daemon;
    let mark = daemon.logs.length;
    await lab.blackhole(1);
    await daemon.waitState('fiber', 'down', 10_000, mark);
    await waitUntil(async () => (await lab.shares()) === 'wan2:100', 5000, 'all on wan2');
    const held = lab.holdFlows(SINK, 7000, 100, 60_000, 1000);
    assert.deepEqual(new Set(await held.ready), new Set(['100.64.2.2']));
    mark = daemon.logs.length;
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 10_000, mark);
    await waitUntil(async () => (await lab.shares()) === 'wan1:10 wan2:90', 5000, 'step 1: 10/90');
    const monitor = await lab.monitor();
    daemon.proc.kill('SIGKILL');
    await daemon.proc;
    daemon = running.daemon = lab.startDaemon(config);
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    await waitUntil(async () => (await lab.shares()) === 'wan1:100', 20_000, 'the failback completes after the restart');
    await new Promise((r) => setTimeout(r, 3000));
    const lines = await monitor.stop();
    const report = await held.snapshot();
    const broken = report.flows.filter((f) => f.error || f.longestWaitMs > 3000);
    t.diagnostic(
      `after the restart: ${report.flows.length - broken.length} of ${report.flows.length} flows running; route changes: ${daemon.logs
        .filter((l) => l.event === 'route')
        .map((l) => l.command)
        .join('; ')}`,
    );
    assert.deepEqual(
      lines.filter((l) => l.startsWith('Deleted')),
      [],
      'nothing was deleted',
    );
    assert.deepEqual(broken, [], 'every flow pinned to the backup kept running');
    assert.equal(((await running.daemon.status()).json as { uplinks: { name: string; flows: number }[] }).uplinks.find((u) => u.name === 'dsl')!.flows, 100);
  });
});

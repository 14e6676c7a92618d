// Lab (issue 5 a, b): 20 TCP flows opened through the backup while the primary is down keep
// running through the whole failback, with NAT per uplink on the gateway and BCP 38 at each
// ISP (a flow moved to the other uplink would die); meanwhile the share of new flows through
// the primary follows the steps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labConfig } from './config.js';
import { SINK, type DaemonHandle, type Lab } from './lab.js';
import { settledLab } from './running.js';
import { sleep, waitUntil } from './wait.js';

const PORT = 7000;
const FLOWS = 20;
const PROBES = 100;
const STEP_MS = 6000;
// Probe flows leave their buckets busy for the idle timer (2 s in the lab config); each
// measurement waits that long after the step, so the step's migration is complete.
const SETTLE_MS = 2500;
/** Tolerance on a step's share of new flows (100 probes: a binomial spread of 3-5 points). */
const TOLERANCE = 15;
const WAN1 = '100.64.1.2';
const WAN2 = '100.64.2.2';

describe('failback keeps the flows on the backup (resilient group)', { timeout: 120_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(
    labConfig({ failback: `{ hold: 1s, steps: [10, 50, 100], step_interval: ${STEP_MS}ms }`, mechanism: (process.env.FAILBACK_MECHANISM as 'multipath' | undefined) ?? 'resilient' }),
    (r) => ({ lab, daemon } = r),
    (l) => l.echoServer(SINK, PORT),
  );

  it('0 of 20 flows broken, new flows follow 10%, 50%, 100%', async (t) => {
    let mark = daemon.logs.length;
    await lab.blackhole(1);
    await daemon.waitState('fiber', 'down', 10_000, mark);
    await waitUntil(async () => (await lab.shares()) === 'wan2:100', 5000, 'all on wan2');

    const held = lab.holdFlows(SINK, PORT, FLOWS, 28_000);
    const via = await held.ready;
    assert.deepEqual(new Set(via), new Set([WAN2]), 'the flows were opened through the backup');

    mark = daemon.logs.length;
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 10_000, mark);
    const measured: { step: number; primaryPct: number }[] = [];
    for (const [step, shares] of [[10, 'wan1:10 wan2:90'], [50, 'wan1:50 wan2:50'], [100, 'wan1:100']] as const) {
      await waitUntil(async () => (await lab.shares()) === shares, STEP_MS + 3000, `step ${step}: ${shares}`);
      await sleep(SETTLE_MS);
      const p = await lab.probeFlows(SINK, PORT, PROBES);
      assert.equal(p.errors, 0, `no probe flow failed at step ${step}`);
      measured.push({ step, primaryPct: Math.round((100 * (p.via[WAN1] ?? 0)) / PROBES) });
    }
    const report = await held.done;
    t.diagnostic(`new flows on the primary per step: ${JSON.stringify(measured)}`);
    const broken = report.flows.filter((f) => f.error || f.longestWaitMs > 1000);
    assert.deepEqual(broken, [], `every flow on the backup kept running: ${JSON.stringify(measured)}`);
    // Data was still echoed at the end, after the last step (a line every 100 ms).
    for (const f of report.flows) assert.ok(f.echoed >= f.sent - 2 && f.sent >= 200, `flow echoed ${f.echoed} of ${f.sent}`);
    assert.ok(Math.abs(measured[0]!.primaryPct - 10) <= TOLERANCE, `step 10%: ${measured[0]!.primaryPct}% of new flows on the primary`);
    assert.ok(Math.abs(measured[1]!.primaryPct - 50) <= TOLERANCE, `step 50%: ${measured[1]!.primaryPct}%`);
    // At 100% a new flow can still hash into a bucket one of the 20 live flows keeps busy on
    // the backup (at most 20 of 128 buckets): those go to the backup too.
    assert.ok(measured[2]!.primaryPct >= 100 - Math.ceil((FLOWS * 100) / 128) - TOLERANCE, `step 100%: ${measured[2]!.primaryPct}%`);
    // Once the old flows have ended and their buckets went idle, the backup leaves the group.
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 10_000, 'backup drained out of the group');
    assert.ok(daemon.logs.some((l) => l.event === 'drain' && Array.isArray(l.draining) && l.draining.length > 0), 'the drain was logged');
  });
});

// Lab: detection from the users' traffic (issue 14). With the shipped defaults apart from
// `interval: 1s` and one heartbeat target per uplink: a two-way LAN flow that goes silent
// starts a confirmation by heartbeats at once; a one-way stream does not keep confirmations
// running (each refuted one holds the next off longer) and causes no false failover; an idle
// uplink is judged by its heartbeats alone. And `timeout: auto` keeps a 300 ms ± 50 ms uplink
// up. The outage figures are the benchmark's (`npm run bench`); here the order of events is checked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DaemonHandle, Lab, LogLine } from './lab.js';
import { blackholeTrial, heartbeatsSent, passiveConfig } from './passive.js';
import { settledLab } from './running.js';
import { sleep, waitUntil } from './wait.js';

const passiveLines = (logs: readonly LogLine[], uplink: string) => logs.filter((l) => l.event === 'passive' && l.uplink === uplink);
const stateLines = (logs: readonly LogLine[], uplink: string) => logs.filter((l) => l.event === 'state' && l.uplink === uplink);

describe('passive signal: the users’ traffic starts the confirmation', { timeout: 420_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(passiveConfig('metrics: { listen: "127.0.0.1:9469" }\n'), (r) => ({ lab, daemon } = r));

  it('two-way flow: the silence after a blackhole starts the confirmation, and its heartbeats give the verdict', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const { result, logs, verdict } = await blackholeTrial(lab, daemon, () => lab.echoStream(2500, 2));
      const confirm = passiveLines(logs, 'fiber').find((l) => /confirming with heartbeats/.test(l.msg));
      assert.ok(confirm, `trial ${trial}: a passive confirmation started (${logs.map((l) => l.msg).join(' | ')})`);
      assert.ok(logs.indexOf(confirm) < logs.indexOf(verdict), 'the confirmation came before the verdict');
      assert.ok(Number(confirm.silent_ms) >= Number(confirm.span_ms), 'it waited out the span');
      // Only heartbeats decide: the verdict counts `down` failed rounds.
      assert.match(verdict.reason!, /^3 failed rounds/);
      // One outage, then the flow runs through dsl.
      assert.equal(result.lostSpans, 1, JSON.stringify(result));
      process.stdout.write(`# two-way trial ${trial + 1}: outage ${Math.round(result.longestOutageMs)} ms, silence seen after ${confirm.silent_ms} ms\n`);
    }
  });

  it('one-way stream: no false failover, each refuted confirmation holds the next off longer, and a blackhole is still found', async () => {
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 30_000, 'route via wan1');
    const mark = daemon.logs.length;
    const rounds = await heartbeatsSent(lab, 'fiber');
    await lab.stream(10_000, 2); // 20 s, nothing comes back
    // A confirmation started in the stream's last moments is answered a moment later.
    await waitUntil(
      async () => {
        const p = passiveLines(daemon.logs.slice(mark), 'fiber');
        return p.filter((l) => l.refuted === true).length >= p.filter((l) => /confirming/.test(l.msg)).length;
      },
      5000,
      'the last confirmation answered',
    );
    const logs = daemon.logs.slice(mark);
    assert.deepEqual(stateLines(logs, 'fiber'), [], 'fiber never changed state');
    const started = passiveLines(logs, 'fiber').filter((l) => /confirming/.test(l.msg));
    const refuted = passiveLines(logs, 'fiber').filter((l) => l.refuted === true);
    const extra = (await heartbeatsSent(lab, 'fiber')) - rounds - 20;
    process.stdout.write(
      `# one-way 20 s: ${started.length} confirmations, ${refuted.length} refuted, holdoffs ${refuted.map((l) => l.holdoff_ms).join(', ')} ms; ~${extra} heartbeats over the steady 20\n`,
    );
    assert.ok(started.length >= 2 && started.length <= 6, `confirmations: ${started.length} (1 s, 2 s, 4 s, 8 s holdoffs)`);
    assert.equal(refuted.length, started.length, 'every confirmation was refuted');
    const holdoffs = refuted.map((l) => Number(l.holdoff_ms));
    for (let i = 1; i < holdoffs.length; i++) assert.ok(holdoffs[i]! > holdoffs[i - 1]!, `holdoffs grow: ${holdoffs.join(', ')}`);
    // And with the one-way stream running, a blackhole is found (by heartbeats or the signal).
    const { result } = await blackholeTrial(lab, daemon, () => lab.stream(2500, 2));
    process.stdout.write(`# one-way blackhole: outage ${Math.round(result.longestOutageMs)} ms\n`);
  });

  it('no LAN traffic: nothing to watch, no confirmation; a blackhole is found by the heartbeats alone', async () => {
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 30_000, 'route via wan1');
    const mark = daemon.logs.length;
    await sleep(5000);
    assert.deepEqual(passiveLines(daemon.logs.slice(mark), 'fiber'), [], 'no passive confirmation while idle');
    const { logs } = await blackholeTrial(lab, daemon, () => sleep(4000));
    assert.deepEqual(
      passiveLines(logs, 'fiber').filter((l) => /confirming/.test(l.msg)),
      [],
      'heartbeats alone found it',
    );
    const s = (await daemon.status()).json as { uplinks: { name: string; timeout_ms: number; passive: { enabled: boolean; span_ms: number } }[] };
    const fiber = s.uplinks.find((u) => u.name === 'fiber')!;
    // A sub-millisecond lab path: `auto` is at its 50 ms floor while nothing is answered.
    assert.equal(fiber.timeout_ms, 50);
    assert.equal(fiber.passive.enabled, true);
  });
});

describe('timeout: auto on a 300 ms ± 50 ms uplink (userspace responder)', { timeout: 240_000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(
    passiveConfig(),
    (r) => ({ lab, daemon } = r),
    async (l) => {
      await l.startResponder();
      l.latency(1, 300, 50);
    },
  );

  it('stays up for a minute of heartbeats, with a timeout in force above its slowest answers; then a blackhole is found', async () => {
    const mark = daemon.logs.length;
    await sleep(60_000);
    assert.deepEqual(stateLines(daemon.logs.slice(mark), 'fiber'), [], 'fiber stayed up');
    const s = (await daemon.status()).json as {
      uplinks: { name: string; state: string; timeout_ms: number; targets: { rtt_ms: number; timeout_ms: number }[] }[];
    };
    const fiber = s.uplinks.find((u) => u.name === 'fiber')!;
    assert.equal(fiber.state, 'up');
    process.stdout.write(`# 300±50 ms: mean RTT ${fiber.targets[0]!.rtt_ms} ms, timeout in force ${fiber.timeout_ms} ms\n`);
    assert.ok(fiber.timeout_ms > 350 && fiber.timeout_ms < 1000, `timeout ${fiber.timeout_ms} ms`);
    const back = daemon.logs.length;
    await lab.blackhole(1);
    const down = await daemon.waitState('fiber', 'down', 15_000, back);
    assert.match(down.reason!, /^3 failed rounds/);
  });
});

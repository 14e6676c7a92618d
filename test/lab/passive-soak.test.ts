// Lab: ten minutes of a healthy primary under the passive signal (issue 14): phases of a
// two-way flow, a one-way UDP stream, both at once, and idle, at the shipped defaults apart from
// `interval: 1s`. No verdict may change, and the heartbeats sent over the steady rate are
// counted and reported. PASSIVE_SOAK_S shortens it for a try; CI runs the full ten minutes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DaemonHandle, Lab } from './lab.js';
import { heartbeatsSent, passiveConfig } from './passive.js';
import { settledLab } from './running.js';
import { sleep, waitUntil } from './wait.js';

const SOAK_S = Number(process.env.PASSIVE_SOAK_S ?? 600);

describe(`passive signal: ${SOAK_S} s of a healthy primary`, { timeout: (SOAK_S + 240) * 1000 }, () => {
  let lab: Lab;
  let daemon: DaemonHandle;
  settledLab(passiveConfig('metrics: { listen: "127.0.0.1:9469" }\n'), (r) => ({ lab, daemon } = r));

  it('two-way, one-way, both and idle in turn: no false verdict; extra heartbeats reported', async () => {
    // A cycle of 100 s: the traffic tools send a packet every 2 ms for the phase's length.
    const phases: readonly [string, number, (ms: number) => Promise<unknown>][] = [
      ['two-way', 30_000, (ms) => lab.echoStream(ms / 2, 2)],
      ['one-way', 30_000, (ms) => lab.stream(ms / 2, 2)],
      ['both', 20_000, (ms) => Promise.all([lab.echoStream(ms / 2, 2), lab.stream(ms / 2, 2)])],
      ['idle', 20_000, (ms) => sleep(ms)],
    ];
    const mark = daemon.logs.length;
    const before = { fiber: await heartbeatsSent(lab, 'fiber'), dsl: await heartbeatsSent(lab, 'dsl') };
    const started = Date.now();
    const end = started + SOAK_S * 1000;
    const ran: string[] = [];
    for (let i = 0; end - Date.now() >= 1000; i++) {
      const [name, length, run] = phases[i % phases.length]!;
      const ms = Math.min(length, end - Date.now());
      await run(ms);
      ran.push(`${name} ${Math.round(ms / 1000)} s`);
    }
    const seconds = (Date.now() - started) / 1000;
    // A confirmation started in a traffic phase's last moments is answered a moment later.
    const answered = (l: (typeof daemon.logs)[number]) => l.event === 'passive' && l.refuted === true;
    const confirming = (l: (typeof daemon.logs)[number]) => l.event === 'passive' && /confirming/.test(l.msg);
    await waitUntil(
      async () => daemon.logs.slice(mark).filter(answered).length >= daemon.logs.slice(mark).filter(confirming).length,
      5000,
      'the last confirmation answered',
    );
    const logs = daemon.logs.slice(mark);
    const sent = { fiber: (await heartbeatsSent(lab, 'fiber')) - before.fiber, dsl: (await heartbeatsSent(lab, 'dsl')) - before.dsl };
    const confirmations = logs.filter(confirming);
    const refuted = logs.filter(answered);
    const extra = (n: number) =>
      `${n} heartbeats, ${Math.round(n - seconds)} over the steady ${Math.round(seconds)} (${((100 * (n - seconds)) / seconds).toFixed(1)}%)`;
    process.stdout.write(
      `# ${Math.round(seconds)} s in ${ran.length} phases: fiber ${extra(sent.fiber)}; dsl ${extra(sent.dsl)}; ` +
        `${confirmations.length} passive confirmations, ${refuted.length} refuted\n`,
    );
    assert.deepEqual(
      logs.filter((l) => l.event === 'state').map((l) => l.msg),
      [],
      'no verdict changed',
    );
    assert.equal(refuted.length, confirmations.length, 'every confirmation was refuted');
  });
});

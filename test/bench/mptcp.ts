// `npm run bench`, MPTCP (issue 13): the longest echo gap of the gateway's own MPTCP connection
// to the aggregation VPS when the primary is blackholed or its NIC deleted, with uplinkd
// managing the endpoints (`mptcp:`) and with the kernel alone (the same endpoints added by hand,
// `subflow` on wan1 and `subflow backup` on wan2, uplinkd running without `mptcp:`).
import { labConfig } from '../lab/config.js';
import { Lab } from '../lab/lab.js';
import { longestGap, mptcpClient, startAggregation } from '../lab/mptcp.js';
import { sleep, waitUntil } from '../lab/wait.js';
import { median, r1 } from './figures.js';

type MptcpFault = 'blackhole' | 'nic-deleted';

const HAND_ENDPOINTS = [
  ['100.64.1.2', 'id', '1', 'dev', 'wan1', 'subflow'],
  ['100.64.2.2', 'id', '2', 'dev', 'wan2', 'subflow', 'backup'],
];

/** One figure: `trials` faults on the primary, each on a fresh connection, healed in between. */
async function gaps(managed: boolean, fault: MptcpFault, trials: number) {
  const lab = await Lab.create();
  const out = { gaps: [] as number[], verdicts: [] as number[], deletes: [] as number[], unechoed: 0, bad: 0 };
  try {
    await startAggregation(lab);
    // Source rules either way: without them a subflow from wan2's address leaves through wan1.
    const config = `${labConfig({ interval: '200ms', timeout: '200ms', down: 3, up: 3 })}${managed ? 'mptcp: {}\n' : '  source_rules: true\n'}`;
    const daemon = lab.startDaemon(config);
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    for (let t = 0; t < trials; t++) {
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 20_000, 'route via wan1');
      const show = async () => (await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'show'])).stdout;
      if (managed) await waitUntil(async () => /id 100 subflow dev wan1/.test(await show()), 20_000, 'fiber carrying');
      else {
        // The kernel alone keeps an endpoint on a deleted NIC's old ifindex: put them back as an operator would.
        await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'flush']);
        for (const e of HAND_ENDPOINTS) await lab.exec('gw', 'ip', ['mptcp', 'endpoint', 'add', ...e]);
      }
      const client = mptcpClient(lab, 8);
      await client.connected;
      await sleep(800 + Math.random() * 400);
      const mark = daemon.logs.length;
      const injectedAt = Date.now();
      await (fault === 'blackhole' ? lab.blackhole(1) : lab.deleteNic(1));
      const verdict = await daemon.waitState('fiber', fault === 'blackhole' ? 'down' : 'detached', 10_000, mark);
      await sleep(1500);
      client.stop();
      const r = await client.done;
      const gap = longestGap(r).ms;
      const verdictMs = Date.parse(String(verdict.time)) - injectedAt;
      const deleted = !managed
        ? undefined
        : await daemon
            .waitFor((l) => l.event === 'mptcp' && l.command === 'ip mptcp endpoint delete id 100', 5000, 'the endpoint deleted', mark)
            .catch(() => undefined);
      const deleteMs = deleted ? Date.parse(String(deleted.time)) - injectedAt : NaN;
      out.gaps.push(gap);
      out.verdicts.push(verdictMs);
      if (managed) out.deletes.push(deleteMs);
      out.unechoed += r.sent - r.echoed;
      out.bad += r.bad;
      process.stdout.write(
        `  mptcp ${fault} (${managed ? 'uplinkd' : 'kernel alone'}) trial ${t + 1}/${trials}: longest echo gap ${r1(gap)} ms, ${r.echoed}/${r.sent} echoed, ${r.bad} bad; verdict ${verdictMs} ms${managed ? `, endpoint deleted ${deleteMs} ms` : ''} after the fault\n`,
      );
      const back = daemon.logs.length;
      await (fault === 'blackhole' ? lab.heal(1) : lab.restoreNic(1));
      await daemon.waitState('fiber', 'up', 20_000, back);
    }
    await daemon.stop();
  } finally {
    await lab.destroy();
  }
  return out;
}

/** The four figures: each fault with uplinkd managing MPTCP and with the kernel alone. */
export async function mptcpGaps(trials: number): Promise<Record<string, unknown>> {
  const figures: Record<string, unknown> = {
    setup: 'one MPTCP connection from the gateway to the aggregation VPS, a 200-byte echo every 10 ms; uplinkd at interval 200ms, timeout 200ms, down 3',
    trials,
  };
  for (const fault of ['blackhole', 'nic-deleted'] as const) {
    for (const managed of [true, false]) {
      const m = await gaps(managed, fault, trials);
      figures[`${fault}_${managed ? 'uplinkd' : 'kernel_alone'}`] = {
        longest_echo_gap_ms: { median: r1(median(m.gaps)), max: r1(Math.max(...m.gaps)), all: m.gaps.map(r1) },
        verdict_ms: { median: r1(median(m.verdicts)), max: r1(Math.max(...m.verdicts)) },
        ...(managed ? { endpoint_deleted_ms: { median: r1(median(m.deletes)), max: r1(Math.max(...m.deletes)) } } : {}),
        messages_not_echoed: m.unechoed,
        echoes_wrong_or_out_of_order: m.bad,
      };
    }
  }
  return figures;
}

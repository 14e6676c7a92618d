// `npm run bench`: failover figures measured in the lab, printed and written to
// test/bench/results.json. Figures, not assertions: a noisy machine cannot fail a build here.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labConfig } from '../lab/config.js';
import { Lab, ROOT } from '../lab/lab.js';
import { sleep, waitUntil } from '../lab/wait.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 7);
const LINK_TRIALS = Number(process.env.BENCH_LINK_TRIALS ?? 10);
const STREAM_INTERVAL_MS = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const r1 = (n: number): number => Math.round(n * 10) / 10;

async function blackholeGap(): Promise<{ gaps: number[] }> {
  const lab = await Lab.create();
  const gaps: number[] = [];
  try {
    const daemon = lab.startDaemon(labConfig({ interval: '200ms', timeout: '200ms', down: 3, up: 3 }));
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    for (let t = 0; t < TRIALS; t++) {
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 20_000, 'route via wan1');
      const mark = daemon.logs.length;
      const stream = lab.stream(2000, STREAM_INTERVAL_MS); // 4 s
      // A random phase against the probe cadence, so the trials sample all of it.
      await sleep(800 + Math.random() * 200);
      await lab.blackhole(1);
      await daemon.waitState('fiber', 'down', 10_000, mark);
      const result = await stream;
      gaps.push(result.longestGapMs);
      process.stdout.write(`  trial ${t + 1}/${TRIALS}: longest gap ${r1(result.longestGapMs)} ms (${result.received}/${result.sent} packets)\n`);
      await lab.heal(1);
      await daemon.waitState('fiber', 'up', 10_000, mark);
    }
    await daemon.stop();
  } finally {
    await lab.destroy();
  }
  return { gaps };
}

type LinkFault = 'nic-deleted' | 'carrier-lost';

/** The LAN stream's longest gap when the primary's link fails (link events, no probe rounds). */
async function linkFaultGaps(fault: LinkFault): Promise<number[]> {
  const lab = await Lab.create();
  const gaps: number[] = [];
  try {
    const daemon = lab.startDaemon(labConfig({ interval: '200ms', timeout: '200ms', down: 3, up: 3 }));
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    for (let t = 0; t < LINK_TRIALS; t++) {
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 20_000, 'route via wan1');
      const mark = daemon.logs.length;
      const stream = lab.stream(750, STREAM_INTERVAL_MS); // 1.5 s
      await sleep(400 + Math.random() * 100);
      if (fault === 'nic-deleted') await lab.deleteNic(1);
      else await lab.carrier(1, false);
      await daemon.waitState('fiber', 'detached', 10_000, mark);
      const result = await stream;
      gaps.push(result.longestGapMs);
      process.stdout.write(`  ${fault} trial ${t + 1}/${LINK_TRIALS}: longest gap ${r1(result.longestGapMs)} ms (${result.received}/${result.sent} packets)\n`);
      const back = daemon.logs.length;
      if (fault === 'nic-deleted') await lab.restoreNic(1);
      else await lab.carrier(1, true);
      await daemon.waitState('fiber', 'up', 20_000, back);
    }
    await daemon.stop();
  } finally {
    await lab.destroy();
  }
  return gaps;
}

function summary(gaps: number[]) {
  return { median: r1(median(gaps)), max: r1(Math.max(...gaps)), all: gaps.map(r1) };
}

async function main(): Promise<void> {
  process.stdout.write(`blackhole beyond the primary ISP, interval 200ms, timeout 200ms, down 3, ${TRIALS} trials\n`);
  const { gaps } = await blackholeGap();
  const linkGaps: Record<LinkFault, number[]> = { 'nic-deleted': [], 'carrier-lost': [] };
  for (const fault of ['nic-deleted', 'carrier-lost'] as const) {
    process.stdout.write(`primary's link fails (${fault}), ${LINK_TRIALS} trials\n`);
    linkGaps[fault] = await linkFaultGaps(fault);
  }
  const results = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    blackhole_200ms_down3: {
      trials: gaps.length,
      stream: `UDP from the LAN host, one packet every ${STREAM_INTERVAL_MS} ms`,
      longest_gap_ms: summary(gaps),
    },
    nic_deleted: { trials: LINK_TRIALS, longest_gap_ms: summary(linkGaps['nic-deleted']) },
    carrier_lost: { trials: LINK_TRIALS, longest_gap_ms: summary(linkGaps['carrier-lost']) },
  };
  for (const [name, r] of Object.entries(results)) {
    if (typeof r === 'object') process.stdout.write(`${name}: longest gap median ${r.longest_gap_ms.median} ms, max ${r.longest_gap_ms.max} ms\n`);
  }
  const file = join(ROOT, 'test/bench/results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written to ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

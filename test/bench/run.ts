// `npm run bench`: failover figures measured in the lab, printed and written to
// test/bench/results.json. Figures, not assertions: a noisy machine cannot fail a build here.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labConfig } from '../lab/config.js';
import { Lab, ROOT } from '../lab/lab.js';
import { sleep, waitUntil } from '../lab/wait.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 7);
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

async function main(): Promise<void> {
  process.stdout.write(`blackhole beyond the primary ISP, interval 200ms, timeout 200ms, down 3, ${TRIALS} trials\n`);
  const { gaps } = await blackholeGap();
  const results = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    blackhole_200ms_down3: {
      trials: gaps.length,
      stream: `UDP from the LAN host, one packet every ${STREAM_INTERVAL_MS} ms`,
      longest_gap_ms: { median: r1(median(gaps)), max: r1(Math.max(...gaps)), all: gaps.map(r1) },
    },
  };
  process.stdout.write(`longest gap: median ${results.blackhole_200ms_down3.longest_gap_ms.median} ms, max ${results.blackhole_200ms_down3.longest_gap_ms.max} ms\n`);
  const file = join(ROOT, 'test/bench/results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written to ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

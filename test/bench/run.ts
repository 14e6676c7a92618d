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

/** A failure of the primary the bench injects and heals, and the state it must lead to. */
interface Fault {
  readonly name: string;
  readonly trials: number;
  /** Stream length in ms, and the random wait before the fault (its phase against the probes). */
  readonly streamMs: number;
  readonly leadMs: readonly [number, number];
  readonly inject: (lab: Lab) => Promise<void>;
  readonly heal: (lab: Lab) => Promise<void>;
  readonly state: 'down' | 'detached';
}

const FAULTS: readonly Fault[] = [
  {
    name: 'blackhole',
    trials: TRIALS,
    streamMs: 4000,
    leadMs: [800, 1000],
    inject: (lab) => lab.blackhole(1),
    heal: (lab) => lab.heal(1),
    state: 'down',
  },
  {
    name: 'nic-deleted',
    trials: LINK_TRIALS,
    streamMs: 1500,
    leadMs: [400, 500],
    inject: (lab) => lab.deleteNic(1),
    heal: (lab) => lab.restoreNic(1),
    state: 'detached',
  },
  {
    name: 'carrier-lost',
    trials: LINK_TRIALS,
    streamMs: 1500,
    leadMs: [400, 500],
    inject: (lab) => lab.carrier(1, false),
    heal: (lab) => lab.carrier(1, true),
    state: 'detached',
  },
];

/** The LAN stream's longest gap for each trial of a fault on the primary, healed in between. */
async function measureGaps(fault: Fault): Promise<number[]> {
  const lab = await Lab.create();
  const gaps: number[] = [];
  try {
    const daemon = lab.startDaemon(labConfig({ interval: '200ms', timeout: '200ms', down: 3, up: 3 }));
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    for (let t = 0; t < fault.trials; t++) {
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 20_000, 'route via wan1');
      const mark = daemon.logs.length;
      const stream = lab.stream(fault.streamMs / STREAM_INTERVAL_MS, STREAM_INTERVAL_MS);
      const [lo, hi] = fault.leadMs;
      await sleep(lo + Math.random() * (hi - lo));
      await fault.inject(lab);
      await daemon.waitState('fiber', fault.state, 10_000, mark);
      const result = await stream;
      gaps.push(result.longestGapMs);
      process.stdout.write(`  ${fault.name} trial ${t + 1}/${fault.trials}: longest gap ${r1(result.longestGapMs)} ms (${result.received}/${result.sent} packets)\n`);
      const back = daemon.logs.length;
      await fault.heal(lab);
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
  const figures: Record<string, unknown> = {};
  for (const fault of FAULTS) {
    process.stdout.write(`${fault.name} on the primary, interval 200ms, timeout 200ms, down 3, ${fault.trials} trials\n`);
    figures[fault.name] = { trials: fault.trials, longest_gap_ms: summary(await measureGaps(fault)) };
  }
  const results = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    stream: `UDP from the LAN host, one packet every ${STREAM_INTERVAL_MS} ms`,
    ...figures,
  };
  for (const fault of FAULTS) {
    const g = (figures[fault.name] as { longest_gap_ms: { median: number; max: number } }).longest_gap_ms;
    process.stdout.write(`${fault.name}: longest gap median ${g.median} ms, max ${g.max} ms\n`);
  }
  const file = join(ROOT, 'test/bench/results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written to ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

// `npm run bench`: failover figures measured in the lab, printed and written to
// test/bench/results.json. Figures, not assertions: a noisy machine cannot fail a build here.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labConfig } from '../lab/config.js';
import { startPair } from '../lab/ha.js';
import { Lab, ROOT, SINK, TARGETS } from '../lab/lab.js';
import { sleep, waitUntil } from '../lab/wait.js';
import { cpuMs, median, r1, summary } from './figures.js';
import { conntrackCost, footprintVsPing, idleFootprint, rssOverTime } from './footprint.js';
import { gatewayFollow, gatewayIdleCpu } from './gateway-auto.js';
import { mptcpGaps } from './mptcp.js';
import { passiveCpu, passiveOutages } from './passive.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 7);
const LINK_TRIALS = Number(process.env.BENCH_LINK_TRIALS ?? 10);
const STREAM_INTERVAL_MS = 2;

/** A failure of the primary the bench injects and heals, and the state it must lead to. */
interface Fault {
  readonly name: string;
  /** What the figure is for, printed and stored beside it. */
  readonly setup: string;
  readonly config: string;
  readonly trials: number;
  /** Stream length in ms, and the random wait before the fault (its phase against the probes). */
  readonly streamMs: number;
  readonly leadMs: readonly [number, number];
  readonly inject: (lab: Lab) => Promise<void>;
  readonly heal: (lab: Lab) => Promise<void>;
  readonly state: 'down' | 'detached';
}

// Heartbeats alone, paced as before issue 14 (a confirmation at the healthy interval, no
// passive signal): the rows stay comparable with earlier runs. test/bench/passive.ts has the defaults.
const FAST = labConfig({ interval: '200ms', timeout: '200ms', down: 3, up: 3, failureInterval: '200ms' }).replace(
  'reliability: 1',
  'reliability: 1\n  passive: false',
);
const FAST_SETUP = 'interval 200ms, timeout 200ms, failure_interval 200ms, down 3, passive off';
const CONFIRM = labConfig({ interval: '1s', timeout: '100ms', down: 3, up: 3, targets: [...TARGETS, SINK], failureInterval: '100ms' }).replace(
  'reliability: 1',
  'reliability: 1\n  passive: false',
);

const FAULTS: readonly Fault[] = [
  {
    name: 'blackhole',
    setup: FAST_SETUP,
    config: FAST,
    trials: TRIALS,
    streamMs: 4000,
    leadMs: [800, 1000],
    inject: (lab) => lab.blackhole(1),
    heal: (lab) => lab.heal(1),
    state: 'down',
  },
  {
    name: 'blackhole-fast-confirmation',
    setup: 'interval 1s, failure_interval 100ms, timeout 100ms, down 3, 4 targets, passive off',
    config: CONFIRM,
    trials: TRIALS,
    streamMs: 5000,
    leadMs: [1000, 2000],
    inject: (lab) => lab.blackhole(1),
    heal: (lab) => lab.heal(1),
    state: 'down',
  },
  {
    name: 'nic-deleted',
    setup: FAST_SETUP,
    config: FAST,
    trials: LINK_TRIALS,
    streamMs: 1500,
    leadMs: [400, 500],
    inject: (lab) => lab.deleteNic(1),
    heal: (lab) => lab.restoreNic(1),
    state: 'detached',
  },
  {
    name: 'carrier-lost',
    setup: FAST_SETUP,
    config: FAST,
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
    const daemon = lab.startDaemon(fault.config);
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    for (let t = 0; t < fault.trials; t++) {
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 20_000, 'route via wan1');
      const mark = daemon.logs.length;
      const stream = lab.stream(fault.streamMs / STREAM_INTERVAL_MS, STREAM_INTERVAL_MS);
      const [lo, hi] = fault.leadMs;
      await sleep(lo + Math.random() * (hi - lo));
      const injectedAt = Date.now();
      await fault.inject(lab);
      await daemon.waitState('fiber', fault.state, 10_000, mark);
      const result = await stream;
      gaps.push(result.longestOutageMs);
      // The daemon's own reaction: from the verdict's log line to the route change's.
      const verdict = daemon.logs.slice(mark).find((l) => l.event === 'state' && l.uplink === 'fiber' && l.to === fault.state);
      // The route change: the managed route replaced through the backup.
      // Logged after the kernel's acknowledgement: waited for, not looked up.
      const moved = await daemon
        .waitFor((l) => l.event === 'route' && /table 100 via 100\.64\.2\.1 dev wan2$/.test(l.command ?? ''), 5000, 'the route moved', mark)
        .catch(() => undefined);
      const react = verdict && moved ? Date.parse(String(moved.time)) - Date.parse(String(verdict.time)) : NaN;
      const detect = verdict ? Date.parse(String(verdict.time)) - injectedAt : NaN;
      process.stdout.write(
        `  ${fault.name} trial ${t + 1}/${fault.trials}: outage ${r1(result.longestOutageMs)} ms, longest arrival gap ${r1(result.longestGapMs)} ms (${result.received}/${result.sent} packets); ` +
          `fault to verdict ${detect} ms (including the fault command), verdict to route ${react} ms\n`,
      );
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

/** uplinkd's ICMP RTT against iputils ping, alternating on the same path (wan1 to a target). */
async function rttAccuracy(): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  try {
    await lab.exec('gw', 'ip', ['route', 'add', 'default', 'via', '100.64.1.1', 'dev', 'wan1', 'table', '1100']);
    await lab.exec('gw', 'ip', ['rule', 'add', 'pref', '9000', 'oif', 'wan1', 'lookup', '1100']);
    const pinger = join(ROOT, 'dist/src/probe/icmp.js');
    const script = `
      const { IcmpPinger } = await import(${JSON.stringify(pinger)});
      const { performance } = await import('node:perf_hooks');
      const p = new IcmpPinger('wan1', 4, () => performance.now());
      const out = [];
      for (let i = 0; i < 20; i++) { const r = await p.echo(${JSON.stringify(TARGETS[0])}, 1000); if (r.ok) out.push(r.rttMs); await new Promise((r) => setTimeout(r, 20)); }
      p.close();
      console.log(JSON.stringify(out));`;
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const r = await lab.exec('gw', process.execPath, ['--input-type=module', '-e', script]);
      ours.push(...(JSON.parse(r.stdout) as number[]));
      const p = await lab.exec('gw', 'ping', ['-n', '-I', 'wan1', '-c', '20', '-i', '0.02', TARGETS[0]!]);
      theirs.push(...[...p.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])));
    }
    const mu = median(ours);
    const mp = median(theirs);
    const r3 = (n: number): number => Math.round(n * 1000) / 1000;
    process.stdout.write(`RTT: uplinkd median ${r3(mu)} ms (${ours.length}), ping median ${r3(mp)} ms (${theirs.length}), difference ${r3(mu - mp)} ms\n`);
    return { samples: ours.length, uplinkd_median_ms: r3(mu), ping_median_ms: r3(mp), median_difference_ms: r3(mu - mp) };
  } finally {
    await lab.destroy();
  }
}

/** CPU time and RSS of the daemon with 32 uplinks x 4 targets at 5 heartbeats/s each. */
async function load(seconds: number): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  const UPLINKS = 32;
  try {
    // 32 more links from the gateway to ISP 1 (100.64.128+N.0/24), routed back from the internet.
    const batch: string[] = [];
    for (let n = 0; n < UPLINKS; n++) {
      batch.push(`link add up${n} type veth peer name down${n} netns ${lab.ns('isp1')}`);
      batch.push(`addr add 100.64.${128 + n}.2/24 dev up${n}`, `link set up${n} up`);
    }
    const { execa } = await import('execa');
    await execa('ip', ['-n', lab.ns('gw'), '-batch', '-'], { input: batch.join('\n') + '\n' });
    const peer: string[] = [];
    for (let n = 0; n < UPLINKS; n++) peer.push(`addr add 100.64.${128 + n}.1/24 dev down${n}`, `link set down${n} up`);
    await execa('ip', ['-n', lab.ns('isp1'), '-batch', '-'], { input: peer.join('\n') + '\n' });
    await lab.exec('inet', 'ip', ['route', 'add', '100.64.128.0/17', 'via', '100.64.11.1']);
    const targets = [...TARGETS, '203.0.113.10'].map((t) => `      - icmp: ${t}`).join('\n');
    const uplinks = Array.from(
      { length: UPLINKS },
      (_, n) => `  - name: u${n}\n    interface: up${n}\n    gateway: 100.64.${128 + n}.1\n    priority: ${n + 1}\n    targets:\n${targets}\n`,
    ).join('');
    const daemon = lab.startDaemon(`uplinks:\n${uplinks}probe: { interval: 200ms, timeout: 200ms, up: 3, down: 3 }\nrouting: { table: 100 }\n`);
    await daemon.waitState('u0', 'up', 30_000);
    await waitUntil(async () => daemon.logs.filter((l) => l.event === 'state' && l.to === 'up').length >= UPLINKS, 30_000, 'all uplinks up');
    const pid = daemon.proc.pid!;
    const c0 = cpuMs(pid);
    const rss: number[] = [];
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      rss.push(daemon.resources().rssKb);
    }
    const cpu = cpuMs(pid) - c0;
    const heartbeats = UPLINKS * 4 * 5 * seconds;
    await daemon.stop();
    const out = {
      uplinks: UPLINKS,
      targets_per_uplink: 4,
      heartbeats_per_second: UPLINKS * 4 * 5,
      seconds,
      cpu_ms: Math.round(cpu),
      cpu_pct_of_one_core: r1((cpu / (seconds * 1000)) * 100),
      cpu_us_per_heartbeat: r1((cpu * 1000) / heartbeats),
      rss_mb_max: r1(Math.max(...rss) / 1024),
      rss_mb_end: r1(rss[rss.length - 1]! / 1024),
    };
    process.stdout.write(`load: ${JSON.stringify(out)}\n`);
    return out;
  } finally {
    await lab.destroy();
  }
}

/**
 * Issue 9: a complete failback (hold, 10%, 50%, 100%) on a busy LAN: 300 TCP flows (a line
 * echoed every second) and a UDP stream opened on the backup while the primary was down. Per
 * trial: flows broken and UDP packets lost, and at each step the share of 200 new connections
 * that left through the primary.
 */
async function failback(trials: number): Promise<Record<string, unknown>> {
  const FLOWS = 300;
  const PROBES = 200;
  const STEPS = [10, 50, 100] as const;
  const lab = await Lab.create();
  const lost: number[] = [];
  const broken: number[] = [];
  const shares: Record<number, number[]> = { 10: [], 50: [], 100: [] };
  try {
    await lab.echoServer(SINK, 7000);
    const config = labConfig({ failback: '{ hold: 1s, steps: [10, 50, 100], step_interval: 4s }' });
    const daemon = lab.startDaemon(config);
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    for (let t = 0; t < trials; t++) {
      await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 20_000, 'route via wan1');
      let mark = daemon.logs.length;
      await lab.blackhole(1);
      await daemon.waitState('fiber', 'down', 10_000, mark);
      await waitUntil(async () => (await lab.shares()) === 'wan2:100', 5000, 'all on wan2');
      const held = lab.holdFlows(SINK, 7000, FLOWS, 22_000, 1000);
      await held.ready;
      const stream = lab.stream(20_000 / STREAM_INTERVAL_MS, STREAM_INTERVAL_MS);
      await sleep(500);
      mark = daemon.logs.length;
      await lab.heal(1);
      await daemon.waitState('fiber', 'up', 10_000, mark);
      const perStep: string[] = [];
      for (const step of STEPS) {
        const want = step === 100 ? 'wan1:100' : `wan1:${step} wan2:${100 - step}`;
        await waitUntil(async () => (await lab.shares()) === want, 10_000, `step ${step}%`);
        const p = await lab.probeFlows(SINK, 7000, PROBES);
        const pct = Math.round((100 * (p.via['100.64.1.2'] ?? 0)) / PROBES);
        shares[step]!.push(pct);
        perStep.push(`${step}% -> ${pct}%`);
      }
      const [s, report] = await Promise.all([stream, held.done]);
      const lostPackets = (s.sent ?? 0) - s.received;
      const brokenFlows = report.flows.filter((f) => f.error || f.longestWaitMs > 3000).length;
      lost.push(lostPackets);
      broken.push(brokenFlows);
      const errors = report.flows.map((f) => f.error).filter(Boolean);
      process.stdout.write(
        `  failback trial ${t + 1}/${trials}: ${brokenFlows} of ${FLOWS} TCP flows broken` +
          `${errors.length ? ` (${[...new Set(errors)].join(', ')})` : ''}, ${lostPackets} of ${s.sent} UDP packets lost; ` +
          `new connections on the primary per step: ${perStep.join(', ')}\n`,
      );
    }
    await daemon.stop();
  } finally {
    await lab.destroy();
  }
  const stat = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), all: xs });
  return {
    setup: `hold 1s, steps 10/50/100 every 4s; ${FLOWS} TCP flows (a line echoed every second) and a UDP stream opened on the backup; ${PROBES} new connections at each step; NAT per uplink, BCP 38 at the ISPs`,
    trials,
    tcp_flows_broken: stat(broken),
    udp_packets_lost: stat(lost),
    new_connections_on_primary_pct: { 10: stat(shares[10]!), 50: stat(shares[50]!), 100: stat(shares[100]!) },
  };
}

/**
 * The HA pair (test/lab/ha.ts): every uplink of gateway A blackholed at once; the LAN stream's
 * longest outage until it flows through gateway B (uplinkd's all-down, its hook to keepalived,
 * VRRP moving the LAN address). A takes the address back between trials.
 */
async function haPair(trials: number): Promise<Record<string, unknown>> {
  const pair = await startPair();
  const gaps: number[] = [];
  let heldByB = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const mark = pair.daemons.gw.logs.length;
      const stream = pair.lab.stream(10_000 / STREAM_INTERVAL_MS, STREAM_INTERVAL_MS);
      await sleep(1500 + Math.random() * 500);
      await Promise.all([pair.lab.blackhole(1), pair.lab.blackhole(2)]);
      await pair.daemons.gw.waitFor((l) => l.event === 'steering' && l.all_down === true, 15_000, 'A all down', mark);
      const result = await stream;
      gaps.push(result.longestOutageMs);
      const holder = await pair.holder();
      if (holder === 'gw2') heldByB++;
      process.stdout.write(
        `  HA pair trial ${t + 1}/${trials}: outage ${r1(result.longestOutageMs)} ms (${result.received}/${result.sent} packets, ${result.receivedAfterGap} after the longest gap), held by ${holder}\n`,
      );
      await Promise.all([pair.lab.heal(1), pair.lab.heal(2)]);
      await waitUntil(async () => (await pair.holder()) === 'gw', 30_000, 'A holds the LAN address again');
      // Both of A's uplinks proven again before the next trial.
      await sleep(3000);
    }
  } finally {
    await pair.destroy();
  }
  return {
    setup:
      'two gateways, keepalived (VRRP advert 1 s, track_script uplinkd check every 1 s, fall 3, track_file written by an all-down hook); uplinkd at interval 200ms, down 3',
    trials,
    taken_over_by_b: heldByB,
    longest_outage_ms: summary(gaps),
  };
}

async function main(): Promise<void> {
  // BENCH_ONLY=name,name runs a part (for development); the figures file wants a full run.
  const only = process.env.BENCH_ONLY?.split(',');
  const figures: Record<string, unknown> = {};
  for (const fault of FAULTS.filter((f) => !only || only.includes(f.name))) {
    process.stdout.write(`${fault.name} on the primary, ${fault.setup}, ${fault.trials} trials\n`);
    figures[fault.name] = { setup: fault.setup, trials: fault.trials, longest_outage_ms: summary(await measureGaps(fault)) };
  }
  const results = {
    date: new Date().toISOString(),
    machine: `${process.platform} ${process.arch}, node ${process.version}`,
    stream: `UDP from the LAN host, one packet every ${STREAM_INTERVAL_MS} ms; longest outage = send-time span of lost packets`,
    ...figures,
    failback_300_flows: !only || only.includes('failback') ? await failback(Number(process.env.BENCH_FAILBACK_TRIALS ?? 5)) : undefined,
    rtt_accuracy: !only || only.includes('rtt') ? await rttAccuracy() : undefined,
    load_32x4_5hz: !only || only.includes('load') ? await load(Number(process.env.BENCH_LOAD_SECONDS ?? 60)) : undefined,
    ha_pair_all_uplinks_lost: !only || only.includes('ha') ? await haPair(Number(process.env.BENCH_HA_TRIALS ?? 5)) : undefined,
    mptcp_echo_gap: !only || only.includes('mptcp') ? await mptcpGaps(Number(process.env.BENCH_MPTCP_TRIALS ?? 5)) : undefined,
    passive_blackhole_interval_1s: !only || only.includes('passive') ? await passiveOutages(Number(process.env.BENCH_PASSIVE_TRIALS ?? 9)) : undefined,
    passive_cpu: !only || only.includes('passive-cpu') ? await passiveCpu(Number(process.env.BENCH_PASSIVE_CPU_SECONDS ?? 30), 3) : undefined,
    gateway_auto_follow: !only || only.includes('gateway') ? await gatewayFollow(Number(process.env.BENCH_GATEWAY_RENEWALS ?? 20)) : undefined,
    conntrack_cost:
      !only || only.includes('conntrack') ? await conntrackCost((process.env.BENCH_CONNTRACK_SIZES ?? '0,50000,200000').split(',').map(Number), 10) : undefined,
    footprint_vs_ping:
      !only || only.includes('footprint')
        ? await footprintVsPing([1, 4, 32, 128], Number(process.env.BENCH_FOOTPRINT_SECONDS ?? 20), Number(process.env.BENCH_FOOTPRINT_WARM_SECONDS ?? 30))
        : undefined,
    idle_footprint:
      !only || only.includes('idle')
        ? await idleFootprint(Number(process.env.BENCH_IDLE_SETTLE_SECONDS ?? 300), Number(process.env.BENCH_IDLE_SECONDS ?? 30))
        : undefined,
    gateway_auto_idle_cpu: !only || only.includes('gateway-cpu') ? await gatewayIdleCpu(Number(process.env.BENCH_GATEWAY_CPU_SECONDS ?? 30), 3) : undefined,
    // An hour on its own: only when named (BENCH_ONLY=rss-hour), its figure merged by hand.
    rss_over_hour: only?.includes('rss-hour') ? await rssOverTime(Number(process.env.BENCH_RSS_MINUTES ?? 60)) : undefined,
  };
  for (const fault of FAULTS.filter((f) => !only || only.includes(f.name))) {
    const g = (figures[fault.name] as { longest_outage_ms: { median: number; max: number } }).longest_outage_ms;
    process.stdout.write(`${fault.name}: longest outage median ${g.median} ms, max ${g.max} ms\n`);
  }
  const file = join(ROOT, only ? 'test/bench/results.partial.json' : 'test/bench/results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written to ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

// `npm run bench`, issue 14: the outage a silent blackhole of the primary causes at the shipped
// defaults apart from `interval: 1s` (one heartbeat target per uplink), with a two-way LAN flow
// (the passive signal sees it), a one-way stream and no LAN traffic; and the CPU the passive
// signal costs the daemon (its counters read every 10 ms), against `probe.passive: false`.
import { Lab } from '../lab/lab.js';
import { blackholeTrial, passiveConfig } from '../lab/passive.js';
import { sleep } from '../lab/wait.js';
import { cpuMs, median, r1, summary } from './figures.js';

/** The route change to the backup that a verdict on fiber leads to (the daemon's log). */
const MOVED = /table 100 via 100\.64\.2\.1 dev wan2$/;

/** Outages per kind of LAN traffic; `idle`: from the fault to the route change, as a new flow would see it. */
export async function passiveOutages(trials: number): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  const out: Record<string, unknown> = {};
  try {
    const daemon = lab.startDaemon(passiveConfig());
    await daemon.waitState('fiber', 'up', 30_000);
    await daemon.waitState('dsl', 'up', 30_000);
    const kinds = {
      'two-way': async () => (await lab.echoStream(2500, 2)).longestOutageMs,
      'one-way': async () => (await lab.stream(2500, 2)).longestOutageMs,
      idle: async () => (await sleep(4000), Number.NaN),
    } as const;
    for (const [kind, flow] of Object.entries(kinds)) {
      const outages: number[] = [];
      const confirmed: number[] = [];
      for (let t = 0; t < trials; t++) {
        const { result, logs, verdict, injectedAt } = await blackholeTrial(lab, daemon, flow);
        const moved = await daemon
          .waitFor((l) => l.event === 'route' && MOVED.test(l.command ?? ''), 5000, 'the route moved', daemon.logs.indexOf(verdict))
          .catch(() => undefined);
        const routeAt = moved ? Date.parse(String(moved.time)) - injectedAt : Number.NaN;
        const outage = kind === 'idle' ? routeAt : result;
        const byPassive = logs.some(
          (l) => l.event === 'passive' && l.uplink === 'fiber' && /confirming/.test(l.msg) && logs.indexOf(l) < logs.indexOf(verdict),
        );
        outages.push(outage);
        if (byPassive) confirmed.push(t);
        process.stdout.write(
          `  passive ${kind} trial ${t + 1}/${trials}: outage ${r1(outage)} ms; fault to route change ${routeAt} ms (including the fault command); ` +
            `${byPassive ? 'the passive signal started the confirmation' : 'heartbeats alone'}\n`,
        );
      }
      out[kind] = { longest_outage_ms: summary(outages), confirmed_by_passive_signal: confirmed.length };
    }
    await daemon.stop();
  } finally {
    await lab.destroy();
  }
  return {
    setup:
      'defaults apart from interval 1s (timeout auto, failure_interval 50ms, down 3, passive on), one ICMP target per uplink; blackhole of fiber at a random moment; ' +
      'two-way: UDP echo, a packet every 2 ms; one-way: UDP stream, a packet every 2 ms; idle: no LAN traffic, fault to the route change',
    trials,
    ...out,
  };
}

/** The daemon's CPU with the passive signal on and off, alternating, under a two-way flow of 500 packets/s. */
export async function passiveCpu(seconds: number, rounds: number): Promise<Record<string, unknown>> {
  const pct: Record<'on' | 'off', number[]> = { on: [], off: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['on', 'off'] as const) {
      const lab = await Lab.create();
      try {
        const daemon = lab.startDaemon(passiveConfig('', mode === 'off' ? '  passive: false\n' : ''));
        await daemon.waitState('fiber', 'up', 30_000);
        await daemon.waitState('dsl', 'up', 30_000);
        const pid = daemon.proc.pid!;
        const flow = lab.echoStream((seconds * 1000 + 2000) / 2, 2);
        await sleep(1000);
        const c0 = cpuMs(pid);
        await sleep(seconds * 1000);
        pct[mode].push(((cpuMs(pid) - c0) / (seconds * 1000)) * 100);
        await flow;
        await daemon.stop();
      } finally {
        await lab.destroy();
      }
      process.stdout.write(`  passive cpu ${mode} round ${r + 1}/${rounds}: ${r1(pct[mode].at(-1)!)}% of one core\n`);
    }
  }
  const on = median(pct.on);
  const off = median(pct.off);
  return {
    setup: `two uplinks at interval 1s, a two-way LAN flow of 500 packets/s; ${seconds} s per run, ${rounds} alternating runs each`,
    cpu_pct_of_one_core_passive_on: { median: r1(on), all: pct.on.map(r1) },
    cpu_pct_of_one_core_passive_off: { median: r1(off), all: pct.off.map(r1) },
    cost_pct_of_one_core: r1(on - off),
  };
}

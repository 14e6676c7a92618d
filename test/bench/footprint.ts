// `npm run bench`, issue 25: what the daemon costs on a busy gateway. Here: `status --json` and
// one metrics scrape at 0, 50k and 200k conntrack entries made by real packets from the LAN
// host (one UDP flow each), and a drain of the pinned ones while heartbeats run.
import { request } from '../../src/control/protocol.js';
import { CLI, type DaemonHandle, Lab, SINK, TARGETS } from '../lab/lab.js';
import { passiveConfig } from '../lab/passive.js';
import { sleep } from '../lab/wait.js';
import { median, r1 } from './figures.js';
import { readFileSync, readdirSync } from 'node:fs';

/** A process's CPU time in ms, every thread, from the scheduler's nanosecond clock (/proc/PID/task/TID/schedstat). */
export function threadsCpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ns / 1e6;
}

const statusMb = (pid: number, field: string): number =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
const rssMb = (pid: number): number => statusMb(pid, 'VmRSS');
/** The process's own memory: RSS less the pages mapped from files (Node.js's binary), which every Node.js process shares. */
const anonMb = (pid: number): number => statusMb(pid, 'RssAnon');

/** Flows i in [from, to): from one of four source ports (30000 + i / 50000) to SINK port 1024 + i % 50000. */
const FLOW_MAKER = `
import socket, sys, time
lo, hi = int(sys.argv[1]), int(sys.argv[2])
socks = {}
for i in range(lo, hi):
    k = i // 50000
    if k not in socks:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', 30000 + k))
        socks[k] = s
    socks[k].sendto(b'x', ('${SINK}', 1024 + i % 50000))
    if i % 500 == 499:
        time.sleep(0.002)  # the LAN link's backlog (netdev_max_backlog) drops a burst
`;

/** Conntrack entries in the gateway carrying a mark (pinned), live (not TIME_WAIT/CLOSE): the kernel's count, by the conntrack tool. */
async function kernelPinned(lab: Lab): Promise<number> {
  const r = await lab.exec('gw', 'conntrack', ['-L', '-f', 'ipv4'], { reject: false });
  let n = 0;
  for (const line of r.stdout.split('\n')) if (/\bmark=[1-9]/.test(line) && !/\b(TIME_WAIT|CLOSE)\b/.test(line)) n++;
  return n;
}

/** `uplinkd status` through the control socket: the answer's time and the flow count it gives. */
async function statusOnce(socket: string): Promise<{ ms: number; flows: number }> {
  const t0 = performance.now();
  const r = (await request(socket, { cmd: 'status' }, 10_000)) as { status?: { uplinks: { flows: number | null }[] } };
  const ms = performance.now() - t0;
  return { ms, flows: (r.status?.uplinks ?? []).reduce((n, u) => n + (u.flows ?? 0), 0) };
}

/** The daemon's CPU over `fn` less its idle CPU over as long a time before it. */
async function costOf(pid: number, fn: () => Promise<void>, idleMs: number): Promise<{ cpuMs: number; idleMsPerS: number }> {
  const i0 = threadsCpuMs(pid);
  await sleep(idleMs);
  const idlePerMs = (threadsCpuMs(pid) - i0) / idleMs;
  const t0 = performance.now();
  const c0 = threadsCpuMs(pid);
  await fn();
  const spent = threadsCpuMs(pid) - c0 - idlePerMs * (performance.now() - t0);
  return { cpuMs: spent, idleMsPerS: idlePerMs * 1000 };
}

/** The heartbeat rounds' lateness so far, from the daemon's histogram: rounds, and those later than 5 ms. */
async function lateness(lab: Lab): Promise<{ rounds: number; over5ms: number }> {
  const r = await lab.exec('gw', process.execPath, ['-e', "fetch('http://127.0.0.1:9469/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))"]);
  let rounds = 0;
  let within = 0;
  for (const line of r.stdout.split('\n')) {
    const v = Number(line.split(' ').at(-1));
    if (line.startsWith('uplinkd_heartbeat_round_lateness_seconds_count{')) rounds += v;
    else if (line.startsWith('uplinkd_heartbeat_round_lateness_seconds_bucket{') && line.includes('le="0.005"')) within += v;
  }
  return { rounds, over5ms: rounds - within };
}

/** `uplinkd drain fiber --now` over the pinned connections: how long, and how late the heartbeat rounds meanwhile. */
async function drainWhileProbing(lab: Lab, daemon: DaemonHandle): Promise<Record<string, unknown>> {
  const before = await lateness(lab);
  const mark = daemon.logs.length;
  const t0 = Date.now();
  const cli = await lab.cli(['drain', 'fiber', '--now', '--socket', daemon.socket]);
  const done = await daemon.waitFor((l) => l.event === 'drain' && typeof l.live === 'number', 120_000, 'the drain', mark);
  const ms = Date.parse(String(done.time)) - t0;
  await sleep(2000);
  const after = await lateness(lab);
  const out = {
    cli_exit: cli.code,
    reset: done.live,
    deleted: done.deleted,
    drain_ms: ms,
    rounds: after.rounds - before.rounds,
    rounds_late_over_5ms: after.over5ms - before.over5ms,
  };
  process.stdout.write(`  drain: ${JSON.stringify(out)}\n`);
  return out;
}

/**
 * From the kernel's RTM_DELLINK, as an `ip -ts monitor link` in the gateway's namespace
 * receives it, to uplinkd's log line of the lost uplink, `trials` times with `status --watch`
 * running and without. The monitor hears the same multicast as uplinkd, so the start of
 * `ip link del` is not counted.
 */
async function nicDuringStatus(lab: Lab, daemon: DaemonHandle, trials: number): Promise<Record<string, unknown>> {
  const monitor = lab.exec('gw', 'ip', ['-ts', 'monitor', 'link'], { reject: false });
  const deleted: number[] = [];
  let rest = '';
  monitor.stdout?.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    // "[2026-12-07T01:55:00.123456] Deleted 5: wan2@..." (local time; the lab runs in UTC).
    for (const line of lines) {
      const m = /^\[([0-9T:.-]+)\] Deleted .*\bwan2\b/.exec(line);
      if (m) deleted.push(Date.parse(`${m[1]!.slice(0, 23)}Z`));
    }
  });
  const once = async (): Promise<number> => {
    await daemon.waitState('dsl', 'up', 60_000);
    await sleep(1500);
    const mark = daemon.logs.length;
    const seen = deleted.length;
    await lab.deleteNic(2);
    const l = await daemon.waitState('dsl', 'detached', 10_000, mark);
    const t0 = Date.now();
    while (deleted.length === seen && Date.now() - t0 < 5000) await sleep(10);
    if (deleted.length === seen) throw new Error('ip monitor did not report the deletion of wan2');
    const ms = Date.parse(String(l.time)) - deleted[seen]!;
    await lab.restoreNic(2);
    return ms;
  };
  const quiet: number[] = [];
  const watching: number[] = [];
  for (let i = 0; i < trials; i++) {
    quiet.push(await once());
    const watch = lab.exec('gw', process.execPath, [CLI, 'status', '--watch', '--json', '--socket', daemon.socket], { reject: false });
    watching.push(await once());
    watch.kill('SIGINT');
    await watch;
  }
  monitor.kill('SIGTERM');
  await monitor;
  const out = {
    quiet_ms: { median: r1(median(quiet)), max: r1(Math.max(...quiet)) },
    status_watch_ms: { median: r1(median(watching)), max: r1(Math.max(...watching)) },
    from: 'RTM_DELLINK as ip -ts monitor link received it',
  };
  process.stdout.write(`  nic deleted: ${JSON.stringify(out)}\n`);
  return out;
}

export async function conntrackCost(sizes: readonly number[], calls: number): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  try {
    // Unanswered UDP flows outlive the run (nf_conntrack_udp_timeout is the namespace's own).
    await lab.exec('gw', 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_udp_timeout=3600']);
    const daemon = lab.startDaemon(passiveConfig('metrics: { listen: "127.0.0.1:9469" }\n'));
    await daemon.waitState('fiber', 'up', 30_000);
    await daemon.waitState('dsl', 'up', 30_000);
    const pid = daemon.proc.pid!;
    const rows: Record<string, unknown>[] = [];
    let made = 0;
    for (const size of sizes) {
      if (size > made) {
        // Sent again until every flow is in the table: a burst the LAN link dropped is made up.
        for (let tries = 0; (await kernelPinned(lab)) < size && tries < 5; tries++)
          await lab.exec('lan', 'python3', ['-c', FLOW_MAKER, String(made), String(size)]);
        made = size;
      }
      const kernel = await kernelPinned(lab);
      const answers: number[] = [];
      let flows = 0;
      const rss0 = rssMb(pid);
      // Calls a second apart: each one reads the table afresh (a count is kept for a second).
      const status = await costOf(
        pid,
        async () => {
          for (let i = 0; i < calls; i++) {
            await sleep(1100);
            const s = await statusOnce(daemon.socket);
            answers.push(s.ms);
            flows = s.flows;
          }
        },
        3000,
      );
      const rss1 = rssMb(pid);
      const scrapeMs: number[] = [];
      const scrape = await costOf(
        pid,
        async () => {
          const r = await lab.exec('gw', process.execPath, [
            '-e',
            `(async () => { const out = []; for (let i = 0; i < ${calls}; i++) { await new Promise((r) => setTimeout(r, 1100)); const t0 = performance.now(); await (await fetch('http://127.0.0.1:9469/metrics')).text(); out.push(performance.now() - t0); } process.stdout.write(JSON.stringify(out)); })()`,
          ]);
          scrapeMs.push(...(JSON.parse(r.stdout) as number[]));
        },
        3000,
      );
      const row = {
        entries: size,
        kernel_pinned: kernel,
        status_flows: flows,
        status_cpu_ms_per_call: r1(status.cpuMs / calls),
        status_answer_ms: { median: r1(median(answers)), max: r1(Math.max(...answers)) },
        rss_mb_growth_over_calls: r1(rss1 - rss0),
        rss_mb: r1(rss1),
        scrape_cpu_ms_per_call: r1(scrape.cpuMs / calls),
        scrape_answer_ms: { median: r1(median(scrapeMs)), max: r1(Math.max(...scrapeMs)) },
        idle_cpu_ms_per_s: r1(status.idleMsPerS),
      };
      process.stdout.write(`  conntrack ${size}: ${JSON.stringify(row)}\n`);
      rows.push(row);
    }
    // At the largest table: a drain of its pinned connections while heartbeats run, then a NIC
    // deleted while `status --watch` runs, against one deleted with nothing running.
    const drain = await drainWhileProbing(lab, daemon);
    const nic = await nicDuringStatus(lab, daemon, 3);
    await daemon.stop();
    return {
      setup: `two uplinks x one target, interval 1s, defaults otherwise; UDP flows from the LAN host (one entry each); ${calls} calls of each, 1.1 s apart; CPU of every daemon thread (schedstat) less its idle CPU`,
      rows,
      drain,
      nic_deleted: nic,
    };
  } finally {
    await lab.destroy();
  }
}

/** CPU ms, scheduler runs (wake-ups) and resident MB of a set of processes, summed over their threads. */
function usage(pids: readonly number[]): { cpuMs: number; runs: number; rssMb: number; anonMb: number } {
  let cpuMs = 0;
  let runs = 0;
  let rss = 0;
  let anon = 0;
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        // schedstat: ns on the CPU, ns waiting, times run (each one a wake-up or a preemption).
        const [on, , n] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
        cpuMs += Number(on) / 1e6;
        runs += Number(n);
      } catch {
        // The thread ended meanwhile.
      }
    }
    rss += rssMb(pid);
    anon += anonMb(pid);
  }
  return { cpuMs, runs, rssMb: rss, anonMb: anon };
}

/** What a set of processes costs over `seconds`: CPU ms per second, wake-ups per second, resident MB at the end. */
async function measured(pids: () => readonly number[], seconds: number): Promise<{ cpuMsPerS: number; wakeupsPerS: number; rssMb: number; anonMb: number }> {
  const a = usage(pids());
  await sleep(seconds * 1000);
  const b = usage(pids());
  return { cpuMsPerS: (b.cpuMs - a.cpuMs) / seconds, wakeupsPerS: (b.runs - a.runs) / seconds, rssMb: b.rssMb, anonMb: b.anonMb };
}

/** The environment systemd/uplinkd.service gives the daemon: the benches measure what the unit runs. */
const UNIT_ENV = { MALLOC_ARENA_MAX: '1' };

/** Heartbeat targets on the internet side beyond TARGETS: 198.51.100.20 onwards. */
const extraTarget = (i: number): string => `198.51.100.${20 + i}`;

/**
 * uplinkd against the dpinger model (one `ping -i` process per target, as pfSense runs one
 * dpinger per gateway) in one lab, one after the other: at each count of targets (one uplink
 * up to its limit, then two), CPU per heartbeat, wake-ups per second and resident memory.
 */
export async function footprintVsPing(counts: readonly number[], seconds: number, warmS: number, intervalMs = 200): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  try {
    const most = Math.max(...counts);
    const perUplink = Math.min(most, 64);
    for (let i = 0; i < perUplink; i++) await lab.exec('inet', 'ip', ['addr', 'add', `${extraTarget(i)}/32`, 'dev', 'lo']);
    const rows: Record<string, unknown>[] = [];
    for (const n of counts) {
      const uplinks = n > 64 ? 2 : 1;
      const each = Math.ceil(n / uplinks);
      const spec = Array.from({ length: uplinks }, (_, u) => ({
        wan: `wan${u + 1}`,
        gateway: `100.64.${u + 1}.1`,
        targets: Array.from({ length: each }, (_, i) => extraTarget(i)),
      }));
      const yaml = `uplinks:\n${spec
        .map(
          (s, u) =>
            `  - name: u${u + 1}\n    interface: ${s.wan}\n    gateway: ${s.gateway}\n    priority: ${u + 1}\n    targets:\n${s.targets.map((t) => `      - icmp: ${t}`).join('\n')}\n`,
        )
        .join('')}probe:\n  interval: ${intervalMs}ms\n`;
      const daemon = lab.startDaemon(yaml, UNIT_ENV);
      for (let u = 0; u < uplinks; u++) await daemon.waitState(`u${u + 1}`, 'up', 30_000);
      // Past start-up: the JIT has compiled the heartbeat path (a daemon runs for months).
      await sleep(warmS * 1000);
      const pid = daemon.proc.pid!;
      const ours = await measured(() => [pid], seconds);
      await daemon.stop();
      const pings = spec.flatMap((s) =>
        s.targets.map((t) =>
          lab.exec('gw', 'ping', ['-q', '-n', '-I', s.wan, '-i', String(intervalMs / 1000), '-w', String(seconds + 4), t], { reject: false }),
        ),
      );
      await sleep(2000);
      const pingPids = pings.map((p) => p.pid!).filter(Boolean);
      const theirs = await measured(() => pingPids, seconds);
      for (const p of pings) p.kill('SIGINT');
      await Promise.all(pings);
      const perS = (n * 1000) / intervalMs;
      const row = {
        targets: n,
        uplinks,
        heartbeats_per_second: perS,
        uplinkd: { cpu_us_per_heartbeat: r1((ours.cpuMsPerS * 1000) / perS), wakeups_per_s: r1(ours.wakeupsPerS), rss_mb: r1(ours.rssMb) },
        ping: {
          processes: pingPids.length,
          cpu_us_per_heartbeat: r1((theirs.cpuMsPerS * 1000) / perS),
          wakeups_per_s: r1(theirs.wakeupsPerS),
          rss_mb: r1(theirs.rssMb),
        },
        cpu_ratio: r1(ours.cpuMsPerS / theirs.cpuMsPerS),
      };
      process.stdout.write(`  footprint ${n} targets: ${JSON.stringify(row)}\n`);
      rows.push(row);
    }
    return {
      setup: `interval ${intervalMs}ms, defaults otherwise; ${seconds} s each, after ${warmS} s; MALLOC_ARENA_MAX=1 as the unit sets it; CPU and wake-ups (scheduler runs) of every thread from schedstat; ping: iputils, one process per target`,
      rows,
    };
  } finally {
    await lab.destroy();
  }
}

/**
 * The shipped defaults at rest: two uplinks, one target each (1 s interval, passive on), a quiet
 * LAN, measured after `settleS`; then with a two-way LAN flow of 500 packets/s. Beside it the
 * dpinger model: one `ping -i 1` per target.
 */
export async function idleFootprint(settleS: number, seconds: number): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  try {
    const daemon = lab.startDaemon(passiveConfig().replace('probe:\n  interval: 1s\n', ''), UNIT_ENV);
    await daemon.waitState('fiber', 'up', 30_000);
    await daemon.waitState('dsl', 'up', 30_000);
    await sleep(settleS * 1000);
    const pid = daemon.proc.pid!;
    const quiet = await measured(() => [pid], seconds);
    // 500 packets/s each way: the LAN host sends 500/s to the sink, which answers each one.
    const traffic = lab.exec('lan', 'python3', ['-c', TWO_WAY, SINK, String(seconds + 4)], { reject: false });
    const echo = lab.exec('inet', 'python3', ['-c', ECHO, SINK, String(seconds + 6)], { reject: false });
    await sleep(1500);
    const busy = await measured(() => [pid], seconds);
    await Promise.all([traffic, echo]);
    await daemon.stop();
    const pings = TARGETS.slice(0, 1).flatMap((t) =>
      ['wan1', 'wan2'].map((wan) => lab.exec('gw', 'ping', ['-q', '-n', '-I', wan, '-i', '1', '-w', String(seconds + 4), t], { reject: false })),
    );
    await sleep(1500);
    const pingPids = pings.map((p) => p.pid!).filter(Boolean);
    const peer = await measured(() => pingPids, seconds);
    for (const p of pings) p.kill('SIGINT');
    await Promise.all(pings);
    const fig = (m: { cpuMsPerS: number; wakeupsPerS: number; rssMb: number; anonMb: number }) => ({
      cpu_ms_per_s: r1(m.cpuMsPerS),
      wakeups_per_s: r1(m.wakeupsPerS),
      rss_mb: r1(m.rssMb),
      rss_anon_mb: r1(m.anonMb),
    });
    const out = {
      setup: `two uplinks x one target, shipped defaults, MALLOC_ARENA_MAX=1 as the unit sets it; measured ${seconds} s after ${settleS} s`,
      quiet: fig(quiet),
      two_way_500pps: fig(busy),
      ping: fig(peer),
    };
    process.stdout.write(`  idle: ${JSON.stringify(out)}\n`);
    return out;
  } finally {
    await lab.destroy();
  }
}

/**
 * Resident memory of the shipped defaults over `minutes` (two uplinks, one target each, a quiet
 * LAN), sampled every `everyS`: whether it stays flat once start-up is over.
 */
export async function rssOverTime(minutes: number, everyS = 60): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  try {
    const daemon = lab.startDaemon(passiveConfig().replace('probe:\n  interval: 1s\n', ''), UNIT_ENV);
    await daemon.waitState('fiber', 'up', 30_000);
    await daemon.waitState('dsl', 'up', 30_000);
    const pid = daemon.proc.pid!;
    const samples: number[] = [];
    const anon: number[] = [];
    const c0 = threadsCpuMs(pid);
    const t0 = performance.now();
    for (let i = 0; i <= (minutes * 60) / everyS; i++) {
      if (i) await sleep(everyS * 1000);
      samples.push(r1(rssMb(pid)));
      anon.push(r1(anonMb(pid)));
      process.stdout.write(`  rss at ${(i * everyS) / 60} min: ${samples.at(-1)} MB\n`);
    }
    const cpuMsPerS = (threadsCpuMs(pid) - c0) / ((performance.now() - t0) / 1000);
    await daemon.stop();
    const settled = samples[Math.min(samples.length - 1, Math.ceil(300 / everyS))]!;
    const last = samples.at(-1)!;
    const out = {
      setup: `two uplinks x one target, shipped defaults, MALLOC_ARENA_MAX=1 as the unit sets it, quiet LAN; resident memory every ${everyS} s for ${minutes} min`,
      rss_mb: { at_start: samples[0], after_5_min: settled, last, min: Math.min(...samples), max: Math.max(...samples) },
      growth_after_5_min_mb: r1(last - settled),
      rss_anon_mb: { after_5_min: anon[Math.min(anon.length - 1, Math.ceil(300 / everyS))], last: anon.at(-1) },
      cpu_ms_per_s: r1(cpuMsPerS),
      samples_mb: samples,
    };
    process.stdout.write(`  rss over time: ${JSON.stringify({ ...out, samples_mb: undefined })}\n`);
    return out;
  } finally {
    await lab.destroy();
  }
}

/** The LAN side of a two-way flow: UDP to the sink at 500 packets/s for argv[2] seconds, answers read. */
const TWO_WAY = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
end = time.monotonic() + float(sys.argv[2]); nxt = time.monotonic()
while time.monotonic() < end:
    s.sendto(b'x' * 64, (sys.argv[1], 9999))
    try:
        while True: s.recv(2048)
    except BlockingIOError: pass
    nxt += 0.002; time.sleep(max(0, nxt - time.monotonic()))
`;
/** The sink's side: answers each datagram on port 9999 for argv[2] seconds. */
const ECHO = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 9999)); s.settimeout(0.5)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        d, a = s.recvfrom(2048); s.sendto(d, a)
    except socket.timeout: pass
`;

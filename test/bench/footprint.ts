// `npm run bench`, issue 25: what the daemon costs on a busy gateway. Here: `status --json` and
// one metrics scrape at 0, 50k and 200k conntrack entries made by real packets from the LAN
// host (one UDP flow each), and a drain of the pinned ones while heartbeats run.
import { request } from '../../src/control/protocol.js';
import { Lab, SINK } from '../lab/lab.js';
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

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

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
    await daemon.stop();
    return {
      setup: `two uplinks x one target, interval 1s, defaults otherwise; UDP flows from the LAN host (one entry each); ${calls} calls of each, 1.1 s apart; CPU of every daemon thread (schedstat) less its idle CPU`,
      rows,
    };
  } finally {
    await lab.destroy();
  }
}

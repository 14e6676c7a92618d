// `npm run bench`, issue 24: how fast uplinkd's tables follow a DHCP client's route change
// (`gateway: auto`), and what learning costs at idle: the daemon's CPU with lte's gateway
// learnt against the same lab with it written in the config, alternating. The reference for
// each renewal is the client's route change as `ip -ts monitor route` heard it: a listener
// beside uplinkd, as fast as netlink tells anyone.
import { dhcpIsp, dhcpServer, fiberAndLte, routeMonitor, udhcpc } from '../lab/dhcp.js';
import { Lab } from '../lab/lab.js';
import { sleep } from '../lab/wait.js';
import { cpuMs, median, r1, summary } from './figures.js';

/** `renewals` client route changes, the router alternating between two addresses ISP 2 has. */
export async function gatewayFollow(renewals: number): Promise<Record<string, unknown>> {
  const lab = await Lab.create();
  const lags: number[] = [];
  try {
    await dhcpIsp(lab, 2);
    await lab.exec('isp2', 'ip', ['addr', 'add', '100.64.2.254/24', 'dev', 'togw']);
    const server = await dhcpServer(lab, 2, ['100.64.2.50', '100.64.2.60'], '100.64.2.1');
    const daemon = lab.startDaemon(fiberAndLte(2));
    const client = udhcpc(lab, 'wan2', 10);
    await daemon.waitState('lte', 'up', 30_000);
    const monitor = routeMonitor(lab);
    await sleep(300);
    for (let i = 0; i < renewals; i++) {
      const router = i % 2 === 0 ? '100.64.2.254' : '100.64.2.1';
      await server.setRouter(router);
      const mark = daemon.logs.length;
      const startedAt = Date.now();
      client.signal('SIGUSR1');
      await client.stamps.waitFor(`route ${router}`, 15_000, startedAt);
      const own = `ip route replace 0.0.0.0/0 table 1101 via ${router} dev wan2`;
      const line = await daemon.waitFor((l) => l.command === own, 5000, own, mark);
      const seen = monitor.lines().find((l) => l.atMs >= startedAt - 5 && l.text.startsWith(`default via ${router} dev wan2 proto dhcp`));
      lags.push(seen ? Date.parse(String(line.time)) - seen.atMs : Number.NaN);
      process.stdout.write(`  gateway follow ${i + 1}/${renewals}: client route change -> uplink table ${lags.at(-1)} ms\n`);
      await sleep(300 + Math.random() * 300);
    }
    await monitor.stop();
    await daemon.stop();
    await client.stop();
    await server.stop();
  } finally {
    await lab.destroy();
  }
  return {
    setup:
      "udhcpc renews (SIGUSR1) and dnsmasq hands out the other of two routers; from the client's route change in main (as ip -ts monitor route heard it) to uplinkd's log line for its own table",
    renewals,
    client_route_change_to_uplink_table_ms: summary(lags),
  };
}

/** The daemon's CPU at idle, lte's gateway learnt by DHCP or static, alternating; udhcpc runs in both. */
export async function gatewayIdleCpu(seconds: number, rounds: number): Promise<Record<string, unknown>> {
  const pct: Record<'learnt' | 'static', number[]> = { learnt: [], static: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ['learnt', 'static'] as const) {
      const lab = await Lab.create();
      try {
        await dhcpIsp(lab, 2);
        const server = await dhcpServer(lab, 2, ['100.64.2.50', '100.64.2.60'], '100.64.2.1');
        const client = udhcpc(lab, 'wan2', 10);
        await client.stamps.waitFor('route 100.64.2.1', 30_000);
        const daemon = lab.startDaemon(fiberAndLte(2, '100', mode === 'learnt' ? 'auto' : '100.64.2.1'));
        await daemon.waitState('fiber', 'up', 30_000);
        await daemon.waitState('lte', 'up', 30_000);
        const pid = daemon.proc.pid!;
        await sleep(1000);
        const c0 = cpuMs(pid);
        await sleep(seconds * 1000);
        pct[mode].push(((cpuMs(pid) - c0) / (seconds * 1000)) * 100);
        await daemon.stop();
        await client.stop();
        await server.stop();
      } finally {
        await lab.destroy();
      }
      process.stdout.write(`  gateway idle cpu ${mode} round ${r + 1}/${rounds}: ${r1(pct[mode].at(-1)!)}% of one core\n`);
    }
  }
  const learnt = median(pct.learnt);
  const fixed = median(pct.static);
  return {
    setup: `fiber static, lte by DHCP (udhcpc running in both), defaults (interval 1s, 2 ICMP targets each); ${seconds} s per run, ${rounds} alternating runs each`,
    cpu_pct_of_one_core_learnt: { median: r1(learnt), all: pct.learnt.map(r1) },
    cpu_pct_of_one_core_static: { median: r1(fixed), all: pct.static.map(r1) },
    ratio_learnt_to_static: fixed > 0 ? Math.round((learnt / fixed) * 100) / 100 : null,
  };
}

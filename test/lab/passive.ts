// The lab's passive-signal setup (issue 14), shared by its tests and the benchmark: the
// shipped defaults but `interval: 1s`, one heartbeat target per uplink; and the heartbeats
// uplinkd sent, read from its metrics.
import { type DaemonHandle, type Lab, TARGETS } from './lab.js';
import { sleep, waitUntil } from './wait.js';

/** The defaults but `interval: 1s`; a short failback so that trials follow each other. */
export function passiveConfig(extra = '', probeExtra = ''): string {
  const uplink = (name: string, i: number) => `  - name: ${name}
    interface: wan${i}
    gateway: 100.64.${i}.1
    priority: ${i}
    targets:
      - icmp: ${TARGETS[0]}
`;
  return `uplinks:
${uplink('fiber', 1)}${uplink('dsl', 2)}probe:
  interval: 1s
${probeExtra}routing:
  failback: { hold: 1s, steps: [100], step_interval: 1s }
${extra}`;
}

/** Heartbeats uplinkd has sent on `uplink` so far, from its metrics. */
export async function heartbeatsSent(lab: Lab, uplink: string): Promise<number> {
  const r = await lab.exec('gw', process.execPath, ['-e', "fetch('http://127.0.0.1:9469/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))"]);
  let n = 0;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('uplinkd_heartbeats_total{') && line.includes(`uplink="${uplink}"`)) n += Number(line.split(' ').at(-1));
  }
  return n;
}

/** Blackholes fiber at a random moment of `flow`, waits for the verdict and the flow, heals, and waits for the route back. */
export async function blackholeTrial<R>(lab: Lab, daemon: DaemonHandle, flow: () => Promise<R>) {
  await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 30_000, 'route via wan1');
  const mark = daemon.logs.length;
  const running = flow();
  await sleep(1500 + Math.random() * 1000);
  const injectedAt = Date.now();
  await lab.blackhole(1);
  const verdict = await daemon.waitState('fiber', 'down', 15_000, mark);
  const result = await running;
  const logs = daemon.logs.slice(mark);
  const back = daemon.logs.length;
  await lab.heal(1);
  await daemon.waitState('fiber', 'up', 30_000, back);
  return { result, logs, verdict, injectedAt };
}

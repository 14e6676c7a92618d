// `npm run demo`: builds the lab, runs uplinkd in it, blackholes the primary, opens 100
// connections through the backup, heals the primary, and shows `uplinkd status`, the kernel's
// routes and rules at each step: new connections go back step by step while the 100 stay
// pinned to the backup until the drain resets them. Removes everything at the end.
import { labConfig } from './config.js';
import { Lab, SINK, type DaemonHandle } from './lab.js';
import { waitUntil } from './wait.js';

const BOLD = process.stdout.isTTY ? '\x1b[1m' : '';
const RESET = process.stdout.isTTY ? '\x1b[0m' : '';

function say(text: string): void {
  process.stdout.write(`\n${BOLD}== ${text}${RESET}\n`);
}

async function show(lab: Lab, daemon: DaemonHandle): Promise<void> {
  const status = await lab.cli(['status', '--socket', daemon.socket]);
  process.stdout.write(`$ uplinkd status\n${status.stdout}\n`);
  const routes = await lab.exec('gw', 'ip', ['route', 'show', 'table', '100']);
  process.stdout.write(`$ ip route show table 100\n${routes.stdout}\n`);
  const rules = await lab.exec('gw', 'ip', ['rule', 'show']);
  const ours = rules.stdout
    .split('\n')
    .filter((l) => /^9\d\d\d:/.test(l))
    .join('\n');
  process.stdout.write(`$ ip rule show   (uplinkd's, 9000-9999)\n${ours}\n`);
}

function printEvents(daemon: DaemonHandle, from: number): number {
  for (const l of daemon.logs.slice(from)) {
    if (['state', 'route', 'steering', 'drain', 'pinning', 'sysctl', 'conntrack'].includes(String(l.event))) process.stdout.write(`  uplinkd log: ${l.msg}\n`);
  }
  return daemon.logs.length;
}

async function main(): Promise<void> {
  say('building the lab: a gateway with two uplinks (fiber on wan1, dsl on wan2), two ISPs, an internet, a LAN host');
  const lab = await Lab.create();
  try {
    await lab.echoServer(SINK, 7000);
    const config = labConfig({
      interval: '200ms',
      timeout: '200ms',
      down: 3,
      up: 5,
      failback: '{ hold: 3s, steps: [10, 50, 100], step_interval: 3s, drain: 5s }',
    });
    process.stdout.write(`namespaces: ${lab.prefix}-{gw,isp1,isp2,inet,lan}\nconfig:\n${config}`);

    say('starting uplinkd in the gateway namespace');
    const daemon = lab.startDaemon(config);
    await daemon.waitState('fiber', 'up', 20_000);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 10_000, 'route via wan1');
    let seen = printEvents(daemon, 0);
    await show(lab, daemon);

    say('blackholing everything beyond the fiber ISP (its link stays up: a silent failure)');
    const stream = lab.stream(1500, 2);
    await new Promise((r) => setTimeout(r, 500));
    await lab.blackhole(1);
    await daemon.waitState('fiber', 'down', 10_000, seen);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan2', 10_000, 'route via wan2');
    const cut = await stream;
    seen = printEvents(daemon, seen);
    process.stdout.write(`the LAN host's UDP stream (a packet every 2 ms) lost ${Math.round(cut.longestOutageMs)} ms of traffic\n`);
    await show(lab, daemon);

    say('the LAN host opens 100 connections, a line echoed each second: they leave through dsl and are pinned there');
    const held = lab.holdFlows(SINK, 7000, 100, 60_000, 1000);
    const via = await held.ready;
    process.stdout.write(`the server saw them from ${[...new Set(via)].join(', ')} (dsl's NAT address)\n`);
    await show(lab, daemon);

    say('healing the fiber path: 5 good rounds make it up, then it must hold for 3s');
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 10_000, seen);
    seen = printEvents(daemon, seen);
    await show(lab, daemon);

    say('after the hold, fiber takes new flows back step by step: 10%, 50%, 100%');
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1,wan2', 10_000, 'multipath during the ramp');
    let probe = await lab.probeFlows(SINK, 7000, 100);
    process.stdout.write(`100 new connections: ${JSON.stringify(probe.via)}\n`);
    seen = printEvents(daemon, seen);
    await show(lab, daemon);
    await waitUntil(async () => (await lab.shares()) === 'wan1:100', 15_000, 'all new flows via wan1');
    probe = await lab.probeFlows(SINK, 7000, 100);
    process.stdout.write(`100 new connections: ${JSON.stringify(probe.via)}\n`);
    const snap = await held.snapshot();
    process.stdout.write(`the 100 held connections: ${snap.flows.filter((f) => !f.error).length} still echoing through dsl\n`);
    seen = printEvents(daemon, seen);
    await show(lab, daemon);

    say('failback.drain 5s: then the connections still pinned to dsl are reset (clients reconnect through fiber)');
    await daemon.waitFor((l) => l.event === 'drain', 15_000, 'the drain');
    await new Promise((r) => setTimeout(r, 1500));
    printEvents(daemon, seen);
    await show(lab, daemon);

    say('stopping uplinkd (SIGTERM) and removing the lab');
    process.stdout.write(`uplinkd exited with ${await daemon.stop()}\n`);
  } finally {
    await lab.destroy();
  }
  process.stdout.write('done: nothing of the lab is left\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

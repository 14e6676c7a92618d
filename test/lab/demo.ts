// `npm run demo`: builds the lab, runs uplinkd in it, blackholes the primary, heals it, and
// shows `uplinkd status` and the kernel's routes at each step. Removes everything at the end.
import { labConfig } from './config.js';
import { Lab, type DaemonHandle } from './lab.js';
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
  const nexthops = await lab.exec('gw', 'ip', ['nexthop', 'show']);
  process.stdout.write(`$ ip nexthop show\n${nexthops.stdout}\n`);
}

function printEvents(daemon: DaemonHandle, from: number): number {
  for (const l of daemon.logs.slice(from)) {
    if (l.event === 'state' || l.event === 'route' || l.event === 'steering' || l.event === 'drain') process.stdout.write(`  uplinkd log: ${l.msg}\n`);
  }
  return daemon.logs.length;
}

async function main(): Promise<void> {
  say('building the lab: a gateway with two uplinks (fiber on wan1, dsl on wan2), two ISPs, an internet, a LAN host');
  const lab = await Lab.create();
  try {
    const config = labConfig({ interval: '200ms', timeout: '200ms', down: 3, up: 5, failback: '{ hold: 3s, steps: [10, 50, 100], step_interval: 3s }' });
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

    say('healing the fiber path: 5 good rounds make it up, then it must hold for 3s');
    await lab.heal(1);
    await daemon.waitState('fiber', 'up', 10_000, seen);
    seen = printEvents(daemon, seen);
    await show(lab, daemon);

    say('after the hold, fiber takes new flows back step by step: 10%, 50%, 100%');
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1,wan2', 10_000, 'multipath during the ramp');
    seen = printEvents(daemon, seen);
    await show(lab, daemon);
    await waitUntil(async () => (await lab.shares()) === 'wan1:100', 15_000, 'all new flows via wan1');
    seen = printEvents(daemon, seen);
    await show(lab, daemon);

    say('dsl stays in the group at weight 1 while its buckets are busy, then leaves (idle_timer 2s)');
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 15_000, 'route via wan1');
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

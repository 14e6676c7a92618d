// `npm run soak -- --minutes N`: chaos in the lab (issue 10). uplinkd runs with two uplinks
// while faults come every few seconds: blackholes, NIC deletes and recreates, carrier flaps,
// reloads with good and bad files, SIGKILL + restart, routes and rules deleted by hand and
// `nft flush ruleset`. Every second it checks what an operator relies on:
//   - status answers (but in the moments after a restart);
//   - status says what the kernel has (the managed route, read before and after it);
//   - once things settled (3 s after the last fault changed anything), while some uplink's
//     path works: the managed route goes only through uplinks whose path works, and a new
//     connection from the LAN gets through;
//   - the rules uplinkd always keeps are there, and status lists nothing refused;
//   - per daemon process, after its first minute: file descriptors and RSS flat (restarts
//     happen in the first third of the run only, so the last process lives long);
//   - at the end, with every fault undone: the route back on the primary, nothing refused,
//     nothing foreign, every rule in place.
// Prints and writes test/soak/results.json; exits 1 on any violation.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labConfig } from '../lab/config.js';
import { Lab, ROOT, SINK, type DaemonHandle } from '../lab/lab.js';
import { sleep, waitUntil } from '../lab/wait.js';
import { Dice, seeded } from '../fuzz/random.js';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '2' }, seed: { type: 'string' }, out: { type: 'string' } },
});
const MINUTES = Number(values.minutes);
if (!(MINUTES > 0)) {
  process.stderr.write('usage: npm run soak -- --minutes N [--seed S] [--out FILE]\n');
  process.exit(2);
}
const SEED = Number(values.seed ?? Math.floor(Math.random() * 2 ** 31) + 1);
const OUT = values.out ?? join(ROOT, 'test/soak/results.json');
const d = new Dice(seeded(SEED));

/** After anything changed, the daemon has this long to notice and put things right. */
const SETTLE_MS = 3000;
/** A restarted daemon answers within this. */
const RESTART_GRACE_MS = 10_000;
/** Per process: growth allowed after its first minute. */
const MAX_RSS_GROWTH_KB = 10 * 1024;
const MAX_FD_GROWTH = 3;
const ISPS = [1, 2] as const;
const WAN: Record<string, string> = { fiber: 'wan1', dsl: 'wan2' };

const GOOD = [
  labConfig({ failback: '{ hold: 1s, steps: [50, 100], step_interval: 1s }' }),
  labConfig({ interval: '250ms', timeout: '250ms', failback: '{ hold: 1s, steps: [50, 100], step_interval: 1s }' }),
];
const BAD = [
  GOOD[0]!.replace('interval: 200ms', 'interval: 600h'),
  GOOD[0]!.replace('gateway: 100.64.2.1', 'gateway: 100.64.2.1.7'),
  `${GOOD[0]}\n---\nprobe: {}\n`,
  GOOD[0]!.replace('uplinks:', 'uplinks: [[[['),
];

interface Violation {
  readonly atS: number;
  readonly kind: string;
  readonly detail: string;
}

interface ProcessSample {
  readonly ageS: number;
  readonly fds: number;
  readonly rssKb: number;
}

const started = Date.now();
const atS = (): number => Math.round((Date.now() - started) / 100) / 10;
const violations: Violation[] = [];
const faults = new Map<string, number>();
/** Per ISP: the faults now breaking its path. */
const broken = new Map<number, Set<string>>(ISPS.map((i) => [i, new Set<string>()]));
let lastChange = Date.now();
let lastRestart = -Infinity;
let checks = 0;
let lanChecks = 0;
const processes: { pid: number; samples: ProcessSample[] }[] = [];

function violation(kind: string, detail: string): void {
  violations.push({ atS: atS(), kind, detail });
  process.stdout.write(`  VIOLATION at ${atS()} s: ${kind}: ${detail}\n`);
}

function changed(): void {
  lastChange = Date.now();
}

const lab = await Lab.create();
const cleanup = (): void => lab.destroySync();
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

let config = GOOD[0]!;
let daemon: DaemonHandle = lab.startDaemon(config);
let daemonStart = Date.now();
processes.push({ pid: daemon.proc.pid!, samples: [] });

/** One lab action at a time per ISP, and the daemon swapped under a lock. */
let daemonBusy: Promise<void> = Promise.resolve();

const healthy = (): number[] => ISPS.filter((i) => broken.get(i)!.size === 0);

async function breakIsp(i: number, what: string, inject: () => Promise<void>, undo: () => Promise<void>): Promise<void> {
  broken.get(i)!.add(what);
  changed();
  await inject();
  changed();
  // Undone later, while other faults go on.
  const forMs = 2000 + d.int(6000);
  setTimeout(() => {
    changed();
    void undo()
      .catch((err: unknown) => violation('lab', `undoing ${what} on isp${i}: ${String(err)}`))
      .finally(() => {
        broken.get(i)!.delete(what);
        changed();
      });
  }, forMs);
}

async function reload(yaml: string): Promise<number> {
  writeFileSync(daemon.configPath, yaml);
  const r = await lab.cli(['reload', '--socket', daemon.socket]);
  return r.code;
}

/** A fault of one ISP whose path works now: how to break it, and how to undo that. */
function ispFault(what: string, inject: (i: number) => Promise<void>, undo: (i: number) => Promise<void>): () => Promise<void> {
  return async () => {
    const i = d.pick(healthy());
    await breakIsp(
      i,
      what,
      () => inject(i),
      () => undo(i),
    );
  };
}

const FAULTS: Record<string, () => Promise<void>> = {
  blackhole: ispFault(
    'blackhole',
    (i) => lab.blackhole(i),
    (i) => lab.heal(i),
  ),
  'nic delete': ispFault(
    'nic',
    (i) => lab.deleteNic(i),
    (i) => lab.restoreNic(i),
  ),
  'carrier flap': ispFault(
    'carrier',
    (i) => lab.carrier(i, false),
    (i) => lab.carrier(i, true),
  ),
  async 'reload good'() {
    config = config === GOOD[0] ? GOOD[1]! : GOOD[0]!;
    const code = await reload(config);
    if (code !== 0) violation('reload', `a good config was refused (exit ${code})`);
  },
  async 'reload bad'() {
    const code = await reload(d.pick(BAD));
    if (code !== 1) violation('reload', `a bad config answered exit ${code}, not 1`);
    writeFileSync(daemon.configPath, config);
  },
  async 'sigkill restart'() {
    daemonBusy = (async () => {
      daemon.proc.kill('SIGKILL');
      await daemon.proc;
      lastRestart = Date.now();
      changed();
      daemon = lab.startDaemon(config);
      daemonStart = Date.now();
      processes.push({ pid: daemon.proc.pid!, samples: [] });
    })();
    await daemonBusy;
  },
  async 'route deleted by hand'() {
    changed();
    await lab.exec('gw', 'ip', ['route', 'del', 'default', 'table', '100'], { reject: false });
  },
  async 'rule deleted by hand'() {
    changed();
    await lab.exec('gw', 'ip', ['rule', 'del', 'pref', d.pick(['9900', '9200', '9000', '9001'])], { reject: false });
  },
  async 'nft flush ruleset'() {
    changed();
    // A firewall reload: everything flushed, the firewall's own NAT back in the same breath.
    await lab.nftScript('gw', 'flush ruleset\ntable ip lab { chain post { type nat hook postrouting priority 100; oifname "wan*" masquerade; }; }\n');
  },
};
/** ISP faults more often; a restart now and then (each process should live minutes, for RSS). */
const WEIGHTS: [string, number][] = [
  ['blackhole', 5],
  ['nic delete', 3],
  ['carrier flap', 3],
  ['reload good', 2],
  ['reload bad', 2],
  ['sigkill restart', 1],
  ['route deleted by hand', 2],
  ['rule deleted by hand', 2],
  ['nft flush ruleset', 2],
];

function pickFault(restarts: boolean): string {
  const choices = WEIGHTS.filter(
    ([name]) => (healthy().length > 0 || !['blackhole', 'nic delete', 'carrier flap'].includes(name)) && (restarts || name !== 'sigkill restart'),
  );
  const total = choices.reduce((a, [, w]) => a + w, 0);
  let x = d.next() * total;
  for (const [name, w] of choices) if ((x -= w) < 0) return name;
  return choices[0]![0];
}

async function managedVia(): Promise<string> {
  return (await lab.defaultVia(100).catch(() => [] as string[])).join(',');
}

async function check(): Promise<void> {
  checks++;
  await daemonBusy;
  const pid = daemon.proc.pid!;
  // What held when the check began; a fault injected while it reads makes its verdicts moot.
  const changeAt = lastChange;
  const settledAtStart = Date.now() - changeAt >= SETTLE_MS;
  const ok = healthy().map((i) => `wan${i}`);
  const still = (): boolean => lastChange === changeAt;
  const before = await managedVia();
  const status = await lab.cli(['status', '--json', '--socket', daemon.socket]);
  const after = await managedVia();
  if (status.code !== 0) {
    if (Date.now() - lastRestart > RESTART_GRACE_MS) violation('status', `exit ${status.code}: ${status.stderr.trim()}`);
    return;
  }
  const report = JSON.parse(status.stdout) as StatusJson;
  const said = (report.routes.find((r) => r.destination === '0.0.0.0/0')?.nexthops ?? [])
    .filter((n) => n.weight > 0)
    .map((n) => WAN[n.uplink] ?? n.uplink)
    .sort()
    .join(',');
  // Only when the kernel held still across the status read can the two be compared.
  if (before === after && said !== after) violation('status vs kernel', `status says ${said || 'none'}, the kernel routes via ${after || 'none'}`);
  const settled = settledAtStart && still();
  if (settled) {
    const problems = await wholeness(report);
    if (problems.length && still()) violation('kernel', problems.join('; '));
  }
  if (settled && ok.length > 0) {
    const via = after ? after.split(',') : [];
    if ((via.length === 0 || via.some((w) => !ok.includes(w))) && still())
      violation(
        'route',
        `via ${after || 'nothing'} while ${ok.join(', ')} work(s) and ${
          ISPS.filter((i) => !ok.includes(`wan${i}`))
            .map((i) => `wan${i} (${[...broken.get(i)!].join(', ')})`)
            .join(', ') || 'none'
        } do(es) not`,
      );
    lanChecks++;
    const ping = await lab.exec('lan', 'ping', ['-c', '1', '-W', '1', SINK], { reject: false });
    // The settled window may have closed while ping ran: only a failure inside it counts.
    if (ping.exitCode !== 0 && still()) violation('LAN', `a new connection to ${SINK} got no answer (via ${after})`);
  }
  if (daemon.proc.pid === pid && daemon.proc.exitCode === null) {
    try {
      const r = daemon.resources();
      processes.find((p) => p.pid === pid)!.samples.push({ ageS: (Date.now() - daemonStart) / 1000, ...r });
    } catch {
      // Gone between the check and the read (a restart).
    }
  }
}

interface StatusJson {
  routes: { destination: string; nexthops: { uplink: string; weight: number }[] }[];
  kernel: { refused: string[]; foreign_rules: string[]; connected_routes: string[] };
}

/** The rules uplinkd always keeps (not the pinned-flow ones: those go with a lost uplink). */
const ALWAYS = ['9000', '9001', '9200', '9900'];

/** What is missing or wrong in the kernel and in status, once things settled. */
async function wholeness(report: StatusJson, pinned = false): Promise<string[]> {
  const problems: string[] = [];
  const prefs = new Set((await lab.exec('gw', 'ip', ['rule', 'show'])).stdout.split('\n').map((l) => l.split(':')[0]!));
  const missing = [...ALWAYS, ...(pinned ? ['9500', '9501'] : [])].filter((p) => !prefs.has(p));
  if (missing.length) problems.push(`rules missing: ${missing.join(', ')}`);
  if (report.kernel.refused.length) problems.push(`refused: ${report.kernel.refused.join(', ')}`);
  if (report.kernel.foreign_rules.length) problems.push(`foreign rules: ${report.kernel.foreign_rules.join(', ')}`);
  return problems;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1]! : NaN;
}

/** Growth after the first minute: the last minute's median against the second minute's. */
function growth(samples: ProcessSample[]): { fds: number; rssKb: number; minutes: number } | undefined {
  const ageS = samples.at(-1)?.ageS ?? 0;
  // Two whole minutes apart at least, so the windows never overlap.
  if (ageS < 180) return undefined;
  const base = samples.filter((s) => s.ageS >= 60 && s.ageS < 120);
  const last = samples.filter((s) => s.ageS >= ageS - 60);
  return {
    fds: median(last.map((s) => s.fds)) - median(base.map((s) => s.fds)),
    rssKb: median(last.map((s) => s.rssKb)) - median(base.map((s) => s.rssKb)),
    minutes: Math.round(ageS / 6) / 10,
  };
}

let exitCode = 0;
try {
  process.stdout.write(`soak: ${MINUTES} min, seed ${SEED}, lab ${lab.prefix}\n`);
  await daemon.waitState('fiber', 'up', 20_000);
  await daemon.waitState('dsl', 'up', 20_000);
  await waitUntil(async () => (await managedVia()) === 'wan1', 10_000, 'settled via wan1');
  const end = started + MINUTES * 60_000;
  let stopping = false;
  const checker = (async () => {
    while (!stopping) {
      const t = Date.now();
      await check().catch((err: unknown) => violation('check', String((err as Error)?.message ?? err)));
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  })();
  while (Date.now() < end - 10_000) {
    await sleep(3000 + d.int(4000));
    const name = pickFault(Date.now() < started + (MINUTES * 60_000) / 3);
    await FAULTS[name]!().catch((err: unknown) => violation('fault', `${name}: ${String((err as Error)?.message ?? err)}`));
    faults.set(name, (faults.get(name) ?? 0) + 1);
    process.stdout.write(
      `  ${atS()} s: ${name}${
        name === 'blackhole' || name === 'nic delete' || name === 'carrier flap'
          ? ` (broken: ${ISPS.filter((i) => broken.get(i)!.size)
              .map((i) => `isp${i}`)
              .join(', ')})`
          : ''
      }\n`,
    );
  }
  // The last faults are undone within 8 s; then everything must be whole again.
  await sleep(Math.max(0, end - Date.now()));
  stopping = true;
  await checker;
  await daemonBusy;
  try {
    await waitUntil(async () => healthy().length === ISPS.length, 15_000, 'every fault undone');
    await waitUntil(async () => (await managedVia()) === 'wan1', 15_000, 'the route back on the primary');
    await sleep(SETTLE_MS);
    const status = await daemon.status();
    const problems = await wholeness(status.json as StatusJson, true);
    if (problems.length) violation('end', problems.join('; '));
  } catch (err) {
    violation('end', String((err as Error)?.message ?? err));
  }
  const code = await daemon.stop();
  if (code !== 0) violation('exit', `uplinkd exited ${code} on SIGTERM`);
} catch (err) {
  violation('soak', String((err as Error)?.stack ?? err));
} finally {
  cleanup();
}

const perProcess = processes.map((p) => ({ pid: p.pid, ...growth(p.samples) }));
for (const p of perProcess) {
  if (p.fds !== undefined && p.fds > MAX_FD_GROWTH) violation('fds', `process ${p.pid}: ${p.fds} more descriptors after ${p.minutes} min`);
  if (p.rssKb !== undefined && p.rssKb > MAX_RSS_GROWTH_KB)
    violation('rss', `process ${p.pid}: RSS grew ${Math.round(p.rssKb / 1024)} MB after ${p.minutes} min`);
}
const totalFaults = [...faults.values()].reduce((a, b) => a + b, 0);
const results = {
  minutes: MINUTES,
  seed: SEED,
  faults: totalFaults,
  faultsByKind: Object.fromEntries(faults),
  checks,
  lanChecks,
  violations,
  processes: perProcess.map((p) => ({
    pid: p.pid,
    minutes: p.minutes ?? null,
    fdGrowth: p.fds ?? null,
    rssGrowthMb: p.rssKb === undefined ? null : Math.round(p.rssKb / 102.4) / 10,
  })),
};
writeFileSync(OUT, JSON.stringify(results, null, 2) + '\n');
process.stdout.write(
  `soak: ${totalFaults} faults (${[...faults].map(([k, v]) => `${k} ${v}`).join(', ')}), ${checks} checks (${lanChecks} with a LAN connection), ${violations.length} violations\n` +
    perProcess
      .filter((p) => p.minutes !== undefined)
      .map(
        (p) =>
          `  uplinkd ${p.pid}: ${p.minutes} min, fds ${p.fds! >= 0 ? '+' : ''}${p.fds}, RSS ${p.rssKb! >= 0 ? '+' : ''}${Math.round(p.rssKb! / 102.4) / 10} MB after its first minute\n`,
      )
      .join('') +
    `written to ${OUT}\n`,
);
if (violations.length > 0) exitCode = 1;
process.exit(exitCode);

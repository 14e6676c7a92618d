// A Daemon wired to fakes (kernel, links, pinning, conntrack, sysctl, probers, config file) and
// a fake clock whose timers fire only when the test moves it; its logs are read back as JSON,
// as pino writes them; rounds of heartbeats are fed by hand.
import type { LoggedPackets } from '../../src/netlink/nflog.js';
import type { OverrideStore } from '../../src/daemon/override-store.js';
import type { OperatorEvent } from '../../src/types/events.js';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import pino from 'pino';
import { parseConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { FakeClock, fakeProbers, memoryConfigs } from '../../src/daemon/fakes.js';
import { FakeLinks, upLink } from '../../src/link/index.js';
import { FakeConntrackTable } from '../../src/host/conntrack.js';
import type { FakeCounters } from '../../src/nft/index.js';
import { FakeKernel } from '../../src/route/index.js';
import type { FakeMptcp } from '../../src/mptcp/index.js';
import { FakePinningTable } from '../../src/nft/fake.js';
import { FakeSysctl } from '../../src/host/sysctl.js';
import type { HeartbeatResult } from '../../src/types/index.js';

export const CONFIG = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, priority: 1, targets: [icmp: 198.51.100.10, icmp: 198.51.100.11] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
probe: { up: 2, down: 2 }
routing: { table: 100, failback: { hold: 1ms, steps: [100], step_interval: 1ms } }
`;

const PATH = '/etc/uplinkd/uplinkd.yaml';

export function setup(
  config = CONFIG,
  fakes: { pinning?: FakePinningTable; overrides?: OverrideStore; mptcp?: FakeMptcp; counters?: FakeCounters; passiveWakes?: LoggedPackets } = {},
) {
  const parsed = parseConfig(config);
  assert.ok(parsed.ok);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const kernel = new FakeKernel();
  kernel.linkIndex.set('wan1', 11).set('wan2', 12);
  const links = new FakeLinks();
  links.set([upLink('wan1', 11, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')]);
  const clock = new FakeClock();
  const nftEvents = new (class extends EventEmitter {
    close(): void {}
  })();
  const pinning = fakes.pinning ?? new FakePinningTable();
  const conntrack = new FakeConntrackTable();
  const sysctl = new FakeSysctl();
  sysctl.values.set('net.ipv4.fib_multipath_hash_policy', '0');
  const probers = fakeProbers();
  const configs = memoryConfigs();
  const events: OperatorEvent[] = [];
  configs.files.set(PATH, config);
  const daemon = new Daemon({
    configPath: PATH,
    config: parsed.config,
    log: pino(sink),
    kernel,
    links,
    clocks: clock.clocks,
    scheduler: clock,
    probers: probers.factory,
    loadConfig: configs.loader,
    families: [4],
    pinning,
    conntrack,
    sysctl,
    nftEvents,
    ...(fakes.overrides ? { overrides: fakes.overrides } : {}),
    ...(fakes.mptcp ? { mptcp: fakes.mptcp } : {}),
    ...(fakes.counters ? { counters: fakes.counters } : {}),
    ...(fakes.passiveWakes ? { passiveWakes: fakes.passiveWakes } : {}),
    onEvent: (e) => events.push(e),
  });
  let seq = 0;
  /** One round of `name`'s heartbeats, a second after the last: `results` as given. */
  const feed = (name: string, results: readonly HeartbeatResult[]): void => {
    clock.advance(1000);
    daemon.dispatch({ kind: 'round', uplink: name, round: { seq: ++seq, startedAt: clock.mono, results } });
  };
  /** One round of `name`: target i answered (1.5 ms) or timed out. */
  const round = (name: string, ...ok: boolean[]): void =>
    feed(
      name,
      ok.map((o, i) => (o ? { target: `icmp 198.51.100.1${i}`, ok: true, rttMs: 1.5 } : { target: `icmp 198.51.100.1${i}`, ok: false, error: 'timeout' })),
    );
  /** Lets every apply and table load queued so far finish (promises only: no time passes). */
  const settle = (): Promise<void> => daemon.idle();
  /** Lets `ms` of fake time pass, firing each timer at its moment and letting what it started finish. */
  const pass = async (ms: number): Promise<void> => {
    let left = ms;
    for (;;) {
      await daemon.idle();
      const next = clock.pending()[0];
      if (next === undefined || next > left) break;
      clock.advance(next);
      left -= next;
    }
    clock.advance(left);
    await daemon.idle();
  };
  const writeConfig = (text: string): void => void configs.files.set(PATH, text);
  return { daemon, kernel, links, logs, round, feed, settle, pass, clock, writeConfig, pinning, conntrack, sysctl, nftEvents, probers: probers.made, events };
}

// A Daemon wired to fakes (kernel, links, pinning, conntrack, sysctl) and a fake clock, with
// its logs read back as JSON, as pino writes them; rounds of heartbeats are fed by hand.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { after } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../src/config/index.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { FakeLinks, upLink } from '../../src/link/index.js';
import { FakeConntrackTable, FakeKernel, FakePinningTable, FakeSysctl } from '../../src/route/index.js';
import type { ProbeRound } from '../../src/types/index.js';

export const CONFIG = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, priority: 1, targets: [icmp: 198.51.100.10, icmp: 198.51.100.11] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
probe: { up: 2, down: 2 }
routing: { table: 100, failback: { hold: 1ms, steps: [100], step_interval: 1ms } }
`;

const dir = mkdtempSync(join(tmpdir(), 'uplinkd-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

export function setup(config = CONFIG, fakes: { pinning?: FakePinningTable } = {}) {
  const file = join(dir, `c${Math.random()}.yaml`);
  writeFileSync(file, config);
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
  let now = Date.parse('2026-11-21T10:00:00Z');
  // The failback schedule runs on the monotonic clock and real timers: let it move with real time.
  const nftEvents = new (class extends EventEmitter {
    close(): void {}
  })();
  const pinning = fakes.pinning ?? new FakePinningTable();
  const conntrack = new FakeConntrackTable();
  const sysctl = new FakeSysctl();
  sysctl.values.set('net.ipv4.fib_multipath_hash_policy', '0');
  const daemon = new Daemon({
    configPath: file,
    config: parsed.config,
    log: pino(sink),
    kernel,
    links,
    clocks: { wall: () => now, mono: () => now + performance.now() },
    families: [4],
    pinning,
    conntrack,
    sysctl,
    startProbes: false,
    nftEvents,
  });
  let seq = 0;
  const round = (name: string, ...ok: boolean[]): void => {
    now += 1000;
    const r: ProbeRound = {
      seq: ++seq,
      startedAt: now,
      results: ok.map((o, i) =>
        o ? { target: `icmp 198.51.100.1${i}`, ok: true, rttMs: 1.5 } : { target: `icmp 198.51.100.1${i}`, ok: false, error: 'timeout' },
      ),
    };
    daemon.onRound(name, r);
  };
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return { daemon, kernel, links, logs, round, settle, file, pinning, conntrack, sysctl, nftEvents };
}

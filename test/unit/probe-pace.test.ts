// health/machine: probePace (ms between an uplink's probe rounds, from its families' health)
// and mayConfirm (whether a failing heartbeat starts fast confirmation), for the cases
// health.test.ts leaves out: no families, partial pace settings, and settings from a config.
// (The prober's own timing in probe/prober.ts runs on timers and sockets: not pure.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { mayConfirm, probePace, type Health, type PaceSettings } from '../../src/health/index.js';

const h = (state: Health['state'], badStreak = 0, goodStreak = 0): Health => ({ state, since: 0, reason: '', goodStreak, badStreak });

describe('probe pace', () => {
  const ALL: PaceSettings = { intervalMs: 1000, failureIntervalMs: 100, recoveryIntervalMs: 5000 };
  const FAIL_ONLY: PaceSettings = { intervalMs: 2000, failureIntervalMs: 250 };
  const RECOVER_ONLY: PaceSettings = { intervalMs: 2000, recoveryIntervalMs: 10_000 };
  const rows: [string, Health[], PaceSettings, number][] = [
    ['no families: the interval', [], ALL, 1000],
    ['init with no failed round yet: the interval', [h('init')], ALL, 1000],
    ['up on a good streak: the interval', [h('up', 0, 9)], ALL, 1000],
    ['degraded without failed rounds: the interval', [h('degraded')], ALL, 1000],
    ['detached by heartbeats, failed rounds counted: recovery, not confirmation', [h('detached', 4)], ALL, 5000],
    ['down and detached: recovery', [h('down', 2), h('detached')], ALL, 5000],
    ['down and init confirming: confirmation', [h('down', 2), h('init', 1)], ALL, 100],
    ['failure pace only: confirming uses it', [h('up', 1)], FAIL_ONLY, 250],
    ['failure pace only: down falls back to the interval', [h('down', 3)], FAIL_ONLY, 2000],
    ['recovery pace only: confirming falls back to the interval', [h('up', 1)], RECOVER_ONLY, 2000],
    ['recovery pace only: down uses it', [h('down', 3)], RECOVER_ONLY, 10_000],
  ];
  for (const [what, families, pace, want] of rows) it(what, () => assert.equal(probePace(families, pace), want));

  it("an uplink's probe settings from a config: 500ms, 200ms confirming, 10s recovering", () => {
    const r = parseConfig(
      'uplinks:\n  - name: fiber\n    interface: wan1\n    targets:\n      - icmp: 198.51.100.1\nprobe:\n  interval: 500ms\n  failure_interval: 200ms\n  recovery_interval: 10s\n',
    );
    assert.ok(r.ok, JSON.stringify(r.ok || r.problems));
    const p = r.config.uplinks[0]!.probe;
    assert.deepEqual(
      [h('up'), h('up', 1), h('down', 3)].map((f) => probePace([f], p)),
      [500, 200, 10_000],
    );
  });
});

describe('may confirm', () => {
  const rows: [string, Health[], boolean][] = [
    ['no families', [], false],
    ['up', [h('up')], true],
    ['degraded', [h('degraded')], true],
    ['init', [h('init')], true],
    ['down', [h('down')], false],
    ['detached', [h('detached')], false],
    ['down and detached', [h('down'), h('detached')], false],
    ['down and up: the up family may lose its verdict', [h('down'), h('up')], true],
  ];
  for (const [what, families, want] of rows) it(what, () => assert.equal(mayConfirm(families), want));
});

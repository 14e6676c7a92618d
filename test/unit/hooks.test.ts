// hooks/: what a hook is told (environment and JSON), the queues (per uplink, in order, never
// blocking the caller, bounded), the log of each run, and the real spawner's timeout, which
// kills the hook's whole process group.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hookPayload } from '../../src/hooks/payload.js';
import { type HookOutcome, HookRunner, MAX_QUEUED } from '../../src/hooks/runner.js';
import { execaSpawner } from '../../src/hooks/spawn.js';
import type { OperatorEvent } from '../../src/types/events.js';
import type { HookConfig } from '../../src/types/index.js';

const TIME = '2026-11-22T10:00:00.000Z';
const IFACES = new Map([
  ['fiber', 'wan1'],
  ['dsl', 'wan2'],
]);
const down: OperatorEvent = { event: 'state', uplink: 'fiber', interface: 'wan1', family: 4, from: 'up', to: 'down', reason: '3 failed rounds' };
const failover: OperatorEvent = {
  event: 'failover',
  family: 4,
  shares: [{ uplink: 'dsl', share: 100 }],
  was: [{ uplink: 'fiber', share: 100 }],
  reason: 'fiber lost',
};
const step: OperatorEvent = {
  event: 'failback-step',
  family: 6,
  shares: [
    { uplink: 'fiber', share: 10 },
    { uplink: 'dsl', share: 90 },
  ],
  was: [{ uplink: 'dsl', share: 100 }],
  reason: 'failback to fiber: step 1 of 3, 10% of new flows',
};

describe('hooks: the payload', () => {
  const rows: [string, OperatorEvent, Record<string, string>][] = [
    [
      'a state change: the uplink, its interface, from and to states',
      down,
      { EVENT: 'state', UPLINK: 'fiber', INTERFACE: 'wan1', FAMILY: 'ipv4', FROM: 'up', TO: 'down', REASON: '3 failed rounds', SHARES: '', TIME },
    ],
    [
      'a failover: who carries new flows now, and the shares before and after',
      failover,
      { EVENT: 'failover', UPLINK: 'dsl', INTERFACE: 'wan2', FAMILY: 'ipv4', FROM: 'fiber=100', TO: 'dsl=100', REASON: 'fiber lost', SHARES: 'dsl=100', TIME },
    ],
    [
      'a failback step shares new flows between two',
      step,
      {
        EVENT: 'failback-step',
        UPLINK: 'fiber,dsl',
        INTERFACE: 'wan1,wan2',
        FAMILY: 'ipv6',
        FROM: 'dsl=100',
        TO: 'fiber=10,dsl=90',
        REASON: 'failback to fiber: step 1 of 3, 10% of new flows',
        SHARES: 'fiber=10,dsl=90',
        TIME,
      },
    ],
  ];
  for (const [what, event, env] of rows) {
    it(what, () => {
      const p = hookPayload(event, TIME, IFACES);
      assert.deepEqual(p.env, Object.fromEntries(Object.entries(env).map(([k, v]) => [`UPLINKD_${k}`, v])));
      const json = JSON.parse(p.json) as Record<string, unknown>;
      assert.equal(json.event, event.event);
      assert.equal(json.time, TIME);
      assert.equal(json.family, env.FAMILY);
    });
  }
});

interface Call {
  readonly argv: readonly string[];
  readonly event: string;
  readonly uplink: string;
  finish: (o?: Partial<HookOutcome>) => void;
}

/** A spawner whose runs end when the test says so. */
function fakeSpawner() {
  const calls: Call[] = [];
  const spawn = (argv: readonly string[], payload: { env: Readonly<Record<string, string>> }) =>
    new Promise<HookOutcome>((resolve) => {
      calls.push({
        argv,
        event: payload.env.UPLINKD_EVENT!,
        uplink: payload.env.UPLINKD_UPLINK!,
        finish: (o = {}) => resolve({ exitCode: 0, timedOut: false, stdout: '', stderr: '', ...o }),
      });
    });
  return { calls, spawn };
}

function logger() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    info: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'info', fields, msg }),
    warn: (fields: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', fields, msg }),
  };
}

const hook = (run: string, events: HookConfig['events'] = ['state', 'failover', 'failback-step'], timeoutMs = 1000): HookConfig => ({
  run: [run],
  events,
  timeoutMs,
});
const tick = () => new Promise((r) => setImmediate(r));

describe('hooks: the runner', () => {
  it('one at a time per uplink, in event order; other queues run meanwhile; emit never waits', async () => {
    const { calls, spawn } = fakeSpawner();
    const log = logger();
    const runner = new HookRunner(() => ({ hooks: [hook('/a'), hook('/b', ['state'])], interfaces: IFACES }), spawn, log);
    runner.emit(down);
    runner.emit({ ...down, from: 'down', to: 'up' });
    runner.emit(failover);
    await tick();
    // fiber's queue: /a for the first event; the steering queue: /a for the failover.
    assert.deepEqual(
      calls.map((c) => `${c.argv[0]} ${c.event}`),
      ['/a state', '/a failover'],
    );
    calls[0]!.finish();
    await tick();
    assert.deepEqual(
      calls.slice(2).map((c) => `${c.argv[0]} ${c.event}`),
      ['/b state'],
    );
    calls[2]!.finish({ exitCode: 3, stderr: 'no route to pager' });
    calls[1]!.finish();
    await tick();
    calls[3]!.finish();
    await tick();
    calls[4]!.finish();
    await runner.idle();
    assert.deepEqual(
      calls.map((c) => `${c.argv[0]} ${c.event}`),
      ['/a state', '/a failover', '/b state', '/a state', '/b state'],
    );
    const failed = log.lines.find((l) => l.level === 'warn');
    assert.equal(failed?.msg, 'hook /b (state) failed: exit 3');
    assert.equal(failed?.fields.stderr, 'no route to pager');
    assert.equal(log.lines.filter((l) => l.level === 'info').length, 4);
  });

  it('a timed-out or unstartable hook is said at warn; the queue goes on', async () => {
    const { calls, spawn } = fakeSpawner();
    const log = logger();
    const runner = new HookRunner(() => ({ hooks: [hook('/slow')], interfaces: IFACES }), spawn, log);
    runner.emit(down);
    runner.emit(down);
    await tick();
    calls[0]!.finish({ exitCode: null, signal: 'SIGTERM', timedOut: true });
    await tick();
    calls[1]!.finish({ exitCode: null, error: 'spawn /slow ENOENT' });
    await runner.idle();
    assert.deepEqual(
      log.lines.map((l) => `${l.level} ${l.msg}`),
      ['warn hook /slow (state) ran past its timeout of 1000ms: killed', 'warn hook /slow (state) could not run: spawn /slow ENOENT'],
    );
  });

  it(`holds at most ${MAX_QUEUED} waiting runs per queue, dropping the oldest and saying so`, async () => {
    const { calls, spawn } = fakeSpawner();
    const log = logger();
    const runner = new HookRunner(() => ({ hooks: [hook('/a')], interfaces: IFACES }), spawn, log);
    for (let i = 0; i < MAX_QUEUED + 11; i++) runner.emit({ ...down, reason: `#${i}` });
    await tick();
    assert.equal(calls.length, 1);
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.fields.dropped === 1));
    const stopped = runner.stop();
    calls[0]!.finish();
    await stopped;
    assert.equal(calls.length, 1, 'stop drops what waits and starts nothing new');
  });

  it('only hooks that take the event run', async () => {
    const { calls, spawn } = fakeSpawner();
    const runner = new HookRunner(() => ({ hooks: [hook('/pager', ['all-down'])], interfaces: IFACES }), spawn, logger());
    runner.emit(down);
    runner.emit(step);
    await runner.idle();
    assert.equal(calls.length, 0);
  });
});

describe('hooks: the real spawner', () => {
  it('gives the event on stdin and in the environment, and returns exit code and output', async () => {
    const p = hookPayload(failover, TIME, IFACES);
    const r = await execaSpawner(['/bin/sh', '-c', 'read -r line; echo "$UPLINKD_EVENT $UPLINKD_TO $line"; echo oops >&2; exit 4'], p, 5000);
    assert.equal(r.exitCode, 4);
    assert.equal(r.timedOut, false);
    assert.equal(r.stdout, `failover dsl=100 ${p.json}`);
    assert.equal(r.stderr, 'oops');
  });

  it('kills a hook past its timeout with everything it started (its process group)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uplinkd-hook-'));
    try {
      const pidFile = join(dir, 'sleep.pid');
      const started = Date.now();
      const r = await execaSpawner(['/bin/sh', '-c', `sleep 1000 & echo $! > ${pidFile}; wait`], hookPayload(down, TIME, IFACES), 300);
      const took = Date.now() - started;
      assert.equal(r.timedOut, true);
      assert.ok(took < 5000, `returned after ${took} ms`);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      // The grandchild is gone too (or a zombie about to be reaped by init).
      const alive = existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      assert.equal(alive, false, `sleep ${pid} survived its hook`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up on output that a process outside its group holds open, after the timeout and grace', async () => {
    const started = Date.now();
    const r = await execaSpawner(['/bin/sh', '-c', 'setsid sleep 30 & sleep 100'], hookPayload(down, TIME, IFACES), 300);
    const took = Date.now() - started;
    assert.equal(r.timedOut, true);
    assert.ok(took < 5000, `returned after ${took} ms`);
    spawnSync('pkill', ['-f', '^sleep 30$']);
  });

  it("inherits neither systemd's variables for uplinkd nor its sockets", async () => {
    const raw = (await import('raw-socket')).default;
    const socket = raw.createSocket({ protocol: raw.Protocol.ICMP });
    process.env.NOTIFY_SOCKET = '/run/systemd/notify';
    try {
      const r = await execaSpawner(
        ['/bin/sh', '-c', 'test -n "$NOTIFY_SOCKET" && echo set || echo none; ls -l /proc/self/fd/'],
        hookPayload(down, TIME, IFACES),
        5000,
      );
      const [first, ...fds] = r.stdout.split('\n');
      assert.equal(first, 'none');
      assert.deepEqual(
        // 0-2 are the hook's own stdio (socket pairs from libuv); nothing above them.
        fds.filter((l) => / ([3-9]|\d\d+) -> socket:\[/.test(l)),
        [],
        'no socket of uplinkd leaks into a hook',
      );
    } finally {
      delete process.env.NOTIFY_SOCKET;
      socket.close();
    }
  });

  it('on stop, running hooks get a grace period, then are killed', async () => {
    const runner = new HookRunner(
      () => ({ hooks: [hook('/bin/sleep')].map((h) => ({ ...h, run: ['/bin/sleep', '100'], timeoutMs: 600_000 })), interfaces: IFACES }),
      execaSpawner,
      logger(),
    );
    runner.emit(down);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await runner.stop(300);
    assert.ok(Date.now() - started < 3000, `stopped after ${Date.now() - started} ms`);
  });

  it('a program that is not there: an error, not an exception', async () => {
    const r = await execaSpawner(['/nonexistent/hook'], hookPayload(down, TIME, IFACES), 1000);
    assert.equal(r.exitCode, null);
    assert.match(r.error ?? '', /ENOENT/);
  });
});

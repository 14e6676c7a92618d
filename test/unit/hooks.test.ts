// hooks/: what a hook is told (environment, bounded, and JSON, whole), the queues (per uplink,
// in order, never blocking the caller, bounded), the log of each run, and the real spawner,
// which kills the hook's whole process group when the hook exits and at its timeout.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ENV_VALUE_MAX_BYTES, envValue, hookPayload, TRUNCATED_MARK } from '../../src/hooks/payload.js';
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

  it(`cuts an environment value past ${ENV_VALUE_MAX_BYTES} bytes, at a character, with a marker; the JSON keeps it whole`, () => {
    // 'é' is two bytes: the cut would fall inside one.
    const reason = `a${'é'.repeat(100 * 1024)}`;
    const p = hookPayload({ ...down, reason }, TIME, IFACES);
    const cut = p.env.UPLINKD_REASON!;
    assert.ok(cut.endsWith(TRUNCATED_MARK), cut.slice(-40));
    assert.ok(Buffer.byteLength(cut) <= ENV_VALUE_MAX_BYTES);
    assert.ok(Buffer.byteLength(cut) > ENV_VALUE_MAX_BYTES - TRUNCATED_MARK.length - 2);
    const kept = cut.slice(0, -TRUNCATED_MARK.length);
    assert.ok(reason.startsWith(kept), 'no character is split');
    assert.equal((JSON.parse(p.json) as { reason: string }).reason, reason);
    assert.equal(p.env.UPLINKD_UPLINK, 'fiber', 'short values as they are');
    const exact = 'x'.repeat(ENV_VALUE_MAX_BYTES);
    assert.equal(envValue(exact), exact, 'a value of exactly the limit is not cut');
    assert.equal(envValue(envValue(reason)), envValue(reason), 'cutting twice changes nothing');
  });
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

/** A process that still runs (a zombie about to be reaped by its new parent does not). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Waits up to `ms` for `pid` to stop running; whether it did. */
async function gone(pid: number, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (running(pid)) {
    if (Date.now() > until) {
      process.kill(pid, 'SIGKILL');
      return false;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** Runs `body` with a temporary directory, removed after. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uplinkd-hook-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a hook may leave in the background: `$!` is its pid. */
const LEFT_BEHIND: [string, string][] = [
  ['holding the hook’s output open', 'sleep 1000 &'],
  ['with its output elsewhere', 'sleep 1000 >/dev/null 2>&1 </dev/null &'],
  // READY: the hook goes on once the trap is set.
  ['ignoring SIGTERM', '(trap "" TERM; : > READY; exec sleep 1000) >/dev/null 2>&1 &'],
];

/** A hook script that starts `background`, writes its pid to `pidFile`, then does `last`. */
function leaving(dir: string, background: string, last: string): { script: string; pidFile: string } {
  const pidFile = join(dir, 'left.pid');
  const ready = join(dir, 'ready');
  const wait = background.includes('READY') ? `while [ ! -e ${ready} ]; do sleep 0.02; done\n` : '';
  const script = join(dir, 'hook.sh');
  writeFileSync(script, `#!/bin/sh\n${background.replace('READY', ready)}\necho $! > ${pidFile}\n${wait}${last}\n`, { mode: 0o755 });
  return { script, pidFile };
}

/** Runs a hook that leaves `background` behind and ends with `last`: its result, time taken and the pid it left. */
async function runLeaving(dir: string, background: string, last: string, timeoutMs: number) {
  const { script, pidFile } = leaving(dir, background, last);
  const started = Date.now();
  const r = await execaSpawner([script], hookPayload(down, TIME, IFACES), timeoutMs);
  return { r, took: Date.now() - started, pid: Number(readFileSync(pidFile, 'utf8')) };
}

describe('hooks: the real spawner', () => {
  for (const [what, background] of LEFT_BEHIND) {
    it(`a hook that exits takes what it left in the background with it: a process ${what}`, async () => {
      await inTempDir(async (dir) => {
        const { r, took, pid } = await runLeaving(dir, background, 'echo done; exit 0', 10_000);
        assert.ok(pid > 0);
        assert.equal(await gone(pid), true, `${pid} survived its hook`);
        assert.equal(r.exitCode, 0);
        assert.equal(r.timedOut, false);
        assert.equal(r.stdout, 'done');
        assert.ok(took < 3000, `returned after ${took} ms`);
      });
    });
  }

  for (const [what, background] of LEFT_BEHIND) {
    it(`a hook past its timeout is killed with what it left in the background: a process ${what}`, async () => {
      await inTempDir(async (dir) => {
        const { r, took, pid } = await runLeaving(dir, background, 'exec sleep 100', 300);
        assert.equal(await gone(pid), true, `${pid} survived its hook`);
        assert.equal(r.timedOut, true);
        assert.equal(r.signal, 'SIGTERM');
        assert.ok(took < 5000, `returned after ${took} ms`);
      });
    });
  }

  it('a 200 KB value reaches the hook cut in its environment, with the marker, and whole on stdin', async () => {
    await inTempDir(async (dir) => {
      const reason = `fiber lost: ${'x'.repeat(200 * 1024)}`;
      const p = hookPayload({ ...down, reason }, TIME, IFACES);
      const script = join(dir, 'hook.sh');
      writeFileSync(script, `#!/bin/sh\nprintf %s "$UPLINKD_REASON" > ${dir}/env.txt\ncat > ${dir}/stdin.json\necho "$UPLINKD_EVENT"\n`, {
        mode: 0o755,
      });
      const r = await execaSpawner([script], p, 10_000);
      assert.equal(r.error, undefined);
      assert.equal(r.exitCode, 0);
      assert.equal(r.stdout, 'state');
      const env = readFileSync(join(dir, 'env.txt'), 'utf8');
      assert.equal(Buffer.byteLength(env), ENV_VALUE_MAX_BYTES);
      assert.ok(env.endsWith(TRUNCATED_MARK), env.slice(-40));
      assert.equal(env, reason.slice(0, ENV_VALUE_MAX_BYTES - TRUNCATED_MARK.length) + TRUNCATED_MARK);
      const json = JSON.parse(readFileSync(join(dir, 'stdin.json'), 'utf8')) as { reason: string };
      assert.equal(json.reason, reason);
    });
  });

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

  it('gives up on output that a process outside its group holds open, a second after the hook exits', async () => {
    await inTempDir(async (dir) => {
      const pidFile = join(dir, 'setsid.pid');
      const started = Date.now();
      // The hook exits once its child has left the group (setsid, then the pid file).
      const script = `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 30' & while [ ! -s ${pidFile} ]; do sleep 0.02; done; exit 0`;
      const r = await execaSpawner(['/bin/sh', '-c', script], hookPayload(down, TIME, IFACES), 10_000);
      const took = Date.now() - started;
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      assert.equal(r.exitCode, 0);
      assert.equal(r.timedOut, false);
      assert.match(r.stderr, /given up/);
      assert.ok(took < 3000, `returned after ${took} ms`);
    });
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

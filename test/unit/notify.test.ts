// notify/: systemd's side of Type=notify: what the environment asks, the wire format, the
// status line, the notifier's sequence on a fake manager, and one real datagram to a socket
// that python3 listens on (the native addon's sendto).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import type { StatusReport, UplinkStatus } from '../../src/types/status.js';
import { statusLine } from '../../src/notify/status-line.js';
import { quietPassive } from './status-fixtures.js';
import { notifyMessage, ServiceNotifier, serviceEnvironment, socketManager, watchdogPeriod } from '../../src/notify/systemd.js';

describe('notify: what systemd asks of the process', () => {
  const fake = () => ({ notify: () => undefined });
  const rows: [string, NodeJS.ProcessEnv, { manager: boolean; watchdogMs?: number }][] = [
    ['outside systemd: nothing', {}, { manager: false }],
    ['Type=notify without a watchdog', { NOTIFY_SOCKET: '/run/systemd/notify' }, { manager: true }],
    ['WatchdogSec=20 for this pid', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, { manager: true, watchdogMs: 20_000 }],
    ['WatchdogSec without WATCHDOG_PID', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '5000000' }, { manager: true, watchdogMs: 5000 }],
    ["a watchdog meant for another pid (a parent's)", { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '5000000', WATCHDOG_PID: '7' }, { manager: true }],
    ['a nonsense WATCHDOG_USEC', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: 'soon' }, { manager: true }],
  ];
  for (const [what, env, want] of rows) {
    it(what, () => {
      const s = serviceEnvironment(env, 42, fake);
      assert.deepEqual({ manager: s.manager !== undefined, ...(s.watchdogMs !== undefined ? { watchdogMs: s.watchdogMs } : {}) }, want);
    });
  }
  it('pings at half the timeout; one KEY=VALUE per line, values on one line', () => {
    assert.equal(watchdogPeriod(20_000), 10_000);
    assert.equal(notifyMessage({ READY: '1', STATUS: 'a\nb' }), 'READY=1\nSTATUS=a b');
  });
});

const uplink = (name: string, state: UplinkStatus['state'], weight: number): UplinkStatus => ({
  name,
  gateway: null,
  gateway_source: null,
  gateway_since: null,
  gateway6: null,
  gateway6_source: null,
  gateway6_since: null,
  interface: `if-${name}`,
  state,
  priority: 1,
  weight,
  flows: null,
  new_flows: null,
  new_flows_pct: null,
  rtt_ms: null,
  loss_pct: 0,
  since: '2026-11-22T10:00:00.000Z',
  reason: '',
  targets: [],
  families: [],
  timeout_ms: 1000,
  passive: quietPassive(true),
});
const report = (uplinks: UplinkStatus[], allDown = false): StatusReport => ({
  uplinks,
  routes: [],
  steering: { all_down: allDown, reason: '' },
  kernel: { refused: [], foreign_rules: [], connected_routes: [] },
});

describe('notify: the status line', () => {
  const rows: [string, StatusReport, string][] = [
    ['the primary carries, the backup waits', report([uplink('fiber', 'up', 100), uplink('lte', 'up', 0)]), 'fiber up, 100% of new flows; lte up, standby'],
    ['a failback step', report([uplink('fiber', 'up', 10), uplink('lte', 'up', 90)]), 'fiber up, 10% of new flows; lte up, 90% of new flows'],
    ['a lost primary', report([uplink('fiber', 'down', 0), uplink('lte', 'up', 100)]), 'fiber down; lte up, 100% of new flows'],
    [
      'all down: said first',
      report([uplink('fiber', 'down', 100), uplink('lte', 'detached', 0)], true),
      'ALL DOWN: fiber down, 100% of new flows; lte detached',
    ],
  ];
  for (const [what, s, want] of rows) it(what, () => assert.equal(statusLine(s), want));
});

describe('notify: the notifier', () => {
  it('READY with the first status, a STATUS per change (debounced, only when it differs), STOPPING last', async () => {
    const sent: Record<string, string>[] = [];
    let line = 'fiber up, 100% of new flows';
    const n = new ServiceNotifier({ manager: { notify: (f) => void sent.push({ ...f }) } }, async () => line, assert.fail, undefined, 10);
    await n.ready();
    n.changed();
    await new Promise((r) => setTimeout(r, 30));
    line = 'fiber down; lte up, 100% of new flows';
    n.changed();
    n.changed();
    await new Promise((r) => setTimeout(r, 30));
    n.stopping();
    assert.deepEqual(sent, [
      { READY: '1', STATUS: 'fiber up, 100% of new flows' },
      { STATUS: 'fiber down; lte up, 100% of new flows' },
      { STOPPING: '1', STATUS: 'stopping' },
    ]);
  });

  it('a watchdog pings from the event loop until stopping; a failing socket is said once', async () => {
    const sent: string[] = [];
    const errors: string[] = [];
    const n = new ServiceNotifier(
      {
        manager: {
          notify: (f) => {
            sent.push(Object.keys(f).join(','));
            return 'ECONNREFUSED';
          },
        },
        watchdogMs: 40,
      },
      async () => 'x',
      (m) => errors.push(m),
    );
    await n.ready();
    await new Promise((r) => setTimeout(r, 110));
    n.stopping();
    const pings = sent.filter((s) => s === 'WATCHDOG').length;
    assert.ok(pings >= 2, `${pings} pings in 110 ms at a 20 ms period`);
    assert.deepEqual(errors, ['cannot notify systemd: ECONNREFUSED']);
    const after = sent.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(sent.length, after, 'no ping after STOPPING');
  });

  it('withholds the ping while something is stuck (said once), and pings again once it is not', async () => {
    const sent: string[] = [];
    const errors: string[] = [];
    let stuck: string | undefined = 'an apply has been running for 31s';
    const n = new ServiceNotifier(
      { manager: { notify: (f) => void sent.push(Object.keys(f).join(',')) }, watchdogMs: 40 },
      async () => 'x',
      (m) => errors.push(m),
      () => stuck,
    );
    await n.ready();
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(sent, ['READY,STATUS']);
    assert.deepEqual(errors, ['watchdog: not pinging, an apply has been running for 31s; systemd restarts uplinkd at WatchdogSec']);
    stuck = undefined;
    await new Promise((r) => setTimeout(r, 80));
    n.stopping();
    assert.ok(sent.includes('WATCHDOG'));
  });

  it('outside systemd it sends nothing and arms no timer', async () => {
    const n = new ServiceNotifier({}, async () => assert.fail('not read'), assert.fail);
    await n.ready();
    n.changed();
    n.stopping();
    assert.equal(n.active, false);
  });
});

describe('notify: a real datagram', () => {
  for (const abstract of [false, true]) {
    it(`reaches a Unix datagram socket ${abstract ? 'in the abstract namespace (@name)' : 'at a path'}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'uplinkd-notify-'));
      const path = abstract ? `@uplinkd-test-${process.pid}` : join(dir, 'notify.sock');
      // python3 binds the socket, says so, and prints the one datagram it gets.
      const listener = execa('python3', [
        '-c',
        `import socket,sys
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
p=sys.argv[1]
s.bind('\\0'+p[1:] if p.startswith('@') else p)
print('bound', flush=True)
s.settimeout(10)
print(s.recv(4096).decode(), flush=True)`,
        path,
      ]);
      try {
        await new Promise<void>((resolve) => listener.stdout!.once('data', () => resolve()));
        assert.equal(socketManager(path).notify({ READY: '1', STATUS: 'fiber up' }), undefined);
        const r = await listener;
        assert.equal(r.stdout, 'bound\nREADY=1\nSTATUS=fiber up');
      } finally {
        listener.kill();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
  it('says why when nobody listens', () => {
    assert.match(socketManager('/nonexistent/notify.sock').notify({ READY: '1' }) ?? '', /ENOENT|No such file/);
  });
});

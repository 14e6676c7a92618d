// daemon/: the wiring, driven by hand-made probe rounds, a fake kernel and a fake clock whose
// timers fire only when the test moves it; logs are read back as JSON, as pino writes them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { upLink } from '../../src/link/index.js';
import { FakePinningTable } from '../../src/nft/fake.js';
import { CONFIG, setup } from './fake-daemon.js';

describe('daemon', () => {
  it('routes through the primary once it is up, and fails over to the backup', async () => {
    const { daemon, kernel, logs, round, settle } = setup();
    await daemon.start();
    assert.ok(!kernel.routeTable.some((r) => r.table === 100), 'no managed route before a verdict');
    round('fiber', true, true);
    round('dsl', true);
    round('fiber', true, false);
    round('dsl', true);
    await settle();
    const managed = () => kernel.routeTable.find((r) => r.table === 100)?.nexthops.map((n) => n.ifindex);
    assert.deepEqual(managed(), [11]);
    round('fiber', false, false);
    round('fiber', false, false);
    await settle();
    assert.deepEqual(managed(), [12]);
    const states = logs.filter((l) => l.event === 'state').map((l) => `${l.uplink} ${l.from}->${l.to}`);
    assert.deepEqual(states, ['fiber init->up', 'dsl init->up', 'fiber up->down']);
    assert.ok(logs.some((l) => l.event === 'route' && l.command === 'ip route replace 0.0.0.0/0 table 100 via 100.64.2.1 dev wan2'));

    const s = await daemon.status();
    assert.deepEqual(s.routes, [{ destination: '0.0.0.0/0', table: 100, nexthops: [{ uplink: 'dsl', weight: 100 }] }]);
    const fiber = s.uplinks.find((u) => u.name === 'fiber')!;
    assert.equal(fiber.state, 'down');
    assert.equal(fiber.weight, 0);
    assert.equal(fiber.since, '2026-11-21T10:00:06.000Z');
    assert.equal(fiber.targets[0]!.ok, false);
    assert.equal(fiber.targets[0]!.error, 'timeout');
    assert.equal(s.uplinks.find((u) => u.name === 'dsl')!.weight, 100);
    await daemon.stop();
  });

  it('keeps the last routes when every uplink is down, and says so in status and logs', async () => {
    const { daemon, kernel, logs, round, settle } = setup();
    await daemon.start();
    round('dsl', true);
    round('dsl', true);
    await settle();
    round('dsl', false);
    round('dsl', false);
    await settle();
    assert.deepEqual(
      kernel.routeTable.find((r) => r.table === 100)?.nexthops.map((n) => n.ifindex),
      [12],
    );
    const s = await daemon.status();
    assert.equal(s.steering.all_down, true);
    assert.equal(s.uplinks.find((u) => u.name === 'dsl')!.weight, 100);
    assert.ok(logs.some((l) => l.event === 'steering' && l.all_down === true && l.level === 40));
    await daemon.stop();
  });

  it('a rejected reload keeps the running config; a good one swaps it in', async () => {
    const { daemon, writeConfig, logs } = setup();
    await daemon.start();
    writeConfig(CONFIG.replace('priority: 2', 'priority: two'));
    const bad = await daemon.reload();
    assert.ok(!bad.ok);
    assert.match(bad.problems?.[0] ?? '', /:4:66: WRONG_TYPE: uplinks\[1\]\.priority must be a whole number$/);
    assert.equal(daemon.currentConfig.uplinks[1]!.priority, 2);
    writeConfig(CONFIG.replace('priority: 2', 'priority: 1'));
    const good = await daemon.reload();
    assert.deepEqual(good, { ok: true, reloaded: true, changes: ['reweighted dsl'] });
    assert.equal(daemon.currentConfig.uplinks[1]!.priority, 1);
    assert.ok(logs.some((l) => l.event === 'reload' && l.level === 50));
    await daemon.stop();
  });

  it('a vanished interface detaches its uplink at once and moves the route; it comes back through init', async () => {
    const { daemon, kernel, links, logs, round, settle, pass } = setup();
    await daemon.start();
    for (let i = 0; i < 2; i++) {
      round('fiber', true, true);
      round('dsl', true);
    }
    await settle();
    const managed = () => kernel.routeTable.find((r) => r.table === 100)?.nexthops.map((n) => n.ifindex);
    assert.deepEqual(managed(), [11]);

    kernel.linkIndex.delete('wan1');
    links.set([upLink('wan2', 12, '100.64.2.2/24')]);
    await settle();
    assert.deepEqual(managed(), [12], 'no probe round was needed');
    const s = await daemon.status();
    assert.equal(s.uplinks.find((u) => u.name === 'fiber')!.state, 'detached');
    assert.equal(s.uplinks.find((u) => u.name === 'fiber')!.reason, 'interface wan1 vanished');

    // Back with a new ifindex: init first, then `up` good rounds before it carries traffic.
    kernel.linkIndex.set('wan1', 21);
    links.set([upLink('wan1', 21, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')]);
    await settle();
    assert.equal((await daemon.status()).uplinks.find((u) => u.name === 'fiber')!.state, 'init');
    assert.deepEqual(managed(), [12]);
    round('fiber', true, true);
    round('fiber', true, true);
    await pass(10); // a recovery: the route moves once the hold (1 ms) has passed
    assert.deepEqual(managed(), [21]);
    const states = logs.filter((l) => l.event === 'state' && l.uplink === 'fiber').map((l) => `${l.from}->${l.to}`);
    assert.deepEqual(states, ['init->up', 'up->detached', 'detached->init', 'init->up']);
    assert.ok(logs.some((l) => l.event === 'link' && l.msg === 'interface wan1 vanished'));
    await daemon.stop();
  });

  it('an interface missing at start is detached from the first moment', async () => {
    const { daemon, links, round } = setup();
    links.set([upLink('wan2', 12, '100.64.2.2/24')]);
    await daemon.start();
    round('fiber', true, true);
    const fiber = (await daemon.status()).uplinks.find((u) => u.name === 'fiber')!;
    assert.equal(fiber.state, 'detached');
    assert.equal(fiber.reason, 'interface wan1 is missing');
    await daemon.stop();
  });

  it('an interface that lost its IPv4 address (a DHCP lease gone) gets no route through its gateway until it has one again', async () => {
    const { daemon, kernel, links, logs, settle } = setup();
    await daemon.start();
    await settle();
    const own = () => kernel.routeTable.some((r) => r.table === 1100);
    assert.ok(own());
    // The kernel drops the route with the address (fib_disable_ip); it would refuse it again.
    links.set([{ ...upLink('wan1', 11), addresses: [] }, upLink('wan2', 12, '100.64.2.2/24')]);
    kernel.routeTable = kernel.routeTable.filter((r) => r.table !== 1100);
    const mark = kernel.calls.length;
    await settle();
    assert.deepEqual(
      kernel.calls.slice(mark).filter((c) => c.includes('1100')),
      [],
    );
    assert.equal((await daemon.status()).uplinks.find((u) => u.name === 'fiber')!.reason, 'wan1 has no IPv4 address for its heartbeats');
    links.set([upLink('wan1', 11, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')]);
    await settle();
    assert.ok(own(), 'back with its address');
    assert.deepEqual(
      logs.filter((l) => (l.level as number) >= 50),
      [],
    );
    await daemon.stop();
  });

  it('carrier loss and admin down detach; a heartbeat ENODEV detaches and is not counted as loss', async () => {
    const { daemon, links, round, feed, settle } = setup();
    await daemon.start();
    round('fiber', true, true);
    round('fiber', true, true);
    const state = async () => (await daemon.status()).uplinks.find((u) => u.name === 'fiber')!;
    links.set([{ ...upLink('wan1', 11, '100.64.1.2/24'), carrier: false }, upLink('wan2', 12, '100.64.2.2/24')]);
    assert.equal((await state()).reason, 'carrier lost on wan1');
    links.set([{ ...upLink('wan1', 11, '100.64.1.2/24'), adminUp: false, carrier: false }, upLink('wan2', 12, '100.64.2.2/24')]);
    assert.equal((await state()).state, 'detached');
    links.set([upLink('wan1', 11, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')]);
    assert.equal((await state()).state, 'init');
    round('fiber', true, true);
    round('fiber', true, true);
    assert.equal((await state()).state, 'up');
    const lossBefore = (await state()).loss_pct;
    feed('fiber', [
      { target: 'icmp 198.51.100.10', ok: false, error: 'ENODEV' },
      { target: 'icmp 198.51.100.11', ok: false, error: 'ENODEV' },
    ]);
    await settle();
    const after = await state();
    assert.equal(after.state, 'detached');
    assert.equal(after.reason, 'heartbeats cannot be sent: ENODEV');
    assert.equal(after.loss_pct, lossBefore);
    await daemon.stop();
  });

  it('heartbeats that fail for a local reason (EMFILE, ENOBUFS) are not losses: a healthy uplink stays up', async () => {
    const { daemon, logs, feed, settle } = setup();
    await daemon.start();
    const ok = (i: number) => ({ target: `icmp 198.51.100.1${i}`, ok: true, rttMs: 1.5 });
    const local = (i: number, error: string) => ({ target: `icmp 198.51.100.1${i}`, ok: false, error });
    for (let i = 0; i < 3; i++) feed('fiber', [ok(0), ok(1)]);
    await settle();
    const fiber = async () => (await daemon.status()).uplinks.find((u) => u.name === 'fiber')!;
    assert.equal((await fiber()).state, 'up');
    // Ten rounds out of file descriptors, then out of socket buffers: nothing is learned.
    for (let i = 0; i < 10; i++) feed('fiber', [local(0, i < 5 ? 'EMFILE' : 'ENOBUFS'), local(1, i < 5 ? 'EMFILE' : 'ENOBUFS')]);
    await settle();
    const f = await fiber();
    assert.equal(f.state, 'up');
    assert.equal(f.loss_pct, 0, 'not counted as lost');
    assert.equal(f.targets[0]!.error, 'ENOBUFS', 'status says what failed');
    const said = logs.filter((l) => l.event === 'probe' && l.uplink === 'fiber').map((l) => String(l.msg));
    assert.equal(said.length, 2, said.join(' | '));
    assert.match(said[0]!, /fail on this gateway \(EMFILE/);
    assert.match(said[1]!, /fail on this gateway \(ENOBUFS/);
    feed('fiber', [ok(0), ok(1)]);
    assert.match(String(logs.at(-1)?.msg), /heartbeats go out again/);
    await daemon.stop();
  });

  it('at start: sets the multipath hash policy and loads the pinning table, each logged as its command', async () => {
    const { daemon, pinning, sysctl, logs } = setup();
    await daemon.start();
    assert.equal(sysctl.values.get('net.ipv4.fib_multipath_hash_policy'), '1');
    assert.ok(logs.some((l) => l.event === 'sysctl' && l.command === 'sysctl -w net.ipv4.fib_multipath_hash_policy=1'));
    assert.match(pinning.script ?? '', /oifname "wan1" counter name "new_fiber" ct mark set ct mark and 0xffffc0ff or 0x100/);
    assert.match(pinning.script ?? '', /oifname "wan2" counter name "new_dsl" ct mark set ct mark and 0xffffc0ff or 0x200/);
    await daemon.stop();
  });

  it('holds the table while it runs and lets go at exit, leaving it to pin for the next run', async () => {
    const { daemon, pinning, logs } = setup();
    await daemon.start();
    assert.ok(logs.some((l) => l.event === 'pinning' && l.owned === true && /nft flush ruleset. leaves it alone/.test(String(l.msg))));
    assert.equal(pinning.released, 0);
    await daemon.stop();
    assert.equal(pinning.released, 1);
    assert.notEqual(pinning.script, undefined, 'the table stays without remove_on_exit');
  });

  it('on a kernel that cannot hold the table, says so once and still loads it', async () => {
    const pinning = new FakePinningTable();
    pinning.ownable = false;
    pinning.note = 'this kernel cannot keep a table for its owner';
    const { daemon, logs, nftEvents, settle } = setup(undefined, { pinning });
    await daemon.start();
    await pinning.remove();
    nftEvents.emit('change', true);
    await settle();
    assert.equal(pinning.loads, 2);
    assert.equal(logs.filter((l) => l.event === 'pinning' && l.level === 40 && /cannot keep a table/.test(String(l.msg))).length, 1);
    assert.ok(!logs.some((l) => l.owned === true), 'no claim that the table is held');
    await daemon.stop();
  });

  it('hash_policy: keep leaves the sysctl alone', async () => {
    const { daemon, sysctl } = setup(CONFIG.replace('routing: {', 'routing: { hash_policy: keep,'));
    await daemon.start();
    assert.equal(sysctl.values.get('net.ipv4.fib_multipath_hash_policy'), '0');
    await daemon.stop();
  });

  it('puts the pinning table back when an nftables event shows it gone, and leaves it when it is whole', async () => {
    const { daemon, pinning, nftEvents, logs, settle, pass } = setup();
    await daemon.start();
    assert.equal(pinning.loads, 1);
    nftEvents.emit('change', false);
    await pass(100);
    assert.equal(pinning.loads, 1, 'an intact table is not loaded again');
    await pinning.remove();
    nftEvents.emit('change', false);
    await pass(100);
    assert.equal(pinning.loads, 2);
    assert.ok(logs.some((l) => l.event === 'reconcile' && /nftables table inet uplinkd deleted/.test(String(l.msg))));
    // Told it was deleted: loaded at once, without a look first.
    await pinning.remove();
    nftEvents.emit('change', true);
    await settle();
    assert.equal(pinning.loads, 3);
    await daemon.stop();
  });

  it('status counts pinned connections per uplink from conntrack and new ones since the steering change', async () => {
    const { daemon, conntrack, pinning, round, settle } = setup();
    await daemon.start();
    // Counted before the steering change: not in status once it is made.
    pinning.counterValues.set('new_fiber', 10).set('new_dsl', 20);
    round('dsl', true);
    round('dsl', true);
    await settle();
    conntrack.entries = [{ mark: 0x200 }, { mark: 0x200 | 0x1 }, { mark: 0x100 }, { mark: 0x4000 }];
    pinning.counterValues.set('new_fiber', 13).set('new_dsl', 21);
    const s = await daemon.status();
    const by = (n: string) => s.uplinks.find((u) => u.name === n)!;
    assert.deepEqual([by('fiber').flows, by('dsl').flows], [1, 2], 'marks outside the mask are not ours');
    assert.deepEqual([by('fiber').new_flows_pct, by('dsl').new_flows_pct], [75, 25]);
    await daemon.stop();
  });

  it('a first verdict is no recovery: the preferred uplink takes new flows at once, even with a hold', async () => {
    const { daemon, kernel, round, settle } = setup(CONFIG.replace('hold: 1ms', 'hold: 30s'));
    await daemon.start();
    round('dsl', true);
    round('dsl', true);
    await settle();
    const managed = () => kernel.routeTable.find((r) => r.table === 100)?.nexthops.map((n) => n.ifindex);
    assert.deepEqual(managed(), [12]);
    round('fiber', true, true);
    round('fiber', true, true);
    await settle();
    assert.deepEqual(managed(), [11], 'no hold for a first verdict');
    // Lost and back: now it proves itself for the hold.
    round('fiber', false, false);
    round('fiber', false, false);
    await settle();
    assert.deepEqual(managed(), [12]);
    round('fiber', true, true);
    round('fiber', true, true);
    await settle();
    assert.deepEqual(managed(), [12], 'a recovery waits out the hold');
    await daemon.stop();
  });

  it('failback.drain resets the connections still pinned to the backup after the last step', async () => {
    const { daemon, conntrack, logs, round, settle, pass } = setup(CONFIG.replace('step_interval: 1ms', 'step_interval: 1ms, drain: 50ms'));
    await daemon.start();
    for (let i = 0; i < 2; i++) round('fiber', true, true);
    for (let i = 0; i < 2; i++) round('dsl', true);
    for (let i = 0; i < 2; i++) round('fiber', false, false);
    await settle();
    conntrack.entries = [{ mark: 0x200 }, { mark: 0x200 }, { mark: 0x100 }];
    for (let i = 0; i < 2; i++) round('fiber', true, true);
    await settle();
    assert.equal(conntrack.entries.length, 3, 'nothing is reset before the drain time');
    await pass(150);
    assert.deepEqual(conntrack.entries, [{ mark: 0x100 }]);
    assert.deepEqual(conntrack.calls, ['conntrack -D --mark 0x200/0x3f00']);
    assert.ok(logs.some((l) => l.event === 'drain' && l.deleted === 2));
    await daemon.stop();
  });

  it('a reload that changes only probe settings keeps every verdict', async () => {
    const { daemon, writeConfig, logs, round, settle } = setup();
    await daemon.start();
    for (let i = 0; i < 2; i++) round('fiber', true, true);
    for (let i = 0; i < 2; i++) round('dsl', true);
    await settle();
    writeConfig(CONFIG.replace('probe: { up: 2, down: 2 }', 'probe: { up: 2, down: 2, interval: 500ms }'));
    const r = await daemon.reload();
    assert.deepEqual(r, { ok: true, reloaded: true, changes: ['retuned fiber', 'retuned dsl'] });
    const s = await daemon.status();
    assert.deepEqual(
      s.uplinks.map((u) => u.state),
      ['up', 'up'],
    );
    assert.ok(!logs.some((l) => l.event === 'steering' && l.all_down === true), 'no false all-down');
    await daemon.stop();
  });

  it('a pinning table that cannot be loaded does not stop routing; it is tried again after doubling pauses', async () => {
    const { daemon, kernel, pinning, logs, round, settle, pass } = setup();
    pinning.failLoads = 2;
    await daemon.start();
    const errors = logs.filter((l) => l.event === 'pinning' && l.level === 50).map((l) => String(l.msg).replace(/.*; /, ''));
    assert.deepEqual(errors, ['retrying in 1000ms']);
    round('dsl', true);
    round('dsl', true);
    await settle();
    assert.deepEqual(
      kernel.routeTable.find((r) => r.table === 100)?.nexthops.map((n) => n.ifindex),
      [12],
      'routes go in all the same',
    );
    await pass(3300);
    assert.equal(pinning.loads, 1, 'loaded on the third try');
    assert.deepEqual(
      logs.filter((l) => l.event === 'pinning' && l.level === 50).map((l) => String(l.msg).replace(/.*; /, '')),
      ['retrying in 1000ms', 'retrying in 2000ms'],
    );
    await daemon.stop();
  });

  it('a reload whose new table failed to load is loaded on the retry, though the old one has the same shape', async () => {
    const { daemon, pinning, writeConfig, pass } = setup();
    await daemon.start();
    pinning.failLoads = 1;
    writeConfig(CONFIG.replace('routing: {', 'routing: { mark_mask: 0xff0000,'));
    assert.ok((await daemon.reload()).ok);
    await pass(1300);
    assert.match(pinning.script ?? '', /ct mark set ct mark and 0xff00ffff or 0x10000/);
    await daemon.stop();
  });

  // Issue 10, reproductions 2 and 3, as the daemon reports them.
  it('a route the kernel refuses is logged once and tried again alone after doubling pauses; status shows it', async () => {
    const { daemon, kernel, logs, round, settle, pass } = setup();
    kernel.refuse.set('replace 1101 0.0.0.0/0', 'ENETUNREACH');
    await daemon.start();
    round('fiber', true, true);
    round('fiber', true, true);
    await settle();
    assert.deepEqual(
      kernel.routeTable.find((r) => r.table === 100)?.nexthops.map((n) => n.ifindex),
      [11],
      'the managed route is in',
    );
    assert.ok(
      kernel.ruleList.some((r) => r.priority === 9900),
      'the lookup rule is in',
    );
    await pass(3300);
    const tries = kernel.calls.filter((c) => c === 'replace 1101 0.0.0.0/0').length;
    // At 0 s the apply at start is refused (retry in 1 s); at 1 s that retry and at 2 s the
    // verdict's apply run as one (refused again: retry in 2 s); at 4 s the retry; the next is at 8 s.
    assert.equal(tries, 3);
    const refusals = logs.filter((l) => l.event === 'route' && l.refused);
    assert.deepEqual(
      refusals.map((l) => l.refused),
      ['ip route replace 0.0.0.0/0 table 1101 via 100.64.2.1 dev wan2: ENETUNREACH'],
      'logged once',
    );
    assert.deepEqual((await daemon.status()).kernel.refused, ['ip route replace 0.0.0.0/0 table 1101 via 100.64.2.1 dev wan2: ENETUNREACH']);
    kernel.refuse.clear();
    await pass(4100);
    assert.ok(
      kernel.routeTable.some((r) => r.table === 1101),
      'in once the kernel takes it',
    );
    assert.ok(logs.some((l) => l.event === 'route' && String(l.msg).startsWith('now applied')));
    assert.deepEqual((await daemon.status()).kernel.refused, []);
    await daemon.stop();
  });

  it('a foreign rule in the range is reported once, left alone, and shown in status', async () => {
    const { daemon, kernel, logs, round, settle } = setup();
    kernel.ruleList.push({ family: 4, priority: 9899, table: 0, other: 'unreachable' });
    await daemon.start();
    round('fiber', true, true);
    round('fiber', true, true);
    await settle();
    const warnings = logs.filter((l) => l.event === 'route' && l.foreign);
    assert.deepEqual(
      warnings.map((l) => l.foreign),
      ['ip rule add pref 9899 unreachable'],
    );
    assert.ok(!kernel.calls.some((c) => c.startsWith('delete rule')), 'never deleted');
    assert.ok(
      kernel.ruleList.some((r) => r.priority === 9898 && r.table === 100),
      'the lookup goes in front of it',
    );
    const s = await daemon.status();
    assert.deepEqual(s.kernel, { refused: [], foreign_rules: ['ip rule add pref 9899 unreachable'], connected_routes: [] });
    await daemon.stop();
  });

  it('probers start only once the apply has put their tables in, stop on a restarting reload and at exit; no timer outlives stop', async () => {
    const config = CONFIG.replace('hold: 1ms', 'hold: 30s');
    const { daemon, probers, writeConfig, round, settle, clock } = setup(config);
    const started = daemon.start();
    assert.deepEqual(
      probers.map((p) => [p.spec.uplink.name, p.spec.phaseMs, p.calls.join()]),
      [],
      'none before the adoption and the first apply',
    );
    await started;
    assert.deepEqual(
      probers.map((p) => [p.spec.uplink.name, p.spec.phaseMs, p.calls.join()]),
      [
        ['fiber', 0, 'start'],
        ['dsl', 500, 'start'],
      ],
    );
    for (let i = 0; i < 2; i++) round('fiber', true, true), round('dsl', true);
    for (let i = 0; i < 2; i++) round('fiber', false, false);
    for (let i = 0; i < 2; i++) round('fiber', true, true);
    await settle();
    assert.deepEqual(clock.pending(), [30_000], 'the failback hold is timed');
    writeConfig(config.replace('icmp: 198.51.100.10] }\nprobe', 'icmp: 198.51.100.12] }\nprobe'));
    assert.deepEqual(await daemon.reload(), { ok: true, reloaded: true, changes: ['restarted dsl'] });
    assert.deepEqual(
      probers.map((p) => [p.spec.uplink.name, p.calls.filter((c) => c !== 'repace').join()]),
      [
        ['fiber', 'start'],
        ['dsl', 'start,stop'],
        ['dsl', 'start'],
      ],
    );
    await daemon.stop();
    assert.deepEqual(
      probers.map((p) => p.calls.at(-1)),
      ['stop', 'stop', 'stop'],
    );
    assert.deepEqual(clock.pending(), [], 'no timer left');
  });
});

// route/: the router's diffing against a fake kernel, and the RTA_MULTIPATH codec.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMultipath, encodeMultipath, FakeKernel, managedRulePriority, ownsRule, Router, ruleTables } from '../../src/route/index.js';
import type { DesiredState, KernelRule } from '../../src/types/routes.js';
import { KernelError } from '../../src/netlink/index.js';
import { runCommand } from '../../src/host/command.js';
import { RTPROT_UPLINKD } from '../../src/types/netlink.js';
import type { DesiredRoute, PinRule } from '../../src/types/index.js';

const V4 = { prefix: '0.0.0.0/0', family: 4 as const, address: '0.0.0.0', length: 0 };

function route(table: number, ...hops: [string, string, number][]): DesiredRoute {
  return {
    destination: V4,
    table,
    nexthops: hops.map(([iface, gateway, weight]) => ({ uplink: iface, interface: iface, gateway, weight })),
  };
}

function pins(wan1: PinRule, wan2: PinRule): DesiredState['pinRules'] {
  const m = new Map<string, PinRule>([
    ['wan1', wan1],
    ['wan2', wan2],
  ]);
  return { 4: m, 6: m };
}

function state(managed: DesiredRoute[], pinRules = pins('on', 'on')): DesiredState {
  return {
    markMask: 0x3f00,
    pinRules,
    table: 100,
    destinations: [V4],
    managed,
    uplinkRoutes: [route(1100, ['wan1', '100.64.1.1', 1]), route(1101, ['wan2', '100.64.2.1', 1])],
    uplinkTables: [
      { table: 1100, interface: 'wan1', uplink: 'wan1' },
      { table: 1101, interface: 'wan2', uplink: 'wan2' },
    ],
  };
}

function setup() {
  const kernel = new FakeKernel();
  kernel.linkIndex.set('wan1', 11).set('wan2', 12);
  const lines: string[] = [];
  const router = new Router(kernel, (l) => lines.push(l), [4]);
  return { kernel, lines, router };
}

describe('router', () => {
  it('installs routes and rules, logged as ip commands', async () => {
    const { router, lines } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    // The rule that lets main answer first goes in first: the kernel checks gateways through the rules.
    assert.deepEqual(lines, [
      'ip rule add pref 9200 lookup main suppress_prefixlength 0',
      'ip route replace 0.0.0.0/0 table 100 via 100.64.1.1 dev wan1',
      'ip route replace 0.0.0.0/0 table 1100 via 100.64.1.1 dev wan1',
      'ip route replace 0.0.0.0/0 table 1101 via 100.64.2.1 dev wan2',
      'ip rule add pref 9000 oif wan1 lookup 1100',
      'ip rule add pref 9001 oif wan2 lookup 1101',
      'ip rule add pref 9500 fwmark 0x100/0x3f00 lookup 1100',
      'ip rule add pref 9501 fwmark 0x200/0x3f00 lookup 1101',
      'ip rule add pref 9900 lookup 100',
    ]);
  });

  it("failover: the route moves first, then the lost uplink's pinned-flow rule goes", async () => {
    const { router } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    const report = await router.apply(state([route(100, ['wan2', '100.64.2.1', 1])], pins('off', 'on')));
    assert.deepEqual(report.changes, ['ip route replace 0.0.0.0/0 table 100 via 100.64.2.1 dev wan2', 'ip rule del pref 9500 fwmark 0x100/0x3f00 lookup 1100']);
  });

  it('a pinned-flow rule `as-is` is neither added nor deleted', async () => {
    const { router, kernel } = setup();
    await router.apply(state([], pins('on', 'off')));
    const before = kernel.ruleList.map((r) => r.priority).sort();
    assert.ok(before.includes(9500) && !before.includes(9501));
    const report = await router.apply(state([], pins('as-is', 'as-is')));
    assert.deepEqual(report.changes, []);
  });

  it('a reload that moves the managed table writes the new one first and removes the old one last', async () => {
    const { router, kernel } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    const s = state([{ ...route(200, ['wan1', '100.64.1.1', 1]) }]);
    const report = await router.apply({ ...s, table: 200 });
    assert.deepEqual(report.changes, [
      'ip route replace 0.0.0.0/0 table 200 via 100.64.1.1 dev wan1',
      'ip rule add pref 9900 lookup 200',
      'ip rule del pref 9900 lookup 100',
      'ip route del 0.0.0.0/0 table 100',
    ]);
    assert.ok(!kernel.routeTable.some((r) => r.table === 100));
  });

  it('a reload that drops a destination removes its route', async () => {
    const { router, kernel } = setup();
    const extra = { prefix: '203.0.113.0/24', family: 4 as const, address: '203.0.113.0', length: 24 };
    const s = state([route(100, ['wan1', '100.64.1.1', 1]), { ...route(100, ['wan1', '100.64.1.1', 1]), destination: extra }]);
    await router.apply({ ...s, destinations: [V4, extra] });
    assert.ok(kernel.routeTable.some((r) => r.prefix === '203.0.113.0/24'));
    const report = await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    assert.deepEqual(report.changes, ['ip route del 203.0.113.0/24 table 100']);
  });

  it('renumbers the rules of an earlier layout, adding before deleting', async () => {
    const { router, kernel } = setup();
    kernel.ruleList.push({ family: 4, priority: 9900, table: 254, suppressPrefixlength: 0 }, { family: 4, priority: 9901, table: 100 });
    const report = await router.apply(state([]));
    const adds = report.changes.filter((c) => c.includes(' add '));
    const dels = report.changes.filter((c) => c.includes(' del '));
    assert.ok(report.changes.indexOf(adds[adds.length - 1]!) < report.changes.indexOf(dels[0]!));
    assert.deepEqual(dels, ['ip rule del pref 9900 lookup main suppress_prefixlength 0', 'ip rule del pref 9901 lookup 100']);
  });

  it('is idempotent: the same state twice changes nothing the second time', async () => {
    const { router, kernel } = setup();
    const s = state([route(100, ['wan1', '100.64.1.1', 2], ['wan2', '100.64.2.1', 1])]);
    await router.apply(s);
    const calls = kernel.calls.length;
    const report = await router.apply(s);
    assert.deepEqual(report.changes, []);
    assert.equal(kernel.calls.length, calls);
  });

  it('moves the managed route with a replace, never a delete', async () => {
    const { router, kernel } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    kernel.calls.length = 0;
    const report = await router.apply(state([route(100, ['wan2', '100.64.2.1', 1])]));
    assert.deepEqual(kernel.calls, ['replace 100 0.0.0.0/0']);
    assert.deepEqual(report.changes, ['ip route replace 0.0.0.0/0 table 100 via 100.64.2.1 dev wan2']);
  });

  it('writes a weighted multipath route for a shared tier', async () => {
    const { router, lines } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 3], ['wan2', '100.64.2.1', 1])]));
    assert.equal(lines[1], 'ip route replace 0.0.0.0/0 table 100 nexthop via 100.64.1.1 dev wan1 weight 3 nexthop via 100.64.2.1 dev wan2 weight 1');
  });

  it('removes rules in its range that it does not want, and leaves others alone', async () => {
    const { router, kernel, lines } = setup();
    kernel.ruleList.push({ family: 4, priority: 9005, table: 1234, oifname: 'old0' });
    kernel.ruleList.push({ family: 4, priority: 100, table: 50 });
    await router.apply(state([]));
    assert.ok(lines.includes('ip rule del pref 9005 oif old0 lookup 1234'));
    assert.ok(kernel.ruleList.some((r) => r.priority === 100));
  });

  it('leaves a route alone when every interface it needs is missing', async () => {
    const { router, kernel } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    kernel.linkIndex.delete('wan2');
    kernel.calls.length = 0;
    const report = await router.apply(state([route(100, ['wan2', '100.64.2.1', 1])]));
    assert.ok(!kernel.calls.includes('replace 100 0.0.0.0/0'));
    assert.ok(!kernel.calls.some((c) => c.startsWith('delete 100')));
    assert.deepEqual(report.missing, ['wan2 for 0.0.0.0/0 in table 100: no interface wan2', 'wan2 for 0.0.0.0/0 in table 1101: no interface wan2']);
  });

  it('writes no route through an interface that is admin down: the kernel would refuse it', async () => {
    const { router, kernel, lines } = setup();
    const both = state([route(100, ['wan1', '100.64.1.1', 1], ['wan2', '100.64.2.1', 1])]);
    await router.apply(both);
    kernel.adminDown.add('wan2');
    lines.length = 0;
    const report = await router.apply(both);
    assert.deepEqual(report.refused, []);
    assert.deepEqual(report.missing, ['wan2 for 0.0.0.0/0 in table 100: wan2 is admin down', 'wan2 for 0.0.0.0/0 in table 1101: wan2 is admin down']);
    assert.equal(report.managedLeftOut, true);
    // The multipath route goes on through wan1 alone; wan2's own route and its rule stay.
    assert.deepEqual(lines, ['ip route replace 0.0.0.0/0 table 100 via 100.64.1.1 dev wan1']);
    assert.ok(kernel.routeTable.some((r) => r.table === 1101));
    assert.ok(kernel.ruleList.some((r) => r.oifname === 'wan2'));
    // Every interface of the managed route down: it is left as the kernel has it, not deleted.
    kernel.adminDown.add('wan1');
    lines.length = 0;
    const allDown = await router.apply(both);
    assert.deepEqual(lines, []);
    assert.deepEqual(allDown.refused, []);
    assert.deepEqual(kernel.routeTable.find((r) => r.table === 100)?.nexthops, [{ ifindex: 11, gateway: '100.64.1.1', weight: 1 }]);
    // Up again: the next apply puts them in.
    kernel.adminDown.clear();
    const again = await router.apply(both);
    assert.deepEqual(again.missing, []);
    assert.equal(again.managedLeftOut, false);
    assert.deepEqual(again.changes, ['ip route replace 0.0.0.0/0 table 100 nexthop via 100.64.1.1 dev wan1 weight 1 nexthop via 100.64.2.1 dev wan2 weight 1']);
  });

  it('a refusal because the interface went while the route was written is told from a fault', async () => {
    for (const [what, goes, gone] of [
      ['deleted meanwhile', (k: FakeKernel) => k.linkIndex.delete('wan1'), 'wan1'],
      ['taken down meanwhile', (k: FakeKernel) => k.adminDown.add('wan1'), 'wan1'],
      ['created again meanwhile (a new ifindex)', (k: FakeKernel) => k.linkIndex.set('wan1', 21), 'wan1'],
      ['still there and up: the gateway is on none of its subnets', () => undefined, undefined],
      [
        'the links cannot be read again: left as the kernel said',
        (k: FakeKernel) => {
          k.links = () => Promise.reject(new KernelError('EBUSY', 'dump links'));
        },
        undefined,
      ],
    ] as const) {
      const { router, kernel } = setup();
      const replace = kernel.replaceRoute.bind(kernel);
      kernel.replaceRoute = async (r) => {
        if (r.table !== 100) return replace(r);
        goes(kernel);
        throw new KernelError('ENETUNREACH', `replace ${r.table} ${r.prefix}`);
      };
      const report = await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
      assert.deepEqual(
        report.refused.filter((r) => r.managed),
        [
          {
            command: 'ip route replace 0.0.0.0/0 table 100 via 100.64.1.1 dev wan1',
            code: 'ENETUNREACH',
            managed: true,
            ...(gone ? { interfaceGone: gone } : {}),
          },
        ],
        what,
      );
    }
  });

  it('does not touch other routes in the managed table', async () => {
    const { router, kernel } = setup();
    kernel.routeTable.push({ family: 4, table: 100, prefix: '203.0.113.0/24', nexthops: [{ ifindex: 11, weight: 1 }] });
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    assert.ok(kernel.routeTable.some((r) => r.prefix === '203.0.113.0/24'));
  });

  it('cleans the table of an uplink dropped by a reload', async () => {
    const { router, kernel } = setup();
    await router.apply(state([]));
    const s = state([]);
    await router.apply({ ...s, uplinkRoutes: s.uplinkRoutes.slice(0, 1), uplinkTables: s.uplinkTables.slice(0, 1) });
    assert.ok(!kernel.routeTable.some((r) => r.table === 1101));
    assert.ok(!kernel.ruleList.some((r) => r.table === 1101));
  });

  // Issue 10, reproduction 2: one refused object used to abort the whole apply (no rule went in).
  it('applies per object: a route the kernel refuses is reported, everything else goes in', async () => {
    const { router, kernel } = setup();
    kernel.refuse.set('replace 1101 0.0.0.0/0', 'ENETUNREACH');
    const report = await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    assert.deepEqual(report.refused, [{ command: 'ip route replace 0.0.0.0/0 table 1101 via 100.64.2.1 dev wan2', code: 'ENETUNREACH', managed: false }]);
    assert.deepEqual(kernel.ruleList.map((r) => r.priority).sort(), [9000, 9001, 9200, 9500, 9501, 9900]);
    assert.ok(kernel.routeTable.some((r) => r.table === 100) && kernel.routeTable.some((r) => r.table === 1100));
    // The next apply tries the refused route alone, and only it.
    kernel.calls.length = 0;
    kernel.refuse.clear();
    const again = await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    assert.deepEqual(kernel.calls, ['replace 1101 0.0.0.0/0']);
    assert.deepEqual(again.refused, []);
  });

  it('a refused rule keeps neither the later rules nor the routes out', async () => {
    const { router, kernel } = setup();
    kernel.refuse.set('add rule 4 9001', 'ERANGE');
    const report = await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    assert.deepEqual(
      report.refused.map((r) => r.code),
      ['ERANGE'],
    );
    assert.ok(
      kernel.ruleList.some((r) => r.priority === 9900),
      'the lookup rule is in',
    );
  });

  it('a refused delete of a moved table is tried again at the next apply', async () => {
    const { router, kernel } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    kernel.refuse.set('delete 100 0.0.0.0/0', 'EBUSY');
    const moved = { ...state([route(200, ['wan1', '100.64.1.1', 1])]), table: 200 };
    assert.equal((await router.apply(moved)).refused.length, 1);
    kernel.refuse.clear();
    await router.apply(moved);
    assert.ok(!kernel.routeTable.some((r) => r.table === 100), "the old table's route went on the retry");
  });

  // Issue 10, reproduction 3: a foreign rule in the range was deleted every second (ENOENT).
  it('a foreign rule in its range is reported, never deleted, and the lookup goes in front of it', async () => {
    const { router, kernel, lines } = setup();
    kernel.ruleList.push({ family: 4, priority: 9899, table: 0, other: 'unreachable' });
    const report = await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    assert.deepEqual(report.refused, []);
    assert.deepEqual(report.foreign, ['ip rule add pref 9899 unreachable']);
    assert.ok(lines.includes('ip rule add pref 9898 lookup 100'));
    assert.ok(!kernel.calls.some((c) => c.startsWith('delete rule')));
    assert.ok(
      kernel.ruleList.some((r) => r.priority === 9899),
      'still there',
    );
    assert.deepEqual(await router.foreignRules(state([])), ['ip rule add pref 9899 unreachable']);
    // Once it goes, the lookup returns to 9900 (added before the old one is deleted).
    kernel.ruleList = kernel.ruleList.filter((r) => r.priority !== 9899);
    lines.length = 0;
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    assert.deepEqual(lines, ['ip rule add pref 9900 lookup 100', 'ip rule del pref 9898 lookup 100']);
  });

  it('tells its own stale rules from foreign ones by their shape at each priority', async () => {
    const { router, kernel } = setup();
    const stale = { family: 4 as const, priority: 9503, table: 1103, fwmark: 0x400, fwmask: 0x3f00 };
    const foreign = [
      { family: 4 as const, priority: 9250, table: 77 },
      { family: 4 as const, priority: 9000, table: 77, src: '100.64.9.0/24' },
      { family: 4 as const, priority: 9200, table: 100, suppressPrefixlength: 0 },
      { family: 4 as const, priority: 9960, table: 6, fwmark: 1, fwmask: 0xffff_ffff, other: 'not' },
    ];
    kernel.ruleList.push(stale, ...foreign);
    const report = await router.apply(state([]));
    assert.ok(!kernel.ruleList.includes(stale), 'the stale fwmark rule of ours is gone');
    for (const r of foreign) assert.ok(kernel.ruleList.includes(r), `left alone: ${JSON.stringify(r)}`);
    assert.equal(report.foreign.length, foreign.length);
    // A rule at 9960 comes after the lookup at 9900: no need to move it.
    assert.ok(kernel.ruleList.some((r) => r.priority === 9900));
    // removeAll (routing.remove_on_exit) leaves them too.
    await router.removeAll(state([]));
    for (const r of foreign) assert.ok(kernel.ruleList.includes(r));
  });
});

describe('runCommand', () => {
  it('feeds standard input, returns the exit code and output, and rejects a missing command', async () => {
    const r = await runCommand(process.execPath, ['-e', 'process.stdin.pipe(process.stdout); process.stdin.on("end", () => process.exit(3))'], {
      input: 'hello',
    });
    assert.deepEqual(r, { code: 3, stdout: 'hello', stderr: '' });
    await assert.rejects(runCommand('/nonexistent/uplinkd-test', []), /ENOENT/);
    await assert.rejects(runCommand(process.execPath, ['-e', 'setTimeout(() => {}, 5000)'], { timeoutMs: 100 }), /no answer within 100 ms/);
  });
});

describe('RTA_MULTIPATH codec', () => {
  it('round-trips gateways, ifindexes and weights', () => {
    const hops = [
      { ifindex: 3, gateway: '100.64.1.1', weight: 1 },
      { ifindex: 4, gateway: '100.64.2.1', weight: 256 },
      { ifindex: 5, weight: 7 },
      { ifindex: 6, gateway: '2001:db8::1', weight: 2 },
    ];
    assert.deepEqual(decodeMultipath(encodeMultipath(hops)), hops);
  });

  it('decodes what the kernel sent for `nexthop via 100.64.1.1 dev if2 weight 1 nexthop via 100.64.2.1 dev if3 weight 3`', () => {
    const fromKernel = Buffer.from([16, 0, 0, 0, 2, 0, 0, 0, 8, 0, 5, 0, 100, 64, 1, 1, 16, 0, 0, 2, 3, 0, 0, 0, 8, 0, 5, 0, 100, 64, 2, 1]);
    assert.deepEqual(decodeMultipath(fromKernel), [
      { ifindex: 2, gateway: '100.64.1.1', weight: 1 },
      { ifindex: 3, gateway: '100.64.2.1', weight: 3 },
    ]);
  });

  // Issue 10, reproduction 11: with routing.table main, a connected subnet as destination.
  it("never replaces or deletes the kernel's own connected route; says it left it alone", async () => {
    const { router, kernel } = setup();
    const lan = { prefix: '100.64.7.0/24', family: 4 as const, address: '100.64.7.0', length: 24 };
    const connected = { family: 4 as const, table: 254, prefix: '100.64.7.0/24', nexthops: [{ ifindex: 13, weight: 1 }], connected: true as const };
    kernel.routeTable.push(connected);
    const s = state([{ destination: lan, table: 254, nexthops: [{ uplink: 'wan1', interface: 'wan1', gateway: '100.64.1.1', weight: 1 }] }]);
    const main = { ...s, table: 254, destinations: [lan] };
    const report = await router.apply(main);
    assert.ok(kernel.routeTable.includes(connected), "still the kernel's route");
    assert.deepEqual(report.refused, [], 'not a refusal: nothing to try again');
    assert.deepEqual(report.connected, ['ip route replace 100.64.7.0/24 table main via 100.64.1.1 dev wan1']);
    await router.removeAll(main);
    assert.ok(kernel.routeTable.includes(connected), 'not removed at exit either');
  });

  it("routing.table main: a DHCP client's default is neither listed as managed nor removed at exit; uplinkd's own is", async () => {
    const { router, kernel } = setup();
    const client = {
      family: 4 as const,
      table: 254,
      prefix: '0.0.0.0/0',
      nexthops: [{ ifindex: 12, gateway: '100.64.2.1', weight: 1 }],
      protocol: 16,
      metric: 10,
    };
    kernel.routeTable.push(client);
    const main = {
      ...state([{ destination: V4, table: 254, nexthops: [{ uplink: 'wan1', interface: 'wan1', gateway: '100.64.1.1', weight: 1 }] }]),
      table: 254,
    };
    await router.apply(main);
    assert.deepEqual(
      (await router.managedRoutes(main)).map((m) => m.route.protocol),
      [RTPROT_UPLINKD],
    );
    const removed = await router.removeAll(main);
    assert.deepEqual(
      removed.routes.filter((l) => l.includes('table main')),
      ['ip route del 0.0.0.0/0 table main proto 117'],
    );
    assert.deepEqual(
      kernel.routeTable.filter((r) => r.table === 254),
      [client],
    );
  });

  it('a refused managed route holds back the deletes it would leave without a replacement', async () => {
    const { router, kernel } = setup();
    await router.apply(state([route(100, ['wan1', '100.64.1.1', 1])]));
    // A reload moves the table; the kernel refuses the new table's route.
    kernel.refuse.set('replace 200 0.0.0.0/0', 'ENETUNREACH');
    const moved = { ...state([route(200, ['wan1', '100.64.1.1', 1])]), table: 200 };
    const report = await router.apply(moved);
    assert.deepEqual(
      report.refused.map((r) => [r.code, r.managed]),
      [['ENETUNREACH', true]],
    );
    assert.ok(
      kernel.routeTable.some((r) => r.table === 100),
      'the old route stays',
    );
    assert.ok(
      kernel.ruleList.some((r) => r.priority === 9900 && r.table === 100),
      'and the old lookup rule',
    );
    assert.deepEqual(report.deferred, ['ip rule del pref 9900 lookup 100', 'ip route del 0.0.0.0/0 table 100']);
    kernel.refuse.clear();
    const next = await router.apply(moved);
    assert.deepEqual(next.deferred, []);
    assert.ok(!kernel.routeTable.some((r) => r.table === 100) && !kernel.ruleList.some((r) => r.table === 100), 'gone once the new one is in');
  });

  it('ownsRule: the shapes of the current and the earlier layout, for its own tables only', () => {
    const tables = ruleTables(state([]));
    const rows: [string, KernelRule, boolean][] = [
      ['oif rule', { family: 4, priority: 9000, table: 1100, oifname: 'wan1' }, true],
      ['main first', { family: 4, priority: 9200, table: 254, suppressPrefixlength: 0 }, true],
      ['main first to another table', { family: 4, priority: 9200, table: 100, suppressPrefixlength: 0 }, false],
      ['source rule', { family: 4, priority: 9300, table: 1100, src: '100.64.1.2/32' }, true],
      ['source rule for a subnet', { family: 4, priority: 9300, table: 1100, src: '100.64.1.0/24' }, false],
      ['fwmark rule', { family: 4, priority: 9501, table: 1101, fwmark: 0x200, fwmask: 0x3f00 }, true],
      ['managed lookup', { family: 4, priority: 9900, table: 100 }, true],
      ['managed lookup moved in front of a foreign rule', { family: 4, priority: 9898, table: 100 }, true],
      ["a lookup of somebody else's table", { family: 4, priority: 9850, table: 300 }, false],
      ['earlier: main first at 9690 (inside the fwmark range)', { family: 4, priority: 9690, table: 254, suppressPrefixlength: 0 }, true],
      ['earlier: main first at 9900', { family: 4, priority: 9900, table: 254, suppressPrefixlength: 0 }, true],
      ['earlier: source rule at 9700', { family: 4, priority: 9700, table: 1100, src: '100.64.1.2/32' }, true],
      ['earlier: a source rule to another table', { family: 4, priority: 9700, table: 77, src: '100.64.1.2/32' }, false],
      ['earlier: lookup at 9901', { family: 4, priority: 9901, table: 100 }, true],
      ['unreachable', { family: 4, priority: 9899, table: 0, other: 'unreachable' }, false],
      ['iif rule', { family: 4, priority: 9000, table: 1100, oifname: 'wan1', other: 'iif lan0' }, false],
      ['out of range', { family: 4, priority: 100, table: 100 }, false],
    ];
    for (const [what, rule, ours] of rows) assert.equal(ownsRule(rule, tables), ours, what);
  });

  it('the lookup jumps only a foreign rule that takes every packet', () => {
    const rows: [string, KernelRule[], number][] = [
      ['none', [], 9900],
      ['unreachable at 9899', [{ family: 4, priority: 9899, table: 0, other: 'unreachable' }], 9898],
      ['blackhole at 9900 (same priority: added earlier, tried first)', [{ family: 4, priority: 9900, table: 0, other: 'blackhole' }], 9899],
      ['a catch-all lookup of another table at 9800', [{ family: 4, priority: 9800, table: 300 }], 9799],
      ['iif lan2 unreachable: picks some packets, keeps them', [{ family: 4, priority: 9850, table: 0, other: 'iif lan2 unreachable' }], 9900],
      ['from a subnet', [{ family: 4, priority: 9850, table: 300, src: '100.64.9.0/24' }], 9900],
      ['at 9700: no room in front', [{ family: 4, priority: 9700, table: 0, other: 'unreachable' }], 9900],
      ['after it, at 9950', [{ family: 4, priority: 9950, table: 0, other: 'prohibit' }], 9900],
    ];
    for (const [what, foreign, want] of rows) assert.equal(managedRulePriority(foreign), want, what);
  });
});

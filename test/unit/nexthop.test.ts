// route/: resilient nexthop groups against a fake kernel, and the nexthop message codec
// checked byte for byte against what `ip nexthop` sends (strace -e sendmsg).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeBucketMessage,
  decodeNexthopMessage,
  encodeGroup,
  encodeNexthop,
  FakeKernel,
  groupWeights,
  Router,
  type DesiredState,
  type KernelGroup,
} from '../../src/route/index.js';
import type { DesiredRoute, Family } from '../../src/types/index.js';

/** The body after the 16-byte nlmsghdr, as strace printed it. */
function strace(hex: string): Buffer {
  return Buffer.from(hex.replace(/\\x/g, ''), 'hex');
}

describe('nexthop codec', () => {
  it('encodes `ip nexthop add id 900100 via 100.64.9.2 dev va` (ifindex 3) as iproute2 does', () => {
    const body = encodeNexthop({ id: 900100, family: 4, ifindex: 3, gateway: '100.64.9.2' });
    assert.deepEqual(body, strace('\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x08\\x00\\x01\\x00\\x04\\xbc\\x0d\\x00\\x08\\x00\\x06\\x00\\x64\\x40\\x09\\x02\\x08\\x00\\x05\\x00\\x03\\x00\\x00\\x00'));
  });

  it('encodes an IPv6 gateway with RTNH_F_ONLINK, and a bare device', () => {
    const v6 = encodeNexthop({ id: 900102, family: 6, ifindex: 3, gateway: '2001:db8:9::2' });
    // iproute2 without `onlink`, plus flags 4 at byte 4.
    const ref = strace('\\x0a\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x08\\x00\\x01\\x00\\x06\\xbc\\x0d\\x00\\x14\\x00\\x06\\x00\\x20\\x01\\x0d\\xb8\\x00\\x09\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x08\\x00\\x05\\x00\\x03\\x00\\x00\\x00');
    ref.writeUInt32LE(4, 4);
    assert.deepEqual(v6, ref);
    const dev = encodeNexthop({ id: 900103, family: 4, ifindex: 3 });
    assert.deepEqual(dev, strace('\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x08\\x00\\x01\\x00\\x07\\xbc\\x0d\\x00\\x08\\x00\\x05\\x00\\x03\\x00\\x00\\x00'));
  });

  it('encodes `group 900100,5/900101,1 type resilient buckets 64 idle_timer 30` as iproute2 does', () => {
    const g: KernelGroup = { id: 900004, members: [{ id: 900100, weight: 5 }, { id: 900101, weight: 1 }], resilient: { buckets: 64, idleTimerMs: 30_000 } };
    const body = encodeGroup(g);
    assert.deepEqual(body, strace('\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x08\\x00\\x01\\x00\\xa4\\xbb\\x0d\\x00\\x14\\x00\\x02\\x00\\x04\\xbc\\x0d\\x00\\x04\\x00\\x00\\x00\\x05\\xbc\\x0d\\x00\\x00\\x00\\x00\\x00\\x14\\x00\\x0c\\x80\\x06\\x00\\x01\\x00\\x40\\x00\\x00\\x00\\x08\\x00\\x02\\x00\\xb8\\x0b\\x00\\x00\\x06\\x00\\x03\\x00\\x01\\x00\\x00\\x00'));
    assert.deepEqual(decodeNexthopMessage(body), g);
  });

  it('decodes objects and buckets', () => {
    assert.deepEqual(decodeNexthopMessage(encodeNexthop({ id: 7, family: 6, ifindex: 9, gateway: 'fe80::1' })), {
      id: 7, family: 6, ifindex: 9, gateway: 'fe80::1',
    });
    // nhmsg, NHA_ID 900040, NHA_RES_BUCKET { INDEX 5, IDLE_TIME 150 ticks, NH_ID 900101 }
    const b = Buffer.alloc(8 + 8 + 4 + 8 + 12 + 8);
    let o = 8;
    b.writeUInt16LE(8, o); b.writeUInt16LE(1, o + 2); b.writeUInt32LE(900040, o + 4); o += 8;
    b.writeUInt16LE(4 + 8 + 12 + 8, o); b.writeUInt16LE(13 | 0x8000, o + 2); o += 4;
    b.writeUInt16LE(6, o); b.writeUInt16LE(1, o + 2); b.writeUInt16LE(5, o + 4); o += 8;
    b.writeUInt16LE(12, o); b.writeUInt16LE(2, o + 2); b.writeBigUInt64LE(150n, o + 4); o += 12;
    b.writeUInt16LE(8, o); b.writeUInt16LE(3, o + 2); b.writeUInt32LE(900101, o + 4);
    assert.deepEqual(decodeBucketMessage(b), { group: 900040, bucket: { index: 5, nexthopId: 900101, idleMs: 1500 } });
  });

  it('scales weights so the largest is 254', () => {
    assert.deepEqual(groupWeights([1]), [254]);
    assert.deepEqual(groupWeights([10, 90]), [28, 254]);
    assert.deepEqual(groupWeights([1, 1000]), [1, 254]);
  });
});

const V4 = { prefix: '0.0.0.0/0', family: 4 as const, address: '0.0.0.0', length: 0 };

function managed(...hops: [string, number][]): DesiredRoute[] {
  const gw: Record<string, string> = { wan1: '100.64.1.1', wan2: '100.64.2.1' };
  return [{ destination: V4, table: 100, nexthops: hops.map(([u, weight]) => ({ uplink: u, interface: u, gateway: gw[u]!, weight })) }];
}

function state(routes: DesiredRoute[], extra: Partial<DesiredState> = {}): DesiredState {
  return {
    table: 100,
    destinations: [V4],
    managed: routes,
    uplinkRoutes: [],
    uplinkTables: [
      { table: 1100, interface: 'wan1', uplink: 'wan1' },
      { table: 1101, interface: 'wan2', uplink: 'wan2' },
    ],
    resilient: { buckets: 8, idleTimerMs: 2000 },
    ...extra,
  };
}

const drainable = (...names: string[]): Record<Family, Set<string>> => ({ 4: new Set(names), 6: new Set(names) });

function setup() {
  const kernel = new FakeKernel();
  kernel.nexthopSupport = true;
  kernel.linkIndex.set('wan1', 11).set('wan2', 12);
  const lines: string[] = [];
  return { kernel, lines, router: new Router(kernel, (l) => lines.push(l), [4]) };
}

function group(kernel: FakeKernel): KernelGroup {
  return kernel.nexthopList.find((x): x is KernelGroup => x.id === 900040 && 'members' in x)!;
}

describe('router with resilient groups', () => {
  it('builds two members per uplink, a resilient group, and a route through it', async () => {
    const { router, lines, kernel } = setup();
    const report = await router.apply(state(managed(['wan1', 1])));
    assert.equal(report.mechanism, 'resilient');
    assert.deepEqual(lines, [
      'ip nexthop replace id 900100 via 100.64.1.1 dev wan1',
      'ip nexthop replace id 900101 via 100.64.1.1 dev wan1',
      'ip nexthop replace id 900040 group 900100,254/900101,254 type resilient buckets 8 idle_timer 2',
      'ip route replace 0.0.0.0/0 table 100 nhid 900040',
      'ip rule add pref 9000 oif wan1 lookup 1100',
      'ip rule add pref 9001 oif wan2 lookup 1101',
      'ip rule add pref 9900 lookup main suppress_prefixlength 0',
      'ip rule add pref 9901 lookup 100',
    ]);
    kernel.calls.length = 0;
    assert.deepEqual((await router.apply(state(managed(['wan1', 1])))).changes, []);
    assert.deepEqual(kernel.calls, []);
  });

  it('failover: the lost uplink leaves the group at once, the route is not touched', async () => {
    const { router, kernel } = setup();
    await router.apply(state(managed(['wan1', 1])));
    kernel.bucketTable.set(900040, [{ index: 0, nexthopId: 900100, idleMs: 0 }]);
    kernel.calls.length = 0;
    await router.apply(state(managed(['wan2', 1]), { drainable: drainable('wan2') }));
    assert.deepEqual(kernel.calls, [
      'replace nexthop 900104',
      'replace nexthop 900105',
      'replace group 900040 900104:254,900105:254',
      'delete nexthop 900100',
      'delete nexthop 900101',
    ]);
  });

  it('failback: a healthy uplink with busy buckets stays at weight 1, then leaves once they are idle', async () => {
    const { router, kernel } = setup();
    await router.apply(state(managed(['wan2', 1])));
    await router.apply(state(managed(['wan1', 10], ['wan2', 90])));
    assert.deepEqual(group(kernel).members.map((m) => m.weight), [28, 28, 254, 254]);
    kernel.bucketTable.set(900040, [
      { index: 0, nexthopId: 900104, idleMs: 300 },
      { index: 1, nexthopId: 900105, idleMs: 5000 },
      { index: 2, nexthopId: 900100, idleMs: 0 },
    ]);
    const r1 = await router.apply(state(managed(['wan1', 1]), { drainable: drainable('wan1', 'wan2') }));
    assert.deepEqual(r1.draining, [{ uplink: 'wan2', family: 4, busy: 1 }]);
    assert.deepEqual(group(kernel).members, [{ id: 900100, weight: 254 }, { id: 900101, weight: 254 }, { id: 900104, weight: 1 }]);
    kernel.bucketTable.set(900040, [{ index: 0, nexthopId: 900104, idleMs: 2500 }]);
    const r2 = await router.apply(state(managed(['wan1', 1]), { drainable: drainable('wan1', 'wan2') }));
    assert.deepEqual(r2.draining, []);
    assert.deepEqual(group(kernel).members.map((m) => m.id), [900100, 900101]);
    assert.ok(!kernel.nexthopList.some((x) => x.id === 900104 || x.id === 900105));
  });

  it('a draining uplink that fails leaves at once', async () => {
    const { router, kernel } = setup();
    await router.apply(state(managed(['wan2', 1])));
    kernel.bucketTable.set(900040, [{ index: 0, nexthopId: 900104, idleMs: 0 }]);
    await router.apply(state(managed(['wan1', 1]), { drainable: drainable('wan1') }));
    assert.deepEqual(group(kernel).members.map((m) => m.id), [900100, 900101]);
  });

  it('before any verdict, leaves the kernel\'s group, members and routes alone (adoption)', async () => {
    const { router, kernel } = setup();
    await router.apply(state(managed(['wan2', 1])));
    kernel.calls.length = 0;
    await router.apply(state([], { managedKnown: false }));
    assert.deepEqual(kernel.calls, []);
  });

  it('forced multipath replaces the group route by a multipath route, then deletes the objects', async () => {
    const { router, kernel, lines } = setup();
    await router.apply(state(managed(['wan1', 1])));
    lines.length = 0;
    const report = await router.apply(state(managed(['wan1', 1], ['wan2', 1]), { mechanism: 'multipath' }));
    assert.equal(report.mechanism, 'multipath');
    assert.deepEqual(lines, [
      'ip route replace 0.0.0.0/0 table 100 nexthop via 100.64.1.1 dev wan1 weight 1 nexthop via 100.64.2.1 dev wan2 weight 1',
      'ip nexthop del id 900040',
      'ip nexthop del id 900100',
      'ip nexthop del id 900101',
    ]);
    assert.equal(kernel.routeTable.length, 1);
  });

  it('falls back to multipath on a kernel without nexthop objects, and refuses a forced resilient there', async () => {
    const { router, kernel } = setup();
    kernel.nexthopSupport = false;
    assert.equal((await router.apply(state(managed(['wan1', 1])))).mechanism, 'multipath');
    await assert.rejects(new Router(kernel, () => {}, [4]).apply(state(managed(['wan1', 1]), { mechanism: 'resilient' })), /no nexthop objects/);
  });

  it('a new bucket count builds the group in the other slot, moves the route, then deletes the old one', async () => {
    const { router, lines } = setup();
    await router.apply(state(managed(['wan1', 1])));
    lines.length = 0;
    await router.apply(state(managed(['wan1', 1]), { resilient: { buckets: 16, idleTimerMs: 2000 } }));
    assert.deepEqual(lines, [
      'ip nexthop replace id 900041 group 900100,254/900101,254 type resilient buckets 16 idle_timer 2',
      'ip route replace 0.0.0.0/0 table 100 nhid 900041',
      'ip nexthop del id 900040',
    ]);
  });

  it('leaves the group, its members and the route alone when every interface is missing', async () => {
    const { router, kernel } = setup();
    await router.apply(state(managed(['wan1', 1])));
    kernel.linkIndex.delete('wan1');
    kernel.calls.length = 0;
    const report = await router.apply(state(managed(['wan1', 1])));
    assert.deepEqual(kernel.calls, []);
    assert.deepEqual(report.missing, ['wan1 (wan1) for the IPv4 group']);
    assert.equal(kernel.routeTable.length, 1);
  });

  it('removeAll takes out routes, rules and nexthops', async () => {
    const { router, kernel } = setup();
    await router.apply(state(managed(['wan1', 1])));
    await router.removeAll(state([]));
    assert.deepEqual([kernel.routeTable.length, kernel.ruleList.length, kernel.nexthopList.length], [0, 0, 0]);
  });
});

// `gateway: auto` (issue 24) as tables: route messages -> the foreign defaults they carry
// (route/learnt.ts, bodies built byte by byte as in route-events.test.ts), the book they keep,
// which next hop an uplink takes (track/gateways.ts), the reducer on a fake clock, and the
// planner in table main beside another program's default route.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffConfig, parseConfig } from '../../src/config/index.js';
import { DefaultRouteBook, defaultsOfMessage, plan } from '../../src/route/index.js';
import { desiredState, type Effect, type GatewayOffer, NO_OFFER, type TrackEvent } from '../../src/track/index.js';
import { pickGateway } from '../../src/track/gateways.js';
import type { Family } from '../../src/types/index.js';
import type { LinkInfo } from '../../src/types/link.js';
import { RTPROT_STATIC, RTPROT_UPLINKD } from '../../src/types/netlink.js';
import type { DesiredState, ForeignDefault, KernelRoute } from '../../src/types/routes.js';
import { TrackSession } from './track-session.js';

const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const NLM_F_REPLACE = 0x100;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_TABLE = 15;

function attr(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(4 + payload.length, 0);
  head.writeUInt16LE(type, 2);
  return Buffer.concat([head, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}
function u32(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value, 0);
  return attr(type, b);
}
/** struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, u32 flags. */
function rtmsg(family: number, dstLen: number, table: number, protocol: number, type = 1): Buffer {
  return Buffer.from([family, dstLen, 0, 0, table, protocol, 0, type, 0, 0, 0, 0]);
}
const v4 = (a: string) => Buffer.from(a.split('.').map(Number));

describe('route messages -> foreign defaults in main', () => {
  const dhcp = Buffer.concat([rtmsg(2, 0, 254, 16), u32(RTA_TABLE, 254), u32(RTA_PRIORITY, 10), attr(RTA_GATEWAY, v4('100.64.2.1')), u32(RTA_OIF, 7)]);
  const rows: [string, number, number, Buffer, ReturnType<typeof defaultsOfMessage>][] = [
    [
      "a DHCP client's default (proto dhcp, metric 10)",
      RTM_NEWROUTE,
      0,
      dhcp,
      { defaults: [{ family: 4, ifindex: 7, gateway: '100.64.2.1', metric: 10, protocol: 16 }], replace: false },
    ],
    [
      'the same replaced (ip route replace)',
      RTM_NEWROUTE,
      NLM_F_REPLACE,
      dhcp,
      { defaults: [{ family: 4, ifindex: 7, gateway: '100.64.2.1', metric: 10, protocol: 16 }], replace: true },
    ],
    ['its deletion', RTM_DELROUTE, 0, dhcp, { defaults: [{ family: 4, ifindex: 7, gateway: '100.64.2.1', metric: 10, protocol: 16 }], replace: false }],
    [
      "uplinkd's own default in main (its protocol): never learnt",
      RTM_NEWROUTE,
      0,
      Buffer.concat([rtmsg(2, 0, 254, RTPROT_UPLINKD), attr(RTA_GATEWAY, v4('100.64.2.1')), u32(RTA_OIF, 7)]),
      undefined,
    ],
    ['a default in another table', RTM_NEWROUTE, 0, Buffer.concat([rtmsg(2, 0, 100, 16), attr(RTA_GATEWAY, v4('100.64.2.1')), u32(RTA_OIF, 7)]), undefined],
    ['a prefix that is not the default', RTM_NEWROUTE, 0, Buffer.concat([rtmsg(2, 24, 254, 16), attr(RTA_GATEWAY, v4('100.64.2.1'))]), undefined],
    ['an unreachable default (RTN_UNREACHABLE)', RTM_NEWROUTE, 0, Buffer.concat([rtmsg(2, 0, 254, 4, 7)]), undefined],
    ['a device route (no gateway): nothing to learn', RTM_NEWROUTE, 0, Buffer.concat([rtmsg(2, 0, 254, 3), u32(RTA_OIF, 7)]), { defaults: [], replace: false }],
    [
      'IPv6 from router advertisements (proto ra, metric 1024, a link-local router)',
      RTM_NEWROUTE,
      0,
      Buffer.concat([
        rtmsg(10, 0, 254, 9),
        u32(RTA_TABLE, 254),
        attr(RTA_GATEWAY, Buffer.from('fe800000000000000000000000000001', 'hex')),
        u32(RTA_OIF, 8),
        u32(RTA_PRIORITY, 1024),
      ]),
      { defaults: [{ family: 6, ifindex: 8, gateway: 'fe80::1', metric: 1024, protocol: 9 }], replace: false },
    ],
    ['a message too short for struct rtmsg', RTM_NEWROUTE, 0, Buffer.alloc(8), undefined],
  ];
  for (const [name, type, flags, body, want] of rows) it(name, () => assert.deepEqual(defaultsOfMessage(type, flags, body), want));
});

describe('the book of foreign defaults', () => {
  const d = (ifindex: number, gateway: string, metric: number, family: Family = 4): ForeignDefault => ({ family, ifindex, gateway, metric, protocol: 16 });
  it('adds, deletes, and a replace takes the place of the route of its metric (no deletion is notified)', () => {
    const book = new DefaultRouteBook();
    book.note(false, [d(7, '100.64.2.1', 10)]);
    book.note(false, [d(8, '100.64.3.1', 20)]);
    book.note(false, [d(7, '100.64.2.254', 10)], true);
    assert.deepEqual(book.byInterface().get(7), [d(7, '100.64.2.254', 10)]);
    book.note(true, [d(8, '100.64.3.1', 20)]);
    assert.equal(book.byInterface().get(8), undefined);
  });
  it("an IPv6 replace keeps another interface's default of the same metric until main says it went", () => {
    const book = new DefaultRouteBook();
    const v6 = (ifindex: number, gateway: string) => ({ family: 6 as const, ifindex, gateway, metric: 1024, protocol: 9 });
    book.note(false, [v6(12, 'fe80::1'), v6(13, 'fe80::2')]);
    book.note(false, [v6(12, 'fe80::9')], true);
    assert.deepEqual(
      [...book.byInterface()].sort(([a], [b]) => a - b).map(([i, l]) => `${i} ${l.map((d) => d.gateway).join(',')}`),
      ['12 fe80::9', '13 fe80::2'],
    );
  });
  it('a dump sets one family afresh and keeps the other; each interface lists lowest metric first', () => {
    const book = new DefaultRouteBook();
    book.note(false, [d(7, 'fe80::1', 1024, 6), d(7, '100.64.2.9', 50)]);
    const dumped: KernelRoute[] = [
      { family: 4, table: 254, prefix: '0.0.0.0/0', nexthops: [{ ifindex: 7, gateway: '100.64.2.1', weight: 1 }], protocol: 16, metric: 20 },
      { family: 4, table: 254, prefix: '0.0.0.0/0', nexthops: [{ ifindex: 7, gateway: '100.64.2.2', weight: 1 }], protocol: 3, metric: 5 },
      { family: 4, table: 254, prefix: '0.0.0.0/0', nexthops: [{ ifindex: 7, gateway: '100.64.2.3', weight: 1 }], protocol: RTPROT_UPLINKD, metric: 0 },
      { family: 4, table: 100, prefix: '0.0.0.0/0', nexthops: [{ ifindex: 7, gateway: '100.64.2.4', weight: 1 }], protocol: 16, metric: 0 },
    ];
    book.reset(4, dumped);
    assert.deepEqual(
      book
        .byInterface()
        .get(7)!
        .map((x) => `${x.gateway} ${x.metric}`),
      ['100.64.2.2 5', '100.64.2.1 20', 'fe80::1 1024'],
    );
  });
});

describe('which next hop an uplink takes', () => {
  const parsed = parseConfig('uplinks:\n  - { name: lte, interface: wwan0, gateway: auto, gateway6: auto, targets: [ { icmp: 198.51.100.10 } ] }\n');
  assert.ok(parsed.ok);
  const lte = parsed.config.uplinks[0]!;
  const offer = (...defaults: ForeignDefault[]): GatewayOffer => ({ defaults: new Map([['wwan0', defaults]]), raIgnored: new Map() });
  const d = (gateway: string, metric: number, protocol = 16, family: Family = 4): ForeignDefault => ({ family, ifindex: 7, gateway, metric, protocol });
  const was = { address: '100.64.2.9', source: 'dhcp', metric: 10, since: 5 };
  const rows: [string, GatewayOffer, typeof was | undefined, Family, string | undefined][] = [
    ['none offered', NO_OFFER, undefined, 4, undefined],
    ['the lowest metric', offer(d('100.64.2.1', 20), d('100.64.2.2', 10)), undefined, 4, '100.64.2.2 dhcp'],
    ['equal metrics: the one in force stays', offer(d('100.64.2.1', 10), d('100.64.2.9', 10)), was, 4, '100.64.2.9 dhcp'],
    ['equal metrics, none in force: the first learnt', offer(d('100.64.2.1', 10), d('100.64.2.9', 10)), undefined, 4, '100.64.2.1 dhcp'],
    ['a lower metric wins over the one in force', offer(d('100.64.2.1', 5), d('100.64.2.9', 10)), was, 4, '100.64.2.1 dhcp'],
    ['IPv6 from router advertisements', offer(d('fe80::1', 1024, 9, 6)), undefined, 6, 'fe80::1 ra'],
    ['another family offered only', offer(d('fe80::1', 1024, 9, 6)), undefined, 4, undefined],
    ['an unknown protocol by number', offer(d('100.64.2.1', 0, 200)), undefined, 4, '100.64.2.1 proto 200'],
  ];
  for (const [name, o, prev, family, want] of rows) {
    it(name, () => {
      const g = pickGateway(lte, family, o, prev, 100);
      assert.equal(g && `${g.address} ${g.source}`, want);
    });
  }
  it('an unchanged pick is the same object (no change to note); a new one is in force from now', () => {
    const same = pickGateway(lte, 4, offer(d('100.64.2.9', 10)), was, 100);
    assert.equal(same, was);
    assert.equal(pickGateway(lte, 4, offer(d('100.64.2.1', 10)), was, 100)!.since, 100);
  });
  it('a static gateway learns nothing', () => {
    const p = parseConfig('uplinks:\n  - { name: dsl, interface: wan2, gateway: 100.64.2.1, targets: [ { icmp: 198.51.100.10 } ] }\n');
    assert.ok(p.ok);
    assert.equal(pickGateway(p.config.uplinks[0]!, 4, offer(d('100.64.2.7', 1)), undefined, 0), undefined);
  });
});

const YAML = `uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, priority: 1, targets: [ { icmp: 198.51.100.10 } ] }
  - { name: lte, interface: wwan0, gateway: auto, priority: 2, targets: [ { icmp: 198.51.100.10 } ] }
probe: { up: 1, down: 1 }
`;
const link = (name: string, index: number, address?: string): LinkInfo => ({
  name,
  index,
  adminUp: true,
  carrier: true,
  addresses: address ? [{ family: 4, prefix: address, global: true }] : [],
});

describe('the reducer with gateway: auto', () => {
  const gateways = (s: TrackSession, ...defaults: ForeignDefault[]): TrackEvent => ({
    kind: 'gateways',
    offer: { defaults: new Map(defaults.length ? [['wwan0', defaults]] : []), raIgnored: new Map() },
    snapshot: s.snapshot(),
  });
  const dhcp = (gateway: string): ForeignDefault => ({ family: 4, ifindex: 12, gateway, metric: 10, protocol: 16 });
  const session = () => new TrackSession(YAML, [link('wan1', 11, '100.64.1.2/24'), link('wwan0', 12, '100.64.2.50/24')]);
  const kinds = (effects: readonly { kind: string }[]) => effects.map((e) => e.kind);
  const uplinkRoute = (s: TrackSession): string | undefined => {
    const desired: DesiredState = desiredState(s.t, s.snapshot());
    return desired.uplinkRoutes.find((r) => r.table === 1101)?.nexthops[0]?.gateway;
  };

  it('before a lease: detached, saying what it waits for; no prober, no route of its own', () => {
    const s = session();
    assert.equal(s.state('lte'), 'detached');
    assert.match(s.t.uplinks.get('lte')!.health.get(4)!.reason, /^no default route via wwan0 yet \(DHCP\)$/);
    assert.ok(!s.effects.some((e) => e.kind === 'prober-new' && e.uplink === 'lte'));
    assert.ok(s.effects.some((e) => e.kind === 'prober-new' && e.uplink === 'fiber'));
    assert.equal(uplinkRoute(s), undefined);
  });

  it('a lease: learnt (logged, gateway_changed), the prober is made, its table is asked for, and it must prove itself', () => {
    const s = session();
    const effects = s.send(gateways(s, dhcp('100.64.2.1')), 1000);
    assert.ok(kinds(effects).includes('prober-new'));
    assert.ok(kinds(effects).includes('apply'));
    const note = effects.find((e) => e.kind === 'notify');
    assert.deepEqual(note && note.kind === 'notify' && note.event, {
      event: 'gateway_changed',
      uplink: 'lte',
      interface: 'wwan0',
      family: 4,
      gateway: '100.64.2.1',
      was: null,
      source: 'dhcp',
    });
    assert.equal(s.state('lte'), 'init');
    assert.equal(uplinkRoute(s), '100.64.2.1');
    s.applied(1001);
    s.round('lte', 2000, [true]);
    assert.equal(s.state('lte'), 'up');
  });

  it('a new router: one apply, the verdict and the prober stay', () => {
    const s = session();
    s.send(gateways(s, dhcp('100.64.2.1')), 1000);
    s.applied(1001);
    s.round('lte', 2000, [true]);
    const effects = s.send(gateways(s, dhcp('100.64.2.254')), 3000);
    assert.equal(s.state('lte'), 'up');
    assert.ok(kinds(effects).includes('apply') && kinds(effects).includes('notify'));
    assert.ok(!effects.some((e) => e.kind === 'prober-new' || e.kind === 'prober' || (e.kind === 'log' && e.fields.event === 'state')));
    assert.equal(uplinkRoute(s), '100.64.2.254');
    assert.equal(s.t.uplinks.get('lte')!.learnt[4]!.since, Date.parse('2026-11-21T10:00:00Z') + 3000);
  });

  it('the same offer again, or a source that is no different: nothing at all', () => {
    const s = session();
    s.send(gateways(s, dhcp('100.64.2.1')), 1000);
    assert.deepEqual(s.send(gateways(s, dhcp('100.64.2.1')), 2000), []);
  });

  it('the route gone (a lease ended): detached at once, saying what went; the prober stops; traffic moves', () => {
    const s = session();
    s.send(gateways(s, dhcp('100.64.2.1')), 1000);
    s.applied(1001);
    s.round('lte', 2000, [true]);
    s.round('fiber', 2000, [false]);
    assert.equal(s.state('fiber'), 'down');
    const effects = s.send(gateways(s), 3000);
    assert.equal(s.state('lte'), 'detached');
    assert.match(s.t.uplinks.get('lte')!.health.get(4)!.reason, /the default route via wwan0 is gone \(was 100\.64\.2\.1, dhcp\)/);
    assert.ok(effects.some((e) => e.kind === 'prober' && e.uplink === 'lte' && e.action === 'stop'));
    assert.ok(effects.some((e) => e.kind === 'log' && e.fields.event === 'steering'));
    assert.equal(uplinkRoute(s), undefined);
  });

  const reloadTo = (s: TrackSession, yaml: string, offer?: GatewayOffer) => {
    const next = parseConfig(yaml);
    assert.ok(next.ok);
    return s.send(
      { kind: 'reload', config: next.config, diff: diffConfig(s.t.config, next.config), path: 'x', snapshot: s.snapshot(), ...(offer ? { offer } : {}) },
      5000,
    );
  };
  it('a reload that makes a fixed gateway auto starts from the offer read for it: learnt at once', () => {
    const s = new TrackSession(YAML.replace('gateway: auto', 'gateway: 100.64.2.1'), [link('wan1', 11, '100.64.1.2/24'), link('wwan0', 12, '100.64.2.50/24')]);
    const effects = reloadTo(s, YAML, { defaults: new Map([['wwan0', [dhcp('100.64.2.254')]]]), raIgnored: new Map() });
    assert.equal(s.t.uplinks.get('lte')!.learnt[4]?.address, '100.64.2.254');
    assert.notEqual(s.state('lte'), 'detached');
    assert.ok(effects.some((e) => e.kind === 'notify' && e.event.event === 'gateway_changed'));
  });
  it('a reload from auto to a fixed gateway: no gateway_changed, nothing said to be gone', () => {
    const s = session();
    s.send(gateways(s, dhcp('100.64.2.1')), 1000);
    const effects = reloadTo(s, YAML.replace('gateway: auto', 'gateway: 100.64.2.1'));
    assert.ok(!effects.some((e) => e.kind === 'notify' && e.event.event === 'gateway_changed'));
    assert.ok(!effects.some((e) => e.kind === 'log' && /gone/.test(e.msg)));
  });
  it("routing.table main: a client's default at metric 0 (uplinkd's own there) is warned of, once", () => {
    const main = `${YAML}routing: { table: main, destinations: [default] }\n`;
    const s = new TrackSession(main, [link('wan1', 11, '100.64.1.2/24'), link('wwan0', 12, '100.64.2.50/24')]);
    const clash = (effects: readonly Effect[]) => effects.filter((e) => e.kind === 'log' && e.msg.includes('each replaces the other')).length;
    assert.equal(clash(s.send(gateways(s, { ...dhcp('100.64.2.1'), metric: 0 }), 1000)), 1);
    assert.equal(clash(s.send(gateways(s, { ...dhcp('100.64.2.254'), metric: 0 }), 2000)), 0, 'a new router at the same metric: said already');
    assert.equal(clash(s.send(gateways(s, dhcp('100.64.2.254')), 3000)), 0, 'metric 10: fine');
    const other = new TrackSession(YAML, [link('wan1', 11, '100.64.1.2/24'), link('wwan0', 12, '100.64.2.50/24')]);
    assert.equal(clash(other.send(gateways(other, { ...dhcp('100.64.2.1'), metric: 0 }), 1000)), 0, 'a table of its own: no clash');
  });

  it('gateway6: auto on an uplink probed in IPv4 only: no IPv6 flows for it until a router is learnt', () => {
    const s = new TrackSession(
      `uplinks:
  - { name: lte, interface: wwan0, gateway: 100.64.2.1, gateway6: auto, priority: 1, targets: [ { icmp: 198.51.100.10 } ] }
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, gateway6: 2001:db8:1::1, priority: 2, targets: [ { icmp: 198.51.100.10 } ] }
routing: { destinations: [default] }
probe: { up: 1 }
`,
      [link('wan1', 11, '100.64.1.2/24'), link('wwan0', 12, '100.64.2.50/24')],
    );
    s.applied(1);
    s.round('lte', 1000, [true]);
    s.round('fiber', 1000, [true]);
    const v6 = () =>
      desiredState(s.t, s.snapshot())
        .managed.find((r) => r.destination.family === 6)
        ?.nexthops.map((n) => n.uplink);
    assert.deepEqual(v6(), ['fiber']);
    s.send(
      {
        kind: 'gateways',
        offer: { defaults: new Map([['wwan0', [{ family: 6, ifindex: 12, gateway: 'fe80::1', metric: 1024, protocol: 9 }]]]), raIgnored: new Map() },
        snapshot: s.snapshot(),
      },
      2000,
    );
    assert.deepEqual(v6(), ['lte']);
  });

  it('an address taken from an interface that stays: the entries NATed to it are deleted (SNAT has no notifier of its own)', () => {
    const s = session();
    const links = [link('wan1', 11, '100.64.1.2/24'), link('wwan0', 12, '100.64.2.51/24')];
    const effects = s.send(
      {
        kind: 'links',
        changes: [
          { kind: 'address', name: 'wwan0', added: true, prefix: '100.64.2.51/24' },
          { kind: 'address', name: 'wwan0', added: false, prefix: '100.64.2.50/24' },
        ],
        snapshot: new Map(links.map((l) => [l.name, l])),
      },
      1000,
    );
    assert.deepEqual(
      effects.filter((e) => e.kind === 'flush-conntrack'),
      [{ kind: 'flush-conntrack', uplink: 'lte', addresses: [{ family: 4, address: '100.64.2.50' }] }],
    );
    // A vanished interface takes its entries with it (masquerade's device notifier): nothing asked.
    const gone = s.send(
      {
        kind: 'links',
        changes: [
          { kind: 'vanished', name: 'wwan0', index: 12 },
          { kind: 'address', name: 'wwan0', added: false, prefix: '100.64.2.51/24' },
        ],
        snapshot: new Map([['wan1', links[0]!]]),
      },
      2000,
    );
    assert.ok(!gone.some((e) => e.kind === 'flush-conntrack'));
  });

  it('IPv6 waits saying the kernel ignores advertisements while accept_ra is 1 on a forwarding gateway', () => {
    const s = new TrackSession('uplinks:\n  - { name: lte, interface: wwan0, gateway6: auto, targets: [ { icmp: 2001:db8::10 } ] }\n', [
      { ...link('wwan0', 12), addresses: [{ family: 6, prefix: '2001:db8:2::5/64', global: true }] },
    ]);
    s.send({ kind: 'gateways', offer: { defaults: new Map(), raIgnored: new Map([['wwan0', 1]]) }, snapshot: s.snapshot() }, 10);
    assert.match(
      s.t.uplinks.get('lte')!.health.get(6)!.reason,
      /no default route via wwan0 yet \(router advertisements: the kernel ignores them, net\.ipv6\.conf\.wwan0\.accept_ra is 1 with forwarding on; set it to 2\)/,
    );
  });
});

describe('the planner in table main, beside a DHCP client', () => {
  const state: DesiredState = {
    table: 254,
    destinations: [{ prefix: '0.0.0.0/0', family: 4 }],
    managed: [
      {
        destination: { prefix: '0.0.0.0/0', family: 4, address: '0.0.0.0', length: 0 },
        table: 254,
        nexthops: [{ uplink: 'lte', interface: 'wwan0', gateway: '100.64.2.1', weight: 1 }],
      },
    ],
    uplinkRoutes: [],
    uplinkTables: [{ table: 1100, interface: 'wwan0', uplink: 'lte' }],
    markMask: 0x3f00,
    pinRules: { 4: new Map(), 6: new Map() },
  };
  const owned = { table: 254, destinations: [{ prefix: '0.0.0.0/0' }], uplinkTables: new Set([1100]) };
  const theirs: KernelRoute = {
    family: 4,
    table: 254,
    prefix: '0.0.0.0/0',
    nexthops: [{ ifindex: 12, gateway: '100.64.2.1', weight: 1 }],
    protocol: 16,
    metric: 10,
  };
  const observed = (routes: KernelRoute[]) => ({ links: new Map([['wwan0', 12]]), routes: { 4: routes, 6: [] }, rules: { 4: [], 6: [] } });
  const routeOps = (routes: KernelRoute[]) =>
    plan(state, observed(routes), owned, [4])
      .operations.filter((o) => o.kind === 'replace-route' || o.kind === 'delete-route')
      .map((o) => `${o.kind} ${o.kind === 'replace-route' || o.kind === 'delete-route' ? `${o.route.protocol} ${o.route.metric}` : ''}`);

  it("writes its own beside the client's, with its protocol and metric 0, and never touches the client's", () => {
    assert.deepEqual(routeOps([theirs]), [`replace-route ${RTPROT_UPLINKD} 0`]);
  });
  it('once its own is in, nothing to do', () => {
    const ours: KernelRoute = { ...theirs, protocol: RTPROT_UPLINKD, metric: 0 };
    assert.deepEqual(routeOps([theirs, ours]), []);
  });
  it("an earlier uplinkd's (proto static) is written again with uplinkd's protocol", () => {
    assert.deepEqual(routeOps([theirs, { ...theirs, protocol: RTPROT_STATIC, metric: 0 }]), [`replace-route ${RTPROT_UPLINKD} 0`]);
  });
  it("with nothing to route, its own goes and the client's stays", () => {
    const none = plan({ ...state, managed: [] }, observed([theirs, { ...theirs, protocol: RTPROT_UPLINKD, metric: 0 }]), owned, [4]);
    assert.deepEqual(
      none.operations.filter((o) => o.kind === 'delete-route').map((o) => (o.kind === 'delete-route' ? o.route.protocol : 0)),
      [RTPROT_UPLINKD],
    );
  });
  it("an operator's static default in main (proto static, metric 0) is another program's, unless it goes through a next hop the config fixes", () => {
    const operators: KernelRoute = { ...theirs, protocol: RTPROT_STATIC, metric: 0 };
    const dropped = { ...state, managed: [] };
    const deletes = (s: DesiredState) => plan(s, observed([operators]), owned, [4]).operations.filter((o) => o.kind === 'delete-route').length;
    assert.equal(deletes(dropped), 0, "gateway: auto fixes nothing: not an earlier uplinkd's");
    assert.equal(
      deletes({ ...dropped, fixedNexthops: [{ family: 4, interface: 'wwan0', gateway: '100.64.2.1' }] }),
      1,
      'a fixed one: an earlier uplinkd wrote it',
    );
    assert.equal(deletes({ ...dropped, fixedNexthops: [{ family: 4, interface: 'wwan0', gateway: '100.64.2.9' }] }), 0, 'another gateway: not ours');
  });
  it("IPv6: an earlier uplinkd's route at metric 1024 in its own table goes once the new one (metric 1) is in", () => {
    const v6: DesiredState = {
      ...state,
      table: 100,
      destinations: [{ prefix: '::/0', family: 6 }],
      managed: [
        {
          destination: { prefix: '::/0', family: 6, address: '::', length: 0 },
          table: 100,
          nexthops: [{ uplink: 'lte', interface: 'wwan0', gateway: 'fe80::1', weight: 1 }],
        },
      ],
    };
    const old: KernelRoute = {
      family: 6,
      table: 100,
      prefix: '::/0',
      nexthops: [{ ifindex: 12, gateway: 'fe80::1', weight: 1 }],
      protocol: RTPROT_STATIC,
      metric: 1024,
    };
    const ops = plan(v6, { links: new Map([['wwan0', 12]]), routes: { 4: [], 6: [old] }, rules: { 4: [], 6: [] } }, { ...owned, table: 100 }, [6]).operations;
    const routes = ops.filter((o) => o.kind === 'replace-route' || o.kind === 'delete-route');
    assert.deepEqual(
      routes.map((o) => `${o.kind} ${o.kind === 'replace-route' || o.kind === 'delete-route' ? o.route.metric : ''}`),
      ['replace-route 1', 'delete-route 1024'],
    );
  });
});

// daemon/gateway-learner.ts with fakes: what main offers `gateway: auto` reaches track/ from a
// dump at start, from route events, from a dump again after lost events and on link changes
// (IPv4 flushes routes with an address without telling), and only when it changed.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { it } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../src/config/index.js';
import { GatewayLearner } from '../../src/daemon/gateway-learner.js';
import { FakeSysctl } from '../../src/host/index.js';
import { FakeLinks, upLink } from '../../src/link/fake.js';
import { FakeKernel } from '../../src/route/index.js';
import type { GatewayOffer } from '../../src/track/index.js';
import type { KernelRoute, RouteEvent } from '../../src/types/routes.js';

const YAML = `uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, targets: [ { icmp: 198.51.100.10 } ] }
  - { name: lte, interface: wwan0, gateway: auto, gateway6: auto, targets: [ { icmp: 198.51.100.10 } ] }
`;
const dhcp = (gateway: string, ifindex = 12): KernelRoute => ({
  family: 4,
  table: 254,
  prefix: '0.0.0.0/0',
  nexthops: [{ ifindex, gateway, weight: 1 }],
  protocol: 16,
  metric: 10,
});
const settle = () => new Promise((r) => setImmediate(r));

function setup(yaml = YAML) {
  const parsed = parseConfig(yaml);
  assert.ok(parsed.ok);
  const kernel = new FakeKernel();
  const links = new FakeLinks();
  links.set([upLink('wan1', 11, '100.64.1.2/24'), upLink('wwan0', 12, '100.64.2.50/24')]);
  const routeEvents = new EventEmitter() as EventEmitter & { close(): void };
  routeEvents.close = () => {};
  const sysctl = new FakeSysctl();
  const offers: GatewayOffer[] = [];
  const dumps = { count: 0 };
  const routes = kernel.routes.bind(kernel);
  kernel.routes = async (f) => {
    dumps.count++;
    return routes(f);
  };
  const learner = new GatewayLearner({
    kernel,
    families: [4, 6],
    links,
    routeEvents: routeEvents as never,
    sysctl,
    config: () => parsed.config,
    log: pino({ level: 'silent' }),
    offer: (o) => offers.push(o),
  });
  const last = () =>
    offers
      .at(-1)
      ?.defaults.get('wwan0')
      ?.map((d) => d.gateway);
  return { kernel, links, routeEvents, sysctl, offers, dumps, learner, last };
}

it('a dump at start; events add and remove; an unchanged picture is not offered again', async () => {
  const s = setup();
  s.kernel.routeTable = [dhcp('100.64.2.1'), dhcp('100.64.1.1', 11)];
  await s.learner.start();
  assert.deepEqual(s.last(), ['100.64.2.1']);
  // Only the interfaces of auto uplinks are offered.
  assert.equal(s.offers.at(-1)!.defaults.has('wan1'), false);
  const event = (deleted: boolean, gateway: string, replace = false): RouteEvent => ({
    kind: 'route',
    deleted,
    table: 254,
    defaults: [{ family: 4, ifindex: 12, gateway, metric: 10, protocol: 16 }],
    ...(replace ? { replace: true as const } : {}),
  });
  // `ip route replace`: the kernel swaps the route and says so once; main is read again.
  s.kernel.routeTable = [dhcp('100.64.2.254'), dhcp('100.64.1.1', 11)];
  const dumped = s.dumps.count;
  s.routeEvents.emit('change', [event(false, '100.64.2.254', true)]);
  await settle();
  assert.deepEqual(s.last(), ['100.64.2.254']);
  await settle();
  assert.ok(s.dumps.count > dumped, 'a replace reads main again');
  const n = s.offers.length;
  s.routeEvents.emit('change', [{ kind: 'route', deleted: false, table: 100 }]);
  await settle();
  assert.equal(s.offers.length, n, 'an event of another table offers nothing new');
  s.routeEvents.emit('change', [event(true, '100.64.2.254')]);
  await settle();
  assert.deepEqual(s.last(), undefined);
});

it('lost events (ENOBUFS) and a link change of an uplink dump again', async () => {
  const s = setup();
  await s.learner.start();
  const before = s.dumps.count;
  s.kernel.routeTable = [dhcp('100.64.2.1')];
  s.routeEvents.emit('change', [{ kind: 'route', deleted: true }]);
  await settle();
  await settle();
  assert.ok(s.dumps.count > before);
  assert.deepEqual(s.last(), ['100.64.2.1']);
  // The address goes: IPv4 flushed the route without a word.
  s.kernel.routeTable = [];
  s.links.set([upLink('wan1', 11, '100.64.1.2/24'), { ...upLink('wwan0', 12), addresses: [] }]);
  await settle();
  await settle();
  assert.deepEqual(s.last(), undefined);
});

it('an event while a dump is under way is not undone by it: another dump follows', async () => {
  const s = setup();
  await s.learner.start();
  // The next dump reads main before the lease's route is in; the event comes while it runs.
  const routes = s.kernel.routes;
  let release: () => void = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  s.kernel.routes = async (f) => {
    const before = [...s.kernel.routeTable];
    await held;
    s.kernel.routes = routes;
    return before.filter((r) => r.family === f);
  };
  const dump = s.learner.resync();
  s.kernel.routeTable = [dhcp('100.64.2.1')];
  s.routeEvents.emit('change', [
    { kind: 'route', deleted: false, table: 254, defaults: [{ family: 4, ifindex: 12, gateway: '100.64.2.1', metric: 10, protocol: 16 }] },
  ]);
  release();
  await dump;
  assert.deepEqual(s.last(), ['100.64.2.1']);
});

it('a reload gets the offer for the config about to run, main read for it', async () => {
  const s = setup('uplinks:\n  - { name: fiber, interface: wan1, gateway: 100.64.1.1, targets: [ { icmp: 198.51.100.10 } ] }\n');
  await s.learner.start();
  assert.equal(s.dumps.count, 0);
  s.kernel.routeTable = [dhcp('100.64.1.254', 11)];
  const next = parseConfig('uplinks:\n  - { name: fiber, interface: wan1, gateway: auto, targets: [ { icmp: 198.51.100.10 } ] }\n');
  assert.ok(next.ok);
  const offer = await s.learner.offerFor(next.config);
  assert.deepEqual(
    offer.defaults.get('wan1')?.map((d) => d.gateway),
    ['100.64.1.254'],
  );
});

it('without gateway: auto, main is never dumped for it', async () => {
  const s = setup('uplinks:\n  - { name: fiber, interface: wan1, gateway: 100.64.1.1, targets: [ { icmp: 198.51.100.10 } ] }\n');
  await s.learner.start();
  s.routeEvents.emit('change', [{ kind: 'route', deleted: true }]);
  s.links.set([{ ...upLink('wan1', 11), addresses: [] }]);
  await settle();
  assert.equal(s.dumps.count, 0);
});

it('accept_ra 1 on a forwarding interface, or 0, is said; 2 is not', async () => {
  const s = setup();
  s.sysctl.values.set('net/ipv6/conf/wwan0/accept_ra', '1');
  s.sysctl.values.set('net/ipv6/conf/wwan0/forwarding', '1');
  await s.learner.start();
  assert.equal(s.offers.at(-1)!.raIgnored.get('wwan0'), 1);
  s.sysctl.values.set('net/ipv6/conf/wwan0/accept_ra', '2');
  await s.learner.reloaded();
  assert.equal(s.offers.at(-1)!.raIgnored.size, 0);
});

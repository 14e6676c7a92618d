// Lab: `gateway: auto` and `gateway6: auto` with real parts (issue 24). dnsmasq is ISP 2's DHCP
// server and udhcpc (then ISC dhclient) the gateway's client, whose script writes only the
// address and `default via ROUTER dev wan2 proto dhcp metric 10` in main; radvd is ISP 2's
// IPv6 router. Probe settings are the defaults a user gets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { type DhcpClient, type DhcpServer, dhclient, dhcpIsp, dhcpServer, fiberAndLte, gwSysctl, radvd, routeMonitor, udhcpc } from './dhcp.js';
import { type DaemonHandle, Lab, type LogLine, TARGETS6 } from './lab.js';
import { waitUntil } from './wait.js';

interface Shown {
  name: string;
  state: string;
  reason: string;
  gateway: string | null;
  gateway_source: string | null;
  gateway_since: string | null;
  gateway6: string | null;
  gateway6_source: string | null;
  families: { family: string; state: string; reason: string }[];
}

async function uplink(d: DaemonHandle, name: string): Promise<Shown> {
  const s = (await d.status()).json as { uplinks: Shown[] };
  return s.uplinks.find((u) => u.name === name)!;
}

/** A log line's time (pino's ISO time), in ms. */
const at = (l: LogLine): number => Date.parse(String(l.time));

/** The kernel's routes and rules in the gateway, as a restart must leave them. */
async function kernelState(lab: Lab): Promise<string> {
  const r4 = await lab.exec('gw', 'ip', ['-4', 'route', 'show', 'table', 'all']);
  const r6 = await lab.exec('gw', 'ip', ['-6', 'route', 'show', 'table', 'all']);
  const rules = await lab.exec('gw', 'ip', ['rule', 'show']);
  // Neighbour-learnt and expiring details are the kernel's own bookkeeping.
  return [r4.stdout, r6.stdout.replace(/ expires \d+sec/g, ''), rules.stdout].join('\n');
}

describe('gateway: auto from DHCP', { timeout: 240_000 }, () => {
  let lab: Lab;
  let d: DaemonHandle;
  let server: DhcpServer;
  let client: DhcpClient;

  before(async () => {
    lab = await Lab.create();
    // ISP 2 answers DHCP from 100.64.2.253 and routes through 100.64.2.1; wan2 has no IPv4 until its lease.
    await dhcpIsp(lab, 2);
    d = lab.startDaemon(fiberAndLte(2));
  });
  after(async () => {
    if (d) await d.stop();
    await client?.stop();
    await server?.stop();
    await lab?.destroy();
  });

  it('lte waits detached, saying for what, and is up once its lease brings a default route', async () => {
    await d.waitFor(
      (l) => l.event === 'state' && l.uplink === 'lte' && l.to === 'detached' && /no default route via wan2 yet \(DHCP\)/.test(String(l.reason)),
      20_000,
      'lte detached waiting for DHCP',
    );
    await d.waitState('fiber', 'up', 20_000);
    const before = await uplink(d, 'lte');
    assert.equal(before.state, 'detached');
    assert.equal(before.gateway, null);
    assert.match(before.reason, /no default route via wan2 yet \(DHCP\)/);
    // No heartbeats while it waits: its prober was never made.
    assert.ok(!d.logs.some((l) => l.event === 'state' && l.uplink === 'lte' && l.to === 'down'));

    server = await dhcpServer(lab, 2, ['100.64.2.50', '100.64.2.60'], '100.64.2.1');
    client = udhcpc(lab, 'wan2', 10);
    const routeAt = await client.stamps.waitFor('route 100.64.2.1', 20_000);
    const learnt = await d.waitFor((l) => l.event === 'gateway' && l.uplink === 'lte' && l.gateway === '100.64.2.1', 5000, 'lte learns 100.64.2.1');
    assert.equal(learnt.source, 'dhcp');
    await d.waitState('lte', 'up', 20_000);
    const now = await uplink(d, 'lte');
    assert.equal(now.gateway, '100.64.2.1');
    assert.equal(now.gateway_source, 'dhcp');
    assert.ok(now.gateway_since && Date.parse(now.gateway_since) >= routeAt - 1000);
    // The table for people says it too.
    const text = await lab.cli(['status', '--socket', d.socket]);
    assert.match(text.stdout, /lte {2}gateway: 100\.64\.2\.1 \(dhcp since \d{4}-/);
    assert.match(text.stdout, /fiber {2}gateway: 100\.64\.1\.1 \(static\)/);
    // Its own table, read back from the kernel.
    const table = await lab.exec('gw', 'ip', ['route', 'show', 'table', '1101']);
    assert.match(table.stdout, /default via 100\.64\.2\.1 dev wan2/);
    // The client's route in main is left as it wrote it.
    const main = await lab.exec('gw', 'ip', ['route', 'show', 'default']);
    assert.match(main.stdout, /default via 100\.64\.2\.1 dev wan2 proto dhcp .*metric 10/);
  });

  it('a blackhole on fiber moves the LAN to lte; a renumbered ISP router is followed within 100 ms, lte stays up and the stream barely notices', async () => {
    const mark = d.logs.length;
    await lab.blackhole(1);
    await d.waitState('fiber', 'down', 15_000, mark);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan2', 5000, 'managed route via wan2');
    const renumberMark = d.logs.length;
    const monitor = routeMonitor(lab);
    await new Promise((r) => setTimeout(r, 200));
    // 600 packets, one every 10 ms: the renumbering happens a second in.
    const stream = lab.stream(600, 10);
    await new Promise((r) => setTimeout(r, 1000));
    const startedAt = Date.now();
    await lab.exec('isp2', 'ip', ['addr', 'add', '100.64.2.254/24', 'dev', 'togw']);
    await server.setRouter('100.64.2.254');
    await lab.exec('isp2', 'ip', ['addr', 'del', '100.64.2.1/24', 'dev', 'togw']);
    client.signal('SIGUSR1');
    await client.stamps.waitFor('route 100.64.2.254', 15_000, startedAt);
    const own = 'ip route replace 0.0.0.0/0 table 1101 via 100.64.2.254 dev wan2';
    const followed = await d.waitFor((l) => l.command === own, 5000, own, renumberMark);
    const managed = 'ip route replace 0.0.0.0/0 table 100 via 100.64.2.254 dev wan2';
    const lan = await d.waitFor((l) => l.command === managed, 5000, managed, renumberMark);
    const result = await stream;
    await monitor.stop();
    // The client's route change as a listener beside uplinkd heard it.
    const routeAt = monitor.lines().find((l) => l.text.startsWith('default via 100.64.2.254 dev wan2 proto dhcp'))?.atMs ?? Number.NaN;
    console.log(
      `# renumbering: client route change -> uplink table ${at(followed) - routeAt} ms, managed route ${at(lan) - routeAt} ms; LAN stream longest gap ${result.longestGapMs} ms, ${result.received}/600 received`,
    );
    assert.ok(at(followed) - routeAt < 100, `uplink table followed after ${at(followed) - routeAt} ms`);
    assert.ok(at(lan) - routeAt < 100, `managed route followed after ${at(lan) - routeAt} ms`);
    assert.ok(result.longestGapMs < 1500, `LAN stream gap ${result.longestGapMs} ms`);
    // The verdict stands: no state change of lte since, and it is up.
    assert.ok(!d.logs.slice(renumberMark).some((l) => l.event === 'state' && l.uplink === 'lte'), 'lte changed state');
    const now = await uplink(d, 'lte');
    assert.equal(now.state, 'up');
    assert.equal(now.gateway, '100.64.2.254');
    const changed = d.logs.slice(renumberMark).find((l) => l.event === 'gateway' && l.uplink === 'lte');
    assert.equal(changed?.was, '100.64.2.1');
  });

  it('a restart adopts the learnt gateway without touching a route or rule', async () => {
    const kernelBefore = await kernelState(lab);
    await d.stop();
    d = lab.startDaemon(fiberAndLte(2));
    await d.waitFor((l) => l.event === 'gateway' && l.uplink === 'lte' && l.gateway === '100.64.2.254', 10_000, 'lte learns at start');
    await d.waitState('lte', 'up', 20_000);
    await d.waitState('fiber', 'down', 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    // The pinning table is loaded again (an atomic replace that moves no flow); no route or rule changes.
    const commands = d.logs.filter((l) => typeof l.command === 'string' && l.command.startsWith('ip ')).map((l) => l.command);
    assert.deepEqual(commands, [], 'route and rule commands run by the restarted daemon');
    assert.equal(await kernelState(lab), kernelBefore);
  });

  it('lease expiry (server gone, client deconfigures) detaches lte and moves its traffic within 50 ms', async () => {
    // fiber back: it must prove itself for failback.hold (30 s) before it takes traffic back,
    // so lte still carries it when its lease ends.
    await lab.heal(1);
    await d.waitState('fiber', 'up', 20_000);
    assert.deepEqual(await lab.defaultVia(100), ['wan2']);
    await server.stop();
    const mark = d.logs.length;
    const monitor = routeMonitor(lab);
    await new Promise((r) => setTimeout(r, 200));
    const startedAt = Date.now();
    client.signal('SIGUSR2');
    await client.stamps.waitFor('deconfig', 10_000, startedAt);
    const detached = await d.waitState('lte', 'detached', 5000, mark);
    const moved = 'ip route replace 0.0.0.0/0 table 100 via 100.64.1.1 dev wan1';
    const route = await d.waitFor((l) => l.command === moved, 5000, moved, mark);
    await monitor.stop();
    const goneAt = monitor.lines().find((l) => l.text.startsWith('Deleted default via 100.64.2.254 dev wan2 proto dhcp'))?.atMs ?? Number.NaN;
    console.log(`# lease end: route removed -> lte detached ${at(detached) - goneAt} ms, traffic moved ${at(route) - goneAt} ms`);
    assert.match(String(detached.reason), /the default route via wan2 is gone \(was 100\.64\.2\.254, dhcp\)/);
    assert.ok(at(detached) - goneAt < 50, `detached after ${at(detached) - goneAt} ms`);
    assert.ok(at(route) - goneAt < 50, `traffic moved after ${at(route) - goneAt} ms`);
    await client.stop();
  });

  it('routing.table main: uplinkd never learns its own default route (ISC dhclient as the client)', async () => {
    await d.stop();
    server = await dhcpServer(lab, 2, ['100.64.2.50', '100.64.2.60'], '100.64.2.254');
    d = lab.startDaemon(fiberAndLte(1, 'main'));
    client = dhclient(lab, 'wan2', 10);
    await client.stamps.waitFor('route 100.64.2.254', 30_000);
    await d.waitState('lte', 'up', 20_000);
    await d.waitState('fiber', 'up', 20_000);
    // Two defaults in main now: uplinkd's (its protocol, metric 0) and dhclient's.
    await waitUntil(
      async () => (await lab.exec('gw', 'ip', ['route', 'show', 'default', 'proto', '117'])).stdout.includes('nexthop'),
      5000,
      "uplinkd's multipath default in main",
    );
    const lte = await uplink(d, 'lte');
    assert.equal(lte.gateway, '100.64.2.254');
    assert.equal(lte.gateway_source, 'dhcp');
    // With dhclient's route gone only uplinkd's is left via wan2: were it learnt, lte would stay.
    const mark = d.logs.length;
    await client.stop();
    await execa('ip', ['-n', lab.ns('gw'), 'route', 'del', 'default', 'dev', 'wan2', 'proto', 'dhcp', 'metric', '10'], { reject: false });
    const detached = await d.waitState('lte', 'detached', 5000, mark);
    assert.match(String(detached.reason), /the default route via wan2 is gone/);
    await waitUntil(async () => (await lab.defaultVia('main')).join() === 'wan1', 5000, "main's default via wan1 only");
    assert.ok(!d.logs.some((l) => l.event === 'gateway' && l.uplink === 'lte' && l.source === 'uplinkd'));
  });
});

describe('gateway6: auto from router advertisements (radvd)', { timeout: 180_000 }, () => {
  let lab: Lab;
  let d: DaemonHandle;
  const config6 = `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    gateway6: 2001:db8:1::1
    priority: 1
    targets: [ { icmp: ${TARGETS6[0]} }, { icmp: ${TARGETS6[1]} } ]
  - name: lte
    interface: wan2
    gateway6: auto
    priority: 1
    targets: [ { icmp: ${TARGETS6[0]} }, { icmp: ${TARGETS6[1]} } ]
routing: { table: 100, destinations: ["::/0"] }
`;
  const linkLocal = async (role: 'isp2', dev: string): Promise<string> => {
    const r = await lab.exec(role, 'ip', ['-6', '-o', 'addr', 'show', 'dev', dev, 'scope', 'link']);
    return /inet6 (fe80::[0-9a-f:]+)\//.exec(r.stdout)![1]!;
  };

  before(async () => {
    lab = await Lab.create();
    // A forwarding gateway that still takes router advertisements on wan2 only when told.
    await gwSysctl(lab, 'net.ipv6.conf.wan2.accept_ra', '1');
    d = lab.startDaemon(config6);
  });
  after(async () => {
    if (d) await d.stop();
    await lab?.destroy();
  });

  it('says the kernel ignores advertisements while accept_ra is 1; learns the router link-local address; follows a second router; lifetime 0 detaches within 50 ms', async () => {
    await d.waitFor(
      (l) => l.event === 'state' && l.uplink === 'lte' && l.to === 'detached' && /accept_ra is 1 with forwarding on; set it to 2/.test(String(l.reason)),
      20_000,
      'lte detached: accept_ra',
    );
    await gwSysctl(lab, 'net.ipv6.conf.wan2.accept_ra', '2');
    const router1 = await linkLocal('isp2', 'togw');
    const ra1 = await radvd(lab, 2, 'togw', '2001:db8:2::/64');
    const learnt = await d.waitFor((l) => l.event === 'gateway' && l.uplink === 'lte' && l.gateway === router1, 20_000, `lte learns ${router1}`);
    assert.equal(learnt.source, 'ra');
    await d.waitState('lte', 'up', 20_000);
    assert.equal((await uplink(d, 'lte')).gateway6, router1);
    assert.match((await lab.exec('gw', 'ip', ['-6', 'route', 'show', 'table', '1101'])).stdout, new RegExp(`default via ${router1} dev wan2`));

    // A second router on the link (its own MAC, so its own link-local address) takes over.
    await lab.exec('isp2', 'ip', ['link', 'add', 'togw2', 'link', 'togw', 'type', 'macvlan', 'mode', 'bridge']);
    await lab.exec('isp2', 'ip', ['link', 'set', 'togw2', 'up']);
    await waitUntil(
      async () => (await lab.exec('isp2', 'ip', ['-6', 'addr', 'show', 'dev', 'togw2', 'scope', 'link'])).stdout.includes('fe80'),
      5000,
      'togw2 link-local',
    );
    const router2 = await linkLocal('isp2', 'togw2');
    const ra2 = await radvd(lab, 2, 'togw2', '2001:db8:2::/64');
    await waitUntil(
      async () => (await lab.exec('gw', 'ip', ['-6', 'route', 'show', 'default', 'dev', 'wan2'])).stdout.includes(router2),
      10_000,
      'second router advertised',
    );
    const mark = d.logs.length;
    await ra1.stop();
    await d.waitFor((l) => l.event === 'gateway' && l.uplink === 'lte' && l.gateway === router2, 10_000, `lte follows ${router2}`, mark);
    await waitUntil(
      async () => (await lab.exec('gw', 'ip', ['-6', 'route', 'show', 'table', '1101'])).stdout.includes(router2),
      5000,
      'table 1101 via router 2',
    );
    assert.ok(!d.logs.slice(mark).some((l) => l.event === 'state' && l.uplink === 'lte'), 'lte changed state on the router change');

    // Router lifetime 0 (radvd's goodbye): the kernel deletes the route, lte detaches, ::/0 moves.
    await waitUntil(async () => (await lab.defaultVia(100, 6)).join() === 'wan1,wan2', 10_000, '::/0 over both');
    const monitor = routeMonitor(lab);
    await new Promise((r) => setTimeout(r, 200));
    const goodbye = d.logs.length;
    await ra2.stop();
    const detached = await d.waitFor((l) => l.event === 'state' && l.uplink === 'lte' && l.to === 'detached', 10_000, 'lte detached', goodbye);
    const moved = 'ip -6 route replace ::/0 table 100 via 2001:db8:1::1 dev wan1 onlink';
    const route = await d.waitFor((l) => l.command === moved, 5000, moved, goodbye);
    await new Promise((r) => setTimeout(r, 200));
    await monitor.stop();
    const deleted = monitor.lines().find((l) => l.text.startsWith(`Deleted default via ${router2} dev wan2`));
    assert.ok(deleted, `no deletion seen: ${JSON.stringify(monitor.lines())}`);
    console.log(`# router lifetime 0: route removed -> lte detached ${at(detached) - deleted.atMs} ms, ::/0 moved ${at(route) - deleted.atMs} ms`);
    assert.ok(at(detached) - deleted.atMs < 50, `detached after ${at(detached) - deleted.atMs} ms`);
    assert.ok(at(route) - deleted.atMs < 50, `::/0 moved after ${at(route) - deleted.atMs} ms`);
  });
});

// metrics/: the names (node_exporter's conventions), what a status report and events set, a
// strict parse of the exposition text, and the HTTP endpoint.
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { StatusReport } from '../../src/types/status.js';
import { heartbeatResult, UplinkMetrics } from '../../src/metrics/registry.js';
import { MAX_CONNECTIONS, MAX_PER_SOURCE, MetricsServer } from '../../src/metrics/server.js';
import { parseExposition, type Sample } from './exposition.js';
import { quietPassive } from './status-fixtures.js';

const NO_GATEWAYS = { gateway: null, gateway_source: null, gateway_since: null, gateway6: null, gateway6_source: null, gateway6_since: null };
const NOW = Date.parse('2026-11-22T10:01:00.000Z');
const STATUS: StatusReport = {
  uplinks: [
    {
      name: 'fiber',
      interface: 'wan1',
      ...NO_GATEWAYS,
      state: 'down',
      priority: 1,
      weight: 0,
      flows: 3,
      new_flows: 0,
      new_flows_pct: 0,
      rtt_ms: null,
      loss_pct: 100,
      since: '2026-11-22T10:00:00.000Z',
      reason: '3 failed rounds',
      targets: [{ target: 'icmp 198.51.100.10', ok: false, rtt_ms: null, jitter_ms: null, loss_pct: 100, error: 'timeout', timeout_ms: 50 }],
      families: [],
      timeout_ms: 50,
      passive: {
        enabled: true,
        watching: true,
        sent_packets_per_s: 500,
        sent_bytes_per_s: 32000,
        answer_packets_per_s: 0,
        answer_bytes_per_s: 0,
        last_answer_ms_ago: 2500,
        silent_ms: 2500,
        span_ms: 50,
        confirmations: 3,
        refuted: 1,
        holdoff_ms: 0,
      },
    },
    {
      name: 'lte',
      interface: 'wwan0',
      ...NO_GATEWAYS,
      state: 'up',
      priority: 2,
      weight: 100,
      flows: 250,
      new_flows: 40,
      new_flows_pct: 100,
      rtt_ms: 42.5,
      loss_pct: 5,
      since: '2026-11-22T09:00:00.000Z',
      reason: '5 good rounds',
      targets: [
        { target: 'icmp 198.51.100.10', ok: true, rtt_ms: 40, jitter_ms: 2, loss_pct: 0, timeout_ms: 60 },
        { target: 'tcp 198.51.100.11:443', ok: true, rtt_ms: 45, jitter_ms: 4, loss_pct: 10, timeout_ms: 1000 },
      ],
      families: [],
      timeout_ms: 1000,
      passive: quietPassive(false),
      mptcp: { endpoints: [{ id: 102, address: '100.64.2.2', flags: 'subflow' }], subflows: 3, backup_subflows: 1 },
    },
  ],
  routes: [{ destination: '0.0.0.0/0', table: 100, nexthops: [{ uplink: 'lte', weight: 100 }] }],
  steering: { all_down: false, reason: '' },
  kernel: { refused: [], foreign_rules: [], connected_routes: [] },
};

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

const portOf = (server: MetricsServer): number => ((server as unknown as { server: import('node:net').Server }).server.address() as AddressInfo).port;

/** A TCP connection that sends nothing, as a local attacker holds one; `closed` says when the server dropped it. */
type Idle = { readonly socket: Socket; readonly closed: Promise<void>; readonly gone: () => boolean };
async function idleConnection(port: number, localAddress = '127.0.0.1'): Promise<Idle> {
  const socket = connect({ host: '127.0.0.1', port, localAddress });
  let ended = false;
  socket.on('error', () => {});
  // Flowing, so the server's FIN is seen as 'end'.
  socket.on('end', () => {
    ended = true;
  });
  socket.resume();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed, gone: () => ended || socket.destroyed };
}

/** http.get on a connection of its own (no agent), as Prometheus scrapes; rejects after `ms`. */
const scrape = (port: number, ms: number): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/metrics', agent: false, signal: AbortSignal.timeout(ms) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });

/** Lets the server's accept and 'connection' handlers run for what the kernel already queued. */
const settle = () => new Promise((r) => setTimeout(r, 100));

describe('metrics', () => {
  it('heartbeat results as labels', () => {
    const rows: [{ ok: boolean; error?: string }, string][] = [
      [{ ok: true }, 'ok'],
      [{ ok: false, error: 'timeout' }, 'timeout'],
      [{ ok: false, error: 'ENODEV' }, 'error'],
      [{ ok: false, error: 'ECONNREFUSED' }, 'error'],
      [{ ok: false, error: 'EMFILE' }, 'local'],
      [{ ok: false, error: 'ENOBUFS' }, 'local'],
    ];
    for (const [r, want] of rows) assert.equal(heartbeatResult(r), want, JSON.stringify(r));
  });

  it('a status report, rounds and events give valid exposition text in base units', async () => {
    const m = new UplinkMetrics('1.2.3');
    m.onRound('lte', {
      seq: 1,
      startedAt: 0,
      results: [
        { target: 'icmp 198.51.100.10', ok: true, rttMs: 40 },
        { target: 'tcp 198.51.100.11:443', ok: false, error: 'timeout' },
      ],
    });
    m.onRound('fiber', { seq: 1, startedAt: 0, results: [{ target: 'icmp 198.51.100.10', ok: false, error: 'closed' }] });
    m.onEvent({ event: 'state', uplink: 'fiber', interface: 'wan1', family: 4, from: 'up', to: 'down', reason: '' });
    m.onEvent({ event: 'failover', family: 4, shares: [{ uplink: 'lte', share: 100 }], was: [{ uplink: 'fiber', share: 100 }], reason: '' });
    m.update(STATUS, NOW);
    const text = await m.registry.metrics();
    const s = parseExposition(text);
    assert.ok(s.every((x) => x.name.startsWith('uplinkd_')));
    const rows: [string, Record<string, string>, number][] = [
      ['uplinkd_build_info', { version: '1.2.3' }, 1],
      ['uplinkd_uplink_state', { uplink: 'fiber', interface: 'wan1', state: 'down' }, 1],
      ['uplinkd_uplink_state', { uplink: 'fiber', state: 'up' }, 0],
      ['uplinkd_uplink_state', { uplink: 'lte', state: 'up' }, 1],
      ['uplinkd_uplink_rtt_seconds', { uplink: 'lte' }, 0.0425],
      ['uplinkd_uplink_jitter_seconds', { uplink: 'lte' }, 0.003],
      ['uplinkd_uplink_loss_ratio', { uplink: 'lte' }, 0.05],
      ['uplinkd_uplink_loss_ratio', { uplink: 'fiber' }, 1],
      ['uplinkd_uplink_new_flows_share_ratio', { uplink: 'lte' }, 1],
      ['uplinkd_uplink_new_flows_measured_ratio', { uplink: 'fiber' }, 0],
      ['uplinkd_uplink_pinned_flows', { uplink: 'lte' }, 250],
      ['uplinkd_uplink_seconds_since_change', { uplink: 'fiber' }, 60],
      ['uplinkd_target_up', { uplink: 'lte', target: 'tcp 198.51.100.11:443' }, 1],
      ['uplinkd_target_loss_ratio', { uplink: 'lte', target: 'tcp 198.51.100.11:443' }, 0.1],
      ['uplinkd_target_rtt_seconds', { uplink: 'lte', target: 'icmp 198.51.100.10' }, 0.04],
      ['uplinkd_heartbeats_total', { uplink: 'lte', result: 'ok' }, 1],
      ['uplinkd_heartbeats_total', { uplink: 'lte', result: 'timeout' }, 1],
      ['uplinkd_uplink_transitions_total', { uplink: 'fiber', family: 'ipv4', to: 'down' }, 1],
      ['uplinkd_steering_changes_total', { family: 'ipv4', cause: 'failover' }, 1],
      ['uplinkd_all_down', {}, 0],
      ['uplinkd_route_nexthops', { destination: '0.0.0.0/0', table: '100' }, 1],
      ['uplinkd_uplink_mptcp_subflows', { uplink: 'lte', backup: 'false' }, 2],
      ['uplinkd_uplink_mptcp_subflows', { uplink: 'lte', backup: 'true' }, 1],
      ['uplinkd_uplink_mptcp_endpoints', { uplink: 'lte', backup: 'false' }, 1],
      ['uplinkd_uplink_mptcp_endpoints', { uplink: 'lte', backup: 'true' }, 0],
    ];
    // Without mptcp: no MPTCP series at all.
    assert.equal(find(s, 'uplinkd_uplink_mptcp_subflows', { uplink: 'fiber' }), undefined);
    for (const [name, labels, want] of rows) assert.equal(find(s, name, labels), want, `${name} ${JSON.stringify(labels)}`);
    assert.equal(find(s, 'uplinkd_uplink_rtt_seconds', { uplink: 'fiber' }), undefined, 'no RTT: no sample (never NaN)');
    assert.doesNotMatch(text, /NaN/i);
    assert.equal(find(s, 'uplinkd_heartbeats_total', { uplink: 'fiber' }), undefined, 'a heartbeat cut short is not counted');
    assert.match(text, /^# TYPE uplinkd_heartbeats_total counter$/m);
    assert.match(text, /^# TYPE uplinkd_uplink_state gauge$/m);
  });

  it('counters of uplinks and targets a reload removed are dropped; the rest count on', async () => {
    const m = new UplinkMetrics('1');
    const round = (uplink: string, target: string) => m.onRound(uplink, { seq: 1, startedAt: 0, results: [{ target, ok: true, rttMs: 1 }] });
    round('fiber', 'icmp 198.51.100.10');
    round('fiber', 'icmp 198.51.100.99');
    round('lte', 'icmp 198.51.100.10');
    m.onEvent({ event: 'state', uplink: 'lte', interface: 'wwan0', family: 4, from: 'up', to: 'down', reason: '' });
    await m.retain([{ name: 'fiber', targets: ['icmp 198.51.100.10'] }]);
    const s = parseExposition(await m.registry.metrics());
    assert.deepEqual(
      s.filter((x) => x.name === 'uplinkd_heartbeats_total').map((x) => `${x.labels.uplink} ${x.labels.target} ${x.value}`),
      ['fiber icmp 198.51.100.10 1'],
    );
    assert.equal(find(s, 'uplinkd_uplink_transitions_total', { uplink: 'lte' }), undefined);
  });

  it("each round's lateness goes into a histogram per uplink, dropped with its uplink", async () => {
    const m = new UplinkMetrics('1');
    const round = (uplink: string, lateMs: number) => m.onRound(uplink, { seq: 1, startedAt: 0, lateMs, results: [] });
    for (const late of [0, 0.4, 3, 12]) round('fiber', late);
    round('lte', 700);
    let s = parseExposition(await m.registry.metrics());
    const bucket = (uplink: string, le: string) => find(s, 'uplinkd_heartbeat_round_lateness_seconds_bucket', { uplink, le });
    assert.deepEqual(
      ['0.001', '0.005', '0.01', '0.02', '+Inf'].map((le) => bucket('fiber', le)),
      [2, 3, 3, 4, 4],
    );
    assert.equal(find(s, 'uplinkd_heartbeat_round_lateness_seconds_count', { uplink: 'fiber' }), 4);
    assert.equal(bucket('lte', '0.5'), 0);
    await m.retain([{ name: 'fiber', targets: [] }]);
    s = parseExposition(await m.registry.metrics());
    assert.equal(find(s, 'uplinkd_heartbeat_round_lateness_seconds_count', { uplink: 'lte' }), undefined);
    assert.equal(find(s, 'uplinkd_heartbeat_round_lateness_seconds_count', { uplink: 'fiber' }), 4);
  });

  it('an uplink a reload removed and a later one added again counts its confirmations from zero', async () => {
    const m = new UplinkMetrics('1');
    const withFiber = (confirmations: number) => ({
      ...STATUS,
      uplinks: STATUS.uplinks.map((u) => (u.name === 'fiber' ? { ...u, passive: { ...u.passive!, confirmations, refuted: 0 } } : u)),
    });
    const started = async () =>
      find(parseExposition(await m.registry.metrics()), 'uplinkd_passive_confirmations_total', { uplink: 'fiber', outcome: 'started' });
    m.update(withFiber(5), NOW);
    assert.equal(await started(), 5);
    m.update({ ...STATUS, uplinks: STATUS.uplinks.filter((u) => u.name !== 'fiber') }, NOW);
    await m.retain([{ name: 'lte', targets: [] }]);
    assert.equal(await started(), undefined);
    m.update(withFiber(7), NOW);
    assert.equal(await started(), 7);
  });

  it('an uplink removed by a reload leaves the gauges', async () => {
    const m = new UplinkMetrics('1');
    m.update(STATUS, NOW);
    m.update({ ...STATUS, uplinks: STATUS.uplinks.slice(1) }, NOW);
    const s = parseExposition(await m.registry.metrics());
    assert.equal(find(s, 'uplinkd_uplink_state', { uplink: 'fiber' }), undefined);
  });

  it('the reader refuses what Prometheus would', () => {
    for (const bad of ['up 1', 'uplinkd_x{a="1} 1\n', 'uplinkd_x 1\n# TYPE uplinkd_x gauge\n', 'uplinkd-x 1\n', 'uplinkd_x one\n']) {
      assert.throws(() => parseExposition(bad), Error, bad);
    }
  });

  it('reads once for scrapes that come together, and reuses the answer for a second', async () => {
    let reads = 0;
    let now = 0;
    const server = new MetricsServer(
      { host: '127.0.0.1', port: 0 },
      async () => {
        reads++;
        await new Promise((r) => setTimeout(r, 50));
        return { contentType: 'text/plain', body: `reads ${reads}\n` };
      },
      assert.fail,
      () => now,
    );
    await server.start();
    const port = ((server as unknown as { server: import('node:net').Server }).server.address() as import('node:net').AddressInfo).port;
    try {
      const get = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.deepEqual(await Promise.all([get(), get(), get()]), ['reads 1\n', 'reads 1\n', 'reads 1\n']);
      now = 999;
      assert.equal(await get(), 'reads 1\n');
      now = 1000;
      assert.equal(await get(), 'reads 2\n');
    } finally {
      await server.close();
    }
  });

  it('serves GET /metrics over HTTP, 404 elsewhere, 405 for other methods', async () => {
    const m = new UplinkMetrics('1');
    const server = new MetricsServer(
      { host: '127.0.0.1', port: 0 },
      async () => {
        m.update(STATUS, NOW);
        return { contentType: m.registry.contentType, body: await m.registry.metrics() };
      },
      assert.fail,
    );
    // Port 0: the kernel picks one; read it back from the server.
    await server.start();
    const port = (server as unknown as { server: import('node:net').Server }).server.address() as import('node:net').AddressInfo;
    try {
      const base = `http://127.0.0.1:${port.port}`;
      const r = await fetch(`${base}/metrics`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.ok(parseExposition(await r.text()).length > 20);
      assert.equal((await fetch(`${base}/other`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await server.close();
    }
  });

  it('a scrape gets through within 2 s while 10 idle connections from its own address hold slots', async () => {
    const server = new MetricsServer({ host: '127.0.0.1', port: 0 }, async () => ({ contentType: 'text/plain', body: 'ok\n' }), assert.fail);
    await server.start();
    const port = portOf(server);
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 10; i++) idle.push((await idleConnection(port)).socket);
      await settle();
      const started = performance.now();
      assert.deepEqual(await scrape(port, 2000), { status: 200, body: 'ok\n' });
      const ms = performance.now() - started;
      assert.ok(ms < 2000, `${ms} ms`);
    } finally {
      for (const s of idle) s.destroy();
      await server.close();
    }
  });

  it(`one source holds at most ${MAX_PER_SOURCE} connections: the oldest idle one goes; one answering a scrape stays`, async () => {
    let release: () => void = () => {};
    let reads = 0;
    const server = new MetricsServer(
      { host: '127.0.0.1', port: 0 },
      async () => {
        if (reads++ === 0) await new Promise<void>((r) => (release = r));
        return { contentType: 'text/plain', body: 'ok\n' };
      },
      assert.fail,
    );
    await server.start();
    const port = portOf(server);
    const open: Socket[] = [];
    try {
      // Idle ones: each beyond the cap pushes out the oldest.
      const idle = [];
      for (let i = 0; i < MAX_PER_SOURCE + 3; i++) idle.push(await idleConnection(port));
      open.push(...idle.map((c) => c.socket));
      await settle();
      const gone = idle.map((c) => c.gone());
      assert.deepEqual(gone, [...Array(3).fill(true), ...Array(MAX_PER_SOURCE).fill(false)]);
      // Connections whose scrape is being answered are not pushed out: the next one is dropped at once.
      const busy = Array.from({ length: MAX_PER_SOURCE }, () => scrape(port, 5000));
      await settle();
      assert.ok(
        idle.every((c) => c.gone()),
        'the idle ones made room for the scrapes',
      );
      const late = await idleConnection(port);
      open.push(late.socket);
      await Promise.race([late.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not dropped within 1 s')), 1000))]);
      release();
      for (const r of await Promise.all(busy)) assert.deepEqual(r, { status: 200, body: 'ok\n' });
    } finally {
      release();
      for (const s of open) s.destroy();
      await server.close();
    }
  });

  it(`all sources together hold at most ${MAX_CONNECTIONS}: a new one pushes out the oldest idle one`, async () => {
    const server = new MetricsServer({ host: '127.0.0.1', port: 0 }, async () => ({ contentType: 'text/plain', body: 'ok\n' }), assert.fail);
    await server.start();
    const port = portOf(server);
    const conns: Idle[] = [];
    try {
      // 127.0.0.0/8 is loopback: other source addresses on this host.
      for (let i = 0; i < MAX_CONNECTIONS + 2; i++) conns.push(await idleConnection(port, `127.0.0.${10 + i}`));
      await settle();
      assert.deepEqual(
        conns.map((c) => c.gone()),
        [true, true, ...Array(MAX_CONNECTIONS).fill(false)],
      );
    } finally {
      for (const c of conns) c.socket.destroy();
      await server.close();
    }
  });

  it('warns when it listens beyond loopback, not on 127.0.0.1 or ::1', async () => {
    for (const [host, warned] of [
      ['0.0.0.0', true],
      ['127.0.0.1', false],
      ['::1', false],
    ] as const) {
      const notices: string[] = [];
      const server = new MetricsServer(
        { host, port: 0 },
        async () => ({ contentType: 'text/plain', body: '' }),
        (m) => notices.push(m),
      );
      try {
        await server.start();
      } catch (err) {
        if (host === '::1' && (err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') continue;
        throw err;
      }
      await server.close();
      assert.equal(
        notices.some((m) => /beyond loopback/.test(m)),
        warned,
        `${host}: ${JSON.stringify(notices)}`,
      );
    }
  });
});

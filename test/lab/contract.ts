// Checks `uplinkd status --json` against DESIGN §4 and against the kernel's routes.
import assert from 'node:assert/strict';
import type { IpRoute } from './lab.js';

const UPLINK_KEYS = ['interface', 'loss_pct', 'name', 'priority', 'reason', 'rtt_ms', 'since', 'state', 'targets', 'weight'];
const STATES = ['init', 'up', 'degraded', 'down', 'detached'];

function isNumberOrNull(v: unknown): boolean {
  return v === null || (typeof v === 'number' && Number.isFinite(v));
}

/** Asserts the status has every DESIGN §4 field with the right type, and returns it typed. */
export function assertStatusContract(json: unknown): StatusJson {
  const s = json as StatusJson;
  assert.ok(Array.isArray(s.uplinks), 'uplinks is a list');
  assert.ok(Array.isArray(s.routes), 'routes is a list');
  for (const u of s.uplinks) {
    for (const k of UPLINK_KEYS) assert.ok(k in u, `uplink has ${k}`);
    assert.equal(typeof u.name, 'string');
    assert.equal(typeof u.interface, 'string');
    assert.ok(STATES.includes(u.state), `state ${u.state}`);
    assert.equal(typeof u.priority, 'number');
    assert.ok(Number.isInteger(u.weight) && u.weight >= 0 && u.weight <= 100, `weight ${u.weight}`);
    assert.ok(isNumberOrNull(u.rtt_ms));
    assert.ok(typeof u.loss_pct === 'number' && u.loss_pct >= 0 && u.loss_pct <= 100);
    assert.ok(!Number.isNaN(Date.parse(u.since)) && u.since === new Date(u.since).toISOString(), `since ${u.since}`);
    assert.equal(typeof u.reason, 'string');
    assert.ok(Array.isArray(u.families) && u.families.length > 0, 'families is a non-empty list');
    for (const f of u.families) {
      assert.ok(f.family === 'ipv4' || f.family === 'ipv6', `family ${f.family}`);
      assert.ok(STATES.includes(f.state));
      assert.ok(Number.isInteger(f.weight) && f.weight >= 0 && f.weight <= 100);
    }
    for (const t of u.targets) {
      assert.equal(typeof t.target, 'string');
      assert.equal(typeof t.ok, 'boolean');
      assert.ok(isNumberOrNull(t.rtt_ms));
      assert.equal(typeof t.loss_pct, 'number');
    }
  }
  const total = s.uplinks.reduce((a, u) => a + u.weight, 0);
  assert.ok(total === 0 || total === 100, `weights sum to 100, not ${total}`);
  for (const r of s.routes) {
    assert.equal(typeof r.destination, 'string');
    assert.equal(typeof r.table, 'number');
    for (const n of r.nexthops) {
      assert.equal(typeof n.uplink, 'string');
      assert.equal(typeof n.weight, 'number');
    }
  }
  return s;
}

/** Asserts the status's routes are exactly the kernel's (`ip -j route show table T`). */
export function assertRoutesMatchKernel(s: StatusJson, kernel: IpRoute[], table: number, uplinkByDev: Record<string, string>): void {
  const fromKernel = kernel
    .filter((r) => r.dst === 'default')
    .map((r) => ({
      destination: '0.0.0.0/0',
      table,
      uplinks: (r.nexthops ? r.nexthops.map((n) => n.dev) : [r.dev!]).map((d) => uplinkByDev[d] ?? d).sort(),
    }));
  const fromStatus = s.routes
    .filter((r) => r.destination === '0.0.0.0/0')
    .map((r) => ({ destination: r.destination, table: r.table, uplinks: r.nexthops.map((n) => n.uplink).sort() }));
  assert.deepEqual(fromStatus, fromKernel);
  // The uplinks that carry new flows are the ones in the kernel's route.
  const carrying = s.uplinks
    .filter((u) => u.weight > 0)
    .map((u) => u.name)
    .sort();
  if (fromKernel.length) assert.deepEqual(carrying, fromKernel[0]!.uplinks);
}

export interface StatusJson {
  uplinks: {
    name: string;
    interface: string;
    state: string;
    priority: number;
    weight: number;
    rtt_ms: number | null;
    loss_pct: number;
    since: string;
    reason: string;
    targets: { target: string; ok: boolean; rtt_ms: number | null; jitter_ms?: number | null; loss_pct: number; error?: string }[];
    families: { family: string; state: string; weight: number; since: string; reason: string }[];
  }[];
  routes: { destination: string; table: number; nexthops: { uplink: string; weight: number }[] }[];
  steering?: { all_down: boolean; reason: string };
}

// config/: the routing keys of issue 5 (mechanism, resilient, dampening, flags), with their
// problems reported at their positions.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';

const BASE = `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    targets: [ { icmp: 198.51.100.10 } ]
routing:
`;

function problems(routing: string): string[] {
  const r = parseConfig(BASE + routing);
  return r.ok ? [] : r.problems.map((p) => `${p.line}:${p.col} ${p.code}`);
}

it('defaults: auto, 128 buckets, 120s idle, flags off, no dampening', () => {
  const r = parseConfig(`${BASE}  table: 100\n`);
  assert.ok(r.ok);
  const x = r.config.routing;
  assert.deepEqual([x.mechanism, x.resilient, x.removeOnExit, x.sourceRules, x.conntrackFlush, x.dampening], [
    'auto', { buckets: 128, idleTimerMs: 120_000 }, false, false, false, undefined,
  ]);
});

it('reads every key', () => {
  const r = parseConfig(`${BASE}  mechanism: multipath
  resilient: { buckets: 64, idle_timer: 30s }
  remove_on_exit: true
  source_rules: true
  conntrack_flush: true
  dampening: { half_life: 15s }
`);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  const x = r.config.routing;
  assert.deepEqual([x.mechanism, x.resilient, x.removeOnExit, x.sourceRules, x.conntrackFlush], ['multipath', { buckets: 64, idleTimerMs: 30_000 }, true, true, true]);
  assert.deepEqual(x.dampening, { penalty: 1000, suppress: 2000, reuse: 750, halfLifeMs: 15_000, maxSuppressMs: 300_000 });
});

it('reports bad values where they are', () => {
  assert.deepEqual(problems('  mechanism: ecmp\n'), ['7:14 BAD_VALUE']);
  assert.deepEqual(problems('  resilient: { buckets: 1, idle_timer: 500ms }\n'), ['7:25 BAD_VALUE', '7:40 BAD_VALUE']);
  assert.deepEqual(problems('  remove_on_exit: yes please\n'), ['7:19 WRONG_TYPE']);
  assert.deepEqual(problems('  dampening: { suppress: 500, reuse: 750 }\n'), ['7:38 BAD_VALUE']);
  assert.deepEqual(problems('  table: main\n  source_rules: true\n'), ['8:17 BAD_VALUE']);
});

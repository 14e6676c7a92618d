// config/: the routing keys (mark_mask, hash_policy, failback.drain, dampening, flags), with
// their problems reported at their positions; keys of earlier versions name what replaced them.
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

it('defaults: mask 0x3f00, hash policy set, no drain, flags off, no dampening', () => {
  const r = parseConfig(`${BASE}  table: 100\n`);
  assert.ok(r.ok);
  const x = r.config.routing;
  assert.deepEqual(
    [x.markMask, x.hashPolicy, x.failback.drainMs, x.removeOnExit, x.sourceRules, x.conntrackFlush, x.dampening],
    [0x3f00, 'set', undefined, false, false, false, undefined],
  );
});

it('reads every key', () => {
  const r = parseConfig(`${BASE}  mark_mask: 0xff0000
  hash_policy: keep
  failback: { drain: 10m }
  remove_on_exit: true
  source_rules: true
  conntrack_flush: true
  dampening: { half_life: 15s }
`);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
  const x = r.config.routing;
  assert.deepEqual(
    [x.markMask, x.hashPolicy, x.failback.drainMs, x.removeOnExit, x.sourceRules, x.conntrackFlush],
    [0xff0000, 'keep', 600_000, true, true, true],
  );
  assert.deepEqual(x.dampening, { penalty: 1000, suppress: 2000, reuse: 750, halfLifeMs: 15_000, maxSuppressMs: 300_000 });
});

it('reports bad values where they are', () => {
  assert.deepEqual(problems('  remove_on_exit: yes please\n'), ['7:19 WRONG_TYPE']);
  assert.deepEqual(problems('  dampening: { suppress: 500, reuse: 750 }\n'), ['7:38 BAD_VALUE']);
  assert.deepEqual(problems('  mark_mask: 0\n'), ['7:14 BAD_VALUE']);
  assert.deepEqual(problems('  mark_mask: lots\n'), ['7:14 WRONG_TYPE']);
  assert.deepEqual(problems('  hash_policy: maybe\n'), ['7:16 BAD_VALUE']);
  assert.deepEqual(problems('  failback: { drain: soon }\n'), ['7:22 BAD_DURATION']);
});

it('the keys of resilient groups are errors that name what replaced them', () => {
  const r = parseConfig(`${BASE}  mechanism: resilient\n  resilient: { buckets: 128 }\n`);
  assert.ok(!r.ok);
  assert.deepEqual(
    r.problems.map((p) => `${p.line}:${p.col} ${p.code}`),
    ['7:3 REMOVED_KEY', '8:3 REMOVED_KEY'],
  );
  assert.match(r.problems[0]!.message, /routing\.mechanism was removed: .*conntrack marks \(routing\.mark_mask\)/);
});

it('a mark mask with too few bits for the uplinks is an error at the mask', () => {
  const two = `${BASE.replace('routing:\n', '')}  - name: dsl
    interface: wan2
    targets: [ { icmp: 198.51.100.10 } ]
  - name: lte
    interface: wan3
    targets: [ { icmp: 198.51.100.10 } ]
routing:
  mark_mask: 0x100
`;
  const r = parseConfig(two);
  assert.ok(!r.ok);
  assert.deepEqual(
    r.problems.map((p) => `${p.line}:${p.col} ${p.code}`),
    ['13:14 BAD_VALUE'],
  );
  assert.match(r.problems[0]!.message, /0x100 has room for 1 uplinks, not 3/);
});

// Issue 10, reproduction 11: the kernel's own route to a connected subnet was replaced, then lost.
it('table main with a destination holding an uplink gateway (a connected subnet) is refused', () => {
  assert.deepEqual(problems('  table: main\n  destinations: [default, 100.64.1.0/24]\n'), ['8:27 BAD_PREFIX']);
  assert.deepEqual(problems('  table: 100\n  destinations: [default, 100.64.1.0/24]\n'), [], 'another table is fine: main answers first');
});

it('every count has a range: more than 1024 destinations are refused', () => {
  const many = Array.from({ length: 1025 }, (_, i) => `203.0.${113 + (i >> 8)}.${i & 255}`).join(', ');
  assert.deepEqual(problems(`  destinations: [${many}]\n`), ['7:17 BAD_VALUE']);
});

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { expectProblem, GOOD_UPLINK, validate } from './validate.js';

it('YAML syntax errors are positioned', async () => {
  await expectProblem('uplinks:\n  - name: fiber\n    interface: [wan1\n', 4, 1, 'YAML_SYNTAX');
});

it('a duplicate key is a YAML error at the second key', async () => {
  await expectProblem('probe:\n  down: 3\n  down: 4\n', 3, 3, 'YAML_SYNTAX', /unique/i);
});

// Issue 10, reproduction 11: valid YAML rejected, and messages that spoke of the library.
it('aliases and merge keys are plain YAML: accepted, anchors kept under x- keys', async () => {
  const r = await validate(`x-probe: &fast
  interval: 200ms
  timeout: 200ms
x-targets: &targets
  - icmp: 198.51.100.10
uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    targets: *targets
    probe:
      <<: *fast
      down: 2
  - name: dsl
    interface: wan2
    gateway: 100.64.2.1
    targets: *targets
    probe: *fast
`);
  assert.equal(r.code, 0, r.lines.join('\n'));
  assert.match(r.stdout, /valid \(2 uplinks\)/);
});

it('a problem in an aliased value is reported where the value was written', async () => {
  await expectProblem(`x-probe: &slow { interval: 2h }\nprobe: *slow\n${'uplinks:\n'}${GOOD_UPLINK}`, 1, 28, 'BAD_DURATION');
});

it('aliases of aliases (a "billion laughs") take linear work: never expanded', async () => {
  const levels = Array.from({ length: 40 }, (_, i) => `x-l${i + 1}: &l${i + 1} [*l${i}, *l${i}, *l${i}]`).join('\n');
  const r = await validate(`x-l0: &l0 [a]\n${levels}\nuplinks:\n${GOOD_UPLINK}`);
  assert.equal(r.code, 0, 'linear work: valid, the x- keys are not read');
});

it("two documents in one file: said in the operator's words", async () => {
  await expectProblem(`uplinks:\n${GOOD_UPLINK}---\nprobe: {}\n`, 7, 1, 'YAML_SYNTAX', /more than one YAML document/);
  const r = await validate(`uplinks:\n${GOOD_UPLINK}---\nprobe: {}\n`);
  assert.doesNotMatch(r.lines.join('\n'), /parseAllDocuments|YAML\./);
});

it('deep nesting: "nested too deeply", never "Maximum call stack size exceeded"', async () => {
  for (const depth of [100, 5000, 100_000]) {
    const r = await validate(`uplinks: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
    assert.equal(r.code, 1);
    assert.match(r.lines.join('\n'), /YAML_SYNTAX: nested (too deeply|deeper than 64 levels)/, `depth ${depth}`);
    assert.doesNotMatch(r.lines.join('\n'), /call stack|at \w+ \(/);
  }
});

it('an alias of an anchor in an earlier item or pair of the same list or map', async () => {
  const r = await validate(`uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    targets: [&t1 { icmp: 198.51.100.10 }, { tcp: "198.51.100.11:443" }]
  - name: dsl
    interface: wan2
    gateway: 100.64.2.1
    targets: [*t1]
    probe: { interval: &i 300ms, <<: { timeout: *i } }
`);
  assert.equal(r.code, 0, r.lines.join('\n'));
});

it('an alias with nothing anchored before it, and a merge of a non-mapping, are positioned problems', async () => {
  await expectProblem(`probe: *nowhere\nuplinks:\n${GOOD_UPLINK}`, 1, 8, 'YAML_SYNTAX');
  await expectProblem(`x-n: &n 5\nprobe: { <<: *n }\nuplinks:\n${GOOD_UPLINK}`, 2, 14, 'YAML_SYNTAX', /merge key/);
});

// config/: the `mptcp:` section through parseConfig: the defaults, id_base's range for the
// number of uplinks, and the source rules it needs; every problem at its line and column.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';

/** Two uplinks; what a test appends starts on line 4. */
const BASE = `uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, targets: [icmp: 198.51.100.10] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
`;

describe('config: mptcp', () => {
  it('absent: no mptcp key, and no source rules unless asked for', () => {
    const r = parseConfig(BASE);
    assert.ok(r.ok);
    assert.equal('mptcp' in r.config, false);
    assert.equal(r.config.routing.sourceRules, false);
  });

  const good: [string, string, number][] = [
    ['`mptcp: {}` takes id_base 100', 'mptcp: {}\n', 100],
    ['id_base 200', 'mptcp: { id_base: 200 }\n', 200],
    ['the highest id_base two uplinks leave room for (252..255)', 'mptcp: { id_base: 252 }\n', 252],
    ['routing.source_rules: true written out', 'routing: { source_rules: true }\nmptcp: {}\n', 100],
  ];
  for (const [name, text, idBase] of good) {
    it(name, () => {
      const r = parseConfig(BASE + text);
      assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
      assert.deepEqual(r.config.mptcp, { idBase });
      assert.equal(r.config.routing.sourceRules, true);
    });
  }

  const bad: [string, string, string][] = [
    ['id_base too high for two uplinks', 'mptcp: { id_base: 253 }\n', '4:19 BAD_VALUE mptcp.id_base must be between 1 and 252, not 253'],
    ['id_base 0 (the initial subflow)', 'mptcp: { id_base: 0 }\n', '4:19 BAD_VALUE mptcp.id_base must be between 1 and 252, not 0'],
    ['id_base not a number', 'mptcp: { id_base: high }\n', '4:19 WRONG_TYPE mptcp.id_base must be a whole number'],
    ['not a mapping', 'mptcp: 5\n', '4:8 WRONG_TYPE mptcp must be a mapping (`mptcp: {}` for the defaults)'],
    [
      'routing.source_rules not a boolean: its type only',
      'routing: { source_rules: yes }\nmptcp: {}\n',
      '4:26 WRONG_TYPE routing.source_rules must be true or false',
    ],
    [
      'routing.source_rules: false',
      'routing: { source_rules: false }\nmptcp: {}\n',
      '4:26 BAD_VALUE routing.source_rules cannot be false with mptcp: each subflow must leave through the uplink its address belongs to',
    ],
  ];
  for (const [name, text, problem] of bad) {
    it(name, () => {
      const r = parseConfig(BASE + text);
      assert.ok(!r.ok, name);
      assert.deepEqual(
        r.problems.map((p) => `${p.line}:${p.col} ${p.code} ${p.message}`),
        [problem],
      );
    });
  }

  it("the kernel's 8 endpoints: 8 IPv4 uplinks fit, 4 tunnels (both families each) fit, a fifth does not", () => {
    const text = (lines: string[]): string => `uplinks:\n${lines.join('')}mptcp: {}\n`;
    const v4 = Array.from({ length: 8 }, (_, i) => `  - { name: u${i}, interface: wan${i}, gateway: 100.64.${i}.1, targets: [icmp: 198.51.100.10] }\n`);
    const fits = parseConfig(text(v4));
    assert.ok(fits.ok, fits.ok ? '' : JSON.stringify(fits.problems));
    const tunnels = Array.from({ length: 5 }, (_, i) => `  - { name: t${i}, interface: tun${i}, targets: [icmp: 198.51.100.10] }\n`);
    assert.ok(parseConfig(text(tunnels.slice(0, 4))).ok);
    const over = parseConfig(text(tunnels));
    assert.ok(!over.ok);
    assert.deepEqual(
      over.problems.map((p) => `${p.line}:${p.col} ${p.code} ${p.message}`),
      [`7:8 BAD_VALUE mptcp: these uplinks need 10 endpoints (one per uplink and family with a next hop), more than the 8 the kernel's path manager holds`],
    );
  });

  it('an unknown key, at the key', () => {
    const r = parseConfig(`${BASE}mptcp: { idbase: 200 }\n`);
    assert.ok(!r.ok);
    assert.deepEqual(
      r.problems.map((p) => `${p.line}:${p.col} ${p.code}`),
      ['4:10 UNKNOWN_KEY'],
    );
    assert.match(r.problems[0]!.message, /^unknown key "idbase" in mptcp \(known: id_base\)$/);
  });
});

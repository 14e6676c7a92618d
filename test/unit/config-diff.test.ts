// config/diff: what a reload changes, as a table of config pairs (built with parseConfig)
// and the diff worked out by hand. Each uplink lands in one list at most, the strongest
// change first: path (interface, gateways, targets), then probe settings, then priority/weight.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffConfig, parseConfig } from '../../src/config/index.js';
import type { ConfigDiff } from '../../src/types/config-diff.js';
import type { Config } from '../../src/types/index.js';

/** An uplink block; `extra` lines are indented four spaces, as the uplink's own keys. */
const uplink = (name: string, iface: string, extra = ''): string =>
  `  - name: ${name}\n    interface: ${iface}\n    gateway: 100.64.${iface.slice(3)}.1\n    targets:\n      - icmp: 198.51.100.${iface.slice(3)}\n${extra}`;

const FIBER = uplink('fiber', 'wan1');
const LTE = uplink('lte', 'wan2');
const BASE = `uplinks:\n${FIBER}${LTE}`;

function config(text: string): Config {
  const r = parseConfig(text);
  assert.ok(r.ok, `${text}\n${JSON.stringify(r.ok ? [] : r.problems)}`);
  return r.config;
}

const NONE: ConfigDiff = {
  added: [],
  removed: [],
  changed: [],
  retuned: [],
  reweighted: [],
  routingChanged: false,
  socketChanged: false,

  mptcpChanged: false,
};

describe('config diff', () => {
  const rows: [string, string, string, Partial<ConfigDiff>][] = [
    ['the same text: nothing', BASE, BASE, {}],
    [
      'defaults written out are no change',
      BASE,
      `uplinks:\n${uplink('fiber', 'wan1', '    priority: 1\n    weight: 1\n    probe:\n      interval: 1s\n')}${LTE}`,
      {},
    ],
    // Their own tables move with their position: applied by the router, not a restart.
    ['the same uplinks in another order: nothing', BASE, `uplinks:\n${LTE}${FIBER}`, {}],
    ['an uplink added', BASE, `${BASE}${uplink('dsl', 'wan3')}`, { added: ['dsl'] }],
    ['an uplink removed', BASE, `uplinks:\n${FIBER}`, { removed: ['lte'] }],
    ['renamed on the same interface: removed and added', BASE, `uplinks:\n${uplink('fibre', 'wan1')}${LTE}`, { added: ['fibre'], removed: ['fiber'] }],
    ['another gateway: changed', BASE, `uplinks:\n${FIBER.replace('100.64.1.1', '100.64.1.254')}${LTE}`, { changed: ['fiber'] }],
    ['a gateway6 added: changed', BASE, `uplinks:\n${uplink('fiber', 'wan1', '    gateway6: 2001:db8:1::1\n')}${LTE}`, { changed: ['fiber'] }],
    ['another interface: changed', BASE, `uplinks:\n${FIBER}${LTE.replace('interface: wan2', 'interface: wan9')}`, { changed: ['lte'] }],
    ['a second target: changed', BASE, `uplinks:\n${FIBER}${LTE}      - tcp: 203.0.113.5:443\n`, { changed: ['lte'] }],
    ['its own probe interval: retuned', BASE, `uplinks:\n${uplink('fiber', 'wan1', '    probe:\n      interval: 2s\n')}${LTE}`, { retuned: ['fiber'] }],
    ['the top-level probe block reaches every uplink', BASE, `${BASE}probe:\n  down: 5\n`, { retuned: ['fiber', 'lte'] }],
    ['priority: reweighted', BASE, `uplinks:\n${uplink('fiber', 'wan1', '    priority: 2\n')}${LTE}`, { reweighted: ['fiber'] }],
    ['weight: reweighted', BASE, `uplinks:\n${FIBER}${uplink('lte', 'wan2', '    weight: 3\n')}`, { reweighted: ['lte'] }],
    [
      'probe and priority: retuned only',
      BASE,
      `uplinks:\n${uplink('fiber', 'wan1', '    priority: 2\n    probe:\n      up: 2\n')}${LTE}`,
      { retuned: ['fiber'] },
    ],
    [
      'gateway and weight: changed only',
      BASE,
      `uplinks:\n${uplink('fiber', 'wan1', '    weight: 4\n').replace('100.64.1.1', '100.64.1.2')}${LTE}`,
      { changed: ['fiber'] },
    ],
    ['routing.table: routing changed, uplinks stay', BASE, `${BASE}routing:\n  table: 200\n`, { routingChanged: true }],
    ['routing.failback.hold: routing changed', BASE, `${BASE}routing:\n  failback:\n    hold: 1m\n`, { routingChanged: true }],
    ['routing written out as its defaults: no change', BASE, `${BASE}routing:\n  table: 100\n  destinations: [default]\n`, {}],
    ['control.socket moved', BASE, `${BASE}control:\n  socket: /run/uplinkd/other.sock\n`, { socketChanged: true }],
    ['mptcp: added', BASE, `${BASE}mptcp: {}\n`, { mptcpChanged: true, routingChanged: true }],
    [
      'several at once: added in the new order, removed in the old',
      `uplinks:\n${uplink('a', 'wan1')}${uplink('b', 'wan2')}${uplink('c', 'wan3')}${uplink('d', 'wan4')}`,
      `uplinks:\n${uplink('f', 'wan6')}${uplink('d', 'wan4', '    weight: 2\n')}${uplink('e', 'wan5')}${uplink('b', 'wan7')}`,
      { added: ['f', 'e'], removed: ['a', 'c'], changed: ['b'], reweighted: ['d'] },
    ],
  ];
  for (const [what, before, after, want] of rows) {
    it(what, () => assert.deepEqual(diffConfig(config(before), config(after)), { ...NONE, ...want }));
  }
});

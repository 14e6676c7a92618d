// Issue 24: `gateway: auto` and `gateway6: auto` are valid; the parsed config keeps `auto`,
// which only track/gateways.ts turns into an address.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';

it('auto is accepted for both keys, also with routing.table main', () => {
  const parsed = parseConfig(`uplinks:
  - name: lte
    interface: wwan0
    gateway: auto
    gateway6: auto
    targets: [ { icmp: 198.51.100.10 } ]
routing: { table: main, destinations: [default, 100.64.2.0/24] }
`);
  assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
  assert.equal(parsed.config.uplinks[0]!.gateway, 'auto');
  assert.equal(parsed.config.uplinks[0]!.gateway6, 'auto');
});

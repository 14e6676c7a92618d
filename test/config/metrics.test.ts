// config/: metrics.listen: an address literal and a port, or a positioned problem.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';

const BASE = `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    targets: [ { icmp: 198.51.100.10 } ]
`;

it('off unless set; IPv4 and bracketed IPv6 literals with a port', () => {
  const off = parseConfig(BASE);
  assert.ok(off.ok);
  assert.equal(off.config.metrics, undefined);
  const rows: [string, { host: string; port: number }][] = [
    ['127.0.0.1:9469', { host: '127.0.0.1', port: 9469 }],
    ['0.0.0.0:9100', { host: '0.0.0.0', port: 9100 }],
    ['[::1]:9469', { host: '::1', port: 9469 }],
    ['[2001:db8::1]:1', { host: '2001:db8::1', port: 1 }],
  ];
  for (const [listen, want] of rows) {
    const r = parseConfig(`${BASE}metrics: { listen: "${listen}" }\n`);
    assert.ok(r.ok, listen);
    assert.deepEqual(r.config.metrics, want);
  }
});

it('refuses names, missing ports, unbracketed IPv6 and ports out of range, at the value', () => {
  for (const listen of ['localhost:9469', '127.0.0.1', '::1:9469', '[127.0.0.1]:9469', '127.0.0.1:0', '127.0.0.1:65536', '300.1.1.1:9469', ':9469']) {
    const r = parseConfig(`${BASE}metrics: { listen: "${listen}" }\n`);
    assert.ok(!r.ok, listen);
    assert.deepEqual(
      r.problems.map((p) => `${p.line}:${p.col} ${p.code}`),
      ['6:20 BAD_VALUE'],
      listen,
    );
  }
  const missing = parseConfig(`${BASE}metrics: {}\n`);
  assert.ok(!missing.ok);
  assert.equal(missing.problems[0]?.code, 'MISSING_KEY');
});

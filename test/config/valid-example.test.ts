import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { it } from 'node:test';
import { validate } from './validate.js';

const ROOT = resolve(import.meta.dirname, '../../..');

it('the DESIGN §3 example is valid (exit 0)', async () => {
  const r = await validate(readFileSync(resolve(ROOT, 'systemd/uplinkd.example.yaml'), 'utf8'));
  assert.equal(r.code, 0, r.lines.join('\n'));
  assert.match(r.stdout, /valid \(1 uplinks\)/);
});

it('a minimal config is valid', async () => {
  const r = await validate('uplinks:\n  - { name: a, interface: eth0, targets: [icmp: 198.51.100.1] }\n');
  assert.equal(r.code, 0, r.lines.join('\n'));
});

it("the README's config example is valid", async () => {
  const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'README has a yaml block');
  const r = await validate(block[1]!);
  assert.equal(r.code, 0, r.lines.join('\n'));
});

it('the two-uplink example with hooks and metrics (systemd/) is valid', async () => {
  const r = await validate(readFileSync(resolve(ROOT, 'systemd/uplinkd.two-uplinks.yaml'), 'utf8'));
  assert.equal(r.code, 0, r.lines.join('\n'));
  assert.match(r.stdout, /valid \(2 uplinks\)/);
});

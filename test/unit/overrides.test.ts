// Operator overrides through the hub: `drain`, `prefer` and `resume` requests move new flows
// once the routes are in, show in status with who set them, and outlive a restart through the
// override store; the store's file format is checked before it is trusted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseRequest } from '../../src/control/protocol.js';
import { memoryOverrides } from '../../src/daemon/fakes.js';
import { fileOverrideStore, overridesPathFor, parseOverrides } from '../../src/daemon/override-store.js';
import { setup } from './fake-daemon.js';

const managed = (kernel: ReturnType<typeof setup>['kernel']) => kernel.routeTable.find((r) => r.table === 100)?.nexthops.map((n) => n.ifindex);

describe('overrides through the daemon', () => {
  it('drain moves new flows off at once, status says who; resume brings them back; a restart keeps it', async () => {
    const store = memoryOverrides();
    const first = setup(undefined, { overrides: store });
    await first.daemon.start();
    for (let i = 0; i < 2; i++) first.round('fiber', true, true), first.round('dsl', true);
    await first.settle();
    assert.deepEqual(managed(first.kernel), [11]);

    const drained = await first.daemon.handle({ cmd: 'drain', uplink: 'fiber' }, 'alice (uid 1000)');
    assert.ok(drained.ok && 'done' in drained, JSON.stringify(drained));
    assert.match(drained.done, /^fiber drained; new flows: .*drained: fiber/);
    assert.deepEqual(managed(first.kernel), [12], 'routes moved before the reply');
    const s = await first.daemon.status();
    const fiber = s.uplinks.find((u) => u.name === 'fiber')!;
    assert.deepEqual([fiber.state, fiber.weight, fiber.override?.kind, fiber.override?.by], ['up', 0, 'drain', 'alice (uid 1000)']);
    assert.deepEqual(Object.keys(store.saved.at(-1)!), ['fiber']);
    assert.ok(
      first.events.some((e) => e.event === 'steering' && e.shares[0]?.uplink === 'dsl'),
      'hooks hear of the move',
    );
    await first.daemon.stop();

    // A restart: the same store, a new daemon; fiber answers, but stays drained.
    const second = setup(undefined, { overrides: store });
    await second.daemon.start();
    for (let i = 0; i < 2; i++) second.round('fiber', true, true), second.round('dsl', true);
    await second.settle();
    assert.deepEqual(managed(second.kernel), [12]);
    assert.ok(second.logs.some((l) => l.event === 'override' && l.restored === true && l.level === 40));
    const resumed = await second.daemon.handle({ cmd: 'resume', uplink: 'fiber' }, 'root (uid 0)');
    assert.ok(resumed.ok);
    await second.settle();
    assert.deepEqual(managed(second.kernel), [11]);
    assert.deepEqual(store.saved.at(-1), {});
    await second.daemon.stop();
  });

  it('refuses what it cannot do, changing nothing', async () => {
    const { daemon, settle } = setup(undefined, { overrides: memoryOverrides() });
    await daemon.start();
    await settle();
    const rows: [Parameters<typeof daemon.handle>[0], RegExp][] = [
      [{ cmd: 'drain', uplink: 'lte' }, /no uplink named "lte" \(fiber, dsl\)/],
      [{ cmd: 'resume', uplink: 'fiber' }, /fiber is neither drained nor preferred/],
    ];
    for (const [req, error] of rows) {
      const r = await daemon.handle(req, 'root (uid 0)');
      assert.ok(!r.ok);
      assert.match(r.error, error);
    }
    await daemon.stop();
  });
});

describe('override requests and the state file', () => {
  const rows: [string, string][] = [
    ['{"cmd":"drain","uplink":"fiber"}', '{"cmd":"drain","uplink":"fiber"}'],
    ['{"cmd":"drain","uplink":"fiber","now":true}', '{"cmd":"drain","uplink":"fiber","now":true}'],
    ['{"cmd":"prefer","uplink":"dsl","now":true}', 'problem: "now" is a boolean, for drain only'],
    ['{"cmd":"resume"}', 'problem: resume needs an "uplink" name'],
    ['{"cmd":"drain","uplink":7}', 'problem: drain needs an "uplink" name'],
  ];
  for (const [line, want] of rows) {
    it(line, () => {
      const r = parseRequest(line);
      assert.equal('problem' in r ? `problem: ${r.problem}` : JSON.stringify(r), want);
    });
  }

  it('the file: written whole, 0600, read back; a file that is not overrides is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uplinkd-overrides-'));
    try {
      const path = overridesPathFor(join(dir, 'uplinkd.sock'));
      assert.equal(path, join(dir, 'uplinkd.overrides.json'));
      const store = fileOverrideStore(path);
      assert.equal((await store.load()).size, 0, 'no file: none');
      await store.save({ fiber: { kind: 'drain', by: 'root (uid 0)', since: '2026-11-22T10:00:00.000Z' } });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.deepEqual([...(await store.load())], [['fiber', { kind: 'drain', by: 'root (uid 0)', since: '2026-11-22T10:00:00.000Z' }]]);
      writeFileSync(path, '{"fiber":{"kind":"reboot","by":"x","since":"y"}}');
      await assert.rejects(store.load(), /entry "fiber" is not an override/);
      assert.throws(() => parseOverrides('[]'), /not a JSON object/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

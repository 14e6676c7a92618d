// Lab: the real netlink kernel side of route/, where the fake cannot stand in.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { pinningRuleset, pinningSpecFor, TABLE_FAMILY, TABLE_NAME } from '../../src/nft/index.js';
import { Lab, ROOT } from './lab.js';

let lab: Lab;
before(async () => {
  lab = await Lab.create();
});
after(async () => lab?.destroy());

it('concurrent dumps (status while a route change runs) all succeed', { timeout: 30_000 }, async () => {
  const kernel = join(ROOT, 'dist/src/route/index.js');
  const script = `
    const { NetlinkKernel } = await import(${JSON.stringify(kernel)});
    const k = new NetlinkKernel();
    const runs = [];
    for (let i = 0; i < 20; i++) runs.push(k.links(), k.routes(4), k.rules(4), k.routes(6), k.rules(6));
    const out = await Promise.all(runs);
    k.close();
    console.log(JSON.stringify(out.map((r) => r.size ?? r.length)));`;
  const r = await lab.exec('gw', process.execPath, ['--input-type=module', '-e', script]);
  const sizes = JSON.parse(r.stdout) as number[];
  assert.equal(sizes.length, 100);
  // Every links() answer lists the same interfaces (lo, lan0, wan1, wan2).
  assert.deepEqual([...new Set(sizes.filter((_, i) => i % 5 === 0))], [4]);
});

// Issue 26: every character config/ allows in an interface name goes through nft as uplinkd
// writes it ("@" unquoted would be a set reference). `nft -c`, in the lab's gateway namespace:
// the kernel checks the transaction and nothing is loaded.
it("the pinning ruleset of an interface named with every allowed character passes the kernel's check", { timeout: 30_000 }, async () => {
  const names = ['a.b_c-d@e0', 'AZaz09._-@', 'abcdefghijklmno'];
  const yaml = `uplinks:\n${names.map((n, i) => `  - { name: u${i}, interface: '${n}', gateway: 100.64.${i + 1}.1, targets: [icmp: 198.51.100.10, tcp: "198.51.100.11:443"], probe: { passive: true } }\n`).join('')}`;
  const parsed = parseConfig(yaml);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.problems));
  const script = pinningRuleset(pinningSpecFor(parsed.config));
  for (const n of names) assert.ok(script.includes(`oifname "${n}" counter`), n);
  const file = join(lab.dir, 'pinning.nft');
  writeFileSync(file, `add table ${TABLE_FAMILY} ${TABLE_NAME}\n${script}`);
  const r = await lab.exec('gw', 'nft', ['-c', '-f', file], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  const tables = (await lab.exec('gw', 'nft', ['list', 'tables'])).stdout;
  assert.doesNotMatch(tables, new RegExp(`table ${TABLE_FAMILY} ${TABLE_NAME}`), 'check mode loads nothing');
});

// The emptying commands in front of each load name what the listing found: a chain or counter
// made by hand in uplinkd's table may be named by a keyword or hold a quote, and named so it
// broke every load after (retried forever). Now they go by handle.
it('a load replaces chains and counters made by hand with names nft cannot read back', { timeout: 30_000 }, async () => {
  const t = { family: TABLE_FAMILY, table: TABLE_NAME };
  const file = join(lab.dir, 'odd.json');
  // No table object: nft 1.0.6 would declare it with flags 0, which a persistent table refuses.
  writeFileSync(
    file,
    JSON.stringify({ nftables: [{ chain: { ...t, name: 'counter' } }, { chain: { ...t, name: 'we ird"}x' } }, { counter: { ...t, name: 'c;x' } }] }),
  );
  const nft = join(ROOT, 'dist/src/nft/index.js');
  const script = `
    const { execFileSync } = await import('node:child_process');
    const { NftPinningTable } = await import(${JSON.stringify(nft)});
    const first = new NftPinningTable();
    await first.load('add counter ${TABLE_FAMILY} ${TABLE_NAME} new_a');
    first.release();
    execFileSync('nft', ['-j', '-f', ${JSON.stringify(file)}]);
    const listed = execFileSync('nft', ['list', 'table', '${TABLE_FAMILY}', '${TABLE_NAME}'], { encoding: 'utf8' });
    const next = new NftPinningTable();
    await next.load('add counter ${TABLE_FAMILY} ${TABLE_NAME} new_b');
    console.log(JSON.stringify({ listed, shape: await next.shape() }));
    await next.remove();
    next.release();`;
  const r = await lab.exec('gw', process.execPath, ['--input-type=module', '-e', script], { reject: false });
  assert.equal(r.exitCode, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { listed: string; shape: unknown };
  assert.match(out.listed, /chain we ird"\}x/, 'the odd chain was there before the load');
  assert.deepEqual(out.shape, { chains: 0, rules: 0, counters: 1, sets: 0 });
});

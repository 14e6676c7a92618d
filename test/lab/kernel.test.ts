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

it('a dump of named tables reads those tables only, as a full dump has them', { timeout: 60_000 }, async () => {
  // 20k routes in a table uplinkd does not own, beside a few in ones it asks for.
  const batch = Array.from({ length: 20_000 }, (_, i) => `route add 100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 dev wan1 table 5000`);
  batch.push('route add 198.51.100.0/24 via 100.64.1.1 dev wan1 table 100', 'route add default via 100.64.2.1 dev wan2 table 1100 metric 7');
  batch.push('route add 2001:db8:1::/64 dev wan1 table 100');
  await lab.exec('gw', 'ip', ['-batch', '-'], { input: `${batch.join('\n')}\n` });
  const kernel = join(ROOT, 'dist/src/route/index.js');
  const script = `
    const { NetlinkKernel } = await import(${JSON.stringify(kernel)});
    const k = new NetlinkKernel();
    const key = (r) => JSON.stringify(r);
    const out = {};
    for (const f of [4, 6]) {
      const all = (await k.routes(f)).filter((r) => [100, 1100, 4242].includes(r.table)).map(key).sort();
      const named = (await k.routes(f, [100, 1100, 4242])).map(key).sort();
      out[f] = { all, named };
    }
    k.close();
    const { TableRouteDumper } = await import(${JSON.stringify(join(ROOT, 'dist/src/route/table-dump.js'))});
    const d = new TableRouteDumper();
    await d.routes(4, [100, 1100]);
    out.read = d.messagesRead;
    d.close();
    console.log(JSON.stringify(out));`;
  const r = await lab.exec('gw', process.execPath, ['--input-type=module', '-e', script]);
  const out = JSON.parse(r.stdout) as Record<string, { all: string[]; named: string[] }> & { read: number };
  // The kernel walked the two tables asked for, not the 20k routes beside them.
  assert.ok(out.read < 10, `${out.read} route messages read for two small tables`);
  assert.deepEqual(out[4]!.named, out[4]!.all);
  assert.deepEqual(out[6]!.named, out[6]!.all);
  assert.equal(out[4]!.named.length, 2, 'the two IPv4 routes of tables 100 and 1100; table 4242 does not exist');
  assert.equal(out[6]!.named.length, 1);
  assert.match(out[4]!.named.join(), /"table":1100,"prefix":"0.0.0.0\/0","nexthops":\[\{"ifindex":\d+,"gateway":"100.64.2.1","weight":1\}\].*"metric":7/);
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

// Lab: the real netlink kernel side of route/, where the fake cannot stand in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
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

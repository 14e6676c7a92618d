// mptcp/endpoints: MptcpEndpoints on the in-memory path manager: what it runs, logs, reports and reads back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredMptcp } from '../../src/types/mptcp.js';
import { endpointFlags } from '../../src/mptcp/plan.js';
import type { DesiredState } from '../../src/types/routes.js';
import { FakeKernel, Router } from '../../src/route/index.js';
import { KernelError } from '../../src/netlink/index.js';
import { FakeMptcp } from '../../src/mptcp/index.js';
import { MptcpEndpoints } from '../../src/mptcp/endpoints.js';

const LINKS = new Map([
  ['wan1', 11],
  ['wan2', 12],
]);
const DESIRED: DesiredMptcp = {
  ids: [100, 103],
  endpoints: [
    { id: 100, family: 4, address: '100.64.1.2', interface: 'wan1', uplink: 'fiber', backup: false },
    { id: 102, family: 4, address: '100.64.2.2', interface: 'wan2', uplink: 'dsl', backup: true },
  ],
  subflows: 2,
};
const ADD_100 = 'ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow';
const ADD_102 = 'ip mptcp endpoint add 100.64.2.2 id 102 dev wan2 subflow backup';

function setup() {
  const fake = new FakeMptcp();
  const logged: string[] = [];
  return { fake, logged, endpoints: new MptcpEndpoints(fake, (line) => logged.push(line)) };
}

const kernelView = (fake: FakeMptcp): string[] => fake.endpointList.map((e) => `${e.id} ${e.address} ${e.flags} ${e.ifindex}`);

describe('MptcpEndpoints', () => {
  it('a kernel without MPTCP: the routes still go in and the path manager is one refusal (Router)', async () => {
    const fake = new FakeMptcp();
    fake.endpoints = async () => {
      throw new KernelError('EOPNOTSUPP', 'no mptcp_pm generic netlink family: this kernel has no MPTCP');
    };
    const kernel = new FakeKernel();
    kernel.linkIndex.set('wan1', 11);
    const router = new Router(kernel, () => undefined, [4], new MptcpEndpoints(fake, () => undefined));
    const state: DesiredState = {
      table: 100,
      destinations: [],
      managed: [],
      uplinkRoutes: [],
      uplinkTables: [{ table: 1100, interface: 'wan1', uplink: 'fiber' }],
      markMask: 0x3f00,
      pinRules: { 4: new Map(), 6: new Map() },
      mptcp: DESIRED,
    };
    const report = await router.apply(state);
    assert.deepEqual(report.refused, [{ command: 'no mptcp_pm generic netlink family: this kernel has no MPTCP', code: 'EOPNOTSUPP', managed: false }]);
    assert.ok(
      report.changes.some((c) => c.startsWith('ip rule add pref 9000 oif wan1 lookup 1100')),
      report.changes.join('\n'),
    );
  });

  it('apply adds the endpoints and logs each command', async () => {
    const { fake, logged, endpoints } = setup();
    const report = await endpoints.apply(DESIRED, LINKS);
    assert.deepEqual(report, { changes: [ADD_100, ADD_102], refused: [], missing: [] });
    assert.deepEqual(logged, [ADD_100, ADD_102]);
    assert.deepEqual(fake.calls, ['add 100 100.64.1.2', 'add 102 100.64.2.2']);
    assert.deepEqual(kernelView(fake), ['100 100.64.1.2 2 11', '102 100.64.2.2 6 12']);
  });

  it('a refused operation is reported, unmanaged, and the others still go in; the next apply tries it again', async () => {
    const { fake, logged, endpoints } = setup();
    fake.refuse.set('add 100 100.64.1.2', 'EADDRNOTAVAIL');
    const report = await endpoints.apply(DESIRED, LINKS);
    assert.deepEqual(report, { changes: [ADD_102], refused: [{ command: ADD_100, code: 'EADDRNOTAVAIL', managed: false }], missing: [] });
    assert.deepEqual(logged, [ADD_102]);
    assert.deepEqual(kernelView(fake), ['102 100.64.2.2 6 12']);
    fake.refuse.clear();
    assert.deepEqual((await endpoints.apply(DESIRED, LINKS)).changes, [ADD_100]);
  });

  it('apply(undefined) deletes what an earlier apply owned, and nothing else', async () => {
    const { fake, endpoints } = setup();
    assert.deepEqual(await endpoints.apply(undefined, LINKS), { changes: [], refused: [], missing: [] });
    assert.deepEqual(fake.calls, [], 'owning nothing yet, it does not even look');
    await endpoints.apply(DESIRED, LINKS);
    fake.endpointList.push({ id: 5, family: 4, address: '192.0.2.1', flags: endpointFlags(false) });
    const report = await endpoints.apply(undefined, LINKS);
    assert.deepEqual(report.changes, ['ip mptcp endpoint delete id 100', 'ip mptcp endpoint delete id 102']);
    assert.deepEqual(kernelView(fake), ['5 192.0.2.1 2 undefined']);
    assert.deepEqual((await endpoints.apply(undefined, LINKS)).changes, [], 'the range is given up once emptied');
  });

  it('drift: the commands that would undo a change by hand, without running them', async () => {
    const { fake, endpoints } = setup();
    await endpoints.apply(DESIRED, LINKS);
    assert.deepEqual(await endpoints.drift(DESIRED, LINKS), []);
    fake.endpointList = fake.endpointList.filter((e) => e.id !== 102);
    fake.endpointList = fake.endpointList.map((e) => ({ ...e, flags: endpointFlags(true) }));
    const calls = fake.calls.length;
    assert.deepEqual(await endpoints.drift(DESIRED, LINKS), [ADD_102, 'ip mptcp endpoint change id 100 nobackup']);
    assert.equal(fake.calls.length, calls);
    assert.deepEqual(await endpoints.drift(undefined, LINKS), []);
  });

  it('removeAll deletes the owned range only, then owns nothing', async () => {
    const { fake, logged, endpoints } = setup();
    await endpoints.apply(DESIRED, LINKS);
    fake.endpointList.push({ id: 104, family: 4, address: '192.0.2.1', flags: endpointFlags(false) });
    const removed = await endpoints.removeAll(DESIRED);
    assert.deepEqual(removed, ['ip mptcp endpoint delete id 100', 'ip mptcp endpoint delete id 102']);
    assert.deepEqual(logged.slice(2), removed);
    assert.deepEqual(kernelView(fake), ['104 192.0.2.1 2 undefined']);
    assert.deepEqual(await endpoints.removeAll(undefined), []);
  });

  it('view: each uplink its endpoints by ID and the subflows from its addresses, backup ones counted', async () => {
    const { fake, endpoints } = setup();
    await endpoints.apply(DESIRED, LINKS);
    fake.subflowList = [
      { family: 4, local: '100.64.1.2', backup: false },
      { family: 4, local: '100.64.1.2', backup: false },
      { family: 4, local: '100.64.1.2', backup: true },
      { family: 4, local: '100.64.2.2', backup: true },
      { family: 4, local: '192.0.2.1', backup: false },
    ];
    const view = await endpoints.view(
      new Map([
        ['fiber', { ids: [100, 101], addresses: ['100.64.1.2'] }],
        ['dsl', { ids: [102, 103], addresses: ['100.64.2.2'] }],
        ['lte', { ids: [104, 105], addresses: [] }],
      ]),
    );
    assert.deepEqual(Object.fromEntries(view), {
      fiber: { endpoints: [{ id: 100, address: '100.64.1.2', flags: 'subflow' }], subflows: 3, backupSubflows: 1 },
      dsl: { endpoints: [{ id: 102, address: '100.64.2.2', flags: 'subflow backup' }], subflows: 1, backupSubflows: 1 },
      lte: { endpoints: [], subflows: 0, backupSubflows: 0 },
    });
  });
});

// mptcp/plan: the MPTCP endpoint planner as a table: what the path manager has and what uplinkd
// wants -> the operations, read as the `ip mptcp` commands, in the order they run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type DesiredEndpoint,
  type DesiredMptcp,
  type Endpoint,
  type EndpointLimits,
  MPTCP_FLAG_BACKUP,
  MPTCP_FLAG_FULLMESH,
  MPTCP_FLAG_IMPLICIT,
  MPTCP_FLAG_SIGNAL,
  MPTCP_FLAG_SUBFLOW,
} from '../../src/types/mptcp.js';
import { describeMptcp, endpointFlags, flagWords, planMptcp } from '../../src/mptcp/plan.js';

const LINKS = new Map([
  ['wan1', 11],
  ['wan2', 12],
  ['wan3', 13],
]);
const NAMES = new Map([...LINKS].map(([n, i]) => [i, n]));
const IFACE: Record<string, string> = { '100.64.1': 'wan1', '100.64.2': 'wan2', '100.64.3': 'wan3' };
const ifaceOf = (address: string): string => IFACE[address.split('.').slice(0, 3).join('.')]!;

/** An endpoint in the kernel, bound to the interface its address belongs to (as uplinkd adds them). */
const K = (id: number, address: string, backup = false, flags = endpointFlags(backup)): Endpoint => ({
  id,
  family: 4,
  address,
  flags,
  ifindex: LINKS.get(ifaceOf(address))!,
});
const D = (id: number, address: string, backup = false): DesiredEndpoint => ({
  id,
  family: 4,
  address,
  interface: ifaceOf(address),
  uplink: `u${id}`,
  backup,
});
const want = (endpoints: DesiredEndpoint[], ids: [number, number] = [100, 105], subflows = 2): DesiredMptcp => ({ ids, endpoints, subflows });
const LIMITS: EndpointLimits = { subflows: 2, addAddrAccepted: 0 };

const commands = (desired: DesiredMptcp | undefined, endpoints: Endpoint[], owned: [number, number][] = [], limits = LIMITS): string[] =>
  planMptcp(desired, { endpoints, limits, links: LINKS }, owned).operations.map((op) => describeMptcp(op, NAMES));

describe('planMptcp', () => {
  const rows: [string, DesiredMptcp | undefined, Endpoint[], [number, number][], string[]][] = [
    [
      'an empty path manager: the adds, in the desired order',
      want([D(100, '100.64.1.2'), D(102, '100.64.2.2', true)]),
      [],
      [],
      ['ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow', 'ip mptcp endpoint add 100.64.2.2 id 102 dev wan2 subflow backup'],
    ],
    ['in sync: nothing', want([D(100, '100.64.1.2'), D(102, '100.64.2.2', true)]), [K(100, '100.64.1.2'), K(102, '100.64.2.2', true)], [], []],
    [
      'failover: the backup made nobackup before the lost one is deleted',
      want([D(102, '100.64.2.2')]),
      [K(100, '100.64.1.2'), K(102, '100.64.2.2', true)],
      [],
      ['ip mptcp endpoint change id 102 nobackup', 'ip mptcp endpoint delete id 100'],
    ],
    [
      'failback complete: nobackup first, then backup',
      want([D(100, '100.64.1.2'), D(102, '100.64.2.2', true)]),
      [K(100, '100.64.1.2', true), K(102, '100.64.2.2')],
      [],
      ['ip mptcp endpoint change id 100 nobackup', 'ip mptcp endpoint change id 102 backup'],
    ],
    [
      'nobackup, then deletes, then backup',
      want([D(102, '100.64.2.2'), D(104, '100.64.3.2', true)]),
      [K(100, '100.64.1.2'), K(102, '100.64.2.2', true), K(104, '100.64.3.2')],
      [],
      ['ip mptcp endpoint change id 102 nobackup', 'ip mptcp endpoint delete id 100', 'ip mptcp endpoint change id 104 backup'],
    ],
    [
      'a new address for the same ID: deleted, then added',
      want([D(100, '100.64.1.9')]),
      [K(100, '100.64.1.2')],
      [],
      ['ip mptcp endpoint delete id 100', 'ip mptcp endpoint add 100.64.1.9 id 100 dev wan1 subflow'],
    ],
    [
      'flags beyond backup differ (signal): deleted, then added',
      want([D(100, '100.64.1.2')]),
      [K(100, '100.64.1.2', false, MPTCP_FLAG_SIGNAL | MPTCP_FLAG_SUBFLOW)],
      [],
      ['ip mptcp endpoint delete id 100', 'ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow'],
    ],
    [
      'the address held by another of our IDs: that one deleted before the add',
      want([D(100, '100.64.1.2')]),
      [K(104, '100.64.1.2')],
      [],
      ['ip mptcp endpoint delete id 104', 'ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow'],
    ],
    [
      'endpoints outside the owned range are left alone',
      want([D(100, '100.64.1.2')], [100, 103]),
      [K(1, '100.64.3.2'), K(99, '100.64.2.9'), K(104, '100.64.2.2')],
      [],
      ['ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow'],
    ],
    [
      'mptcp: removed: the old range emptied, nothing else touched',
      undefined,
      [K(7, '100.64.3.2'), K(100, '100.64.1.2'), K(102, '100.64.2.2', true), K(200, '100.64.3.9')],
      [[100, 103]],
      ['ip mptcp endpoint delete id 100', 'ip mptcp endpoint delete id 102'],
    ],
    [
      'id_base moved: the old IDs free their addresses before the new ones are added',
      want([D(200, '100.64.1.2'), D(202, '100.64.2.2', true)], [200, 203]),
      [K(100, '100.64.1.2'), K(102, '100.64.2.2', true)],
      [[100, 103]],
      [
        'ip mptcp endpoint delete id 100',
        'ip mptcp endpoint delete id 102',
        'ip mptcp endpoint add 100.64.1.2 id 200 dev wan1 subflow',
        'ip mptcp endpoint add 100.64.2.2 id 202 dev wan2 subflow backup',
      ],
    ],
  ];
  for (const [name, desired, endpoints, owned, expected] of rows) {
    it(name, () => assert.deepEqual(commands(desired, endpoints, owned), expected));
  }

  it('limits: raised first when below the desired subflows, never lowered, add_addr_accepted kept', () => {
    const desired = want([D(100, '100.64.1.2')], [100, 105], 3);
    const ep = [K(100, '100.64.1.2')];
    assert.deepEqual(commands(desired, ep, [], { subflows: 2, addAddrAccepted: 4 }), ['ip mptcp limits set subflows 3 add_addr_accepted 4']);
    assert.deepEqual(commands(desired, [], [], { subflows: 1, addAddrAccepted: 0 }), [
      'ip mptcp limits set subflows 3 add_addr_accepted 0',
      'ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow',
    ]);
    assert.deepEqual(commands(desired, ep, [], { subflows: 3, addAddrAccepted: 0 }), []);
    assert.deepEqual(commands(desired, ep, [], { subflows: 8, addAddrAccepted: 0 }), []);
    assert.deepEqual(commands(undefined, [], [[100, 105]], { subflows: 0, addAddrAccepted: 0 }), []);
  });

  it("kept IDs (no verdict yet): the kernel's endpoint stays whatever its flags, and none is added", () => {
    const desired = { ...want([D(102, '100.64.2.2', true)]), kept: [100, 104] };
    assert.deepEqual(commands(desired, [K(100, '100.64.1.2', true), K(102, '100.64.2.2')]), ['ip mptcp endpoint change id 102 backup']);
  });

  it('an interface that does not exist: reported missing, no operation', () => {
    const desired = want([D(100, '100.64.1.2'), { ...D(102, '100.64.2.2'), interface: 'wan9', uplink: 'lte' }]);
    const plan = planMptcp(desired, { endpoints: [], limits: LIMITS, links: LINKS }, []);
    assert.deepEqual(plan.missing, ['MPTCP endpoint 100.64.2.2 of lte (no wan9)']);
    assert.deepEqual(
      plan.operations.map((op) => describeMptcp(op, NAMES)),
      ['ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow'],
    );
  });
});

describe('describeMptcp', () => {
  const e: Endpoint = { id: 100, family: 4, address: '100.64.1.2', flags: endpointFlags(true), ifindex: 11 };
  const rows: [string, Parameters<typeof describeMptcp>[0], string][] = [
    ['add', { kind: 'add', endpoint: e, interface: 'wan1' }, 'ip mptcp endpoint add 100.64.1.2 id 100 dev wan1 subflow backup'],
    [
      'add, the name from the operation when the ifindex is unknown',
      { kind: 'add', endpoint: { ...e, ifindex: 99 }, interface: 'wanX' },
      'ip mptcp endpoint add 100.64.1.2 id 100 dev wanX subflow backup',
    ],
    [
      'add without a device',
      { kind: 'add', endpoint: { ...e, ifindex: 0, flags: endpointFlags(false) }, interface: 'wan1' },
      'ip mptcp endpoint add 100.64.1.2 id 100 subflow',
    ],
    ['nobackup', { kind: 'backup', endpoint: e, backup: false }, 'ip mptcp endpoint change id 100 nobackup'],
    ['backup', { kind: 'backup', endpoint: e, backup: true }, 'ip mptcp endpoint change id 100 backup'],
    ['delete', { kind: 'delete', endpoint: e }, 'ip mptcp endpoint delete id 100'],
    ['limits', { kind: 'limits', limits: { subflows: 2, addAddrAccepted: 0 } }, 'ip mptcp limits set subflows 2 add_addr_accepted 0'],
  ];
  for (const [name, op, line] of rows) it(name, () => assert.equal(describeMptcp(op, NAMES), line));
});

describe('flagWords and endpointFlags', () => {
  const rows: [number, string][] = [
    [0, ''],
    [MPTCP_FLAG_SUBFLOW, 'subflow'],
    [MPTCP_FLAG_SUBFLOW | MPTCP_FLAG_BACKUP, 'subflow backup'],
    [MPTCP_FLAG_SIGNAL, 'signal'],
    [MPTCP_FLAG_IMPLICIT, 'implicit'],
    [MPTCP_FLAG_IMPLICIT | MPTCP_FLAG_FULLMESH | MPTCP_FLAG_BACKUP | MPTCP_FLAG_SUBFLOW | MPTCP_FLAG_SIGNAL, 'signal subflow backup fullmesh implicit'],
  ];
  for (const [flags, words] of rows) it(`${flags} -> "${words}"`, () => assert.equal(flagWords(flags), words));

  it('uplinkd writes subflow, plus backup on standby', () => {
    assert.equal(endpointFlags(false), 2);
    assert.equal(endpointFlags(true), 6);
  });
});

// steer/: each uplink's MPTCP endpoint role from the steering and the failback, as a table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointRoles, NO_STEERING, type SteerState, type Steering, type SteerUplink } from '../../src/steer/index.js';
import type { UplinkState } from '../../src/types/index.js';

const U = (name: string, priority: number, state: UplinkState): SteerUplink => ({ name, priority, weight: 1, state });

/** A steering from `uplink share` words; the share doubles as the kernel weight, as blend() makes it. */
const S = (...active: string[]): Steering => ({
  active: active.map((w) => {
    const [uplink, share] = w.split(' ') as [string, string];
    return { uplink, weight: Math.max(1, Number(share)), share: Number(share) };
  }),
  allDown: false,
  reason: 'test',
});

const failback = (steering: Steering, to: Steering, from: Steering): SteerState => ({ steering, failback: { to, from, holdUntil: 10_000 } });

describe('endpointRoles', () => {
  const rows: { name: string; state: SteerState; uplinks: SteerUplink[]; roles: string[] }[] = [
    {
      name: 'the primary carries, the backup stands by',
      state: { steering: S('fiber 100') },
      uplinks: [U('fiber', 1, 'up'), U('dsl', 2, 'up')],
      roles: ['fiber active', 'dsl standby'],
    },
    {
      name: 'failover: the lost primary is removed, the backup carries',
      state: { steering: S('dsl 100') },
      uplinks: [U('fiber', 1, 'down'), U('dsl', 2, 'up')],
      roles: ['fiber removed', 'dsl active'],
    },
    {
      name: 'all lost: the last carrier keeps its endpoint (nothing else to resume on), the one lost before stays removed',
      state: { steering: { ...S('dsl 100'), allDown: true } },
      uplinks: [U('fiber', 1, 'down'), U('dsl', 2, 'down')],
      roles: ['fiber removed', 'dsl active'],
    },
    {
      name: 'all lost, then the primary recovers first: it carries, the lost backup is removed',
      state: { steering: S('fiber 100') },
      uplinks: [U('fiber', 1, 'up'), U('dsl', 2, 'down')],
      roles: ['fiber active', 'dsl removed'],
    },
    {
      name: 'failback hold: the recovered primary stands by, the backup carries',
      state: failback(S('dsl 100'), S('fiber 100'), S('dsl 100')),
      uplinks: [U('fiber', 1, 'up'), U('dsl', 2, 'up')],
      roles: ['fiber standby', 'dsl active'],
    },
    {
      name: 'failback step: the primary takes 10% of routed flows but stays standby',
      state: failback(S('fiber 10', 'dsl 90'), S('fiber 100'), S('dsl 100')),
      uplinks: [U('fiber', 1, 'up'), U('dsl', 2, 'up')],
      roles: ['fiber standby', 'dsl active'],
    },
    {
      name: 'failback complete: the primary carries, the backup stands by',
      state: { steering: S('fiber 100') },
      uplinks: [U('fiber', 1, 'up'), U('dsl', 2, 'up')],
      roles: ['fiber active', 'dsl standby'],
    },
    {
      name: 'one tier of two sharing 50/50: both carry',
      state: { steering: S('a 50', 'b 50') },
      uplinks: [U('a', 1, 'up'), U('b', 1, 'up')],
      roles: ['a active', 'b active'],
    },
    {
      name: 'init with no steering yet (a restart): kept as the kernel has them',
      state: { steering: NO_STEERING },
      uplinks: [U('fiber', 1, 'init'), U('dsl', 2, 'init')],
      roles: ['fiber keep', 'dsl keep'],
    },
    {
      name: 'init on routes adopted from the kernel: the adopted carrier stays active, the other is kept',
      state: { steering: { ...S('fiber 100'), adopted: true } },
      uplinks: [U('fiber', 1, 'init'), U('dsl', 2, 'init')],
      roles: ['fiber active', 'dsl keep'],
    },
    {
      name: 'a drained uplink (usable, share 0) stands by',
      state: { steering: S('fiber 100', 'dsl 0') },
      uplinks: [U('fiber', 1, 'up'), U('dsl', 2, 'up')],
      roles: ['fiber active', 'dsl standby'],
    },
    {
      name: 'detached counts as lost',
      state: { steering: S('dsl 100') },
      uplinks: [U('fiber', 1, 'detached'), U('dsl', 2, 'up')],
      roles: ['fiber removed', 'dsl active'],
    },
    {
      name: 'degraded is not lost: it stays as standby',
      state: { steering: S('dsl 100') },
      uplinks: [U('fiber', 1, 'degraded'), U('dsl', 2, 'up')],
      roles: ['fiber standby', 'dsl active'],
    },
    {
      name: 'a lost uplink that carries nothing beside one in init: removed, the other kept',
      state: { steering: NO_STEERING },
      uplinks: [U('fiber', 1, 'down'), U('dsl', 2, 'init')],
      roles: ['fiber removed', 'dsl keep'],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.deepEqual(
        [...endpointRoles(row.state, row.uplinks)].map(([u, r]) => `${u} ${r}`),
        row.roles,
      );
    });
  }
});

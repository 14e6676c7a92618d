// mptcp/: the pure half of keeping MPTCP endpoints. What the path manager has and what uplinkd
// wants -> the operations that close the gap, each read as the `ip mptcp` command a person
// would have typed. Only endpoints with IDs in uplinkd's range are ever touched.
import {
  type DesiredMptcp,
  type Endpoint,
  type EndpointLimits,
  MPTCP_FLAG_BACKUP,
  MPTCP_FLAG_FULLMESH,
  MPTCP_FLAG_IMPLICIT,
  MPTCP_FLAG_SIGNAL,
  MPTCP_FLAG_SUBFLOW,
} from '../types/mptcp.js';

export type MptcpOperation =
  | { readonly kind: 'limits'; readonly limits: EndpointLimits }
  | { readonly kind: 'add'; readonly endpoint: Endpoint; readonly interface: string }
  | { readonly kind: 'delete'; readonly endpoint: Endpoint }
  | { readonly kind: 'backup'; readonly endpoint: Endpoint; readonly backup: boolean };

export interface MptcpObserved {
  readonly endpoints: readonly Endpoint[];
  readonly limits: EndpointLimits;
  /** Interface name -> ifindex. */
  readonly links: ReadonlyMap<string, number>;
}

export interface MptcpPlan {
  readonly operations: readonly MptcpOperation[];
  /** Desired endpoints left out: their interface does not exist now. */
  readonly missing: readonly string[];
}

const inRange = (id: number, [first, last]: readonly [number, number]): boolean => id >= first && id <= last;

/** The flags uplinkd writes: a subflow endpoint, `backup` on standby. */
export function endpointFlags(backup: boolean): number {
  return MPTCP_FLAG_SUBFLOW | (backup ? MPTCP_FLAG_BACKUP : 0);
}

/**
 * The operations, in an order that never leaves a connection without a data-carrying path:
 * limits, deletes that free an address an add needs, adds (new endpoints come in as they are
 * desired), `nobackup`, the other deletes (the lost uplinks' subflows close and their data goes
 * to the subflows just made non-backup), then `backup`. `owned`: the ranges to clean up, the
 * desired one and any a reload moved away from (undefined desired: mptcp: was removed).
 */
export function planMptcp(desired: DesiredMptcp | undefined, observed: MptcpObserved, owned: readonly (readonly [number, number])[]): MptcpPlan {
  const ops: MptcpOperation[] = [];
  const missing: string[] = [];
  if (desired && observed.limits.subflows < desired.subflows)
    ops.push({ kind: 'limits', limits: { subflows: desired.subflows, addAddrAccepted: observed.limits.addAddrAccepted } });
  const ranges = desired ? [desired.ids, ...owned] : owned;
  const kept = new Set(desired?.kept ?? []);
  const mine = observed.endpoints.filter((e) => ranges.some((r) => inRange(e.id, r)) && !kept.has(e.id));
  const wanted = new Map<number, Endpoint & { interface: string }>();
  for (const d of desired?.endpoints ?? []) {
    const ifindex = observed.links.get(d.interface);
    if (ifindex === undefined) {
      missing.push(`MPTCP endpoint ${d.address} of ${d.uplink} (no ${d.interface})`);
      continue;
    }
    wanted.set(d.id, { id: d.id, family: d.family, address: d.address, ifindex, flags: endpointFlags(d.backup), interface: d.interface });
  }
  const sameEndpoint = (have: Endpoint, want: Endpoint): boolean =>
    have.address === want.address && (have.ifindex ?? 0) === (want.ifindex ?? 0) && (have.flags & ~MPTCP_FLAG_BACKUP) === (want.flags & ~MPTCP_FLAG_BACKUP);
  const deletes: Endpoint[] = [];
  const adds: (Endpoint & { interface: string })[] = [];
  const flips: { endpoint: Endpoint; backup: boolean }[] = [];
  for (const have of mine) {
    const want = wanted.get(have.id);
    if (!want || !sameEndpoint(have, want)) deletes.push(have);
    else if ((have.flags & MPTCP_FLAG_BACKUP) !== (want.flags & MPTCP_FLAG_BACKUP))
      flips.push({ endpoint: have, backup: (want.flags & MPTCP_FLAG_BACKUP) !== 0 });
  }
  const staying = new Set(mine.filter((e) => !deletes.includes(e)).map((e) => e.id));
  for (const want of wanted.values()) if (!staying.has(want.id)) adds.push(want);
  // The path manager takes an address once (EEXIST) and an ID once (EBUSY): an endpoint of
  // ours that holds what an add needs goes first.
  const addresses = new Set(adds.map((a) => a.address));
  const freeing = deletes.filter((d) => addresses.has(d.address) || adds.some((a) => a.id === d.id));
  for (const d of freeing) ops.push({ kind: 'delete', endpoint: d });
  for (const a of adds) {
    const { interface: iface, ...endpoint } = a;
    ops.push({ kind: 'add', endpoint, interface: iface });
  }
  for (const f of flips.filter((x) => !x.backup)) ops.push({ kind: 'backup', endpoint: f.endpoint, backup: false });
  for (const d of deletes.filter((x) => !freeing.includes(x))) ops.push({ kind: 'delete', endpoint: d });
  for (const f of flips.filter((x) => x.backup)) ops.push({ kind: 'backup', endpoint: f.endpoint, backup: true });
  return { operations: ops, missing };
}

/** An endpoint's flags in `ip mptcp` words. */
export function flagWords(flags: number): string {
  const words: string[] = [];
  if (flags & MPTCP_FLAG_SIGNAL) words.push('signal');
  if (flags & MPTCP_FLAG_SUBFLOW) words.push('subflow');
  if (flags & MPTCP_FLAG_BACKUP) words.push('backup');
  if (flags & MPTCP_FLAG_FULLMESH) words.push('fullmesh');
  if (flags & MPTCP_FLAG_IMPLICIT) words.push('implicit');
  return words.join(' ');
}

/** The `ip mptcp` command an operation amounts to. */
export function describeMptcp(op: MptcpOperation, names: ReadonlyMap<number, string>): string {
  switch (op.kind) {
    case 'limits':
      return `ip mptcp limits set subflows ${op.limits.subflows} add_addr_accepted ${op.limits.addAddrAccepted}`;
    case 'add': {
      const e = op.endpoint;
      const dev = e.ifindex ? ` dev ${names.get(e.ifindex) ?? op.interface}` : '';
      return `ip mptcp endpoint add ${e.address} id ${e.id}${dev} ${flagWords(e.flags)}`;
    }
    case 'delete':
      return `ip mptcp endpoint delete id ${op.endpoint.id}`;
    case 'backup':
      return `ip mptcp endpoint change id ${op.endpoint.id} ${op.backup ? 'backup' : 'nobackup'}`;
  }
}

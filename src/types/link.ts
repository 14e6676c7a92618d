// link/: plain snapshots of the interfaces and the changes between two of them. Pure: the
// monitor builds snapshots from netlink; this file only compares them.
import type { Family } from '../types/index.js';

export interface LinkAddress {
  readonly family: Family;
  /** `100.64.1.2/24`, `2001:db8:1::2/64` */
  readonly prefix: string;
  /** Only global addresses (RT_SCOPE_UNIVERSE) can source heartbeats to the internet. */
  readonly global: boolean;
}

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  /** IFF_UP: an operator did `ip link set NAME up`. */
  readonly adminUp: boolean;
  /** IFF_LOWER_UP: the driver signals carrier (include/uapi/linux/if.h). */
  readonly carrier: boolean;
  readonly addresses: readonly LinkAddress[];
}

/** Interfaces by name. */
export type LinkSnapshot = ReadonlyMap<string, LinkInfo>;

export type LinkChange =
  | { readonly kind: 'appeared'; readonly name: string; readonly index: number }
  | { readonly kind: 'vanished'; readonly name: string; readonly index: number }
  | { readonly kind: 'admin'; readonly name: string; readonly up: boolean }
  | { readonly kind: 'carrier'; readonly name: string; readonly up: boolean }
  | { readonly kind: 'address'; readonly name: string; readonly added: boolean; readonly prefix: string };

/**
 * What changed from `before` to `after`. An interface that keeps its name but has a new
 * ifindex was deleted and created again: that is `vanished` then `appeared`.
 */
export function diffSnapshots(before: LinkSnapshot, after: LinkSnapshot): LinkChange[] {
  const changes: LinkChange[] = [];
  for (const [name, old] of before) {
    const now = after.get(name);
    if (!now || now.index !== old.index) changes.push({ kind: 'vanished', name, index: old.index });
  }
  for (const [name, now] of after) {
    const old = before.get(name);
    if (!old || old.index !== now.index) {
      changes.push({ kind: 'appeared', name, index: now.index });
      continue;
    }
    if (old.adminUp !== now.adminUp) changes.push({ kind: 'admin', name, up: now.adminUp });
    if (old.carrier !== now.carrier) changes.push({ kind: 'carrier', name, up: now.carrier });
    const had = new Set(old.addresses.map((a) => a.prefix));
    const has = new Set(now.addresses.map((a) => a.prefix));
    for (const p of has) if (!had.has(p)) changes.push({ kind: 'address', name, added: true, prefix: p });
    for (const p of had) if (!has.has(p)) changes.push({ kind: 'address', name, added: false, prefix: p });
  }
  return changes;
}

export function describeChange(c: LinkChange): string {
  switch (c.kind) {
    case 'appeared':
      return `interface ${c.name} appeared (ifindex ${c.index})`;
    case 'vanished':
      return `interface ${c.name} vanished`;
    case 'admin':
      return `${c.name} is admin ${c.up ? 'up' : 'down'}`;
    case 'carrier':
      return `carrier ${c.up ? 'gained' : 'lost'} on ${c.name}`;
    case 'address':
      return `${c.name} ${c.added ? 'gained' : 'lost'} address ${c.prefix}`;
  }
}

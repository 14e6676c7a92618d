// status/: `uplinkd check`'s answer (keepalived's track_script): does this gateway carry the
// LAN's traffic? From what is tracked and the managed routes just read back, without the
// conntrack and counter reads a full status makes: keepalived asks every second. Pure.
import type { RouteStatus } from '../types/status.js';
import { type UplinkState, usableState } from '../types/index.js';

export interface CheckInput {
  readonly uplinks: readonly { readonly name: string; readonly state: UplinkState }[];
  /** The managed routes as the kernel has them. */
  readonly routes: readonly RouteStatus[];
  /** Uplinks whose routes were adopted at start and that have no verdict yet. */
  readonly adopted: ReadonlySet<string>;
}

/**
 * Carrying: a managed route has a next hop through an uplink that answers, or through one that
 * an earlier run left carrying and that has no verdict yet (a restart must not move the LAN to
 * the other gateway and back). With every uplink lost the last routes stay, so a route alone
 * does not say that traffic gets out.
 */
export function checkView(c: CheckInput): { readonly carrying: boolean; readonly reason: string } {
  const state = new Map(c.uplinks.map((u) => [u.name, u.state]));
  const through = c.routes.flatMap((r) => r.nexthops.filter((n) => n.weight > 0).map((n) => n.uplink));
  const good = through.filter((u) => usableState(state.get(u)) || (state.get(u) === 'init' && c.adopted.has(u)));
  if (good.length) return { carrying: true, reason: `new flows leave through ${[...new Set(good)].join(', ')}` };
  if (through.length === 0) return { carrying: false, reason: 'no managed route in the kernel' };
  return { carrying: false, reason: `the managed routes go through ${[...new Set(through)].join(', ')}, which do not answer` };
}

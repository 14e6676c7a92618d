// steer/: pure. Uplink states + priorities -> which uplinks carry new flows, and with what share.
import {
  AUTO_GATEWAY,
  type Config,
  gatewaySetting,
  type DesiredRoute,
  type Family,
  type PinRule,
  type RouteNexthop,
  type UplinkConfig,
  type UplinkState,
  usableState,
} from '../types/index.js';

/** States that lose an uplink its traffic: the next `up` after one is a recovery that must prove itself. */
export function isLoss(state: UplinkState): boolean {
  return state === 'down' || state === 'detached' || state === 'degraded';
}

/**
 * An uplink's pinned-flow rule for its state: its connections stay on it while it works
 * (degraded included: moving a NATed connection kills it); a lost one lets them follow the
 * managed route; in `init` (start, adoption, a restarted uplink) the rule stays as the kernel
 * has it, so a restart moves nothing.
 */
export function pinRuleFor(state: UplinkState): PinRule {
  if (usableState(state)) return 'on';
  return state === 'init' ? 'as-is' : 'off';
}

export interface SteerUplink {
  readonly name: string;
  readonly priority: number;
  readonly weight: number;
  readonly state: UplinkState;
  /**
   * Whether it has been lost (down, detached, degraded or held out) since uplinkd started.
   * One that never was and whose first verdict is `up` takes its flows at once: a first
   * verdict is no recovery, so there is nothing to prove with `hold`.
   */
  readonly everLost?: boolean;
}

export interface ActiveUplink {
  readonly uplink: string;
  /** Configured weight inside its tier: the kernel next hop weight (1..256). */
  readonly weight: number;
  /** Percent of new flows, 0-100 summed over all uplinks (status `weight`). */
  readonly share: number;
}

export interface Steering {
  readonly active: readonly ActiveUplink[];
  /**
   * True when no uplink is up or degraded and the last routes are kept; false before any
   * uplink was ever up, when there is nothing to keep.
   */
  readonly allDown: boolean;
  readonly reason: string;
  /** Read from the kernel's routes at start: what a restarted uplinkd found in place. */
  readonly adopted?: boolean;
}

export const NO_STEERING: Steering = { active: [], allDown: false, reason: 'no uplink has been up yet' };

/** Each address family is steered on its own, by the health of its own heartbeats. */
export type FamilySteering = Readonly<Record<Family, Steering>>;

/** Shares that sum to exactly 100 (largest remainder), in the order given. */
export function percentShares(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (w * 100) / total);
  const floors = exact.map(Math.floor);
  let left = 100 - floors.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, frac: e - floors[i]! })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i]!++;
    left--;
  }
  return floors;
}

/**
 * The most preferred tier (lowest priority) that has an `up` uplink gets all new flows,
 * split by weight inside the tier; with none up, the best tier of `degraded` ones. With no uplink up, the previous choice stays: removing
 * every route would blackhole the LAN for sure, keeping them might still carry something.
 */
export function steer(uplinks: readonly SteerUplink[], previous: Steering = NO_STEERING): Steering {
  // A degraded uplink carries traffic only when no uplink of any tier is up.
  const healthy = uplinks.filter((u) => u.state === 'up');
  const up = healthy.length ? healthy : uplinks.filter((u) => u.state === 'degraded');
  if (up.length === 0) {
    if (previous.active.length === 0) return { ...NO_STEERING, reason: uplinks.length ? 'no uplink is up yet' : 'no uplinks' };
    const kept = previous.active.filter((a) => uplinks.some((u) => u.name === a.uplink));
    return {
      active: kept,
      allDown: true,
      reason: `no uplink is up: keeping the last routes (${kept.map((a) => a.uplink).join(', ')})`,
    };
  }
  const best = Math.min(...up.map((u) => u.priority));
  const tier = up.filter((u) => u.priority === best).sort((a, b) => a.name.localeCompare(b.name));
  const shares = percentShares(tier.map((u) => u.weight));
  return {
    active: tier.map((u, i) => ({ uplink: u.name, weight: u.weight, share: shares[i]! })),
    allDown: false,
    reason:
      (tier.length === 1
        ? `${tier[0]!.name} is the most preferred uplink that is up (priority ${best})`
        : `${tier.map((u) => u.name).join(', ')} share priority ${best} by weight`) + (healthy.length ? '' : ' (degraded: no uplink is up)'),
  };
}

/**
 * The steering the kernel's managed route stands for, from its next hops as uplink and weight
 * (an uplink named twice adds up). Undefined when no uplink of ours is in it.
 */
export function adoptedSteering(nexthops: readonly { readonly uplink: string; readonly weight: number }[]): Steering | undefined {
  // Per uplink: the sum of its weights (its share) and the largest one (the kernel weight).
  const found = new Map<string, { sum: number; weight: number }>();
  for (const nh of nexthops) {
    const f = found.get(nh.uplink) ?? { sum: 0, weight: 0 };
    found.set(nh.uplink, { sum: f.sum + nh.weight, weight: Math.max(f.weight, nh.weight) });
  }
  const names = [...found.keys()];
  const shares = percentShares(names.map((n) => found.get(n)!.sum));
  // An uplink whose weight rounds to 0% carries no new flows.
  const active = names.map((n, i) => ({ uplink: n, weight: found.get(n)!.weight, share: shares[i]! })).filter((a) => a.share > 0);
  return active.length ? { active, allDown: false, reason: 'adopted from the kernel at start', adopted: true } : undefined;
}

/** The next hop an uplink offers for a family, or none (an IPv4-only uplink has no ::/0). */
export function nexthopFor(u: UplinkConfig, family: 4 | 6, weight: number): RouteNexthop | undefined {
  const gateway = gatewaySetting(u, family);
  // `gateway: auto` with none learnt yet (track/gateways.ts routedUplink puts a learnt one in).
  if (gateway === AUTO_GATEWAY) return undefined;
  if (gateway) return { uplink: u.name, interface: u.interface, gateway, weight };
  // A point-to-point link or tunnel has no gateway of either family: routes go via the device.
  if (!u.gateway && !u.gateway6) return { uplink: u.name, interface: u.interface, weight };
  return undefined;
}

/** The managed routes: one per destination, through the active uplinks of its family. */
export function desiredRoutes(config: Config, steering: FamilySteering): DesiredRoute[] {
  const byName = new Map(config.uplinks.map((u) => [u.name, u]));
  const routes: DesiredRoute[] = [];
  for (const destination of config.routing.destinations) {
    const nexthops = steering[destination.family].active
      .map((a) => {
        const u = byName.get(a.uplink);
        return u ? nexthopFor(u, destination.family, a.weight) : undefined;
      })
      .filter((n): n is RouteNexthop => n !== undefined);
    if (nexthops.length > 0) routes.push({ destination, table: config.routing.table, nexthops });
  }
  return routes;
}

/** Each uplink's own default routes, in its own table, so its heartbeats leave through it. */
export function uplinkRoutes(config: Config): DesiredRoute[] {
  const routes: DesiredRoute[] = [];
  for (const u of config.uplinks) {
    for (const family of [4, 6] as const) {
      const nh = nexthopFor(u, family, 1);
      if (!nh) continue;
      const destination = family === 4 ? { prefix: '0.0.0.0/0', family, address: '0.0.0.0', length: 0 } : { prefix: '::/0', family, address: '::', length: 0 };
      routes.push({ destination, table: u.table, nexthops: [nh] });
    }
  }
  return routes;
}

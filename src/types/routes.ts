// types/: routes and rules as the kernel has them, the desired state track/ hands to route/,
// and what an apply reports back (route/plan.ts, route/router.ts; include/uapi/linux/rtnetlink.h).
import type { DesiredMptcp } from './mptcp.js';
import type { DesiredRoute, Family, PinRule } from './index.js';

export interface KernelNexthop {
  readonly ifindex: number;
  readonly gateway?: string;
  /** 1..256; a single-path route always reads back as 1. */
  readonly weight: number;
}

export interface KernelRoute {
  readonly family: Family;
  readonly table: number;
  /** Normalised prefix: `0.0.0.0/0`, `::/0`. */
  readonly prefix: string;
  /** The next hops (none that mean anything on a route through a nexthop object). */
  readonly nexthops: readonly KernelNexthop[];
  /**
   * The nexthop object a route points at (`ip route ... nhid N`): only on routes that an
   * earlier uplinkd wrote through resilient groups; they are replaced by plain ones.
   */
  readonly nhid?: number;
  /** Written by the kernel itself (proto kernel): the connected route of an address. */
  readonly connected?: true;
  /** rtm_protocol as read back (types/netlink.ts RTPROT_*); uplinkd writes RTPROT_UPLINKD. */
  readonly protocol?: number;
  /** RTA_PRIORITY, the metric; uplinkd writes 0. Absent: 0. */
  readonly metric?: number;
}

/**
 * A default route via one interface that another program keeps in main (a DHCP client, the
 * kernel from router advertisements, networkd): where `gateway: auto` learns its next hop.
 */
export interface ForeignDefault {
  readonly family: Family;
  readonly ifindex: number;
  readonly gateway: string;
  readonly metric: number;
  readonly protocol: number;
}

export interface KernelRule {
  readonly family: Family;
  readonly priority: number;
  readonly table: number;
  readonly oifname?: string;
  /** `suppress_prefixlength N`: answers from the table with a prefix this short or shorter are ignored. */
  readonly suppressPrefixlength?: number;
  /** `from ADDRESS/LEN`. */
  readonly src?: string;
  /** `fwmark MARK/MASK`: packets whose mark, under the mask, equals this. */
  readonly fwmark?: number;
  readonly fwmask?: number;
  /**
   * What the rule does or matches beyond the fields above, in `ip rule` words (`unreachable`,
   * `iif eth0`, `not`...): uplinkd never writes such a rule, so one in its range is foreign.
   */
  readonly other?: string;
}

/** An interface as a route needs it. */
export interface KernelLink {
  readonly index: number;
  /**
   * IFF_UP. When an interface goes down the kernel deletes the single-path routes through it
   * and marks its next hops of multipath ones dead (fib_sync_down_dev, fib6_ifdown); a new
   * route through it is refused (ENETUNREACH for an IPv4 gateway, ENETDOWN for IPv6).
   */
  readonly up: boolean;
}

/** One uplink's configured next hop in a family: its interface and gateway (none: via the device). */
export interface FixedNexthop {
  readonly family: Family;
  readonly interface: string;
  readonly gateway?: string;
}

export interface DesiredState {
  /** The managed table and the destinations uplinkd owns in it. */
  readonly table: number;
  readonly destinations: readonly { readonly prefix: string; readonly family: Family }[];
  readonly managed: readonly DesiredRoute[];
  /**
   * False until some uplink has a verdict: the managed routes stay as the kernel has them
   * (a restarted daemon adopts them instead of flapping them). Default true.
   */
  readonly managedKnown?: boolean;
  /** Per-uplink default routes for heartbeats, and the interface each table belongs to. */
  readonly uplinkRoutes: readonly DesiredRoute[];
  /** In config order: an uplink's position numbers its rules and its mark. */
  readonly uplinkTables: readonly { readonly table: number; readonly interface: string; readonly uplink: string }[];
  /**
   * The next hops the config fixes (`gateway: ADDRESS`, or none on a point-to-point link; never
   * a learnt one): in main, a proto static route through them only is an earlier uplinkd's
   * (route/plan.ts mayOwnRoute). Absent: none.
   */
  readonly fixedNexthops?: readonly FixedNexthop[];
  /** routing.mark_mask: the conntrack mark bits that pin a connection to its uplink. */
  readonly markMask: number;
  /**
   * Per family and uplink, its `fwmark MARK/MASK lookup UPLINK_TABLE` rule: on while its
   * pinned connections should stay on it, off once it is lost (they follow the managed route).
   * Uplinks left out are off.
   */
  readonly pinRules: Readonly<Record<Family, ReadonlyMap<string, PinRule>>>;
  /**
   * routing.source_rules: each uplink's own addresses (in uplinkTables order), so traffic
   * sourced from one leaves through that uplink (services reachable on each address).
   */
  readonly sourceAddresses?: readonly (readonly { readonly family: Family; readonly address: string }[])[];
  /** `mptcp:`: the path-manager endpoints uplinkd owns (mptcp/plan.ts); absent: none. */
  readonly mptcp?: DesiredMptcp;
}

/** An operation the kernel refused, as the `ip` command and the errno name. */
export interface Refusal {
  readonly command: string;
  readonly code: string;
  /**
   * It concerned the managed routes or uplinkd's rules (what the LAN's traffic follows), not
   * one uplink's own table: until it goes in, the steering is not what was asked for.
   */
  readonly managed: boolean;
  /**
   * The route's interface was gone, admin down or another ifindex when the links were read
   * again after the operations: it changed while the route was written, and the link monitor
   * is about to say so. (The kernel does not say which next hop of a multipath route it
   * refused: any one that changed counts.)
   */
  readonly interfaceGone?: string;
}

export interface ApplyReport {
  readonly changes: readonly string[];
  /** Desired next hops left out because their interface does not exist now or is admin down. */
  readonly missing: readonly string[];
  /** One of them was a managed route's: the LAN's route is not yet what was asked for. */
  readonly managedLeftOut?: boolean;
  /**
   * Operations the kernel refused. Each is tried on its own: one refused route or rule
   * never keeps the others out; the next apply tries it again.
   */
  readonly refused: readonly Refusal[];
  /** Somebody else's rules in uplinkd's range, as `ip rule` would add them: left alone. */
  readonly foreign: readonly string[];
  /** Managed routes not written: the kernel's own connected route holds that prefix. */
  readonly connected: readonly string[];
  /** Deletes held back because what replaces them was refused (tried again next time). */
  readonly deferred: readonly string[];
}

export interface RouteEvent {
  /** `mptcp`: uplinkd's path-manager endpoints differ from what it wrote (the daemon's periodic look: no event exists for them). */
  readonly kind: 'route' | 'rule' | 'mptcp';
  readonly deleted: boolean;
  /** Routes and rules: the table; rules: their priority. */
  readonly table?: number;
  readonly priority?: number;
  /** `mptcp`: the commands that would put it back. */
  readonly drift?: string;
  /** A default route in main that is not uplinkd's, one per next hop (route/learnt.ts). */
  readonly defaults?: readonly ForeignDefault[];
  /** NLM_F_REPLACE: it took the place of the route of its metric, whose deletion is not notified. */
  readonly replace?: true;
}

export interface MptcpReport {
  readonly changes: readonly string[];
  readonly refused: readonly Refusal[];
  readonly missing: readonly string[];
}

/**
 * What is kept beside the routes and brought to the desired state right after them, with the
 * links the routes were planned with (mptcp/'s endpoints: a subflow re-added for a recovered
 * uplink finds its source rule in).
 */
export interface BesideRoutes {
  apply(desired: DesiredMptcp | undefined, links: ReadonlyMap<string, number>): Promise<MptcpReport>;
}

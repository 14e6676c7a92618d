// Shared data types: what flows between the layers (src/README.md §1). address.ts beside this
// file holds the pure address helpers every layer may use.

export type Family = 4 | 6;

/**
 * A change of which uplinks carry a family's new flows, by cause. `failover`: one that carried
 * them was lost; `failback-step` and `failback-done`: the gradual move back to a recovered,
 * more preferred uplink; `all-down`: no uplink answers (the last routes stay); `steering`:
 * any other change (a first verdict, a reload).
 */
export type SteeringEventName = 'steering' | 'failover' | 'failback-step' | 'failback-done' | 'all-down';

/** The operator events (events.ts) by name, as `hooks.events` lists them. */
export type OperatorEventName = 'state' | SteeringEventName | 'gateway_changed';

/** One heartbeat target of an uplink. */
export interface Target {
  readonly kind: 'icmp' | 'tcp';
  readonly host: string;
  readonly family: Family;
  readonly port?: number;
  /** How status names it: `icmp 198.51.100.10`, `tcp 198.51.100.11:443`. */
  readonly label: string;
}

export interface ProbeSettings {
  readonly intervalMs: number;
  /** One heartbeat's timeout; `auto`: from its target's measured RTT (health/rto.ts, RFC 6298). */
  readonly timeoutMs: number | 'auto';
  /** Whether the users' traffic through the uplink may start a confirmation (health/passive.ts). */
  readonly passive: boolean;
  /** Consecutive failed rounds that make an uplink `down`. */
  readonly down: number;
  /** Consecutive good rounds that make an uplink `up`. */
  readonly up: number;
  /** Targets that must answer for a round to be good. */
  readonly reliability: number;
  /** Pace after a failed round until the verdict (fast confirmation); default `interval`. */
  readonly failureIntervalMs?: number;
  /** Pace while down or detached; default `interval`. */
  readonly recoveryIntervalMs?: number;
  /** Heartbeats per target that RTT, jitter and loss are computed over. */
  readonly window: number;
  /** Quality thresholds (mwan3's check_quality): over max -> degraded, under recover -> up. */
  readonly maxRttMs?: number;
  readonly maxLossPct?: number;
  readonly recoverRttMs?: number;
  readonly recoverLossPct?: number;
}

/**
 * `gateway: auto`, `gateway6: auto`: the next hop is learnt from the default route via the
 * uplink's interface that another program keeps in main (track/gateways.ts). Until one is
 * learnt the family has no next hop: it is never taken as a point-to-point link.
 */
export const AUTO_GATEWAY = 'auto';

export interface UplinkConfig {
  readonly name: string;
  readonly interface: string;
  /** An IPv4 address, or AUTO_GATEWAY; absent with gateway6 absent too: a point-to-point link. */
  readonly gateway?: string;
  /** An IPv6 address, or AUTO_GATEWAY. */
  readonly gateway6?: string;
  readonly priority: number;
  readonly weight: number;
  readonly targets: readonly Target[];
  readonly probe: ProbeSettings;
  /** The table holding this uplink's own default route, for its heartbeats (src/README.md §4). */
  readonly table: number;
}

export interface FailbackSettings {
  readonly holdMs: number;
  readonly steps: readonly number[];
  readonly stepIntervalMs: number;
  /**
   * That long after the last step, the conntrack entries still pinned to a less preferred
   * uplink are deleted (their clients reconnect through the primary). Absent: flows end on
   * their own.
   */
  readonly drainMs?: number;
}

/** A managed destination prefix, normalised: `0.0.0.0/0`, `2001:db8::/32`. */
export interface Destination {
  readonly prefix: string;
  readonly family: Family;
  readonly address: string;
  readonly length: number;
}

/** Route-flap dampening (RFC 2439): each loss adds a penalty that halves every `halfLifeMs`. */
export interface DampeningSettings {
  /** Added at each loss of an uplink that was carrying traffic or could have. */
  readonly penalty: number;
  /** Above this the uplink is held out of the routes... */
  readonly suppress: number;
  /** ...until the penalty has decayed below this. */
  readonly reuse: number;
  readonly halfLifeMs: number;
  /** The longest an uplink is held out: the penalty is capped to match. */
  readonly maxSuppressMs: number;
}

export interface RoutingSettings {
  readonly table: number;
  readonly destinations: readonly Destination[];
  readonly failback: FailbackSettings;
  /**
   * The conntrack and packet mark bits uplinkd may use to pin each connection to the uplink
   * it started on (mwan3's default 0x3f00); other bits are left alone.
   */
  readonly markMask: number;
  /** `set`: uplinkd sets fib_multipath_hash_policy=1 (per-flow spreading); `keep`: leaves it. */
  readonly hashPolicy: 'set' | 'keep';
  /** Remove routes, rules and the nftables table on a clean exit (default: leave them, traffic keeps flowing). */
  readonly removeOnExit: boolean;
  /** Rules `from ADDRESS lookup UPLINK_TABLE` for each address of each uplink. */
  readonly sourceRules: boolean;
  /** Delete the conntrack entries NATed to an uplink's addresses when it is lost. */
  readonly conntrackFlush: boolean;
  /** Absent: no dampening. */
  readonly dampening?: DampeningSettings;
}

/** One `hooks:` entry: a command run on operator events (types/events.ts). */
export interface HookConfig {
  /** The program (an absolute path) and its arguments; no shell. */
  readonly run: readonly string[];
  readonly events: readonly OperatorEventName[];
  readonly timeoutMs: number;
}

/** `metrics.listen`: the Prometheus endpoint's address and port. */
export interface MetricsSettings {
  readonly host: string;
  readonly port: number;
}

export interface Config {
  readonly uplinks: readonly UplinkConfig[];
  readonly probe: ProbeSettings;
  readonly routing: RoutingSettings;
  readonly control: {
    readonly socket: string;
    /** Besides root, members of this group (name or id) may use the control socket. */
    readonly group?: string | number;
  };
  readonly hooks: readonly HookConfig[];
  /** Absent: no metrics endpoint. */
  readonly metrics?: MetricsSettings;
  /** Absent: uplinkd leaves MPTCP alone. */
  readonly mptcp?: MptcpSettings;
}

/** `mptcp:`: uplinkd owns one path-manager endpoint per uplink and family, IDs from `idBase` (types/layout.ts endpointId). */
export interface MptcpSettings {
  readonly idBase: number;
}

/** Whether an uplink's `fwmark` rule (its pinned connections) should be there, or stay as the kernel has it. */
export type PinRule = 'on' | 'off' | 'as-is';

/** The configured next hop of a family: an address, AUTO_GATEWAY, or undefined. */
export function gatewaySetting(u: Pick<UplinkConfig, 'gateway' | 'gateway6'>, family: Family): string | undefined {
  return family === 4 ? u.gateway : u.gateway6;
}

/** Health verdict of one uplink (status `state`, src/README.md §3). */
export type UplinkState = 'init' | 'up' | 'degraded' | 'down' | 'detached';

/** States in which an uplink carries traffic (degraded: over a quality threshold, still answering). */
export function usableState(state: UplinkState | undefined): boolean {
  return state === 'up' || state === 'degraded';
}

/** What one heartbeat to one target came back with. */
export interface HeartbeatResult {
  readonly target: string;
  readonly ok: boolean;
  /** Round-trip time in ms when ok. */
  readonly rttMs?: number;
  /** Why it failed: `timeout`, HEARTBEAT_CLOSED, or an errno code such as `ENODEV`. */
  readonly error?: string;
}

/** The error of a heartbeat cut short because its prober stopped: no verdict may count it. */
export const HEARTBEAT_CLOSED = 'closed';

/** One probe round of one uplink: a heartbeat to each target. */
export interface ProbeRound {
  readonly seq: number;
  /** Monotonic ms when the round started. */
  readonly startedAt: number;
  /** Ms the round started after it was due: how long the event loop kept it waiting. */
  readonly lateMs?: number;
  readonly results: readonly HeartbeatResult[];
}

/** A next hop of a desired or kernel route, tied to the uplink it leaves through. */
export interface RouteNexthop {
  readonly uplink: string;
  readonly interface: string;
  /** Omitted on point-to-point links: the route goes via the device. */
  readonly gateway?: string;
  /** Kernel weight, 1..256. */
  readonly weight: number;
}

export interface DesiredRoute {
  readonly destination: Destination;
  readonly table: number;
  readonly nexthops: readonly RouteNexthop[];
}

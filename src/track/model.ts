// track/: what uplinkd knows of its uplinks, the events that change it and the effects it
// asks for, as plain data (src/README.md §1). The reducer (reduce.ts) is the only writer.
import type { ConfigDiff } from '../types/config-diff.js';
import type { Health, PassiveState, RttEstimate, SampleWindow, TrafficCounters } from '../health/index.js';
import type { LinkChange, LinkSnapshot } from '../types/link.js';
import { type GatewayOffer, type LearntGateways, NO_OFFER } from './gateways.js';
import { NO_NOTICES, type NoticeState } from './notices.js';
import type { ApplyReport, KernelRoute, RouteEvent } from '../types/routes.js';
import { type Damping, type FamilySteering, NO_STEER_STATE, type SteerState } from '../steer/index.js';
import type { OperatorEvent } from '../types/events.js';
import type { Config, Family, HeartbeatResult, ProbeRound, UplinkConfig } from '../types/index.js';

/** Both clocks at the moment of an event: wall ms for `since` and logs, monotonic ms for everything timed. */
export interface Now {
  readonly wall: number;
  readonly mono: number;
}

export interface SourceAddress {
  readonly family: Family;
  readonly address: string;
}

/** What uplinkd tracks of one uplink. */
export interface TrackedUplink {
  readonly config: UplinkConfig;
  /** One verdict per family the uplink has targets in: each family fails over on its own. */
  readonly health: ReadonlyMap<Family, Health>;
  /** Each target's last `probe.window` heartbeats, by label. */
  readonly windows: ReadonlyMap<string, SampleWindow>;
  /** Each target's last heartbeat, by label. */
  readonly last: ReadonlyMap<string, HeartbeatResult>;
  /** Whether its interface has been seen, so a missing one is `vanished`, not `missing`. */
  readonly linkSeen: boolean;
  /** Monotonic ms of the last return to `init`: rounds started before it are stale. */
  readonly freshSince: number;
  /** The local errno heartbeats fail with now (EMFILE...), said once when it starts. */
  readonly localError: string | undefined;
  /** Flap penalty (routing.dampening). */
  readonly damping: Damping;
  /** The interface's global addresses as last seen: a vanished NIC takes them with it. */
  readonly addresses: readonly SourceAddress[];
  /** Families in which it has been lost since start: its next `up` there is a recovery. */
  readonly everLost: ReadonlySet<Family>;
  /** Each target's smoothed RTT and variation (RFC 6298), by label: `timeout: auto` and the passive span. */
  readonly rtt: ReadonlyMap<string, RttEstimate>;
  /** The users' traffic through it, each way, and the confirmations it started (health/passive.ts). */
  readonly passive: PassiveState;
  /** `gateway: auto`: the next hops learnt, per family (gateways.ts). */
  readonly learnt: LearntGateways;
  /** Whether it has a prober: not while every family it sends heartbeats in waits for a next hop. */
  readonly probing: boolean;
}

/** Routes or rules changed by someone else, waiting to be put back. */
export interface ReconcileState {
  /** What was seen since the last apply began, for its log line. */
  readonly reasons: readonly string[];
  /** Monotonic ms of the restores that changed something, within the fight window. */
  readonly restores: readonly number[];
  /** Monotonic ms until which reconciling waits (someone keeps undoing it). */
  readonly pausedUntil: number;
  /** A reconcile timer is running. */
  readonly armed: boolean;
}

/**
 * An operator's override of an uplink (`uplinkd drain|prefer`), until `uplinkd resume`.
 * `drain`: no new flows while another uplink answers; pinned flows finish. `prefer`: steered
 * above its tier. Kept over reloads and restarts (a state file beside the control socket).
 */
export interface Override {
  readonly kind: 'drain' | 'prefer';
  /** Who set it: `root (uid 0)`. */
  readonly by: string;
  /** ISO time it was set. */
  readonly since: string;
}

export interface Tracking {
  readonly config: Config;
  /** By uplink name. */
  readonly overrides: ReadonlyMap<string, Override>;
  readonly uplinks: ReadonlyMap<string, TrackedUplink>;
  /** Per family: what carries new flows, and the failback schedule under way. */
  readonly steer: Readonly<Record<Family, SteerState>>;
  /** What the last apply reported, so each thing is logged once (notices.ts). */
  readonly notices: NoticeState;
  /** Whether the last apply went through: a drain waits until the route points at the primary. */
  readonly lastApplyOk: boolean;
  readonly reconcile: ReconcileState;
  /** The apply asked for or under way, and what waits for it (after-apply.ts). */
  readonly applyPhase: ApplyPhase;
  /** uplinkd's new-flow counters at the last steering change: status shows what came since. */
  readonly newFlowBase: ReadonlyMap<string, number>;
  /** What main offers `gateway: auto` (gateways.ts). */
  readonly offer: GatewayOffer;
}

/** The apply asked for or under way, and what waits for it (after-apply.ts). */
export interface ApplyPhase {
  /** Effects decided since the last apply began: they wait for the next one. */
  readonly waiting: readonly Deferred[];
  /** Effects waiting for the apply under way. */
  readonly armed: readonly Deferred[];
  /** An apply was asked for and has not begun. */
  readonly requested: boolean;
  /** An apply is under way. */
  readonly running: boolean;
  /** Applies begun so far. */
  readonly begun: number;
}

export const NO_APPLY: ApplyPhase = { waiting: [], armed: [], requested: false, running: false, begun: 0 };

/** An effect held until the apply that begins after it was decided is done (after-apply.ts). */
export type Deferred = Extract<Effect, { kind: 'prober-run' | 'drain' | 'count-new-flows' }>;

/** A managed route read back from the kernel, each next hop's interface named. */
export interface ManagedRoute {
  readonly route: KernelRoute;
  readonly interfaces: readonly string[];
}

export type TrackEvent =
  /** Start-up: track every uplink of the config. */
  | { readonly kind: 'start'; readonly snapshot: LinkSnapshot }
  /** The managed routes an earlier run left: they are the steering to start from. */
  | { readonly kind: 'adopt'; readonly routes: readonly ManagedRoute[] }
  | { readonly kind: 'round'; readonly uplink: string; readonly round: ProbeRound }
  /** A sample of each uplink's traffic counters (every PASSIVE_SAMPLE_MS), by uplink name. */
  /** `woke`: the uplinks whose unanswered packets had this sample taken (the passive wake-up). */
  | { readonly kind: 'traffic'; readonly counters: ReadonlyMap<string, TrafficCounters>; readonly woke?: readonly string[] }
  /** An answer came after its heartbeat had counted as lost: `timeout: auto` learns from it. */
  | { readonly kind: 'late'; readonly uplink: string; readonly target: string; readonly rttMs: number }
  | { readonly kind: 'links'; readonly changes: readonly LinkChange[]; readonly snapshot: LinkSnapshot }
  /** The default routes other programs keep in main changed (or were read afresh): `gateway: auto` learns from them. */
  | { readonly kind: 'gateways'; readonly offer: GatewayOffer; readonly snapshot: LinkSnapshot }
  /** A timer asked for by a `timer` effect fired. */
  | { readonly kind: 'timer'; readonly timer: TimerName }
  /** Someone changed routes or rules (rtnetlink events). */
  | { readonly kind: 'route-events'; readonly events: readonly RouteEvent[] }
  /** An apply begins: the reconcile reasons gathered so far are its. */
  | { readonly kind: 'apply-begun' }
  | { readonly kind: 'applied'; readonly report: ApplyReport; readonly reasons: readonly string[] }
  | { readonly kind: 'apply-failed'; readonly error: string }
  /** `uplinkd drain|prefer` (an override) or `resume` (none); `flush`: also reset its pinned connections (`drain --now`). */
  | { readonly kind: 'override'; readonly uplink: string; readonly override: Override | undefined; readonly flush: boolean }
  /** Overrides kept by an earlier run, read back at start (before `start`). */
  | { readonly kind: 'restore-overrides'; readonly overrides: ReadonlyMap<string, Override> }
  /** A new config, already valid, and how it differs from the running one. */
  /** `offer`: what main offers the new config's `auto` uplinks, read for it (absent: the one in hand). */
  | {
      readonly kind: 'reload';
      readonly config: Config;
      readonly diff: ConfigDiff;
      readonly path: string;
      readonly snapshot: LinkSnapshot;
      readonly offer?: GatewayOffer;
    }
  /** uplinkd's new-flow counters as read after a steering change (empty: the table was loaded afresh, they start at 0). */
  | { readonly kind: 'new-flow-base'; readonly counters: ReadonlyMap<string, number> }
  /**
   * What the path manager's endpoints lack, as the commands that would put it back, looked at
   * when `begun` applies had begun (the watch: the path manager sends no event for a change by hand).
   */
  | { readonly kind: 'mptcp-look'; readonly drift: readonly string[]; readonly begun: number }
  /** The daemon stops: nothing waits for an apply any more. */
  | { readonly kind: 'stop' };

/**
 * `steer`: the failback schedule's next step or a flap penalty's release is due; `retry`: an
 * apply that was refused or could not read the kernel; `reconcile`: an outside change waits.
 */
export type TimerName = 'steer' | 'retry' | 'reconcile';

export type LogLevel = 'info' | 'warn' | 'error';

export type Effect =
  | { readonly kind: 'log'; readonly level: LogLevel; readonly uplink?: string; readonly fields: Record<string, unknown>; readonly msg: string }
  /** Write the desired state (desired.ts) to the kernel; requests made while one runs collapse into one. */
  | { readonly kind: 'apply' }
  /** Arm a timer (replacing the one of that name), or cancel it when `inMs` is undefined. */
  | { readonly kind: 'timer'; readonly timer: TimerName; readonly inMs: number | undefined }
  /** Make an uplink's prober, `phaseMs` into the round; it sends from `prober-run` on. */
  | { readonly kind: 'prober-new'; readonly uplink: string; readonly phaseMs: number }
  /** Start the uplink's prober: the apply that puts in its table and `oif` rule is done. */
  | { readonly kind: 'prober-run'; readonly uplink: string }
  /**
   * `rebind`: its interface was created again (new ifindex); `repace`: its cadence may have
   * changed; `confirm`: a round now, then the failure pace (the passive signal fired).
   */
  | { readonly kind: 'prober'; readonly uplink: string; readonly action: 'stop' | 'rebind' | 'repace' | 'confirm' }
  /** routing.conntrack_flush: delete the conntrack entries NATed to a lost uplink's addresses. */
  | { readonly kind: 'flush-conntrack'; readonly uplink: string; readonly addresses: readonly SourceAddress[] }
  /**
   * routing.failback.drain, `drain --now`: reset what is still pinned to these once the route
   * change is in. Held by after-apply.ts, which turns it into `reset-pinned` (kernel-sync.ts drainPlan).
   */
  | { readonly kind: 'drain'; readonly uplinks: readonly string[]; readonly cause?: 'failback' | 'operator' }
  /** Delete the conntrack entries pinned to `uplink` (its mark): their clients reconnect through the route now in force. */
  | {
      readonly kind: 'reset-pinned';
      readonly uplink: string;
      /** Its mark under routing.mark_mask. */
      readonly mark: number;
      readonly mask: number;
      readonly cause: 'failback' | 'operator';
      /** routing.failback.drain, for the log line. */
      readonly drainMs?: number;
    }
  /** The steering changed: read the new-flow counters as the base to count from (held until the route change is in). */
  | { readonly kind: 'count-new-flows' }
  /** The overrides changed: keep them where a restart finds them. */
  | { readonly kind: 'save-overrides'; readonly overrides: Readonly<Record<string, Override>> }
  /** Something an operator hears of (hooks, metrics, the status line), in the order it happened. */
  | { readonly kind: 'notify'; readonly event: OperatorEvent };

export interface TrackStep {
  readonly state: Tracking;
  readonly effects: readonly Effect[];
}

export function initialTracking(config: Config): Tracking {
  return {
    config,
    overrides: new Map(),
    uplinks: new Map(),
    steer: { 4: NO_STEER_STATE, 6: NO_STEER_STATE },
    notices: NO_NOTICES,
    lastApplyOk: true,
    reconcile: { reasons: [], restores: [], pausedUntil: 0, armed: false },
    applyPhase: NO_APPLY,
    newFlowBase: new Map(),
    offer: NO_OFFER,
  };
}

export function steeringOf(t: Tracking): FamilySteering {
  return { 4: t.steer[4].steering, 6: t.steer[6].steering };
}

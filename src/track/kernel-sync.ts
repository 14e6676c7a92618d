// track/: keeping the kernel as uplinkd wants it: the desired state from what is tracked, what
// an apply's outcome means (notices, retry, whether a drain may run), outside changes to put
// back and the limiter for when someone keeps undoing them, and the drain plan. Pure.
import type { LinkSnapshot } from '../types/link.js';
import { APPLY_RETRY_MS, noteApply } from './notices.js';
import type { DesiredEndpoint, DesiredMptcp } from '../types/mptcp.js';
import type { ApplyReport, DesiredState, RouteEvent } from '../types/routes.js';
import { desiredRoutes, endpointRoles, nexthopFor, pinRuleFor, uplinkRoutes } from '../steer/index.js';
import type { Config, DesiredRoute, Family, MptcpSettings, PinRule } from '../types/index.js';
import { endpointId, endpointIdRange, MPTCP_SUBFLOWS_MAX, RULE_PRIORITY_MAX, RULE_PRIORITY_MIN, uplinkMark } from '../types/layout.js';
import { routedConfig, routedUplink } from './gateways.js';
import { type Effect, type Now, steeringOf, type Tracking } from './model.js';
import { steerInput } from './steering.js';
import { globalAddresses, stateFor } from './uplink.js';

/** Events within this window are reconciled in one go. */
export const RECONCILE_DEBOUNCE_MS = 20;
/** More restores that changed something than this within the window: someone is fighting us. */
export const RECONCILE_FIGHT_LIMIT = 10;
export const RECONCILE_FIGHT_WINDOW_MS = 10_000;

/** What the config makes uplinkd own in the kernel: the managed table and routes, and each uplink's table. */
/** What uplinkd owns by the config (never the routed one: `fixedNexthops` are the configured ones only). */
export function ownedBy(c: Config): Pick<DesiredState, 'table' | 'destinations' | 'uplinkTables' | 'fixedNexthops'> {
  return {
    table: c.routing.table,
    destinations: c.routing.destinations,
    uplinkTables: c.uplinks.map((u) => ({ table: u.table, interface: u.interface, uplink: u.name })),
    fixedNexthops: c.uplinks.flatMap((u) =>
      ([4, 6] as const).flatMap((family) => {
        const nh = nexthopFor(u, family, 1);
        return nh ? [{ family, interface: u.interface, ...(nh.gateway ? { gateway: nh.gateway } : {}) }] : [];
      }),
    ),
  };
}

/**
 * An uplink's own IPv4 route through a gateway needs an IPv4 address on its interface: without
 * one there is no connected route to find the gateway by, and the kernel refuses it
 * (ENETUNREACH; fib_check_nh_v4_gw, net/ipv4/fib_semantics.c). One whose interface lost its
 * address (a DHCP lease gone) waits for it; health/ has detached the uplink for it already.
 * An interface not in the snapshot is the router's to leave out (missing).
 */
function gatewayReachable(r: DesiredRoute, snapshot: LinkSnapshot): boolean {
  if (r.destination.family !== 4) return true;
  return r.nexthops.every((nh) => {
    const info = nh.gateway ? snapshot.get(nh.interface) : undefined;
    return !info || info.addresses.some((a) => a.family === 4);
  });
}

/** The routes, rules and pinning rules uplinkd wants now; `snapshot` gives the uplinks' addresses (source rules). */
/** The multipath hash policy that spreads new flows by ports too (net/ipv4/route.c). */
const HASH_POLICY_KEYS = ['net.ipv4.fib_multipath_hash_policy', 'net.ipv6.fib_multipath_hash_policy'];
/** MPTCP sockets fall back to plain TCP while this is 0 (Documentation/networking/mptcp-sysctl.rst). */
const MPTCP_ENABLED_KEY = 'net.mptcp.enabled';

/**
 * The sysctls a config wants at 1. routing.hash_policy `set`: multipath spreads new flows by
 * ports too, so one LAN host's connections are shared out by the weights (the default hashes
 * on addresses only). `mptcp:`: MPTCP on, or the gateway's multipath sockets are plain TCP.
 */
export function wantedSysctls(c: Config): string[] {
  return [...(c.routing.hashPolicy === 'set' ? HASH_POLICY_KEYS : []), ...(c.mptcp ? [MPTCP_ENABLED_KEY] : [])];
}

/** The config as routes are written from it: learnt next hops in place of `gateway: auto`. */
export function routedConfigOf(t: Tracking): Config {
  return routedConfig(t.config, (name) => t.uplinks.get(name)?.learnt);
}

export function desiredState(t: Tracking, snapshot: LinkSnapshot): DesiredState {
  const c = routedConfigOf(t);
  const tracked = [...t.uplinks.values()];
  const steering = steeringOf(t);
  // An uplink without a next hop in a family has nothing to pin there.
  const pinRules = (family: Family): Map<string, PinRule> =>
    new Map(tracked.filter((u) => nexthopFor(routedUplink(u.config, u.learnt), family, 1)).map((u) => [u.config.name, pinRuleFor(stateFor(u, family))]));
  return {
    ...ownedBy(t.config),
    managed: desiredRoutes(c, steering),
    // Until some uplink has a verdict there is no choice to make: keep what the kernel has.
    managedKnown:
      tracked.some((u) => [...u.health.values()].some((h) => h.state !== 'init')) && (steering[4].active.length > 0 || steering[6].active.length > 0),
    uplinkRoutes: uplinkRoutes(c).filter((r) => gatewayReachable(r, snapshot)),
    markMask: c.routing.markMask,
    pinRules: { 4: pinRules(4), 6: pinRules(6) },
    ...(c.routing.sourceRules ? { sourceAddresses: c.uplinks.map((u) => globalAddresses(snapshot.get(u.interface))) } : {}),
    ...(c.mptcp ? { mptcp: desiredMptcp(t, snapshot, c.mptcp) } : {}),
  };
}

/**
 * `mptcp:`: an endpoint per uplink and family it has an address and a next hop in, with the
 * role steer/ gives it (endpointRoles); a removed one is left out, so it is deleted, and one
 * with no verdict yet is kept as the kernel has it (a restart changes nothing).
 * `limits subflows` must let every uplink of a family have a subflow of its own.
 */
export function desiredMptcp(t: Tracking, snapshot: LinkSnapshot, settings: MptcpSettings): DesiredMptcp {
  const c = t.config;
  const endpoints: DesiredEndpoint[] = [];
  const kept: number[] = [];
  for (const family of [4, 6] as const) {
    const tracked = [...t.uplinks.values()].filter((u) => nexthopFor(routedUplink(u.config, u.learnt), family, 1));
    const roles = endpointRoles(
      t.steer[family],
      tracked.map((u) => steerInput(u, family)),
    );
    for (const u of tracked) {
      const role = roles.get(u.config.name);
      const id = endpointId(
        settings.idBase,
        c.uplinks.findIndex((x) => x.name === u.config.name),
        family,
      );
      if (role === 'keep') kept.push(id);
      const address = globalAddresses(snapshot.get(u.config.interface)).find((a) => a.family === family)?.address;
      if (role === undefined || role === 'removed' || role === 'keep' || address === undefined) continue;
      endpoints.push({
        id,
        family,
        address,
        interface: u.config.interface,
        uplink: u.config.name,
        backup: role === 'standby',
      });
    }
  }
  return {
    ids: endpointIdRange(settings.idBase, c.uplinks.length),
    endpoints,
    kept,
    subflows: Math.min(MPTCP_SUBFLOWS_MAX, c.uplinks.length),
  };
}

/** Which endpoint IDs and local addresses (now) are each uplink's, for status to sort the kernel's endpoints and subflows by. */
export function mptcpOwners(c: Config, settings: MptcpSettings, snapshot: LinkSnapshot): Map<string, { ids: number[]; addresses: string[] }> {
  return new Map(
    c.uplinks.map((u, i) => [
      u.name,
      {
        ids: [endpointId(settings.idBase, i, 4), endpointId(settings.idBase, i, 6)],
        addresses: (snapshot.get(u.interface)?.addresses ?? []).map((a) => a.prefix.split('/')[0]!),
      },
    ]),
  );
}

/** Route events on uplinkd's tables or rule range are outside changes: put back after a short debounce (longer while paused). */
export function noteRouteEvents(t: Tracking, events: readonly RouteEvent[], now: Now, out: Effect[]): Tracking {
  const c = t.config;
  const tables = new Set([c.routing.table, ...c.uplinks.map((u) => u.table)]);
  const mine = events.filter(
    (e) =>
      e.kind === 'mptcp' ||
      (e.kind === 'route' && (e.table === undefined || tables.has(e.table))) ||
      (e.kind === 'rule' && e.priority !== undefined && e.priority >= RULE_PRIORITY_MIN && e.priority <= RULE_PRIORITY_MAX),
  );
  if (mine.length === 0) return t;
  const reasons = [...t.reconcile.reasons];
  for (const e of mine)
    reasons.push(
      e.kind === 'mptcp'
        ? `MPTCP endpoints differ (${e.drift})`
        : `${e.kind === 'route' ? `a route in table ${e.table ?? '?'}` : `rule ${e.priority}`} ${e.deleted ? 'deleted' : 'changed'}`,
    );
  if (t.reconcile.armed) return { ...t, reconcile: { ...t.reconcile, reasons } };
  out.push({ kind: 'timer', timer: 'reconcile', inMs: Math.max(RECONCILE_DEBOUNCE_MS, t.reconcile.pausedUntil - now.mono) });
  return { ...t, reconcile: { ...t.reconcile, reasons, armed: true } };
}

/** An apply came back: log what is new in its report, arm the retry it asks for, and account for restores. */
export function noteApplied(t: Tracking, report: ApplyReport, reasons: readonly string[], now: Now, out: Effect[]): Tracking {
  // Whichever run comes first after an outside change reports it, with what it put back.
  const next = reasons.length > 0 ? noteReconcile(t, reasons, report.changes, now, out) : t;
  const step = noteApply(next.notices, report);
  for (const n of step.notices) out.push({ kind: 'log', ...n });
  out.push({ kind: 'timer', timer: 'retry', inMs: step.retryInMs });
  return { ...next, notices: step.state, lastApplyOk: step.managedOk };
}

export function noteApplyFailed(t: Tracking, error: string, out: Effect[]): Tracking {
  out.push({
    kind: 'log',
    level: 'error',
    fields: { event: 'route', err: error },
    msg: `cannot read the kernel's routes and rules: ${error}; retrying in ${APPLY_RETRY_MS}ms`,
  });
  out.push({ kind: 'timer', timer: 'retry', inMs: APPLY_RETRY_MS });
  return { ...t, lastApplyOk: false };
}

/** Logs what was put back; pauses reconciling for a while if someone keeps undoing it. */
function noteReconcile(t: Tracking, reasons: readonly string[], changes: readonly string[], now: Now, out: Effect[]): Tracking {
  const seen = [...new Set(reasons)].join(', ');
  if (changes.length === 0) {
    // A run already under way when the event came put it back (its commands are logged).
    out.push({
      kind: 'log',
      level: 'info',
      fields: { event: 'reconcile', seen: reasons, restored: [] },
      msg: `changed outside uplinkd (${seen}); nothing left to restore`,
    });
    return t;
  }
  const restores = [...t.reconcile.restores.filter((at) => now.mono - at < RECONCILE_FIGHT_WINDOW_MS), now.mono];
  out.push({
    kind: 'log',
    level: 'warn',
    fields: { event: 'reconcile', seen: reasons, restored: changes },
    msg: `changed outside uplinkd (${seen}); restored: ${changes.join('; ')}`,
  });
  if (restores.length < RECONCILE_FIGHT_LIMIT) return { ...t, reconcile: { ...t.reconcile, restores } };
  const s = RECONCILE_FIGHT_WINDOW_MS / 1000;
  out.push({
    kind: 'log',
    level: 'error',
    fields: { event: 'reconcile', paused_ms: RECONCILE_FIGHT_WINDOW_MS },
    msg: `something keeps changing uplinkd's routes (${RECONCILE_FIGHT_LIMIT} restores in ${s}s): reconciling paused for ${s}s`,
  });
  return { ...t, reconcile: { ...t.reconcile, restores: [], pausedUntil: now.mono + RECONCILE_FIGHT_WINDOW_MS } };
}

export type DrainPlan =
  /** The route change did not go through: resetting connections would send clients nowhere better. */
  | { readonly kind: 'skip' }
  | {
      readonly kind: 'reset';
      /** Uplinks whose pinned connections are reset, with their conntrack mark. */
      readonly reset: readonly { readonly uplink: string; readonly mark: number }[];
      /** Uplinks that carry new flows again (in either family): nothing of theirs is reset. */
      readonly carrying: readonly string[];
    };

/**
 * routing.failback.drain, once the apply is done: which uplinks' pinned connections to reset
 * so their clients reconnect through the preferred uplink. A mark covers both families, so an
 * uplink carrying new flows in either keeps its entries.
 */
export function drainPlan(t: Tracking, uplinks: readonly string[]): DrainPlan {
  if (!t.lastApplyOk) return { kind: 'skip' };
  const steering = steeringOf(t);
  const carrying = new Set(([4, 6] as const).flatMap((f) => steering[f].active.filter((a) => a.share > 0).map((a) => a.uplink)));
  const mask = t.config.routing.markMask;
  const reset: { uplink: string; mark: number }[] = [];
  for (const name of uplinks) {
    if (carrying.has(name)) continue;
    const index = t.config.uplinks.findIndex((u) => u.name === name);
    const mark = index < 0 ? undefined : uplinkMark(mask, index);
    if (mark !== undefined && t.uplinks.has(name)) reset.push({ uplink: name, mark });
  }
  return { kind: 'reset', reset, carrying: uplinks.filter((n) => carrying.has(n)) };
}

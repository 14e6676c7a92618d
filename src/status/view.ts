// status/: `uplinkd status` as a pure function of what uplinkd tracks (health, windows,
// steering, flap penalties) and what was just read back from the kernel (routes, flows,
// counters, foreign rules). No I/O and no clock of its own: `now` comes in.
import type { DampeningStatus, MptcpStatus, PassiveStatus, RouteStatus, StatusReport, TargetStatus, UplinkStatus } from '../types/status.js';
import { combine, type Health, NO_TRAFFIC, passiveSpanMs, SAMPLE_STALE_MS, silentMs, timeoutInForce } from '../health/index.js';
import type { KernelRoute } from '../types/routes.js';
import type { UplinkMptcp } from '../types/mptcp.js';
import { dampAt, reuseAt, type Damping, type FamilySteering } from '../steer/index.js';
import { AUTO_GATEWAY, type Config, type Family, gatewaySetting, type UplinkState } from '../types/index.js';
import { counterName } from '../types/layout.js';
import type { Override, TrackedUplink } from '../track/model.js';

/** The part of what track/ keeps of an uplink that status shows. */
export type ShownUplink = Pick<TrackedUplink, 'config' | 'health' | 'windows' | 'last' | 'damping' | 'rtt' | 'passive' | 'learnt'>;

/** Read from the kernel for this status; null where it could not be read. */
export interface KernelReadback {
  /** Live connections pinned to each uplink (conntrack), by uplink name. */
  readonly flows: ReadonlyMap<string, number> | null;
  /** New connections through each uplink since the last steering change (nft counters). */
  readonly fresh: ReadonlyMap<string, number> | null;
  /** The managed routes, each next hop's interface named. */
  readonly routes: readonly { readonly route: KernelRoute; readonly interfaces: readonly string[] }[];
  readonly foreignRules: readonly string[];
  /** From the last apply: what the kernel refused, and connected routes left alone. */
  readonly refused: readonly string[];
  readonly connected: readonly string[];
  /** `mptcp:`: each uplink's endpoints and subflows (null: could not be read); absent without mptcp:. */
  readonly mptcp?: ReadonlyMap<string, UplinkMptcp> | null;
  /** The gateway of each uplink's own default route, per family, by uplink name; absent: not read (memory only). */
  readonly gateways?: ReadonlyMap<string, Readonly<Partial<Record<Family, string>>>>;
}

/** A family's next hop in force, where it came from and since when (`gateway`, `gateway_source`, `gateway_since`). */
function gatewayView(u: ShownUplink, family: Family, kernel: KernelReadback): [string | null, string | null, string | null] {
  const setting = gatewaySetting(u.config, family);
  const learnt = setting === AUTO_GATEWAY ? u.learnt[family] : undefined;
  const intended = learnt?.address ?? (setting === AUTO_GATEWAY ? undefined : setting);
  const read = kernel.gateways ? kernel.gateways.get(u.config.name)?.[family] : intended;
  if (read === undefined) return [null, null, null];
  if (read !== intended) return [read, null, null];
  return learnt ? [read, learnt.source, new Date(learnt.since).toISOString()] : [read, 'static', null];
}

/** Best first: an uplink's summary state is that of its best family. */
const STATE_RANK: readonly UplinkState[] = ['up', 'degraded', 'init', 'down', 'detached'];

/** The family whose verdict an uplink's summary `state` shows: its best one. */
export function summaryFamily(health: ReadonlyMap<Family, Health>): Family {
  const fams = [...health.keys()];
  return fams.reduce((a, b) => (STATE_RANK.indexOf(health.get(b)!.state) < STATE_RANK.indexOf(health.get(a)!.state) ? b : a));
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The flap penalty as status shows it (routing.dampening). */
export function dampingView(damping: Damping, now: number, settings: NonNullable<Config['routing']['dampening']>): DampeningStatus {
  const at = dampAt(damping, now, settings);
  const reuse = reuseAt(at, settings);
  return {
    penalty: Math.round(at.penalty),
    suppressed: at.suppressed,
    ...(reuse !== undefined ? { reuse_in_s: Math.max(0, Math.ceil((reuse - now) / 100) / 10) } : {}),
  };
}

function targetView(u: ShownUplink, label: string, now: number, spanMs: number): TargetStatus {
  const w = u.windows.get(label)!;
  const last = u.last.get(label);
  const rtt = w.rttMs;
  const jitter = w.jitterMs;
  return {
    target: label,
    ok: last?.ok ?? false,
    rtt_ms: rtt === null ? null : round3(rtt),
    jitter_ms: jitter === null ? null : round3(jitter),
    loss_pct: round3(w.lossPct),
    ...(last && !last.ok ? { error: last.error ?? 'failed' } : {}),
    timeout_ms: Math.round(timeoutInForce(u.config.probe.timeoutMs, u.rtt.get(label), u.passive, now, spanMs)),
  };
}

function passiveView(u: ShownUplink, now: number, spanMs: number): PassiveStatus {
  const p = u.passive;
  // Figures of counters that cannot be read now are not shown as if they were current.
  const watching = u.config.probe.passive && p.sampledAt !== undefined && now - p.sampledAt < SAMPLE_STALE_MS;
  const rate = watching ? p.rate : NO_TRAFFIC;
  return {
    enabled: u.config.probe.passive,
    watching,
    sent_packets_per_s: rate.txPackets,
    sent_bytes_per_s: rate.txBytes,
    answer_packets_per_s: rate.rxPackets,
    answer_bytes_per_s: rate.rxBytes,
    last_answer_ms_ago: p.lastRxAt === undefined ? null : Math.round(now - p.lastRxAt),
    silent_ms: watching ? Math.round(silentMs(p, now, spanMs)) : 0,
    span_ms: Math.round(spanMs),
    confirmations: p.started,
    refuted: p.refuted,
    holdoff_ms: Math.max(0, Math.round(p.holdoffUntil - now)),
  };
}

function mptcpView(m: UplinkMptcp | undefined): MptcpStatus | null {
  return m ? { endpoints: m.endpoints, subflows: m.subflows, backup_subflows: m.backupSubflows } : null;
}

function uplinkView(
  u: ShownUplink,
  steering: FamilySteering,
  kernel: KernelReadback,
  freshTotal: number,
  dampening: DampeningStatus | undefined,
  override: Override | undefined,
  now: number,
): UplinkStatus {
  const spanMs = passiveSpanMs(
    u.config.targets.map((t) => t.label),
    u.rtt,
  );
  const targets = u.config.targets.map((t) => targetView(u, t.label, now, spanMs));
  const share = (family: Family): number => steering[family].active.find((a) => a.uplink === u.config.name)?.share ?? 0;
  const fresh = kernel.fresh?.get(u.config.name) ?? null;
  const q = combine([...u.windows.values()]);
  const best = u.health.get(summaryFamily(u.health))!;
  const families = [...u.health].map(([family, h]) => ({
    family: `ipv${family}` as const,
    state: h.state,
    weight: share(family),
    since: new Date(h.since).toISOString(),
    reason: h.reason,
  }));
  return {
    name: u.config.name,
    interface: u.config.interface,
    state: best.state,
    priority: u.config.priority,
    // The share of new flows of the uplink's first family (IPv4 when it has IPv4 targets).
    weight: families[0]!.weight,
    flows: kernel.flows?.get(u.config.name) ?? null,
    new_flows: fresh,
    new_flows_pct: fresh === null || freshTotal === 0 ? null : round3((fresh * 100) / freshTotal),
    rtt_ms: q.rttMs === null ? null : round3(q.rttMs),
    loss_pct: round3(q.lossPct),
    since: new Date(best.since).toISOString(),
    // With two families that disagree, say both: `IPv4: ...; IPv6: ...`.
    reason:
      families.length > 1 && families.some((f) => f.state !== best.state)
        ? families.map((f) => `IPv${f.family.slice(3)} ${f.state}: ${f.reason}`).join('; ')
        : best.reason,
    families,
    ...(dampening ? { dampening } : {}),
    ...(override ? { override } : {}),
    ...(kernel.mptcp !== undefined ? { mptcp: mptcpView(kernel.mptcp?.get(u.config.name)) } : {}),
    timeout_ms: Math.max(...targets.map((t) => t.timeout_ms)),
    passive: passiveView(u, now, spanMs),
    targets,
    ...gatewayFields(u, kernel),
  };
}

function gatewayFields(u: ShownUplink, kernel: KernelReadback) {
  const [gateway, gateway_source, gateway_since] = gatewayView(u, 4, kernel);
  const [gateway6, gateway6_source, gateway6_since] = gatewayView(u, 6, kernel);
  return { gateway, gateway_source, gateway_since, gateway6, gateway6_source, gateway6_since };
}

/** One entry per uplink and route (a route written by hand may name one twice: weights add up). */
export function routeView(config: Config, route: KernelRoute, interfaces: readonly string[]): RouteStatus {
  const byInterface = new Map(config.uplinks.map((u) => [u.interface, u.name]));
  const total = route.nexthops.reduce((a, n) => a + n.weight, 0);
  const perUplink = new Map<string, number>();
  route.nexthops.forEach((n, i) => {
    const name = byInterface.get(interfaces[i]!) ?? interfaces[i]!;
    perUplink.set(name, (perUplink.get(name) ?? 0) + n.weight);
  });
  return {
    destination: route.prefix,
    table: route.table,
    nexthops: [...perUplink].map(([uplink, w]) => ({ uplink, weight: Math.round((w * 100) / total) })),
  };
}

export function statusView(
  config: Config,
  uplinks: readonly ShownUplink[],
  steering: FamilySteering,
  kernel: KernelReadback,
  now: number,
  overrides: ReadonlyMap<string, Override> = new Map(),
): StatusReport {
  const freshTotal = kernel.fresh ? [...kernel.fresh.values()].reduce((a, b) => a + b, 0) : 0;
  const damp = config.routing.dampening;
  const fams = [...new Set(config.routing.destinations.map((d) => d.family))];
  return {
    uplinks: uplinks.map((u) =>
      uplinkView(u, steering, kernel, freshTotal, damp ? dampingView(u.damping, now, damp) : undefined, overrides.get(u.config.name), now),
    ),
    // Read back from the kernel, not from memory (src/README.md §3).
    routes: kernel.routes.map(({ route, interfaces }) => routeView(config, route, interfaces)),
    steering: {
      all_down: fams.some((f) => steering[f].allDown),
      // One reason when the families agree, else each family's own.
      reason:
        new Set(fams.map((f) => steering[f].reason)).size === 1 ? steering[fams[0]!].reason : fams.map((f) => `IPv${f}: ${steering[f].reason}`).join('; '),
    },
    kernel: { refused: kernel.refused, foreign_rules: kernel.foreignRules, connected_routes: kernel.connected },
  };
}

/**
 * New connections through each uplink since the last steering change: the table's counters now
 * less those at the change (`base`). Counters start again at 0 when the table is loaded again.
 */
export function newFlowsSince(config: Config, counters: ReadonlyMap<string, number>, base: ReadonlyMap<string, number>): Map<string, number> {
  return new Map(
    config.uplinks.map((u) => {
      const n = counters.get(counterName(u.name)) ?? 0;
      const b = base.get(counterName(u.name)) ?? 0;
      return [u.name, n >= b ? n - b : n];
    }),
  );
}

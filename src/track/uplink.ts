// track/: one uplink's side of the reducer: probe rounds, link views and quality become
// per-family health steps; a loss adds the flap penalty and may flush conntrack. Pure: the
// effects it decides are pushed to `out` as data.
import {
  applyLink,
  applyQuality,
  applyRound,
  combine,
  confirmationPace,
  endConfirmation,
  INITIAL_PASSIVE,
  nextEstimate,
  observeTraffic,
  wakeUp,
  wantsFastSamples,
  passiveSpanMs,
  type TrafficCounters,
  type HealthStep,
  initialHealth,
  isRttSample,
  type LinkView,
  linkProblem,
  mayConfirm,
  probePace,
  SampleWindow,
  timeoutInForce,
  withoutLocalFailures,
} from '../health/index.js';
import { LINK_ERRNOS } from '../types/errnos.js';
import type { LinkInfo, LinkSnapshot } from '../types/link.js';
import { dampLoss, isLoss, NO_DAMPING, reuseAt } from '../steer/index.js';
import { type Config, type Family, HEARTBEAT_CLOSED, type ProbeRound, type UplinkConfig, type UplinkState, usableState } from '../types/index.js';
import { PASSIVE_IDLE_SAMPLE_MS, PASSIVE_QUIET_MS, PASSIVE_SAMPLE_MS, RTO_MAX_MS } from '../types/layout.js';
import { type GatewayOffer, gatewayWait, type LearntGateways, NO_OFFER, waitsForGateway } from './gateways.js';
import type { Effect, Now, SourceAddress, TrackedUplink } from './model.js';

/** Families an uplink's heartbeats are sent in: it needs an address of each. */
function heartbeatFamilies(u: UplinkConfig): Family[] {
  return [...new Set(u.targets.map((t) => t.family))].sort();
}

/** A newly tracked uplink, or `kept`'s verdicts under new probe settings (a reload that retuned it). */
export function newUplink(u: UplinkConfig, now: Now, kept?: TrackedUplink, learnt: LearntGateways = kept?.learnt ?? {}): TrackedUplink {
  const sameWindow = kept && kept.config.probe.window === u.probe.window;
  return {
    config: u,
    health: kept?.health ?? new Map(heartbeatFamilies(u).map((f) => [f, initialHealth(now.wall)])),
    windows: sameWindow ? kept.windows : new Map(u.targets.map((t) => [t.label, new SampleWindow(u.probe.window)])),
    last: kept?.last ?? new Map(),
    linkSeen: kept?.linkSeen ?? false,
    freshSince: kept?.freshSince ?? -Infinity,
    // Said again after a retune if it still holds: the new settings may have changed it.
    localError: undefined,
    damping: kept?.damping ?? NO_DAMPING,
    addresses: kept?.addresses ?? [],
    everLost: kept?.everLost ?? new Set(),
    rtt: kept?.rtt ?? new Map(),
    // A retune that turns the signal off ends a confirmation it started.
    passive: kept && u.probe.passive ? kept.passive : kept ? endConfirmation(kept.passive, 'abandoned', -Infinity, 0) : INITIAL_PASSIVE,
    learnt,
    probing: false,
  };
}

/** Families an uplink's heartbeats are sent in that have a next hop now: it needs a prober while there is one. */
export function routableFamilies(u: TrackedUplink): Family[] {
  return heartbeatFamilies(u.config).filter((f) => !waitsForGateway(u.config, u.learnt, f));
}

/**
 * The state that steers `family` through an uplink: its own verdict for that family, or, for
 * an uplink with no targets in that family (IPv6 routed, only IPv4 probed), the other one's.
 */
export function stateFor(u: TrackedUplink, family: Family): UplinkState {
  // `gateway6: auto` on an uplink probed in IPv4 only: no IPv6 route until a next hop is learnt.
  if (!u.health.has(family) && waitsForGateway(u.config, u.learnt, family)) return 'detached';
  return (u.health.get(family) ?? u.health.get(family === 4 ? 6 : 4))!.state;
}

/** Whether any family of the uplink could carry traffic. */
function usable(u: TrackedUplink): boolean {
  return [...u.health.values()].some((h) => usableState(h.state));
}

/** How often the prober sends now (faster while a verdict is pending), and whether a failure is confirmed at once. */
export function proberPace(u: TrackedUplink): { intervalMs: number; confirm: boolean } {
  const families = [...u.health.values()];
  // A confirmation the passive signal started already runs at the failure pace: a loss in it
  // starts no second one (its heartbeats would go out in step, and count twice).
  const confirming = u.passive.confirmingSince !== undefined;
  return { intervalMs: confirming ? confirmationPace(u.config.probe) : probePace(families, u.config.probe), confirm: !confirming && mayConfirm(families) };
}

/** The silence that starts a confirmation (health/rto.ts passiveSpanMs). */
export function passiveSpan(u: TrackedUplink): number {
  return passiveSpanMs(
    u.config.targets.map((t) => t.label),
    u.rtt,
  );
}

/** How long a heartbeat to `target` sent now is waited for (health/rto.ts timeoutInForce). */
export function heartbeatTimeout(u: TrackedUplink, target: string, now: number): number {
  return timeoutInForce(u.config.probe.timeoutMs, u.rtt.get(target), u.passive, now, passiveSpan(u));
}

/** How long an answer is listened for after its heartbeat counted as lost: `auto` learns from late ones. */
export function listenMs(u: UplinkConfig): number {
  return u.probe.timeoutMs === 'auto' ? RTO_MAX_MS : u.probe.timeoutMs;
}

/** A late answer: the estimate learns the slower path; the verdict stands. */
export function lateAnswer(u: TrackedUplink, target: string, rttMs: number): TrackedUplink {
  const t = u.config.targets.find((x) => x.label === target);
  if (!t || !isRttSample(t.kind, rttMs)) return u;
  return { ...u, rtt: new Map(u.rtt).set(target, nextEstimate(u.rtt.get(target), rttMs)) };
}

/** Longest a confirmation the passive signal started may wait for its rounds (a stopped prober, dropped rounds). */
function confirmationMaxMs(u: UplinkConfig): number {
  return 2 * Math.max(RTO_MAX_MS, listenMs(u));
}

/** A passive confirmation whose rounds have said nothing for CONFIRMATION_MAX_MS is given up (said once). */
function abandonStale(u: TrackedUplink, now: Now, out: Effect[]): TrackedUplink {
  const since = u.passive.confirmingSince;
  const maxMs = confirmationMaxMs(u.config);
  if (since === undefined || now.mono - since <= maxMs) return u;
  out.push({
    kind: 'log',
    level: 'warn',
    uplink: u.config.name,
    fields: { event: 'passive', abandoned: true },
    msg: `${u.config.name}: no heartbeat round of the confirmation said anything in ${maxMs / 1000} s; it is given up`,
  });
  out.push({ kind: 'prober', uplink: u.config.name, action: 'repace' });
  return { ...u, passive: endConfirmation(u.passive, 'abandoned', now.mono, u.config.probe.intervalMs) };
}

/**
 * One sample of the uplink's traffic counters. When the path has gone silent, a confirmation
 * starts: a round now, then the failure pace (a `prober confirm` effect), and the log says why.
 */
export function observeUplinkTraffic(u: TrackedUplink, counters: TrafficCounters, now: Now, out: Effect[]): TrackedUplink {
  const p = u.config.probe;
  const spanMs = passiveSpan(u);
  const step = observeTraffic(abandonStale(u, now, out).passive, counters, now.mono, spanMs, p.passive && usable(u));
  const next = { ...u, passive: step.state };
  if (step.silentForMs === undefined) return next;
  const name = u.config.name;
  const sent = counters.txPackets - (step.state.silentFromTx ?? counters.txPackets);
  out.push({
    kind: 'log',
    level: 'info',
    uplink: name,
    fields: { event: 'passive', silent_ms: Math.round(step.silentForMs), sent, span_ms: Math.round(spanMs) },
    msg: `${name}: ${sent} packets sent in ${Math.round(step.silentForMs)} ms without an answer (span ${Math.round(spanMs)} ms): confirming with heartbeats`,
  });
  out.push({ kind: 'prober', uplink: name, action: 'confirm' });
  return next;
}

/**
 * One sample; `woke`: it was taken because the uplink's packets went out unanswered
 * (the passive wake-up), so the silence it saw begins the watch (health/passive.ts wakeUp).
 */
export function sampleUplinkTraffic(u: TrackedUplink, counters: TrafficCounters, now: Now, out: Effect[], woke: boolean): TrackedUplink {
  if (woke && u.config.probe.passive) {
    const passive = wakeUp(u.passive, counters, now.mono, PASSIVE_QUIET_MS);
    if (passive !== u.passive) return { ...u, passive };
  }
  return observeUplinkTraffic(u, counters, now, out);
}

/**
 * How long until the passive signal's next sample. Every PASSIVE_SAMPLE_MS while one uplink
 * watches a silence, or always when nothing wakes it (no NFLOG: it must look for silences
 * itself); else at the quickest heartbeat pace of the passive uplinks, which keeps `answering`
 * and the rates current (a wake-up comes when a silence begins).
 */
export function passiveSampleMs(uplinks: Iterable<TrackedUplink>, now: number, wakeable: boolean): number {
  let slow: number | undefined;
  for (const u of uplinks) {
    if (!u.config.probe.passive) continue;
    if (!wakeable || wantsFastSamples(u.passive, now, passiveSpan(u))) return PASSIVE_SAMPLE_MS;
    slow = Math.min(slow ?? Number.POSITIVE_INFINITY, proberPace(u).intervalMs);
  }
  return slow ?? PASSIVE_IDLE_SAMPLE_MS;
}

/** An interface's global addresses, without prefix length: what sources heartbeats, NAT and `from` rules. */
export function globalAddresses(info: LinkInfo | undefined): SourceAddress[] {
  return (info?.addresses ?? []).filter((a) => a.global).map((a) => ({ family: a.family, address: a.prefix.split('/')[0]! }));
}

/** The link monitor's view of one interface, for health/. */
export function linkView(snapshot: LinkSnapshot, iface: string, wasPresent: boolean): LinkView {
  const info = snapshot.get(iface);
  if (!info) return { present: false, wasPresent, adminUp: false, carrier: false, families: [] };
  // IPv6 heartbeats to the internet need a global source; a link-local one will not do.
  const families = [...new Set(info.addresses.filter((a) => a.family === 4 || a.global).map((a) => a.family))];
  return { present: true, wasPresent, adminUp: info.adminUp, carrier: info.carrier, families };
}

export interface UplinkUpdate {
  readonly uplink: TrackedUplink;
  /** Some family's state changed: the steering must be looked at again. */
  readonly changed: boolean;
  /** The round said nothing about the path (stale or cut short): nothing at all was learned. */
  readonly dropped?: true;
}

/** Keeps a family's new health and logs its state change; a loss of the last usable family penalises and may flush. */
function record(u: TrackedUplink, family: Family, step: HealthStep, config: Config, now: Now, out: Effect[], failed?: string[]): UplinkUpdate {
  const health = new Map(u.health).set(family, step.health);
  let next: TrackedUplink = { ...u, health };
  const c = step.change;
  if (!c) return { uplink: next, changed: false };
  const name = u.config.name;
  if (isLoss(c.to) && !u.everLost.has(family)) next = { ...next, everLost: new Set([...next.everLost, family]) };
  // A verdict that takes the uplink out of the routes ends the confirmation (degraded still carries).
  if (!usableState(c.to)) next = { ...next, passive: endConfirmation(next.passive, 'confirmed', now.mono, u.config.probe.intervalMs) };
  if (usable(u) && !usable(next)) {
    next = penalise(next, config, now, out);
    if (config.routing.conntrackFlush) out.push({ kind: 'flush-conntrack', uplink: name, addresses: next.addresses });
  }
  if (c.to === 'init') next = { ...next, freshSince: now.mono };
  const who = u.health.size > 1 ? `${name} IPv${family}` : name;
  out.push({
    kind: 'log',
    // A loss is the cause of a failover: `journalctl -p warning` shows both.
    level: isLoss(c.to) && !isLoss(c.from) ? 'warn' : 'info',
    uplink: name,
    fields: { event: 'state', family, from: c.from, to: c.to, reason: c.reason, ...(failed ? { failed } : {}) },
    msg: `${who}: ${c.from} -> ${c.to} (${c.reason})`,
  });
  out.push({ kind: 'notify', event: { event: 'state', uplink: name, interface: u.config.interface, family, from: c.from, to: c.to, reason: c.reason } });
  return { uplink: next, changed: true };
}

/** A loss of a usable uplink adds to its flap penalty (routing.dampening). */
function penalise(u: TrackedUplink, config: Config, now: Now, out: Effect[]): TrackedUplink {
  const d = config.routing.dampening;
  if (!d) return u;
  const name = u.config.name;
  const damping = dampLoss(u.damping, now.mono, d);
  const p = Math.round(damping.penalty);
  // Held out: every family's next `up` is a recovery that proves itself with `hold`.
  const everLost = damping.suppressed ? new Set([...u.everLost, ...u.health.keys()]) : u.everLost;
  if (damping.suppressed && !u.damping.suppressed) {
    const s = Math.ceil((reuseAt(damping, d)! - now.mono) / 1000);
    out.push({
      kind: 'log',
      level: 'warn',
      uplink: name,
      fields: { event: 'dampening', penalty: p, suppressed: true, reuse_in_s: s },
      msg: `${name} flaps: penalty ${p} is over ${d.suppress}; held out of the routes for at least ${s}s`,
    });
  } else {
    out.push({
      kind: 'log',
      level: 'info',
      uplink: name,
      fields: { event: 'dampening', penalty: p, suppressed: damping.suppressed },
      msg: `${name} lost: flap penalty ${p}`,
    });
  }
  return { ...u, damping, everLost };
}

/**
 * Feeds the link monitor's view of the uplink's interface to each family's health; a family
 * that waits for a next hop (`gateway: auto`) is detached too, saying what for. `lost`: the
 * next hops in force before this change, for the reason when one went.
 */
export function checkLink(
  u: TrackedUplink,
  snapshot: LinkSnapshot,
  config: Config,
  now: Now,
  out: Effect[],
  offer: GatewayOffer = NO_OFFER,
  lost: LearntGateways = {},
): UplinkUpdate {
  const iface = u.config.interface;
  const view = linkView(snapshot, iface, u.linkSeen);
  const info = snapshot.get(iface);
  let next: TrackedUplink = { ...u, linkSeen: u.linkSeen || view.present };
  if (info?.addresses.length) next = { ...next, addresses: globalAddresses(info) };
  let changed = false;
  for (const [family, health] of u.health) {
    // Waiting for a lease on a usable link: what it waits for (a missing address is part of it).
    const waiting = waitsForGateway(u.config, u.learnt, family);
    const problem =
      waiting && view.present && view.adminUp && view.carrier ? gatewayWait(u.config, family, offer, lost[family]) : linkProblem(iface, view, [family]);
    const r = record(next, family, applyLink(health, problem, iface, now.wall), config, now, out);
    next = r.uplink;
    changed ||= r.changed;
  }
  return { uplink: next, changed };
}

/** Says when heartbeats start and stop failing for a local reason (once each, not per round). */
function noteLocalError(u: TrackedUplink, local: string | undefined, out: Effect[]): TrackedUplink {
  if (local === u.localError) return u;
  const name = u.config.name;
  out.push(
    local
      ? {
          kind: 'log',
          level: 'error',
          fields: { event: 'probe', uplink: name, err: local },
          msg: `${name}: heartbeats fail on this gateway (${local}: out of a local resource), not on the path; they are not counted as lost`,
        }
      : { kind: 'log', level: 'info', fields: { event: 'probe', uplink: name }, msg: `${name}: heartbeats go out again (the ${u.localError} is over)` },
  );
  return { ...u, localError: local };
}

/**
 * One finished probe round. A round cut short by rebinding the sockets says nothing about the
 * path, and neither does one sent before the uplink last went back to `init` (stale): both are
 * dropped. Heartbeats that could not go out for want of a local resource are not counted.
 */
export function applyProbeRound(u: TrackedUplink, round: ProbeRound, config: Config, now: Now, out: Effect[]): UplinkUpdate {
  if (round.results.some((r) => r.error === HEARTBEAT_CLOSED) || round.startedAt < u.freshSince) return { uplink: u, changed: false, dropped: true };
  const { counted, localError } = withoutLocalFailures(round.results);
  let next = noteLocalError(abandonStale(u, now, out), localError, out);
  const last = new Map(next.last);
  const windows = new Map(next.windows);
  const rtt = new Map(next.rtt);
  if (localError) for (const r of round.results) last.set(r.target, r);
  const familyOf = new Map(u.config.targets.map((t) => [t.label, t.family]));
  const kindOf = new Map(u.config.targets.map((t) => [t.label, t.kind]));
  const byFamily = new Map<Family, { answered: number; total: number; linkError?: string; failed: string[] }>();
  for (const family of u.health.keys()) {
    const results = counted.filter((r) => familyOf.get(r.target) === family);
    if (results.length === 0) continue;
    let answered = 0;
    let linkError: string | undefined;
    for (const r of results) {
      // A link errno (ENODEV...) is the link's verdict, not a sample of the path's quality.
      if (r.error && LINK_ERRNOS.has(r.error)) linkError ??= r.error;
      else {
        const w = windows.get(r.target);
        if (w) windows.set(r.target, w.push(r.ok ? (r.rttMs ?? 0) : null));
      }
      const kind = kindOf.get(r.target);
      if (r.ok && r.rttMs !== undefined && kind && isRttSample(kind, r.rttMs)) rtt.set(r.target, nextEstimate(rtt.get(r.target), r.rttMs));
      last.set(r.target, r);
      if (r.ok) answered++;
    }
    const failed = results.filter((r) => !r.ok).map((r) => `${r.target}: ${r.error ?? 'failed'}`);
    byFamily.set(family, { answered, total: results.length, ...(linkError ? { linkError } : {}), failed });
  }
  next = { ...next, last, windows, rtt };
  // A heartbeat sent during the passive signal's confirmation was answered: the path is alive.
  const since = next.passive.confirmingSince;
  if (since !== undefined && round.startedAt >= since && counted.some((r) => r.ok)) {
    next = { ...next, passive: endConfirmation(next.passive, 'refuted', now.mono, u.config.probe.intervalMs) };
    out.push({
      kind: 'log',
      level: 'info',
      uplink: u.config.name,
      fields: { event: 'passive', refuted: true, holdoff_ms: Math.round(next.passive.holdoffUntil - now.mono) },
      msg: `${u.config.name}: heartbeats answer; the silence was not a failure (next passive confirmation in ${Math.round(next.passive.holdoffUntil - now.mono)} ms at the earliest)`,
    });
  }
  let changed = false;
  for (const [family, { failed, ...summary }] of byFamily) {
    // `reliability` counts targets of the uplink; a family with fewer needs all of its own.
    const settings = { ...u.config.probe, reliability: Math.min(u.config.probe.reliability, summary.total) };
    const r = record(next, family, applyRound(next.health.get(family)!, summary, settings, now.wall), config, now, out, failed);
    const q = checkQuality(r.uplink, family, config, now, out);
    next = q.uplink;
    changed ||= r.changed || q.changed;
  }
  return { uplink: next, changed };
}

/** Judges a family's quality over its targets' windows (a full window: one slow heartbeat is no trend). */
function checkQuality(u: TrackedUplink, family: Family, config: Config, now: Now, out: Effect[]): UplinkUpdate {
  const p = u.config.probe;
  if (p.maxRttMs === undefined && p.maxLossPct === undefined) return { uplink: u, changed: false };
  const windows = u.config.targets.filter((t) => t.family === family).map((t) => u.windows.get(t.label)!);
  const thresholds = {
    ...(p.maxRttMs !== undefined ? { maxRttMs: p.maxRttMs } : {}),
    ...(p.maxLossPct !== undefined ? { maxLossPct: p.maxLossPct } : {}),
    ...(p.recoverRttMs !== undefined ? { recoverRttMs: p.recoverRttMs } : {}),
    ...(p.recoverLossPct !== undefined ? { recoverLossPct: p.recoverLossPct } : {}),
    minSamples: p.window * windows.length,
  };
  return record(u, family, applyQuality(u.health.get(family)!, combine(windows), thresholds, now.wall), config, now, out);
}

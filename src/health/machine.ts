// health/: the pure per-uplink state machine. Probe rounds + time in, state and events out.
// No sockets, no timers, no Date.now(): `now` is an argument (an injected clock).
import type { Family, UplinkState } from '../types/index.js';
import { LOCAL_ERRNOS } from '../types/errnos.js';

/**
 * A round's heartbeats without those that failed for a local reason (LOCAL_ERRNOS), and the
 * first such reason: the rest is what the verdict counts.
 */
export function withoutLocalFailures<T extends { readonly error?: string }>(results: readonly T[]): { counted: T[]; localError?: string } {
  const counted: T[] = [];
  let localError: string | undefined;
  for (const r of results) {
    if (r.error && LOCAL_ERRNOS.has(r.error)) localError ??= r.error;
    else counted.push(r);
  }
  return localError === undefined ? { counted } : { counted, localError };
}

/** What detached an uplink: the link monitor, or heartbeats that could not be sent. */
export type DetachCause = 'link' | 'probe';

export interface HealthSettings {
  /** Consecutive good rounds that make an uplink `up`. */
  readonly up: number;
  /** Consecutive failed rounds that make an uplink `down`. */
  readonly down: number;
  /** Targets that must answer for a round to be good. */
  readonly reliability: number;
}

export interface Health {
  readonly state: UplinkState;
  /** Wall-clock ms of the last state change. */
  readonly since: number;
  readonly reason: string;
  readonly goodStreak: number;
  readonly badStreak: number;
  /** Set while `detached`. */
  readonly detachedBy?: DetachCause;
}

/** What a probe round says, reduced to what the verdict needs. */
export interface RoundSummary {
  readonly answered: number;
  readonly total: number;
  /** A LINK_ERRNOS code one of the heartbeats failed with, if any. */
  readonly linkError?: string;
}

export interface StateChange {
  readonly from: UplinkState;
  readonly to: UplinkState;
  readonly reason: string;
  readonly at: number;
}

export interface HealthStep {
  readonly health: Health;
  readonly change?: StateChange;
}

export function initialHealth(now: number): Health {
  return { state: 'init', since: now, reason: 'no verdict yet', goodStreak: 0, badStreak: 0 };
}

export function isGoodRound(round: RoundSummary, settings: HealthSettings): boolean {
  return round.answered >= settings.reliability;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function change(h: Health, to: UplinkState, reason: string, now: number, extra: Partial<Health> = {}): HealthStep {
  const health: Health = { state: to, since: now, reason, goodStreak: 0, badStreak: 0, ...extra };
  return { health, change: { from: h.state, to, reason, at: now } };
}

/**
 * Feeds one finished probe round. A good round resets the failure streak and a bad one the
 * good streak, so a flap shorter than `down` rounds never leaves `up` (and one shorter than
 * `up` rounds never leaves `down`). A round that hit a link error detaches at once.
 */
export function applyRound(h: Health, round: RoundSummary, settings: HealthSettings, now: number): HealthStep {
  if (round.linkError) {
    if (h.state === 'detached') return { health: h };
    return change(h, 'detached', `heartbeats cannot be sent: ${round.linkError}`, now, { detachedBy: 'probe' });
  }
  if (h.state === 'detached') {
    // Only the link monitor may end a detachment it started; rounds then go on in `init`.
    if (h.detachedBy === 'link') return { health: h };
    const good = isGoodRound(round, settings);
    return change(h, 'init', 'heartbeats can be sent again: proving the uplink', now, { goodStreak: good ? 1 : 0, badStreak: good ? 0 : 1 });
  }
  return countRound(h, round, settings, now);
}

function countRound(h: Health, round: RoundSummary, settings: HealthSettings, now: number): HealthStep {
  const good = isGoodRound(round, settings);
  const goodStreak = good ? h.goodStreak + 1 : 0;
  const badStreak = good ? 0 : h.badStreak + 1;
  let to: UplinkState = h.state;
  let reason = h.reason;
  // Good rounds lift only init and down: a degraded uplink answers, its quality decides.
  if (good && (h.state === 'init' || h.state === 'down') && goodStreak >= settings.up) {
    to = 'up';
    reason = `${plural(goodStreak, 'good round')}`;
  } else if (!good && h.state !== 'down' && badStreak >= settings.down) {
    to = 'down';
    reason = `${plural(badStreak, 'failed round')} (${round.answered} of ${round.total} targets answered, ${settings.reliability} needed)`;
  }
  if (to === h.state) return { health: { ...h, goodStreak, badStreak } };
  return change(h, to, reason, now, { goodStreak, badStreak });
}

/** The interface as the link monitor sees it, reduced to what the verdict needs. */
export interface LinkView {
  readonly present: boolean;
  /** Whether it was present in the previous snapshot: `vanished` rather than `missing`. */
  readonly wasPresent: boolean;
  readonly adminUp: boolean;
  readonly carrier: boolean;
  /** Families with an address that can source heartbeats. */
  readonly families: readonly Family[];
}

/** Why `iface` cannot carry heartbeats of `needed` families now, or undefined when it can. */
export function linkProblem(iface: string, view: LinkView, needed: readonly Family[]): string | undefined {
  if (!view.present) return view.wasPresent ? `interface ${iface} vanished` : `interface ${iface} is missing`;
  if (!view.adminUp) return `${iface} is admin down`;
  if (!view.carrier) return `carrier lost on ${iface}`;
  const lacking = needed.filter((f) => !view.families.includes(f));
  if (lacking.length) return `${iface} has no IPv${lacking[0]} address for its heartbeats`;
  return undefined;
}

/**
 * Feeds what the link monitor says. A problem detaches at once (no probe rounds needed);
 * when it clears, the uplink starts over in `init` and must earn `up` again: no instant
 * flap back onto a link that has just reappeared.
 */
export function applyLink(h: Health, problem: string | undefined, iface: string, now: number): HealthStep {
  if (problem) {
    // Still detached, but say what is true now: a deleted NIC first reports admin down.
    if (h.state === 'detached' && h.detachedBy === 'link') return { health: problem === h.reason ? h : { ...h, reason: problem } };
    return change(h, 'detached', problem, now, { detachedBy: 'link' });
  }
  if (h.state === 'detached' && h.detachedBy === 'link') return change(h, 'init', `${iface} is usable again: proving the uplink`, now);
  return { health: h };
}

/** Quality over the sliding window of one family's targets. */
export interface Quality {
  readonly rttMs: number | null;
  readonly lossPct: number;
  /** Heartbeats in the window (answered or lost). */
  readonly samples: number;
}

export interface QualityThresholds {
  readonly maxRttMs?: number;
  readonly maxLossPct?: number;
  readonly recoverRttMs?: number;
  readonly recoverLossPct?: number;
  /** Heartbeats needed in the window before quality is judged. */
  readonly minSamples: number;
}

/** Recovery thresholds default below the degrading ones: 80% of max_rtt, half of max_loss. */
function recoverRtt(t: QualityThresholds): number | undefined {
  return t.recoverRttMs ?? (t.maxRttMs === undefined ? undefined : t.maxRttMs * 0.8);
}
function recoverLoss(t: QualityThresholds): number | undefined {
  return t.recoverLossPct ?? (t.maxLossPct === undefined ? undefined : t.maxLossPct / 2);
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/**
 * An uplink that answers but too slowly or with too much loss is `degraded`; it is `up`
 * again only once both figures are under the recovery thresholds (hysteresis, as mwan3's
 * check_quality). Only `up` and `degraded` are judged: the others wait for their rounds.
 */
export function applyQuality(h: Health, q: Quality, t: QualityThresholds, now: number): HealthStep {
  if ((h.state !== 'up' && h.state !== 'degraded') || q.samples < t.minSamples) return { health: h };
  if (h.state === 'up') {
    const over: string[] = [];
    if (t.maxRttMs !== undefined && q.rttMs !== null && q.rttMs > t.maxRttMs) over.push(`avg RTT ${fmt(q.rttMs)} ms over max_rtt ${fmt(t.maxRttMs)} ms`);
    if (t.maxLossPct !== undefined && q.lossPct > t.maxLossPct) over.push(`loss ${fmt(q.lossPct)}% over max_loss ${fmt(t.maxLossPct)}%`);
    return over.length ? change(h, 'degraded', over.join(', '), now, { goodStreak: h.goodStreak, badStreak: h.badStreak }) : { health: h };
  }
  const rtt = recoverRtt(t);
  const loss = recoverLoss(t);
  const rttOk = rtt === undefined || q.rttMs === null || q.rttMs < rtt;
  const lossOk = loss === undefined || q.lossPct < loss;
  if (!rttOk || !lossOk) return { health: h };
  const figures = `avg RTT ${q.rttMs === null ? '-' : fmt(q.rttMs)} ms, loss ${fmt(q.lossPct)}%`;
  return change(h, 'up', `quality recovered: ${figures}`, now, { goodStreak: h.goodStreak, badStreak: h.badStreak });
}

export interface PaceSettings {
  readonly intervalMs: number;
  readonly failureIntervalMs?: number;
  readonly recoveryIntervalMs?: number;
}

/**
 * Ms between probe rounds of an uplink: faster while a failure is being confirmed (a family
 * that carries or may carry traffic has failed rounds but no verdict yet), the recovery
 * pace while every family is down or detached, the healthy interval otherwise.
 */
export function probePace(families: readonly Health[], p: PaceSettings): number {
  const confirming = families.some((h) => h.badStreak > 0 && (h.state === 'up' || h.state === 'degraded' || h.state === 'init'));
  if (confirming) return confirmationPace(p);
  if (families.length > 0 && families.every((h) => h.state === 'down' || h.state === 'detached')) return p.recoveryIntervalMs ?? p.intervalMs;
  return p.intervalMs;
}

/** The pace of a confirmation: `failure_interval`, never slower than the healthy interval. */
export function confirmationPace(p: PaceSettings): number {
  return Math.min(p.failureIntervalMs ?? p.intervalMs, p.intervalMs);
}

/** Whether a failing heartbeat should start fast confirmation: some family awaits a verdict or may lose one. */
export function mayConfirm(families: readonly Health[]): boolean {
  return families.some((h) => h.state === 'up' || h.state === 'degraded' || h.state === 'init');
}

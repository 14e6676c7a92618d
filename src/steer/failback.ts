// steer/: the failback schedule (pure). A recovered, more preferred tier first proves itself
// for `hold`, then takes `steps` percent of new flows, one step every `step_interval`; with
// `drain`, that long after the last step the connections still pinned to the tier it came
// from are due to be reset. Failover is always immediate; any failure of the recovering tier
// cancels the failback, and its next recovery starts a new hold. A tier that was never lost
// (its first verdict) takes its flows at once.
import { type FailbackSettings, usableState } from '../types/index.js';
import { NO_STEERING, percentShares, steer, type ActiveUplink, type SteerUplink, type Steering } from './steer.js';

export interface Failback {
  /** The tier being brought back, as steer() chose it. */
  readonly to: Steering;
  /** The tier that carried the traffic when the failback began. */
  readonly from: Steering;
  readonly holdUntil: number;
}

/** Connections still pinned to `uplinks` are reset at `at` (routing.failback.drain). */
export interface Drain {
  readonly at: number;
  readonly uplinks: readonly string[];
}

export interface SteerState {
  readonly steering: Steering;
  readonly failback?: Failback;
  /** When the schedule changes the steering next, or a drain is due (absent when nothing is pending). */
  readonly nextAt?: number;
  readonly drain?: Drain;
}

export const NO_STEER_STATE: SteerState = { steering: NO_STEERING };

const names = (s: Steering): string =>
  s.active
    .map((a) => a.uplink)
    .sort()
    .join(',');

/** The priority of the tier a steering sends its flows to (the best one when two share). */
function tierPriority(s: Steering, uplinks: readonly SteerUplink[]): number {
  const prios = s.active.filter((a) => a.share > 0).map((a) => uplinks.find((u) => u.name === a.uplink)?.priority ?? Infinity);
  return prios.length ? Math.min(...prios) : Infinity;
}

/** `to` gets `pct` percent of new flows, `from` the rest, each split by weight. */
function blend(to: Steering, from: Steering, pct: number): ActiveUplink[] {
  const toShares = percentShares(to.active.map((a) => a.weight)).map((s) => (s * pct) / 100);
  const fromShares = percentShares(from.active.map((a) => a.weight)).map((s) => (s * (100 - pct)) / 100);
  const exact = [...toShares, ...fromShares];
  const rounded = percentShares(exact.map((x) => Math.max(x, 0.0001)));
  const all = [...to.active, ...from.active];
  // The shares are the kernel weights too: a multipath route splits new flows by them.
  return all.map((a, i) => ({ uplink: a.uplink, weight: Math.max(1, rounded[i]!), share: rounded[i]! }));
}

export function steerWithFailback(uplinks: readonly SteerUplink[], prev: SteerState, settings: FailbackSettings, now: number): SteerState {
  const next = schedule(uplinks, prev, settings, now);
  // A pending drain stays while the steering it followed does; any change cancels it.
  if (prev.drain && !next.drain && !next.failback && names(next.steering) === names(prev.steering)) {
    return { ...next, drain: prev.drain, nextAt: Math.min(next.nextAt ?? Infinity, prev.drain.at) };
  }
  return next;
}

/** An operator decided where flows go: a failback under way is dropped (a pending drain stays). */
export function cancelFailback(state: SteerState): SteerState {
  if (!state.failback) return state;
  return { steering: state.steering, ...(state.drain ? { drain: state.drain, nextAt: state.drain.at } : {}) };
}

/** A drain that is due now: the state without it, and the uplinks whose connections go. */
export function takeDueDrain(state: SteerState, now: number): { state: SteerState; uplinks: readonly string[] } {
  if (!state.drain || state.drain.at > now) return { state, uplinks: [] };
  const { drain, nextAt: _, ...rest } = state;
  const carrying = new Set(state.steering.active.filter((a) => a.share > 0).map((a) => a.uplink));
  return { state: rest, uplinks: drain.uplinks.filter((u) => !carrying.has(u)) };
}

function schedule(uplinks: readonly SteerUplink[], prev: SteerState, settings: FailbackSettings, now: number): SteerState {
  const target = steer(uplinks, prev.steering);
  const usable = (name: string): boolean => uplinks.some((u) => u.name === name && usableState(u.state));
  // What carries traffic as the schedule sees it: the failback's origin while one runs.
  const base = prev.failback?.from ?? prev.steering;
  // Routes adopted from the kernel at start (or kept over a reload) stay until their uplinks
  // have a verdict: moving them on the first backup that answers would be a flap.
  const pending = base.active.filter((a) => a.share > 0 && uplinks.some((u) => u.name === a.uplink && u.state === 'init'));
  if (pending.length > 0 && names(target) !== names(base)) {
    return {
      steering: { ...base, allDown: false, reason: `waiting for the first verdict on ${pending.map((a) => a.uplink).join(', ')}` },
      ...(prev.failback ? { failback: prev.failback } : {}),
    };
  }
  const baseUsable = base.active.length > 0 && base.active.some((a) => a.share > 0 && usable(a.uplink));
  // Start, all down, failover (the base tier is gone), or no better tier: follow steer() at once.
  if (!baseUsable || target.allDown || names(target) === names(base) || tierPriority(target, uplinks) >= tierPriority(base, uplinks)) {
    // Adopted routes that the verdicts confirm stay adopted: a primary that answers after
    // the backup then proves itself, as it would have for the uplinkd that wrote them.
    return { steering: base.adopted && names(target) === names(base) ? { ...target, adopted: true } : target };
  }
  // A first verdict is no recovery: nothing to prove (unless the kernel's routes were adopted).
  const firstVerdict = !prev.failback && !base.adopted && target.active.every((a) => !uplinks.find((u) => u.name === a.uplink)?.everLost);
  if (firstVerdict) return { steering: target };
  const from: Steering = { ...base, active: base.active.filter((a) => usable(a.uplink)) };
  // A new, or a different, recovering tier starts its hold now.
  const fb: Failback =
    prev.failback && names(prev.failback.to) === names(target) ? { ...prev.failback, from } : { to: target, from, holdUntil: now + settings.holdMs };
  const toNames = target.active.map((a) => a.uplink).join(', ');
  if (now < fb.holdUntil) {
    const left = Math.ceil((fb.holdUntil - now) / 1000);
    return {
      steering: { active: from.active, allDown: false, reason: `${toNames} recovered: proving itself for ${left}s more before failback` },
      failback: fb,
      nextAt: fb.holdUntil,
    };
  }
  const step = Math.floor((now - fb.holdUntil) / settings.stepIntervalMs);
  if (step >= settings.steps.length - 1 || settings.steps[step]! >= 100) {
    if (settings.drainMs === undefined) return { steering: target };
    // Steps ascend and end at 100 (config/): the last one is the move to 100%.
    const lastStepAt = fb.holdUntil + (settings.steps.length - 1) * settings.stepIntervalMs;
    const drain = { at: lastStepAt + settings.drainMs, uplinks: from.active.map((a) => a.uplink).filter((u) => !target.active.some((t) => t.uplink === u)) };
    return { steering: target, drain, nextAt: drain.at };
  }
  const pct = settings.steps[step]!;
  return {
    steering: {
      active: blend(target, from, pct),
      allDown: false,
      reason: `failback to ${toNames}: step ${step + 1} of ${settings.steps.length}, ${pct}% of new flows`,
    },
    failback: fb,
    nextAt: fb.holdUntil + (step + 1) * settings.stepIntervalMs,
  };
}

// health/: the pure per-uplink state machine. Probe rounds + time in, state and events out.
// No sockets, no timers, no Date.now(): `now` is an argument (an injected clock).
import type { UplinkState } from '../types/index.js';

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
}

/** What a probe round says, reduced to what the verdict needs. */
export interface RoundSummary {
  readonly answered: number;
  readonly total: number;
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

/**
 * Feeds one finished probe round. A good round resets the failure streak and a bad one the
 * good streak, so a flap shorter than `down` rounds never leaves `up` (and one shorter than
 * `up` rounds never leaves `down`).
 */
export function applyRound(h: Health, round: RoundSummary, settings: HealthSettings, now: number): HealthStep {
  const good = isGoodRound(round, settings);
  const goodStreak = good ? h.goodStreak + 1 : 0;
  const badStreak = good ? 0 : h.badStreak + 1;
  let to: UplinkState = h.state;
  let reason = h.reason;
  if (good && h.state !== 'up' && goodStreak >= settings.up) {
    to = 'up';
    reason = `${plural(goodStreak, 'good round')}`;
  } else if (!good && h.state !== 'down' && badStreak >= settings.down) {
    to = 'down';
    reason = `${plural(badStreak, 'failed round')} (${round.answered} of ${round.total} targets answered, ${settings.reliability} needed)`;
  }
  if (to === h.state) return { health: { ...h, goodStreak, badStreak } };
  const change: StateChange = { from: h.state, to, reason, at: now };
  return { health: { state: to, since: now, reason, goodStreak, badStreak }, change };
}

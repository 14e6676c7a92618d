// health/: the passive signal. The users' own traffic through an uplink, counted each way,
// says when a path has gone silent: packets keep going out and nothing comes back for a few
// round trips. It never decides: it starts a confirmation by heartbeats, and a confirmation
// the heartbeats refute holds the next one off for longer (a one-way stream, a UDP upload
// with nothing coming back, would otherwise keep confirmations running). Pure: counters and
// time in, state and the signal out.
import { backoffMs } from '../types/backoff.js';

/** Packets and bytes through an uplink since some moment, each way (nft/'s counters). */
export interface TrafficCounters {
  /** Sent through the uplink in connections this side opened (`ct direction original`). */
  readonly txPackets: number;
  readonly txBytes: number;
  /** Received from the uplink in those connections (`ct direction reply`): answers. */
  readonly rxPackets: number;
  readonly rxBytes: number;
}

export const NO_TRAFFIC: TrafficCounters = Object.freeze({ txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0 });

/** The longest a confirmation the heartbeats refuted holds the next one off. */
export const PASSIVE_HOLDOFF_MAX_MS = 60_000;
/** Answers within this long say the path delivers: see `answering`. */
export const ANSWERING_WINDOW_MS = 1000;
/** Rates are per second over the last full window of this length. */
const RATE_WINDOW_MS = 1000;

export interface PassiveState {
  /** Counters at the last sample, and its monotonic ms. */
  readonly counters?: TrafficCounters;
  readonly sampledAt?: number;
  /** The last sample in which packets went out, and in which answers came. */
  readonly lastTxAt?: number;
  readonly lastRxAt?: number;
  /** The sample that saw the first packet out after the last answer (or after sending paused). */
  readonly silentSince?: number;
  /** The packets sent before that sample: the log says how many went out unanswered. */
  readonly silentFromTx?: number;
  /** Counters at the start of the rate window, and the rates of the last full one (per second). */
  readonly window?: { readonly at: number; readonly counters: TrafficCounters };
  readonly rate: TrafficCounters;
  /** Monotonic ms the confirmation this signal started began, while it runs. */
  readonly confirmingSince?: number;
  /** Refuted confirmations in a row, and until when the next one is held off. */
  readonly falseAlarms: number;
  readonly holdoffUntil: number;
  readonly lastFalseAlarmAt?: number;
  /** Confirmations started, and how many the heartbeats refuted, since start. */
  readonly started: number;
  readonly refuted: number;
}

export const INITIAL_PASSIVE: PassiveState = Object.freeze({ rate: NO_TRAFFIC, falseAlarms: 0, holdoffUntil: 0, started: 0, refuted: 0 });

export interface PassiveStep {
  readonly state: PassiveState;
  /** Set when a confirmation should start now: how long the uplink has sent without an answer. */
  readonly silentForMs?: number;
}

const minus = (a: TrafficCounters, b: TrafficCounters): TrafficCounters => ({
  txPackets: a.txPackets - b.txPackets,
  txBytes: a.txBytes - b.txBytes,
  rxPackets: a.rxPackets - b.rxPackets,
  rxBytes: a.rxBytes - b.rxBytes,
});

/**
 * Feeds one sample of the counters. The signal: packets went out in this sample, nothing has
 * come back since packets went out `spanMs` ago, and sending never paused for `spanMs` in
 * between (a last ACK, then a new connection's SYN, is no silence). Not while a confirmation
 * runs, is held off, or the uplink `mayCarry` no traffic (it is not usable).
 */
export function observeTraffic(s: PassiveState, counters: TrafficCounters, now: number, spanMs: number, mayCarry: boolean): PassiveStep {
  const prev = s.counters;
  if (!prev || counters.txPackets < prev.txPackets || counters.rxPackets < prev.rxPackets) {
    // First sample, or the counters started over (the table was loaded again): a new baseline.
    const { silentSince: _silent, silentFromTx: _from, lastTxAt: _tx, ...rest } = s;
    return { state: { ...rest, counters, sampledAt: now, window: { at: now, counters } } };
  }
  const d = minus(counters, prev);
  let next: PassiveState = { ...s, counters, sampledAt: now };
  const window = s.window ?? { at: now, counters };
  if (now - window.at >= RATE_WINDOW_MS) {
    const w = minus(counters, window.counters);
    const perSecond = (n: number) => Math.round((n * 1000) / (now - window.at));
    next = {
      ...next,
      window: { at: now, counters },
      rate: { txPackets: perSecond(w.txPackets), txBytes: perSecond(w.txBytes), rxPackets: perSecond(w.rxPackets), rxBytes: perSecond(w.rxBytes) },
    };
  } else if (!s.window) next = { ...next, window };
  if (d.rxPackets > 0) {
    const { silentSince: _, silentFromTx: _from, ...rest } = next;
    return { state: { ...rest, lastRxAt: now, ...(d.txPackets > 0 ? { lastTxAt: now } : {}) } };
  }
  if (d.txPackets === 0) return { state: next };
  const paused = s.lastTxAt === undefined || now - s.lastTxAt > spanMs;
  const fresh = s.silentSince === undefined || paused;
  const silentSince = fresh ? now : s.silentSince!;
  next = { ...next, lastTxAt: now, silentSince, silentFromTx: fresh ? prev.txPackets : (s.silentFromTx ?? prev.txPackets) };
  const silentForMs = now - silentSince;
  if (silentForMs < spanMs || !mayCarry || s.confirmingSince !== undefined || now < s.holdoffUntil) return { state: next };
  return { state: { ...next, confirmingSince: now, started: s.started + 1 }, silentForMs };
}

/**
 * The wake-up (nft/ruleset.ts): a packet left while the uplink had sent within `quietMs` and
 * been answered not at all for that long. These counters are the new baseline (the last
 * sample may be long ago, its difference would hold answers from before the silence), and
 * the silence is taken to have begun `quietMs` ago; the samples that follow judge it as
 * observeTraffic does. A silence already under way or a confirmation running is left as it is.
 */
export function wakeUp(s: PassiveState, counters: TrafficCounters, now: number, quietMs: number): PassiveState {
  if (s.confirmingSince !== undefined || s.silentSince !== undefined) return s;
  return {
    ...s,
    counters,
    sampledAt: now,
    lastTxAt: now,
    silentSince: now - quietMs,
    silentFromTx: counters.txPackets,
    window: s.window ?? { at: now, counters },
  };
}

/**
 * Whether the signal wants a sample every PASSIVE_SAMPLE_MS: a silence is under way, or the
 * confirmation it started runs (its heartbeats are waited for as `answering` says, and a slow
 * sample would take the silence for a fresh one), and sending has not paused. Otherwise the
 * wake-up and the heartbeats' pace do.
 */
export function wantsFastSamples(s: PassiveState, now: number, spanMs: number): boolean {
  if (s.confirmingSince !== undefined) return true;
  return s.silentSince !== undefined && s.lastTxAt !== undefined && now - s.lastTxAt <= spanMs;
}

/**
 * The confirmation this signal started is over: `abandoned` (no round said anything for too
 * long) holds the next one off for the interval; `refuted` (a heartbeat sent during it was
 * answered) holds the next one off for the healthy interval, doubling with each refutation in
 * a row up to PASSIVE_HOLDOFF_MAX_MS; after a quiet time of twice the last holdoff the count
 * starts over. `confirmed` (a verdict) clears the count.
 */
export function endConfirmation(s: PassiveState, outcome: 'refuted' | 'confirmed' | 'abandoned', now: number, intervalMs: number): PassiveState {
  if (s.confirmingSince === undefined) return s;
  const { confirmingSince: _, ...rest } = s;
  if (outcome === 'confirmed') return { ...rest, falseAlarms: 0, holdoffUntil: 0 };
  // No round told anything (all dropped, or failed for a local reason): not a refutation.
  if (outcome === 'abandoned') return { ...rest, holdoffUntil: now + intervalMs };
  const lastHoldoff = holdoffMs(s.falseAlarms, intervalMs);
  const inARow = s.lastFalseAlarmAt !== undefined && now - s.lastFalseAlarmAt <= 2 * lastHoldoff + intervalMs ? s.falseAlarms : 0;
  const falseAlarms = inARow + 1;
  return { ...rest, falseAlarms, holdoffUntil: now + holdoffMs(falseAlarms, intervalMs), lastFalseAlarmAt: now, refuted: s.refuted + 1 };
}

function holdoffMs(falseAlarms: number, intervalMs: number): number {
  if (falseAlarms <= 0) return 0;
  return backoffMs(falseAlarms - 1, intervalMs, PASSIVE_HOLDOFF_MAX_MS);
}

/**
 * Whether the path demonstrably delivers: answers came within ANSWERING_WINDOW_MS and no
 * silence of `spanMs` has begun since. A heartbeat that is slow then is more likely queued
 * behind the users' traffic (bufferbloat) than lost, so it is waited for longer.
 */
export function answering(s: PassiveState, now: number, spanMs: number): boolean {
  if (s.lastRxAt === undefined || now - s.lastRxAt > ANSWERING_WINDOW_MS) return false;
  return s.silentSince === undefined || now - s.silentSince < spanMs;
}

/** How long the uplink has been sending without an answer now; 0 when answered, or when sending paused for `spanMs`. */
export function silentMs(s: PassiveState, now: number, spanMs: number): number {
  if (s.silentSince === undefined || s.lastTxAt === undefined || now - s.lastTxAt > spanMs) return 0;
  return now - s.silentSince;
}

/** Samples older than this mean the counters cannot be read now (status `watching`). */
export const SAMPLE_STALE_MS = 1000;

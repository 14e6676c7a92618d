// health/: how long a heartbeat is waited for under `timeout: auto`. TCP's retransmission
// timer (RFC 6298) per target, from the RTTs its answers measured. Pure: samples in, ms out.
import { ANSWERING_TIMEOUT_MIN_MS, RTO_INITIAL_MS, RTO_MAX_MS, RTO_MIN_MS } from '../types/layout.js';
import type { Target } from '../types/index.js';
import { answering, type PassiveState } from './passive.js';

export { RTO_INITIAL_MS, RTO_MAX_MS, RTO_MIN_MS };

/** A target's smoothed RTT and its variation (RFC 6298 §2: SRTT, RTTVAR). */
export interface RttEstimate {
  readonly srttMs: number;
  readonly rttvarMs: number;
}

/** G in RFC 6298 §2: the granularity the RTTs are measured with (the event loop's). */
const GRANULARITY_MS = 10;
/** RFC 6298 §2.3: alpha = 1/8, beta = 1/4, K = 4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

/**
 * A handshake this slow may have been answered to the kernel's second SYN (TCP_TIMEOUT_INIT,
 * include/net/tcp.h).
 */
const TCP_SYN_RETRY_MS = 1000;

/**
 * Whether an answer's RTT may feed the estimate. An echo reply names its request; a TCP
 * handshake does not say which SYN it answers, so one slow enough for a second SYN is no
 * sample (Karn's ambiguity, RFC 6298 §3).
 */
export function isRttSample(kind: Target['kind'], rttMs: number): boolean {
  return kind === 'icmp' || rttMs < TCP_SYN_RETRY_MS;
}

/** Feeds one answered heartbeat's RTT (RFC 6298 §2.2, §2.3); isRttSample says which may. */
export function nextEstimate(e: RttEstimate | undefined, rttMs: number): RttEstimate {
  if (!e) return { srttMs: rttMs, rttvarMs: rttMs / 2 };
  const rttvarMs = (1 - BETA) * e.rttvarMs + BETA * Math.abs(e.srttMs - rttMs);
  const srttMs = (1 - ALPHA) * e.srttMs + ALPHA * rttMs;
  return { srttMs, rttvarMs };
}

/** The retransmission timeout an estimate gives (RFC 6298 §2.3), between the floor and the ceiling. */
export function rtoMs(e: RttEstimate | undefined): number {
  if (!e) return RTO_INITIAL_MS;
  const rto = e.srttMs + Math.max(GRANULARITY_MS, K * e.rttvarMs);
  return Math.min(RTO_MAX_MS, Math.max(RTO_MIN_MS, rto));
}

/**
 * The silence the passive signal waits for: a few round trips, as the slowest answering
 * target's retransmission timeout has them (never under RTO_MIN_MS). A target that never
 * answered has no RTT to go by: RTO_INITIAL_MS only while none has answered.
 */
export function passiveSpanMs(targets: readonly string[], rtt: ReadonlyMap<string, RttEstimate>): number {
  const known = targets.map((t) => rtt.get(t)).filter((e): e is RttEstimate => e !== undefined);
  return known.length ? Math.max(RTO_MIN_MS, ...known.map((e) => rtoMs(e))) : RTO_INITIAL_MS;
}

/**
 * How long a heartbeat sent now is waited for: the configured `timeout`, or under `auto` its
 * target's retransmission timeout; at least ANSWERING_TIMEOUT_MIN_MS while the users' traffic
 * is answered (a slow heartbeat then is queued behind it, not lost: bufferbloat).
 */
export function timeoutInForce(configured: number | 'auto', estimate: RttEstimate | undefined, passive: PassiveState, now: number, spanMs: number): number {
  if (configured !== 'auto') return configured;
  const rto = rtoMs(estimate);
  return answering(passive, now, spanMs) ? Math.min(RTO_MAX_MS, Math.max(rto, ANSWERING_TIMEOUT_MIN_MS)) : rto;
}

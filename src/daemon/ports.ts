// daemon/: the side effects the hub runs besides the kernel, links, nftables and conntrack
// (route/, link/): timers, probers and the config file. Each is a small interface with the real
// one here and a fake in fakes.ts, so the hub's tests run without sockets, timers or a clock.
import type { Config, ProbeRound, UplinkConfig } from '../types/index.js';
import { loadConfig } from '../config/index.js';
import { UplinkProber } from '../probe/index.js';

export interface Clocks {
  /** Wall-clock ms, for `since` and logs. */
  readonly wall: () => number;
  /** Monotonic ms, for RTTs, probe cadence and every timed decision. */
  readonly mono: () => number;
}

export type TimerHandle = { readonly __timer: true } | NodeJS.Timeout;

export interface Scheduler {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** One uplink's heartbeat loop (probe/UplinkProber). */
export interface Prober {
  start(): void;
  stop(): void;
  /** Its interface was created again: open the sockets anew (new ifindex). */
  rebind(): void;
  /** The pace may have changed: take it from the next round on. */
  repace(): void;
  /** A round now, and the heartbeats in flight judged by the timeout in force now (the passive signal fired). */
  confirm(): void;
}

export interface ProberSpec {
  readonly uplink: UplinkConfig;
  readonly onRound: (round: ProbeRound) => void;
  /** Ms from one round's start to the next, asked before each round. */
  readonly pace: () => number;
  /** Whether a failure after an answer starts fast confirmation at once. */
  readonly confirmOnFailure: () => boolean;
  readonly phaseMs: number;
  /** Ms a heartbeat to this target, sent now, is waited for. */
  readonly timeoutFor: (target: string) => number;
  /** Ms an answer is listened for after its heartbeat counted as lost. */
  readonly listenMs: number;
  /** Ms between the rounds of a confirmation. */
  readonly confirmPaceMs: number;
  /** A late answer's RTT. */
  readonly onLate: (target: string, rttMs: number) => void;
}

export type ProberFactory = (spec: ProberSpec) => Prober;

/** Reads and validates the config file; throws config/'s ConfigError when it is not valid. */
export type ConfigLoader = (path: string) => Promise<Config>;

export const realScheduler: Scheduler = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};

export function realProbers(clock: () => number): ProberFactory {
  return (spec) => new UplinkProber({ ...spec, clock });
}

export const realConfigLoader: ConfigLoader = loadConfig;

/** The message of an error a port threw, for a log line. */
export function errText(err: unknown): string {
  return String((err as Error)?.message ?? err);
}

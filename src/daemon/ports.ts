// daemon/: the hub's ports. Timers, probers and the config file are here, each a small
// interface with the real one here and a fake in fakes.ts; the kernel's (route/, nft/, mptcp/,
// host/, link/) have theirs in their folders. DaemonOptions gathers them all, so the hub's
// tests run without sockets, timers or a clock.
import type { Logger } from 'pino';
import type { Config, Family, ProbeRound, UplinkConfig } from '../types/index.js';
import { loadConfig } from '../config/index.js';
import { UplinkProber } from '../probe/index.js';
import type { ConfigDiff } from '../types/config-diff.js';
import type { ConntrackTable } from '../host/conntrack.js';
import type { CounterReader } from '../nft/counters.js';
import type { LoggedPackets } from '../netlink/nflog.js';
import type { LinkSource } from '../link/monitor.js';
import type { MptcpKernel } from '../mptcp/kernel.js';
import type { NftEventSource } from '../nft/watch.js';
import type { OperatorEvent } from '../types/events.js';
import type { OverrideStore } from './override-store.js';
import type { PinningTable } from '../nft/ruleset.js';
import type { RouteEventSource } from '../route/watch.js';
import type { RouteKernel } from '../route/kernel.js';
import type { Sysctl } from '../host/sysctl.js';

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
  /** A round starts now (the loop is awake). */
  readonly onRoundStart: () => void;
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

/** Everything the hub is given: the config, a logger, the clocks, and a port for each side effect. */
export interface DaemonOptions {
  readonly configPath: string;
  readonly config: Config;
  readonly log: Logger;
  readonly kernel: RouteKernel;
  readonly links: LinkSource;
  readonly clocks: Clocks;
  readonly scheduler: Scheduler;
  readonly probers: ProberFactory;
  readonly loadConfig: ConfigLoader;
  readonly families: readonly Family[];
  /** uplinkd's nftables table (flow pinning). */
  readonly pinning: PinningTable;
  readonly conntrack: ConntrackTable;
  readonly sysctl: Sysctl;
  /** The MPTCP path manager (`mptcp:`); used only while the config has that section. */
  readonly mptcp?: MptcpKernel;
  /** The passive signal's counters in uplinkd's nftables table; none: heartbeats alone. */
  readonly counters?: CounterReader;
  /** Its wake-ups (NFLOG, netlink/nflog.ts); none: the counters are read every PASSIVE_SAMPLE_MS. */
  readonly passiveWakes?: LoggedPackets;
  readonly routeEvents?: RouteEventSource;
  readonly nftEvents?: NftEventSource;
  /**
   * Hears each operator event (types/events.ts) in order, as the tracking decides it: hooks,
   * metrics and the service manager's status line. Must not block: it is called inline.
   */
  readonly onEvent?: (event: OperatorEvent) => void;
  /** Where overrides outlive a restart; none: they last while this daemon runs. */
  readonly overrides?: OverrideStore;
  /** Hears each probe round as it comes (metrics count heartbeats); must not block either. */
  readonly onRound?: (uplink: string, round: ProbeRound) => void;
  /** After a reload went through, with what it changed: the operator features follow (control socket, metrics endpoint). */
  readonly onReloaded?: (diff: ConfigDiff, config: Config) => Promise<void> | void;
}

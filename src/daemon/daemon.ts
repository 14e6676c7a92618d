// daemon/: the only wiring hub (src/README.md §1). Events from the probers, the link monitor,
// the route and nftables monitors, timers and control requests go to track/'s reducer; the
// effects it returns are run here through injected ports, each with a fake beside it.
import type { Logger } from 'pino';
import { ConfigError, diffConfig, formatProblem } from '../config/index.js';
import type { OverrideRequest, Request, Response } from '../control/protocol.js';
import type { StatusReport } from '../types/status.js';
import type { LinkSource } from '../link/index.js';
import { type ConntrackTable, type DeleteResult } from '../host/conntrack.js';
import { type CounterReader } from '../nft/counters.js';
import { type NftEventSource } from '../nft/index.js';
import { type RouteEventSource, type RouteKernel, Router } from '../route/index.js';
import { type PinningTable, TABLE_FAMILY, TABLE_NAME } from '../nft/ruleset.js';
import { type MptcpKernel } from '../mptcp/kernel.js';
import { MptcpEndpoints } from '../mptcp/endpoints.js';
import { type UplinkMptcp } from '../types/mptcp.js';
import { type Sysctl } from '../host/sysctl.js';
import { confirmationPace } from '../health/index.js';
import { checkView } from '../status/check.js';
import { newFlowsSince, routeView, statusView } from '../status/view.js';
import { desiredMptcp, desiredState, drainPlan, type Effect, heartbeatTimeout, listenMs, initialTracking, mptcpOwners, overrideProblem, ownedBy, proberPace, type SourceAddress, steeringOf, type TimerName, type TrackEvent, type Tracking, reloadChanges, track } from '../track/index.js';
import type { OperatorEvent } from '../types/events.js';
import type { Config, Family, ProbeRound } from '../types/index.js';
import { RTO_INITIAL_MS, uplinkMark } from '../types/layout.js';
import type { OverrideStore } from './override-store.js';
import { MptcpWatch } from './mptcp-watch.js';
import { PinningKeeper } from './pinning-keeper.js';
import { TrafficSampler } from './traffic-sampler.js';
import { type Clocks, type ConfigLoader, errText, type Prober, type ProberFactory, type Scheduler, type TimerHandle } from './ports.js';

export type { Clocks } from './ports.js';

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
}

/** The multipath hash policy that spreads new flows by ports too (net/ipv4/route.c). */
const HASH_POLICY_KEYS = ['net.ipv4.fib_multipath_hash_policy', 'net.ipv6.fib_multipath_hash_policy'];
/** MPTCP sockets fall back to plain TCP while this is 0 (Documentation/networking/mptcp-sysctl.rst). */
const MPTCP_ENABLED_KEY = 'net.mptcp.enabled';

export class Daemon {
  private tracking: Tracking;
  private readonly router: Router;
  private readonly pinning: PinningKeeper;
  private readonly probers = new Map<string, Prober>();
  private readonly timers = new Map<TimerName, TimerHandle>();
  private applying: Promise<void> = Promise.resolve();
  private applyQueued = false;
  /** Events waiting for the one being reduced (dispatch). */
  private readonly queue: TrackEvent[] = [];
  /** New-flow counters at the last steering change: status shows what came since. */
  private counterBase = new Map<string, number>();
  private stopped = false;
  private savingOverrides: Promise<void> = Promise.resolve();
  /** Monotonic ms the apply under way began at. */
  private applyStartedAt: number | undefined;
  /** Applies begun so far (the MPTCP watch drops a look an apply overlapped). */
  private applyCount = 0;
  private readonly log: Logger;
  private readonly mptcpWatch: MptcpWatch | undefined;
  private readonly sampler: TrafficSampler | undefined;

  constructor(private readonly opts: DaemonOptions) {
    this.tracking = initialTracking(opts.config);
    this.log = opts.log;
    const endpoints = opts.mptcp ? new MptcpEndpoints(opts.mptcp, (command) => this.log.info({ event: 'mptcp', command }, command)) : undefined;
    this.router = new Router(opts.kernel, (command) => this.log.info({ event: 'route', command }, command), opts.families, endpoints);
    this.mptcpWatch = endpoints
      ? new MptcpWatch(
          opts.scheduler,
          () => this.mptcpDrift(endpoints),
          (drift) => this.dispatch({ kind: 'route-events', events: [{ kind: 'mptcp', deleted: false, drift: drift.join('; ') }] }),
          opts.log,
        )
      : undefined;
    this.sampler = opts.counters
      ? new TrafficSampler(
          opts.counters,
          opts.scheduler,
          () => this.tracking.config.uplinks,
          (counters) => this.dispatch({ kind: 'traffic', counters }),
          opts.log,
        )
      : undefined;
    this.pinning = new PinningKeeper(
      opts.pinning,
      () => this.tracking.config,
      opts.log,
      opts.scheduler,
      opts.clocks.mono,
      () => {
        this.counterBase = new Map();
      },
    );
  }

  get currentConfig(): Config {
    return this.tracking.config;
  }

  /** Resolves once no apply or pinning load is queued or under way (tests, reload, stop). */
  async idle(): Promise<void> {
    for (;;) {
      const [a, p, o] = [this.applying, this.pinning.done, this.savingOverrides];
      await Promise.all([a, p, o]);
      if (a === this.applying && p === this.pinning.done && o === this.savingOverrides) return;
    }
  }

  async start(): Promise<void> {
    const { links, routeEvents, nftEvents } = this.opts;
    links.on('change', (changes, snapshot) => this.dispatch({ kind: 'links', changes, snapshot }));
    links.on('resync', (reason) => this.log.warn({ event: 'link', resync: true, reason }, `link monitor resynchronising: ${reason}`));
    routeEvents?.on('change', (events) => this.dispatch({ kind: 'route-events', events }));
    routeEvents?.on('error', (err) => this.log.error({ event: 'reconcile', err: err.message }, `route event monitor: ${err.message}`));
    nftEvents?.on('change', (deleted) => this.pinning.onEvent(deleted));
    nftEvents?.on('error', (err) => this.log.error({ event: 'reconcile', err: err.message }, `nftables event monitor: ${err.message}`));
    await this.setSysctls(this.tracking.config);
    // The pinning table goes in first: connections opened from now on are pinned. Loading it
    // is an atomic replace, and the marks live in conntrack, so a restart moves no flow.
    await this.pinning.schedule('start');
    // What the kernel routes by now is where a restarted daemon starts from (no flap).
    try {
      this.dispatch({ kind: 'adopt', routes: await this.router.managedRoutes(this.tracking.config.routing) });
    } catch (err) {
      this.log.warn({ event: 'adopt', err: errText(err) }, `cannot read the managed routes: ${errText(err)}`);
    }
    // Drains and preferences an earlier run was told of still hold.
    try {
      const kept = (await this.opts.overrides?.load()) ?? new Map();
      if (kept.size) this.dispatch({ kind: 'restore-overrides', overrides: kept });
    } catch (err) {
      this.log.error({ event: 'override', err: errText(err) }, `cannot read the overrides kept by the last run: ${errText(err)}; starting without`);
    }
    this.dispatch({ kind: 'start', snapshot: links.snapshot() });
    await this.applying;
    this.mptcpWatch?.start();
    this.sampler?.start();
  }

  /**
   * Endpoints changed behind uplinkd's back. None while an apply is queued or under way, or
   * when one began during the look: the kernel may be mid-change, not changed by hand.
   */
  private async mptcpDrift(endpoints: MptcpEndpoints): Promise<string[]> {
    const quiet = (): boolean => !this.applyQueued && this.applyStartedAt === undefined;
    const settings = this.tracking.config.mptcp;
    if (!settings || !quiet()) return [];
    const applies = this.applyCount;
    // Every 2 s: only the endpoints are worked out, and the ifindexes come from the link
    // monitor's snapshot rather than a dump of every link.
    const snapshot = this.opts.links.snapshot();
    const links = new Map([...snapshot].map(([name, info]) => [name, info.index]));
    const drift = await endpoints.drift(desiredMptcp(this.tracking, snapshot, settings), links);
    return quiet() && applies === this.applyCount ? drift : [];
  }

  /**
   * Feeds one event to the reducer and runs the effects it asks for. An event raised while
   * effects run waits its turn, so effects run in the order they were decided. After stop,
   * only the outcome of the apply under way is taken (its logs). Public so tests can drive
   * rounds without sockets.
   */
  dispatch(event: TrackEvent): void {
    if (this.stopped && event.kind !== 'applied' && event.kind !== 'apply-failed') return;
    this.queue.push(event);
    if (this.queue.length > 1) return;
    try {
      while (this.queue.length) {
        const step = track(this.tracking, this.queue[0]!, { wall: this.opts.clocks.wall(), mono: this.opts.clocks.mono() });
        this.tracking = step.state;
        for (const effect of step.effects) this.run(effect);
        this.queue.shift();
      }
    } finally {
      this.queue.length = 0;
    }
  }

  private run(e: Effect): void {
    switch (e.kind) {
      case 'log':
        return this.log[e.level]({ ...(e.uplink ? { uplink: e.uplink } : {}), ...e.fields }, e.msg);
      case 'apply':
        return this.requestApply();
      case 'timer': {
        this.opts.scheduler.clearTimeout(this.timers.get(e.timer));
        this.timers.delete(e.timer);
        const timer = e.timer;
        if (e.inMs !== undefined && !this.stopped)
          this.timers.set(
            timer,
            this.opts.scheduler.setTimeout(() => this.dispatch({ kind: 'timer', timer }), e.inMs),
          );
        return;
      }
      case 'prober-start':
        return this.startProber(e.uplink, e.phaseMs);
      case 'prober':
        this.probers.get(e.uplink)?.[e.action]();
        if (e.action === 'stop') this.probers.delete(e.uplink);
        return;
      case 'flush-conntrack':
        return void this.flushConntrack(e.uplink, e.addresses);
      case 'drain':
        return void this.drain(e.uplinks, e.cause ?? 'failback').catch((err: unknown) =>
          this.log.error({ event: 'drain', err: errText(err) }, `failback drain failed: ${errText(err)}`),
        );
      case 'count-new-flows':
        return void this.applying.then(() => this.snapshotCounters());
      case 'save-overrides': {
        const store = this.opts.overrides;
        if (!store) return;
        // One write at a time, in order: the file always ends as the last state said.
        this.savingOverrides = this.savingOverrides.then(() =>
          store
            .save(e.overrides)
            .catch((err: unknown) => this.log.error({ event: 'override', err: errText(err) }, `cannot keep the overrides for a restart: ${errText(err)}`)),
        );
        return;
      }
      case 'notify':
        try {
          return this.opts.onEvent?.(e.event);
        } catch (err) {
          return this.log.error({ event: 'notify', err: errText(err) }, `an event listener failed: ${errText(err)}`);
        }
    }
  }

  private startProber(name: string, phaseMs: number): void {
    this.probers.get(name)?.stop();
    const uplink = this.tracking.config.uplinks.find((u) => u.name === name)!;
    const prober = this.opts.probers({
      uplink,
      onRound: (round) => {
        this.opts.onRound?.(name, round);
        this.dispatch({ kind: 'round', uplink: name, round });
      },
      pace: () => this.pace(name).intervalMs,
      confirmOnFailure: () => this.pace(name).confirm,
      phaseMs,
      timeoutFor: (target) => {
        const u = this.tracking.uplinks.get(name);
        return u ? heartbeatTimeout(u, target, this.opts.clocks.mono()) : RTO_INITIAL_MS;
      },
      listenMs: listenMs(uplink),
      confirmPaceMs: confirmationPace(uplink.probe),
      onLate: (target, rttMs) => this.dispatch({ kind: 'late', uplink: name, target, rttMs }),
    });
    this.probers.set(name, prober);
    // Only once the apply under way has put in the uplink's table and `oif` rule.
    void this.applying.then(() => {
      if (this.probers.get(name) === prober && !this.stopped) prober.start();
    });
  }

  private pace(name: string): { intervalMs: number; confirm: boolean } {
    const u = this.tracking.uplinks.get(name);
    return u ? proberPace(u) : { intervalMs: this.tracking.config.probe.intervalMs, confirm: false };
  }

  /** Applies the latest desired state; requests made while one runs collapse into one more run. */
  private requestApply(): void {
    if (this.applyQueued || this.stopped) return;
    this.applyQueued = true;
    this.applying = this.applying.then(async () => {
      this.applyQueued = false;
      if (this.stopped) return;
      const reasons = this.tracking.reconcile.reasons;
      this.applyStartedAt = this.opts.clocks.mono();
      this.applyCount++;
      try {
        this.dispatch({ kind: 'apply-begun' });
        const state = desiredState(this.tracking, this.opts.links.snapshot());
        this.dispatch({ kind: 'applied', report: await this.router.apply(state), reasons });
      } catch (err) {
        this.dispatch({ kind: 'apply-failed', error: errText(err) });
      } finally {
        this.applyStartedAt = undefined;
      }
    });
  }

  /** How long the apply under way has been running (0 when none is): the watchdog's measure of a hung daemon. */
  applyRunningMs(): number {
    return this.applyStartedAt === undefined ? 0 : this.opts.clocks.mono() - this.applyStartedAt;
  }

  /**
   * routing.hash_policy `set`: multipath spreads new flows by ports too, so one LAN host's
   * connections are shared out by the weights (the default hashes on addresses only).
   * `mptcp:`: MPTCP on, or the gateway's multipath sockets are plain TCP.
   */
  private async setSysctls(config: Config): Promise<void> {
    const keys = [...(config.routing.hashPolicy === 'set' ? HASH_POLICY_KEYS : []), ...(config.mptcp ? [MPTCP_ENABLED_KEY] : [])];
    for (const key of keys) {
      try {
        const now = await this.opts.sysctl.read(key);
        if (now === undefined || now === '1') continue;
        await this.opts.sysctl.write(key, '1');
        this.log.info({ event: 'sysctl', command: `sysctl -w ${key}=1`, was: now }, `sysctl -w ${key}=1 (was ${now})`);
      } catch (err) {
        this.log.error({ event: 'sysctl', key, err: errText(err) }, `cannot set ${key}=1: ${errText(err)}`);
      }
    }
  }

  /** routing.conntrack_flush: LAN clients get a reset at once instead of waiting out a dead flow. */
  private async flushConntrack(uplink: string, addresses: readonly SourceAddress[]): Promise<void> {
    for (const a of addresses) logDeleted(this.log, uplink, await this.opts.conntrack.deleteByReplyDst(a.family, a.address));
  }

  /** routing.failback.drain, once the route change is in: resets what track/'s drainPlan names. */
  private async drain(uplinks: readonly string[], cause: 'failback' | 'operator'): Promise<void> {
    await this.applying;
    const plan = drainPlan(this.tracking, uplinks);
    const what = cause === 'failback' ? 'failback drain' : 'drain --now';
    if (plan.kind === 'skip' || this.stopped) {
      this.log.warn({ event: 'drain', uplinks }, `${what} of ${uplinks.join(', ')} skipped: the route change did not go through`);
      return;
    }
    for (const name of plan.carrying) this.log.info({ event: 'drain', uplink: name, skipped: true }, `${what}: ${name} carries new flows; nothing reset`);
    const mask = this.tracking.config.routing.markMask;
    for (const { uplink, mark } of plan.reset) {
      // Live ones first: the entries deleted include connections that already ended.
      const live = (await this.opts.conntrack.countByMark(mask).catch(() => new Map<number, number>())).get(mark) ?? 0;
      let total = 0;
      for (const r of await this.opts.conntrack.deleteByMark(mark, mask)) total += logDeleted(this.log, uplink, r);
      this.log.info(
        { uplink, event: 'drain', live, deleted: total },
        cause === 'failback'
          ? `failback drain: reset ${live} connections still pinned to ${uplink} ${this.tracking.config.routing.failback.drainMs! / 1000}s after the last step (${total} conntrack entries deleted)`
          : `drain --now: reset ${live} connections pinned to ${uplink} (${total} conntrack entries deleted)`,
      );
    }
  }

  private async snapshotCounters(): Promise<void> {
    try {
      this.counterBase = await this.opts.pinning.counters();
    } catch (err) {
      this.log.warn({ event: 'pinning', err: errText(err) }, `cannot read the new-flow counters: ${errText(err)}`);
    }
  }

  /** Reads back what the kernel does with connections, routes and rules, and renders status from it. */
  async status(): Promise<StatusReport> {
    const config = this.tracking.config;
    const mask = config.routing.markMask;
    let flows: Map<string, number> | null = null;
    let fresh: Map<string, number> | null = null;
    try {
      const byMark = await this.opts.conntrack.countByMark(mask);
      flows = new Map(config.uplinks.map((u, i) => [u.name, byMark.get(uplinkMark(mask, i)!) ?? 0]));
    } catch (err) {
      this.log.warn({ event: 'status', err: errText(err) }, `cannot count pinned connections: ${errText(err)}`);
    }
    try {
      fresh = newFlowsSince(config, await this.opts.pinning.counters(), this.counterBase);
    } catch (err) {
      this.log.warn({ event: 'status', err: errText(err) }, `cannot read the new-flow counters: ${errText(err)}`);
    }
    // Ours through rtnetlink like the rest; the routes a reload moved away are gone by now.
    const routes = await this.router.managedRoutes(config.routing);
    const foreignRules = await this.router.foreignRules(ownedBy(config));
    const t = this.tracking;
    const mptcp = config.mptcp ? await this.mptcpView(config) : undefined;
    const kernel = { flows, fresh, routes, foreignRules, refused: t.notices.refused, connected: t.notices.connected, ...(config.mptcp ? { mptcp } : {}) };
    return statusView(config, [...t.uplinks.values()], steeringOf(t), kernel, this.opts.clocks.mono(), t.overrides);
  }

  /** Each uplink's endpoints and subflows, from the kernel; null when they cannot be read. */
  private async mptcpView(config: Config): Promise<Map<string, UplinkMptcp> | null> {
    if (!config.mptcp || !this.router.mptcp) return null;
    try {
      return await this.router.mptcp.view(mptcpOwners(config, config.mptcp, this.opts.links.snapshot()));
    } catch (err) {
      this.log.warn({ event: 'status', err: errText(err) }, `cannot read the MPTCP endpoints and subflows: ${errText(err)}`);
      return null;
    }
  }

  /** `uplinkd check`: health from memory, the managed routes from the kernel, nothing else read. */
  async check(): Promise<{ carrying: boolean; reason: string }> {
    const t = this.tracking;
    const routes = (await this.router.managedRoutes(t.config.routing)).map(({ route, interfaces }) => routeView(t.config, route, interfaces));
    const steering = steeringOf(t);
    const adopted = new Set(([4, 6] as const).flatMap((f) => (steering[f].adopted ? steering[f].active.map((a) => a.uplink) : [])));
    return checkView({ uplinks: this.summary().uplinks, routes, adopted });
  }

  /** Status from memory alone (no kernel read): health and the intended shares, for the service manager's status line. */
  summary(): StatusReport {
    const t = this.tracking;
    const kernel = { flows: null, fresh: null, routes: [], foreignRules: [], refused: t.notices.refused, connected: t.notices.connected };
    return statusView(t.config, [...t.uplinks.values()], steeringOf(t), kernel, this.opts.clocks.mono(), t.overrides);
  }

  /**
   * Reads the config file again and swaps it in only when it is wholly valid (as keepalived
   * does); uplinks whose settings did not change keep their probes and health.
   */
  async reload(): Promise<Response> {
    const path = this.opts.configPath;
    let next: Config;
    try {
      next = await this.opts.loadConfig(path);
    } catch (err) {
      if (err instanceof ConfigError) {
        const problems = err.problems.map((p) => formatProblem(path, p));
        this.log.error({ event: 'reload', problems }, `reload rejected, keeping the running config: ${problems.length} problem(s)`);
        return { ok: false, error: 'invalid config; the running config is kept', problems };
      }
      throw err;
    }
    const diff = diffConfig(this.tracking.config, next);
    // The new pinning table is queued first: with a new mark_mask, its marks lead the rules.
    void this.pinning.schedule('reload', next);
    await this.setSysctls(next);
    this.dispatch({ kind: 'reload', config: next, diff, path, snapshot: this.opts.links.snapshot() });
    await this.applying;
    return { ok: true, reloaded: true, changes: reloadChanges(diff) };
  }

  async handle(req: Request, by = 'uplinkd'): Promise<Response> {
    if (req.cmd === 'status') return { ok: true, status: await this.status() };
    if (req.cmd === 'check') return { ok: true, check: await this.check() };
    if (req.cmd === 'reload') return this.reload();
    if (req.cmd === 'drain' || req.cmd === 'prefer' || req.cmd === 'resume') return this.override(req, by);
    return { ok: false, error: `unknown command ${JSON.stringify(String((req as { cmd?: unknown } | null)?.cmd).slice(0, 40))}` };
  }

  /** `uplinkd drain|prefer|resume UPLINK`: answered once the new routes are in. */
  private async override(req: OverrideRequest, by: string): Promise<Response> {
    const problem = overrideProblem(this.tracking, req.uplink, req.cmd === 'resume' ? 'resume' : req.cmd);
    if (problem) return { ok: false, error: problem };
    const since = new Date(this.opts.clocks.wall()).toISOString();
    const override = req.cmd === 'resume' ? undefined : { kind: req.cmd, by, since };
    this.dispatch({ kind: 'override', uplink: req.uplink, override, flush: req.cmd === 'drain' && req.now === true });
    await this.idle();
    const family = this.tracking.config.routing.destinations[0]?.family ?? 4;
    const reason = steeringOf(this.tracking)[family].reason;
    const what = req.cmd === 'resume' ? 'resumed' : req.cmd === 'drain' ? 'drained' : 'preferred';
    return { ok: true, done: `${req.uplink} ${what}; new flows: ${reason}` };
  }

  /** Stops probing and waits for a route change in flight; routes stay (traffic keeps flowing). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pinning.stop();
    this.mptcpWatch?.stop();
    this.sampler?.stop();
    for (const timer of this.timers.values()) this.opts.scheduler.clearTimeout(timer);
    this.timers.clear();
    this.opts.routeEvents?.close();
    this.opts.nftEvents?.close();
    for (const prober of this.probers.values()) prober.stop();
    this.probers.clear();
    await this.applying;
    await this.pinning.done;
    await this.savingOverrides;
    if (this.tracking.config.routing.removeOnExit) {
      try {
        const removed = await this.router.removeAll(ownedBy(this.tracking.config));
        await this.opts.pinning.remove();
        this.log.info({ event: 'pinning', command: `nft delete table ${TABLE_FAMILY} ${TABLE_NAME}` }, `nft delete table ${TABLE_FAMILY} ${TABLE_NAME}`);
        this.log.info(
          { event: 'stop', removed: removed.length },
          `routing.remove_on_exit: removed ${removed.length} routes, rules and MPTCP endpoints, and the nftables table`,
        );
      } catch (err) {
        this.log.error({ event: 'stop', err: errText(err) }, `could not remove everything on exit: ${errText(err)}`);
      }
    }
    // Without remove_on_exit the table stays, unowned, and keeps pinning until the next run.
    this.opts.pinning.release();
    this.opts.kernel.close();
    this.opts.mptcp?.close();
    this.opts.counters?.close();
    this.opts.links.close();
  }
}

/** Logs one conntrack deletion as its command; returns how many entries went. */
function logDeleted(log: Logger, uplink: string, r: DeleteResult): number {
  if (r.deleted === undefined) {
    log.error({ uplink, event: 'conntrack', command: r.command, err: r.error }, `${r.command} failed: ${r.error}`);
    return 0;
  }
  log.info({ uplink, event: 'conntrack', command: r.command, deleted: r.deleted }, `${r.command}: ${r.deleted} entries deleted`);
  return r.deleted;
}

// daemon/: the only wiring hub (src/README.md §1). Events from the probers, the link monitor,
// the route and nftables monitors, timers and control requests go to track/'s reducer; the
// effects it returns are run here through injected ports, each with a fake beside it.
import type { Logger } from 'pino';
import { ConfigError, diffConfig, formatProblem } from '../config/index.js';
import type { OverrideRequest, Request, Response } from '../control/protocol.js';
import { confirmationPace, type TrafficCounters } from '../health/index.js';
import {
  applyQuiet,
  desiredMptcp,
  desiredState,
  type Effect,
  heartbeatTimeout,
  initialTracking,
  listenMs,
  overrideDone,
  overrideProblem,
  ownedBy,
  proberPace,
  reloadChanges,
  type TimerName,
  type TrackEvent,
  type Tracking,
  track,
  wantedSysctls,
} from '../track/index.js';
import type { Config } from '../types/index.js';
import { RTO_INITIAL_MS } from '../types/layout.js';
import type { StatusReport } from '../types/status.js';
import { Applier, removeOnExit } from './applier.js';
import { flushConntrack, resetPinned } from './conntrack-effects.js';
import { GatewayLearner } from './gateway-learner.js';
import { MptcpWatch } from './mptcp-watch.js';
import { PinningKeeper } from './pinning-keeper.js';
import { type DaemonOptions, errText, type Prober, type TimerHandle } from './ports.js';
import { memorySummary, type ReadbackPorts, readCheck, readStatus } from './readback.js';
import { setSysctls } from './sysctls.js';
import { TrafficSampler } from './traffic-sampler.js';

export type { Clocks, DaemonOptions } from './ports.js';

export class Daemon {
  private tracking: Tracking;
  private readonly applier: Applier;
  private readonly pinning: PinningKeeper;
  private readonly probers = new Map<string, Prober>();
  private readonly timers = new Map<TimerName, TimerHandle>();
  /** Events waiting for the one being reduced (dispatch). */
  private readonly queue: TrackEvent[] = [];
  private stopped = false;
  private savingOverrides: Promise<void> = Promise.resolve();
  /** The pinned-connection resets under way, one at a time. */
  private resetting: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly mptcpWatch: MptcpWatch | undefined;
  private readonly sampler: TrafficSampler | undefined;
  private readonly readback: ReadbackPorts;
  private readonly gateways: GatewayLearner;

  constructor(private readonly opts: DaemonOptions) {
    this.tracking = initialTracking(opts.config);
    this.log = opts.log;
    this.applier = new Applier({
      kernel: opts.kernel,
      ...(opts.mptcp ? { mptcp: opts.mptcp } : {}),
      families: opts.families,
      log: opts.log,
      mono: opts.clocks.mono,
      begin: () => {
        this.dispatch({ kind: 'apply-begun' });
        return desiredState(this.tracking, this.opts.links.snapshot());
      },
      done: (outcome) =>
        this.dispatch(
          'report' in outcome
            ? { kind: 'applied', report: outcome.report, reasons: this.applyReasons }
            : { kind: 'apply-failed', error: errText(outcome.error) },
        ),
    });
    this.gateways = new GatewayLearner({
      ...opts,
      config: () => this.tracking.config,
      offer: (offer) => this.dispatch({ kind: 'gateways', offer, snapshot: opts.links.snapshot() }),
    });
    this.readback = { applier: this.applier, conntrack: opts.conntrack, pinning: opts.pinning, links: opts.links, mono: opts.clocks.mono, log: opts.log };
    this.mptcpWatch = opts.mptcp ? new MptcpWatch(opts.scheduler, () => this.lookAtMptcp(), opts.log) : undefined;
    const onSample = (counters: ReadonlyMap<string, TrafficCounters>, woke: readonly string[]) => this.dispatch({ kind: 'traffic', counters, woke });
    const sampler = { ...opts, wakes: opts.passiveWakes, tracking: () => this.tracking, mono: opts.clocks.mono, onSample };
    this.sampler = opts.counters ? new TrafficSampler({ ...sampler, reader: opts.counters }) : undefined;
    // After each load the table's counters start again at 0.
    this.pinning = new PinningKeeper(
      opts.pinning,
      () => this.tracking.config,
      opts.log,
      opts.scheduler,
      opts.clocks.mono,
      () => this.dispatch({ kind: 'new-flow-base', counters: new Map() }),
    );
  }

  /** The reconcile reasons the apply under way carries (taken as it began). */
  private applyReasons: readonly string[] = [];

  get currentConfig(): Config {
    return this.tracking.config;
  }

  /** Resolves once no apply or pinning load is queued or under way (tests, reload, stop). */
  async idle(): Promise<void> {
    for (;;) {
      const [a, p, o] = [this.applier.done, this.pinning.done, this.savingOverrides];
      await Promise.all([a, p, o]);
      if (a === this.applier.done && p === this.pinning.done && o === this.savingOverrides) return;
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
    await setSysctls(this.opts.sysctl, wantedSysctls(this.tracking.config), this.log);
    // The pinning table goes in first: connections opened from now on are pinned. Loading it
    // is an atomic replace, and the marks live in conntrack, so a restart moves no flow.
    await this.pinning.schedule('start');
    // `gateway: auto`: what main offers is known before the routes are adopted and uplinks start.
    await this.gateways.start();
    // What the kernel routes by now is where a restarted daemon starts from (no flap).
    try {
      this.dispatch({ kind: 'adopt', routes: await this.applier.managedRoutes(ownedBy(this.tracking.config)) });
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
    await this.applier.done;
    this.mptcpWatch?.start();
    this.sampler?.start();
  }

  /**
   * The path manager's endpoints against what uplinkd wants (the path manager sends no event
   * for a change by hand). Every 2 s: only the endpoints are worked out, and the ifindexes come
   * from the link monitor's snapshot rather than a dump of every link. Whether the look counts
   * (no apply asked for or under way meanwhile) is track/'s decision.
   */
  private async lookAtMptcp(): Promise<void> {
    const settings = this.tracking.config.mptcp;
    const endpoints = this.applier.endpoints;
    // Only saves the read: whether the look counts is decided again when it comes back.
    if (!settings || !endpoints || !applyQuiet(this.tracking.applyPhase)) return;
    const begun = this.tracking.applyPhase.begun;
    const snapshot = this.opts.links.snapshot();
    const links = new Map([...snapshot].map(([name, info]) => [name, info.index]));
    const drift = await endpoints.drift(desiredMptcp(this.tracking, snapshot, settings), links);
    this.dispatch({ kind: 'mptcp-look', drift, begun });
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
        const next = this.queue[0]!;
        if (next.kind === 'apply-begun') this.applyReasons = this.tracking.reconcile.reasons;
        const step = track(this.tracking, next, { wall: this.opts.clocks.wall(), mono: this.opts.clocks.mono() });
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
        return this.applier.request();
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
      case 'prober-new':
        return this.newProber(e.uplink, e.phaseMs);
      case 'prober-run':
        return this.probers.get(e.uplink)?.start();
      case 'prober':
        this.probers.get(e.uplink)?.[e.action]();
        if (e.action === 'stop') this.probers.delete(e.uplink);
        return;
      case 'flush-conntrack':
        return void flushConntrack(this.opts.conntrack, this.log, e.uplink, e.addresses).catch((err: unknown) =>
          this.log.error({ event: 'conntrack', uplink: e.uplink, err: errText(err) }, `conntrack flush failed: ${errText(err)}`),
        );
      case 'drain':
        return; // held by track/ until the route change is in: it comes back as reset-pinned
      case 'reset-pinned':
        // One uplink after another, as the drain names them.
        this.resetting = this.resetting.then(() =>
          resetPinned(this.opts.conntrack, this.log, e).catch((err: unknown) =>
            this.log.error({ event: 'drain', err: errText(err) }, `failback drain failed: ${errText(err)}`),
          ),
        );
        return;
      case 'count-new-flows':
        return void this.opts.pinning.counters().then(
          (counters) => this.dispatch({ kind: 'new-flow-base', counters }),
          (err: unknown) => this.log.warn({ event: 'pinning', err: errText(err) }, `cannot read the new-flow counters: ${errText(err)}`),
        );
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

  /** An uplink's prober, made now (the effects that follow reach it) and started by `prober-run`. */
  private newProber(name: string, phaseMs: number): void {
    this.probers.get(name)?.stop();
    const uplink = this.tracking.config.uplinks.find((u) => u.name === name)!;
    const pace = () => {
      const u = this.tracking.uplinks.get(name);
      return u ? proberPace(u) : { intervalMs: this.tracking.config.probe.intervalMs, confirm: false };
    };
    this.probers.set(
      name,
      this.opts.probers({
        uplink,
        onRound: (round) => {
          this.opts.onRound?.(name, round);
          this.dispatch({ kind: 'round', uplink: name, round });
        },
        pace: () => pace().intervalMs,
        confirmOnFailure: () => pace().confirm,
        phaseMs,
        timeoutFor: (target) => {
          const u = this.tracking.uplinks.get(name);
          return u ? heartbeatTimeout(u, target, this.opts.clocks.mono()) : RTO_INITIAL_MS;
        },
        listenMs: listenMs(uplink),
        confirmPaceMs: confirmationPace(uplink.probe),
        onLate: (target, rttMs) => this.dispatch({ kind: 'late', uplink: name, target, rttMs }),
        onRoundStart: () => this.sampler?.roundStarting(),
      }),
    );
  }

  /** How long the apply under way has been running (0 when none is): the watchdog's measure of a hung daemon. */
  applyRunningMs(): number {
    return this.applier.runningMs();
  }

  /** Reads back what the kernel does with connections, routes and rules, and renders status from it. */
  status(): Promise<StatusReport> {
    return readStatus(this.tracking, this.readback);
  }

  /** `uplinkd check`: health from memory, the managed routes from the kernel, nothing else read. */
  check(): Promise<{ carrying: boolean; reason: string }> {
    return readCheck(this.tracking, this.applier, this.opts.clocks.mono());
  }

  /** Status from memory alone (no kernel read), for the service manager's status line. */
  summary(): StatusReport {
    return memorySummary(this.tracking, this.opts.clocks.mono());
  }

  /**
   * SIGHUP and `uplinkd reload` alike: reads the config file again and swaps it in only when it
   * is wholly valid (as keepalived does); uplinks whose settings did not change keep their
   * probes and health. What the reload changed (diffConfig) goes to `onReloaded` too.
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
    await setSysctls(this.opts.sysctl, wantedSysctls(next), this.log);
    const offer = await this.gateways.offerFor(next);
    this.dispatch({ kind: 'reload', config: next, diff, path, snapshot: this.opts.links.snapshot(), offer });
    await this.gateways.reloaded();
    await this.applier.done;
    // Not awaited: a socket that moved closes its old one once this very request is answered.
    void Promise.resolve()
      .then(() => this.opts.onReloaded?.(diff, next))
      .catch((err: unknown) => this.log.error({ event: 'reload', err: errText(err) }, `after the reload: ${errText(err)}`));
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
    const problem = overrideProblem(this.tracking, req.uplink, req.cmd);
    if (problem) return { ok: false, error: problem };
    const since = new Date(this.opts.clocks.wall()).toISOString();
    const override = req.cmd === 'resume' ? undefined : { kind: req.cmd, by, since };
    this.dispatch({ kind: 'override', uplink: req.uplink, override, flush: req.cmd === 'drain' && req.now === true });
    await this.idle();
    return { ok: true, done: overrideDone(this.tracking, req.uplink, req.cmd) };
  }

  /** Stops probing and waits for a route change in flight; routes stay (traffic keeps flowing) unless remove_on_exit. */
  async stop(): Promise<void> {
    this.dispatch({ kind: 'stop' });
    this.stopped = true;
    this.applier.stop();
    this.pinning.stop();
    this.mptcpWatch?.stop();
    this.sampler?.stop();
    this.gateways.stop();
    for (const timer of this.timers.values()) this.opts.scheduler.clearTimeout(timer);
    this.timers.clear();
    this.opts.routeEvents?.close();
    this.opts.nftEvents?.close();
    for (const prober of this.probers.values()) prober.stop();
    this.probers.clear();
    await this.applier.done;
    await this.pinning.done;
    await this.savingOverrides;
    const config = this.tracking.config;
    if (config.routing.removeOnExit)
      await removeOnExit(
        this.applier,
        this.opts.pinning,
        ownedBy(config),
        config.mptcp && desiredMptcp(this.tracking, this.opts.links.snapshot(), config.mptcp),
        this.log,
      );
    // Without remove_on_exit the table stays, unowned, and keeps pinning until the next run.
    this.opts.pinning.release();
    this.opts.kernel.close();
    this.opts.mptcp?.close();
    this.opts.counters?.close();
    this.opts.conntrack.close();
    this.opts.links.close();
  }
}

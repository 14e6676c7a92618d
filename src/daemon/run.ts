// daemon/: `uplinkd run`: load the config, start the daemon, serve the control socket, and
// stop cleanly on SIGTERM/SIGINT (exit 0). SIGHUP reloads.
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import pino from 'pino';
import { ConfigError, formatProblem, loadConfig } from '../config/index.js';
import { ControlServer, groupId } from '../control/server.js';
import { LinkMonitor } from '../link/index.js';
import { NetlinkCounters } from '../nft/counters.js';
import { NflogListener } from '../netlink/nflog.js';
import { NetlinkKernel, RouteWatcher } from '../route/index.js';
import { NftWatcher } from '../nft/index.js';
import { NetlinkMptcp } from '../mptcp/kernel.js';
import { NftPinningTable } from '../nft/table.js';
import { TABLE_NAME } from '../nft/ruleset.js';
import { ProcSysctl } from '../host/sysctl.js';
import { NetlinkConntrackTable } from '../host/conntrack.js';
import { HookRunner } from '../hooks/runner.js';
import { execaSpawner } from '../hooks/spawn.js';
import type { UplinkMetrics } from '../metrics/registry.js';
import type { MetricsServer } from '../metrics/server.js';
import { APPLY_STUCK_MS, ServiceNotifier, serviceEnvironment } from '../notify/systemd.js';
import { statusLine } from '../notify/status-line.js';
import type { OperatorEvent } from '../types/events.js';
import type { Config, Family } from '../types/index.js';
import { Daemon } from './daemon.js';
import { fileOverrideStore, overridesPathFor } from './override-store.js';
import { realConfigLoader, realProbers, realScheduler } from './ports.js';
import { PASSIVE_LOG_GROUP } from '../types/layout.js';

export interface RunOptions {
  readonly configPath: string;
  /** Overrides control.socket (the CLI's --socket). */
  readonly socket?: string;
  /** The lowest pino level logged (the CLI's --log-level). */
  readonly logLevel?: string;
  /** The package's version, for the start line. */
  readonly version?: string;
}

/** Resolves with the exit code. */
export async function run(opts: RunOptions): Promise<number> {
  const log = pino({ base: { pid: process.pid }, level: opts.logLevel ?? 'info', timestamp: pino.stdTimeFunctions.isoTime });
  // A bug must not leave a half-working daemon: say what happened and exit 1, so that
  // systemd restarts it (routes stay in place meanwhile).
  const fatal = (err: unknown): void => {
    log.fatal({ err: (err as Error)?.stack ?? String(err) }, `fatal: ${(err as Error)?.message ?? String(err)}`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  // From the first moment, signals are noted and acted on once start-up is done: SIGTERM's
  // default action would kill uplinkd half-way through writing the kernel's state. One
  // listener per signal for the whole run, its action swapped: libuv drops a signal caught for
  // a listener removed before the loop dispatched it, so swapping listeners at the end of
  // start-up lost a SIGTERM that came just then (systemd would SIGKILL at TimeoutStopSec).
  let earlyStop: string | undefined;
  let earlyReload = false;
  let onSignal = (signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP'): void => {
    if (signal === 'SIGHUP') earlyReload = true;
    else earlyStop ??= signal;
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => onSignal(signal));
  let config: Config;
  try {
    config = await loadConfig(opts.configPath);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(opts.configPath, p)}\n`);
    process.stderr.write(`uplinkd: ${opts.configPath} is invalid; not starting\n`);
    return 1;
  }

  // IPv6 may be compiled out or disabled; then only IPv4 is managed.
  const families: Family[] = existsSync('/proc/sys/net/ipv6') ? [4, 6] : [4];
  const kernel = new NetlinkKernel();
  const links = new LinkMonitor(process.env.UPLINKD_LINK_RCVBUF ? { recvBufferSize: Number(process.env.UPLINKD_LINK_RCVBUF) } : {});
  links.on('error', (err) => log.error({ event: 'link', err: err.message }, `link monitor: ${err.message}`));
  // Route and rule events, to put back what someone else changed (reconcile); nftables
  // changes, to put uplinkd's table back when a firewall reload flushes it.
  const routeEvents = new RouteWatcher();
  const nftEvents = new NftWatcher();
  /** Until the daemon has started (its stop closes them), what run() opened is closed here on a failed start. */
  const closeOpened = (): void => {
    for (const opened of [nftEvents, routeEvents, kernel, links]) opened.close();
  };
  const fail = (err: unknown, what: string): number => {
    log.fatal({ err: String(err) }, `${what}: ${(err as Error)?.message ?? String(err)}`);
    closeOpened();
    return 1;
  };
  try {
    await links.start();
  } catch (err) {
    return fail(err, 'cannot read links and addresses through netlink');
  }
  try {
    routeEvents.start(() => kernel.portId());
  } catch (err) {
    return fail(err, 'cannot watch routes through netlink');
  }
  try {
    nftEvents.start(TABLE_NAME);
  } catch (err) {
    return fail(err, 'cannot watch nftables through netlink');
  }
  // Listeners of operator events, wired once the daemon exists.
  const listeners: ((e: OperatorEvent) => void)[] = [];
  const version = opts.version ?? 'unknown';
  // prom-client and node:http are loaded only for a config with metrics: (some MB of memory).
  let metrics: UplinkMetrics | undefined;
  const daemon = new Daemon({
    configPath: opts.configPath,
    config,
    log,
    kernel,
    links,
    clocks: { wall: () => Date.now(), mono: () => performance.now() },
    scheduler: realScheduler,
    probers: realProbers(() => performance.now()),
    loadConfig: realConfigLoader,
    families,
    pinning: new NftPinningTable(),
    conntrack: new NetlinkConntrackTable(),
    sysctl: new ProcSysctl(),
    // Opens its sockets on first use: without mptcp: in the config, never.
    mptcp: new NetlinkMptcp(),
    counters: new NetlinkCounters(),
    passiveWakes: new NflogListener(PASSIVE_LOG_GROUP),
    routeEvents,
    nftEvents,
    overrides: fileOverrideStore(overridesPathFor(opts.socket ?? config.control.socket)),
    onEvent: (e) => {
      for (const listen of listeners) listen(e);
    },
    onRound: (uplink, round) => metrics?.onRound(uplink, round),
    // SIGHUP and `uplinkd reload` take the same path (Daemon.reload); what it changed says what follows.
    // Each follower compares the config with what runs, so a move that failed is tried again.
    onReloaded: async (_diff, next) => {
      await followSocket(next);
      await followMetrics(next);
      await metrics?.retain(next.uplinks.map((u) => ({ name: u.name, targets: u.targets.map((t) => t.label) })));
    },
  });
  listeners.push((e) => metrics?.onEvent(e));
  const metricsServer = async (c: Config): Promise<MetricsServer | undefined> => {
    if (!c.metrics) return undefined;
    const [{ UplinkMetrics }, { MetricsServer }] = await Promise.all([import('../metrics/registry.js'), import('../metrics/server.js')]);
    const m = (metrics ??= new UplinkMetrics(version));
    return new MetricsServer(
      c.metrics,
      async () => {
        m.update(await daemon.status(), Date.now());
        return { contentType: m.registry.contentType, body: await m.registry.metrics() };
      },
      (message) => log.warn({ event: 'metrics' }, message),
    );
  };
  let exporter = await metricsServer(config);
  const service = new ServiceNotifier(
    serviceEnvironment(process.env, process.pid),
    // From memory: every operator event refreshes it, and a kernel read each time would be waste.
    async () => statusLine(daemon.summary()),
    (message) => log.warn({ event: 'systemd' }, message),
    () => {
      const ms = daemon.applyRunningMs();
      return ms > APPLY_STUCK_MS ? `an apply has been running for ${Math.round(ms / 1000)}s` : undefined;
    },
  );
  listeners.push(() => service.changed());
  const hooks = new HookRunner(
    () => ({ hooks: daemon.currentConfig.hooks, interfaces: new Map(daemon.currentConfig.uplinks.map((u) => [u.name, u.interface])) }),
    execaSpawner,
    log,
  );
  listeners.push((e) => hooks.emit(e));
  const controlServer = (c: Config, path: string): ControlServer =>
    new ControlServer({
      path,
      ...(c.control.group !== undefined ? { gid: groupId(c.control.group) } : {}),
      handle: (req, by) => daemon.handle(req, by),
      onNotice: (message) => log.warn({ event: 'control', socket: path }, message),
    });
  let control: ControlServer;
  try {
    control = controlServer(config, opts.socket ?? config.control.socket);
  } catch (err) {
    return fail(err, 'cannot open the control socket');
  }
  /** A reload that moved control.socket (and no --socket pins it): listen there instead. */
  async function followSocket(next: Config): Promise<void> {
    const want = next.control.socket;
    if (opts.socket || want === control.path) return;
    let moved: ControlServer;
    try {
      moved = controlServer(next, want);
    } catch (err) {
      log.error({ event: 'reload', err: String(err) }, `${(err as Error).message}; still answering on ${control.path}`);
      return;
    }
    try {
      await moved.listen();
    } catch (err) {
      log.error({ event: 'reload', err: String(err) }, `cannot listen on ${want}: ${String(err)}; still answering on ${control.path}`);
      return;
    }
    const old = control;
    control = moved;
    log.info({ event: 'reload', socket: want, was: old.path }, `control socket moved from ${old.path} to ${want}`);
    await old.close();
  }
  /** A reload that changed metrics.listen: the new endpoint first, the old one closed after. */
  async function followMetrics(config: Config): Promise<void> {
    if (isDeepStrictEqual(config.metrics, exporter?.listen)) return;
    const next = await metricsServer(config);
    try {
      await next?.start();
    } catch (err) {
      log.error(
        { event: 'metrics', err: String(err) },
        `cannot listen for metrics on ${next!.address}: ${(err as Error).message}; ${exporter ? `still on ${exporter.address}` : 'no metrics'}`,
      );
      return;
    }
    const old = exporter;
    exporter = next;
    await old?.close();
    log.info({ event: 'metrics', listen: next?.address ?? null }, next ? `metrics on http://${next.address}/metrics` : 'metrics endpoint closed');
  }
  const socketPath = control.path;
  try {
    await control.listen();
  } catch (err) {
    return fail(err, `cannot listen on ${socketPath}`);
  }
  try {
    await exporter?.start();
  } catch (err) {
    await control.close();
    return fail(err, `cannot listen for metrics on ${exporter!.address}`);
  }
  if (exporter) log.info({ event: 'metrics', listen: exporter.address }, `metrics on http://${exporter.address}/metrics`);
  log.info(
    { event: 'start', version, config: opts.configPath, socket: socketPath, uplinks: config.uplinks.map((u) => u.name) },
    `uplinkd ${version} started with ${opts.configPath}`,
  );
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err: String(err) }, 'start failed');
    await Promise.all([daemon.stop(), control.close(), exporter?.close()]).catch(() => undefined);
    return 1;
  }
  // The first apply is in: systemd may start what comes After= uplinkd.
  await service.ready();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      const routes = daemon.currentConfig.routing.removeOnExit ? 'removing routes (routing.remove_on_exit)' : 'routes stay in place';
      log.info({ event: 'stop', signal }, `${signal}: stopping, ${routes}`);
      service.stopping();
      // Hooks already running end (within their timeouts): a page about a failover still goes out.
      void Promise.all([daemon.stop(), control.close(), hooks.stop(), exporter?.close()]).then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err: String(err) }, 'error while stopping');
          resolve(1);
        },
      );
    };
    const hup = (): void => {
      void daemon.reload().catch((err: unknown) => log.error({ err: String(err) }, 'reload failed'));
    };
    onSignal = (signal) => (signal === 'SIGHUP' ? hup() : stop(signal));
    if (earlyStop) stop(earlyStop);
    else if (earlyReload) hup();
  });
}

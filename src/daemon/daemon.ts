// daemon/: the only wiring hub. Probe rounds feed health/, health changes feed steer/, the
// steering result goes to route/ (one apply at a time), and control/ reads it all back.
import type { Logger } from 'pino';
import { diffConfig, loadConfig, ConfigError, formatProblem } from '../config/index.js';
import type { Request, Response, StatusReport } from '../control/protocol.js';
import {
  applyLink,
  applyQuality,
  applyRound,
  combine,
  initialHealth,
  LINK_ERRNOS,
  linkProblem,
  mayConfirm,
  probePace,
  withoutLocalFailures,
  SampleWindow,
  type Health,
  type HealthStep,
  type LinkView,
} from '../health/index.js';
import { describeChange, type LinkChange, type LinkSnapshot, type LinkSource } from '../link/index.js';
import { HEARTBEAT_CLOSED, UplinkProber } from '../probe/index.js';
import { statusView } from '../status/view.js';
import {
  APPLY_RETRY_MS,
  counterName,
  expectedShape,
  noteApply,
  NO_NOTICES,
  type ApplyReport,
  type NoticeState,
  pinningRuleset,
  Router,
  TABLE_FAMILY,
  TABLE_NAME,
  type ConntrackTable,
  type DeleteResult,
  type DesiredState,
  type NftEventSource,
  type LoadResult,
  type PinningSpec,
  type PinningTable,
  type PinRule,
  type RouteEvent,
  type RouteEventSource,
  type RouteKernel,
  type Sysctl,
} from '../route/index.js';
import {
  adoptedSteering,
  dampAt,
  dampLoss,
  desiredRoutes,
  nexthopFor,
  NO_DAMPING,
  NO_STEER_STATE,
  reuseAt,
  type Damping,
  steerWithFailback,
  isLoss,
  pinRuleFor,
  takeDueDrain,
  uplinkRoutes,
  type FamilySteering,
  type SteerState,
} from '../steer/index.js';
import type { Config, Family, HeartbeatResult, ProbeRound, UplinkConfig, UplinkState } from '../types/index.js';
import { hex, RULE_PRIORITY_MAX, RULE_PRIORITY_MIN, uplinkMark } from '../types/layout.js';

export interface Clocks {
  /** Wall-clock ms, for `since` and logs. */
  readonly wall: () => number;
  /** Monotonic ms, for RTTs and probe cadence. */
  readonly mono: () => number;
}

interface UplinkRuntime {
  readonly config: UplinkConfig;
  readonly log: Logger;
  /** One verdict per family the uplink has targets in: each family fails over on its own. */
  readonly health: Map<Family, Health>;
  prober: UplinkProber | undefined;
  readonly windows: Map<string, SampleWindow>;
  /** Each target's family, by label: rounds are split by it. */
  readonly familyOf: ReadonlyMap<string, Family>;
  readonly last: Map<string, HeartbeatResult>;
  /** Whether its interface has been seen, so a missing one is `vanished`, not `missing`. */
  linkSeen: boolean;
  /** Monotonic ms of the last return to `init`: rounds started before it are stale. */
  freshSince: number;
  /** The local errno heartbeats fail with now (EMFILE...), said once when it starts. */
  localError?: string;
  /** Flap penalty (routing.dampening). */
  damping: Damping;
  /** The interface's global addresses as last seen: a vanished NIC takes them with it. */
  addresses: { family: Family; address: string }[];
  /** Families in which it has been lost since start: its next `up` there is a recovery. */
  readonly everLost: Set<Family>;
}

export interface DaemonOptions {
  readonly configPath: string;
  readonly config: Config;
  readonly log: Logger;
  readonly kernel: RouteKernel;
  readonly links: LinkSource;
  readonly clocks: Clocks;
  readonly families: readonly Family[];
  /** uplinkd's nftables table (flow pinning). */
  readonly pinning: PinningTable;
  readonly conntrack: ConntrackTable;
  readonly sysctl: Sysctl;
  /** False in tests that feed probe rounds by hand. */
  readonly startProbes?: boolean;
  readonly routeEvents?: RouteEventSource;
  readonly nftEvents?: NftEventSource;
}

/** Families an uplink's heartbeats are sent in: it needs an address of each. */
function heartbeatFamilies(u: UplinkConfig): Family[] {
  return [...new Set(u.targets.map((t) => t.family))].sort();
}

// From best to worst: an uplink's summary state is its best family's (it carries traffic).
/** What the config makes uplinkd own in the kernel: the managed table and routes, and each uplink's table. */
function ownedBy(c: Config): Pick<DesiredState, 'table' | 'destinations' | 'uplinkTables'> {
  return {
    table: c.routing.table,
    destinations: c.routing.destinations,
    uplinkTables: c.uplinks.map((u) => ({ table: u.table, interface: u.interface, uplink: u.name })),
  };
}

/**
 * The state that steers `family` through an uplink: its own verdict for that family, or, for
 * an uplink with no targets in that family (IPv6 routed, only IPv4 probed), the other one's.
 */
function stateFor(rt: UplinkRuntime, family: Family): UplinkState {
  return (rt.health.get(family) ?? rt.health.get(family === 4 ? 6 : 4))!.state;
}

/** Whether any family of the uplink could carry traffic. */
function usable(rt: UplinkRuntime): boolean {
  return [...rt.health.values()].some((h) => h.state === 'up' || h.state === 'degraded');
}

/** The link monitor's view of one interface, for health/. */
export function linkView(snapshot: LinkSnapshot, iface: string, wasPresent: boolean): LinkView {
  const info = snapshot.get(iface);
  if (!info) return { present: false, wasPresent, adminUp: false, carrier: false, families: [] };
  // IPv6 heartbeats to the internet need a global source; a link-local one will not do.
  const families = [...new Set(info.addresses.filter((a) => a.family === 4 || a.global).map((a) => a.family))];
  return { present: true, wasPresent, adminUp: info.adminUp, carrier: info.carrier, families };
}

/** Events within this window are reconciled in one go. */
const RECONCILE_DEBOUNCE_MS = 20;
/** More reconciles that changed something than this within the window: someone is fighting us. */
const RECONCILE_FIGHT_LIMIT = 10;
const RECONCILE_FIGHT_WINDOW_MS = 10_000;

/** The longest pause between tries to load the pinning table. */
const PINNING_RETRY_MAX_MS = 60_000;
/** Events from nftables within this window are looked at once. */
const NFT_DEBOUNCE_MS = 50;

/** The multipath hash policy that spreads new flows by ports too (net/ipv4/route.c). */
const HASH_POLICY_KEYS = ['net.ipv4.fib_multipath_hash_policy', 'net.ipv6.fib_multipath_hash_policy'];

export class Daemon {
  private config: Config;
  private readonly uplinks = new Map<string, UplinkRuntime>();
  /** Per family: what carries new flows, and the failback schedule under way. */
  private steerState: Readonly<Record<Family, SteerState>> = { 4: NO_STEER_STATE, 6: NO_STEER_STATE };
  private steerTimer: NodeJS.Timeout | undefined;

  private get steering(): FamilySteering {
    return { 4: this.steerState[4].steering, 6: this.steerState[6].steering };
  }
  private readonly router: Router;
  private applying: Promise<void> = Promise.resolve();
  private applyQueued = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private nftTimer: NodeJS.Timeout | undefined;
  /** The pinning table's script as last loaded, and what it looks like when intact. */
  private pinningLoaded: string | undefined;
  private pinningOwned: boolean | undefined;
  private pinning: Promise<void> = Promise.resolve();
  /** New-flow counters at the last steering change: status shows what came since. */
  private counterBase = new Map<string, number>();
  private lastFastRestore = -Infinity;
  private pinningFailures = 0;
  /** Whether the last apply went through: a drain waits until the route points at the primary. */
  private lastApplyOk = true;
  /** What the last apply reported, so each thing is logged once (route/notices.ts). */
  private notices: NoticeState = NO_NOTICES;
  private pinningRetry: NodeJS.Timeout | undefined;
  /** Why the next apply runs, when something outside changed what uplinkd owns. */
  private reconcileReasons: string[] = [];
  private reconcileChanges: number[] = [];
  private reconcilePausedUntil = 0;
  private stopped = false;
  private readonly configPath: string;
  private readonly log: Logger;
  private readonly kernel: RouteKernel;
  private readonly links: LinkSource;
  private readonly clocks: Clocks;
  private readonly startProbes: boolean;

  constructor(private readonly opts: DaemonOptions) {
    this.config = opts.config;
    this.configPath = opts.configPath;
    this.log = opts.log;
    this.kernel = opts.kernel;
    this.links = opts.links;
    this.clocks = opts.clocks;
    this.startProbes = opts.startProbes ?? true;
    this.router = new Router(opts.kernel, (command) => this.log.info({ event: 'route', command }, command), opts.families);
  }

  get currentConfig(): Config {
    return this.config;
  }

  async start(): Promise<void> {
    this.links.on('change', (changes, snapshot) => this.onLinkChange(changes, snapshot));
    this.links.on('resync', (reason) => this.log.warn({ event: 'link', resync: true, reason }, `link monitor resynchronising: ${reason}`));
    this.opts.routeEvents?.on('change', (events) => this.onRouteEvents(events));
    this.opts.routeEvents?.on('error', (err) => this.log.error({ event: 'reconcile', err: err.message }, `route event monitor: ${err.message}`));
    this.opts.nftEvents?.on('change', (deleted) => this.onNftEvent(deleted));
    this.opts.nftEvents?.on('error', (err) => this.log.error({ event: 'reconcile', err: err.message }, `nftables event monitor: ${err.message}`));
    await this.setHashPolicy();
    // The pinning table goes in first: connections opened from now on are pinned. Loading it
    // is an atomic replace, and the marks live in conntrack, so a restart moves no flow.
    this.schedulePinning('start');
    await this.pinning;
    // What the kernel routes by now is where a restarted daemon starts from (no flap).
    await this.adopt();
    for (const u of this.config.uplinks) this.addUplink(u);
    // Rules and per-uplink tables go in now; managed routes only once there is a verdict,
    // so a restart does not tear down what the kernel already routes by.
    this.scheduleApply();
    await this.applying;
  }

  /**
   * routing.hash_policy `set`: multipath spreads new flows by ports too, so one LAN host's
   * connections are shared out by the weights (the default hashes on addresses only).
   */
  private async setHashPolicy(): Promise<void> {
    if (this.config.routing.hashPolicy === 'keep') return;
    for (const key of HASH_POLICY_KEYS) {
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

  /** The pinning table the config asks for: each uplink's interface and mark. */
  private pinningSpec(): PinningSpec {
    const c = this.config;
    return {
      markMask: c.routing.markMask,
      uplinks: c.uplinks.map((u, i) => ({ name: u.name, interface: u.interface, mark: uplinkMark(c.routing.markMask, i)! })),
      tcpTargets: c.uplinks.flatMap((u) => u.targets.filter((t) => t.kind === 'tcp').map((t) => ({ family: t.family, address: t.host, port: t.port! }))),
    };
  }

  /**
   * Loads the pinning table when the config asks for another one (`why`: start, reload), or
   * when it is missing or was changed by someone else (`check`: an nftables event).
   */
  private schedulePinning(why: 'start' | 'reload' | 'check' | 'deleted'): void {
    this.pinning = this.pinning.then(async () => {
      if (this.stopped) return;
      const spec = this.pinningSpec();
      const script = pinningRuleset(spec);
      const table = `${TABLE_FAMILY} ${TABLE_NAME}`;
      try {
        if (why === 'check' || why === 'deleted' || (why === 'reload' && script === this.pinningLoaded)) {
          const shape = why === 'deleted' ? undefined : await this.opts.pinning.shape();
          const want = expectedShape(spec);
          const intact = shape && shape.chains === want.chains && shape.rules === want.rules && shape.counters === want.counters;
          // The same shape with other marks or interfaces is still the old table.
          if (intact && script === this.pinningLoaded) return;
          this.noteLoad(await this.opts.pinning.load(script));
          const seen = shape ? `changed (${shape.rules} rules, ${want.rules} expected)` : 'deleted';
          this.log.warn(
            { event: 'reconcile', seen: [`table ${table} ${seen}`], restored: [`nft -f (table ${table})`] },
            `changed outside uplinkd (nftables table ${table} ${seen}); restored: nft -f (table ${table}, ${spec.uplinks.length} uplinks, mask ${hex(spec.markMask)})`,
          );
        } else {
          if (script === this.pinningLoaded) return;
          const result = await this.opts.pinning.load(script);
          this.noteLoad(result);
          this.log.info(
            { event: 'pinning', command: `nft -f (table ${table})`, uplinks: spec.uplinks.map((u) => `${u.interface}=${hex(u.mark)}`) },
            `nft -f: table ${table} pins connections by conntrack mark (mask ${hex(spec.markMask)}): ${spec.uplinks.map((u) => `${u.interface} ${hex(u.mark)}`).join(', ')}`,
          );
        }
        this.pinningLoaded = script;
        this.counterBase = new Map();
        this.pinningFailures = 0;
      } catch (err) {
        // Doubling pauses: a missing `nft` is said once a minute at most, not every second.
        const wait = Math.min(PINNING_RETRY_MAX_MS, APPLY_RETRY_MS * 2 ** this.pinningFailures++);
        this.log.error({ event: 'pinning', err: errText(err) }, `cannot load the nftables table ${table}: ${errText(err)}; retrying in ${wait}ms`);
        clearTimeout(this.pinningRetry);
        if (!this.stopped) this.pinningRetry = setTimeout(() => this.schedulePinning(why === 'start' ? 'reload' : why), wait);
      }
    });
  }

  /** Says once whether uplinkd holds its table (a firewall reload passes it by) or not. */
  private noteLoad(result: LoadResult): void {
    if (result.note) this.log.warn({ event: 'pinning' }, result.note);
    if (this.pinningOwned === result.owned) return;
    this.pinningOwned = result.owned;
    const table = `${TABLE_FAMILY} ${TABLE_NAME}`;
    if (result.owned) {
      this.log.info({ event: 'pinning', owned: true }, `table ${table} is held by uplinkd (flags owner, persist): \`nft flush ruleset\` leaves it alone`);
    }
  }

  /**
   * Something changed in nftables: is uplinkd's table still whole? When it was deleted, load
   * it at once: until it is back, packets of pinned connections follow the managed route.
   */
  private onNftEvent(deleted: boolean): void {
    if (this.stopped) return;
    // At most one load without a look per debounce window, so a split event batch of our own
    // replace cannot keep us loading.
    const now = this.clocks.mono();
    if (deleted && now - this.lastFastRestore > NFT_DEBOUNCE_MS) {
      this.lastFastRestore = now;
      return this.schedulePinning('deleted');
    }
    if (this.nftTimer) return;
    this.nftTimer = setTimeout(() => {
      this.nftTimer = undefined;
      this.schedulePinning('check');
    }, NFT_DEBOUNCE_MS);
  }

  /** Takes the managed routes the kernel has (left by an earlier run) as the current steering. */
  private async adopt(): Promise<void> {
    let routes: Awaited<ReturnType<Router['managedRoutes']>>;
    try {
      routes = await this.router.managedRoutes(this.config.routing);
    } catch (err) {
      this.log.warn({ event: 'adopt', err: errText(err) }, `cannot read the managed routes: ${errText(err)}`);
      return;
    }
    const next = { ...this.steerState };
    for (const family of [4, 6] as const) {
      const route = routes.find((r) => r.route.family === family);
      if (!route) continue;
      const nexthops = route.route.nexthops.flatMap((nh, i) => {
        const u = this.config.uplinks.find((x) => x.interface === route.interfaces[i] && (family === 4 ? x.gateway : x.gateway6) === nh.gateway);
        return u ? [{ uplink: u.name, weight: nh.weight }] : [];
      });
      const steering = adoptedSteering(nexthops);
      if (!steering) continue;
      next[family] = { steering };
      const text = steering.active.map((a) => `${a.uplink} ${a.share}%`).join(', ');
      this.log.info({ event: 'adopt', family, active: steering.active }, `IPv${family}: adopted the kernel's routes: ${text}`);
    }
    this.steerState = next;
  }

  /** Routes or rules changed by someone else: put back what uplinkd owns. */
  private onRouteEvents(events: RouteEvent[]): void {
    if (this.stopped) return;
    const c = this.config;
    const tables = new Set([c.routing.table, ...c.uplinks.map((u) => u.table)]);
    const mine = events.filter(
      (e) =>
        (e.kind === 'route' && (e.table === undefined || tables.has(e.table))) ||
        (e.kind === 'rule' && e.priority !== undefined && e.priority >= RULE_PRIORITY_MIN && e.priority <= RULE_PRIORITY_MAX),
    );
    if (mine.length === 0) return;
    for (const e of mine) {
      const what = e.kind === 'route' ? `a route in table ${e.table ?? '?'}` : `rule ${e.priority}`;
      this.reconcileReasons.push(`${what} ${e.deleted ? 'deleted' : 'changed'}`);
    }
    if (this.reconcileTimer) return;
    const wait = Math.max(RECONCILE_DEBOUNCE_MS, this.reconcilePausedUntil - this.clocks.mono());
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      this.scheduleApply();
    }, wait);
  }

  /** Starts probing an uplink; `kept`: its health so far (a reload that changed only probe settings). */
  private addUplink(u: UplinkConfig, kept?: UplinkRuntime): void {
    const now = this.clocks.wall();
    const sameWindow = kept && kept.config.probe.window === u.probe.window;
    const rt: UplinkRuntime = {
      config: u,
      log: this.log.child({ uplink: u.name }),
      health: kept?.health ?? new Map(heartbeatFamilies(u).map((f) => [f, initialHealth(now)])),
      prober: undefined,
      windows: sameWindow ? kept.windows : new Map(u.targets.map((t) => [t.label, new SampleWindow(u.probe.window)])),
      familyOf: new Map(u.targets.map((t) => [t.label, t.family])),
      last: kept?.last ?? new Map(),
      linkSeen: kept?.linkSeen ?? false,
      freshSince: kept?.freshSince ?? -Infinity,
      damping: kept?.damping ?? NO_DAMPING,
      addresses: kept?.addresses ?? [],
      everLost: kept?.everLost ?? new Set(),
    };
    this.uplinks.set(u.name, rt);
    if (!kept) this.checkLink(rt, this.links.snapshot());
    if (this.startProbes) {
      const index = this.config.uplinks.findIndex((x) => x.name === u.name);
      const prober = new UplinkProber({
        uplink: u,
        clock: this.clocks.mono,
        onRound: (r) => this.onRound(u.name, r),
        pace: () => probePace([...rt.health.values()], u.probe),
        confirmOnFailure: () => mayConfirm([...rt.health.values()]),
        // Uplinks start spread over the interval, so their heartbeats never go out in step.
        phaseMs: (Math.max(0, index) * u.probe.intervalMs) / this.config.uplinks.length,
      });
      rt.prober = prober;
      // Heartbeats start once the uplink's own table and `oif` rule are in: before that they
      // would follow the managed route, or none, and count as lost.
      this.scheduleApply();
      void this.applying.then(() => {
        if (rt.prober === prober && !this.stopped) prober.start();
      });
    }
    rt.log.info(
      { event: 'uplink', interface: u.interface, targets: u.targets.map((t) => t.label), probe: u.probe },
      `probing ${u.name} on ${u.interface}: ${u.targets.map((t) => t.label).join(', ')}`,
    );
  }

  private removeUplink(name: string): void {
    const rt = this.uplinks.get(name);
    if (!rt) return;
    rt.prober?.stop();
    // The deferred start in addUplink checks this: a removed prober never starts.
    rt.prober = undefined;
    this.uplinks.delete(name);
  }

  /** Feeds the link monitor's view of the uplink's interface to each family's health; true on a change. */
  private checkLink(rt: UplinkRuntime, snapshot: LinkSnapshot): boolean {
    const iface = rt.config.interface;
    const view = linkView(snapshot, iface, rt.linkSeen);
    rt.linkSeen ||= view.present;
    const info = snapshot.get(iface);
    if (info?.addresses.length) {
      rt.addresses = info.addresses.filter((a) => a.global).map((a) => ({ family: a.family, address: a.prefix.split('/')[0]! }));
    }
    let changed = false;
    for (const [family, health] of rt.health) {
      const step = applyLink(health, linkProblem(iface, view, [family]), iface, this.clocks.wall());
      changed = this.record(rt, family, step) || changed;
    }
    return changed;
  }

  private onLinkChange(changes: LinkChange[], snapshot: LinkSnapshot): void {
    if (this.stopped) return;
    let touched = false;
    let changed = false;
    for (const rt of this.uplinks.values()) {
      const mine = changes.filter((c) => c.name === rt.config.interface);
      if (mine.length === 0) continue;
      touched = true;
      rt.log.info({ event: 'link', changes: mine }, mine.map(describeChange).join('; '));
      // A recreated interface has a new ifindex: sockets bound to the old one send nowhere.
      if (mine.some((c) => c.kind === 'appeared')) rt.prober?.rebind();
      if (this.checkLink(rt, snapshot)) changed = true;
      rt.prober?.repace();
    }
    if (changed) this.resteer();
    // Next hops are resolved by ifindex: re-apply when an uplink's interface came or went.
    else if (touched) this.scheduleApply();
  }

  /** Keeps a family's new health and logs its state change; true when the state changed. */
  private record(rt: UplinkRuntime, family: Family, step: HealthStep, failed?: string[]): boolean {
    const wasUsable = usable(rt);
    rt.health.set(family, step.health);
    const c = step.change;
    if (!c) return false;
    if (isLoss(c.to)) rt.everLost.add(family);
    if (wasUsable && !usable(rt)) {
      this.penalise(rt);
      if (this.config.routing.conntrackFlush) void this.flushConntrack(rt);
    }
    if (c.to === 'init') rt.freshSince = this.clocks.mono();
    const who = rt.health.size > 1 ? `${rt.config.name} IPv${family}` : rt.config.name;
    rt.log.info(
      { event: 'state', family, from: c.from, to: c.to, reason: c.reason, ...(failed ? { failed } : {}) },
      `${who}: ${c.from} -> ${c.to} (${c.reason})`,
    );
    return true;
  }

  /** A loss of a usable uplink adds to its flap penalty (routing.dampening). */
  private penalise(rt: UplinkRuntime): void {
    const d = this.config.routing.dampening;
    if (!d) return;
    const before = rt.damping;
    rt.damping = dampLoss(before, this.clocks.mono(), d);
    const p = Math.round(rt.damping.penalty);
    if (rt.damping.suppressed) for (const f of rt.health.keys()) rt.everLost.add(f);
    if (rt.damping.suppressed && !before.suppressed) {
      const s = Math.ceil((reuseAt(rt.damping, d)! - this.clocks.mono()) / 1000);
      rt.log.warn(
        { event: 'dampening', penalty: p, suppressed: true, reuse_in_s: s },
        `${rt.config.name} flaps: penalty ${p} is over ${d.suppress}; held out of the routes for at least ${s}s`,
      );
    } else rt.log.info({ event: 'dampening', penalty: p, suppressed: rt.damping.suppressed }, `${rt.config.name} lost: flap penalty ${p}`);
  }

  /**
   * routing.conntrack_flush: deletes the connection-tracking entries NATed to a lost uplink's
   * addresses, so LAN clients get a reset at once instead of waiting out a dead flow.
   */
  private async flushConntrack(rt: UplinkRuntime): Promise<void> {
    for (const a of rt.addresses) logDeleted(rt.log, await this.opts.conntrack.deleteByReplyDst(a.family, a.address));
  }

  /**
   * routing.failback.drain: resets the connections still pinned to uplinks the failback left,
   * once the route has pointed at the preferred uplink for `drain` (so clients reconnect there).
   */
  private async drainPinned(uplinks: readonly string[]): Promise<void> {
    await this.applying;
    if (!this.lastApplyOk || this.stopped) {
      this.log.warn({ event: 'drain', uplinks }, `failback drain of ${uplinks.join(', ')} skipped: the route change did not go through`);
      return;
    }
    const mask = this.config.routing.markMask;
    // A mark covers both families: an uplink that carries new flows in either keeps its entries.
    const carrying = new Set([4, 6].flatMap((f) => this.steering[f as Family].active.filter((a) => a.share > 0).map((a) => a.uplink)));
    for (const name of uplinks) {
      if (carrying.has(name)) {
        this.log.info({ event: 'drain', uplink: name, skipped: true }, `failback drain: ${name} carries new flows again; nothing reset`);
        continue;
      }
      const index = this.config.uplinks.findIndex((u) => u.name === name);
      const mark = uplinkMark(mask, index);
      const rt = this.uplinks.get(name);
      if (index < 0 || mark === undefined || !rt) continue;
      // Live ones first: the entries deleted include connections that already ended.
      const live = (await this.opts.conntrack.countByMark(mask).catch(() => new Map<number, number>())).get(mark) ?? 0;
      let total = 0;
      for (const r of await this.opts.conntrack.deleteByMark(mark, mask)) total += logDeleted(rt.log, r);
      rt.log.info(
        { event: 'drain', uplink: name, live, deleted: total },
        `failback drain: reset ${live} connections still pinned to ${name} ${this.config.routing.failback.drainMs! / 1000}s after the last step (${total} conntrack entries deleted)`,
      );
    }
  }

  /** Decays every penalty to now, logging releases. */
  private decayDamping(now: number): void {
    const d = this.config.routing.dampening;
    if (!d) return;
    for (const rt of this.uplinks.values()) {
      const next = dampAt(rt.damping, now, d);
      if (rt.damping.suppressed && !next.suppressed) {
        rt.log.info(
          { event: 'dampening', penalty: Math.round(next.penalty), suppressed: false },
          `${rt.config.name}: flap penalty decayed to ${Math.round(next.penalty)} (under ${d.reuse}): may carry traffic again`,
        );
      }
      rt.damping = next;
    }
  }

  /** One finished probe round of one uplink. Public so tests can drive it without sockets. */
  onRound(name: string, round: ProbeRound): void {
    const rt = this.uplinks.get(name);
    if (!rt || this.stopped) return;
    // A round cut short by rebinding the sockets says nothing about the path, and neither
    // does one sent while the link was down: the uplink starts over from `init`.
    if (round.results.some((r) => r.error === HEARTBEAT_CLOSED) || round.startedAt < rt.freshSince) return;
    let changed = false;
    // Heartbeats that could not go out for want of a local resource are not counted.
    const { counted, localError } = withoutLocalFailures(round.results);
    this.noteLocalErrors(rt, localError);
    if (localError) for (const r of round.results) rt.last.set(r.target, r);
    for (const [family, health] of rt.health) {
      const results = counted.filter((r) => rt.familyOf.get(r.target) === family);
      if (results.length === 0) continue;
      let answered = 0;
      let linkError: string | undefined;
      for (const r of results) {
        if (r.error && LINK_ERRNOS.has(r.error)) linkError ??= r.error;
        else rt.windows.get(r.target)?.push(r.ok ? (r.rttMs ?? 0) : null);
        rt.last.set(r.target, r);
        if (r.ok) answered++;
      }
      // `reliability` counts targets of the uplink; a family with fewer needs all of its own.
      const settings = { ...rt.config.probe, reliability: Math.min(rt.config.probe.reliability, results.length) };
      const summary = { answered, total: results.length, ...(linkError ? { linkError } : {}) };
      const step = applyRound(health, summary, settings, this.clocks.wall());
      const failed = results.filter((r) => !r.ok).map((r) => `${r.target}: ${r.error ?? 'failed'}`);
      changed = this.record(rt, family, step, failed) || changed;
      changed = this.checkQuality(rt, family) || changed;
    }
    rt.prober?.repace();
    if (changed) this.resteer();
  }

  /** Says when heartbeats start and stop failing for a local reason (once each, not per round). */
  private noteLocalErrors(rt: UplinkRuntime, local: string | undefined): void {
    if (local === rt.localError) return;
    const name = rt.config.name;
    if (local) {
      this.log.error(
        { event: 'probe', uplink: name, err: local },
        `${name}: heartbeats fail on this gateway (${local}: out of a local resource), not on the path; they are not counted as lost`,
      );
    } else {
      this.log.info({ event: 'probe', uplink: name }, `${name}: heartbeats go out again (the ${rt.localError} is over)`);
    }
    rt.localError = local;
  }

  /** Judges a family's quality over its targets' windows; true when its state changed. */
  private checkQuality(rt: UplinkRuntime, family: Family): boolean {
    const p = rt.config.probe;
    if (p.maxRttMs === undefined && p.maxLossPct === undefined) return false;
    const windows = rt.config.targets.filter((t) => t.family === family).map((t) => rt.windows.get(t.label)!);
    const step = applyQuality(
      rt.health.get(family)!,
      combine(windows),
      {
        ...(p.maxRttMs !== undefined ? { maxRttMs: p.maxRttMs } : {}),
        ...(p.maxLossPct !== undefined ? { maxLossPct: p.maxLossPct } : {}),
        ...(p.recoverRttMs !== undefined ? { recoverRttMs: p.recoverRttMs } : {}),
        ...(p.recoverLossPct !== undefined ? { recoverLossPct: p.recoverLossPct } : {}),
        // Judge a full window: one slow heartbeat is no trend.
        minSamples: p.window * windows.length,
      },
      this.clocks.wall(),
    );
    return this.record(rt, family, step);
  }

  private resteer(): void {
    if (this.stopped) return;
    const next = { ...this.steerState };
    const now = this.clocks.mono();
    const drains = new Set<string>();
    let steeringChanged = false;
    this.decayDamping(now);
    // Families no route can follow (no destination, or no uplink with a next hop) stay quiet in the log.
    const managed = new Set(this.config.routing.destinations.map((d) => d.family).filter((f) => this.config.uplinks.some((u) => nexthopFor(u, f, 1))));
    for (const family of [4, 6] as const) {
      const before = this.steerState[family].steering;
      next[family] = steerWithFailback(
        [...this.uplinks.values()].map((u) => ({
          name: u.config.name,
          priority: u.config.priority,
          weight: u.config.weight,
          // Held out by dampening: steered as if down, whatever its heartbeats say.
          state: u.damping.suppressed ? 'down' : stateFor(u, family),
          everLost: u.everLost.has(family) || (!u.health.has(family) && u.everLost.size > 0),
        })),
        this.steerState[family],
        this.config.routing.failback,
        now,
      );
      const held = [...this.uplinks.values()].filter((u) => u.damping.suppressed).map((u) => u.config.name);
      if (held.length) {
        const st = next[family].steering;
        next[family] = { ...next[family], steering: { ...st, reason: `${st.reason}; held out by flap dampening: ${held.join(', ')}` } };
      }
      const due = takeDueDrain(next[family], now);
      next[family] = due.state;
      for (const u of due.uplinks) drains.add(u);
      const after = next[family].steering;
      if (!managed.has(family) || JSON.stringify(before) === JSON.stringify(after)) continue;
      steeringChanged = true;
      const active = after.active.map((a) => `${a.uplink} ${a.share}%`).join(', ') || 'none';
      const fields = { event: 'steering', family, active: after.active, all_down: after.allDown, reason: after.reason };
      if (after.allDown) this.log.warn(fields, `IPv${family}: ${after.reason}`);
      else this.log.info(fields, `new IPv${family} flows: ${active} (${after.reason})`);
    }
    this.steerState = next;
    // The failback schedule's next step comes by the clock, not by an event.
    clearTimeout(this.steerTimer);
    const dampening = this.config.routing.dampening;
    const reuse = dampening ? [...this.uplinks.values()].map((u) => reuseAt(u.damping, dampening)) : [];
    const due = [next[4].nextAt, next[6].nextAt, ...reuse].filter((t): t is number => t !== undefined);
    if (due.length) this.steerTimer = setTimeout(() => this.resteer(), Math.max(1, Math.min(...due) - now));
    this.scheduleApply();
    // Status counts new flows from here on; the count starts once the new route is in.
    if (steeringChanged) void this.applying.then(() => this.snapshotCounters());
    if (drains.size)
      void this.drainPinned([...drains]).catch((err: unknown) =>
        this.log.error({ event: 'drain', err: errText(err) }, `failback drain failed: ${errText(err)}`),
      );
  }

  private async snapshotCounters(): Promise<void> {
    try {
      this.counterBase = await this.opts.pinning.counters();
    } catch (err) {
      this.log.warn({ event: 'pinning', err: errText(err) }, `cannot read the new-flow counters: ${errText(err)}`);
    }
  }

  private desiredState(): DesiredState {
    const c = this.config;
    const rts = [...this.uplinks.values()];
    // An uplink without a next hop in a family has nothing to pin there.
    const pinRules = (family: Family): Map<string, PinRule> =>
      new Map(rts.filter((u) => nexthopFor(u.config, family, 1)).map((u) => [u.config.name, pinRuleFor(stateFor(u, family))]));
    return {
      ...ownedBy(c),
      managed: desiredRoutes(c, this.steering),
      // Until some uplink has a verdict there is no choice to make: keep what the kernel has.
      managedKnown:
        rts.some((u) => [...u.health.values()].some((h) => h.state !== 'init')) && (this.steering[4].active.length > 0 || this.steering[6].active.length > 0),
      uplinkRoutes: uplinkRoutes(c),
      markMask: c.routing.markMask,
      pinRules: { 4: pinRules(4), 6: pinRules(6) },
      ...(c.routing.sourceRules ? { sourceAddresses: this.uplinkAddresses() } : {}),
    };
  }

  /** Each uplink's global addresses, in config order, from the link monitor (source rules). */
  private uplinkAddresses(): { family: Family; address: string }[][] {
    const snapshot = this.links.snapshot();
    return this.config.uplinks.map((u) =>
      (snapshot.get(u.interface)?.addresses ?? []).filter((a) => a.global).map((a) => ({ family: a.family, address: a.prefix.split('/')[0]! })),
    );
  }

  /** Applies the latest desired state; calls made while one runs collapse into one more run. */
  private scheduleApply(): void {
    if (this.applyQueued || this.stopped) return;
    this.applyQueued = true;
    this.applying = this.applying.then(async () => {
      this.applyQueued = false;
      if (this.stopped) return;
      const state = this.desiredState();
      const reasons = this.reconcileReasons;
      this.reconcileReasons = [];
      try {
        const report = await this.router.apply(state);
        for (const m of report.missing) this.log.warn({ event: 'route', missing: m }, `no interface for ${m}: next hop left out`);
        // Whichever run comes first after an outside change reports it, with what it put back.
        if (reasons.length > 0) this.noteReconcile(reasons, report.changes);
        this.noteApply(report);
      } catch (err) {
        this.log.error({ event: 'route', err: errText(err) }, `cannot read the kernel's routes and rules: ${errText(err)}; retrying in ${APPLY_RETRY_MS}ms`);
        this.armRetry(false, APPLY_RETRY_MS);
      }
    });
  }

  /** Logs what is new in an apply's report and arms the retry that it asks for (route/notices.ts). */
  private noteApply(report: ApplyReport): void {
    const step = noteApply(this.notices, report);
    this.notices = step.state;
    for (const n of step.notices) this.log[n.level](n.fields, n.msg);
    this.armRetry(step.managedOk, step.retryInMs);
  }

  private armRetry(ok: boolean, inMs: number | undefined): void {
    this.lastApplyOk = ok;
    clearTimeout(this.retryTimer);
    if (inMs !== undefined && !this.stopped) this.retryTimer = setTimeout(() => this.scheduleApply(), inMs);
  }

  /** Logs what was put back; pauses reconciling for a while if someone keeps undoing it. */
  private noteReconcile(reasons: readonly string[], changes: readonly string[]): void {
    const seen = [...new Set(reasons)].join(', ');
    if (changes.length === 0) {
      // A run already under way when the event came put it back (its commands are logged).
      this.log.info({ event: 'reconcile', seen: reasons, restored: [] }, `changed outside uplinkd (${seen}); nothing left to restore`);
      return;
    }
    const now = this.clocks.mono();
    this.reconcileChanges = [...this.reconcileChanges.filter((t) => now - t < RECONCILE_FIGHT_WINDOW_MS), now];
    this.log.warn({ event: 'reconcile', seen: reasons, restored: changes }, `changed outside uplinkd (${seen}); restored: ${changes.join('; ')}`);
    if (this.reconcileChanges.length >= RECONCILE_FIGHT_LIMIT) {
      this.reconcilePausedUntil = now + RECONCILE_FIGHT_WINDOW_MS;
      this.reconcileChanges = [];
      this.log.error(
        { event: 'reconcile', paused_ms: RECONCILE_FIGHT_WINDOW_MS },
        `something keeps changing uplinkd's routes (${RECONCILE_FIGHT_LIMIT} restores in ${RECONCILE_FIGHT_WINDOW_MS / 1000}s): reconciling paused for ${RECONCILE_FIGHT_WINDOW_MS / 1000}s`,
      );
    }
  }

  /**
   * What the kernel does with connections, per uplink: the live ones pinned to it (conntrack)
   * and the new ones that left through it since the last steering change (nftables counters).
   * Null where the kernel could not be read.
   */
  private async kernelFlows(): Promise<{ flows: Map<string, number> | null; fresh: Map<string, number> | null }> {
    const mask = this.config.routing.markMask;
    let flows: Map<string, number> | null = null;
    let fresh: Map<string, number> | null = null;
    try {
      const byMark = await this.opts.conntrack.countByMark(mask);
      flows = new Map(this.config.uplinks.map((u, i) => [u.name, byMark.get(uplinkMark(mask, i)!) ?? 0]));
    } catch (err) {
      this.log.warn({ event: 'status', err: errText(err) }, `cannot count pinned connections: ${errText(err)}`);
    }
    try {
      const now = await this.opts.pinning.counters();
      fresh = new Map(
        this.config.uplinks.map((u) => {
          const n = now.get(counterName(u.name)) ?? 0;
          const base = this.counterBase.get(counterName(u.name)) ?? 0;
          // Counters start again at 0 when the table is loaded again.
          return [u.name, n >= base ? n - base : n];
        }),
      );
    } catch (err) {
      this.log.warn({ event: 'status', err: errText(err) }, `cannot read the new-flow counters: ${errText(err)}`);
    }
    return { flows, fresh };
  }

  async status(): Promise<StatusReport> {
    const { flows, fresh } = await this.kernelFlows();
    // Ours through rtnetlink like the rest; the routes a reload moved away are gone by now.
    const routes = await this.router.managedRoutes(this.config.routing);
    const foreignRules = await this.router.foreignRules(ownedBy(this.config));
    const kernel = { flows, fresh, routes, foreignRules, refused: this.notices.refused, connected: this.notices.connected };
    return statusView(this.config, [...this.uplinks.values()], this.steering, kernel, this.clocks.mono());
  }

  /**
   * Reads the config file again and swaps it in only when it is wholly valid (as keepalived
   * does); uplinks whose settings did not change keep their probes and health.
   */
  async reload(): Promise<Response> {
    let next: Config;
    try {
      next = await loadConfig(this.configPath);
    } catch (err) {
      if (err instanceof ConfigError) {
        const problems = err.problems.map((p) => formatProblem(this.configPath, p));
        this.log.error({ event: 'reload', problems }, `reload rejected, keeping the running config: ${problems.length} problem(s)`);
        return { ok: false, error: 'invalid config; the running config is kept', problems };
      }
      throw err;
    }
    const diff = diffConfig(this.config, next);
    const old = new Map(this.uplinks);
    this.config = next;
    for (const name of [...diff.removed, ...diff.changed, ...diff.retuned]) this.removeUplink(name);
    for (const u of next.uplinks) {
      if (diff.added.includes(u.name)) this.addUplink(u);
      else if (diff.changed.includes(u.name)) {
        // Probed afresh, but its history stays: a lost uplink still proves itself with `hold`.
        this.addUplink(u);
        const was = old.get(u.name)!;
        const rt = this.uplinks.get(u.name)!;
        for (const f of was.everLost) rt.everLost.add(f);
        rt.damping = was.damping;
      }
      // Only the heartbeat settings changed: the verdicts stand, the new pace applies.
      else if (diff.retuned.includes(u.name)) this.addUplink(u, old.get(u.name));
      else {
        const rt = old.get(u.name)!;
        this.uplinks.set(u.name, { ...rt, config: u });
      }
    }
    const changes = [
      ...diff.added.map((n) => `added ${n}`),
      ...diff.removed.map((n) => `removed ${n}`),
      ...diff.changed.map((n) => `restarted ${n}`),
      ...diff.retuned.map((n) => `retuned ${n}`),
      ...diff.reweighted.map((n) => `reweighted ${n}`),
      ...(diff.routingChanged ? ['routing changed'] : []),
      ...(diff.socketChanged ? ['control socket moved'] : []),
    ];
    this.schedulePinning('reload');
    if (next.routing.hashPolicy !== 'keep') await this.setHashPolicy();
    this.log.info({ event: 'reload', changes }, `reloaded ${this.configPath}: ${changes.join(', ') || 'no changes'}`);
    this.resteer();
    await this.applying;
    return { ok: true, reloaded: true, changes };
  }

  async handle(req: Request): Promise<Response> {
    if (req.cmd === 'status') return { ok: true, status: await this.status() };
    if (req.cmd === 'reload') return this.reload();
    return { ok: false, error: `unknown command ${JSON.stringify(String((req as { cmd?: unknown } | null)?.cmd).slice(0, 40))}` };
  }

  /** Stops probing and waits for a route change in flight; routes stay (traffic keeps flowing). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.steerTimer);
    clearTimeout(this.reconcileTimer);
    clearTimeout(this.nftTimer);
    clearTimeout(this.pinningRetry);
    this.opts.routeEvents?.close();
    this.opts.nftEvents?.close();
    for (const name of [...this.uplinks.keys()]) this.removeUplink(name);
    await this.applying;
    await this.pinning;
    if (this.config.routing.removeOnExit) {
      try {
        const removed = await this.router.removeAll(ownedBy(this.config));
        await this.opts.pinning.remove();
        this.log.info({ event: 'pinning', command: `nft delete table ${TABLE_FAMILY} ${TABLE_NAME}` }, `nft delete table ${TABLE_FAMILY} ${TABLE_NAME}`);
        this.log.info({ event: 'stop', removed: removed.length }, `routing.remove_on_exit: removed ${removed.length} routes and rules, and the nftables table`);
      } catch (err) {
        this.log.error({ event: 'stop', err: errText(err) }, `could not remove everything on exit: ${errText(err)}`);
      }
    }
    // Without remove_on_exit the table stays, unowned, and keeps pinning until the next run.
    this.opts.pinning.release();
    this.kernel.close();
    this.links.close();
  }
}

function errText(err: unknown): string {
  return String((err as Error)?.message ?? err);
}

/** Logs one conntrack deletion as its command; returns how many entries went. */
function logDeleted(log: Logger, r: DeleteResult): number {
  if (r.deleted === undefined) {
    log.error({ event: 'conntrack', command: r.command, err: r.error }, `${r.command} failed: ${r.error}`);
    return 0;
  }
  log.info({ event: 'conntrack', command: r.command, deleted: r.deleted }, `${r.command}: ${r.deleted} entries deleted`);
  return r.deleted;
}

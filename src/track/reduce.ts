// track/: the reducer. Every decision about the uplinks is taken here, as a pure function
// `(tracking, event, now) -> (tracking, effects)`; daemon/ feeds it events and runs the effects.
import type { ConfigDiff } from '../types/config-diff.js';
import { describeChange, type LinkChange, type LinkSnapshot } from '../types/link.js';
import { cancelFailback } from '../steer/index.js';
import { AUTO_GATEWAY, type Config, type Family, gatewaySetting, type UplinkConfig, usableState } from '../types/index.js';
import { describeGateway, type GatewayOffer, metricClash, pickGateways } from './gateways.js';
import { applyQuiet, dropAfterApply, settleAfterApply } from './after-apply.js';
import { noteApplied, noteApplyFailed, noteRouteEvents } from './kernel-sync.js';
import { type Effect, type Now, type Override, steeringOf, type TrackedUplink, type TrackEvent, type Tracking, type TrackStep } from './model.js';
import { adopt, resteer } from './steering.js';
import { applyProbeRound, checkLink, lateAnswer, newUplink, sampleUplinkTraffic, routableFamilies } from './uplink.js';

export function track(t: Tracking, event: TrackEvent, now: Now): TrackStep {
  const out: Effect[] = [];
  const state = settleAfterApply(reduce(t, event, now, out), event.kind, out);
  return { state, effects: out };
}

function reduce(t: Tracking, e: TrackEvent, now: Now, out: Effect[]): Tracking {
  switch (e.kind) {
    case 'start': {
      const uplinks = new Map<string, TrackedUplink>();
      for (const u of t.config.uplinks) uplinks.set(u.name, startUplink(t, u, e.snapshot, now, out));
      // Rules and per-uplink tables go in now; managed routes only once there is a verdict,
      // so a restart does not tear down what the kernel already routes by.
      return { ...t, uplinks };
    }
    case 'adopt':
      return adopt(t, e.routes, out);
    case 'round': {
      const u = t.uplinks.get(e.uplink);
      if (!u) return t;
      const r = applyProbeRound(u, e.round, t.config, now, out);
      if (r.dropped) return t;
      out.push({ kind: 'prober', uplink: e.uplink, action: 'repace' });
      const next = withUplink(t, r.uplink);
      return r.changed ? resteer(next, now, out) : next;
    }
    case 'traffic': {
      let uplinks: Map<string, TrackedUplink> | undefined;
      for (const [name, counters] of e.counters) {
        const u = t.uplinks.get(name);
        if (!u) continue;
        uplinks ??= new Map(t.uplinks);
        uplinks.set(name, sampleUplinkTraffic(u, counters, now, out, e.woke?.includes(name) === true));
      }
      return uplinks ? { ...t, uplinks } : t;
    }
    case 'late': {
      const u = t.uplinks.get(e.uplink);
      return u ? withUplink(t, lateAnswer(u, e.target, e.rttMs)) : t;
    }
    case 'links':
      return linksChanged(t, e.changes, e.snapshot, now, out);
    case 'gateways':
      return gatewaysChanged(t, e.offer, e.snapshot, now, out);
    case 'timer':
      if (e.timer === 'steer') return resteer(t, now, out);
      out.push({ kind: 'apply' });
      return e.timer === 'reconcile' ? { ...t, reconcile: { ...t.reconcile, armed: false } } : t;
    case 'route-events':
      return noteRouteEvents(t, e.events, now, out);
    case 'apply-begun':
      return t.reconcile.reasons.length ? { ...t, reconcile: { ...t.reconcile, reasons: [] } } : t;
    case 'applied':
      return noteApplied(t, e.report, e.reasons, now, out);
    case 'apply-failed':
      return noteApplyFailed(t, e.error, out);
    case 'reload':
      return reload(t, e, now, out);
    case 'override':
      return override(t, e, now, out);
    case 'restore-overrides':
      return restoreOverrides(t, e.overrides, out);
    case 'new-flow-base':
      return { ...t, newFlowBase: e.counters };
    case 'mptcp-look':
      // A look that an apply asked for, ran or began during may have caught the kernel mid-change.
      if (e.drift.length === 0 || !applyQuiet(t.applyPhase) || e.begun !== t.applyPhase.begun) return t;
      return noteRouteEvents(t, [{ kind: 'mptcp', deleted: false, drift: e.drift.join('; ') }], now, out);
    case 'stop':
      return dropAfterApply(t, out);
  }
}

/** The control reply once an override's route change is in: what new flows do now (the first destination's family). */
export function overrideDone(t: Tracking, uplink: string, cmd: Override['kind'] | 'resume'): string {
  const family = t.config.routing.destinations[0]?.family ?? 4;
  const what = cmd === 'resume' ? 'resumed' : cmd === 'drain' ? 'drained' : 'preferred';
  return `${uplink} ${what}; new flows: ${steeringOf(t)[family].reason}`;
}

/** Why `uplinkd drain|prefer|resume UPLINK` cannot be done, or undefined (the control reply). */
export function overrideProblem(t: Tracking, uplink: string, kind: Override['kind'] | 'resume'): string | undefined {
  if (!t.config.uplinks.some((u) => u.name === uplink)) return `no uplink named "${uplink.slice(0, 40)}" (${t.config.uplinks.map((u) => u.name).join(', ')})`;
  if (kind === 'resume' && !t.overrides.has(uplink)) return `${uplink} is neither drained nor preferred`;
  return undefined;
}

const saveOverrides = (overrides: ReadonlyMap<string, Override>): Effect => ({ kind: 'save-overrides', overrides: Object.fromEntries(overrides) });

function override(t: Tracking, e: Extract<TrackEvent, { kind: 'override' }>, now: Now, out: Effect[]): Tracking {
  if (overrideProblem(t, e.uplink, e.override?.kind ?? 'resume')) return t;
  const overrides = new Map(t.overrides);
  const was = overrides.get(e.uplink);
  if (e.override) overrides.set(e.uplink, e.override);
  else overrides.delete(e.uplink);
  const o = e.override;
  const msg = !o
    ? `${e.uplink}: ${was!.kind} lifted (resume)`
    : o.kind === 'drain'
      ? `${e.uplink} drained by ${o.by}: no new flows while another uplink answers; ${e.flush ? 'its pinned connections are reset' : 'pinned connections finish'}`
      : `${e.uplink} preferred by ${o.by}: steered above its tier until resume`;
  out.push({
    kind: 'log',
    level: o?.kind === 'drain' ? 'warn' : 'info',
    uplink: e.uplink,
    fields: { event: 'override', override: o?.kind ?? 'resume', by: o?.by ?? null },
    msg,
  });
  out.push(saveOverrides(overrides));
  const next = resteer(operatorDecides(t, e.uplink, overrides), now, out);
  if (o?.kind === 'drain' && e.flush) out.push({ kind: 'drain', uplinks: [e.uplink], cause: 'operator' });
  return next;
}

/**
 * An operator's override takes effect at once: the uplink has nothing to prove where it answers
 * now (no `hold`, no steps, whatever it went through before), and a failback under way is
 * dropped (a pending drain stays).
 */
function operatorDecides(t: Tracking, uplink: string, overrides: ReadonlyMap<string, Override>): Tracking {
  const u = t.uplinks.get(uplink)!;
  const healthy = [...u.health].filter(([, h]) => usableState(h.state)).map(([f]) => f);
  const everLost = new Set([...u.everLost].filter((f) => !healthy.includes(f)));
  const steer = { 4: cancelFailback(t.steer[4]), 6: cancelFailback(t.steer[6]) };
  return { ...t, overrides, steer, uplinks: new Map(t.uplinks).set(uplink, { ...u, everLost }) };
}

function restoreOverrides(t: Tracking, kept: ReadonlyMap<string, Override>, out: Effect[]): Tracking {
  const known = new Set(t.config.uplinks.map((u) => u.name));
  const overrides = new Map([...kept].filter(([name]) => known.has(name)));
  for (const [name, o] of overrides) {
    out.push({
      kind: 'log',
      level: 'warn',
      uplink: name,
      fields: { event: 'override', override: o.kind, by: o.by, restored: true },
      msg: `${name} stays ${o.kind === 'drain' ? 'drained' : 'preferred'} (set by ${o.by} at ${o.since}; uplinkd resume ${name} lifts it)`,
    });
  }
  const gone = [...kept.keys()].filter((n) => !known.has(n));
  if (gone.length) {
    out.push({
      kind: 'log',
      level: 'info',
      fields: { event: 'override', dropped: gone },
      msg: `overrides of uplinks no longer configured dropped: ${gone.join(', ')}`,
    });
    out.push(saveOverrides(overrides));
  }
  return { ...t, overrides };
}

function withUplink(t: Tracking, u: TrackedUplink): Tracking {
  return { ...t, uplinks: new Map(t.uplinks).set(u.config.name, u) };
}

/**
 * Tracks an uplink and asks for its prober; `kept`: its verdicts so far (a reload that changed
 * only probe settings). Heartbeats start once the apply asked for here has put in its table
 * and `oif` rule: before that they would follow the managed route, or none, and count as lost.
 */
function startUplink(t: Tracking, u: UplinkConfig, snapshot: LinkSnapshot, now: Now, out: Effect[], kept?: TrackedUplink, was?: TrackedUplink): TrackedUplink {
  const prev = kept ?? was;
  const before = prev?.config.interface === u.interface ? prev.learnt : {};
  const learnt = pickGateways(u, t.offer, before, now.wall);
  let tracked = newUplink(u, now, kept, learnt);
  if (!kept) tracked = checkLink(tracked, snapshot, t.config, now, out, t.offer).uplink;
  out.push({ kind: 'apply' });
  // A family that is no longer `auto` (a reload to a fixed address) lost nothing: the reload says what changed.
  for (const family of [4, 6] as const)
    if (learnt[family] !== before[family] && gatewaySetting(u, family) === AUTO_GATEWAY) noteGateway(t.config, tracked, family, before[family], out);
  tracked = keepProber(t, tracked, out);
  out.push({
    kind: 'log',
    level: 'info',
    uplink: u.name,
    fields: { event: 'uplink', interface: u.interface, targets: u.targets.map((x) => x.label), probe: u.probe },
    msg: tracked.probing
      ? `probing ${u.name} on ${u.interface}: ${u.targets.map((x) => x.label).join(', ')}`
      : `${u.name} on ${u.interface} waits for its gateway (auto) before probing ${u.targets.map((x) => x.label).join(', ')}`,
  });
  return tracked;
}

/** Heartbeats go out while some family they are sent in has a next hop: a prober is made or stopped to match. */
function keepProber(t: Tracking, u: TrackedUplink, out: Effect[]): TrackedUplink {
  const routable = routableFamilies(u).length > 0;
  if (routable === u.probing) return u;
  const name = u.config.name;
  if (!routable) {
    out.push({ kind: 'prober', uplink: name, action: 'stop' });
    return { ...u, probing: false };
  }
  // Uplinks start spread over the interval, so their heartbeats never go out in step.
  const index = Math.max(
    0,
    t.config.uplinks.findIndex((x) => x.name === name),
  );
  out.push({ kind: 'prober-new', uplink: name, phaseMs: (index * u.config.probe.intervalMs) / t.config.uplinks.length });
  return { ...u, probing: true };
}

/** Logs a family's learnt next hop that changed, and tells hooks and metrics (gateway_changed). */
function noteGateway(c: Config, u: TrackedUplink, family: Family, was: TrackedUplink['learnt'][Family], out: Effect[]): void {
  const now = u.learnt[family];
  const name = u.config.name;
  const iface = u.config.interface;
  const msg = !now
    ? `${name}: IPv${family} gateway ${describeGateway(was)} gone: no default route via ${iface} in main`
    : was
      ? `${name}: IPv${family} gateway now ${describeGateway(now)}, was ${was.address}`
      : `${name}: IPv${family} gateway ${describeGateway(now)}, learnt from main`;
  out.push({
    kind: 'log',
    level: now ? 'info' : 'warn',
    uplink: name,
    fields: { event: 'gateway', family, gateway: now?.address ?? null, was: was?.address ?? null, source: now?.source ?? null, metric: now?.metric ?? null },
    msg,
  });
  const clash = now && now.metric !== was?.metric ? metricClash(c, u.config, family, now) : undefined;
  if (clash) out.push({ kind: 'log', level: 'warn', uplink: name, fields: { event: 'gateway', family, metric: now!.metric }, msg: clash });
  if (now?.address === was?.address) return;
  out.push({
    kind: 'notify',
    event: {
      event: 'gateway_changed',
      uplink: name,
      interface: iface,
      family,
      gateway: now?.address ?? null,
      was: was?.address ?? null,
      source: now?.source ?? null,
    },
  });
}

/**
 * Main's default routes changed: each `gateway: auto` uplink takes its next hop again. A new
 * one is one apply (its table, the managed routes); the verdict stands and the next heartbeats
 * judge the new path. None any more detaches the family at once (its traffic moves).
 */
function gatewaysChanged(t: Tracking, offer: GatewayOffer, snapshot: LinkSnapshot, now: Now, out: Effect[]): Tracking {
  let next: Tracking = { ...t, offer };
  let changed = false;
  for (const u of t.uplinks.values()) {
    if (u.config.gateway !== AUTO_GATEWAY && u.config.gateway6 !== AUTO_GATEWAY) continue;
    const learnt = pickGateways(u.config, offer, u.learnt, now.wall);
    const iface = u.config.interface;
    const sameLearnt = learnt[4] === u.learnt[4] && learnt[6] === u.learnt[6];
    if (sameLearnt && offer.raIgnored.get(iface) === t.offer.raIgnored.get(iface)) continue;
    let nu: TrackedUplink = { ...u, learnt };
    for (const family of [4, 6] as const) if (learnt[family] !== u.learnt[family]) noteGateway(t.config, nu, family, u.learnt[family], out);
    const r = checkLink(nu, snapshot, t.config, now, out, offer, u.learnt);
    nu = keepProber(t, r.uplink, out);
    // A family steered by the other one's verdict may carry flows now, or no longer.
    changed ||= r.changed || !sameLearnt;
    next = withUplink(next, nu);
  }
  return changed ? resteer(next, now, out) : next;
}

/**
 * An address taken from an interface that stays (a lease renumbered or ended): connections
 * NATed to it can never get an answer again. MASQUERADE's address notifier already deletes
 * them (nf_nat_masq_schedule, net/netfilter/nf_nat_masquerade.c); SNAT to a fixed address has
 * no such notifier, so uplinkd deletes the entries whose replies go to that address.
 */
function dropNatOnLostAddresses(u: TrackedUplink, mine: readonly LinkChange[], snapshot: LinkSnapshot, out: Effect[]): void {
  if (!snapshot.has(u.config.interface)) return;
  const gone = mine.flatMap((c) => (c.kind === 'address' && !c.added ? [c.prefix.split('/')[0]!] : []));
  const addresses = u.addresses.filter((a) => gone.includes(a.address));
  if (addresses.length === 0) return;
  const list = addresses.map((a) => a.address).join(', ');
  out.push({
    kind: 'log',
    level: 'info',
    uplink: u.config.name,
    fields: { event: 'conntrack', addresses: addresses.map((a) => a.address) },
    msg: `${u.config.interface} lost ${list}: connections NATed to it cannot get answers; deleting their conntrack entries`,
  });
  out.push({ kind: 'flush-conntrack', uplink: u.config.name, addresses });
}

function linksChanged(t: Tracking, changes: readonly LinkChange[], snapshot: LinkSnapshot, now: Now, out: Effect[]): Tracking {
  let touched = false;
  let changed = false;
  let next = t;
  for (const u of t.uplinks.values()) {
    const mine = changes.filter((c) => c.name === u.config.interface);
    if (mine.length === 0) continue;
    touched = true;
    const name = u.config.name;
    out.push({ kind: 'log', level: 'info', uplink: name, fields: { event: 'link', changes: mine }, msg: mine.map(describeChange).join('; ') });
    // A recreated interface has a new ifindex: sockets bound to the old one send nowhere.
    if (mine.some((c) => c.kind === 'appeared')) out.push({ kind: 'prober', uplink: name, action: 'rebind' });
    const r = checkLink(u, snapshot, t.config, now, out, t.offer);
    next = withUplink(next, r.uplink);
    changed ||= r.changed;
    out.push({ kind: 'prober', uplink: name, action: 'repace' });
    dropNatOnLostAddresses(u, mine, snapshot, out);
  }
  if (changed) return resteer(next, now, out);
  // Next hops are resolved by ifindex: re-apply when an uplink's interface came or went.
  if (touched) out.push({ kind: 'apply' });
  return next;
}

/**
 * Swaps in a new, valid config. Uplinks whose path changed are probed afresh but keep their
 * history (a lost uplink still proves itself with `hold`, its flap penalty stands); retuned
 * ones keep their verdicts under the new pace; the rest only take their new settings.
 */
/** What a reload changes, as said in its log line and its reply. */
export function reloadChanges(diff: ConfigDiff): string[] {
  return [
    ...diff.added.map((n) => `added ${n}`),
    ...diff.removed.map((n) => `removed ${n}`),
    ...diff.changed.map((n) => `restarted ${n}`),
    ...diff.retuned.map((n) => `retuned ${n}`),
    ...diff.reweighted.map((n) => `reweighted ${n}`),
    ...(diff.routingChanged ? ['routing changed'] : []),
    ...(diff.socketChanged ? ['control socket moved'] : []),
    ...(diff.mptcpChanged ? ['mptcp changed'] : []),
  ];
}

function reload(t: Tracking, e: Extract<TrackEvent, { kind: 'reload' }>, now: Now, out: Effect[]): Tracking {
  const { diff, config } = e;
  for (const name of [...diff.removed, ...diff.changed, ...diff.retuned]) {
    if (t.uplinks.has(name)) out.push({ kind: 'prober', uplink: name, action: 'stop' });
  }
  const next: Tracking = { ...t, config, ...(e.offer ? { offer: e.offer } : {}) };
  const uplinks = new Map<string, TrackedUplink>();
  for (const u of config.uplinks) {
    const old = t.uplinks.get(u.name);
    if (!old || diff.added.includes(u.name)) uplinks.set(u.name, startUplink(next, u, e.snapshot, now, out));
    else if (diff.changed.includes(u.name)) {
      const fresh = startUplink(next, u, e.snapshot, now, out, undefined, old);
      uplinks.set(u.name, { ...fresh, everLost: new Set([...fresh.everLost, ...old.everLost]), damping: old.damping });
    } else if (diff.retuned.includes(u.name)) uplinks.set(u.name, startUplink(next, u, e.snapshot, now, out, old));
    else uplinks.set(u.name, { ...old, config: u });
  }
  // Overrides stay with the uplinks that stay.
  const overrides = new Map([...t.overrides].filter(([name]) => uplinks.has(name)));
  if (overrides.size !== t.overrides.size) out.push(saveOverrides(overrides));
  const changes = reloadChanges(diff);
  out.push({ kind: 'log', level: 'info', fields: { event: 'reload', changes }, msg: `reloaded ${e.path}: ${changes.join(', ') || 'no changes'}` });
  return resteer({ ...next, uplinks, overrides }, now, out);
}

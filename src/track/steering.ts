// track/: where new flows go, from the tracked uplinks: flap dampening forces a held-out uplink
// `down`, an uplink with no targets in a family is steered by its other family's verdict,
// operator overrides bend the input (steer/overrides.ts), due drains are taken, and the next
// timed step is asked for. Also the adoption of routes an earlier run left. Pure.
import {
  adoptedSteering,
  dampAt,
  nexthopFor,
  reuseAt,
  type SteerUplink,
  steeringCause,
  steerWithFailback,
  takeDueDrain,
  withOverrides,
} from '../steer/index.js';
import type { FlowShare } from '../types/events.js';
import { AUTO_GATEWAY, type Family, gatewaySetting, usableState } from '../types/index.js';
import { pickGateways, routedUplink } from './gateways.js';
import { type Effect, type ManagedRoute, type Now, steeringOf, type TrackedUplink, type Tracking } from './model.js';
import { stateFor } from './uplink.js';

/** Decays every flap penalty to now, logging releases. */
function decayDamping(t: Tracking, now: Now, out: Effect[]): Tracking {
  const d = t.config.routing.dampening;
  if (!d) return t;
  const uplinks = new Map<string, TrackedUplink>();
  for (const [name, u] of t.uplinks) {
    const damping = dampAt(u.damping, now.mono, d);
    if (u.damping.suppressed && !damping.suppressed) {
      // Floored: released means under `reuse`, and the line should not say "750 (under 750)".
      const p = Math.floor(damping.penalty);
      out.push({
        kind: 'log',
        level: 'info',
        uplink: name,
        fields: { event: 'dampening', penalty: p, suppressed: false },
        msg: `${name}: flap penalty decayed to ${p} (under ${d.reuse}): may carry traffic again`,
      });
    }
    uplinks.set(name, { ...u, damping });
  }
  return { ...t, uplinks };
}

const flowShares = (active: readonly FlowShare[]): FlowShare[] => active.filter((a) => a.share > 0).map((a) => ({ uplink: a.uplink, share: a.share }));

/** What steer/ is told of one uplink in one family. */
export function steerInput(u: TrackedUplink, family: Family): SteerUplink {
  return {
    name: u.config.name,
    priority: u.config.priority,
    weight: u.config.weight,
    // Held out by dampening: steered as if down, whatever its heartbeats say.
    state: u.damping.suppressed ? 'down' : stateFor(u, family),
    // Lost in a family it has no targets in means lost in the one it is steered by.
    everLost: u.everLost.has(family) || (!u.health.has(family) && u.everLost.size > 0),
  };
}

/**
 * Steers both families again: logs what changed, asks for an apply, arms the timer of the
 * next failback step or penalty release, and for drains and a new-flow count once it is in.
 */
export function resteer(t0: Tracking, now: Now, out: Effect[]): Tracking {
  const t = decayDamping(t0, now, out);
  const c = t.config;
  const uplinks = [...t.uplinks.values()];
  const steer = { ...t.steer };
  const drains = new Set<string>();
  let steeringChanged = false;
  // Families no route can follow (no destination, or no uplink with a next hop) stay quiet in the log.
  const managed = new Set(
    c.routing.destinations.map((d) => d.family).filter((f) => c.uplinks.some((u) => nexthopFor(u, f, 1) || gatewaySetting(u, f) === AUTO_GATEWAY)),
  );
  const held = uplinks.filter((u) => u.damping.suppressed).map((u) => u.config.name);
  const overrideKinds = new Map([...t.overrides].map(([name, o]) => [name, o.kind]));
  for (const family of [4, 6] as const) {
    const before = t.steer[family].steering;
    const inputs = uplinks.map((u) => steerInput(u, family));
    const { uplinks: bent, note } = withOverrides(inputs, overrideKinds);
    let next = steerWithFailback(bent, t.steer[family], c.routing.failback, now.mono);
    if (held.length) next = { ...next, steering: { ...next.steering, reason: `${next.steering.reason}; held out by flap dampening: ${held.join(', ')}` } };
    if (note) next = { ...next, steering: { ...next.steering, reason: `${next.steering.reason}; ${note}` } };
    const due = takeDueDrain(next, now.mono);
    steer[family] = due.state;
    for (const u of due.uplinks) drains.add(u);
    const after = due.state.steering;
    if (!managed.has(family) || JSON.stringify(before) === JSON.stringify(after)) continue;
    steeringChanged = true;
    const active = after.active.map((a) => `${a.uplink} ${a.share}%`).join(', ') || 'none';
    // Answering by its heartbeats (a drain is no loss); one a reload removed is not lost either.
    const cause = steeringCause(t.steer[family], due.state, (name) => {
      const input = inputs.find((u) => u.name === name);
      return input === undefined || usableState(input.state);
    });
    const fields = { event: 'steering', family, cause, active: after.active, all_down: after.allDown, reason: after.reason };
    // A failover and all-down are what `journalctl -p warning` must show; failback steps are routine.
    const level = cause === 'all-down' || cause === 'failover' ? 'warn' : 'info';
    const msg = after.allDown
      ? `IPv${family}: ${after.reason}`
      : `${cause === 'failover' ? 'failover: ' : ''}new IPv${family} flows: ${active} (${after.reason})`;
    out.push({ kind: 'log', level, fields, msg });
    const shares = flowShares(after.active);
    const was = flowShares(before.active);
    // Hooks, metrics and the status line hear of who carries new flows, not of a reason's wording.
    if (after.allDown !== before.allDown || JSON.stringify(shares) !== JSON.stringify(was)) {
      out.push({ kind: 'notify', event: { event: cause, family, shares, was, reason: after.reason } });
    }
  }
  // The failback schedule's next step comes by the clock, not by an event.
  const d = c.routing.dampening;
  const reuse = d ? uplinks.map((u) => reuseAt(u.damping, d)) : [];
  const dueAt = [steer[4].nextAt, steer[6].nextAt, ...reuse].filter((x): x is number => x !== undefined);
  out.push({ kind: 'timer', timer: 'steer', inMs: dueAt.length ? Math.max(1, Math.min(...dueAt) - now.mono) : undefined });
  out.push({ kind: 'apply' });
  // Status counts new flows from here on; the count starts once the new route is in.
  if (steeringChanged) out.push({ kind: 'count-new-flows' });
  if (drains.size) out.push({ kind: 'drain', uplinks: [...drains] });
  return { ...t, steer };
}

/**
 * Takes the managed routes the kernel has (left by an earlier run) as the current steering, so
 * a restart moves no flow. A next hop is an uplink's when both its interface and gateway match.
 */
export function adopt(t: Tracking, routes: readonly ManagedRoute[], out: Effect[]): Tracking {
  const steer = { ...t.steer };
  for (const family of [4, 6] as const) {
    const route = routes.find((r) => r.route.family === family);
    if (!route) continue;
    const nexthops = route.route.nexthops.flatMap((nh, i) => {
      const u = t.config.uplinks.find((x) => {
        // Adoption comes before the uplinks are tracked: their next hops from what main offers.
        const learnt = t.uplinks.get(x.name)?.learnt ?? pickGateways(x, t.offer, {}, 0);
        return x.interface === route.interfaces[i] && gatewaySetting(routedUplink(x, learnt), family) === nh.gateway;
      });
      return u ? [{ uplink: u.name, weight: nh.weight }] : [];
    });
    const steering = adoptedSteering(nexthops);
    if (!steering) continue;
    steer[family] = { steering };
    const text = steering.active.map((a) => `${a.uplink} ${a.share}%`).join(', ');
    out.push({
      kind: 'log',
      level: 'info',
      fields: { event: 'adopt', family, active: steering.active },
      msg: `IPv${family}: adopted the kernel's routes: ${text}`,
    });
  }
  return { ...t, steer };
}

/** Uplinks whose routes were adopted at start and that carry new flows without a verdict yet (`uplinkd check`). */
export function adoptedUplinks(t: Tracking): Set<string> {
  const steering = steeringOf(t);
  return new Set(([4, 6] as const).flatMap((f) => (steering[f].adopted ? steering[f].active.map((a) => a.uplink) : [])));
}

// track/: what waits for an apply. A prober sends only once its uplink's table and `oif` rule
// are in; a drain resets pinned connections only once the route points at the preferred
// uplink; new flows are counted from the steering change on. Each waits for the apply that
// begins after it was decided, and runs once that apply's outcome is in. Also the apply's
// phase (asked for, under way), by which a look at the kernel taken meanwhile is discounted.
// Pure.
import { drainPlan } from './kernel-sync.js';
import type { ApplyPhase, Deferred, Effect, TrackEvent, Tracking } from './model.js';

/** No apply asked for or under way: what the kernel shows now is what the last apply left. */
export function applyQuiet(p: ApplyPhase): boolean {
  return !p.requested && !p.running;
}

/**
 * After a step of the reducer: its drains and new-flow counts wait for the next apply, and
 * each new prober waits for it to be started; an apply's beginning arms what waits, and its
 * outcome lets it run. `event` is the kind of event the step reduced.
 */
export function settleAfterApply(t: Tracking, event: TrackEvent['kind'], out: Effect[]): Tracking {
  let p = t.applyPhase;
  const decided: Deferred[] = [];
  for (let i = 0; i < out.length; i++) {
    const e = out[i]!;
    if (e.kind === 'drain' || e.kind === 'count-new-flows') {
      decided.push(e);
      out.splice(i--, 1);
    } else if (e.kind === 'prober-new' || (e.kind === 'prober' && e.action === 'stop')) {
      // A prober replaced or stopped before it started: its start is dropped with it.
      const replaced = (d: Deferred) => d.kind !== 'prober-run' || d.uplink !== e.uplink;
      p = { ...p, waiting: p.waiting.filter(replaced), armed: p.armed.filter(replaced) };
      for (let j = decided.length - 1; j >= 0; j--) if (!replaced(decided[j]!)) decided.splice(j, 1);
      if (e.kind === 'prober-new') decided.push({ kind: 'prober-run', uplink: e.uplink });
    }
  }
  if (event === 'apply-begun') p = { ...p, armed: [...p.armed, ...p.waiting], waiting: [], requested: false, running: true, begun: p.begun + 1 };
  let release: readonly Deferred[] = [];
  if (event === 'applied' || event === 'apply-failed') {
    release = p.armed;
    p = { ...p, armed: [], running: false };
  }
  if (decided.length) p = { ...p, waiting: [...p.waiting, ...decided] };
  if (out.some((e) => e.kind === 'apply')) p = { ...p, requested: true };
  // Nothing asked for or under way: the kernel is as the last apply left it, so nothing to wait for.
  if (applyQuiet(p) && p.waiting.length) {
    release = [...release, ...p.waiting];
    p = { ...p, waiting: [] };
  }
  const next = p === t.applyPhase ? t : { ...t, applyPhase: p };
  for (const d of release) runDeferred(next, d, out);
  return next;
}

/** The daemon stops: nothing that waits will run. */
export function dropAfterApply(t: Tracking, out: Effect[]): Tracking {
  const p = t.applyPhase;
  for (const d of [...p.armed, ...p.waiting]) if (d.kind === 'drain') skippedDrain(d, out, 'uplinkd stopped');
  return { ...t, applyPhase: { ...p, waiting: [], armed: [] } };
}

function runDeferred(t: Tracking, d: Deferred, out: Effect[]): void {
  if (d.kind !== 'drain') return void out.push(d);
  const plan = drainPlan(t, d.uplinks);
  if (plan.kind === 'skip') return skippedDrain(d, out, 'the route change did not go through');
  const what = drainWords(d.cause);
  for (const name of plan.carrying)
    out.push({ kind: 'log', level: 'info', uplink: name, fields: { event: 'drain', skipped: true }, msg: `${what}: ${name} carries new flows; nothing reset` });
  const { markMask: mask, failback } = t.config.routing;
  for (const { uplink, mark } of plan.reset)
    out.push({
      kind: 'reset-pinned',
      uplink,
      mark,
      mask,
      cause: d.cause ?? 'failback',
      ...(failback.drainMs !== undefined ? { drainMs: failback.drainMs } : {}),
    });
}

function skippedDrain(d: Extract<Deferred, { kind: 'drain' }>, out: Effect[], why: string): void {
  out.push({
    kind: 'log',
    level: 'warn',
    fields: { event: 'drain', uplinks: d.uplinks },
    msg: `${drainWords(d.cause)} of ${d.uplinks.join(', ')} skipped: ${why}`,
  });
}

function drainWords(cause: 'failback' | 'operator' | undefined): string {
  return cause === 'operator' ? 'drain --now' : 'failback drain';
}

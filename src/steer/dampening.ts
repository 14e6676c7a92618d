// steer/: route-flap dampening (RFC 2439), pure. Each loss of an uplink adds a penalty that
// decays exponentially with a half-life; above `suppress` the uplink is held out of the routes
// until the penalty has decayed below `reuse`. Time comes in as an argument (monotonic ms).
import type { DampeningSettings } from '../types/index.js';

export interface Damping {
  /** The penalty as of `at`. */
  readonly penalty: number;
  readonly at: number;
  readonly suppressed: boolean;
}

export const NO_DAMPING: Damping = { penalty: 0, at: 0, suppressed: false };

/** RFC 2439 4.2: the penalty that takes `maxSuppressMs` to decay to `reuse`. */
export function penaltyCeiling(s: DampeningSettings): number {
  return s.reuse * 2 ** (s.maxSuppressMs / s.halfLifeMs);
}

export function decayed(d: Damping, now: number, s: DampeningSettings): number {
  return d.penalty * 2 ** (-Math.max(0, now - d.at) / s.halfLifeMs);
}

/** The state at `now`: decayed, released below `reuse`, forgotten below half of it (RFC 2439 4.8.5). */
export function dampAt(d: Damping, now: number, s: DampeningSettings): Damping {
  const p = decayed(d, now, s);
  if (p < s.reuse / 2) return { penalty: 0, at: now, suppressed: false };
  return { penalty: p, at: now, suppressed: d.suppressed && p >= s.reuse };
}

/** The uplink was lost (usable -> down or detached): one more penalty. */
export function dampLoss(d: Damping, now: number, s: DampeningSettings): Damping {
  const p = Math.min(penaltyCeiling(s), decayed(d, now, s) + s.penalty);
  return { penalty: p, at: now, suppressed: d.suppressed || p > s.suppress };
}

/** When a suppressed uplink's penalty reaches `reuse`; undefined when it is not suppressed. */
export function reuseAt(d: Damping, s: DampeningSettings): number | undefined {
  if (!d.suppressed) return undefined;
  return d.at + s.halfLifeMs * Math.log2(d.penalty / s.reuse);
}

// steer/: why a family's steering changed, for hooks, metrics and the log's level. Pure.
import type { SteeringEventName } from '../types/index.js';
import type { SteerState } from './failback.js';

/**
 * From `before` to `after`: no uplink answers; one that carried new flows was lost (`usable`
 * says which still answer); a failback took a step or ended (failback.ts's schedule); anything
 * else (a first verdict, a recovery out of all-down, a reload, an override).
 */
export function steeringCause(before: SteerState, after: SteerState, usable: (uplink: string) => boolean): SteeringEventName {
  if (after.steering.allDown) return 'all-down';
  // Out of all-down, the kept routes' uplinks were lost long ago: a recovery, not a failover.
  if (before.steering.allDown) return 'steering';
  if (before.steering.active.some((a) => a.share > 0 && !usable(a.uplink))) return 'failover';
  if (after.failback && after.steering.active.some((a) => a.share > 0 && after.failback!.to.active.some((t) => t.uplink === a.uplink))) return 'failback-step';
  if (before.failback && !after.failback) return 'failback-done';
  return 'steering';
}

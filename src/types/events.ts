// What an operator hears of, as plain data: the tracking decides these (track/), and hooks,
// metrics and the service manager's status line each take them as they come (src/README.md §4).
import type { Family, UplinkState } from './index.js';

/** One uplink's share of a family's new flows, in percent. */
export interface FlowShare {
  readonly uplink: string;
  readonly share: number;
}

/**
 * A change of which uplinks carry a family's new flows, by cause. `failover`: one that carried
 * them was lost; `failback-step` and `failback-done`: the gradual move back to a recovered,
 * more preferred uplink; `all-down`: no uplink answers (the last routes stay); `steering`:
 * any other change (a first verdict, a reload).
 */
export type SteeringEventName = 'steering' | 'failover' | 'failback-step' | 'failback-done' | 'all-down';

export type OperatorEvent =
  /** An uplink's health changed in one family. */
  | {
      readonly event: 'state';
      readonly uplink: string;
      readonly interface: string;
      readonly family: Family;
      readonly from: UplinkState;
      readonly to: UplinkState;
      readonly reason: string;
    }
  | {
      readonly event: SteeringEventName;
      readonly family: Family;
      readonly shares: readonly FlowShare[];
      /** What carried new flows before. */
      readonly was: readonly FlowShare[];
      readonly reason: string;
    };

export const OPERATOR_EVENTS: readonly OperatorEvent['event'][] = ['state', 'steering', 'failover', 'failback-step', 'failback-done', 'all-down'];

// What an operator hears of, as plain data: the tracking decides these (track/), and hooks,
// metrics and the service manager's status line each take them as they come (the top-level
// README, "Hooks" and "Metrics").
import type { Family, OperatorEventName, SteeringEventName, UplinkState } from './index.js';

/** One uplink's share of a family's new flows, in percent. */
export interface FlowShare {
  readonly uplink: string;
  readonly share: number;
}

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
  /** `gateway: auto`: the next hop learnt for a family changed (none: the route is gone). */
  | {
      readonly event: 'gateway_changed';
      readonly uplink: string;
      readonly interface: string;
      readonly family: Family;
      readonly gateway: string | null;
      readonly was: string | null;
      /** `dhcp`, `ra`, the route's protocol by name; null when none is in force. */
      readonly source: string | null;
    }
  | {
      readonly event: SteeringEventName;
      readonly family: Family;
      readonly shares: readonly FlowShare[];
      /** What carried new flows before. */
      readonly was: readonly FlowShare[];
      readonly reason: string;
    };

export const OPERATOR_EVENTS: readonly OperatorEventName[] = ['state', 'steering', 'failover', 'failback-step', 'failback-done', 'all-down', 'gateway_changed'];

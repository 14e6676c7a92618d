// types/: MPTCP path-manager endpoints as the kernel has them and as uplinkd wants them
// (mptcp/plan.ts), and what status shows of them.
import type { Family } from './index.js';

// include/uapi/linux/mptcp.h: MPTCP_PM_ADDR_FLAG_*.
export const MPTCP_FLAG_SIGNAL = 1 << 0;
export const MPTCP_FLAG_SUBFLOW = 1 << 1;
export const MPTCP_FLAG_BACKUP = 1 << 2;
export const MPTCP_FLAG_FULLMESH = 1 << 3;
export const MPTCP_FLAG_IMPLICIT = 1 << 4;

/** A path-manager endpoint as the kernel has it (`ip mptcp endpoint show`). */
export interface Endpoint {
  readonly id: number;
  readonly family: Family;
  readonly address: string;
  readonly flags: number;
  /** `dev IFACE`: subflows from it are bound to the device (0 or absent: none). */
  readonly ifindex?: number;
}

export interface EndpointLimits {
  readonly subflows: number;
  readonly addAddrAccepted: number;
}

/** One endpoint uplinkd wants. */
export interface DesiredEndpoint {
  readonly id: number;
  readonly family: Family;
  readonly address: string;
  readonly interface: string;
  readonly uplink: string;
  readonly backup: boolean;
}

export interface DesiredMptcp {
  /** The IDs uplinkd owns, inclusive: anything there that is not desired goes. */
  readonly ids: readonly [number, number];
  readonly endpoints: readonly DesiredEndpoint[];
  /** IDs of uplinks with no verdict yet (a restart): the kernel's endpoint stays as it is, and none is added. */
  readonly kept?: readonly number[];
  /** `limits subflows` at least this (never lowered). */
  readonly subflows: number;
}

/** One uplink's part of the path manager, as status shows it. */
export interface UplinkMptcp {
  readonly endpoints: readonly { readonly id: number; readonly address: string; readonly flags: string }[];
  /** The gateway's established MPTCP subflows whose local address is one of the uplink's. */
  readonly subflows: number;
  /** Of those, the ones the gateway flags backup. */
  readonly backupSubflows: number;
}

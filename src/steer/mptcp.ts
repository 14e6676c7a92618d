// steer/: what each uplink's MPTCP endpoint should be, from the steering (pure). The in-kernel
// path manager sends data on `backup` subflows only when no other subflow is available
// (RFC 8684 §3.3.8), so the flags say which uplinks carry the gateway's own multipath
// connections; removing an endpoint closes its subflows, and their data in flight is
// reinjected on the others at once instead of waiting for a retransmission timer (measured:
// 6-7 ms against 400-600 ms; DESIGN §5).
import { usableState } from '../types/index.js';
import type { SteerState } from './failback.js';
import type { SteerUplink } from './steer.js';

/**
 * `active`: carries data (`subflow`); `standby`: healthy but not carrying new flows, its
 * subflows kept open (`subflow backup`); `removed`: lost while another uplink answers, so its
 * endpoint goes and its subflows close.
 */
export type EndpointRole = 'active' | 'standby' | 'removed';

/**
 * One family's endpoint roles. An uplink carrying new flows is active, except the tier a
 * failback is bringing back: that one stays standby through the hold and the steps, and takes
 * the data when the failback completes (MPTCP moves whole connections, not a share of them).
 * A lost uplink is removed only when another one is usable: with all of them lost, closing
 * every subflow would leave the connections nothing to resume on.
 */
export function endpointRoles(state: SteerState, uplinks: readonly SteerUplink[]): Map<string, EndpointRole> {
  const carrying = new Set(state.steering.active.filter((a) => a.share > 0).map((a) => a.uplink));
  const ramping = new Set(state.failback?.to.active.map((a) => a.uplink) ?? []);
  const lost = (u: SteerUplink): boolean => u.state === 'down' || u.state === 'detached';
  const othersUsable = (u: SteerUplink): boolean => uplinks.some((o) => o.name !== u.name && usableState(o.state));
  const roles = new Map<string, EndpointRole>();
  for (const u of uplinks) {
    if (lost(u) && othersUsable(u)) roles.set(u.name, 'removed');
    else if (carrying.has(u.name) && !ramping.has(u.name) && !lost(u)) roles.set(u.name, 'active');
    else roles.set(u.name, 'standby');
  }
  return roles;
}

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
 * subflows kept open (`subflow backup`); `removed`: lost, so its endpoint goes and its subflows
 * close; `keep`: no verdict yet (a restart): whatever the kernel has stays, nothing is added.
 */
export type EndpointRole = 'active' | 'standby' | 'removed' | 'keep';

/**
 * One family's endpoint roles. An uplink carrying new flows is active, except the tier a
 * failback is bringing back: that one stays standby through the hold and the steps, and takes
 * the data when the failback completes (MPTCP moves whole connections, not a share of them).
 * A lost uplink is removed, except the ones still carrying when every uplink is lost: closing
 * their subflows would leave the connections nothing to resume on, and one that recovers
 * first comes back with an endpoint of its own.
 */
export function endpointRoles(state: SteerState, uplinks: readonly SteerUplink[]): Map<string, EndpointRole> {
  const carrying = new Set(state.steering.active.filter((a) => a.share > 0).map((a) => a.uplink));
  const ramping = new Set(state.failback?.to.active.map((a) => a.uplink) ?? []);
  const anyUsable = uplinks.some((u) => usableState(u.state));
  const roles = new Map<string, EndpointRole>();
  for (const u of uplinks) {
    const lost = u.state === 'down' || u.state === 'detached';
    if (lost) roles.set(u.name, carrying.has(u.name) && !anyUsable ? 'active' : 'removed');
    else if (u.state === 'init') roles.set(u.name, carrying.has(u.name) ? 'active' : 'keep');
    else if (carrying.has(u.name) && !ramping.has(u.name)) roles.set(u.name, 'active');
    else roles.set(u.name, 'standby');
  }
  return roles;
}

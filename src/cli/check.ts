// cli/: `uplinkd check`, for keepalived's track_script: does this gateway carry traffic?
import type { StatusReport } from '../control/protocol.js';

const CARRYING: ReadonlySet<string> = new Set(['up', 'degraded']);

/**
 * True when a managed route the kernel holds (status `routes` are read back) has a next hop
 * through an uplink that answers heartbeats. With every uplink lost, uplinkd leaves the last
 * route in place (a gateway with no good uplink still tries), so the route alone does not say
 * that traffic gets out: its uplink's state does.
 */
export function carriesTraffic(s: StatusReport): boolean {
  const state = new Map(s.uplinks.map((u) => [u.name, u.state]));
  return s.routes.some((r) => r.nexthops.some((n) => n.weight > 0 && CARRYING.has(state.get(n.uplink) ?? '')));
}

// The `mptcp:` section (opt-in): uplinkd owns one MPTCP path-manager endpoint per uplink and
// family, with IDs from `id_base` up (types/layout.ts endpointId), and the source rules that
// keep a subflow on the uplink its address belongs to.
import { isMap, type Node } from 'yaml';
import type { MptcpSettings, UplinkConfig } from '../types/index.js';
import { DEFAULT_MPTCP_ID_BASE, MPTCP_ENDPOINTS_MAX, MPTCP_ID_MAX } from '../types/layout.js';
import { type Checker, entries } from './checker.js';

/** How many endpoints the uplinks can need: one per family each has a next hop in (a tunnel without gateways: both). */
function endpointsNeeded(uplinks: readonly UplinkConfig[]): number {
  const p2p = (u: UplinkConfig): boolean => !u.gateway && !u.gateway6;
  return uplinks.reduce((n, u) => n + (u.gateway || p2p(u) ? 1 : 0) + (u.gateway6 || p2p(u) ? 1 : 0), 0);
}

/** `mptcp: {}` takes the defaults; `uplinks`: the parsed ones (each takes two IDs). */
export function parseMptcp(c: Checker, node: unknown, uplinks: readonly UplinkConfig[]): MptcpSettings | undefined {
  if (!isMap(node)) {
    c.report('WRONG_TYPE', 'mptcp must be a mapping (`mptcp: {}` for the defaults)', node as Node);
    return undefined;
  }
  const map = c.map(node, 'mptcp', ['id_base']);
  if (!map) return undefined;
  const needed = endpointsNeeded(uplinks);
  if (needed > MPTCP_ENDPOINTS_MAX) {
    c.report(
      'BAD_VALUE',
      `mptcp: these uplinks need ${needed} endpoints (one per uplink and family with a next hop), more than the ${MPTCP_ENDPOINTS_MAX} the kernel's path manager holds`,
      node,
    );
    return undefined;
  }
  const base = entries(map).get('id_base');
  if (!base) return { idBase: DEFAULT_MPTCP_ID_BASE };
  // Two IDs an uplink (IPv4 and IPv6), all within a byte.
  const idBase = c.integer(base.value, 'mptcp.id_base', 1, MPTCP_ID_MAX - 2 * Math.max(uplinks.length, 1) + 1);
  return idBase === undefined ? undefined : { idBase };
}

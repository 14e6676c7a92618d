// The `mptcp:` section (opt-in): uplinkd owns one MPTCP path-manager endpoint per uplink and
// family, with IDs from `id_base` up (types/layout.ts endpointId), and the source rules that
// keep a subflow on the uplink its address belongs to.
import { isMap, type Node } from 'yaml';
import type { MptcpSettings } from '../types/index.js';
import { DEFAULT_MPTCP_ID_BASE, endpointIdRange, MPTCP_ID_MAX } from '../types/layout.js';
import { type Checker, entries } from './checker.js';

/** `mptcp: {}` takes the defaults. `uplinks`: how many there are (each takes two IDs). */
export function parseMptcp(c: Checker, node: unknown, uplinks: number): MptcpSettings | undefined {
  if (!isMap(node)) {
    c.report('WRONG_TYPE', 'mptcp must be a mapping (`mptcp: {}` for the defaults)', node as Node);
    return undefined;
  }
  const map = c.map(node, 'mptcp', ['id_base']);
  if (!map) return undefined;
  const base = entries(map).get('id_base');
  // Two IDs an uplink (IPv4 and IPv6), all below the u8 ceiling.
  const highest = MPTCP_ID_MAX - 2 * Math.max(uplinks, 1) + 1;
  if (!base) {
    if (endpointIdRange(DEFAULT_MPTCP_ID_BASE, uplinks)[1] <= MPTCP_ID_MAX) return { idBase: DEFAULT_MPTCP_ID_BASE };
    c.report('BAD_VALUE', `mptcp: ${uplinks} uplinks need ${2 * uplinks} endpoint IDs; set mptcp.id_base to at most ${highest}`, map);
    return undefined;
  }
  if (highest < 1) {
    c.report(
      'BAD_VALUE',
      `mptcp: ${uplinks} uplinks need ${2 * uplinks} endpoint IDs, more than the ${MPTCP_ID_MAX} an MPTCP path manager has`,
      base.value as Node,
    );
    return undefined;
  }
  const idBase = c.integer(base.value, 'mptcp.id_base', 1, highest);
  return idBase === undefined ? undefined : { idBase };
}

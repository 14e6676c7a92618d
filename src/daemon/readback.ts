// daemon/: what status and check read back from the kernel (connections per uplink, new-flow
// counters, the managed routes, foreign rules, MPTCP endpoints and subflows), handed with what
// is tracked to status/'s pure views.
import type { Logger } from 'pino';
import type { ConntrackTable } from '../host/index.js';
import type { LinkSource } from '../link/index.js';
import type { PinningTable } from '../nft/index.js';
import { checkView } from '../status/check.js';
import { newFlowsSince, routeView, statusView } from '../status/view.js';
import { adoptedUplinks, mptcpOwners, ownedBy, steeringOf, type Tracking } from '../track/index.js';
import { uplinkMark } from '../types/layout.js';
import type { UplinkMptcp } from '../types/mptcp.js';
import type { StatusReport } from '../types/status.js';
import type { Applier } from './applier.js';
import { errText } from './ports.js';

export interface ReadbackPorts {
  readonly applier: Applier;
  readonly conntrack: ConntrackTable;
  readonly pinning: PinningTable;
  readonly links: LinkSource;
  readonly mono: () => number;
  readonly log: Logger;
}

/** Reads back what the kernel does with connections, routes and rules, and renders status from it. */
export async function readStatus(t: Tracking, p: ReadbackPorts): Promise<StatusReport> {
  const config = t.config;
  const mask = config.routing.markMask;
  let flows: Map<string, number> | null = null;
  let fresh: Map<string, number> | null = null;
  try {
    const byMark = await p.conntrack.countByMark(mask);
    flows = new Map(config.uplinks.map((u, i) => [u.name, byMark.get(uplinkMark(mask, i)!) ?? 0]));
  } catch (err) {
    p.log.warn({ event: 'status', err: errText(err) }, `cannot count pinned connections: ${errText(err)}`);
  }
  try {
    fresh = newFlowsSince(config, await p.pinning.counters(), t.newFlowBase);
  } catch (err) {
    p.log.warn({ event: 'status', err: errText(err) }, `cannot read the new-flow counters: ${errText(err)}`);
  }
  // Ours through rtnetlink like the rest; the routes a reload moved away are gone by now.
  const routes = await p.applier.managedRoutes(ownedBy(config));
  const foreignRules = await p.applier.foreignRules(ownedBy(config));
  const gateways = await p.applier.uplinkGateways(ownedBy(config));
  const mptcp = config.mptcp ? await readMptcp(t, p) : undefined;
  const kernel = {
    flows,
    fresh,
    routes,
    foreignRules,
    gateways,
    refused: t.notices.refused,
    connected: t.notices.connected,
    ...(config.mptcp ? { mptcp } : {}),
  };
  return statusView(config, [...t.uplinks.values()], steeringOf(t), kernel, p.mono(), t.overrides);
}

/** Each uplink's endpoints and subflows, from the kernel; null when they cannot be read. */
async function readMptcp(t: Tracking, p: ReadbackPorts): Promise<Map<string, UplinkMptcp> | null> {
  const settings = t.config.mptcp;
  if (!settings) return null;
  try {
    return (await p.applier.mptcpView(mptcpOwners(t.config, settings, p.links.snapshot()))) ?? null;
  } catch (err) {
    p.log.warn({ event: 'status', err: errText(err) }, `cannot read the MPTCP endpoints and subflows: ${errText(err)}`);
    return null;
  }
}

/** `uplinkd check`: health from memory, the managed routes from the kernel, nothing else read. */
export async function readCheck(t: Tracking, applier: Applier, mono: number): Promise<{ carrying: boolean; reason: string }> {
  const routes = (await applier.managedRoutes(ownedBy(t.config))).map(({ route, interfaces }) => routeView(t.config, route, interfaces));
  return checkView({ uplinks: memorySummary(t, mono).uplinks, routes, adopted: adoptedUplinks(t) });
}

/** Status from memory alone (no kernel read): health and the intended shares, for the service manager's status line. */
export function memorySummary(t: Tracking, mono: number): StatusReport {
  const kernel = { flows: null, fresh: null, routes: [], foreignRules: [], refused: t.notices.refused, connected: t.notices.connected };
  return statusView(t.config, [...t.uplinks.values()], steeringOf(t), kernel, mono, t.overrides);
}

// track/: `gateway: auto` (src/README.md §4). Which of the default routes other programs keep
// in main an uplink takes as its next hop, what an uplink waiting for one is told, and the
// config with the learnt next hops in place, as steer/ and the kernel folders take it. Pure.
import { AUTO_GATEWAY, type Config, type Family, gatewaySetting, type UplinkConfig } from '../types/index.js';
import { MAIN_TABLE, OWN_METRIC } from '../types/layout.js';
import { protocolName } from '../types/netlink.js';
import type { ForeignDefault } from '../types/routes.js';

/** A next hop learnt for one family of an uplink. */
export interface LearntGateway {
  readonly address: string;
  /** Where it came from: the route's protocol by name (`dhcp`, `ra`, `boot`, `proto 200`). */
  readonly source: string;
  readonly metric: number;
  /** Wall ms it came into force. */
  readonly since: number;
}

/** What the kernel's main table offers `gateway: auto`, as the daemon last read it. */
export interface GatewayOffer {
  /** By interface name: the default routes via it that are not uplinkd's, lowest metric first. */
  readonly defaults: ReadonlyMap<string, readonly ForeignDefault[]>;
  /**
   * Interfaces on which the kernel ignores router advertisements: forwarding is on and
   * accept_ra is not 2 (Documentation/networking/ip-sysctl.rst), with accept_ra's value.
   */
  readonly raIgnored: ReadonlyMap<string, number>;
}

export const NO_OFFER: GatewayOffer = { defaults: new Map(), raIgnored: new Map() };

export type LearntGateways = Readonly<Partial<Record<Family, LearntGateway>>>;

/**
 * The next hop `family` of `u` takes from `offer`: the default route via its interface with the
 * lowest metric (the one the kernel itself would use). Among equal metrics the one in force
 * stays (two routers advertising at once do not make it flap), else the first learnt.
 */
export function pickGateway(u: UplinkConfig, family: Family, offer: GatewayOffer, was: LearntGateway | undefined, wall: number): LearntGateway | undefined {
  if (gatewaySetting(u, family) !== AUTO_GATEWAY) return undefined;
  const here = (offer.defaults.get(u.interface) ?? []).filter((d) => d.family === family);
  if (here.length === 0) return undefined;
  const best = Math.min(...here.map((d) => d.metric));
  const lowest = here.filter((d) => d.metric === best);
  const chosen = lowest.find((d) => d.gateway === was?.address) ?? lowest[0]!;
  const address = chosen.gateway;
  const source = protocolName(chosen.protocol);
  if (was && was.address === address && was.source === source && was.metric === chosen.metric) return was;
  return { address, source, metric: chosen.metric, since: was?.address === address ? was.since : wall };
}

/** Both families' picks. */
export function pickGateways(u: UplinkConfig, offer: GatewayOffer, was: LearntGateways, wall: number): LearntGateways {
  const out: Partial<Record<Family, LearntGateway>> = {};
  for (const family of [4, 6] as const) {
    const g = pickGateway(u, family, offer, was[family], wall);
    if (g) out[family] = g;
  }
  return out;
}

/** `u` with its learnt next hops in place of `auto`; an `auto` with none learnt stays, and gives no next hop (steer/ nexthopFor). */
export function routedUplink(u: UplinkConfig, learnt: LearntGateways): UplinkConfig {
  const v4 = u.gateway === AUTO_GATEWAY ? learnt[4]?.address : undefined;
  const v6 = u.gateway6 === AUTO_GATEWAY ? learnt[6]?.address : undefined;
  if (v4 === undefined && v6 === undefined) return u;
  return { ...u, ...(v4 ? { gateway: v4 } : {}), ...(v6 ? { gateway6: v6 } : {}) };
}

/** The config as routes are written from it: every uplink's learnt next hops in place. */
export function routedConfig(c: Config, learnt: (name: string) => LearntGateways | undefined): Config {
  let changed = false;
  const uplinks = c.uplinks.map((u) => {
    const r = routedUplink(u, learnt(u.name) ?? {});
    changed ||= r !== u;
    return r;
  });
  return changed ? { ...c, uplinks } : c;
}

/** Whether `family` of `u` waits for a next hop to be learnt. */
export function waitsForGateway(u: UplinkConfig, learnt: LearntGateways, family: Family): boolean {
  return gatewaySetting(u, family) === AUTO_GATEWAY && learnt[family] === undefined;
}

/** Why a family waiting for a next hop is detached: what it waits for, and what keeps it from coming. */
export function gatewayWait(u: UplinkConfig, family: Family, offer: GatewayOffer, lost: LearntGateway | undefined): string {
  const iface = u.interface;
  const head = lost ? `the default route via ${iface} is gone (was ${lost.address}, ${lost.source})` : `no default route via ${iface} yet`;
  if (family === 4) return `${head} (DHCP)`;
  const acceptRa = offer.raIgnored.get(iface);
  return acceptRa === undefined
    ? `${head} (router advertisements)`
    : `${head} (router advertisements: the kernel ignores them, net.ipv6.conf.${iface}.accept_ra is ${acceptRa} with forwarding on; set it to 2)`;
}

/** `gateway 100.64.2.1 (dhcp)` for log lines. */
export function describeGateway(g: LearntGateway | undefined): string {
  return g ? `${g.address} (${g.source}, metric ${g.metric})` : 'none';
}

/**
 * With `routing.table: main` uplinkd's own default sits at OWN_METRIC there, and the kernel keys
 * an IPv4 route by prefix, tos and metric, never its protocol or interface (fib_table_insert,
 * net/ipv4/fib_trie.c): a client's default at that metric and uplinkd's replace each other, and
 * the client's `ip route add` fails with EEXIST. What to tell the operator, or undefined.
 */
export function metricClash(c: Config, u: UplinkConfig, family: Family, g: LearntGateway): string | undefined {
  if (c.routing.table !== MAIN_TABLE || g.metric !== OWN_METRIC[family]) return undefined;
  if (!c.routing.destinations.some((d) => d.family === family && d.length === 0)) return undefined;
  return `${u.name}: the default route via ${u.interface} (${g.source}) has metric ${g.metric}, the metric of uplinkd's own default in main (routing.table: main): each replaces the other; give the client a metric above ${g.metric}`;
}

// route/: the default routes other programs keep in main, where `gateway: auto` learns its next
// hop (src/README.md §4): read from route messages (events and dumps), kept by interface, never
// uplinkd's own (RTPROT_UPLINKD). Which one an uplink takes is track/'s decision (gateways.ts).
import { bytesToAddress } from '../types/address.js';
import type { Family } from '../types/index.js';
import { MAIN_TABLE } from '../types/layout.js';
import {
  AF,
  attributes,
  NLM_F_REPLACE,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_NEWROUTE,
  RTPROT_UPLINKD,
} from '../types/netlink.js';
import type { ForeignDefault, KernelRoute } from '../types/routes.js';
import { decodeMultipath } from './kernel.js';

/** RTN_UNICAST (include/uapi/linux/rtnetlink.h): an unreachable or blackhole default leads nowhere. */
const RTN_UNICAST = 1;

/** A dumped route -> the foreign defaults it holds, one per next hop with a gateway. */
export function defaultsOfRoute(r: KernelRoute): ForeignDefault[] {
  if (r.table !== MAIN_TABLE || !r.prefix.endsWith('/0') || r.protocol === RTPROT_UPLINKD || r.protocol === undefined) return [];
  const protocol = r.protocol;
  return r.nexthops.flatMap((nh) => (nh.gateway ? [{ family: r.family, ifindex: nh.ifindex, gateway: nh.gateway, metric: r.metric ?? 0, protocol }] : []));
}

/**
 * An RTM_NEWROUTE or RTM_DELROUTE message body (struct rtmsg, 12 bytes, then attributes) -> the
 * foreign defaults it adds or removes, with whether it replaced what had its metric.
 */
export function defaultsOfMessage(type: number, flags: number, body: Buffer): { defaults: ForeignDefault[]; replace: boolean } | undefined {
  if ((type !== RTM_NEWROUTE && type !== RTM_DELROUTE) || body.length < 12) return undefined;
  const af = body.readUInt8(0);
  const family: Family | undefined = af === AF[4] ? 4 : af === AF[6] ? 6 : undefined;
  const protocol = body.readUInt8(5);
  if (!family || body.readUInt8(1) !== 0 || body.readUInt8(7) !== RTN_UNICAST || protocol === RTPROT_UPLINKD) return undefined;
  let table = body.readUInt8(4);
  let oif = 0;
  let gateway: string | undefined;
  let metric = 0;
  let multipath: Buffer | undefined;
  for (const a of attributes(body, 12)) {
    if (a.type === RTA_TABLE && a.value.length >= 4) table = a.value.readUInt32LE(0);
    else if (a.type === RTA_OIF && a.value.length >= 4) oif = a.value.readInt32LE(0);
    else if (a.type === RTA_GATEWAY) gateway = bytesToAddress(a.value);
    else if (a.type === RTA_PRIORITY && a.value.length >= 4) metric = a.value.readUInt32LE(0);
    else if (a.type === RTA_MULTIPATH) multipath = a.value;
  }
  if (table !== MAIN_TABLE) return undefined;
  const nexthops = multipath ? decodeMultipath(multipath) : gateway ? [{ ifindex: oif, gateway, weight: 1 }] : [];
  const defaults = nexthops.flatMap((nh) => (nh.gateway ? [{ family, ifindex: nh.ifindex, gateway: nh.gateway, metric, protocol }] : []));
  return { defaults, replace: type === RTM_NEWROUTE && (flags & NLM_F_REPLACE) !== 0 };
}

function key(d: ForeignDefault): string {
  return `${d.family}|${d.ifindex}|${d.gateway}|${d.metric}`;
}

/**
 * The foreign defaults as the kernel has them: a dump sets a family afresh, events add and
 * remove. IPv4 notifies no deletion of the routes it flushes with an interface's last address
 * or its link (fib_disable_ip, net/ipv4/fib_frontend.c): the daemon dumps again on such link
 * changes.
 */
export class DefaultRouteBook {
  private readonly routes = new Map<string, ForeignDefault>();

  /** After a dump of `family`: exactly these. */
  reset(family: Family, routes: readonly KernelRoute[]): void {
    for (const [k, d] of this.routes) if (d.family === family) this.routes.delete(k);
    for (const r of routes) if (r.family === family) for (const d of defaultsOfRoute(r)) this.routes.set(key(d), d);
  }

  /**
   * One event's defaults. `replace` (NLM_F_REPLACE): the kernel swapped a route of that metric
   * for it and notifies no deletion (fib_table_insert, fib6_add_rt2node); which one is its
   * choice (IPv6 takes the first of the metric, on any interface), so only the interface's own
   * go here and the caller dumps main again for the rest.
   */
  note(deleted: boolean, defaults: readonly ForeignDefault[], replace = false): void {
    for (const d of defaults) {
      if (deleted) {
        this.routes.delete(key(d));
        continue;
      }
      if (replace) for (const [k, x] of this.routes) if (x.family === d.family && x.metric === d.metric && x.ifindex === d.ifindex) this.routes.delete(k);
    }
    if (!deleted) for (const d of defaults) this.routes.set(key(d), d);
  }

  /** Per ifindex, its defaults by metric (lowest first), in the order they were learnt. */
  byInterface(): Map<number, ForeignDefault[]> {
    const out = new Map<number, ForeignDefault[]>();
    for (const d of this.routes.values()) out.set(d.ifindex, [...(out.get(d.ifindex) ?? []), d]);
    for (const list of out.values()) list.sort((a, b) => a.metric - b.metric);
    return out;
  }
}

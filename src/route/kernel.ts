// route/: the kernel side of routing, behind a small interface so the diffing in router.ts
// can be tested against a fake (fake.ts) and for real in the lab.
import netlink from 'netlink';
import { SerialCalls } from '../netlink/index.js';
import { addressBytes, bytesToAddress } from '../types/address.js';
import type { Family } from '../types/index.js';
import {
  AF,
  FR_ACT_TO_TBL,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RT_SCOPE_LINK,
  RT_TABLE_COMPAT,
  RT_TABLE_UNSPEC,
  RTNH_F_ONLINK,
  RTPROT_KERNEL,
  RTPROT_UPLINKD,
} from '../types/netlink.js';
import type { KernelLink, KernelNexthop, KernelRoute, KernelRule } from '../types/routes.js';
import { decodeMultipath, encodeMultipath } from './multipath.js';
import { TableRouteDumper } from './table-dump.js';

export { decodeMultipath, encodeMultipath };

export interface RouteKernel {
  /** Interface name -> index and admin state, for the links that exist now. */
  links(): Promise<Map<string, KernelLink>>;
  /** The unicast routes of `family`; of `tables` only when named (the kernel filters them where it can). */
  routes(family: Family, tables?: Iterable<number>): Promise<KernelRoute[]>;
  replaceRoute(route: KernelRoute): Promise<void>;
  deleteRoute(route: KernelRoute): Promise<void>;
  rules(family: Family): Promise<KernelRule[]>;
  addRule(rule: KernelRule): Promise<void>;
  deleteRule(rule: KernelRule): Promise<void>;
  /** The netlink port our requests carry, so events we caused can be told from others'. */
  portId(): number;
  close(): void;
}

/** rtm_protocol as the `netlink` package gives it (a name from its enum, or the number). */
function protocolNumber(p: unknown): number | undefined {
  if (typeof p === 'number') return p;
  const n = typeof p === 'string' ? (netlink.rt.RouteProtocol as unknown as Record<string, number>)[p] : undefined;
  return typeof n === 'number' ? n : undefined;
}

function familyOf(af: number | undefined): Family | undefined {
  return af === AF[4] ? 4 : af === AF[6] ? 6 : undefined;
}

function prefixParts(prefix: string): { address: string; length: number } {
  const [address, len] = prefix.split('/');
  return { address: address!, length: Number(len) };
}

const ACTION_WORDS: Record<string, string> = { goto: 'goto', nop: 'nop', blackhole: 'blackhole', unreachable: 'unreachable', prohibit: 'prohibit' };

/** The parts of a dumped rule that uplinkd never writes (include/uapi/linux/fib_rules.h). */
function otherSelectors(m: { data: object; attrs: object }): { other?: string } {
  const data = m.data as Record<string, unknown>;
  const attrs = m.attrs as Record<string, unknown>;
  const words: string[] = [];
  const flags = data.flags as { invert?: boolean } | undefined;
  if (flags?.invert) words.push('not');
  if (data.dstLen) words.push(`to ${attrs.dst ? bytesToAddress(attrs.dst as Buffer) : '?'}/${String(data.dstLen)}`);
  if (data.tos) words.push(`tos ${String(data.tos)}`);
  if (attrs.iifname) words.push(`iif ${String(attrs.iifname)}`);
  const range = (v: unknown): string => {
    const r = v as { start?: number; end?: number };
    return r.start === r.end ? String(r.start) : `${String(r.start)}-${String(r.end)}`;
  };
  if (attrs.uidRange) words.push(`uidrange ${range(attrs.uidRange)}`);
  if (attrs.ipProto !== undefined) words.push(`ipproto ${String(attrs.ipProto)}`);
  if (attrs.sportRange) words.push(`sport ${range(attrs.sportRange)}`);
  if (attrs.dportRange) words.push(`dport ${range(attrs.dportRange)}`);
  for (const [key, word] of [
    ['l3Mdev', 'l3mdev'],
    ['tunId', 'tun_id'],
    ['flow', 'realms'],
    ['suppressIfgroup', 'suppress_ifgroup'],
  ] as const) {
    if (attrs[key] !== undefined) words.push(word);
  }
  const action = data.action;
  if (action !== undefined && action !== 'toTbl' && action !== FR_ACT_TO_TBL) {
    words.push(typeof action === 'string' ? (ACTION_WORDS[action] ?? `action ${action}`) : `action ${String(action)}`);
  }
  return words.length ? { other: words.join(' ') } : {};
}

/** The real kernel through rtnetlink (the `netlink` package). */
export class NetlinkKernel implements RouteKernel {
  private readonly sock = netlink.createRtNetlink();
  private readonly calls = new SerialCalls();
  private readonly tableDumps = new TableRouteDumper();

  async links(): Promise<Map<string, KernelLink>> {
    const links = await this.calls.run('dump links', () => this.sock.getLinks());
    const out = new Map<string, KernelLink>();
    for (const l of links) if (l.attrs.ifname && l.data.index) out.set(l.attrs.ifname, { index: l.data.index, up: !!l.data.flags?.up });
    return out;
  }

  async routes(family: Family, tables?: Iterable<number>): Promise<KernelRoute[]> {
    if (tables) return this.calls.run('dump routes', () => this.tableDumps.routes(family, tables));
    const msgs = await this.calls.run('dump routes', () => this.sock.getRoutes({ family: AF[family] }));
    const out: KernelRoute[] = [];
    for (const m of msgs) {
      const f = familyOf(m.data.family);
      if (!f || (m.data.type !== 'UNICAST' && m.data.type !== 1)) continue;
      const table = m.attrs.table ?? m.data.table ?? 0;
      const protocol = protocolNumber(m.data.protocol);
      const len = m.data.dstLen ?? 0;
      const address = m.attrs.dst ? bytesToAddress(m.attrs.dst) : f === 4 ? '0.0.0.0' : '::';
      let nexthops: KernelNexthop[];
      if (m.attrs.multipath) nexthops = decodeMultipath(m.attrs.multipath);
      else {
        const gateway = m.attrs.gateway ? bytesToAddress(m.attrs.gateway) : undefined;
        nexthops = [gateway ? { ifindex: m.attrs.oif ?? 0, gateway, weight: 1 } : { ifindex: m.attrs.oif ?? 0, weight: 1 }];
      }
      out.push({
        family: f,
        table,
        prefix: `${address}/${len}`,
        nexthops,
        ...(m.attrs.nhId ? { nhid: m.attrs.nhId.readUInt32LE(0) } : {}),
        ...(protocol === RTPROT_KERNEL ? { connected: true as const } : {}),
        ...(protocol !== undefined ? { protocol } : {}),
        metric: m.attrs.priority ?? 0,
      });
    }
    return out;
  }

  private routeMessage(r: KernelRoute) {
    const { address, length } = prefixParts(r.prefix);
    const single = r.nexthops.length === 1 ? r.nexthops[0]! : undefined;
    const data = {
      family: AF[r.family],
      dstLen: length,
      table: r.table < 256 ? r.table : RT_TABLE_COMPAT,
      protocol: r.protocol ?? RTPROT_UPLINKD,
      // A route straight onto a device (no gateway) is on-link: scope link, as `ip route` sets it.
      scope: single && !single.gateway ? RT_SCOPE_LINK : 0,
      type: 1,
      // IPv6 checks a gateway by a lookup that our own `oif` rules steer into the uplink's
      // table, where it resolves via a gateway and is refused (EHOSTUNREACH, net/ipv6/route.c
      // ip6_route_check_nh). The configured gateway is on the uplink's link by definition.
      flags: { __unknown: r.family === 6 && single?.gateway ? RTNH_F_ONLINK : 0 },
    };
    const attrs: Record<string, unknown> = { table: r.table };
    if (length > 0) attrs.dst = addressBytes(address);
    if (r.metric) attrs.priority = r.metric;
    if (single) {
      attrs.oif = single.ifindex;
      if (single.gateway) attrs.gateway = addressBytes(single.gateway);
    } else if (r.nexthops.length > 1) attrs.multipath = encodeMultipath(r.nexthops, r.family === 6 ? RTNH_F_ONLINK : 0);
    return { data, attrs };
  }

  async replaceRoute(route: KernelRoute): Promise<void> {
    const { data, attrs } = this.routeMessage(route);
    await this.calls.run(`replace ${route.prefix}`, () => this.sock.newRoute(data as never, attrs, { flags: NLM_F_REPLACE | NLM_F_CREATE }));
  }

  async deleteRoute(route: KernelRoute): Promise<void> {
    const { address, length } = prefixParts(route.prefix);
    const attrs: Record<string, unknown> = { table: route.table };
    if (length > 0) attrs.dst = addressBytes(address);
    // The metric and protocol it has: the kernel deletes the first route of the prefix that
    // matches what the request names (fib_table_delete, ip6_route_del), and in main that may
    // be a DHCP client's.
    if (route.metric) attrs.priority = route.metric;
    const protocol = route.protocol ?? RTPROT_UPLINKD;
    await this.calls.run(`delete ${route.prefix}`, () =>
      this.sock.delRoute({ family: AF[route.family], dstLen: length, table: route.table < 256 ? route.table : RT_TABLE_COMPAT, protocol } as never, attrs),
    );
  }

  async rules(family: Family): Promise<KernelRule[]> {
    const msgs = await this.calls.run('dump rules', () => this.sock.getRules({ family: AF[family] }));
    const out: KernelRule[] = [];
    for (const m of msgs) {
      const f = familyOf(m.data.family);
      if (!f) continue;
      const suppress = m.attrs.suppressPrefixlen?.readUInt32LE(0);
      out.push({
        family: f,
        priority: m.attrs.priority ?? 0,
        table: m.attrs.table ?? m.data.table ?? 0,
        ...(m.attrs.oifname ? { oifname: m.attrs.oifname } : {}),
        ...(m.attrs.src ? { src: `${bytesToAddress(m.attrs.src)}/${m.data.srcLen ?? 0}` } : {}),
        ...(m.attrs.fwmark !== undefined ? { fwmark: m.attrs.fwmark >>> 0, fwmask: (m.attrs.fwmask ?? 0xffff_ffff) >>> 0 } : {}),
        // 0xffffffff is the kernel's "not set" (net/core/fib_rules.c).
        ...(suppress !== undefined && suppress !== 0xffff_ffff ? { suppressPrefixlength: suppress } : {}),
        ...otherSelectors(m),
      });
    }
    return out;
  }

  private ruleMessage(r: KernelRule) {
    const attrs: Record<string, unknown> = { priority: r.priority, table: r.table };
    if (r.oifname) attrs.oifname = r.oifname;
    if (r.suppressPrefixlength !== undefined) {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(r.suppressPrefixlength);
      attrs.suppressPrefixlen = b;
    }
    if (r.fwmark !== undefined) {
      attrs.fwmark = r.fwmark;
      attrs.fwmask = r.fwmask ?? 0xffff_ffff;
    }
    let srcLen = 0;
    if (r.src) {
      const { address, length } = prefixParts(r.src);
      attrs.src = addressBytes(address);
      srcLen = length;
    }
    const data = { family: AF[r.family], srcLen, table: r.table < 256 ? r.table : RT_TABLE_UNSPEC, action: FR_ACT_TO_TBL };
    return { data, attrs };
  }

  async addRule(rule: KernelRule): Promise<void> {
    const { data, attrs } = this.ruleMessage(rule);
    await this.calls.run(`add rule ${rule.priority}`, () => this.sock.newRule(data as never, attrs, { flags: NLM_F_CREATE | NLM_F_EXCL }));
  }

  async deleteRule(rule: KernelRule): Promise<void> {
    const { data, attrs } = this.ruleMessage(rule);
    await this.calls.run(`delete rule ${rule.priority}`, () => this.sock.delRule(data as never, attrs));
  }

  portId(): number {
    return this.sock.socket.address().port;
  }

  close(): void {
    this.sock.socket.close();
    this.tableDumps.close();
  }
}

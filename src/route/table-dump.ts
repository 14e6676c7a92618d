// route/: the routes of chosen tables only, filtered by the kernel. A strict dump request that
// names a table walks that table alone (ip_valid_fib_dump_req and inet_dump_fib,
// net/ipv4/fib_frontend.c; inet6_dump_fib, net/ipv6/ip6_fib.c; Linux 4.20), so a gateway
// with a full BGP table elsewhere pays nothing for it on each status or apply.
import { KernelError, NfnetlinkSocket, seqBlock } from '../netlink/index.js';
import { bytesToAddress } from '../types/address.js';
import type { Family } from '../types/index.js';
import {
  AF,
  attributes,
  NETLINK_ROUTE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  RT_TABLE_COMPAT,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_NH_ID,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTPROT_KERNEL,
} from '../types/netlink.js';
import type { KernelNexthop, KernelRoute } from '../types/routes.js';
import { decodeMultipath } from './multipath.js';

/** struct rtmsg (include/uapi/linux/rtnetlink.h). */
const RTMSG_LEN = 12;

/** RTM_GETROUTE dump of one table: rtm_table (or RT_TABLE_COMPAT) and RTA_TABLE, every other filter field 0. */
export function tableDumpRequest(seq: number, family: Family, table: number): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + RTMSG_LEN + 8);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(RTM_GETROUTE, 4);
  out.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt8(AF[family], NLMSG_HDRLEN);
  out.writeUInt8(table < 256 ? table : RT_TABLE_COMPAT, NLMSG_HDRLEN + 4);
  const attr = NLMSG_HDRLEN + RTMSG_LEN;
  out.writeUInt16LE(8, attr);
  out.writeUInt16LE(RTA_TABLE, attr + 2);
  out.writeUInt32LE(table, attr + 4);
  return out;
}

/** One RTM_NEWROUTE message in b[start, end) -> a unicast route, as NetlinkKernel.routes reads them; else undefined. */
export function decodeRoute(b: Buffer, start: number, end: number): KernelRoute | undefined {
  const body = start + NLMSG_HDRLEN;
  if (end - body < RTMSG_LEN || b.readUInt16LE(start + 4) !== RTM_NEWROUTE) return undefined;
  const af = b.readUInt8(body);
  const family: Family | undefined = af === AF[4] ? 4 : af === AF[6] ? 6 : undefined;
  if (!family || b.readUInt8(body + 7) !== RTN_UNICAST) return undefined;
  const dstLen = b.readUInt8(body + 1);
  let table = b.readUInt8(body + 4);
  const protocol = b.readUInt8(body + 5);
  let dst: string | undefined;
  let gateway: string | undefined;
  let oif = 0;
  let metric = 0;
  let nhid: number | undefined;
  let multipath: KernelNexthop[] | undefined;
  for (const a of attributes(b, body + RTMSG_LEN, end)) {
    if (a.type === RTA_DST) dst = bytesToAddress(a.value);
    else if (a.type === RTA_GATEWAY) gateway = bytesToAddress(a.value);
    else if (a.value.length < 4) continue;
    else if (a.type === RTA_TABLE) table = a.value.readUInt32LE(0);
    else if (a.type === RTA_OIF) oif = a.value.readUInt32LE(0);
    else if (a.type === RTA_PRIORITY) metric = a.value.readUInt32LE(0);
    else if (a.type === RTA_NH_ID) nhid = a.value.readUInt32LE(0);
    else if (a.type === RTA_MULTIPATH) multipath = decodeMultipath(a.value);
  }
  const nexthops = multipath ?? [gateway ? { ifindex: oif, gateway, weight: 1 } : { ifindex: oif, weight: 1 }];
  return {
    family,
    table,
    prefix: `${dst ?? (family === 4 ? '0.0.0.0' : '::')}/${dstLen}`,
    nexthops,
    ...(nhid ? { nhid } : {}),
    ...(protocol === RTPROT_KERNEL ? { connected: true as const } : {}),
    protocol,
    metric,
  };
}

/** Route dumps of named tables on a NETLINK_ROUTE socket of uplinkd's with strict checking. */
export class TableRouteDumper {
  private socket: NfnetlinkSocket | undefined;
  /** Route messages the kernel has answered with so far: what a filter saved shows here. */
  messagesRead = 0;

  /** The unicast routes of `family` in `tables`, one filtered dump per table. */
  async routes(family: Family, tables: Iterable<number>): Promise<KernelRoute[]> {
    this.socket ??= new NfnetlinkSocket(256, undefined, { protocol: NETLINK_ROUTE, strictDumps: true });
    const out: KernelRoute[] = [];
    for (const table of new Set(tables)) {
      const seq = seqBlock(1);
      try {
        await this.socket.dump(tableDumpRequest(seq, family, table), seq, `dump routes of table ${table}`, (d, start, end) => {
          this.messagesRead++;
          const r = decodeRoute(d, start, end);
          // A kernel without strict checking answers with every table: keep the one asked for.
          if (r && r.table === table) out.push(r);
        });
      } catch (err) {
        // A table nobody has written to does not exist yet (ENOENT, fib_get_table): it is empty.
        if (err instanceof KernelError && err.code === 'ENOENT') continue;
        throw err;
      }
    }
    return out;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}

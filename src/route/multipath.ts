// route/: RTA_MULTIPATH, the next hops of a multipath route (struct rtnexthop,
// include/uapi/linux/rtnetlink.h), as uplinkd writes and reads them.
import { addressBytes, bytesToAddress } from '../types/address.js';
import { attributes, RTA_GATEWAY } from '../types/netlink.js';
import type { KernelNexthop } from '../types/routes.js';

/** RTA_MULTIPATH: a run of struct rtnexthop, each followed by its own attributes. */
export function encodeMultipath(nexthops: readonly KernelNexthop[], flags = 0): Buffer {
  const parts: Buffer[] = [];
  for (const nh of nexthops) {
    const gw = nh.gateway ? addressBytes(nh.gateway) : undefined;
    const attrLen = gw ? 4 + gw.length : 0;
    const buf = Buffer.alloc(8 + attrLen);
    buf.writeUInt16LE(8 + attrLen, 0); // rtnh_len
    buf.writeUInt8(nh.gateway ? flags : 0, 2); // rtnh_flags
    buf.writeUInt8(Math.max(0, Math.min(255, nh.weight - 1)), 3); // rtnh_hops = weight - 1
    buf.writeInt32LE(nh.ifindex, 4);
    if (gw) {
      buf.writeUInt16LE(attrLen, 8);
      buf.writeUInt16LE(RTA_GATEWAY, 10);
      gw.copy(buf, 12);
    }
    parts.push(buf);
  }
  return Buffer.concat(parts);
}

export function decodeMultipath(buf: Buffer): KernelNexthop[] {
  const out: KernelNexthop[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 8) break;
    const weight = buf.readUInt8(off + 3) + 1;
    const ifindex = buf.readInt32LE(off + 4);
    let gateway: string | undefined;
    for (const a of attributes(buf, off + 8, off + len)) if (a.type === RTA_GATEWAY) gateway = bytesToAddress(a.value);
    out.push(gateway ? { ifindex, gateway, weight } : { ifindex, weight });
    off += (len + 3) & ~3;
  }
  return out;
}

// route/: kernel nexthop objects and resilient groups, encoded by hand. The `netlink`
// package's newNextHop drops NHA_OIF (the kernel answers EINVAL), so these messages follow
// include/uapi/linux/nexthop.h directly; the bytes match `strace -e sendmsg ip nexthop add`.
import { addressBytes, bytesToAddress } from '../types/address.js';
import type { Family } from '../types/index.js';

/** One nexthop object: a gateway (or a bare device) on one interface. */
export interface KernelNexthopObject {
  readonly id: number;
  readonly family: Family;
  readonly ifindex: number;
  readonly gateway?: string;
}

export interface GroupMember {
  readonly id: number;
  /** 1..256. */
  readonly weight: number;
}

export interface ResilientSettings {
  readonly buckets: number;
  readonly idleTimerMs: number;
}

export interface KernelGroup {
  readonly id: number;
  readonly members: readonly GroupMember[];
  /** Present on a resilient group (NEXTHOP_GRP_TYPE_RES); absent on a plain multipath one. */
  readonly resilient?: ResilientSettings;
}

export interface KernelBucket {
  readonly index: number;
  readonly nexthopId: number;
  /** Time since the bucket last carried a packet. */
  readonly idleMs: number;
}

// include/uapi/linux/rtnetlink.h
export const RTM_NEWNEXTHOP = 104;
export const RTM_DELNEXTHOP = 105;
export const RTM_GETNEXTHOP = 106;
export const RTM_NEWNEXTHOPBUCKET = 116;
export const RTM_GETNEXTHOPBUCKET = 118;
// include/uapi/linux/nexthop.h
const NHA_ID = 1;
const NHA_GROUP = 2;
const NHA_GROUP_TYPE = 3;
const NHA_OIF = 5;
const NHA_GATEWAY = 6;
const NHA_RES_GROUP = 12;
const NHA_RES_BUCKET = 13;
const NHA_RES_GROUP_BUCKETS = 1;
const NHA_RES_GROUP_IDLE_TIMER = 2;
const NHA_RES_BUCKET_INDEX = 1;
const NHA_RES_BUCKET_IDLE_TIME = 2;
const NHA_RES_BUCKET_NH_ID = 3;
const NEXTHOP_GRP_TYPE_RES = 1;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const AF_UNSPEC = 0;
const AF = { 4: 2, 6: 10 } as const;
// RTNH_F_ONLINK: the gateway is on this link, no lookup to prove it (see kernel.ts).
const RTNH_F_ONLINK = 4;
/** Timers travel as clock_t in USER_HZ (100 per second). */
const MS_PER_TICK = 10;

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const buf = Buffer.alloc((len + 3) & ~3);
  buf.writeUInt16LE(len, 0);
  buf.writeUInt16LE(type, 2);
  payload.copy(buf, 4);
  return buf;
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

/** struct nhmsg: family, scope, protocol, resvd, flags. */
function nhmsg(family: number, flags = 0): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(family, 0);
  b.writeUInt32LE(flags, 4);
  return b;
}

/** RTM_NEWNEXTHOP body for one gateway/device nexthop. */
export function encodeNexthop(nh: KernelNexthopObject): Buffer {
  const onlink = nh.family === 6 && nh.gateway ? RTNH_F_ONLINK : 0;
  const parts = [nhmsg(AF[nh.family], onlink), attr(NHA_ID, u32(nh.id))];
  if (nh.gateway) parts.push(attr(NHA_GATEWAY, addressBytes(nh.gateway)));
  parts.push(attr(NHA_OIF, u32(nh.ifindex)));
  return Buffer.concat(parts);
}

/** RTM_NEWNEXTHOP body for a group; struct nexthop_grp carries weight - 1. */
export function encodeGroup(g: KernelGroup): Buffer {
  const members = Buffer.alloc(8 * g.members.length);
  g.members.forEach((m, i) => {
    members.writeUInt32LE(m.id, i * 8);
    members.writeUInt8(Math.max(0, Math.min(255, m.weight - 1)), i * 8 + 4);
  });
  const parts = [nhmsg(AF_UNSPEC), attr(NHA_ID, u32(g.id)), attr(NHA_GROUP, members)];
  if (g.resilient) {
    const res = Buffer.concat([
      attr(NHA_RES_GROUP_BUCKETS, u16(g.resilient.buckets)),
      attr(NHA_RES_GROUP_IDLE_TIMER, u32(Math.round(g.resilient.idleTimerMs / MS_PER_TICK))),
    ]);
    parts.push(attr(NHA_RES_GROUP | NLA_F_NESTED, res), attr(NHA_GROUP_TYPE, u16(NEXTHOP_GRP_TYPE_RES)));
  }
  return Buffer.concat(parts);
}

/** RTM_DELNEXTHOP / filtered RTM_GETNEXTHOPBUCKET body: just the id. */
export function encodeId(id: number): Buffer {
  return Buffer.concat([nhmsg(AF_UNSPEC), attr(NHA_ID, u32(id))]);
}

export function encodeDumpRequest(): Buffer {
  return nhmsg(AF_UNSPEC);
}

function attrs(buf: Buffer, from: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = from;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

function familyOf(af: number): Family | undefined {
  return af === AF[4] ? 4 : af === AF[6] ? 6 : undefined;
}

/** One RTM_NEWNEXTHOP message of a dump: a nexthop object, a group, or neither (blackhole, fdb). */
export function decodeNexthopMessage(body: Buffer): KernelNexthopObject | KernelGroup | undefined {
  if (body.length < 8) return undefined;
  const a = attrs(body, 8);
  const id = a.get(NHA_ID)?.readUInt32LE(0);
  if (id === undefined) return undefined;
  const group = a.get(NHA_GROUP);
  if (group) {
    const members: GroupMember[] = [];
    for (let off = 0; off + 8 <= group.length; off += 8) {
      members.push({ id: group.readUInt32LE(off), weight: group.readUInt8(off + 4) + 1 });
    }
    const type = a.get(NHA_GROUP_TYPE)?.readUInt16LE(0) ?? 0;
    const res = a.get(NHA_RES_GROUP);
    if (type !== NEXTHOP_GRP_TYPE_RES || !res) return { id, members };
    const r = attrs(res, 0);
    return {
      id,
      members,
      resilient: {
        buckets: r.get(NHA_RES_GROUP_BUCKETS)?.readUInt16LE(0) ?? 0,
        idleTimerMs: (r.get(NHA_RES_GROUP_IDLE_TIMER)?.readUInt32LE(0) ?? 0) * MS_PER_TICK,
      },
    };
  }
  const family = familyOf(body.readUInt8(0));
  const oif = a.get(NHA_OIF)?.readUInt32LE(0);
  if (!family || oif === undefined) return undefined;
  const gw = a.get(NHA_GATEWAY);
  return gw ? { id, family, ifindex: oif, gateway: bytesToAddress(gw) } : { id, family, ifindex: oif };
}

/** One RTM_NEWNEXTHOPBUCKET message of a bucket dump. */
export function decodeBucketMessage(body: Buffer): { group: number; bucket: KernelBucket } | undefined {
  if (body.length < 8) return undefined;
  const a = attrs(body, 8);
  const group = a.get(NHA_ID)?.readUInt32LE(0);
  const nested = a.get(NHA_RES_BUCKET);
  if (group === undefined || !nested) return undefined;
  const b = attrs(nested, 0);
  const index = b.get(NHA_RES_BUCKET_INDEX)?.readUInt16LE(0);
  const nexthopId = b.get(NHA_RES_BUCKET_NH_ID)?.readUInt32LE(0);
  const idle = b.get(NHA_RES_BUCKET_IDLE_TIME);
  if (index === undefined || nexthopId === undefined || !idle) return undefined;
  return { group, bucket: { index, nexthopId, idleMs: Number(idle.readBigUInt64LE(0)) * MS_PER_TICK } };
}

export function isGroup(x: KernelNexthopObject | KernelGroup): x is KernelGroup {
  return 'members' in x;
}

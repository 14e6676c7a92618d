// The kernel's netlink ABI as uplinkd uses it, in one place for link/ and route/: message
// types, families, flags and multicast groups (each from the uapi header named beside it),
// and a walker over netlink attributes (struct nlattr, include/uapi/linux/netlink.h).

// include/uapi/linux/socket.h
export const AF_INET = 2;
export const AF_INET6 = 10;
/** uplinkd's address family numbers -> the kernel's. */
export const AF = { 4: AF_INET, 6: AF_INET6 } as const;

// include/uapi/linux/netlink.h
export const NLMSG_ERROR = 2;
/** The end of a dump (its payload: an int, the dump's error or 0). */
export const NLMSG_DONE = 3;
export const NLMSG_HDRLEN = 16;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
/** NLM_F_ROOT | NLM_F_MATCH: every object, as a multipart answer. */
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** nla_type carries two flag bits (NLA_F_NESTED, NLA_F_NET_BYTEORDER) above the type. */
export const NLA_TYPE_MASK = 0x3fff;

// include/uapi/linux/rtnetlink.h: message types
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;

// include/uapi/linux/rtnetlink.h: legacy multicast group bits for bind(2), RTMGRP_*
// (1 << (RTNLGRP_x - 1)).
export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV4_RULE = 0x80;
export const RTMGRP_IPV6_ROUTE = 0x400;
export const RTMGRP_IPV6_RULE = 1 << 18;

// include/uapi/linux/rtnetlink.h: routes
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
/** rtm_table when the real id rides in RTA_TABLE (ids above 255). */
export const RT_TABLE_COMPAT = 252;
export const RT_TABLE_UNSPEC = 0;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
/** The route's metric (`ip route ... metric N`). */
export const RTA_PRIORITY = 6;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;
/** The nexthop object a route points at (include/uapi/linux/rtnetlink.h). */
export const RTA_NH_ID = 30;
export const RTM_GETROUTE = 26;
export const RTN_UNICAST = 1;
/** include/uapi/linux/netlink.h */
export const NETLINK_ROUTE = 0;
/** RTNH_F_ONLINK: the gateway is on this link; no lookup to prove it. */
export const RTNH_F_ONLINK = 4;
/** rtm_protocol of a route the kernel made itself (an address's connected route). */
export const RTPROT_KERNEL = 2;
export const RTPROT_STATIC = 4;
/**
 * uplinkd's own rtm_protocol, as routing daemons have theirs (bird 12, zebra 11): values from
 * RTPROT_STATIC up are not interpreted by the kernel (include/uapi/linux/rtnetlink.h). 117 is
 * "u" and unused in iproute2's rt_protos. A default route in main with it is never learnt as
 * a gateway (`gateway: auto`), and a delete that names it never removes another program's route.
 */
export const RTPROT_UPLINKD = 117;

/** rtm_protocol names as iproute2's rt_protos has them: where a learnt gateway came from. */
const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'redirect',
  2: 'kernel',
  3: 'boot',
  4: 'static',
  8: 'gated',
  9: 'ra',
  10: 'mrt',
  11: 'zebra',
  12: 'bird',
  13: 'dnrouted',
  14: 'xorp',
  15: 'ntk',
  16: 'dhcp',
  17: 'mrouted',
  18: 'keepalived',
  42: 'babel',
  99: 'openr',
  186: 'bgp',
  187: 'isis',
  188: 'ospf',
  189: 'rip',
  192: 'eigrp',
  [RTPROT_UPLINKD]: 'uplinkd',
};

export function protocolName(protocol: number): string {
  return PROTOCOL_NAMES[protocol] ?? `proto ${protocol}`;
}

// include/uapi/linux/fib_rules.h
export const FRA_PRIORITY = 6;
export const FRA_TABLE = 15;
export const FR_ACT_TO_TBL = 1;

// include/uapi/linux/netfilter/nfnetlink.h, nf_tables.h, netfilter.h
export const NETLINK_NETFILTER = 12;
/** NFNLGRP_NFTABLES = 7, as a legacy group bit. */
export const NFNLGRP_NFTABLES_BIT = 1 << (7 - 1);
export const NFNL_SUBSYS_NFTABLES = 10;
/** nfnetlink.h: a transaction's bounds; their nfgenmsg res_id names the subsystem. */
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFT_MSG_DELTABLE = 2;
export const NFTA_TABLE_NAME = 1;
export const NFTA_TABLE_FLAGS = 2;
export const NFTA_TABLE_OWNER = 7;
/** The table belongs to one netlink socket: others may read it, not change or flush it. */
export const NFT_TABLE_F_OWNER = 0x2;
/** The table outlives its owner's socket, unowned, until a socket takes it (Linux 6.9). */
export const NFT_TABLE_F_PERSIST = 0x4;
export const NFPROTO_UNSPEC = 0;
export const NFPROTO_INET = 1;
/** nfnetlink.h: struct nfgenmsg's version field. */
export const NFNETLINK_V0 = 0;
// include/uapi/linux/netfilter/nfnetlink_log.h: NFLOG, the packets a `log group N` rule logs.
// Config values are big-endian; nfgenmsg's res_id is the group, also big-endian.
export const NFNL_SUBSYS_ULOG = 4;
export const NFULNL_MSG_PACKET = 0;
export const NFULNL_MSG_CONFIG = 1;
export const NFULA_IFINDEX_INDEV = 4;
export const NFULA_IFINDEX_OUTDEV = 5;
export const NFULA_PREFIX = 10;
export const NFULA_CFG_CMD = 1;
export const NFULA_CFG_MODE = 2;
export const NFULA_CFG_TIMEOUT = 4;
export const NFULA_CFG_QTHRESH = 5;
export const NFULNL_CFG_CMD_BIND = 1;
export const NFULNL_CFG_CMD_UNBIND = 2;
/** Metadata only: no byte of the packet is copied. */
export const NFULNL_COPY_NONE = 0;
// nf_tables.h: stateful objects (named counters); NFTA_OBJ_TYPE is a big-endian u32, the
// counter's values big-endian u64s nested in NFTA_OBJ_DATA.
export const NFT_MSG_GETOBJ = 19;
export const NFTA_OBJ_TABLE = 1;
export const NFTA_OBJ_NAME = 2;
export const NFTA_OBJ_TYPE = 3;
export const NFTA_OBJ_DATA = 4;
export const NFT_OBJECT_COUNTER = 1;
export const NFTA_COUNTER_BYTES = 1;
export const NFTA_COUNTER_PACKETS = 2;

// include/uapi/linux/netfilter/nfnetlink_conntrack.h: the connection-tracking table
// (ctnetlink). The values of CTA_* attributes are big-endian.
export const NFNL_SUBSYS_CTNETLINK = 1;
export const IPCTNL_MSG_CT_NEW = 0;
export const IPCTNL_MSG_CT_GET = 1;
export const IPCTNL_MSG_CT_DELETE = 2;
export const CTA_TUPLE_ORIG = 1;
export const CTA_TUPLE_REPLY = 2;
export const CTA_PROTOINFO = 4;
export const CTA_MARK = 8;
export const CTA_ID = 12;
export const CTA_ZONE = 18;
export const CTA_MARK_MASK = 21;
export const CTA_TUPLE_IP = 1;
export const CTA_IP_V4_DST = 2;
export const CTA_IP_V6_DST = 4;
export const CTA_PROTOINFO_TCP = 1;
export const CTA_PROTOINFO_TCP_STATE = 1;
// include/uapi/linux/netfilter/nf_conntrack_tcp.h, enum tcp_conntrack: a connection that
// has ended but lingers in the table.
export const TCP_CONNTRACK_TIME_WAIT = 7;
export const TCP_CONNTRACK_CLOSE = 8;
// include/uapi/linux/netfilter/nfnetlink.h, enum nfnetlink_groups: new, updated and destroyed
// entries (NFNLGRP_CONNTRACK_NEW = 1, _UPDATE = 2, _DESTROY = 3), as legacy group bits.
export const NFNLGRP_CONNTRACK_BITS = (1 << 0) | (1 << 1) | (1 << 2);

/** The attributes in `buf` from `from` to `to`, as type (flags masked off) and payload. */
export function* attributes(buf: Buffer, from = 0, to = buf.length): Generator<{ type: number; value: Buffer }> {
  let off = from;
  while (off + 4 <= to) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > to) return;
    yield { type: buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, value: buf.subarray(off + 4, off + len) };
    off += (len + 3) & ~3;
  }
}

/** The first attribute of `type` as a u32 (host byte order), or undefined. */
export function attrU32(buf: Buffer, from: number, type: number): number | undefined {
  for (const a of attributes(buf, from)) if (a.type === type && a.value.length >= 4) return a.value.readUInt32LE(0);
  return undefined;
}

/** The first attribute of `type` as a NUL-terminated string, or undefined. */
export function attrString(buf: Buffer, from: number, type: number): string | undefined {
  for (const a of attributes(buf, from)) if (a.type === type) return a.value.toString('utf8').replace(/\0+$/, '');
  return undefined;
}

// include/uapi/linux/mptcp_pm.h (generic netlink family "mptcp_pm", version 1)
export const MPTCP_PM_NAME = 'mptcp_pm';
export const MPTCP_PM_VER = 1;
export const MPTCP_PM_CMD_ADD_ADDR = 1;
export const MPTCP_PM_CMD_DEL_ADDR = 2;
export const MPTCP_PM_CMD_GET_ADDR = 3;
export const MPTCP_PM_CMD_SET_LIMITS = 5;
export const MPTCP_PM_CMD_GET_LIMITS = 6;
export const MPTCP_PM_CMD_SET_FLAGS = 7;
export const MPTCP_PM_ATTR_ADDR = 1;
export const MPTCP_PM_ATTR_RCV_ADD_ADDRS = 2;
export const MPTCP_PM_ATTR_SUBFLOWS = 3;
export const MPTCP_PM_ADDR_ATTR_FAMILY = 1;
export const MPTCP_PM_ADDR_ATTR_ID = 2;
export const MPTCP_PM_ADDR_ATTR_ADDR4 = 3;
export const MPTCP_PM_ADDR_ATTR_ADDR6 = 4;
export const MPTCP_PM_ADDR_ATTR_FLAGS = 6;
export const MPTCP_PM_ADDR_ATTR_IF_IDX = 7;
export const NLA_F_NESTED = 0x8000;

// include/uapi/linux/sock_diag.h, inet_diag.h, mptcp.h: TCP sockets and their MPTCP subflow info
export const NETLINK_SOCK_DIAG = 4;
export const SOCK_DIAG_BY_FAMILY = 20;
export const IPPROTO_TCP = 6;
/** Sizes of struct inet_diag_req_v2 (its socket id left zero: every socket) and struct inet_diag_msg. */
export const INET_DIAG_REQ_V2_LEN = 56;
export const INET_DIAG_MSG_LEN = 72;
export const INET_DIAG_INFO = 2;
export const INET_DIAG_ULP_INFO = 19;
export const INET_ULP_INFO_NAME = 1;
export const INET_ULP_INFO_MPTCP = 3;
export const MPTCP_SUBFLOW_ATTR_FLAGS = 8;
export const MPTCP_SUBFLOW_FLAG_BKUP_LOC = 1 << 5;
/** include/net/tcp_states.h; idiag_states is a bit mask of these. */
export const TCP_ESTABLISHED = 1;

/** One netlink attribute (struct nlattr), padded to 4 bytes. */
export function nlattr(type: number, payload: Uint8Array): Buffer {
  const len = 4 + payload.length;
  const buf = Buffer.alloc((len + 3) & ~3);
  buf.writeUInt16LE(len, 0);
  buf.writeUInt16LE(type, 2);
  buf.set(payload, 4);
  return buf;
}

// mptcp/: the MPTCP path manager through generic netlink (`mptcp_pm`), and the gateway's
// MPTCP subflows through sock_diag: the thin side effect behind the keeping of endpoints
// (endpoints.ts), with a fake beside it (fake.ts).
import netlink from 'netlink';
import { addressBytes, bytesToAddress } from '../types/address.js';
import type { Family } from '../types/index.js';
import {
  AF,
  AF_INET,
  attributes,
  INET_DIAG_INFO,
  INET_DIAG_MSG_LEN,
  INET_DIAG_REQ_V2_LEN,
  INET_DIAG_ULP_INFO,
  INET_ULP_INFO_MPTCP,
  INET_ULP_INFO_NAME,
  IPPROTO_TCP,
  MPTCP_PM_ADDR_ATTR_ADDR4,
  MPTCP_PM_ADDR_ATTR_ADDR6,
  MPTCP_PM_ADDR_ATTR_FAMILY,
  MPTCP_PM_ADDR_ATTR_FLAGS,
  MPTCP_PM_ADDR_ATTR_ID,
  MPTCP_PM_ADDR_ATTR_IF_IDX,
  MPTCP_PM_ATTR_ADDR,
  MPTCP_PM_ATTR_RCV_ADD_ADDRS,
  MPTCP_PM_ATTR_SUBFLOWS,
  MPTCP_PM_CMD_ADD_ADDR,
  MPTCP_PM_CMD_DEL_ADDR,
  MPTCP_PM_CMD_GET_ADDR,
  MPTCP_PM_CMD_GET_LIMITS,
  MPTCP_PM_CMD_SET_FLAGS,
  MPTCP_PM_CMD_SET_LIMITS,
  MPTCP_PM_NAME,
  MPTCP_PM_VER,
  MPTCP_SUBFLOW_ATTR_FLAGS,
  MPTCP_SUBFLOW_FLAG_BKUP_LOC,
  NETLINK_SOCK_DIAG,
  NLA_F_NESTED,
  nlattr,
  SOCK_DIAG_BY_FAMILY,
  TCP_ESTABLISHED,
} from '../types/netlink.js';
import { KernelError, SerialCalls } from '../netlink/index.js';
import { type Endpoint, type EndpointLimits, MPTCP_FLAG_BACKUP } from '../types/mptcp.js';

/** One of the gateway's MPTCP subflows (a TCP socket under the mptcp ULP). */
export interface Subflow {
  readonly family: Family;
  readonly local: string;
  /** The local side asked for it to be a backup path (MP_PRIO / MP_JOIN backup bit). */
  readonly backup: boolean;
}

export interface MptcpKernel {
  endpoints(): Promise<Endpoint[]>;
  addEndpoint(e: Endpoint): Promise<void>;
  deleteEndpoint(id: number): Promise<void>;
  setBackup(id: number, backup: boolean): Promise<void>;
  limits(): Promise<EndpointLimits>;
  setLimits(l: EndpointLimits): Promise<void>;
  subflows(): Promise<Subflow[]>;
  close(): void;
}

const u8 = (v: number): Buffer => Buffer.from([v]);
const u16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const nested = (type: number, parts: Buffer[]): Buffer => nlattr(type | NLA_F_NESTED, Buffer.concat(parts));

function parseEndpoint(data: Buffer): Endpoint | undefined {
  for (const a of attributes(data)) {
    if (a.type !== MPTCP_PM_ATTR_ADDR) continue;
    let family: Family | undefined;
    let id = 0;
    let address: string | undefined;
    let flags = 0;
    let ifindex = 0;
    for (const f of attributes(a.value)) {
      if (f.type === MPTCP_PM_ADDR_ATTR_FAMILY) family = f.value.readUInt16LE(0) === AF_INET ? 4 : 6;
      else if (f.type === MPTCP_PM_ADDR_ATTR_ID) id = f.value[0]!;
      else if (f.type === MPTCP_PM_ADDR_ATTR_ADDR4 || f.type === MPTCP_PM_ADDR_ATTR_ADDR6) address = bytesToAddress(f.value);
      else if (f.type === MPTCP_PM_ADDR_ATTR_FLAGS) flags = f.value.readUInt32LE(0);
      else if (f.type === MPTCP_PM_ADDR_ATTR_IF_IDX) ifindex = f.value.readInt32LE(0);
    }
    if (family && address) return { id, family, address, flags, ...(ifindex > 0 ? { ifindex } : {}) };
  }
  return undefined;
}

/** The subflow a sock_diag answer describes, when the socket is one (its ULP is mptcp). */
function parseSubflow(d: Buffer): Subflow | undefined {
  if (d.length < INET_DIAG_MSG_LEN) return undefined;
  const family: Family = d[0] === AF_INET ? 4 : 6;
  // A subflow being closed (its FIN unanswered on a dead path, say) carries nothing any more.
  if (d[1] !== TCP_ESTABLISHED) return undefined;
  // struct inet_diag_msg: idiag_src at offset 8 (16 bytes, IPv4 in the first 4).
  const raw = bytesToAddress(d.subarray(8, family === 4 ? 12 : 24));
  // An IPv6 socket's IPv4 subflow shows its address v4-mapped (RFC 4291 §2.5.5.2).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw);
  const local = mapped ? mapped[1]! : raw;
  for (const a of attributes(d, INET_DIAG_MSG_LEN)) {
    if (a.type !== INET_DIAG_ULP_INFO) continue;
    let mptcp = false;
    let flags = 0;
    for (const u of attributes(a.value)) {
      if (u.type === INET_ULP_INFO_NAME) mptcp = u.value.toString('latin1').replace(/\0+$/, '') === 'mptcp';
      else if (u.type === INET_ULP_INFO_MPTCP)
        for (const s of attributes(u.value)) if (s.type === MPTCP_SUBFLOW_ATTR_FLAGS && s.value.length >= 4) flags = s.value.readUInt32LE(0);
    }
    return mptcp ? { family: mapped ? 4 : family, local, backup: (flags & MPTCP_SUBFLOW_FLAG_BKUP_LOC) !== 0 } : undefined;
  }
  return undefined;
}

/** The real path manager (generic netlink) and socket dump (sock_diag). */
export class NetlinkMptcp implements MptcpKernel {
  private genl: ReturnType<typeof netlink.createGenericNetlink> | undefined;
  private diag: ReturnType<typeof netlink.createNetlink> | undefined;
  private familyId: number | undefined;
  private readonly calls = new SerialCalls();

  /** The family's id, looked up once; a kernel without MPTCP has none. */
  private async family(): Promise<{ sock: ReturnType<typeof netlink.createGenericNetlink>; id: number }> {
    this.genl ??= netlink.createGenericNetlink();
    if (this.familyId === undefined) {
      const families = await this.genl.ctrlRequest(netlink.genl.Commands.GET_FAMILY, {}, { flags: netlink.FlagsGet.DUMP });
      const id = families.find((f) => f.familyName === MPTCP_PM_NAME)?.familyId;
      if (id === undefined) throw new KernelError('EOPNOTSUPP', `no ${MPTCP_PM_NAME} generic netlink family: this kernel has no MPTCP`);
      this.familyId = id;
    }
    return { sock: this.genl, id: this.familyId };
  }

  private request(what: string, cmd: number, attrs: Buffer[], dump = false) {
    return this.calls.run(what, async () => {
      const { sock, id } = await this.family();
      const [msgs] = await sock.request(id, cmd, MPTCP_PM_VER, attrs, dump ? { flags: netlink.FlagsGet.DUMP } : {});
      return msgs;
    });
  }

  async endpoints(): Promise<Endpoint[]> {
    const msgs = await this.request('ip mptcp endpoint show', MPTCP_PM_CMD_GET_ADDR, [], true);
    return msgs.map((m) => parseEndpoint(m.data)).filter((e): e is Endpoint => e !== undefined);
  }

  async addEndpoint(e: Endpoint): Promise<void> {
    const parts = [
      nlattr(MPTCP_PM_ADDR_ATTR_FAMILY, u16(AF[e.family])),
      nlattr(MPTCP_PM_ADDR_ATTR_ID, u8(e.id)),
      nlattr(e.family === 4 ? MPTCP_PM_ADDR_ATTR_ADDR4 : MPTCP_PM_ADDR_ATTR_ADDR6, addressBytes(e.address)),
      nlattr(MPTCP_PM_ADDR_ATTR_FLAGS, u32(e.flags)),
      ...(e.ifindex ? [nlattr(MPTCP_PM_ADDR_ATTR_IF_IDX, u32(e.ifindex))] : []),
    ];
    await this.request(`ip mptcp endpoint add ${e.address} id ${e.id}`, MPTCP_PM_CMD_ADD_ADDR, [nested(MPTCP_PM_ATTR_ADDR, parts)]);
  }

  async deleteEndpoint(id: number): Promise<void> {
    await this.request(`ip mptcp endpoint delete id ${id}`, MPTCP_PM_CMD_DEL_ADDR, [nested(MPTCP_PM_ATTR_ADDR, [nlattr(MPTCP_PM_ADDR_ATTR_ID, u8(id))])]);
  }

  /** By ID alone: with a family and no address the kernel looks the endpoint up by address and fails (EINVAL). */
  async setBackup(id: number, backup: boolean): Promise<void> {
    const parts = [nlattr(MPTCP_PM_ADDR_ATTR_ID, u8(id)), nlattr(MPTCP_PM_ADDR_ATTR_FLAGS, u32(backup ? MPTCP_FLAG_BACKUP : 0))];
    await this.request(`ip mptcp endpoint change id ${id} ${backup ? 'backup' : 'nobackup'}`, MPTCP_PM_CMD_SET_FLAGS, [nested(MPTCP_PM_ATTR_ADDR, parts)]);
  }

  async limits(): Promise<EndpointLimits> {
    const [m] = await this.request('ip mptcp limits show', MPTCP_PM_CMD_GET_LIMITS, []);
    let subflows = 0;
    let addAddrAccepted = 0;
    for (const a of attributes(m?.data ?? Buffer.alloc(0))) {
      if (a.type === MPTCP_PM_ATTR_SUBFLOWS) subflows = a.value.readUInt32LE(0);
      else if (a.type === MPTCP_PM_ATTR_RCV_ADD_ADDRS) addAddrAccepted = a.value.readUInt32LE(0);
    }
    return { subflows, addAddrAccepted };
  }

  async setLimits(l: EndpointLimits): Promise<void> {
    await this.request(`ip mptcp limits set subflows ${l.subflows}`, MPTCP_PM_CMD_SET_LIMITS, [
      nlattr(MPTCP_PM_ATTR_RCV_ADD_ADDRS, u32(l.addAddrAccepted)),
      nlattr(MPTCP_PM_ATTR_SUBFLOWS, u32(l.subflows)),
    ]);
  }

  /** Every established TCP socket of both families, with the INET_DIAG_INFO extension that carries the ULP's info. */
  async subflows(): Promise<Subflow[]> {
    this.diag ??= netlink.createNetlink(NETLINK_SOCK_DIAG);
    const diag = this.diag;
    const out: Subflow[] = [];
    for (const family of [4, 6] as const) {
      const req = Buffer.alloc(INET_DIAG_REQ_V2_LEN);
      req.writeUInt8(AF[family], 0);
      req.writeUInt8(IPPROTO_TCP, 1);
      req.writeUInt8(1 << (INET_DIAG_INFO - 1), 2);
      req.writeUInt32LE(1 << TCP_ESTABLISHED, 4);
      const msgs = await this.calls.run('ss -tni', async () => (await diag.request(SOCK_DIAG_BY_FAMILY, [req], { flags: netlink.FlagsGet.DUMP }))[0]);
      for (const m of msgs) {
        const s = parseSubflow(m.data);
        if (s) out.push(s);
      }
    }
    return out;
  }

  close(): void {
    this.genl?.socket.socket.close();
    this.diag?.socket.close();
  }
}

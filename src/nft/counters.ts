// nft/: the named counters of uplinkd's nftables table, read through netlink (no `nft`
// process): the thin side effect behind the passive traffic signal, with a fake beside it
// (fake.ts). One dump of the table's counter objects per read
// (include/uapi/linux/netfilter/nf_tables.h, NFT_MSG_GETOBJ), on the native addon's socket:
// the request is built once, and each answer is parsed where it arrived.
import {
  attributes,
  NFNETLINK_V0,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_INET,
  NFT_MSG_GETOBJ,
  NFT_OBJECT_COUNTER,
  NFTA_COUNTER_BYTES,
  NFTA_COUNTER_PACKETS,
  NFTA_OBJ_DATA,
  NFTA_OBJ_NAME,
  NFTA_OBJ_TABLE,
  NFTA_OBJ_TYPE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  nlattr,
} from '../types/netlink.js';
import { NfnetlinkSocket, SerialCalls, seqBlock } from '../netlink/index.js';

export interface CounterValue {
  readonly packets: number;
  readonly bytes: number;
}

export interface CounterReader {
  /** Every named counter of table inet uplinkd, by name; an empty map when the table is missing. */
  read(): Promise<Map<string, CounterValue>>;
  close(): void;
}

export interface CounterTable {
  readonly family: 'inet';
  readonly name: string;
}

/**
 * The dump request for a table's counters: nfgenmsg (family, NFNETLINK_V0, res_id 0), then
 * NFTA_OBJ_TABLE and NFTA_OBJ_TYPE, by which the kernel filters the dump
 * (nf_tables_dump_obj_start). The netlink package writes the nlmsghdr around `payload`.
 */
export function counterDumpRequest(table = 'uplinkd'): { type: number; flags: number; payload: Buffer } {
  const nfgenmsg = Buffer.from([NFPROTO_INET, NFNETLINK_V0, 0, 0]);
  const type = Buffer.alloc(4);
  type.writeUInt32BE(NFT_OBJECT_COUNTER, 0);
  const payload = Buffer.concat([nfgenmsg, nlattr(NFTA_OBJ_TABLE, Buffer.from(`${table}\0`)), nlattr(NFTA_OBJ_TYPE, type)]);
  return { type: (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETOBJ, flags: NLM_F_REQUEST | NLM_F_DUMP, payload };
}

/** be64 -> number: the counters stay far below 2^53 (8 PiB). */
const be64 = (b: Buffer): number => (b.length >= 8 ? Number(b.readBigUInt64BE(0)) : 0);

/** One answer of the dump (nfgenmsg + attributes): a counter's name and values, or undefined for anything else. */
export function parseCounterObject(data: Buffer): { name: string; value: CounterValue } | undefined {
  let name: string | undefined;
  let type: number | undefined;
  let packets = 0;
  let bytes = 0;
  for (const a of attributes(data, 4)) {
    if (a.type === NFTA_OBJ_NAME) name = a.value.toString('utf8').replace(/\0+$/, '');
    else if (a.type === NFTA_OBJ_TYPE && a.value.length >= 4) type = a.value.readUInt32BE(0);
    else if (a.type === NFTA_OBJ_DATA)
      for (const c of attributes(a.value)) {
        if (c.type === NFTA_COUNTER_PACKETS) packets = be64(c.value);
        else if (c.type === NFTA_COUNTER_BYTES) bytes = be64(c.value);
      }
  }
  return name !== undefined && type === NFT_OBJECT_COUNTER ? { name, value: { packets, bytes } } : undefined;
}

/** The real counters, on a NETLINK_NETFILTER socket opened at the first read. */
export class NetlinkCounters implements CounterReader {
  private sock: NfnetlinkSocket | undefined;
  private readonly calls = new SerialCalls();
  /** The same request at every read but for its sequence number (bytes 8-11): built once. */
  private readonly datagram: Buffer;
  private readonly what: string;

  constructor(table: CounterTable = { family: 'inet', name: 'uplinkd' }) {
    const req = counterDumpRequest(table.name);
    // include/uapi/linux/netlink.h: struct nlmsghdr, then the payload.
    this.datagram = Buffer.alloc(NLMSG_HDRLEN + req.payload.length);
    this.datagram.writeUInt32LE(this.datagram.length, 0);
    this.datagram.writeUInt16LE(req.type, 4);
    this.datagram.writeUInt16LE(req.flags, 6);
    req.payload.copy(this.datagram, NLMSG_HDRLEN);
    this.what = `nft list counters table ${table.family} ${table.name}`;
  }

  read(): Promise<Map<string, CounterValue>> {
    this.sock ??= new NfnetlinkSocket();
    const { sock, datagram, what } = this;
    // A missing table is no error: the dump passes every table by and ends empty
    // (nf_tables_dump_obj); a refusal (EPERM without CAP_NET_ADMIN) is a KernelError.
    return this.calls.run(what, async () => {
      const out = new Map<string, CounterValue>();
      const seq = seqBlock(1);
      datagram.writeUInt32LE(seq, 8);
      await sock.dump(datagram, seq, what, (d, start, end) => {
        const c = parseCounterObject(d.subarray(start + NLMSG_HDRLEN, end));
        if (c) out.set(c.name, c.value);
      });
      return out;
    });
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }
}

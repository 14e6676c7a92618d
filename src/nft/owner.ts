// nft/: ownership of uplinkd's nftables table, so that a firewall reload cannot take it.
// A table with NFT_TABLE_F_OWNER belongs to one netlink socket: other processes may list it
// but not change or delete it, and `nft flush ruleset` passes it by (nf_tables_api.c,
// nft_flush). With NFT_TABLE_F_PERSIST (Linux 6.9) it outlives that socket, unowned, until a
// socket takes it again; so a SIGKILLed uplinkd leaves its pinning working for the restart.
// nft 1.0.6 knows neither flag by name, so uplinkd sends these few table messages itself
// (include/uapi/linux/netfilter/nf_tables.h) and leaves chains and rules to `nft -f`.
import { KernelError, type NetlinkAnswer, NfnetlinkSocket, nfMessage, seqBlock } from '../netlink/index.js';
import {
  attributes,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_INET,
  NFPROTO_UNSPEC,
  NFT_MSG_DELTABLE,
  NFT_MSG_GETTABLE,
  NFT_MSG_NEWTABLE,
  NFTA_TABLE_FLAGS,
  NFTA_TABLE_NAME,
  NFTA_TABLE_OWNER,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REQUEST,
  NFT_TABLE_F_OWNER,
  NFT_TABLE_F_PERSIST,
  nlattr,
} from '../types/netlink.js';

export interface TableInfo {
  readonly flags: number;
  /** The netlink port of the socket that owns the table, when one does. */
  readonly ownerPort: number | undefined;
}

/** NFTA_TABLE_NAME, and NFTA_TABLE_FLAGS (big-endian, as nf_tables expects) when given. */
export function tableBody(name: string, flags?: number): Buffer {
  const parts = [nlattr(NFTA_TABLE_NAME, Buffer.from(`${name}\0`))];
  if (flags !== undefined) {
    const f = Buffer.alloc(4);
    f.writeUInt32BE(flags, 0);
    parts.push(nlattr(NFTA_TABLE_FLAGS, f));
  }
  return Buffer.concat(parts);
}

export interface TableOp {
  readonly op: 'new' | 'delete';
  readonly flags?: number;
}

/**
 * One nf_tables transaction (batch begin, the table messages, batch end) for an inet table,
 * each message acked; sequence numbers start at `seq`. Returns the datagram and the
 * sequence numbers whose acks to wait for.
 */
export function tableBatch(name: string, ops: readonly TableOp[], seq: number): { datagram: Buffer; acks: number[]; begin: number } {
  const msgs = [nfMessage(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, NFPROTO_UNSPEC, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES)];
  const acks: number[] = [];
  for (const o of ops) {
    const s = seq + msgs.length;
    acks.push(s);
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (o.op === 'new' ? NFT_MSG_NEWTABLE : NFT_MSG_DELTABLE);
    const flags = NLM_F_REQUEST | NLM_F_ACK | (o.op === 'new' ? NLM_F_CREATE : 0);
    msgs.push(nfMessage(type, flags, s, NFPROTO_INET, tableBody(name, o.flags)));
  }
  msgs.push(nfMessage(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + msgs.length, NFPROTO_UNSPEC, Buffer.alloc(0), NFNL_SUBSYS_NFTABLES));
  return { datagram: Buffer.concat(msgs), acks, begin: seq };
}

/** The kernel side of table ownership, behind an interface with a fake beside it. */
export interface TableOwner {
  /** The table's flags and owner, or undefined when it does not exist. */
  query(): Promise<TableInfo | undefined>;
  /** Creates the table empty and persistent, deleting first a table of that name without the flag. */
  createPersistent(replaceExisting: boolean): Promise<void>;
  /** Takes the table with a socket of uplinkd's, which holds it until release(). */
  adopt(): Promise<void>;
  /** Closes the owning socket: the table stays, unowned (it is persistent). */
  release(): void;
  /** Deletes the table through the owning socket and closes it. */
  removeOwned(): Promise<void>;
  /** uplinkd's owning socket's port while it holds the table. */
  ownPort(): number | undefined;
}

/** A NEWTABLE answer's flags and owner; undefined for any other message. */
export function tableInfo(a: NetlinkAnswer): TableInfo | undefined {
  if (a.type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) return undefined;
  let flags = 0;
  let ownerPort: number | undefined;
  for (const attr of attributes(a.body, 4)) {
    if (attr.type === NFTA_TABLE_FLAGS && attr.value.length >= 4) flags = attr.value.readUInt32BE(0);
    if (attr.type === NFTA_TABLE_OWNER && attr.value.length >= 4) ownerPort = attr.value.readUInt32BE(0);
  }
  return { flags, ownerPort: flags & NFT_TABLE_F_OWNER ? ownerPort : undefined };
}

/** The real owner: nf_tables messages on NETLINK_NETFILTER sockets of uplinkd's. */
export class NetlinkTableOwner implements TableOwner {
  private owner: NfnetlinkSocket | undefined;

  constructor(private readonly name: string) {}

  /** A request on a short-lived socket (one that must not become the owner). */
  private async once<T>(fn: (r: NfnetlinkSocket) => Promise<T>): Promise<T> {
    const r = new NfnetlinkSocket();
    try {
      return await fn(r);
    } finally {
      r.close();
    }
  }

  query(): Promise<TableInfo | undefined> {
    const seq = seqBlock(1);
    const msg = nfMessage((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO_INET, tableBody(this.name));
    return this.once(async (r) => {
      try {
        return (await r.request(msg, [seq], `get table inet ${this.name}`)).map(tableInfo).find((t) => t !== undefined);
      } catch (err) {
        if (err instanceof KernelError && err.code === 'ENOENT') return undefined;
        throw err;
      }
    });
  }

  async createPersistent(replaceExisting: boolean): Promise<void> {
    const ops: TableOp[] = [...(replaceExisting ? [{ op: 'delete' as const }] : []), { op: 'new', flags: NFT_TABLE_F_PERSIST }];
    const { datagram, acks, begin } = tableBatch(this.name, ops, seqBlock(ops.length + 2));
    await this.once((r) => r.request(datagram, acks, `add table inet ${this.name} { flags persist }`, begin));
  }

  async adopt(): Promise<void> {
    this.release();
    const r = new NfnetlinkSocket();
    const { datagram, acks, begin } = tableBatch(this.name, [{ op: 'new', flags: NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST }], seqBlock(3));
    try {
      await r.request(datagram, acks, `add table inet ${this.name} { flags owner, persist }`, begin);
    } catch (err) {
      r.close();
      throw err;
    }
    this.owner = r;
  }

  release(): void {
    this.owner?.close();
    this.owner = undefined;
  }

  async removeOwned(): Promise<void> {
    const r = this.owner;
    if (!r) throw new Error(`table inet ${this.name} is not held by uplinkd`);
    const { datagram, acks, begin } = tableBatch(this.name, [{ op: 'delete' }], seqBlock(3));
    try {
      await r.request(datagram, acks, `delete table inet ${this.name}`, begin);
    } finally {
      this.release();
    }
  }

  ownPort(): number | undefined {
    return this.owner?.portId();
  }
}

// route/: ownership of uplinkd's nftables table, so that a firewall reload cannot take it.
// A table with NFT_TABLE_F_OWNER belongs to one netlink socket: other processes may list it
// but not change or delete it, and `nft flush ruleset` passes it by (nf_tables_api.c,
// nft_flush). With NFT_TABLE_F_PERSIST (Linux 6.9) it outlives that socket, unowned, until a
// socket takes it again; so a SIGKILLed uplinkd leaves its pinning working for the restart.
// nft 1.0.6 knows neither flag by name, so uplinkd sends these few table messages itself
// (include/uapi/linux/netfilter/nf_tables.h) and leaves chains and rules to `nft -f`.
import { constants as osConstants } from 'node:os';
import { listenNetlink, type NetlinkListener } from '../native/index.js';
import {
  attributes,
  NETLINK_NETFILTER,
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
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NFT_TABLE_F_OWNER,
  NFT_TABLE_F_PERSIST,
  nlattr,
} from '../types/netlink.js';

/** How long the kernel may take to answer one request. */
const REPLY_TIMEOUT_MS = 2000;

export interface TableInfo {
  readonly flags: number;
  /** The netlink port of the socket that owns the table, when one does. */
  readonly ownerPort: number | undefined;
}

/** A netlink error answer as an Error with the errno's name (`EPERM`...). */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly code: string,
    what: string,
  ) {
    super(`${what}: ${code}`);
  }
}

/** The errno's name; EOPNOTSUPP rather than its alias ENOTSUP (both 95 on Linux). */
function errnoName(errno: number): string {
  if (errno === osConstants.errno.EOPNOTSUPP) return 'EOPNOTSUPP';
  const hit = Object.entries(osConstants.errno).find(([, n]) => n === errno);
  return hit ? hit[0] : `errno ${errno}`;
}

/** nlmsghdr + nfgenmsg (family, version 0, res_id in network order) + attributes. */
export function nfMessage(type: number, flags: number, seq: number, family: number, body: Buffer, resId = 0): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + 4 + body.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt8(family, 16);
  out.writeUInt16BE(resId, 18);
  body.copy(out, 20);
  return out;
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

export interface NetlinkReply {
  readonly seq: number;
  /** NLMSG_ERROR: 0 is an ack, else the negative errno. */
  readonly error?: number;
  readonly table?: TableInfo;
}

/** The answers in one datagram: acks, errors and NEWTABLE descriptions. */
export function parseReplies(datagram: Buffer): NetlinkReply[] {
  const out: NetlinkReply[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > datagram.length) break;
    const type = datagram.readUInt16LE(off + 4);
    const seq = datagram.readUInt32LE(off + 8);
    if (type === NLMSG_ERROR && len >= NLMSG_HDRLEN + 4) {
      out.push({ seq, error: datagram.readInt32LE(off + NLMSG_HDRLEN) });
    } else if (type === ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) {
      let flags = 0;
      let ownerPort: number | undefined;
      for (const a of attributes(datagram, off + NLMSG_HDRLEN + 4, off + len)) {
        if (a.type === NFTA_TABLE_FLAGS && a.value.length >= 4) flags = a.value.readUInt32BE(0);
        if (a.type === NFTA_TABLE_OWNER && a.value.length >= 4) ownerPort = a.value.readUInt32BE(0);
      }
      out.push({ seq, table: { flags, ownerPort: flags & NFT_TABLE_F_OWNER ? ownerPort : undefined } });
    }
    off += (len + 3) & ~3;
  }
  return out;
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

/** One netlink socket and the answers awaited on it. */
class Requester {
  private readonly waiting = new Map<number, (r: NetlinkReply) => void>();
  readonly listener: NetlinkListener;

  constructor() {
    this.listener = listenNetlink(
      0,
      0,
      (datagrams) => {
        for (const d of datagrams) for (const r of parseReplies(d)) this.waiting.get(r.seq)?.(r);
      },
      () => undefined,
      NETLINK_NETFILTER,
    );
  }

  /**
   * Sends and waits for the acks of `acks`; collects table descriptions on the way. `errorsOn`:
   * a sequence number that answers only with an error: a batch whose commit failed (or that
   * the kernel refused whole) is answered on its BATCH_BEGIN (nfnetlink.c, nfnetlink_rcv_batch),
   * before the acks of its messages.
   */
  request(datagram: Buffer, acks: readonly number[], what: string, errorsOn?: number): Promise<TableInfo | undefined> {
    return new Promise((resolve, reject) => {
      let table: TableInfo | undefined;
      const pending = new Set(acks);
      const done = (err?: Error): void => {
        clearTimeout(timer);
        for (const s of acks) this.waiting.delete(s);
        if (errorsOn !== undefined) this.waiting.delete(errorsOn);
        if (err) reject(err);
        else resolve(table);
      };
      if (errorsOn !== undefined) {
        this.waiting.set(errorsOn, (r) => {
          if (r.error) done(new NetlinkError(-r.error, errnoName(-r.error), what));
        });
      }
      const timer = setTimeout(() => done(new Error(`${what}: no answer from the kernel in ${REPLY_TIMEOUT_MS}ms`)), REPLY_TIMEOUT_MS);
      for (const s of acks) {
        this.waiting.set(s, (r) => {
          if (r.table) table = r.table;
          if (r.error === undefined) return;
          if (r.error !== 0) return done(new NetlinkError(-r.error, errnoName(-r.error), what));
          pending.delete(s);
          if (pending.size === 0) done();
        });
      }
      const err = this.listener.send(datagram);
      if (err) done(new Error(`${what}: ${err.message}`));
    });
  }

  close(): void {
    this.listener.close();
  }
}

let nextSeq = 1;
function seqBlock(n: number): number {
  const s = nextSeq;
  nextSeq = (nextSeq + n) % 0x7fffffff || 1;
  return s;
}

/** The real owner: nf_tables messages on NETLINK_NETFILTER sockets of uplinkd's. */
export class NetlinkTableOwner implements TableOwner {
  private owner: Requester | undefined;

  constructor(private readonly name: string) {}

  /** A request on a short-lived socket (one that must not become the owner). */
  private async once<T>(fn: (r: Requester) => Promise<T>): Promise<T> {
    const r = new Requester();
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
        return await r.request(msg, [seq], `get table inet ${this.name}`);
      } catch (err) {
        if (err instanceof NetlinkError && err.code === 'ENOENT') return undefined;
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
    const r = new Requester();
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
    return this.owner?.listener.portId() ?? undefined;
  }
}

/** The kernel's side of ownership in memory: one table, its flags, and who holds it. */
export class FakeTableOwner implements TableOwner {
  table: { flags: number; ownerPort: number | undefined } | undefined;
  /** The errno a request to create a persistent table fails with (an older kernel). */
  refusePersist: number | undefined;
  failAdopt = 0;
  readonly calls: string[] = [];
  private port: number | undefined;
  private nextPort = 100;

  async query(): Promise<TableInfo | undefined> {
    this.calls.push('query');
    return this.table && { flags: this.table.flags, ownerPort: this.table.ownerPort };
  }
  async createPersistent(replaceExisting: boolean): Promise<void> {
    this.calls.push(`create${replaceExisting ? ' (replace)' : ''}`);
    if (this.refusePersist !== undefined) throw new NetlinkError(this.refusePersist, 'EOPNOTSUPP', 'add table');
    this.table = { flags: NFT_TABLE_F_PERSIST, ownerPort: undefined };
  }
  async adopt(): Promise<void> {
    this.calls.push('adopt');
    this.release();
    if (this.failAdopt > 0) {
      this.failAdopt--;
      throw new Error('add table: no answer from the kernel');
    }
    if (!this.table) throw new NetlinkError(2, 'ENOENT', 'add table');
    this.port = this.nextPort++;
    this.table = { flags: NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST, ownerPort: this.port };
  }
  release(): void {
    if (this.port !== undefined && this.table) this.table = { flags: NFT_TABLE_F_PERSIST, ownerPort: undefined };
    if (this.port !== undefined) this.calls.push('release');
    this.port = undefined;
  }
  async removeOwned(): Promise<void> {
    this.calls.push('delete');
    this.table = undefined;
    this.port = undefined;
  }
  ownPort(): number | undefined {
    return this.port;
  }
}

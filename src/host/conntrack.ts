// host/: the connection-tracking table, through ctnetlink (no `conntrack` process, no text):
// how many live connections are pinned to each uplink (status `flows`, the metrics, the
// drain's count), and deleting the entries of an uplink (failback drain,
// routing.conntrack_flush). A dump is parsed as it streams in, a few datagrams per wakeup, so
// heartbeats and link events run between its parts; deletions go in batches. Each deletion is
// logged by the caller as the `conntrack` command a person would have typed.
import ipaddr from 'ipaddr.js';
import { errnoName, NfnetlinkSocket, nfMessage, seqBlock } from '../netlink/index.js';
import {
  AF,
  CTA_ID,
  CTA_IP_V4_DST,
  CTA_IP_V6_DST,
  CTA_MARK,
  CTA_MARK_MASK,
  CTA_PROTOINFO,
  CTA_PROTOINFO_TCP,
  CTA_PROTOINFO_TCP_STATE,
  CTA_TUPLE_IP,
  CTA_TUPLE_ORIG,
  CTA_TUPLE_REPLY,
  CTA_ZONE,
  IPCTNL_MSG_CT_DELETE,
  IPCTNL_MSG_CT_GET,
  NFNL_SUBSYS_CTNETLINK,
  NLA_TYPE_MASK,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  nlattr,
  TCP_CONNTRACK_CLOSE,
  TCP_CONNTRACK_TIME_WAIT,
} from '../types/netlink.js';
import type { Family } from '../types/index.js';
import { hex } from '../types/layout.js';

export interface DeleteResult {
  readonly command: string;
  /** Entries deleted, or undefined when nothing could be deleted (then `error` says why). */
  readonly deleted?: number;
  /** Why the deletion failed, or why some entries were refused. */
  readonly error?: string;
}

export interface ConntrackTable {
  /** Live connections (not TCP TIME_WAIT or CLOSE) per mark under `mask`; mark 0 left out. */
  countByMark(mask: number): Promise<Map<number, number>>;
  /** Deletes the entries whose mark under `mask` is `mark`, in both families. */
  deleteByMark(mark: number, mask: number): Promise<DeleteResult[]>;
  /** Deletes the entries NATed to `address` (their replies come back to it). */
  deleteByReplyDst(family: Family, address: string): Promise<DeleteResult>;
  close(): void;
}

const FAMILIES = { 4: 'ipv4', 6: 'ipv6' } as const;
/** Where a ctnetlink message's attributes begin: after nlmsghdr and nfgenmsg. */
const ATTRS = NLMSG_HDRLEN + 4;
const ENOENT = 2;

/** The offset of the first attribute of `type` in b[from, to), or -1. */
function attrAt(b: Buffer, from: number, to: number, type: number): number {
  for (let off = from; off + 4 <= to; ) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > to) return -1;
    if ((b.readUInt16LE(off + 2) & NLA_TYPE_MASK) === type) return off;
    off += (len + 3) & ~3;
  }
  return -1;
}

/** The payload's bounds of the attribute at `at` (from attrAt). */
const inside = (b: Buffer, at: number): [number, number] => [at + 4, at + b.readUInt16LE(at)];

/** A TCP entry that has ended but lingers (TIME_WAIT, CLOSE), from its CTA_PROTOINFO payload. */
function ended(b: Buffer, from: number, to: number): boolean {
  const tcp = attrAt(b, from, to, CTA_PROTOINFO_TCP);
  if (tcp < 0) return false;
  const state = attrAt(b, ...inside(b, tcp), CTA_PROTOINFO_TCP_STATE);
  if (state < 0 || b.readUInt16LE(state) < 5) return false;
  const s = b[state + 4];
  return s === TCP_CONNTRACK_TIME_WAIT || s === TCP_CONNTRACK_CLOSE;
}

/**
 * One dumped entry (the message in b[start, end)) -> its mark (0 without one), or -1 when the
 * connection has ended. Reads two attributes and allocates nothing: 200k entries a dump.
 */
export function liveMark(b: Buffer, start: number, end: number): number {
  let mark = 0;
  for (let off = start + ATTRS; off + 4 <= end; ) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    const type = b.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (type === CTA_MARK && len >= 8) mark = b.readUInt32BE(off + 4);
    else if (type === CTA_PROTOINFO && ended(b, off + 4, off + len)) return -1;
    off += (len + 3) & ~3;
  }
  return mark;
}

/** The reply tuple's destination address of a dumped entry, as its bytes, or undefined. */
export function replyDst(b: Buffer, start: number, end: number): Buffer | undefined {
  const reply = attrAt(b, start + ATTRS, end, CTA_TUPLE_REPLY);
  if (reply < 0) return undefined;
  const ip = attrAt(b, ...inside(b, reply), CTA_TUPLE_IP);
  if (ip < 0) return undefined;
  const [from, to] = inside(b, ip);
  const dst = attrAt(b, from, to, b[start + NLMSG_HDRLEN] === AF[6] ? CTA_IP_V6_DST : CTA_IP_V4_DST);
  return dst < 0 ? undefined : b.subarray(...inside(b, dst));
}

/** The dump request: nfgenmsg `family` (0: both), and a mark filter applied in the kernel (ctnetlink_filter_match). */
export function dumpRequest(seq: number, family: number, mark?: { mark: number; mask: number }): Buffer {
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0, 0);
    return b;
  };
  const filter = mark ? Buffer.concat([nlattr(CTA_MARK, u32(mark.mark)), nlattr(CTA_MARK_MASK, u32(mark.mask))]) : Buffer.alloc(0);
  return nfMessage((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, family, filter);
}

/** Deletions sent per datagram: each is acked apart; the kernel's work per send stays near a millisecond. */
const DELETES_PER_BATCH = 256;

/**
 * Deletion requests for dumped entries, packed into datagrams as the dump streams in: each
 * names its entry by the original tuple, the zone and the kernel's ID (so an entry that went
 * and came back as another is left alone: ctnetlink_del_conntrack).
 */
export class DeleteBatches {
  readonly batches: { datagram: Buffer; families: number[]; seq: number }[] = [];
  private parts: Buffer[] = [];
  private families: number[] = [];

  add(b: Buffer, start: number, end: number): void {
    const from = start + ATTRS;
    const attrs: Buffer[] = [];
    for (const type of [CTA_TUPLE_ORIG, CTA_ZONE, CTA_ID]) {
      const at = attrAt(b, from, end, type);
      if (at >= 0) attrs.push(b.subarray(at, Math.min(end, at + ((b.readUInt16LE(at) + 3) & ~3))));
      else if (type === CTA_TUPLE_ORIG) return;
    }
    const family = b[start + NLMSG_HDRLEN]!;
    this.parts.push(nfMessage((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 0, family, Buffer.concat(attrs)));
    this.families.push(family);
    if (this.parts.length === DELETES_PER_BATCH) this.seal();
  }

  /** Closes the last batch; numbers every message. */
  seal(): void {
    if (!this.parts.length) return;
    const seq = seqBlock(this.parts.length);
    for (const [i, m] of this.parts.entries()) m.writeUInt32LE(seq + i, 8);
    this.batches.push({ datagram: Buffer.concat(this.parts), families: this.families, seq });
    this.parts = [];
    this.families = [];
  }
}

/** The counts of one dump, kept this long for the next caller (status, a scrape, a drain). */
const COUNT_TTL_MS = 1000;

export class NetlinkConntrackTable implements ConntrackTable {
  private sock: NfnetlinkSocket | undefined;
  private counting: { mask: number; result: Promise<Map<number, number>>; doneAt?: number } | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  private socket(): NfnetlinkSocket {
    // Four datagrams (about 400 entries) per wakeup.
    this.sock ??= new NfnetlinkSocket(4);
    return this.sock;
  }

  countByMark(mask: number): Promise<Map<number, number>> {
    const c = this.counting;
    // One dump answers every caller of its second: concurrent ones share it while it runs.
    if (c && c.mask === mask && (c.doneAt === undefined || this.now() - c.doneAt < COUNT_TTL_MS)) return c.result;
    const out = new Map<number, number>();
    const seq = seqBlock(1);
    const entry: NonNullable<typeof this.counting> = {
      mask,
      result: this.socket()
        .dump(dumpRequest(seq, 0), seq, 'conntrack -L', (b, start, end) => {
          const m = liveMark(b, start, end);
          if (m <= 0) return;
          const key = (m & mask) >>> 0;
          if (key !== 0) out.set(key, (out.get(key) ?? 0) + 1);
        })
        .then(
          () => {
            entry.doneAt = this.now();
            return out;
          },
          (err: unknown) => {
            if (this.counting === entry) this.counting = undefined;
            throw err;
          },
        ),
    };
    this.counting = entry;
    return entry.result;
  }

  async deleteByMark(mark: number, mask: number): Promise<DeleteResult[]> {
    const commands = ([4, 6] as const).map((f) => `conntrack -D -f ${FAMILIES[f]} --mark ${hex(mark)}/${hex(mask)}`);
    const seq = seqBlock(1);
    const results = await this.deleteDumped(dumpRequest(seq, 0, { mark, mask }), seq, () => true);
    return ([4, 6] as const).map((f, i) => ({ command: commands[i]!, ...results(AF[f]) }));
  }

  async deleteByReplyDst(family: Family, address: string): Promise<DeleteResult> {
    const command = `conntrack -D -f ${FAMILIES[family]} --reply-dst ${address}`;
    const want = Buffer.from(ipaddr.parse(address).toByteArray());
    const seq = seqBlock(1);
    const results = await this.deleteDumped(dumpRequest(seq, AF[family]), seq, (b, start, end) => replyDst(b, start, end)?.equals(want) === true);
    return { command, ...results(AF[family]) };
  }

  /** Dumps, keeps the entries `pick` takes, deletes them a batch at a time; the outcome per kernel family. */
  private async deleteDumped(
    request: Buffer,
    seq: number,
    pick: (b: Buffer, start: number, end: number) => boolean,
  ): Promise<(family: number) => Omit<DeleteResult, 'command'>> {
    const sock = this.socket();
    const batches = new DeleteBatches();
    try {
      await sock.dump(request, seq, 'conntrack -L', (b, start, end) => {
        if (pick(b, start, end)) batches.add(b, start, end);
      });
    } catch (err) {
      const error = String((err as Error).message ?? err);
      return () => ({ error });
    }
    batches.seal();
    const deleted = new Map<number, number>();
    const refused = new Map<number, string>();
    for (const batch of batches.batches) {
      let errnos: number[];
      try {
        // Awaiting each batch's acks lets the event loop run between batches.
        errnos = await sock.requestEach(
          batch.datagram,
          batch.families.map((_, i) => batch.seq + i),
          'conntrack -D',
        );
      } catch (err) {
        for (const f of new Set(batch.families)) refused.set(f, String((err as Error).message ?? err));
        continue;
      }
      errnos.forEach((e, i) => {
        const f = batch.families[i]!;
        // ENOENT: the entry went meanwhile (expired, or closed by its reply).
        if (e === 0) deleted.set(f, (deleted.get(f) ?? 0) + 1);
        else if (e !== ENOENT) refused.set(f, `the kernel refused a deletion: ${errnoName(e)}`);
      });
    }
    // What was counted is out of date now.
    this.counting = undefined;
    return (family) => ({ deleted: deleted.get(family) ?? 0, ...(refused.has(family) ? { error: refused.get(family) } : {}) });
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
    this.counting = undefined;
  }
}

/** An in-memory table for the daemon's tests: entries are marks. */
export class FakeConntrackTable implements ConntrackTable {
  entries: { mark: number; replyDst?: string }[] = [];
  readonly calls: string[] = [];
  async countByMark(mask: number): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const e of this.entries) {
      const m = (e.mark & mask) >>> 0;
      if (m) out.set(m, (out.get(m) ?? 0) + 1);
    }
    return out;
  }
  async deleteByMark(mark: number, mask: number): Promise<DeleteResult[]> {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => (e.mark & mask) >>> 0 !== mark);
    const command = `conntrack -D --mark ${hex(mark)}/${hex(mask)}`;
    this.calls.push(command);
    return [{ command, deleted: before - this.entries.length }];
  }
  async deleteByReplyDst(family: Family, address: string): Promise<DeleteResult> {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.replyDst !== address);
    const command = `conntrack -D -f ${FAMILIES[family]} --reply-dst ${address}`;
    this.calls.push(command);
    return { command, deleted: before - this.entries.length };
  }
  close(): void {}
}

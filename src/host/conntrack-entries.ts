// host/: the marked connections of the conntrack table, kept from one ctnetlink dump and the
// table's events after it (NEW, UPDATE, DESTROY: nf_conntrack_netlink.c,
// ctnetlink_conntrack_event), so that a count costs a look-up per mark, not a dump of 200k
// entries. Pure: fed messages, no socket.
import {
  CTA_ID,
  CTA_MARK,
  CTA_PROTOINFO,
  CTA_PROTOINFO_TCP,
  CTA_PROTOINFO_TCP_STATE,
  CTA_TUPLE_ORIG,
  IPCTNL_MSG_CT_DELETE,
  NFNL_SUBSYS_CTNETLINK,
  NLA_TYPE_MASK,
  NLMSG_HDRLEN,
  TCP_CONNTRACK_CLOSE,
  TCP_CONNTRACK_TIME_WAIT,
} from '../types/netlink.js';

/** Where a ctnetlink message's attributes begin: after nlmsghdr and nfgenmsg. */
export const ATTRS = NLMSG_HDRLEN + 4;

/** The offset of the first attribute of `type` in b[from, to), or -1. */
export function attrAt(b: Buffer, from: number, to: number, type: number): number {
  for (let off = from; off + 4 <= to; ) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > to) return -1;
    if ((b.readUInt16LE(off + 2) & NLA_TYPE_MASK) === type) return off;
    off += (len + 3) & ~3;
  }
  return -1;
}

/** The payload's bounds of the attribute at `at` (from attrAt). */
export const inside = (b: Buffer, at: number): [number, number] => [at + 4, at + b.readUInt16LE(at)];

/**
 * From a CTA_PROTOINFO payload: 1 for a TCP connection that has ended but lingers
 * (TIME_WAIT, CLOSE), 0 for another TCP state, -1 when it names none (not TCP).
 */
export function tcpEnded(b: Buffer, from: number, to: number): number {
  const tcp = attrAt(b, from, to, CTA_PROTOINFO_TCP);
  if (tcp < 0) return -1;
  const state = attrAt(b, ...inside(b, tcp), CTA_PROTOINFO_TCP_STATE);
  if (state < 0 || b.readUInt16LE(state) < 5) return -1;
  const s = b[state + 4];
  return s === TCP_CONNTRACK_TIME_WAIT || s === TCP_CONNTRACK_CLOSE ? 1 : 0;
}
/** The flags kept beside an entry's mark (value = mark * 4 + flags; marks are 32 bits, so no bit operators). */
const ENDED = 1;
const DUMPED = 2;

/** FNV-1a over b[from, to), 21 bits: beside the 32-bit CTA_ID it keeps two entries with the same ID apart. */
function tupleHash(b: Buffer, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0) & 0x1fffff;
}

/** One entry read from a message: its key (CTA_ID and its tuple), mark, and TCP state if the message has one. */
interface Scanned {
  key: number;
  mark: number;
  /** 1: TIME_WAIT or CLOSE, 0: another TCP state, -1: the message says nothing of it. */
  ended: number;
}

const scanned: Scanned = { key: -1, mark: 0, ended: -1 };

/** Reads the message in b[start, end) into `scanned` (reused: one message at a time, no allocation). */
function scan(b: Buffer, start: number, end: number): Scanned {
  let id = -1;
  let hash = -1;
  scanned.mark = 0;
  scanned.ended = -1;
  for (let off = start + ATTRS; off + 4 <= end; ) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    const type = b.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    // An event carries the mark whenever it is not 0 (ctnetlink_dump_mark): no CTA_MARK is mark 0.
    if (type === CTA_MARK && len >= 8) scanned.mark = b.readUInt32BE(off + 4);
    else if (type === CTA_ID && len >= 8) id = b.readUInt32BE(off + 4);
    else if (type === CTA_TUPLE_ORIG) hash = tupleHash(b, off + 4, off + len);
    else if (type === CTA_PROTOINFO) scanned.ended = tcpEnded(b, off + 4, off + len);
    off += (len + 3) & ~3;
  }
  scanned.key = id < 0 || hash < 0 ? -1 : hash * 2 ** 32 + id;
  return scanned;
}

/** Entries whose mark is not 0, by key; the live ones (not TIME_WAIT, CLOSE) counted per mark. */
export class MarkedEntries {
  private readonly entries = new Map<number, number>();
  private readonly live = new Map<number, number>();
  /** Entries known from a dump and not heard of since: they may have been made before anyone listened to events. */
  private dumpedOnly = 0;

  get size(): number {
    return this.entries.size;
  }

  /** Entries that only a dump has shown: with nf_conntrack_events at 2 (auto), the kernel sends no event for them. */
  get unheard(): number {
    return this.dumpedOnly;
  }

  /** One dumped entry (`dumped`) or one event: the message in b[start, end). */
  apply(b: Buffer, start: number, end: number, dumped: boolean): void {
    const e = scan(b, start, end);
    if (e.key < 0) return;
    const old = this.entries.get(e.key);
    const oldEnded = old !== undefined && old % 2 === ENDED;
    if (old !== undefined) this.forget(e.key, old);
    if ((b.readUInt16LE(start + 4) & 0xff) === IPCTNL_MSG_CT_DELETE || e.mark === 0) return;
    const ended = e.ended === -1 ? oldEnded : e.ended === 1;
    this.entries.set(e.key, e.mark * 4 + (ended ? ENDED : 0) + (dumped ? DUMPED : 0));
    if (dumped) this.dumpedOnly++;
    if (!ended) this.live.set(e.mark, (this.live.get(e.mark) ?? 0) + 1);
  }

  private forget(key: number, value: number): void {
    const flags = value % 4;
    const mark = (value - flags) / 4;
    this.entries.delete(key);
    if (flags & DUMPED) this.dumpedOnly--;
    if (!(flags & ENDED)) {
      const n = (this.live.get(mark) ?? 0) - 1;
      if (n > 0) this.live.set(mark, n);
      else this.live.delete(mark);
    }
  }

  /** A datagram of events: each ctnetlink message in it. */
  applyEvents(d: Buffer): void {
    for (let off = 0; off + NLMSG_HDRLEN <= d.length; ) {
      const len = d.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > d.length) return;
      if (d.readUInt16LE(off + 4) >> 8 === NFNL_SUBSYS_CTNETLINK) this.apply(d, off, off + len, false);
      off += (len + 3) & ~3;
    }
  }

  /** Live connections per mark under `mask`, mark 0 left out. */
  countByMark(mask: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const [mark, n] of this.live) {
      const key = (mark & mask) >>> 0;
      if (key !== 0) out.set(key, (out.get(key) ?? 0) + n);
    }
    return out;
  }
}

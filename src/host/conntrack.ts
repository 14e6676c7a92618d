// host/: the connection-tracking table, through ctnetlink (no `conntrack` process, no text):
// how many live connections are pinned to each uplink (status `flows`, the metrics, the
// drain's count), and deleting the entries of an uplink (failback drain,
// routing.conntrack_flush). A dump is parsed as it streams in, a few datagrams per wakeup, so
// heartbeats and link events run between its parts; deletions go in batches. Each deletion is
// logged by the caller as the `conntrack` command a person would have typed.
import { errnoName, NfnetlinkSocket, nfMessage, SerialCalls, seqBlock } from '../netlink/index.js';
import { ATTRS, attrAt, inside, MarkedEntries } from './conntrack-entries.js';
import {
  AF,
  CTA_ID,
  CTA_IP_V4_DST,
  CTA_IP_V6_DST,
  CTA_MARK,
  CTA_MARK_MASK,
  CTA_TUPLE_IP,
  CTA_TUPLE_ORIG,
  CTA_TUPLE_REPLY,
  CTA_ZONE,
  IPCTNL_MSG_CT_DELETE,
  IPCTNL_MSG_CT_GET,
  NFNL_SUBSYS_CTNETLINK,
  NFNLGRP_CONNTRACK_BITS,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  nlattr,
} from '../types/netlink.js';
import type { Family } from '../types/index.js';
import { addressBytes } from '../types/address.js';
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
const ENOENT = 2;

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

/** Without events (the kernel refused the groups), a dump's counts are kept this long for the next caller. */
const COUNT_TTL_MS = 1000;
/**
 * How soon the table is dumped again (at the next count) while it holds entries no event will
 * tell of: with nf_conntrack_events at 2 (auto), the kernel's default, connections made before
 * uplinkd listened send none (nf_conntrack_ecache.c, nf_ct_ecache_ext_add).
 */
const RESYNC_MS = 60_000;
/** The events socket's buffer: a burst of some thousands of new connections (an event is under 1 KiB). */
const EVENTS_RCVBUF = 4 << 20;
/** Events held while a dump runs, at most: past that the dump is out of date, and taken again. */
const HELD_MAX = 16_384;

/**
 * The real table. Counts come from one dump and the table's events after it (MarkedEntries): a
 * count is a look-up per mark. Lost events (ENOBUFS) or entries no event tells of make the next
 * count dump again, shared by the callers that come while it runs.
 */
export class NetlinkConntrackTable implements ConntrackTable {
  /** Deletions' dumps and requests, one at a time (the kernel runs one dump per socket: netlink_dump_start). */
  private sock: NfnetlinkSocket | undefined;
  private readonly deleting = new SerialCalls();
  /** The counts' dumps and the events. */
  private events: NfnetlinkSocket | undefined;
  private eventsRefused = false;
  private entries: MarkedEntries | undefined;
  private stale = true;
  private syncedAt = 0;
  private syncing: Promise<MarkedEntries> | undefined;
  /** Event datagrams that came while a dump runs: applied over it once it is done. */
  private held: Buffer[] | undefined;
  private heldLost = false;
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  private socket(): NfnetlinkSocket {
    // Four datagrams (about 400 entries) per wakeup.
    this.sock ??= new NfnetlinkSocket(4);
    return this.sock;
  }

  private eventSocket(): NfnetlinkSocket {
    if (this.events) return this.events;
    const multicast = {
      groups: NFNLGRP_CONNTRACK_BITS,
      rcvbuf: EVENTS_RCVBUF,
      onMessages: (d: Buffer) => {
        if (this.held) {
          if (this.held.length < HELD_MAX) this.held.push(d);
          else this.heldLost = true;
        } else if (!this.stale) this.entries?.applyEvents(d);
      },
      onError: (code: string) => {
        // ENOBUFS: events were lost; anything else: the socket is gone, made again at the next count.
        this.stale = true;
        if (this.held) this.heldLost = true;
        if (code !== 'ENOBUFS') this.closeEvents();
      },
    };
    if (!this.eventsRefused) {
      try {
        this.events = new NfnetlinkSocket(4, multicast);
        return this.events;
      } catch {
        // Joining the groups needs CAP_NET_ADMIN; counts then come from a dump a second.
        this.eventsRefused = true;
      }
    }
    this.events = new NfnetlinkSocket(4);
    return this.events;
  }

  countByMark(mask: number): Promise<Map<number, number>> {
    const fresh = this.entries && !this.stale && !(this.eventsRefused && this.now() - this.syncedAt >= COUNT_TTL_MS);
    if (fresh) return Promise.resolve(this.entries!.countByMark(mask));
    this.syncing ??= this.sync().finally(() => (this.syncing = undefined));
    return this.syncing.then((e) => e.countByMark(mask));
  }

  /** Listens to the events, then dumps: an entry that changes meanwhile is told of by an event held for after the dump. */
  private async sync(): Promise<MarkedEntries> {
    const sock = this.eventSocket();
    this.held = [];
    this.heldLost = false;
    this.stale = false;
    const fresh = new MarkedEntries();
    const seq = seqBlock(1);
    try {
      await sock.dump(dumpRequest(seq, 0), seq, 'conntrack -L', (b, start, end) => fresh.apply(b, start, end, true));
    } catch (err) {
      this.stale = true;
      throw err;
    } finally {
      const held = this.held;
      this.held = undefined;
      for (const d of held) fresh.applyEvents(d);
    }
    if (this.heldLost) this.stale = true;
    this.entries = fresh;
    this.syncedAt = this.now();
    clearTimeout(this.resyncTimer);
    if (fresh.unheard > 0) {
      this.resyncTimer = setTimeout(() => (this.stale = true), RESYNC_MS);
      this.resyncTimer.unref();
    }
    return fresh;
  }

  private closeEvents(): void {
    this.events?.close();
    this.events = undefined;
  }

  async deleteByMark(mark: number, mask: number): Promise<DeleteResult[]> {
    const commands = ([4, 6] as const).map((f) => `conntrack -D -f ${FAMILIES[f]} --mark ${hex(mark)}/${hex(mask)}`);
    const seq = seqBlock(1);
    const results = await this.deleteDumped(dumpRequest(seq, 0, { mark, mask }), seq, () => true);
    return ([4, 6] as const).map((f, i) => ({ command: commands[i]!, ...results(AF[f]) }));
  }

  async deleteByReplyDst(family: Family, address: string): Promise<DeleteResult> {
    const command = `conntrack -D -f ${FAMILIES[family]} --reply-dst ${address}`;
    const want = addressBytes(address);
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
    return this.deleting.run('conntrack -D', async () => {
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
      // The deletions' events tell, but not of entries no event tells of: then count afresh.
      if (this.eventsRefused || (this.entries?.unheard ?? 0) > 0) this.stale = true;
      return (family: number) => ({ deleted: deleted.get(family) ?? 0, ...(refused.has(family) ? { error: refused.get(family) } : {}) });
    });
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
    this.closeEvents();
    clearTimeout(this.resyncTimer);
    this.entries = undefined;
    this.stale = true;
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

// host/: the connection-tracking table, through the `conntrack` tool: how many live
// connections are pinned to each uplink (status `flows`), and deleting the entries of an
// uplink (failback drain, routing.conntrack_flush). Each call is logged by the caller as the
// command it ran.
import { runCommand } from './command.js';
import type { Family } from '../types/index.js';
import { hex } from '../types/layout.js';

export interface DeleteResult {
  readonly command: string;
  /** Entries deleted, or undefined when the command failed (then `error` says why). */
  readonly deleted?: number;
  readonly error?: string;
}

export interface ConntrackTable {
  /** Live connections (not TCP TIME_WAIT or CLOSE) per mark under `mask`; mark 0 left out. */
  countByMark(mask: number): Promise<Map<number, number>>;
  /** Deletes the entries whose mark under `mask` is `mark`, in both families. */
  deleteByMark(mark: number, mask: number): Promise<DeleteResult[]>;
  /** Deletes the entries NATed to `address` (their replies come back to it). */
  deleteByReplyDst(family: Family, address: string): Promise<DeleteResult>;
}

const FAMILIES = { 4: 'ipv4', 6: 'ipv6' } as const;
// A connection that has ended but lingers in the table (include/uapi/linux/netfilter/nf_conntrack_tcp.h).
const ENDED = /\b(TIME_WAIT|CLOSE)\b/;

/** `conntrack -L` output -> live connections per mark under `mask` (mark 0 left out). */
export function liveByMark(listing: string, mask: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of listing.split('\n')) {
    const m = /\bmark=(\d+)/.exec(line);
    if (!m || ENDED.test(line)) continue;
    const mark = (Number(m[1]) & mask) >>> 0;
    if (mark !== 0) out.set(mark, (out.get(mark) ?? 0) + 1);
  }
  return out;
}

/**
 * conntrack-tools (1.4.7) gives up the whole delete when one entry it listed is gone before its
 * turn (ENOENT: expired, or an ICMP heartbeat's entry closed by its reply), leaving the rest.
 */
const VANISHED = /such conntrack doesn't exist/;
const DELETE_TRIES = 5;

async function deleteEntries(args: string[]): Promise<DeleteResult> {
  const command = `conntrack ${args.join(' ')}`;
  try {
    // Each try lists afresh, so one that gave up on a vanished entry is taken up again; the
    // count is the last try's (the entries deleted before one gave up are not counted).
    for (let tries = 1; ; tries++) {
      const r = await runCommand('conntrack', args);
      // conntrack says "N flow entries have been deleted" and exits 1 when N is 0.
      const n = Number(/(\d+) flow entries/.exec(r.stderr)?.[1] ?? NaN);
      if (!Number.isNaN(n)) return { command, deleted: n };
      if (!VANISHED.test(r.stderr) || tries === DELETE_TRIES) return { command, error: r.stderr.trim() || `exit ${r.code}` };
    }
  } catch (err) {
    return { command, error: String((err as Error).message ?? err) };
  }
}

export class ToolConntrackTable implements ConntrackTable {
  async countByMark(mask: number): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const family of [4, 6] as const) {
      const r = await runCommand('conntrack', ['-L', '-f', FAMILIES[family]]);
      if (r.code !== 0 && !/flow entries have been shown/.test(r.stderr)) throw new Error(`conntrack -L: ${r.stderr || `exit ${r.code}`}`);
      for (const [mark, n] of liveByMark(r.stdout, mask)) out.set(mark, (out.get(mark) ?? 0) + n);
    }
    return out;
  }

  async deleteByMark(mark: number, mask: number): Promise<DeleteResult[]> {
    const results: DeleteResult[] = [];
    for (const family of [4, 6] as const) {
      results.push(await deleteEntries(['-D', '-f', FAMILIES[family], '--mark', `${hex(mark)}/${hex(mask)}`]));
    }
    return results;
  }

  deleteByReplyDst(family: Family, address: string): Promise<DeleteResult> {
    return deleteEntries(['-D', '-f', FAMILIES[family], '--reply-dst', address]);
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
}

// daemon/: the conntrack deletions track/ asks for, each logged as the command it ran:
// routing.conntrack_flush after a loss, and the reset of pinned connections by a failback
// drain or `drain --now` (which ones, and when, is track/'s decision).
import type { Logger } from 'pino';
import type { ConntrackTable, DeleteResult } from '../host/index.js';
import type { Effect, SourceAddress } from '../track/index.js';

/** routing.conntrack_flush: LAN clients get a reset at once instead of waiting out a dead flow. */
export async function flushConntrack(conntrack: ConntrackTable, log: Logger, uplink: string, addresses: readonly SourceAddress[]): Promise<void> {
  for (const a of addresses) logDeleted(log, uplink, await conntrack.deleteByReplyDst(a.family, a.address));
}

/** Deletes the entries pinned to `uplink`; says how many live connections that reset. */
export async function resetPinned(conntrack: ConntrackTable, log: Logger, r: Extract<Effect, { kind: 'reset-pinned' }>): Promise<void> {
  // Live ones first: the entries deleted include connections that already ended.
  const live = (await conntrack.countByMark(r.mask).catch(() => new Map<number, number>())).get(r.mark) ?? 0;
  let total = 0;
  for (const d of await conntrack.deleteByMark(r.mark, r.mask)) total += logDeleted(log, r.uplink, d);
  log.info(
    { uplink: r.uplink, event: 'drain', live, deleted: total },
    r.cause === 'failback'
      ? `failback drain: reset ${live} connections still pinned to ${r.uplink} ${(r.drainMs ?? 0) / 1000}s after the last step (${total} conntrack entries deleted)`
      : `drain --now: reset ${live} connections pinned to ${r.uplink} (${total} conntrack entries deleted)`,
  );
}

/** Logs one conntrack deletion as its command; returns how many entries went. */
function logDeleted(log: Logger, uplink: string, r: DeleteResult): number {
  if (r.deleted === undefined) {
    log.error({ uplink, event: 'conntrack', command: r.command, err: r.error }, `${r.command} failed: ${r.error}`);
    return 0;
  }
  if (r.error) {
    log.error({ uplink, event: 'conntrack', command: r.command, deleted: r.deleted, err: r.error }, `${r.command}: ${r.deleted} entries deleted; ${r.error}`);
    return r.deleted;
  }
  log.info({ uplink, event: 'conntrack', command: r.command, deleted: r.deleted }, `${r.command}: ${r.deleted} entries deleted`);
  return r.deleted;
}

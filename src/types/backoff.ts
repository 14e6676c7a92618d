// types/: the one backoff every retry and holdoff of uplinkd follows (a failed nftables load,
// an unreadable counter, a refused route, a refuted passive confirmation).

/** The pause before retry number `failures` (0: the first): `firstMs`, doubling up to `maxMs`. */
export function backoffMs(failures: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(0, failures), 30));
}

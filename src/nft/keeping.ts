// nft/: the pure decisions of keeping uplinkd's table loaded (daemon/pinning-keeper.ts runs
// them): when a load is due, whether a table someone touched is still ours, which cause a
// retry carries, and what an nftables event calls for.
import { backoffMs } from '../types/backoff.js';
import { isIntact, type TableShape } from './ruleset.js';

/** `start`, `reload`: the config asks for a table; `check`: an nftables event; `deleted`: the table is gone. */
export type PinningCause = 'start' | 'reload' | 'check' | 'deleted';

/** Events from nftables within this window are looked at once. */
export const NFT_DEBOUNCE_MS = 50;
/** The first pause after a failed load; it doubles, so a missing `nft` is said once a minute at most. */
export const PINNING_RETRY_MS = 1000;
export const PINNING_RETRY_MAX_MS = 60_000;

/**
 * What a cause asks for, given the script the config wants and the one last loaded: nothing
 * (the same script is in), a load, or a look at the table's shape first (an event, or a reload
 * that wants the same script: is the table still what was loaded?). A deleted table is loaded
 * without a look.
 */
export function pinningStep(why: PinningCause, script: string, loaded: string | undefined): 'none' | 'load' | 'look' | 'restore' {
  if (why === 'deleted') return 'restore';
  if (why === 'check' || (why === 'reload' && script === loaded)) return 'look';
  return script === loaded ? 'none' : 'load';
}

/** After a look: the same shape with the script last loaded is still the table (other marks or interfaces would be another script). */
export function stillLoaded(shape: TableShape | undefined, want: TableShape, script: string, loaded: string | undefined): boolean {
  return isIntact(shape, want) && script === loaded;
}

/** A failed load is tried again after this long, with this cause (a failed start is a reload from then on). */
export function pinningRetry(why: PinningCause, failures: number): { readonly inMs: number; readonly why: PinningCause } {
  return { inMs: backoffMs(failures, PINNING_RETRY_MS, PINNING_RETRY_MAX_MS), why: why === 'start' ? 'reload' : why };
}

/**
 * An nftables event: the table deleted is restored at once (until it is back, pinned
 * connections follow the managed route), but at most once per debounce window without a
 * look, so a split event batch of uplinkd's own replace cannot keep it loading; anything else
 * is looked at once per window.
 */
export function nftEventStep(deleted: boolean, now: number, lastFastRestore: number, debouncing: boolean): 'restore' | 'debounce' | 'none' {
  if (deleted && now - lastFastRestore > NFT_DEBOUNCE_MS) return 'restore';
  return debouncing ? 'none' : 'debounce';
}

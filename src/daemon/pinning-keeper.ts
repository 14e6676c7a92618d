// daemon/: keeps uplinkd's nftables table (flow pinning) loaded: at start, on reload when the
// config asks for another one, and when nftables events say it was deleted or changed. Loads
// run one at a time; a failed one is tried again after doubling pauses. When to load, look
// or retry is nft/keeping.ts's decision; this runs it.
import type { Logger } from 'pino';
import {
  expectedShape,
  type LoadResult,
  NFT_DEBOUNCE_MS,
  nftEventStep,
  type PinningCause,
  pinningRetry,
  pinningRuleset,
  pinningSpecFor,
  pinningStep,
  type PinningTable,
  stillLoaded,
  TABLE_FAMILY,
  TABLE_NAME,
} from '../nft/index.js';
import type { Config } from '../types/index.js';
import { hex } from '../types/layout.js';
import { errText, type Scheduler, type TimerHandle } from './ports.js';

const TABLE = `${TABLE_FAMILY} ${TABLE_NAME}`;

export class PinningKeeper {
  /** The script as last loaded. */
  private loaded: string | undefined;
  private owned: boolean | undefined;
  private failures = 0;
  private retry: TimerHandle | undefined;
  private debounce: TimerHandle | undefined;
  private lastFastRestore = -Infinity;
  private stopped = false;
  /** The load under way, if any: loads never overlap. */
  done: Promise<void> = Promise.resolve();

  constructor(
    private readonly table: PinningTable,
    private readonly config: () => Config,
    private readonly log: Logger,
    private readonly scheduler: Scheduler,
    private readonly mono: () => number,
    /** Called after each load: the table's counters start again at 0. */
    private readonly onLoaded: () => void,
  ) {}

  /** Loads the table when the config asks for another one, or when it is missing or was changed by someone else. */
  schedule(why: PinningCause, config: Config = this.config()): Promise<void> {
    this.done = this.done.then(() => this.load(why, config));
    return this.done;
  }

  private async load(why: PinningCause, config: Config): Promise<void> {
    if (this.stopped) return;
    const spec = pinningSpecFor(config);
    const script = pinningRuleset(spec);
    const step = pinningStep(why, script, this.loaded);
    if (step === 'none') return;
    try {
      if (step === 'load') {
        this.noteLoad(await this.table.load(script));
        this.log.info(
          { event: 'pinning', command: `nft -f (table ${TABLE})`, uplinks: spec.uplinks.map((u) => `${u.interface}=${hex(u.mark)}`) },
          `nft -f: table ${TABLE} pins connections by conntrack mark (mask ${hex(spec.markMask)}): ${spec.uplinks.map((u) => `${u.interface} ${hex(u.mark)}`).join(', ')}`,
        );
      } else {
        const shape = step === 'look' ? await this.table.shape() : undefined;
        const want = expectedShape(spec);
        if (stillLoaded(shape, want, script, this.loaded)) return;
        this.noteLoad(await this.table.load(script));
        const seen = shape ? `changed (${shape.rules} rules, ${want.rules} expected)` : 'deleted';
        this.log.warn(
          { event: 'reconcile', seen: [`table ${TABLE} ${seen}`], restored: [`nft -f (table ${TABLE})`] },
          `changed outside uplinkd (nftables table ${TABLE} ${seen}); restored: nft -f (table ${TABLE}, ${spec.uplinks.length} uplinks, mask ${hex(spec.markMask)})`,
        );
      }
      this.loaded = script;
      this.failures = 0;
      this.onLoaded();
    } catch (err) {
      const retry = pinningRetry(why, this.failures++);
      const text = errText(err);
      this.log.error({ event: 'pinning', err: text }, `cannot load the nftables table ${TABLE}: ${text}; retrying in ${retry.inMs}ms`);
      this.scheduler.clearTimeout(this.retry);
      if (!this.stopped) this.retry = this.scheduler.setTimeout(() => void this.schedule(retry.why), retry.inMs);
    }
  }

  /** Says once whether uplinkd holds its table (a firewall reload passes it by) or not. */
  private noteLoad(result: LoadResult): void {
    if (result.note) this.log.warn({ event: 'pinning' }, result.note);
    if (this.owned === result.owned) return;
    this.owned = result.owned;
    if (result.owned) {
      this.log.info({ event: 'pinning', owned: true }, `table ${TABLE} is held by uplinkd (flags owner, persist): \`nft flush ruleset\` leaves it alone`);
    }
  }

  /** Something changed in nftables: is the table still whole? (nft/keeping.ts nftEventStep says when to look.) */
  onEvent(deleted: boolean): void {
    if (this.stopped) return;
    const now = this.mono();
    const step = nftEventStep(deleted, now, this.lastFastRestore, this.debounce !== undefined);
    if (step === 'restore') {
      this.lastFastRestore = now;
      void this.schedule('deleted');
    } else if (step === 'debounce') {
      this.debounce = this.scheduler.setTimeout(() => {
        this.debounce = undefined;
        void this.schedule('check');
      }, NFT_DEBOUNCE_MS);
    }
  }

  /** No more loads from now on (the one under way finishes: await `done`), and no timers left. */
  stop(): void {
    this.stopped = true;
    this.scheduler.clearTimeout(this.retry);
    this.scheduler.clearTimeout(this.debounce);
  }
}

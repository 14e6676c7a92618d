// daemon/: looks at the path manager's endpoints every MPTCP_WATCH_MS while `mptcp:` is set.
// The path manager sends no event when someone changes an endpoint by hand (its multicast
// group carries connection events only, include/uapi/linux/mptcp_pm.h), so a drift is found by
// looking; whether a look counts and what to do about it (reconcile, with the fight limiter)
// is track/'s decision.
import type { Logger } from 'pino';
import { errText, type Scheduler, type TimerHandle } from './ports.js';

/** How often the endpoints are read back: an endpoint deleted by hand is back within this (plus the reconcile debounce). */
export const MPTCP_WATCH_MS = 2000;

export class MptcpWatch {
  private timer: TimerHandle | undefined;
  private stopped = false;

  /** `look`: reads the endpoints and hands what it found to track/. */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly look: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.stopped) return;
    this.scheduler.clearTimeout(this.timer);
    this.timer = this.scheduler.setTimeout(() => void this.tick(), MPTCP_WATCH_MS);
  }

  private async tick(): Promise<void> {
    try {
      await this.look();
    } catch (err) {
      this.log.warn({ event: 'mptcp', err: errText(err) }, `cannot read the MPTCP endpoints: ${errText(err)}`);
    }
    this.start();
  }

  stop(): void {
    this.stopped = true;
    this.scheduler.clearTimeout(this.timer);
  }
}

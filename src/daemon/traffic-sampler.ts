// daemon/: reads the passive signal's counters (uplinkd's nftables table, through netlink)
// every PASSIVE_SAMPLE_MS and hands each uplink's figures to track/ as one `traffic` event.
// One read at a time: a slow one skips samples rather than queueing them.
import type { Logger } from 'pino';
import type { TrafficCounters } from '../health/index.js';
import type { CounterReader, CounterValue } from '../nft/counters.js';
import type { UplinkConfig } from '../types/index.js';
import { backoffMs } from '../types/backoff.js';
import { PASSIVE_SAMPLE_MS, trafficCounterNames } from '../types/layout.js';
import { errText, type Scheduler, type TimerHandle } from './ports.js';

/** After a failed read the next waits this long, doubling up to a minute: said once per failure run. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

export class TrafficSampler {
  private timer: TimerHandle | undefined;
  private stopped = true;
  /** Failed reads in a row. */
  private failures = 0;

  constructor(
    private readonly reader: CounterReader,
    private readonly scheduler: Scheduler,
    /** The uplinks whose traffic is sampled now (those with `probe.passive`). */
    private readonly uplinks: () => readonly UplinkConfig[],
    private readonly onSample: (counters: ReadonlyMap<string, TrafficCounters>) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(PASSIVE_SAMPLE_MS);
  }

  private schedule(ms: number): void {
    if (!this.stopped) this.timer = this.scheduler.setTimeout(() => void this.sample(), ms);
  }

  private async sample(): Promise<void> {
    const uplinks = this.uplinks().filter((u) => u.probe.passive);
    if (uplinks.length === 0) return this.schedule(PASSIVE_SAMPLE_MS);
    let values: Map<string, CounterValue>;
    try {
      values = await this.reader.read();
    } catch (err) {
      if (this.stopped) return;
      if (!this.failures)
        this.log.error(
          { event: 'passive', err: errText(err) },
          `cannot read the passive signal's counters: ${errText(err)}; heartbeats alone find failures meanwhile`,
        );
      return this.schedule(backoffMs(this.failures++, RETRY_FIRST_MS, RETRY_MAX_MS));
    }
    if (this.failures) this.log.info({ event: 'passive' }, 'the passive signal reads its counters again');
    this.failures = 0;
    const counters = new Map<string, TrafficCounters>();
    for (const u of uplinks) {
      const names = trafficCounterNames(u.name);
      const tx = values.get(names.tx);
      const rx = values.get(names.rx);
      // Missing while the table is loaded again or was flushed: no sample, no signal.
      if (tx && rx) counters.set(u.name, { txPackets: tx.packets, txBytes: tx.bytes, rxPackets: rx.packets, rxBytes: rx.bytes });
    }
    // The reducer's own failures are not the counters': they surface where dispatch runs.
    this.schedule(PASSIVE_SAMPLE_MS);
    if (!this.stopped && counters.size) this.onSample(counters);
  }

  stop(): void {
    this.stopped = true;
    this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

// daemon/: reads the passive signal's counters (uplinkd's nftables table, through netlink) and
// hands each uplink's figures to track/ as one `traffic` event. When the next read is due is
// track/'s decision (passiveSampleMs): at the heartbeats' pace while every uplink is answered
// or quiet, every PASSIVE_SAMPLE_MS while one watches a silence. A silence begins with a
// wake-up: the table logs (NFLOG) a packet that leaves through an uplink that has answered
// nothing for PASSIVE_QUIET_MS, and a read follows at once. One read at a time: a slow one
// skips samples rather than queueing them.
import type { Logger } from 'pino';
import type { TrafficCounters } from '../health/index.js';
import type { LinkSource } from '../link/index.js';
import type { LoggedPackets } from '../netlink/nflog.js';
import type { CounterReader, CounterValue } from '../nft/counters.js';
import { passiveSampleMs, type Tracking } from '../track/index.js';
import { backoffMs } from '../types/backoff.js';
import { PASSIVE_LOG_GROUP, trafficCounterNames } from '../types/layout.js';
import { errText, type Scheduler, type TimerHandle } from './ports.js';

/** After a failed read the next waits this long, doubling up to a minute: said once per failure run. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

export interface TrafficSamplerPorts {
  readonly reader: CounterReader;
  /** The wake-ups; none (or a bind that failed): the sampler looks for silences itself, every PASSIVE_SAMPLE_MS. */
  readonly wakes?: LoggedPackets;
  readonly scheduler: Scheduler;
  readonly links: LinkSource;
  readonly tracking: () => Tracking;
  readonly mono: () => number;
  readonly onSample: (counters: ReadonlyMap<string, TrafficCounters>, woke: readonly string[]) => void;
  readonly log: Logger;
}

export class TrafficSampler {
  private timer: TimerHandle | undefined;
  private stopped = true;
  /** Failed reads in a row. */
  private failures = 0;
  private reading = false;
  /** Uplinks woken since the last read began (a read under way is followed by another). */
  private woke = new Set<string>();
  private wakeable = false;
  /** When the read scheduled last is due (monotonic ms), and how long it was scheduled for. */
  private dueAt = 0;
  private scheduledMs = 0;

  constructor(private readonly p: TrafficSamplerPorts) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
    const wakes = this.p.wakes;
    if (!wakes) return;
    wakes
      .start(
        (packet) => this.wake(packet.outIfindex),
        (err) => this.p.log.warn({ event: 'passive', err: errText(err) }, `passive wake-ups: ${errText(err)}`),
      )
      .then(
        () => {
          this.wakeable = !this.stopped;
        },
        (err: unknown) =>
          this.p.log.warn(
            { event: 'passive', err: errText(err) },
            `cannot take NFLOG group ${PASSIVE_LOG_GROUP} for the passive signal's wake-ups (${errText(err)}); its counters are read every 10 ms instead`,
          ),
      );
  }

  /** A packet left through `ifindex` unanswered: read now, for the uplinks on that interface. */
  private wake(ifindex: number): void {
    if (this.stopped) return;
    const name = [...this.p.links.snapshot().values()].find((l) => l.index === ifindex)?.name;
    const uplinks = this.p.tracking().config.uplinks.filter((u) => u.interface === name && u.probe.passive);
    if (uplinks.length === 0) return;
    for (const u of uplinks) this.woke.add(u.name);
    if (this.reading || this.failures) return;
    this.p.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    void this.sample();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.p.scheduler.clearTimeout(this.timer);
    this.dueAt = this.p.mono() + ms;
    this.scheduledMs = ms;
    this.timer = this.p.scheduler.setTimeout(() => void this.sample(), ms);
  }

  /**
   * A heartbeat round starts: the loop is awake anyway. A read due within half its interval
   * is taken now, so it shares this wake-up instead of costing one of its own; from then on
   * reads at the heartbeats' pace fall on round starts. Not after a failed read (its backoff).
   */
  roundStarting(): void {
    if (this.stopped || this.reading || this.failures || this.timer === undefined) return;
    if (this.dueAt - this.p.mono() > this.scheduledMs / 2) return;
    this.p.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    void this.sample();
  }

  /** When the next read is due, as track/ decides from what the last one showed. */
  private next(): number {
    const t = this.p.tracking();
    return passiveSampleMs(t.uplinks.values(), this.p.mono(), this.wakeable);
  }

  private async sample(): Promise<void> {
    this.timer = undefined;
    const uplinks = this.p.tracking().config.uplinks.filter((u) => u.probe.passive);
    if (uplinks.length === 0) return this.schedule(this.next());
    const woke = [...this.woke];
    this.woke = new Set();
    this.reading = true;
    let values: Map<string, CounterValue>;
    try {
      values = await this.p.reader.read();
    } catch (err) {
      this.reading = false;
      if (this.stopped) return;
      if (!this.failures)
        this.p.log.error(
          { event: 'passive', err: errText(err) },
          `cannot read the passive signal's counters: ${errText(err)}; heartbeats alone find failures meanwhile`,
        );
      return this.schedule(backoffMs(this.failures++, RETRY_FIRST_MS, RETRY_MAX_MS));
    }
    this.reading = false;
    if (this.stopped) return;
    if (this.failures) this.p.log.info({ event: 'passive' }, 'the passive signal reads its counters again');
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
    try {
      if (counters.size) this.p.onSample(counters, woke);
    } finally {
      // A wake-up during the read is read at once.
      this.schedule(this.woke.size ? 0 : this.next());
    }
  }

  stop(): void {
    this.stopped = true;
    this.wakeable = false;
    this.p.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    this.p.wakes?.close();
  }
}

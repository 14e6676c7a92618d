// probe/: the heartbeat loop of one uplink. Every `interval` it starts a round (a heartbeat
// to each target) and hands finished rounds on, strictly in the order they were started.
import type { HeartbeatResult, ProbeRound, UplinkConfig } from '../types/index.js';
import { IcmpPinger } from './icmp.js';
import { tcpHeartbeat } from './tcp.js';

export interface ProberOptions {
  readonly uplink: UplinkConfig;
  /** Monotonic milliseconds (performance.now in the daemon). */
  readonly clock: () => number;
  readonly onRound: (round: ProbeRound) => void;
}

export class UplinkProber {
  private readonly pingers: { 4: IcmpPinger; 6: IcmpPinger };
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private nextAt = 0;
  private delivered: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(private readonly opts: ProberOptions) {
    const { uplink, clock } = opts;
    this.pingers = { 4: new IcmpPinger(uplink.interface, 4, clock), 6: new IcmpPinger(uplink.interface, 6, clock) };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.nextAt = this.opts.clock();
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    const round = this.runRound();
    this.delivered = this.delivered.then(async () => {
      const r = await round;
      if (!this.stopped) this.opts.onRound(r);
    });
    const interval = this.opts.uplink.probe.intervalMs;
    const now = this.opts.clock();
    // Keep a steady cadence; after a stall (a busy event loop) skip the rounds missed.
    this.nextAt += interval;
    if (this.nextAt < now) this.nextAt = now + interval;
    this.timer = setTimeout(() => this.tick(), this.nextAt - now);
  }

  private async runRound(): Promise<ProbeRound> {
    const { uplink, clock } = this.opts;
    const seq = ++this.seq;
    const startedAt = clock();
    const results = await Promise.all(
      uplink.targets.map(async (t): Promise<HeartbeatResult> => {
        const r =
          t.kind === 'tcp'
            ? await tcpHeartbeat(uplink.interface, t.host, t.port!, uplink.probe.timeoutMs)
            : await this.pingers[t.family].echo(t.host, uplink.probe.timeoutMs);
        return { target: t.label, ...r };
      }),
    );
    return { seq, startedAt, results };
  }

  /**
   * Closes the sockets; the next heartbeat opens new ones. For an interface that was deleted
   * and created again: SO_BINDTODEVICE binds to an ifindex, and the old one is gone.
   */
  rebind(): void {
    this.pingers[4].close();
    this.pingers[6].close();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pingers[4].close();
    this.pingers[6].close();
  }
}

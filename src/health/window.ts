// Sliding-window quality figures per target and per uplink: average RTT and loss.
// Pure bookkeeping; the caller feeds one sample per heartbeat.

export const DEFAULT_WINDOW = 20;

/**
 * The last `size` heartbeats of one target: an RTT in ms, or null for a lost one. Immutable:
 * `push` returns the next window, so uplink tracking stays a pure function of its events.
 */
export class SampleWindow {
  constructor(
    readonly size = DEFAULT_WINDOW,
    private readonly samples: readonly (number | null)[] = [],
  ) {}

  push(rttMs: number | null): SampleWindow {
    return new SampleWindow(this.size, [...this.samples.slice(Math.max(0, this.samples.length + 1 - this.size)), rttMs]);
  }

  get count(): number {
    return this.samples.length;
  }

  /** Mean RTT of the answered heartbeats, or null when none answered. */
  get rttMs(): number | null {
    const ok = this.samples.filter((s): s is number => s !== null);
    if (ok.length === 0) return null;
    return ok.reduce((a, b) => a + b, 0) / ok.length;
  }

  /** Mean difference between consecutive answered RTTs (RFC 3550 §6.4.1 in spirit), or null. */
  get jitterMs(): number | null {
    const ok = this.samples.filter((s): s is number => s !== null);
    if (ok.length < 2) return null;
    let sum = 0;
    for (let i = 1; i < ok.length; i++) sum += Math.abs(ok[i]! - ok[i - 1]!);
    return sum / (ok.length - 1);
  }

  /** Percent of heartbeats in the window that got no answer (0 when empty). */
  get lossPct(): number {
    if (this.samples.length === 0) return 0;
    const lost = this.samples.filter((s) => s === null).length;
    return (lost / this.samples.length) * 100;
  }

  /** The newest sample, or undefined when nothing was sent yet. */
  get last(): number | null | undefined {
    return this.samples[this.samples.length - 1];
  }
}

/** Mean RTT and loss over several windows (an uplink's targets), weighting each sample alike. */
export function combine(windows: readonly SampleWindow[]): { rttMs: number | null; lossPct: number; samples: number } {
  let rttSum = 0;
  let rttN = 0;
  let lost = 0;
  let total = 0;
  for (const w of windows) {
    const rtt = w.rttMs;
    const answered = Math.round(w.count * (1 - w.lossPct / 100));
    if (rtt !== null) {
      rttSum += rtt * answered;
      rttN += answered;
    }
    lost += w.count - answered;
    total += w.count;
  }
  return { rttMs: rttN ? rttSum / rttN : null, lossPct: total ? (lost / total) * 100 : 0, samples: total };
}

// daemon/: fakes beside the ports (ports.ts): a clock whose timers fire only when a test moves
// it, probers that record what they were told, and a config loader that reads from memory.
import type { Override } from '../track/index.js';
import type { OverrideStore } from './override-store.js';
import { ConfigError, parseConfig } from '../config/index.js';
import type { Clocks, ConfigLoader, Prober, ProberFactory, ProberSpec, Scheduler, TimerHandle } from './ports.js';

interface FakeTimer {
  readonly __timer: true;
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Both clocks and the scheduler in one: time moves only by `advance`, which fires what falls due, in order. */
export class FakeClock implements Scheduler {
  private timers: FakeTimer[] = [];
  private seq = 0;
  /** Monotonic ms; wall time is `wallStart` plus this. */
  mono = 0;
  constructor(private readonly wallStart = Date.parse('2026-11-21T10:00:00Z')) {}

  readonly clocks: Clocks = { wall: () => this.wallStart + this.mono, mono: () => this.mono };

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t: FakeTimer = { __timer: true, at: this.mono + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(t);
    return t;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }

  /** Timers armed now, as ms from now, soonest first. */
  pending(): number[] {
    return this.timers.map((t) => t.at - this.mono).sort((a, b) => a - b);
  }

  /** Moves time on by `ms`, firing each timer that falls due at its own moment. */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.mono = Math.max(this.mono, due.at);
      due.fn();
    }
    this.mono = end;
  }
}

export class FakeProber implements Prober {
  readonly calls: string[] = [];
  constructor(readonly spec: ProberSpec) {}
  start(): void {
    this.calls.push('start');
  }
  stop(): void {
    this.calls.push('stop');
  }
  rebind(): void {
    this.calls.push('rebind');
  }
  repace(): void {
    this.calls.push('repace');
  }
  confirm(): void {
    this.calls.push('confirm');
  }
}

/** A prober factory that keeps every prober it made, newest last. */
export function fakeProbers(): { factory: ProberFactory; made: FakeProber[] } {
  const made: FakeProber[] = [];
  return { factory: (spec) => (made.push(new FakeProber(spec)), made.at(-1)!), made };
}

/** A config loader over texts in memory, by path: problems throw ConfigError as the real one does. */
export function memoryConfigs(): { loader: ConfigLoader; files: Map<string, string> } {
  const files = new Map<string, string>();
  const loader: ConfigLoader = async (path) => {
    const text = files.get(path);
    if (text === undefined) throw new ConfigError(path, [{ code: 'BAD_VALUE', message: 'cannot read the file (ENOENT)', line: 1, col: 1 }]);
    const result = parseConfig(text);
    if (!result.ok) throw new ConfigError(path, result.problems);
    return result.config;
  };
  return { loader, files };
}

/** Overrides kept in memory, as the state file would keep them over a restart. */
export function memoryOverrides(): OverrideStore & { saved: Record<string, Override>[] } {
  const saved: Record<string, Override>[] = [];
  return {
    saved,
    load: async () => new Map(Object.entries(saved.at(-1) ?? {})),
    save: async (o) => void saved.push({ ...o }),
  };
}

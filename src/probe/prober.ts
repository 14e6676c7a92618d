// probe/: the heartbeat loop of one uplink. It starts a round (a heartbeat to each target)
// at the pace the daemon asks for, and hands finished rounds on, strictly in the order they
// were started. Heartbeats are spread, never sent in bursts: uplinks start at different
// phases of the interval, and the targets of a round go out one after the other.
import { HEARTBEAT_CLOSED, type HeartbeatResult, type ProbeRound, type Target, type UplinkConfig } from '../types/index.js';
import { type HeartbeatOutcome, IcmpPinger } from './icmp.js';
import { tcpHeartbeat } from './tcp.js';

export interface ProberOptions {
  readonly uplink: UplinkConfig;
  /** Monotonic milliseconds (performance.now in the daemon). */
  readonly clock: () => number;
  readonly onRound: (round: ProbeRound) => void;
  /** Ms from one round's start to the next (health/'s probePace); default `interval`. */
  readonly pace?: () => number;
  /** Delay of the first round, so uplinks do not probe in step. */
  readonly phaseMs?: number;
  /**
   * Asked when a target that answered its last heartbeat fails this one: true starts fast
   * confirmation now, without waiting for the round to end (health/'s mayConfirm).
   */
  readonly confirmOnFailure?: () => boolean;
  /** Ms a heartbeat to this target, sent now, is waited for (`timeout`, or `auto`'s figure: track/'s heartbeatTimeout). */
  readonly timeoutFor: (target: string) => number;
  /** Ms an answer is listened for after its heartbeat counted as lost, so `auto` learns a slower path (track/'s listenMs). */
  readonly listenMs: number;
  /** Ms between the rounds of a confirmation (health/'s confirmationPace): a confirmation round packs its heartbeats into a quarter of it. */
  readonly confirmPaceMs: number;
  /** An answer came after its heartbeat had counted as lost: its RTT. */
  readonly onLate?: (target: string, rttMs: number) => void;
  /** A round starts now: other work due soon may share the wake-up (the passive signal's read). */
  readonly onRoundStart?: () => void;
}

/** A heartbeat whose answer is still waited for. */
interface InFlight {
  readonly target: string;
  readonly sentAt: number;
  deadline: number;
  timer: NodeJS.Timeout | undefined;
  settle(r: HeartbeatOutcome): void;
}

export class UplinkProber {
  private readonly pingers: { 4: IcmpPinger; 6: IcmpPinger };
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private nextAt = 0;
  private lastStart = 0;
  /** Sends the rest of the round in flight at once (set while it spreads its heartbeats). */
  private hurry: (() => void) | undefined;
  private readonly answeredLast = new Map<string, boolean>();
  private readonly inFlight = new Set<InFlight>();
  private delivered: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(private readonly opts: ProberOptions) {
    const { uplink, clock } = opts;
    this.pingers = { 4: new IcmpPinger(uplink.interface, 4, clock), 6: new IcmpPinger(uplink.interface, 6, clock) };
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.nextAt = this.opts.clock() + (this.opts.phaseMs ?? 0);
    this.timer = setTimeout(() => this.tick(), this.opts.phaseMs ?? 0);
  }

  private paceMs(): number {
    return this.opts.pace?.() ?? this.opts.uplink.probe.intervalMs;
  }

  /**
   * Fast confirmation: the rest of the round in flight goes out now, and a new round starts.
   * Heartbeats still waited for are judged by the timeout in force now (a path gone silent
   * waits no longer than its RTT says), so their rounds do not hold back the new ones.
   */
  confirm(): void {
    if (this.stopped) return;
    this.hurry?.();
    for (const f of this.inFlight) this.arm(f, Math.min(f.deadline, f.sentAt + this.opts.timeoutFor(f.target)));
    clearTimeout(this.timer);
    this.tick(true);
  }

  private arm(f: InFlight, deadline: number): void {
    f.deadline = deadline;
    clearTimeout(f.timer);
    // When the deadline passes, an answer already in the socket is read first: setImmediate
    // runs after the event loop's poll phase, so a busy loop does not turn answers into losses.
    f.timer = setTimeout(() => setImmediate(() => f.settle({ ok: false, error: 'timeout' })), Math.max(0, deadline - this.opts.clock()));
  }

  /** One heartbeat, judged by its deadline; the socket listens on for a late answer. */
  private heartbeat(t: Target): Promise<HeartbeatOutcome> {
    const { uplink, clock, listenMs } = this.opts;
    const sentAt = clock();
    const answer = t.kind === 'tcp' ? tcpHeartbeat(uplink.interface, t.host, t.port!, listenMs) : this.pingers[t.family].echo(t.host, listenMs);
    return new Promise((resolve) => {
      const f: InFlight = {
        target: t.label,
        sentAt,
        deadline: Infinity,
        timer: undefined,
        settle: (r) => {
          if (!this.inFlight.delete(f)) return;
          clearTimeout(f.timer);
          resolve(r);
        },
      };
      this.inFlight.add(f);
      this.arm(f, sentAt + this.opts.timeoutFor(t.label));
      void answer.then((r) => {
        if (this.inFlight.has(f)) f.settle(r);
        // Whether it may teach the estimate is track/'s to say (Karn's rule, health/rto.ts).
        else if (r.ok && r.rttMs !== undefined && !this.stopped) this.opts.onLate?.(t.label, r.rttMs);
      });
    });
  }

  /**
   * Takes a new pace into account now: after a failed round the next one comes sooner
   * (fast confirmation) instead of after the rest of the healthy interval.
   */
  repace(): void {
    if (this.stopped) return;
    const now = this.opts.clock();
    const want = Math.max(now, this.lastStart + this.paceMs());
    if (want >= this.nextAt) return;
    clearTimeout(this.timer);
    this.nextAt = want;
    this.timer = setTimeout(() => this.tick(), want - now);
  }

  private tick(confirming = false): void {
    if (this.stopped) return;
    // A confirmation's round is due when it is asked for; a paced one at nextAt.
    const lateMs = confirming ? 0 : Math.max(0, this.opts.clock() - this.nextAt);
    const round = this.runRound(confirming, lateMs);
    this.opts.onRoundStart?.();
    this.delivered = this.delivered.then(async () => {
      const r = await round;
      if (!this.stopped) this.opts.onRound(r);
    });
    const pace = this.paceMs();
    const now = this.opts.clock();
    // Keep a steady cadence; after a stall (a busy event loop) skip the rounds missed.
    this.nextAt = this.lastStart + pace;
    if (this.nextAt < now) this.nextAt = now + pace;
    this.timer = setTimeout(() => this.tick(), this.nextAt - now);
  }

  private async runRound(confirming: boolean, lateMs: number): Promise<ProbeRound> {
    const { uplink, clock } = this.opts;
    const seq = ++this.seq;
    const startedAt = clock();
    this.lastStart = startedAt;
    // The round's heartbeats are spread over the pace: one goes out every pace/n. A round that
    // confirms a failure packs them into a quarter of the failure pace: a verdict is due.
    const spacing = (confirming ? this.opts.confirmPaceMs / 4 : this.paceMs()) / uplink.targets.length;
    const waits = new Set<() => void>();
    this.hurry = () => {
      for (const w of waits) w();
      waits.clear();
    };
    const results = await Promise.all(
      uplink.targets.map(async (t, i): Promise<HeartbeatResult> => {
        if (i > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, i * spacing);
            function done(): void {
              clearTimeout(timer);
              waits.delete(done);
              resolve();
            }
            waits.add(done);
          });
        }
        if (this.stopped) return { target: t.label, ok: false, error: HEARTBEAT_CLOSED };
        const r = await this.heartbeat(t);
        const answeredBefore = this.answeredLast.get(t.label) ?? true;
        this.answeredLast.set(t.label, r.ok);
        // A target that just stopped answering: confirm now rather than at the next round.
        if (!r.ok && answeredBefore && r.error !== HEARTBEAT_CLOSED && this.opts.confirmOnFailure?.()) this.confirm();
        return { target: t.label, ...r };
      }),
    );
    return { seq, startedAt, lateMs, results };
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
    this.hurry?.(); // heartbeats still waiting for their slot end as HEARTBEAT_CLOSED at once
    for (const f of [...this.inFlight]) f.settle({ ok: false, error: HEARTBEAT_CLOSED });
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pingers[4].close();
    this.pingers[6].close();
  }
}

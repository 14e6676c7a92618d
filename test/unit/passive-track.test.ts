// track/: the passive signal and `timeout: auto` through the reducer, on a fake clock: `traffic`
// samples every 10 ms start a confirmation by heartbeats when a flow goes silent; a round
// started during it ends it either way; a `late` answer teaches the estimate. Then once
// through the Daemon, with the fake counters, scheduler and probers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrafficCounters } from '../../src/health/index.js';
import type { LinkInfo } from '../../src/types/link.js';
import { upLink } from '../../src/link/index.js';
import { FakeCounters } from '../../src/nft/index.js';
import type { LoggedPacket, LoggedPackets } from '../../src/netlink/nflog.js';
import { setup } from './fake-daemon.js';
import { TrackSession } from './track-session.js';
import { type Effect, heartbeatTimeout, passiveSpan, proberPace, type TrackedUplink } from '../../src/track/index.js';
import type { UplinkState } from '../../src/types/index.js';

const TWO = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, priority: 1, targets: [icmp: 198.51.100.10, icmp: 198.51.100.11] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
probe: { interval: 1s }
`;
const T0 = 'icmp 198.51.100.10';
const T1 = 'icmp 198.51.100.11';

const LINKS: LinkInfo[] = [upLink('wan1', 11, '100.64.1.2/24'), upLink('wan2', 12, '100.64.2.2/24')];

/** A session with the reducer (each effect kept with its time in `timed`); fiber's counters kept running. */
class Session extends TrackSession {
  tx = 0;
  rx = 0;
  constructor(yaml = TWO) {
    super(yaml, LINKS);
  }
  get fiber(): TrackedUplink {
    return this.t.uplinks.get('fiber')!;
  }
  /** A round of fiber's started at `startedAt`, delivered at `ms`: `answers[i]` for target i (an RTT, or false: a timeout). */
  fiberRound(ms: number, answers: (number | false)[], startedAt = ms): Effect[] {
    return this.round('fiber', ms, answers, startedAt);
  }
  /** fiber `up` by 1 s rounds at 1-5 s (the default `up: 5`), every RTT 0.5 ms. */
  up(): this {
    for (let ms = 1000; ms <= 5000; ms += 1000) this.fiberRound(ms, [0.5, 0.5]);
    assert.equal(this.fiberState(), 'up');
    return this;
  }
  /** Samples of fiber's counters every 10 ms over [from, to): `b` both ways, `t` out only, `.` nothing (5 packets each way per sample). */
  traffic(from: number, to: number, kind: 'b' | 't' | '.'): void {
    for (let ms = from; ms < to; ms += 10) {
      if (kind !== '.') this.tx += 5;
      if (kind === 'b') this.rx += 5;
      const c: TrafficCounters = { txPackets: this.tx, txBytes: this.tx * 100, rxPackets: this.rx, rxBytes: this.rx * 1000 };
      this.send({ kind: 'traffic', counters: new Map([['fiber', c]]) }, ms);
    }
  }
  fiberState(): UplinkState | undefined {
    return this.state('fiber');
  }
  /** The times of fiber's `prober confirm` effects. */
  confirms(): number[] {
    return this.timed.filter(([, e]) => e.kind === 'prober' && e.action === 'confirm').map(([ms]) => ms);
  }
  passiveLogs(): [number, Record<string, unknown>][] {
    return this.timed
      .filter(([, e]) => e.kind === 'log' && e.fields.event === 'passive')
      .map(([ms, e]) => [ms, (e as Extract<Effect, { kind: 'log' }>).fields]);
  }
}

/** fiber up; its flow both ways from 5 s; from 6 s nothing comes back (sampled to 6.2 s): the signal at 6.05 s. */
function silenced(yaml = TWO): Session {
  const s = new Session(yaml).up();
  s.traffic(5010, 6000, 'b');
  s.traffic(6000, 6200, 't');
  return s;
}

describe('passive track: a flow that goes silent starts one confirmation', () => {
  it('one `prober confirm` and one log, when the silence reaches the span (50 ms)', () => {
    const s = new Session().up();
    s.traffic(5010, 6000, 'b');
    const before = s.timed.length;
    s.traffic(6000, 6200, 't');
    const after = s.timed.slice(before);
    assert.deepEqual(
      after.map(([ms, e]) => [ms, e.kind]),
      [
        [6050, 'log'],
        [6050, 'prober'],
      ],
      'nothing else, and nothing more while it runs',
    );
    assert.deepEqual(after[1]![1], { kind: 'prober', uplink: 'fiber', action: 'confirm' });
    assert.deepEqual(after[0]![1], {
      kind: 'log',
      level: 'info',
      uplink: 'fiber',
      fields: { event: 'passive', silent_ms: 50, sent: 30, span_ms: 50 },
      msg: 'fiber: 30 packets sent in 50 ms without an answer (span 50 ms): confirming with heartbeats',
    });
    assert.deepEqual([s.fiber.passive.confirmingSince, s.fiber.passive.started], [6050, 1]);
  });

  it('the prober then runs at the failure pace (50 ms) and starts no confirmation of its own', () => {
    const s = new Session().up();
    s.traffic(5010, 6000, 'b');
    assert.deepEqual(proberPace(s.fiber), { intervalMs: 1000, confirm: true });
    s.traffic(6000, 6050, 't');
    assert.deepEqual(proberPace(s.fiber), { intervalMs: 1000, confirm: true }, 'one sample short of the span');
    s.traffic(6050, 6060, 't');
    assert.deepEqual(proberPace(s.fiber), { intervalMs: 50, confirm: false });
  });

  it('the other uplink knows nothing of it', () => {
    const s = silenced();
    assert.deepEqual([s.t.uplinks.get('dsl')!.passive.started, s.t.uplinks.get('dsl')!.passive.counters], [0, undefined]);
  });

  it('an uplink that is not up yet (init) starts nothing', () => {
    const s = new Session();
    for (let ms = 1000; ms <= 4000; ms += 1000) s.fiberRound(ms, [0.5, 0.5]);
    assert.equal(s.fiberState(), 'init');
    s.traffic(4010, 5000, 'b');
    s.traffic(5000, 6000, 't');
    assert.deepEqual(s.confirms(), []);
  });

  it('counters of an uplink not in the config are ignored', () => {
    const s = new Session().up();
    const before = s.t;
    s.send({ kind: 'traffic', counters: new Map([['lte', { txPackets: 1, txBytes: 1, rxPackets: 0, rxBytes: 0 }]]) }, 5010);
    assert.equal(s.t, before);
  });

  it('`probe.passive: false` never confirms, though the silence is tracked', () => {
    const s = silenced(TWO.replace('probe: { interval: 1s }', 'probe: { interval: 1s, passive: false }'));
    s.traffic(6200, 8000, 't');
    assert.deepEqual([s.confirms(), s.passiveLogs()], [[], []]);
    assert.deepEqual([s.fiber.passive.started, s.fiber.passive.silentSince], [0, 6000]);
    assert.deepEqual(proberPace(s.fiber), { intervalMs: 1000, confirm: true });
  });
});

describe('passive track: how a confirmation ends', () => {
  // A round delivered at 6.07 s, started at `startedAt`, with these answers -> does it refute
  // the confirmation that began at 6.05 s?
  const rows: [string, number, (number | false)[], boolean][] = [
    ['started at the confirmation, answered: refuted', 6050, [0.5, 0.5], true],
    ['started after it, one target answered: refuted', 6055, [0.5, false], true],
    ['started before it (in flight), answered: not a refutation', 6040, [0.5, 0.5], false],
    ['started after it, nothing answered: still confirming', 6055, [false, false], false],
  ];
  for (const [what, startedAt, answers, refuted] of rows) {
    it(what, () => {
      const s = new Session().up();
      s.traffic(5010, 6000, 'b');
      s.traffic(6000, 6070, 't');
      s.fiberRound(6070, answers, startedAt);
      assert.deepEqual(
        [s.fiber.passive.confirmingSince, s.fiber.passive.refuted, s.passiveLogs().filter(([, f]) => f.refuted).length],
        refuted ? [undefined, 1, 1] : [6050, 0, 0],
      );
    });
  }

  it('refuted: logged with the holdoff (the interval, 1 s); the pace goes back', () => {
    const s = silenced();
    const effects = s.fiberRound(6205, [0.5, 0.5], 6200);
    assert.deepEqual(
      effects.filter((e) => e.kind === 'log' && e.fields.event === 'passive'),
      [
        {
          kind: 'log',
          level: 'info',
          uplink: 'fiber',
          fields: { event: 'passive', refuted: true, holdoff_ms: 1000 },
          msg: 'fiber: heartbeats answer; the silence was not a failure (next passive confirmation in 1000 ms at the earliest)',
        },
      ],
    );
    assert.deepEqual([s.fiber.passive.holdoffUntil, s.fiber.passive.falseAlarms], [7205, 1]);
    assert.deepEqual(proberPace(s.fiber), { intervalMs: 1000, confirm: true });
    assert.equal(s.fiberState(), 'up');
  });

  it('a later silence within the holdoff starts nothing; one that outlasts it confirms when it ends', () => {
    const s = new Session().up();
    s.traffic(5010, 6000, 'b');
    s.traffic(6000, 6070, 't');
    s.fiberRound(6065, [0.5, 0.5], 6050); // refuted: held off until 7065
    s.traffic(6070, 6500, 'b');
    s.traffic(6500, 7200, 't'); // silent from 6.5 s: the span is reached at 6.55 s
    assert.deepEqual(s.confirms(), [6050, 7070], 'the second at the first sample after the holdoff');
    const [, last] = s.passiveLogs().at(-1)!;
    // The silence since 6.5 s: 58 samples of 5 packets, unanswered.
    assert.deepEqual(last, { event: 'passive', silent_ms: 570, sent: 290, span_ms: 50 });
    assert.equal(s.fiber.passive.started, 2);
  });

  it('a silence that ends within the holdoff starts nothing at all', () => {
    const s = new Session().up();
    s.traffic(5010, 6000, 'b');
    s.traffic(6000, 6070, 't');
    s.fiberRound(6065, [0.5, 0.5], 6050);
    s.traffic(6070, 6500, 'b');
    s.traffic(6500, 7000, 't');
    s.traffic(7000, 9000, 'b');
    assert.deepEqual(s.confirms(), [6050]);
  });

  it('three failed rounds: fiber down, the confirmation confirmed and cleared; no signal while down', () => {
    const s = silenced();
    s.fiberRound(6100, [false, false], 6050);
    s.fiberRound(6150, [false, false], 6100);
    assert.deepEqual([s.fiberState(), s.fiber.passive.confirmingSince], ['up', 6050]);
    s.fiberRound(6200, [false, false], 6150);
    assert.equal(s.fiberState(), 'down');
    const p = s.fiber.passive;
    assert.deepEqual([p.confirmingSince, p.falseAlarms, p.holdoffUntil, p.started, p.refuted], [undefined, 0, 0, 1, 0]);
    assert.deepEqual(
      s.timed.filter(([, e]) => e.kind === 'log' && e.fields.event === 'state').map(([ms, e]) => [ms, (e as Extract<Effect, { kind: 'log' }>).msg]),
      [
        [5000, 'fiber: init -> up (5 good rounds)'],
        [6200, 'fiber: up -> down (3 failed rounds (0 of 2 targets answered, 1 needed))'],
      ],
    );
    assert.deepEqual(proberPace(s.fiber), { intervalMs: 1000, confirm: false });
    s.traffic(6200, 9000, 't');
    assert.deepEqual(s.confirms(), [6050], 'a down uplink carries nothing: no signal');
  });

  it('no round at all for 6 s (a stopped prober): the confirmation is given up (not refuted), and the next held off an interval', () => {
    const s = silenced();
    s.traffic(6200, 12_060, 't');
    assert.equal(s.fiber.passive.confirmingSince, 6050, 'still running at 12.05 s');
    s.traffic(12_060, 12_070, 't');
    assert.deepEqual([s.fiber.passive.confirmingSince, s.fiber.passive.refuted, s.fiber.passive.holdoffUntil], [undefined, 0, 13_060]);
    s.traffic(12_070, 13_100, 't');
    assert.deepEqual(s.confirms(), [6050, 13_060]);
  });
});

describe('passive track: the timeout in force (`timeout: auto`)', () => {
  it('1000 ms while answers flow, the RTO (50 ms for sub-ms RTTs) once the silence reaches the span', () => {
    const s = new Session().up();
    assert.equal(heartbeatTimeout(s.fiber, T0, 5000), 50, 'no traffic: the RTO');
    s.traffic(5010, 6000, 'b');
    assert.equal(heartbeatTimeout(s.fiber, T0, 5990), 1000);
    s.traffic(6000, 6050, 't');
    assert.deepEqual([heartbeatTimeout(s.fiber, T0, 6040), heartbeatTimeout(s.fiber, T0, 6049), heartbeatTimeout(s.fiber, T0, 6050)], [1000, 1000, 50]);
    assert.equal(heartbeatTimeout(s.fiber, T1, 6050), 50);
  });

  it('answers that stop with the sending (idle): 1000 ms for a second, then the RTO', () => {
    const s = new Session().up();
    s.traffic(5010, 6000, 'b');
    s.traffic(6000, 7500, '.');
    assert.deepEqual([heartbeatTimeout(s.fiber, T0, 6990), heartbeatTimeout(s.fiber, T0, 6991)], [1000, 50]);
  });

  it('an explicit timeout is what it says', () => {
    const s = new Session(TWO.replace('probe: { interval: 1s }', 'probe: { interval: 1s, timeout: 200ms }')).up();
    s.traffic(5010, 6000, 'b');
    assert.deepEqual([heartbeatTimeout(s.fiber, T0, 5990), heartbeatTimeout(s.fiber, T0, 6500)], [200, 200]);
  });

  it('before any answer: 1000 ms, and a span of 1000 ms', () => {
    const s = new Session();
    assert.deepEqual([heartbeatTimeout(s.fiber, T0, 0), passiveSpan(s.fiber)], [1000, 1000]);
  });

  it("a `late` answer raises its target's estimate: its timeout and the span grow, the other target's stays", () => {
    const s = new Session().up();
    assert.deepEqual([heartbeatTimeout(s.fiber, T0, 5000), heartbeatTimeout(s.fiber, T1, 5000), passiveSpan(s.fiber)], [50, 50, 50]);
    // Five samples of 0.5 ms: SRTT 0.5, RTTVAR 0.0791015625; then 800.5 ms:
    // RTTVAR = 3/4 * 0.0791015625 + 1/4 * 800 = 200.059326171875, SRTT = 100.5, RTO = 100.5 + 4 * RTTVAR
    s.send({ kind: 'late', uplink: 'fiber', target: T0, rttMs: 800.5 }, 5500);
    assert.deepEqual(s.fiber.rtt.get(T0), { srttMs: 100.5, rttvarMs: 200.059326171875 });
    assert.deepEqual([heartbeatTimeout(s.fiber, T0, 5500), heartbeatTimeout(s.fiber, T1, 5500), passiveSpan(s.fiber)], [900.7373046875, 50, 900.7373046875]);
    assert.equal(s.fiberState(), 'up', 'the verdict stands');
  });

  it("Karn's rule, in a round and late: a TCP handshake of 1 s or more teaches nothing (it may answer the second SYN); an echo reply always does", () => {
    const s = new Session(TWO.replace('icmp: 198.51.100.11]', 'tcp: "198.51.100.11:443"]'));
    const TCP = 'tcp 198.51.100.11:443';
    s.fiberRound(1000, [400, 999]);
    assert.deepEqual([s.fiber.rtt.get(T0)?.srttMs, s.fiber.rtt.get(TCP)?.srttMs], [400, 999]);
    s.fiberRound(2000, [1500, 1000]);
    assert.deepEqual([s.fiber.rtt.get(T0)?.srttMs, s.fiber.rtt.get(TCP)?.srttMs], [400 + (1500 - 400) / 8, 999]);
    s.send({ kind: 'late', uplink: 'fiber', target: TCP, rttMs: 2500 }, 5500);
    assert.equal(s.fiber.rtt.get(TCP)?.srttMs, 999);
    s.send({ kind: 'late', uplink: 'fiber', target: TCP, rttMs: 7 }, 5600);
    assert.equal(s.fiber.rtt.get(TCP)?.srttMs, 999 - (999 - 7) / 8);
  });

  it('a `late` answer for an unknown target or uplink changes nothing', () => {
    const s = new Session().up();
    s.send({ kind: 'late', uplink: 'fiber', target: 'icmp 192.0.2.1', rttMs: 900 }, 5500);
    assert.deepEqual([...s.fiber.rtt.keys()], [T0, T1]);
    assert.equal(passiveSpan(s.fiber), 50);
    const before = s.t;
    s.send({ kind: 'late', uplink: 'lte', target: T0, rttMs: 900 }, 5600);
    assert.equal(s.t, before);
  });

  it('a slow answer in a round raises the span, so the signal waits longer', () => {
    const s = new Session();
    for (let ms = 1000; ms <= 4000; ms += 1000) s.fiberRound(ms, [0.5, 0.5]);
    s.fiberRound(5000, [0.5, 100.5]); // T1: RTTVAR 0.75 * 0.10546875 + 25 = 25.0791015625, SRTT 13
    assert.equal(s.fiberState(), 'up');
    assert.equal(passiveSpan(s.fiber), 13 + 4 * 25.0791015625);
    s.traffic(5010, 6000, 'b');
    s.traffic(6000, 6300, 't');
    assert.deepEqual(s.confirms(), [6120], 'the first sample at least 113.3 ms into the silence');
  });
});

describe('passive track: through the Daemon (fake counters, scheduler and probers)', () => {
  const CONFIG = `
uplinks:
  - { name: fiber, interface: wan1, gateway: 100.64.1.1, priority: 1, targets: [icmp: 198.51.100.10, icmp: 198.51.100.11] }
  - { name: dsl, interface: wan2, gateway: 100.64.2.1, priority: 2, targets: [icmp: 198.51.100.10] }
probe: { up: 2, down: 2, interval: 1s }
routing: { table: 100, failback: { hold: 1ms, steps: [100], step_interval: 1ms } }
`;

  it('the sampler reads the counters every 10 ms, the reducer sees them, and a silence calls confirm() on the prober', async () => {
    const counters = new FakeCounters();
    const { daemon, clock, probers, logs } = setup(CONFIG, { counters });
    /** Lets the sampler's read (a promise) finish and the next one be armed. */
    const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
    let seq = 0;
    const round = async (ok: boolean) => {
      clock.advance(1000);
      await flush();
      daemon.dispatch({
        kind: 'round',
        uplink: 'fiber',
        round: {
          seq: ++seq,
          startedAt: clock.mono,
          results: [T0, T1].map((target) => (ok ? { target, ok: true, rttMs: 0.5 } : { target, ok: false, error: 'timeout' })),
        },
      });
      await daemon.idle();
    };
    await daemon.start();
    assert.equal(counters.reads, 0, 'the first read comes a sample after start');
    await round(true);
    await round(true);
    const fiberProber = probers.find((p) => p.spec.uplink.name === 'fiber')!;
    assert.equal(fiberProber.spec.timeoutFor(T0), 50, 'sub-ms RTTs, no traffic: the floor');

    // Counters in the table from now on: 5 packets each way per 10 ms, then out only.
    let tx = 0;
    let rx = 0;
    const confirmedAt: number[] = [];
    const sample = async (both: boolean) => {
      tx += 5;
      if (both) rx += 5;
      counters.values.set('tx_fiber', { packets: tx, bytes: tx * 100 }).set('rx_fiber', { packets: rx, bytes: rx * 1000 });
      const before = fiberProber.calls.filter((c) => c === 'confirm').length;
      clock.advance(10);
      await flush();
      if (fiberProber.calls.filter((c) => c === 'confirm').length > before) confirmedAt.push(clock.mono);
    };
    const readsBefore = counters.reads;
    const t0 = clock.mono;
    for (let i = 0; i < 150; i++) await sample(true);
    assert.equal(counters.reads - readsBefore, 150, 'one read per 10 ms');
    const status = daemon.summary().uplinks.find((u) => u.name === 'fiber')!;
    assert.deepEqual(
      [
        status.passive.sent_packets_per_s,
        status.passive.answer_packets_per_s,
        status.passive.sent_bytes_per_s,
        status.passive.answer_bytes_per_s,
        status.passive.last_answer_ms_ago,
      ],
      [500, 500, 50_000, 500_000, 0],
      "the reducer has the sampler's figures",
    );
    assert.equal(fiberProber.spec.timeoutFor(T0), 1000, 'answers flow: 1 s');
    for (let i = 0; i < 20; i++) await sample(false);
    // Silent from the sample at t0 + 1510 ms: the span (50 ms) is reached at t0 + 1560 ms.
    assert.deepEqual(
      confirmedAt.map((ms) => ms - t0),
      [1560],
    );
    assert.equal(fiberProber.spec.confirmOnFailure(), false, 'the prober starts no confirmation of its own meanwhile');
    assert.equal(fiberProber.spec.pace(), 50);
    assert.equal(fiberProber.spec.timeoutFor(T0), 50, 'silent: the RTO');
    assert.deepEqual(
      logs.filter((l) => l.event === 'passive').map((l) => [l.uplink, l.silent_ms, l.sent, l.span_ms]),
      [['fiber', 50, 30, 50]],
    );
    const dsl = probers.find((p) => p.spec.uplink.name === 'dsl')!;
    assert.ok(!dsl.calls.includes('confirm'), 'dsl has no counters: no signal');
    await daemon.stop();
    assert.equal(counters.closed, true);
    const reads = counters.reads;
    clock.advance(1000);
    await flush();
    assert.equal(counters.reads, reads, 'no read after stop');
  });

  /** A daemon with the sampler's wake-ups, started, fiber answered twice. */
  const startedWithWakes = async (counters: FakeCounters, wakes: LoggedPackets) => {
    const s = setup(CONFIG, { counters, passiveWakes: wakes });
    const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
    await s.daemon.start();
    await flush();
    for (let i = 0; i < 2; i++) {
      s.round('fiber', true, true);
      await s.settle();
    }
    return { ...s, flush };
  };

  it('with wake-ups (NFLOG): reads at the heartbeat pace while answered; a wake-up reads at once, then every 10 ms until the confirmation is over', async () => {
    const counters = new FakeCounters();
    let onPacket: ((p: LoggedPacket) => void) | undefined;
    const wakes: LoggedPackets = {
      start: async (packet) => {
        onPacket = packet;
      },
      close: () => {
        onPacket = undefined;
      },
    };
    const { daemon, clock, probers, flush } = await startedWithWakes(counters, wakes);
    assert.ok(onPacket, 'the NFLOG group is bound at start');
    let tx = 0;
    let rx = 0;
    const set = () => counters.values.set('tx_fiber', { packets: tx, bytes: tx * 100 }).set('rx_fiber', { packets: rx, bytes: rx * 1000 });
    set();
    // Two seconds of two-way traffic in 10 ms steps: a read a second, not a hundred.
    const before = counters.reads;
    for (let i = 0; i < 200; i++) {
      tx += 5;
      rx += 5;
      set();
      clock.advance(10);
      await flush();
    }
    assert.ok(counters.reads - before <= 3, `reads while answered: ${counters.reads - before}`);
    // The path goes silent; 50 ms later the kernel logs a packet out of wan1 (ifindex 11).
    const fiber = probers.find((p) => p.spec.uplink.name === 'fiber')!;
    const woke = clock.mono;
    tx += 25;
    set();
    onPacket!({ inIfindex: 0, outIfindex: 11 });
    await flush();
    const atWake = counters.reads;
    assert.equal(atWake - before > 0, true);
    const confirmed: number[] = [];
    for (let i = 0; i < 10; i++) {
      tx += 5;
      set();
      const n = fiber.calls.filter((c) => c === 'confirm').length;
      clock.advance(10);
      await flush();
      if (fiber.calls.filter((c) => c === 'confirm').length > n) confirmed.push(clock.mono - woke);
    }
    assert.ok(counters.reads - atWake >= 9, `reads every 10 ms after the wake-up: ${counters.reads - atWake}`);
    // The silence is taken to have begun 50 ms before the wake-up: the span (50 ms) is reached at once.
    assert.deepEqual(confirmed, [10]);
    await daemon.stop();
    assert.equal(onPacket, undefined, 'closed at stop');
  });

  it('with wake-ups, a read due within half its interval is taken at a round start, so both share one wake-up', async () => {
    const counters = new FakeCounters();
    const wakes: LoggedPackets = { start: async () => undefined, close: () => undefined };
    const { daemon, clock, probers, flush } = await startedWithWakes(counters, wakes);
    counters.values.set('tx_fiber', { packets: 5, bytes: 500 }).set('rx_fiber', { packets: 5, bytes: 5000 });
    const fiber = probers.find((p) => p.spec.uplink.name === 'fiber')!;
    const readsAt: number[] = [];
    const step = async (ms: number) => {
      for (let i = 0; i < ms / 10; i++) {
        const n = counters.reads;
        clock.advance(10);
        await flush();
        if (counters.reads > n) readsAt.push(clock.mono);
      }
    };
    const roundStarts = async () => {
      const n = counters.reads;
      fiber.spec.onRoundStart();
      await flush();
      if (counters.reads > n) readsAt.push(clock.mono);
    };
    // The reads go at the heartbeat pace (1 s) on their own timer: find one.
    await step(1000);
    const r = readsAt.at(-1)!;
    readsAt.length = 0;
    await step(300);
    await roundStarts(); // the next read is due in 700 ms: too early, nothing read
    await step(300);
    await roundStarts(); // due in 400 ms: read now
    await step(1000);
    await roundStarts(); // due now (its timer fired in the same moment): no second read
    await step(990);
    await roundStarts(); // due in 10 ms: read now
    assert.deepEqual(
      readsAt.map((ms) => ms - r),
      [600, 1600, 2590],
    );
    await daemon.stop();
  });
});

// The reducer on a fake clock, shared by the track/ tables: events at fake times, the tracking
// they lead to, and every effect kept (with its time in `timed`).
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { type Effect, initialTracking, type Now, type TrackEvent, type Tracking, track } from '../../src/track/index.js';
import type { Family, HeartbeatResult, UplinkState } from '../../src/types/index.js';
import type { LinkInfo } from '../../src/types/link.js';

export const WALL0 = Date.parse('2026-11-21T10:00:00Z');
export const at = (ms: number): Now => ({ wall: WALL0 + ms, mono: ms });

/** One heartbeat's answer in a round: true (an answer, 2 ms), an RTT, false (a timeout), or an errno. */
export type Answer = boolean | number | string;

export class TrackSession {
  t: Tracking;
  readonly effects: Effect[] = [];
  readonly timed: [number, Effect][] = [];
  seq = 0;

  constructor(
    yaml: string,
    readonly links: LinkInfo[],
  ) {
    const parsed = parseConfig(yaml);
    assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
    this.t = initialTracking(parsed.config);
    this.send({ kind: 'start', snapshot: this.snapshot() }, 0);
  }

  snapshot(): Map<string, LinkInfo> {
    return new Map(this.links.map((l) => [l.name, l]));
  }

  send(event: TrackEvent, ms: number): Effect[] {
    const step = track(this.t, event, at(ms));
    this.t = step.state;
    this.effects.push(...step.effects);
    for (const e of step.effects) this.timed.push([ms, e]);
    return [...step.effects];
  }

  /** A round of `uplink` started at `startedAt`, delivered at `ms`: `answers[i]` for target i. */
  round(uplink: string, ms: number, answers: Answer[], startedAt = ms): Effect[] {
    const u = this.t.config.uplinks.find((x) => x.name === uplink)!;
    const results: HeartbeatResult[] = answers.map((a, i) => {
      const target = u.targets[i]!.label;
      if (a === true || typeof a === 'number') return { target, ok: true, rttMs: a === true ? 2 : a };
      return { target, ok: false, error: a === false ? 'timeout' : a };
    });
    return this.send({ kind: 'round', uplink, round: { seq: ++this.seq, startedAt, results } }, ms);
  }

  state(uplink: string, family: Family = 4): UplinkState | undefined {
    return this.t.uplinks.get(uplink)!.health.get(family)?.state;
  }

  /** The apply asked for begins and goes through at `ms`: what waited for it runs. */
  applied(ms: number, changes: string[] = []): Effect[] {
    this.send({ kind: 'apply-begun' }, ms);
    return this.send({ kind: 'applied', report: { changes, missing: [], refused: [], foreign: [], connected: [], deferred: [] }, reasons: [] }, ms);
  }
}

// What a reload changes: which uplinks to start, stop or restart, and whether routing moved.
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../types/index.js';

export interface ConfigDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Uplinks whose interface, targets, probe settings or next hop changed: probed afresh. */
  readonly changed: readonly string[];
  /** Uplinks where only priority or weight changed: health is kept, steering redone. */
  readonly reweighted: readonly string[];
  readonly routingChanged: boolean;
  readonly socketChanged: boolean;
}

export function diffConfig(before: Config, after: Config): ConfigDiff {
  const old = new Map(before.uplinks.map((u) => [u.name, u]));
  const added: string[] = [];
  const changed: string[] = [];
  const reweighted: string[] = [];
  for (const u of after.uplinks) {
    const prev = old.get(u.name);
    if (!prev) added.push(u.name);
    else {
      const { priority: p1, weight: w1, ...rest1 } = prev;
      const { priority: p2, weight: w2, ...rest2 } = u;
      if (!isDeepStrictEqual(rest1, rest2)) changed.push(u.name);
      else if (p1 !== p2 || w1 !== w2) reweighted.push(u.name);
    }
  }
  const names = new Set(after.uplinks.map((u) => u.name));
  const removed = before.uplinks.filter((u) => !names.has(u.name)).map((u) => u.name);
  return {
    added,
    removed,
    changed,
    reweighted,
    routingChanged: !isDeepStrictEqual(before.routing, after.routing),
    socketChanged: before.control.socket !== after.control.socket,
  };
}

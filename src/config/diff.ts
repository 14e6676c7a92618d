// What a reload changes: which uplinks to start, stop or restart, and whether routing moved.
import { isDeepStrictEqual } from 'node:util';
import type { Config, UplinkConfig } from '../types/index.js';
import type { ConfigDiff } from '../types/config-diff.js';

/** What identifies an uplink's path: a change here makes its verdict meaningless. */
function path(u: UplinkConfig): unknown {
  return { interface: u.interface, gateway: u.gateway, gateway6: u.gateway6, targets: u.targets };
}

export function diffConfig(before: Config, after: Config): ConfigDiff {
  const old = new Map(before.uplinks.map((u) => [u.name, u]));
  const added: string[] = [];
  const changed: string[] = [];
  const retuned: string[] = [];
  const reweighted: string[] = [];
  for (const u of after.uplinks) {
    const prev = old.get(u.name);
    if (!prev) added.push(u.name);
    else if (!isDeepStrictEqual(path(prev), path(u))) changed.push(u.name);
    else if (!isDeepStrictEqual(prev.probe, u.probe)) retuned.push(u.name);
    else if (prev.priority !== u.priority || prev.weight !== u.weight) reweighted.push(u.name);
    // The uplink's own table follows routing.table and its position: applied, not a restart.
  }
  const names = new Set(after.uplinks.map((u) => u.name));
  const removed = before.uplinks.filter((u) => !names.has(u.name)).map((u) => u.name);
  return {
    added,
    removed,
    changed,
    retuned,
    reweighted,
    routingChanged: !isDeepStrictEqual(before.routing, after.routing),
    socketChanged: before.control.socket !== after.control.socket,
    mptcpChanged: !isDeepStrictEqual(before.mptcp, after.mptcp),
  };
}

// steer/: an operator's overrides (`uplinkd drain|prefer`) as they bend what steering is told.
// Pure.
import { usableState } from '../types/index.js';
import type { SteerUplink } from './steer.js';

export type OverrideKind = 'drain' | 'prefer';

/**
 * A drained uplink is steered as if down, but only while another uplink that is not drained
 * answers: draining the last working uplink would cut the site off, so it carries on, and the
 * note says so. A preferred one is steered above every configured tier (priorities start at 0).
 */
export function withOverrides(uplinks: readonly SteerUplink[], overrides: ReadonlyMap<string, OverrideKind>): { uplinks: SteerUplink[]; note: string } {
  if (overrides.size === 0) return { uplinks: [...uplinks], note: '' };
  const kind = (u: SteerUplink) => overrides.get(u.name);
  const others = uplinks.some((u) => kind(u) !== 'drain' && usableState(u.state));
  const bent = uplinks.map((u) => {
    if (kind(u) === 'prefer') return { ...u, priority: -1 };
    if (kind(u) === 'drain' && others) return { ...u, state: 'down' as const };
    return u;
  });
  const named = (k: OverrideKind) => uplinks.filter((u) => kind(u) === k).map((u) => u.name);
  const drained = named('drain');
  const preferred = named('prefer');
  const notes = [
    ...(drained.length ? [others ? `drained: ${drained.join(', ')}` : `drained but no other uplink answers: ${drained.join(', ')}`] : []),
    ...(preferred.length ? [`preferred: ${preferred.join(', ')}`] : []),
  ];
  return { uplinks: bent, note: notes.join('; ') };
}

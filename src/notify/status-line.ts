// notify/: the one-line summary systemd shows (`systemctl status`, STATUS=): each uplink's
// health and its share of new flows, as the kernel's routes carry them. Pure.
import type { StatusReport } from '../types/status.js';
import { usableState } from '../types/index.js';

/** `fiber up, 100% of new flows; lte up, standby`; `ALL DOWN: ...` when no uplink answers. */
export function statusLine(s: StatusReport): string {
  const parts = s.uplinks.map((u) => {
    if (u.weight > 0) return `${u.name} ${u.state}, ${u.weight}% of new flows`;
    if (u.override?.kind === 'drain') return `${u.name} ${u.state}, drained`;
    return usableState(u.state) ? `${u.name} ${u.state}, standby` : `${u.name} ${u.state}`;
  });
  const line = parts.join('; ') || 'no uplinks';
  return s.steering.all_down ? `ALL DOWN: ${line}` : line;
}

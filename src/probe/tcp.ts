// probe/: TCP heartbeats. A completed handshake from the uplink's own interface is a good
// heartbeat; a refused, reset or timed-out one is a failure with its own reason.
import { tcpConnect } from '../native/index.js';
import type { HeartbeatOutcome } from './icmp.js';

const REASONS: Record<string, string> = { ECONNREFUSED: 'refused', ECONNRESET: 'reset', ETIMEDOUT: 'timeout' };

export async function tcpHeartbeat(iface: string, host: string, port: number, timeoutMs: number): Promise<HeartbeatOutcome> {
  const r = await tcpConnect(iface, host, port, timeoutMs);
  if (r.ok) return { ok: true, rttMs: r.rttMs };
  // Link errors (ENODEV, ENETUNREACH, ...) keep their errno: health/ tells them apart.
  return { ok: false, error: REASONS[r.code] ?? r.code };
}

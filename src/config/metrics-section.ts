// The `metrics:` section: where the Prometheus endpoint listens (opt-in).
import ipaddr from 'ipaddr.js';
import type { Node } from 'yaml';
import type { MetricsSettings } from '../types/index.js';
import { type Checker, entries } from './checker.js';

/** The port node_exporter's list of default ports gives uplinkd's exporter slot. */
export const DEFAULT_METRICS_PORT = 9469;

/** `127.0.0.1:9469`, `[::1]:9469`, `0.0.0.0:9469`: an address literal and a port (no names: nothing to resolve at start). */
export function parseMetrics(c: Checker, node: unknown): MetricsSettings | undefined {
  const map = c.map(node, 'metrics', ['listen']);
  if (!map) return undefined;
  const listen = entries(map).get('listen');
  if (!listen) {
    c.report('MISSING_KEY', `metrics has no listen: ADDRESS:PORT (for example 127.0.0.1:${DEFAULT_METRICS_PORT})`, map);
    return undefined;
  }
  const text = c.string(listen.value, 'metrics.listen');
  if (text === undefined) return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const family = host !== undefined && ipaddr.isValid(host) ? ipaddr.parse(host).kind() : undefined;
  const bracketed = m?.[1] !== undefined;
  if (!m || !family || (family === 'ipv6') !== bracketed || port < 1 || port > 65535) {
    c.report(
      'BAD_VALUE',
      `metrics.listen must be ADDRESS:PORT (127.0.0.1:${DEFAULT_METRICS_PORT}, [::1]:${DEFAULT_METRICS_PORT}), not "${text}"`,
      listen.value as Node,
    );
    return undefined;
  }
  return { host: host!, port };
}

// The probe block (top-level `probe` and each uplink's own): heartbeat timing and quality thresholds.
import { isScalar, type Node } from 'yaml';
import type { ProbeSettings } from '../types/index.js';
import { RANGE } from '../types/layout.js';
import { formatDuration } from './duration.js';
import { type Checker, entries } from './checker.js';

const PROBE_KEYS = [
  'interval',
  'timeout',
  'passive',
  'down',
  'up',
  'reliability',
  'failure_interval',
  'recovery_interval',
  'window',
  'max_rtt',
  'max_loss',
  'recover_rtt',
  'recover_loss',
] as const;

/** A probe block's own keys; what it leaves out comes from `base`. */
export function parseProbe(c: Checker, node: unknown, path: string, base: ProbeSettings): ProbeSettings {
  const map = c.map(node, path, PROBE_KEYS);
  const e = entries(map);
  const pick = <T>(key: string, read: (v: unknown) => T | undefined, fallback: T): T => {
    const hit = e.get(key);
    return hit ? (read(hit.value) ?? fallback) : fallback;
  };
  const percent = (key: string) => (v: unknown) => c.number(v, `${path}.${key}`, 0, 100);
  let p: ProbeSettings = {
    intervalMs: pick('interval', (v) => c.duration(v, `${path}.interval`, RANGE.interval), base.intervalMs),
    timeoutMs: pick('timeout', (v) => timeout(c, v, `${path}.timeout`), base.timeoutMs),
    passive: pick('passive', (v) => c.boolean(v, `${path}.passive`), base.passive),
    down: pick('down', (v) => c.integer(v, `${path}.down`, 1, 1000), base.down),
    up: pick('up', (v) => c.integer(v, `${path}.up`, 1, 1000), base.up),
    reliability: pick('reliability', (v) => c.integer(v, `${path}.reliability`, 1, 1000), base.reliability),
    window: pick('window', (v) => c.integer(v, `${path}.window`, 1, 1000), base.window),
    ...optional(
      'failureIntervalMs',
      pick('failure_interval', (v) => c.duration(v, `${path}.failure_interval`, RANGE.interval), base.failureIntervalMs),
    ),
    ...optional(
      'recoveryIntervalMs',
      pick('recovery_interval', (v) => c.duration(v, `${path}.recovery_interval`, RANGE.interval), base.recoveryIntervalMs),
    ),
    ...optional(
      'maxRttMs',
      pick('max_rtt', (v) => c.duration(v, `${path}.max_rtt`, RANGE.rtt), base.maxRttMs),
    ),
    ...optional('maxLossPct', pick('max_loss', percent('max_loss'), base.maxLossPct)),
    ...optional(
      'recoverRttMs',
      pick('recover_rtt', (v) => c.duration(v, `${path}.recover_rtt`, RANGE.rtt), base.recoverRttMs),
    ),
    ...optional('recoverLossPct', pick('recover_loss', percent('recover_loss'), base.recoverLossPct)),
  };
  // Recovery thresholds sit below the ones that degrade, or an uplink would flap between them.
  const below = (rec: string, max: string, r: number | undefined, m: number | undefined): void => {
    const at = e.get(rec)?.value ?? e.get(max)?.value;
    if (r === undefined || (!e.has(rec) && !e.has(max))) return;
    if (m === undefined) c.report('MISSING_KEY', `${path}.${rec} needs ${max} (recovery is below the threshold that degrades)`, at as Node);
    else if (r >= m) c.report('BAD_VALUE', `${path}.${rec} (${r}) must be below ${max} (${m})`, at as Node);
  };
  // A heartbeat still waited for when the next round is due would overlap it. A timeout this
  // block does not set follows a shorter interval down. `auto` stays within RTO_MAX_MS.
  if (p.timeoutMs !== 'auto' && p.timeoutMs > p.intervalMs) {
    if (e.has('timeout')) {
      c.report(
        'BAD_VALUE',
        `${path}.timeout (${formatDuration(p.timeoutMs)}) must not be longer than interval (${formatDuration(p.intervalMs)})`,
        e.get('timeout')!.value as Node,
      );
    } else p = { ...p, timeoutMs: p.intervalMs };
  }
  below('recover_rtt', 'max_rtt', p.recoverRttMs, p.maxRttMs);
  below('recover_loss', 'max_loss', p.recoverLossPct, p.maxLossPct);
  return p;
}

/** `auto`, or a duration in its range; the error names both. */
function timeout(c: Checker, v: unknown, path: string): number | 'auto' | undefined {
  if (isScalar(v) && v.value === 'auto') return 'auto';
  if (isScalar(v) && typeof v.value === 'string' && /^auto$/i.test(v.value.trim())) {
    c.report('BAD_DURATION', `${path}: "${v.value}" is neither auto nor a duration (like 250ms or 1s)`, v);
    return undefined;
  }
  return c.duration(v, path, RANGE.timeout);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

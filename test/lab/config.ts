// Config texts for lab runs: a primary (fiber, wan1) and a backup (dsl, wan2).
import { TARGETS } from './lab.js';

export interface LabConfigOptions {
  readonly interval?: string;
  readonly timeout?: string;
  readonly down?: number;
  readonly up?: number;
  readonly reliability?: number;
  /** probe.failure_interval (default: uplinkd's own). */
  readonly failureInterval?: string;
  /** Heartbeat targets per uplink (default: the first two lab targets). */
  readonly targets?: readonly string[];
  /** routing.failback as YAML flow (default: a 100 ms hold, then all at once). */
  readonly failback?: string;
  /** Extra lines for the routing block (indented two spaces). */
  readonly routingExtra?: string;
}

export function labConfig(o: LabConfigOptions = {}): string {
  const targets = (o.targets ?? TARGETS.slice(0, 2)).map((t) => `      - icmp: ${t}`).join('\n');
  return `uplinks:
  - name: fiber
    interface: wan1
    gateway: 100.64.1.1
    priority: 1
    targets:
${targets}
  - name: dsl
    interface: wan2
    gateway: 100.64.2.1
    priority: 2
    targets:
${targets}
probe:
  interval: ${o.interval ?? '200ms'}
  timeout: ${o.timeout ?? '200ms'}
  down: ${o.down ?? 3}
  up: ${o.up ?? 3}
  reliability: ${o.reliability ?? 1}
${o.failureInterval ? `  failure_interval: ${o.failureInterval}\n` : ''}routing:
  table: 100
  destinations: [default]
  failback: ${o.failback ?? '{ hold: 100ms, steps: [100], step_interval: 100ms }'}
${o.routingExtra ?? ''}`;
}

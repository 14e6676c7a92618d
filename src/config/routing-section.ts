// The routing section: table, destinations, failback, mark mask, hash policy and dampening.
import ipaddr from 'ipaddr.js';
import { isScalar, isSeq, type Node } from 'yaml';
import { AUTO_GATEWAY, type DampeningSettings, type Destination, type FailbackSettings, type RoutingSettings, type UplinkConfig } from '../types/index.js';
import { parseDestination } from '../types/address.js';
import {
  DEFAULT_DAMPENING,
  DEFAULT_FAILBACK,
  DEFAULT_MARK_MASK,
  DEFAULT_TABLE,
  MAIN_TABLE,
  MAX_DESTINATIONS,
  RANGE,
  RESERVED_TABLES,
  TABLE_MAX,
} from '../types/layout.js';
import { type Checker, entries } from './checker.js';
import type { ParseOptions } from './tables.js';

export const ROUTING_KEYS = ['table', 'destinations', 'failback', 'mark_mask', 'hash_policy', 'remove_on_exit', 'source_rules', 'conntrack_flush', 'dampening'];
/** Keys of earlier versions, with what took their place. */
export const REMOVED_ROUTING_KEYS: Record<string, string> = {
  mechanism: 'flows are now pinned per connection by conntrack marks (routing.mark_mask); new flows follow a weighted multipath route',
  resilient:
    'resilient nexthop groups are gone: flows are pinned per connection by conntrack marks (routing.mark_mask), so there are no buckets or idle timer to set',
};
const HASH_POLICIES = ['set', 'keep'] as const;

export function parseTable(c: Checker, node: unknown, opts: ParseOptions): number {
  if (isScalar(node) && typeof node.value === 'number') {
    const id = c.integer(node, 'routing.table', 0, TABLE_MAX);
    if (id === undefined) return DEFAULT_TABLE;
    if (id in RESERVED_TABLES) {
      c.report(
        'RESERVED_TABLE',
        `routing.table ${id} is the kernel's "${RESERVED_TABLES[id]}" table; use main or a table of its own (1-252, 256 and up)`,
        node,
      );
    }
    return id;
  }
  if (!isScalar(node) || typeof node.value !== 'string') {
    c.report('WRONG_TYPE', 'routing.table must be a table number, main, or a name from rt_tables', node as Node);
    return DEFAULT_TABLE;
  }
  const name = node.value;
  if (name === 'main') return 254;
  if (name === 'default' || name === 'local' || name === 'unspec') {
    c.report('RESERVED_TABLE', `routing.table "${name}" is a kernel table uplinkd must not own`, node as Node);
    return DEFAULT_TABLE;
  }
  const id = opts.tableNames?.get(name);
  if (id === undefined) {
    c.report('UNKNOWN_TABLE', `routing.table "${name}" is not a number, main, or a name in rt_tables`, node as Node);
    return DEFAULT_TABLE;
  }
  if (id in RESERVED_TABLES) c.report('RESERVED_TABLE', `routing.table "${name}" is table ${id}, the kernel's "${RESERVED_TABLES[id]}" table`, node as Node);
  return id;
}

export function parseFailback(c: Checker, node: unknown): FailbackSettings {
  const e = entries(c.map(node, 'routing.failback', ['hold', 'steps', 'step_interval', 'drain']));
  const holdMs = e.has('hold') ? c.duration(e.get('hold')!.value, 'routing.failback.hold', RANGE.hold) : undefined;
  const drainMs = e.has('drain') ? c.duration(e.get('drain')!.value, 'routing.failback.drain', RANGE.drain) : undefined;
  const stepIntervalMs = e.has('step_interval') ? c.duration(e.get('step_interval')!.value, 'routing.failback.step_interval', RANGE.stepInterval) : undefined;
  let steps: number[] | undefined;
  const stepsNode = e.get('steps')?.value;
  if (stepsNode !== undefined) {
    if (!isSeq(stepsNode) || stepsNode.items.length === 0) {
      c.report('WRONG_TYPE', 'routing.failback.steps must be a non-empty list of percentages', stepsNode as Node);
    } else {
      const values = stepsNode.items.map((n, i) => c.integer(n, `routing.failback.steps[${i}]`, 1, 100));
      if (values.every((v) => v !== undefined)) {
        const list = values as number[];
        const badAt = list.findIndex((v, i) => i > 0 && v <= list[i - 1]!);
        if (badAt > 0) {
          c.report('BAD_FAILBACK_STEPS', `routing.failback.steps must ascend: ${list[badAt]} follows ${list[badAt - 1]}`, stepsNode.items[badAt] as Node);
        } else if (list[list.length - 1] !== 100) {
          c.report('BAD_FAILBACK_STEPS', `routing.failback.steps must end at 100, not ${list[list.length - 1]}`, stepsNode.items[list.length - 1] as Node);
        } else steps = list;
      }
    }
  }
  return {
    holdMs: holdMs ?? DEFAULT_FAILBACK.holdMs,
    steps: steps ?? DEFAULT_FAILBACK.steps,
    stepIntervalMs: stepIntervalMs ?? DEFAULT_FAILBACK.stepIntervalMs,
    ...(drainMs !== undefined ? { drainMs } : {}),
  };
}

export function parseMarkMask(c: Checker, node: unknown): number {
  // A number (YAML reads 0x3f00 as one) or the same as a string.
  const value =
    isScalar(node) && typeof node.value === 'string' && /^0x[0-9a-f]+$/i.test(node.value.trim())
      ? Number(node.value.trim())
      : isScalar(node)
        ? node.value
        : undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    c.report('WRONG_TYPE', 'routing.mark_mask must be a number such as 0x3f00', node as Node);
    return DEFAULT_MARK_MASK;
  }
  if (value <= 0 || value > 0xffff_ffff) {
    c.report('BAD_VALUE', `routing.mark_mask must be between 0x1 and 0xffffffff, not ${value}`, node as Node);
    return DEFAULT_MARK_MASK;
  }
  return value;
}

export function parseHashPolicy(c: Checker, node: unknown): RoutingSettings['hashPolicy'] {
  const s = c.string(node, 'routing.hash_policy');
  if (s === undefined) return 'set';
  if ((HASH_POLICIES as readonly string[]).includes(s)) return s as RoutingSettings['hashPolicy'];
  c.report('BAD_VALUE', `routing.hash_policy must be set (uplinkd sets fib_multipath_hash_policy=1) or keep, not "${s}"`, node as Node);
  return 'set';
}

export function parseDampening(c: Checker, node: unknown): DampeningSettings {
  const e = entries(c.map(node, 'routing.dampening', ['penalty', 'suppress', 'reuse', 'half_life', 'max_suppress']));
  const num = (key: string): number | undefined => (e.has(key) ? c.integer(e.get(key)!.value, `routing.dampening.${key}`, 1, 1_000_000) : undefined);
  const dur = (key: string): number | undefined => (e.has(key) ? c.duration(e.get(key)!.value, `routing.dampening.${key}`, RANGE.dampening) : undefined);
  const d: DampeningSettings = {
    penalty: num('penalty') ?? DEFAULT_DAMPENING.penalty,
    suppress: num('suppress') ?? DEFAULT_DAMPENING.suppress,
    reuse: num('reuse') ?? DEFAULT_DAMPENING.reuse,
    halfLifeMs: dur('half_life') ?? DEFAULT_DAMPENING.halfLifeMs,
    maxSuppressMs: dur('max_suppress') ?? DEFAULT_DAMPENING.maxSuppressMs,
  };
  // RFC 2439 4.2: reuse below suppress, or a suppressed uplink would come back at once.
  if (d.reuse >= d.suppress)
    c.report(
      'BAD_VALUE',
      `routing.dampening.reuse (${d.reuse}) must be below suppress (${d.suppress})`,
      (e.get('reuse')?.value ?? e.get('suppress')?.value ?? node) as Node,
    );
  return d;
}

/** The destinations, each with the node it was written at (for later checks). */
export function parseDestinations(c: Checker, node: unknown): { destination: Destination; node?: Node }[] {
  if (node === undefined) return (parseDestination('default') as Destination[]).map((destination) => ({ destination }));
  if (!isSeq(node) || node.items.length === 0) {
    c.report('WRONG_TYPE', 'routing.destinations must be a non-empty list of prefixes or "default"', node as Node);
    return [];
  }
  if (node.items.length > MAX_DESTINATIONS) {
    c.report('BAD_VALUE', `routing.destinations: at most ${MAX_DESTINATIONS} prefixes, not ${node.items.length}`, node);
    return [];
  }
  const out: { destination: Destination; node?: Node }[] = [];
  node.items.forEach((item, i) => {
    const text = c.string(item, `routing.destinations[${i}]`);
    if (text === undefined) return;
    const parsed = parseDestination(text);
    if (typeof parsed === 'string') c.report('BAD_PREFIX', `routing.destinations[${i}]: ${parsed}`, item as Node);
    else for (const d of parsed) if (!out.some((o) => o.destination.prefix === d.prefix)) out.push({ destination: d, node: item as Node });
  });
  return out;
}

/**
 * In table main, a destination as narrow as a connected subnet (/24 or longer, /64 or longer)
 * that holds an uplink's gateway is that uplink's subnet, or part of it: routing it through
 * uplinks cuts the gateway off. Wider ones lose to the connected route by longest match, and
 * other tables are fine: main answers first for its own routes. (An exact connected prefix is
 * also never replaced at run time.)
 */
export function checkConnected(
  c: Checker,
  table: number,
  destinations: readonly { destination: Destination; node?: Node }[],
  uplinks: readonly UplinkConfig[],
): void {
  if (table !== MAIN_TABLE) return;
  for (const { destination: d, node } of destinations) {
    if (d.length < (d.family === 4 ? 24 : 64)) continue;
    const range = ipaddr.parseCIDR(d.prefix);
    for (const u of uplinks) {
      const gw = d.family === 4 ? u.gateway : u.gateway6;
      if (!gw || gw === AUTO_GATEWAY || !ipaddr.parse(gw).match(range)) continue;
      c.report(
        'BAD_PREFIX',
        `routing.destinations: ${d.prefix} holds ${u.name}'s gateway ${gw}, a connected subnet; in table main uplinkd would replace the kernel's own route to it`,
        node,
      );
      break;
    }
  }
}

// YAML text -> validated, frozen Config (src/README.md §2). Every problem is collected with its
// position, so an operator fixes a file in one pass instead of one error per run.
import ipaddr from 'ipaddr.js';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLError, type YAMLMap } from 'yaml';
import type { DampeningSettings, RoutingSettings, Config, Destination, FailbackSettings, ProbeSettings, Target, UplinkConfig } from '../types/index.js';
import { addressFamily, parseDestination } from '../types/address.js';
import {
  DEFAULT_DAMPENING,
  DEFAULT_FAILBACK,
  DEFAULT_MARK_MASK,
  DEFAULT_PROBE,
  DEFAULT_SOCKET,
  DEFAULT_TABLE,
  hex,
  IFNAME_BYTES,
  MAIN_TABLE,
  markCapacity,
  MAX_DESTINATIONS,
  MAX_ID,
  MAX_SOCKET_PATH,
  MAX_TARGETS,
  MAX_UPLINKS,
  RANGE,
  RESERVED_TABLES,
  TABLE_MAX,
  UPLINK_TABLE_OFFSET,
} from '../types/layout.js';
import { formatDuration, parseDuration } from './duration.js';
import type { ConfigProblem, ProblemCode } from './problems.js';
import { flattenAliases, MAX_DEPTH } from './yaml-tree.js';

/** The defaults and ranges live with the kernel layout (types/layout.ts); these are the config's API. */
export { DEFAULT_PROBE, DEFAULT_SOCKET, RANGE };

// Linux IFNAMSIZ is 16 bytes including the NUL (include/uapi/linux/if.h); dev_valid_name()
// (net/core/dev.c) also refuses "." and "..", "/", ":" and white space.
const IFNAME = /^[^\s/:]+$/;
const MAX_YAML_ERRORS = 20;
/** Addresses a heartbeat can never be answered from through an uplink (ipaddr.js ranges). */
const NO_TARGET_RANGES: Record<string, string> = {
  unspecified: 'the unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  loopback: 'a loopback address',
};

const UPLINK_NAME = /^[a-z0-9][a-z0-9_-]{0,14}$/;
/** useradd's rule for names (a trailing $ for machine accounts). */
const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,30}\$?$/i;

export interface ParseOptions {
  /** rt_tables names -> ids, for `routing.table: NAME`. */
  readonly tableNames?: ReadonlyMap<string, number>;
}

export type ParseResult = { readonly ok: true; readonly config: Config } | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

class Checker {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly lines: LineCounter) {}

  report(code: ProblemCode, message: string, at: Node | Pair | null | undefined | number): void {
    let offset = 0;
    if (typeof at === 'number') offset = at;
    else if (at && 'range' in at && at.range) offset = at.range[0];
    else if (at && 'key' in at) offset = (at.key as Node | null)?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    this.problems.push({ code, message, line, col });
  }

  sorted(): ConfigProblem[] {
    return [...this.problems].sort((a, b) => a.line - b.line || a.col - b.col);
  }

  /** The map at `node`, after reporting keys it does not know. */
  /** `extensions`: keys starting `x-` are left alone (a place for YAML anchors, as in Compose files). */
  map(node: unknown, path: string, known: readonly string[], extensions = false): YAMLMap | undefined {
    if (!isMap(node)) {
      this.report('WRONG_TYPE', `${path} must be a mapping`, node as Node);
      return undefined;
    }
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (extensions && key?.startsWith('x-')) continue;
      if (key === undefined || !known.includes(key)) {
        this.report('UNKNOWN_KEY', `unknown key "${key ?? '?'}" in ${path} (known: ${known.join(', ')})`, pair.key as Node);
      }
    }
    return node;
  }

  string(node: unknown, path: string): string | undefined {
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    this.report('WRONG_TYPE', `${path} must be a string`, node as Node);
    return undefined;
  }

  integer(node: unknown, path: string, min: number, max: number): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
      this.report('WRONG_TYPE', `${path} must be a whole number`, node as Node);
      return undefined;
    }
    if (node.value < min || node.value > max) {
      this.report('BAD_VALUE', `${path} must be between ${min} and ${max}, not ${node.value}`, node);
      return undefined;
    }
    return node.value;
  }

  number(node: unknown, path: string, min: number, max: number): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value)) {
      this.report('WRONG_TYPE', `${path} must be a number`, node as Node);
      return undefined;
    }
    if (node.value < min || node.value > max) {
      this.report('BAD_VALUE', `${path} must be between ${min} and ${max}, not ${node.value}`, node);
      return undefined;
    }
    return node.value;
  }

  boolean(node: unknown, path: string): boolean | undefined {
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    this.report('WRONG_TYPE', `${path} must be true or false`, node as Node);
    return undefined;
  }

  duration(node: unknown, path: string, [min, max]: readonly [number, number]): number | undefined {
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.report('BAD_DURATION', `${path} must be a duration like 250ms, 1s or 2m`, node as Node);
      return undefined;
    }
    const ms = parseDuration(node.value);
    if (ms === undefined) {
      this.report('BAD_DURATION', `${path}: "${node.value}" is not a duration (like 250ms, 1s or 2m)`, node);
      return undefined;
    }
    if (ms <= 0) {
      this.report('BAD_DURATION', `${path} must be longer than 0`, node);
      return undefined;
    }
    // Every duration has a range: beyond Node's timer limit (2^31-1 ms) a timer fires at once.
    if (ms < min || ms > max) {
      this.report('BAD_DURATION', `${path} must be between ${formatDuration(min)} and ${formatDuration(max)}, not ${node.value}`, node);
      return undefined;
    }
    return ms;
  }
}

function entries(map: YAMLMap | undefined): Map<string, { pair: Pair; value: unknown }> {
  const out = new Map<string, { pair: Pair; value: unknown }>();
  for (const pair of map?.items ?? []) {
    if (isScalar(pair.key)) out.set(String(pair.key.value), { pair, value: pair.value });
  }
  return out;
}

const PROBE_KEYS = [
  'interval',
  'timeout',
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
function parseProbe(c: Checker, node: unknown, path: string, base: ProbeSettings): ProbeSettings {
  const map = c.map(node, path, PROBE_KEYS);
  const e = entries(map);
  const pick = <T>(key: string, read: (v: unknown) => T | undefined, fallback: T): T => {
    const hit = e.get(key);
    return hit ? (read(hit.value) ?? fallback) : fallback;
  };
  const percent = (key: string) => (v: unknown) => c.number(v, `${path}.${key}`, 0, 100);
  let p: ProbeSettings = {
    intervalMs: pick('interval', (v) => c.duration(v, `${path}.interval`, RANGE.interval), base.intervalMs),
    timeoutMs: pick('timeout', (v) => c.duration(v, `${path}.timeout`, RANGE.timeout), base.timeoutMs),
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
  // block does not set follows a shorter interval down.
  if (p.timeoutMs > p.intervalMs) {
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

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function parseTarget(c: Checker, node: unknown, path: string): Target | undefined {
  const map = c.map(node, path, ['icmp', 'tcp']);
  if (!map) return undefined;
  if (map.items.length !== 1) {
    c.report('WRONG_TYPE', `${path} must have exactly one key, icmp or tcp`, map);
    return undefined;
  }
  const pair = map.items[0]!;
  const kind = isScalar(pair.key) ? String(pair.key.value) : '';
  const text = c.string(pair.value, `${path}.${kind}`);
  if (text === undefined) return undefined;
  const at = pair.value as Node;
  if (kind === 'icmp') {
    const family = addressFamily(text);
    if (!family) {
      c.report('BAD_ADDRESS', `${path}.icmp: "${text}" is not an IPv4 or IPv6 address`, at);
      return undefined;
    }
    if (!heartbeatTarget(c, text, `${path}.icmp`, at)) return undefined;
    return { kind: 'icmp', host: text, family, label: `icmp ${text}` };
  }
  if (kind === 'tcp') {
    // HOST:PORT, or [V6]:PORT for IPv6 (RFC 3986 authority form).
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
    const family = m ? addressFamily(m[1]!) : undefined;
    const port = m ? Number(m[2]) : NaN;
    if (!m || !family) {
      c.report('BAD_ADDRESS', `${path}.tcp: "${text}" is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)`, at);
      return undefined;
    }
    if (port < 1 || port > 65535) {
      c.report('BAD_VALUE', `${path}.tcp: port ${port} is not between 1 and 65535`, at);
      return undefined;
    }
    if (!heartbeatTarget(c, m[1]!, `${path}.tcp`, at)) return undefined;
    return { kind: 'tcp', host: m[1]!, port, family, label: `tcp ${text}` };
  }
  return undefined;
}

/** Whether `address` can answer a heartbeat sent out of an uplink; reports why not. */
function heartbeatTarget(c: Checker, address: string, path: string, at: Node): boolean {
  const why = NO_TARGET_RANGES[ipaddr.parse(address).range()];
  if (why) c.report('BAD_ADDRESS', `${path}: ${address} is ${why}; a heartbeat target must be a unicast host beyond the uplink`, at);
  return !why;
}

interface UplinkDraft {
  uplink: Omit<UplinkConfig, 'probe' | 'table'>;
  probeNode?: unknown;
  targetsNode?: Node;
  nameNode?: Node;
  interfaceNode?: Node;
}

const UPLINK_KEYS = ['name', 'interface', 'gateway', 'gateway6', 'priority', 'weight', 'targets', 'probe'];

function parseUplink(c: Checker, node: unknown, path: string): UplinkDraft | undefined {
  const map = c.map(node, path, UPLINK_KEYS);
  if (!map) return undefined;
  const e = entries(map);
  const required = (key: string): unknown => {
    const hit = e.get(key);
    if (!hit) c.report(key === 'targets' ? 'MISSING_TARGETS' : 'MISSING_KEY', `${path} has no ${key}`, map);
    return hit?.value;
  };
  let name = '';
  const nameNode = required('name');
  if (nameNode !== undefined) {
    const text = c.string(nameNode, `${path}.name`);
    if (text !== undefined && !UPLINK_NAME.test(text)) {
      c.report('BAD_NAME', `uplink name "${text}" must be 1 to 15 characters of a-z, 0-9, "_" and "-", starting with a letter or digit`, nameNode as Node);
    } else if (text !== undefined) name = text;
  }
  let iface = '';
  const ifaceNode = required('interface');
  if (ifaceNode !== undefined) {
    const text = c.string(ifaceNode, `${path}.interface`);
    if (text !== undefined && (!IFNAME.test(text) || Buffer.byteLength(text) > IFNAME_BYTES || text === '.' || text === '..')) {
      c.report('BAD_INTERFACE', `interface "${text}" is not a Linux interface name (1 to 15 bytes, not "." or "..", no spaces, "/" or ":")`, ifaceNode as Node);
    } else if (text !== undefined) iface = text;
  }
  const gatewayOf = (key: 'gateway' | 'gateway6', want: 4 | 6): string | undefined => {
    const hit = e.get(key);
    if (!hit) return undefined;
    const text = c.string(hit.value, `${path}.${key}`);
    if (text === undefined) return undefined;
    const family = addressFamily(text);
    if (!family) c.report('BAD_ADDRESS', `${path}.${key}: "${text}" is not an IP address`, hit.value as Node);
    else if (family !== want) c.report('WRONG_FAMILY', `${path}.${key} must be an IPv${want} address, "${text}" is IPv${family}`, hit.value as Node);
    else return text;
    return undefined;
  };
  const gateway = gatewayOf('gateway', 4);
  const gateway6 = gatewayOf('gateway6', 6);
  const priority = e.has('priority') ? c.integer(e.get('priority')!.value, `${path}.priority`, 0, 1_000_000) : 1;
  const weight = e.has('weight') ? c.integer(e.get('weight')!.value, `${path}.weight`, 1, 256) : 1;
  const targets: Target[] = [];
  const targetsNode = required('targets');
  if (targetsNode !== undefined) {
    if (!isSeq(targetsNode)) c.report('WRONG_TYPE', `${path}.targets must be a list`, targetsNode as Node);
    else if (targetsNode.items.length === 0) c.report('MISSING_TARGETS', `${path}.targets is empty: at least one heartbeat target is needed`, targetsNode);
    else if (targetsNode.items.length > MAX_TARGETS)
      c.report('BAD_VALUE', `${path}.targets: at most ${MAX_TARGETS} heartbeat targets per uplink, not ${targetsNode.items.length}`, targetsNode);
    else {
      targetsNode.items.forEach((t, i) => {
        const target = parseTarget(c, t, `${path}.targets[${i}]`);
        if (target) targets.push(target);
      });
    }
  }
  const draft: UplinkDraft = {
    uplink: {
      name,
      interface: iface,
      ...(gateway ? { gateway } : {}),
      ...(gateway6 ? { gateway6 } : {}),
      priority: priority ?? 1,
      weight: weight ?? 1,
      targets,
    },
    nameNode: nameNode as Node,
    interfaceNode: ifaceNode as Node,
  };
  if (e.has('probe')) draft.probeNode = e.get('probe')!.value;
  if (isSeq(targetsNode)) draft.targetsNode = targetsNode;
  return draft;
}

function parseTable(c: Checker, node: unknown, opts: ParseOptions): number {
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

function parseFailback(c: Checker, node: unknown): FailbackSettings {
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

const ROUTING_KEYS = ['table', 'destinations', 'failback', 'mark_mask', 'hash_policy', 'remove_on_exit', 'source_rules', 'conntrack_flush', 'dampening'];
/** Keys of earlier versions, with what took their place. */
const REMOVED_ROUTING_KEYS: Record<string, string> = {
  mechanism: 'flows are now pinned per connection by conntrack marks (routing.mark_mask); new flows follow a weighted multipath route',
  resilient:
    'resilient nexthop groups are gone: flows are pinned per connection by conntrack marks (routing.mark_mask), so there are no buckets or idle timer to set',
};
const HASH_POLICIES = ['set', 'keep'] as const;

function parseMarkMask(c: Checker, node: unknown): number {
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

function parseHashPolicy(c: Checker, node: unknown): RoutingSettings['hashPolicy'] {
  const s = c.string(node, 'routing.hash_policy');
  if (s === undefined) return 'set';
  if ((HASH_POLICIES as readonly string[]).includes(s)) return s as RoutingSettings['hashPolicy'];
  c.report('BAD_VALUE', `routing.hash_policy must be set (uplinkd sets fib_multipath_hash_policy=1) or keep, not "${s}"`, node as Node);
  return 'set';
}

function parseDampening(c: Checker, node: unknown): DampeningSettings {
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
function parseDestinations(c: Checker, node: unknown): { destination: Destination; node?: Node }[] {
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
function checkConnected(c: Checker, table: number, destinations: readonly { destination: Destination; node?: Node }[], uplinks: readonly UplinkConfig[]): void {
  if (table !== MAIN_TABLE) return;
  for (const { destination: d, node } of destinations) {
    if (d.length < (d.family === 4 ? 24 : 64)) continue;
    const range = ipaddr.parseCIDR(d.prefix);
    for (const u of uplinks) {
      const gw = d.family === 4 ? u.gateway : u.gateway6;
      if (!gw || !ipaddr.parse(gw).match(range)) continue;
      c.report(
        'BAD_PREFIX',
        `routing.destinations: ${d.prefix} holds ${u.name}'s gateway ${gw}, a connected subnet; in table main uplinkd would replace the kernel's own route to it`,
        node,
      );
      break;
    }
  }
}

/** The yaml package's message, in the operator's words where it speaks of itself. */
function yamlMessage(err: YAMLError): string {
  if (err.code === 'MULTIPLE_DOCS') return 'the file holds more than one YAML document (a second "---"); a config is one document';
  // The composer recurses per level; the package reports running out of stack as an error.
  if (err.code === 'RESOURCE_EXHAUSTION' || /call stack/i.test(err.message)) return `nested too deeply (a config needs fewer than ${MAX_DEPTH} levels)`;
  return err.message.split('\n')[0]!;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function parseConfig(text: string, opts: ParseOptions = {}): ParseResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  const c = new Checker(lines);
  // A broken file can hold thousands of errors; the first ones are what an operator fixes.
  for (const err of doc.errors.slice(0, MAX_YAML_ERRORS)) c.report('YAML_SYNTAX', yamlMessage(err), err.pos[0]);
  const more = doc.errors.length - MAX_YAML_ERRORS;
  if (more > 0) c.report('YAML_SYNTAX', `${more} more YAML error${more > 1 ? 's' : ''} from here on, not listed`, doc.errors[MAX_YAML_ERRORS]!.pos[0]);
  if (doc.errors.length > 0) return { ok: false, problems: c.problems };
  const flat = flattenAliases(doc);
  if (flat) {
    c.report('YAML_SYNTAX', flat.message, flat.offset);
    return { ok: false, problems: c.problems };
  }
  const root = c.map(doc.contents, 'the config', ['uplinks', 'probe', 'routing', 'control'], true);
  if (!root) return { ok: false, problems: c.problems };
  const top = entries(root);

  const probe = top.has('probe') ? parseProbe(c, top.get('probe')!.value, 'probe', DEFAULT_PROBE) : DEFAULT_PROBE;

  const routingMap = top.has('routing') ? c.map(top.get('routing')!.value, 'routing', [...ROUTING_KEYS, ...Object.keys(REMOVED_ROUTING_KEYS)]) : undefined;
  const routing = entries(routingMap);
  for (const [key, instead] of Object.entries(REMOVED_ROUTING_KEYS)) {
    const hit = routing.get(key);
    if (hit) c.report('REMOVED_KEY', `routing.${key} was removed: ${instead}; delete the key`, hit.pair.key as Node);
  }
  const table = routing.has('table') ? parseTable(c, routing.get('table')!.value, opts) : DEFAULT_TABLE;
  const destinationNodes = parseDestinations(c, routing.get('destinations')?.value);
  const destinations = destinationNodes.map((d) => d.destination);
  const failback = routing.has('failback') ? parseFailback(c, routing.get('failback')!.value) : DEFAULT_FAILBACK;
  const flag = (key: string): boolean => (routing.has(key) ? (c.boolean(routing.get(key)!.value, `routing.${key}`) ?? false) : false);
  const routingSettings: RoutingSettings = {
    table,
    destinations,
    failback,
    markMask: routing.has('mark_mask') ? parseMarkMask(c, routing.get('mark_mask')!.value) : DEFAULT_MARK_MASK,
    hashPolicy: routing.has('hash_policy') ? parseHashPolicy(c, routing.get('hash_policy')!.value) : 'set',
    removeOnExit: flag('remove_on_exit'),
    sourceRules: flag('source_rules'),
    conntrackFlush: flag('conntrack_flush'),
    ...(routing.has('dampening') ? { dampening: parseDampening(c, routing.get('dampening')!.value) } : {}),
  };
  const control = entries(top.has('control') ? c.map(top.get('control')!.value, 'control', ['socket', 'group']) : undefined);
  let socket = DEFAULT_SOCKET;
  if (control.has('socket')) {
    const node = control.get('socket')!.value as Node;
    const s = c.string(node, 'control.socket');
    if (s !== undefined && (!s.startsWith('/') || s.endsWith('/')))
      c.report('BAD_VALUE', `control.socket must be an absolute path to a file, not "${s}"`, node);
    // struct sockaddr_un has 108 bytes for the path, its NUL included (unix(7)).
    else if (s !== undefined && Buffer.byteLength(s) > MAX_SOCKET_PATH)
      c.report('BAD_VALUE', `control.socket is ${Buffer.byteLength(s)} bytes long; a Unix socket path has at most ${MAX_SOCKET_PATH}`, node);
    else if (s !== undefined) socket = s;
  }
  let group: string | number | undefined;
  if (control.has('group')) {
    const node = control.get('group')!.value;
    if (isScalar(node) && typeof node.value === 'number') group = c.integer(node, 'control.group', 0, MAX_ID);
    else {
      const g = c.string(node, 'control.group');
      if (g !== undefined && !GROUP_NAME.test(g)) c.report('BAD_VALUE', `control.group must be a group name or a numeric id, not "${g}"`, node as Node);
      else group = g;
    }
  }

  const uplinks: UplinkConfig[] = [];
  const uplinksNode = top.get('uplinks');
  if (!uplinksNode) c.report('MISSING_KEY', 'the config has no uplinks: at least one is needed', root);
  else if (!isSeq(uplinksNode.value) || uplinksNode.value.items.length === 0) {
    c.report('WRONG_TYPE', 'uplinks must be a non-empty list', (uplinksNode.value as Node) ?? uplinksNode.pair);
  } else if (uplinksNode.value.items.length > MAX_UPLINKS) {
    c.report('BAD_VALUE', `uplinks: at most ${MAX_UPLINKS} (their rule priorities are numbered in fixed ranges)`, uplinksNode.value as Node);
  } else if (uplinksNode.value.items.length > markCapacity(routingSettings.markMask)) {
    const mask = routingSettings.markMask;
    c.report(
      'BAD_VALUE',
      `routing.mark_mask ${hex(mask)} has room for ${markCapacity(mask)} uplinks, not ${uplinksNode.value.items.length}: give it more bits`,
      (routing.get('mark_mask')?.value ?? uplinksNode.value) as Node,
    );
  } else {
    const seen = new Map<string, number>();
    const interfaces = new Map<string, number>();
    uplinksNode.value.items.forEach((item, i) => {
      const path = `uplinks[${i}]`;
      const draft = parseUplink(c, item, path);
      if (!draft) return;
      const u = draft.uplink;
      const uplinkProbe = draft.probeNode !== undefined ? parseProbe(c, draft.probeNode, `${path}.probe`, probe) : probe;
      if (u.name) {
        const first = seen.get(u.name);
        if (first !== undefined) {
          c.report('DUPLICATE_NAME', `uplink name "${u.name}" is already used by uplinks[${first}]`, draft.nameNode);
        } else seen.set(u.name, i);
      }
      if (u.interface) {
        const first = interfaces.get(u.interface);
        // Heartbeats find their uplink by `oif IFACE`: a second uplink on it would probe through the first one's table.
        if (first !== undefined) {
          c.report(
            'DUPLICATE_INTERFACE',
            `interface ${u.interface} is already used by uplinks[${first}]; each uplink needs an interface of its own (a VLAN or macvlan interface per gateway)`,
            draft.interfaceNode,
          );
        } else interfaces.set(u.interface, i);
      }
      const targetCount = isSeq(draft.targetsNode) ? draft.targetsNode.items.length : 0;
      if (targetCount > 0 && uplinkProbe.reliability > targetCount) {
        c.report(
          'RELIABILITY_TOO_HIGH',
          `${path}: reliability ${uplinkProbe.reliability} is more than its ${targetCount} target(s); no round could ever be good`,
          draft.targetsNode,
        );
      }
      // Each uplink's own heartbeat table follows the managed one (src/README.md §4).
      uplinks.push({ ...u, probe: uplinkProbe, table: uplinkTable(table, i) });
    });
  }

  checkConnected(c, table, destinationNodes, uplinks);
  if (c.problems.length > 0) return { ok: false, problems: c.sorted() };
  return { ok: true, config: deepFreeze({ uplinks, probe, routing: routingSettings, control: { socket, ...(group !== undefined ? { group } : {}) } }) };
}

/**
 * The table holding uplink number `index`'s own default route, for its heartbeats
 * (src/README.md §4): 1000 above the managed table, so it never hits a reserved id (253-255).
 */
export function uplinkTable(managedTable: number, index: number): number {
  return managedTable + UPLINK_TABLE_OFFSET + index;
}

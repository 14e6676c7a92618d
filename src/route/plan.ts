// route/: the pure half of applying routes. What the kernel has (observed) and what uplinkd
// wants (desired) -> the operations that close the gap, in a safe order: routes replaced
// first (never delete-then-add, so there is no instant without a route; only the rule that
// lets main answer first goes in before them), rules added before
// rules deleted, routes uplinkd no longer owns deleted last. Each operation reads as the `ip`
// command a person would have typed.
import type { DesiredRoute, Family } from '../types/index.js';
import {
  MAIN_TABLE,
  OWN_METRIC,
  RULE_FWMARK_BASE,
  RULE_MAIN_FIRST,
  RULE_MANAGED,
  RULE_MANAGED_MIN,
  MAX_UPLINKS,
  EARLIER_MAIN_FIRST,
  EARLIER_MANAGED,
  EARLIER_SOURCE_BASE,
  RULE_OIF_BASE,
  RULE_PRIORITY_MAX,
  RULE_PRIORITY_MIN,
  RULE_SOURCE_BASE,
  hex,
  uplinkMark,
} from '../types/layout.js';
import { RTPROT_STATIC, RTPROT_UPLINKD } from '../types/netlink.js';
import type { DesiredState, KernelNexthop, KernelRoute, KernelRule } from '../types/routes.js';

/** What an earlier uplinkd wrote IPv6 routes with (no metric, proto static). */
const EARLIER_METRIC6 = 1024;

/**
 * Whether a route in a table uplinkd owns routes in may be one of its own. In main only one
 * with its protocol, the kernel's connected route it must not touch, or an earlier uplinkd's:
 * proto static at the metric it wrote, through the configured next hops only (`fixed`, from
 * fixedNexthopKeys). Another program's default there (a DHCP client's, the kernel's from
 * router advertisements, an operator's static one) is the gateway `gateway: auto` learns or a
 * fallback of theirs: never replaced or deleted. In uplinkd's own tables every route is.
 */
export function mayOwnRoute(r: KernelRoute, fixed: ReadonlySet<string>): boolean {
  if (r.table !== MAIN_TABLE || r.connected || r.protocol === undefined || r.protocol === RTPROT_UPLINKD) return true;
  const metric = r.metric ?? 0;
  if (r.protocol !== RTPROT_STATIC || metric !== (r.family === 4 ? 0 : EARLIER_METRIC6)) return false;
  return r.nexthops.length > 0 && r.nexthops.every((nh) => fixed.has(fixedKey(r.family, nh.ifindex, nh.gateway)));
}

function fixedKey(family: Family, ifindex: number, gateway: string | undefined): string {
  return `${family}|${ifindex}|${gateway ?? ''}`;
}

/** The configured next hops as keys for mayOwnRoute, numbered by the links as they are now. */
export function fixedNexthopKeys(fixed: DesiredState['fixedNexthops'], links: ReadonlyMap<string, number>): Set<string> {
  const out = new Set<string>();
  for (const nh of fixed ?? []) {
    const ifindex = links.get(nh.interface);
    if (ifindex !== undefined) out.add(fixedKey(nh.family, ifindex, nh.gateway));
  }
  return out;
}

/** A route of uplinkd's as it writes them now (protocol and metric): anything else of its is stale. */
function currentShape(r: KernelRoute): boolean {
  return (r.metric ?? 0) === OWN_METRIC[r.family] && (r.protocol === undefined || r.protocol === RTPROT_UPLINKD);
}

/** What the kernel has, as read before planning. */
export interface Observed {
  /** Interface name -> ifindex. */
  readonly links: ReadonlyMap<string, number>;
  /** Interfaces that are admin down: no route goes through them (the kernel refuses it). */
  readonly down?: ReadonlySet<string>;
  readonly routes: Readonly<Record<Family, readonly KernelRoute[]>>;
  readonly rules: Readonly<Record<Family, readonly KernelRule[]>>;
}

/** What uplinkd owned before this apply (a reload may have moved the table or destinations). */
export interface Owned {
  readonly table: number;
  readonly destinations: readonly { readonly prefix: string }[];
  readonly uplinkTables: ReadonlySet<number>;
}

export type Operation =
  | { readonly kind: 'replace-route'; readonly route: KernelRoute }
  | { readonly kind: 'delete-route'; readonly route: KernelRoute }
  | { readonly kind: 'add-rule'; readonly rule: KernelRule }
  | { readonly kind: 'delete-rule'; readonly rule: KernelRule };

export interface Plan {
  readonly operations: readonly Operation[];
  /** Desired next hops left out because their interface does not exist now or is admin down. */
  readonly missing: readonly string[];
  /** One of them was a managed route's: the LAN's route is not what the steering asked for. */
  readonly managedLeftOut: boolean;
  /** Somebody else's rules in uplinkd's range: never deleted, worked around where possible. */
  readonly foreign: readonly KernelRule[];
  /** Managed routes not written because the kernel's own connected route holds that prefix. */
  readonly connected: readonly Operation[];
}

function familyFlag(f: Family): string {
  return f === 6 ? 'ip -6' : 'ip';
}

function tableName(t: number): string {
  return t === MAIN_TABLE ? 'main' : String(t);
}

export function describeRoute(verb: 'replace' | 'del', r: KernelRoute, names: ReadonlyMap<number, string>): string {
  const dev = (i: number): string => names.get(i) ?? `if${i}`;
  const head = `${familyFlag(r.family)} route ${verb} ${r.prefix} table ${tableName(r.table)}`;
  // A delete names what tells ours from the others' of the prefix (main holds a DHCP client's
  // default too, and an earlier uplinkd's IPv6 route sits at another metric), as the kernel
  // request does (route/kernel.ts deleteRoute).
  if (verb === 'del') return `${head}${r.table === MAIN_TABLE ? ` proto ${r.protocol ?? RTPROT_UPLINKD}` : ''}${r.metric ? ` metric ${r.metric}` : ''}`;
  const onlink = (nh: KernelNexthop): string => (r.family === 6 && nh.gateway ? ' onlink' : '');
  if (r.nexthops.length === 1) {
    const nh = r.nexthops[0]!;
    return `${head}${nh.gateway ? ` via ${nh.gateway}` : ''} dev ${dev(nh.ifindex)}${onlink(nh)}`;
  }
  return `${head} ${r.nexthops
    .map((nh) => `nexthop${nh.gateway ? ` via ${nh.gateway}` : ''} dev ${dev(nh.ifindex)} weight ${nh.weight}${onlink(nh)}`)
    .join(' ')}`;
}

export function describeRule(verb: 'add' | 'del', r: KernelRule): string {
  const parts = [`${familyFlag(r.family)} rule ${verb} pref ${r.priority}`];
  const other = r.other?.split(' ') ?? [];
  if (other[0] === 'not') parts.push(other.shift()!);
  if (r.src) parts.push(`from ${r.src}`);
  if (r.fwmark !== undefined) parts.push(`fwmark ${hex(r.fwmark)}/${hex(r.fwmask ?? 0xffff_ffff)}`);
  if (r.oifname) parts.push(`oif ${r.oifname}`);
  parts.push(`lookup ${tableName(r.table)}`);
  if (r.suppressPrefixlength !== undefined) parts.push(`suppress_prefixlength ${r.suppressPrefixlength}`);
  if (other.length) {
    // A rule whose action is not a lookup names no table.
    if (other.some((w) => ['unreachable', 'blackhole', 'prohibit', 'goto', 'nop'].includes(w)))
      parts.splice(parts.length - (r.suppressPrefixlength !== undefined ? 2 : 1), 1);
    parts.push(...other);
  }
  return parts.join(' ');
}

export function describe(op: Operation, names: ReadonlyMap<number, string>): string {
  switch (op.kind) {
    case 'replace-route':
      return describeRoute('replace', op.route, names);
    case 'delete-route':
      return describeRoute('del', op.route, names);
    case 'add-rule':
      return describeRule('add', op.rule);
    case 'delete-rule':
      return describeRule('del', op.rule);
  }
}

function nexthopKey(nh: KernelNexthop, single: boolean): string {
  // A single-path route has no weight in the kernel: do not compare it.
  return `${nh.ifindex}|${nh.gateway ?? ''}|${single ? 1 : nh.weight}`;
}

export function sameRoute(a: KernelRoute, b: KernelRoute): boolean {
  if (a.prefix !== b.prefix || a.table !== b.table || a.nhid !== b.nhid) return false;
  if (a.nexthops.length !== b.nexthops.length) return false;
  const single = a.nexthops.length === 1;
  const ka = a.nexthops.map((n) => nexthopKey(n, single)).sort();
  const kb = b.nexthops.map((n) => nexthopKey(n, single)).sort();
  return ka.every((k, i) => k === kb[i]);
}

function ruleKey(r: KernelRule): string {
  return [r.family, r.priority, r.table, r.oifname ?? '', r.suppressPrefixlength ?? '', r.src ?? '', r.fwmark ?? '', r.fwmask ?? ''].join('|');
}

function inRange(p: number, base: number, count = 1): boolean {
  return p >= base && p < base + count;
}

/** The tables uplinkd's rules point at (now, and before a reload moved them). */
export interface RuleTables {
  /** The managed table, now and before: a plain `lookup T` rule is ours only for these. */
  readonly managed: ReadonlySet<number>;
  /** Per-uplink tables, now and before: an earlier layout's `from` rule is ours only for these. */
  readonly uplink: ReadonlySet<number>;
}

function selectorCount(r: KernelRule): number {
  return [r.oifname, r.src, r.fwmark, r.suppressPrefixlength].filter((x) => x !== undefined).length;
}

/**
 * Whether a rule is uplinkd's: in its range, with the shape uplinkd writes at that priority
 * (types/layout.ts), now or in the earlier layout. A stale one of ours is deleted; anything
 * else in the range is foreign and left alone.
 */
export function ownsRule(r: KernelRule, tables: RuleTables): boolean {
  const p = r.priority;
  if (p < RULE_PRIORITY_MIN || p > RULE_PRIORITY_MAX || r.other !== undefined) return false;
  const selectors = selectorCount(r);
  const mainFirst = selectors === 1 && r.suppressPrefixlength !== undefined && r.table === MAIN_TABLE;
  const host = r.src !== undefined && /\/(32|128)$/.test(r.src);
  // The earlier layout first: 9690 sits inside today's fwmark range.
  if (EARLIER_MAIN_FIRST.includes(p) && mainFirst) return true;
  if (p >= EARLIER_SOURCE_BASE && p < EARLIER_MANAGED - 1 && selectors === 1 && host && tables.uplink.has(r.table)) return true;
  if (inRange(p, RULE_OIF_BASE, MAX_UPLINKS)) return selectors === 1 && r.oifname !== undefined;
  if (p === RULE_MAIN_FIRST) return mainFirst;
  if (inRange(p, RULE_SOURCE_BASE, MAX_UPLINKS)) return selectors === 1 && host;
  if (inRange(p, RULE_FWMARK_BASE, MAX_UPLINKS)) return selectors === 1 && r.fwmark !== undefined;
  if (p >= RULE_MANAGED_MIN && p <= EARLIER_MANAGED) return selectors === 0 && tables.managed.has(r.table);
  return false;
}

/** A rule in uplinkd's range that uplinkd did not write. */
export function isForeignRule(r: KernelRule, tables: RuleTables): boolean {
  return r.priority >= RULE_PRIORITY_MIN && r.priority <= RULE_PRIORITY_MAX && !ownsRule(r, tables);
}

/** A rule that takes every packet (no selector): whatever comes after it never sees one. */
function catchAll(r: KernelRule): boolean {
  const words = r.other?.split(' ') ?? [];
  return selectorCount(r) === 0 && words.every((w) => ['unreachable', 'blackhole', 'prohibit', 'nop'].includes(w));
}

/**
 * Where the managed lookup goes: 9900, or just in front of a foreign rule at 9701-9900 that
 * takes every packet (the kernel tries rules by priority, equal ones in the order they were
 * added). A foreign rule that picks some packets keeps them: it is reported, not jumped.
 */
export function managedRulePriority(foreign: readonly KernelRule[]): number {
  const ahead = foreign
    .filter(catchAll)
    .map((r) => r.priority)
    .filter((p) => p > RULE_MANAGED_MIN && p <= RULE_MANAGED);
  return ahead.length ? Math.min(...ahead) - 1 : RULE_MANAGED;
}

function fwmarkRule(state: DesiredState, family: Family, index: number): KernelRule | undefined {
  const mark = uplinkMark(state.markMask, index);
  if (mark === undefined) return undefined;
  return { family, priority: RULE_FWMARK_BASE + index, table: state.uplinkTables[index]!.table, fwmark: mark, fwmask: state.markMask >>> 0 };
}

/** The rules of one family, without the pinned-flow rules left as the kernel has them. */
export function desiredRules(state: DesiredState, family: Family, foreign: readonly KernelRule[] = []): KernelRule[] {
  const rules: KernelRule[] = [];
  state.uplinkTables.forEach((u, i) => {
    rules.push({ family, priority: RULE_OIF_BASE + i, table: u.table, oifname: u.interface });
  });
  // Main answers first for everything but its default route: LAN routes win over pinned
  // flows, source rules and the managed table, and a DHCP client's default cannot override us.
  rules.push({ family, priority: RULE_MAIN_FIRST, table: MAIN_TABLE, suppressPrefixlength: 0 });
  (state.sourceAddresses ?? []).forEach((list, i) => {
    for (const a of list) {
      if (a.family !== family) continue;
      rules.push({ family, priority: RULE_SOURCE_BASE + i, table: state.uplinkTables[i]!.table, src: `${a.address}/${family === 4 ? 32 : 128}` });
    }
  });
  state.uplinkTables.forEach((u, i) => {
    if (state.pinRules[family].get(u.uplink) !== 'on') return;
    const rule = fwmarkRule(state, family, i);
    if (rule) rules.push(rule);
  });
  if (state.table !== MAIN_TABLE) rules.push({ family, priority: managedRulePriority(foreign), table: state.table });
  return rules;
}

/** Rules whose pinned-flow rule is `as-is`: neither added nor deleted. */
function untouchedRules(state: DesiredState, family: Family): Set<number> {
  const out = new Set<number>();
  state.uplinkTables.forEach((u, i) => {
    if (state.pinRules[family].get(u.uplink) === 'as-is') out.add(RULE_FWMARK_BASE + i);
  });
  return out;
}

function resolve(route: DesiredRoute, observed: Observed, missing: string[]): KernelRoute {
  const nexthops: KernelNexthop[] = [];
  for (const nh of route.nexthops) {
    const ifindex = observed.links.get(nh.interface);
    if (ifindex === undefined || observed.down?.has(nh.interface)) {
      const why = ifindex === undefined ? `no interface ${nh.interface}` : `${nh.interface} is admin down`;
      missing.push(`${nh.uplink} for ${route.destination.prefix} in table ${tableName(route.table)}: ${why}`);
      continue;
    }
    nexthops.push(nh.gateway ? { ifindex, gateway: nh.gateway, weight: nh.weight } : { ifindex, weight: nh.weight });
  }
  const family = route.destination.family;
  return { family, table: route.table, prefix: route.destination.prefix, nexthops, protocol: RTPROT_UPLINKD, metric: OWN_METRIC[family] };
}

/** The tables of `state` and of what was owned before it. */
export function ruleTables(state: Pick<DesiredState, 'table' | 'uplinkTables'>, owned?: Owned): RuleTables {
  return {
    managed: new Set([state.table, ...(owned ? [owned.table] : [])]),
    uplink: new Set([...state.uplinkTables.map((u) => u.table), ...(owned?.uplinkTables ?? [])]),
  };
}

/** The operations that bring the kernel from `observed` to `state`, for the given families. */
export function plan(state: DesiredState, observed: Observed, owned: Owned, families: readonly Family[]): Plan {
  const managedKnown = state.managedKnown ?? true;
  const missing: string[] = [];
  let managedLeftOut = false;
  const foreign: KernelRule[] = [];
  const connected: Operation[] = [];
  const replaces: Operation[] = [];
  const ruleAdds: Operation[] = [];
  const ruleDeletes: Operation[] = [];
  const routeDeletes: Operation[] = [];
  const uplinkTables = new Set(state.uplinkTables.map((u) => u.table));
  const tables = ruleTables(state, owned);
  const isManaged = (r: KernelRoute): boolean => r.table === state.table && state.destinations.some((d) => d.prefix === r.prefix);
  const fixed = fixedNexthopKeys(state.fixedNexthops, observed.links);
  // Owned before, but not any more: a reload moved the table or dropped a destination.
  const wasManaged = (r: KernelRoute): boolean => !isManaged(r) && r.table === owned.table && owned.destinations.some((d) => d.prefix === r.prefix);

  for (const family of families) {
    const leftOutBefore = missing.length;
    const managed = managedKnown ? state.managed.filter((r) => r.destination.family === family).map((r) => resolve(r, observed, missing)) : [];
    managedLeftOut ||= missing.length > leftOutBefore;
    const uplink = state.uplinkRoutes.filter((r) => r.destination.family === family).map((r) => resolve(r, observed, missing));
    const want = [...managed, ...uplink];
    const current = observed.routes[family].filter(
      (r) => mayOwnRoute(r, fixed) && ((managedKnown && isManaged(r)) || uplinkTables.has(r.table) || owned.uplinkTables.has(r.table) || wasManaged(r)),
    );
    // Each (table, prefix) has one route of uplinkd's: the one at its metric, or the kernel's
    // connected route holding the prefix.
    const holder = (table: number, prefix: string): KernelRoute | undefined =>
      current.find((c) => c.table === table && c.prefix === prefix && c.connected) ??
      current.find((c) => c.table === table && c.prefix === prefix && (c.metric ?? 0) === OWN_METRIC[family]);
    for (const route of want) {
      // A route whose interfaces are all missing is left as the kernel has it: deleting it
      // would blackhole the LAN at once, and link changes re-run apply anyway.
      if (route.nexthops.length === 0) continue;
      const have = holder(route.table, route.prefix);
      if (have && currentShape(have) && sameRoute(have, route)) continue;
      // A destination that is a connected subnet in this table (routing.table main): the
      // kernel's own route stays, or the subnet would be cut off.
      if (have?.connected) {
        connected.push({ kind: 'replace-route', route });
        continue;
      }
      replaces.push({ kind: 'replace-route', route });
    }
    for (const have of current) {
      if (have.connected) continue;
      // One that is wanted stays (replaced in place); another metric of the same prefix is
      // stale (an earlier uplinkd's), deleted once the new one is in.
      const wanted = want.some((w) => w.table === have.table && w.prefix === have.prefix && w.nexthops.length > 0);
      if (wanted ? holder(have.table, have.prefix) === have : want.some((w) => w.table === have.table && w.prefix === have.prefix)) continue;
      routeDeletes.push({ kind: 'delete-route', route: have });
    }

    const foreignHere = observed.rules[family].filter((r) => isForeignRule(r, tables));
    foreign.push(...foreignHere);
    const rulesWanted = desiredRules(state, family, foreignHere);
    const untouched = untouchedRules(state, family);
    const rulesHave = observed.rules[family].filter((r) => ownsRule(r, tables) && !untouched.has(r.priority));
    const haveKeys = new Set(rulesHave.map(ruleKey));
    const wantKeys = new Set(rulesWanted.map(ruleKey));
    for (const rule of rulesWanted) if (!haveKeys.has(ruleKey(rule))) ruleAdds.push({ kind: 'add-rule', rule });
    for (const rule of rulesHave) if (!wantKeys.has(ruleKey(rule))) ruleDeletes.push({ kind: 'delete-rule', rule });
  }
  // `lookup main suppress_prefixlength 0` goes in before anything: the kernel checks a route's
  // gateway by a lookup through the rules (fib_check_nh), and a foreign rule further down
  // must not refuse our uplink routes. It only ever sends lookups to main, which answers at
  // 32766 anyway.
  const first = (op: Operation): boolean => op.kind === 'add-rule' && op.rule.priority === RULE_MAIN_FIRST;
  return {
    operations: [...ruleAdds.filter(first), ...replaces, ...ruleAdds.filter((op) => !first(op)), ...ruleDeletes, ...routeDeletes],
    missing,
    managedLeftOut,
    foreign,
    connected,
  };
}

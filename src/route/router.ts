// route/: applies a desired route set idempotently. It reads what the kernel has, changes only
// what differs (replace, never delete-then-add, so there is no instant without a route), and
// logs each change as the `ip` command a person would have typed (as wg-quick does).
import type { DesiredRoute, Family } from '../types/index.js';
import type { KernelNexthop, KernelRoute, KernelRule, RouteKernel } from './kernel.js';
import { isGroup, type GroupMember, type KernelGroup, type KernelNexthopObject, type ResilientSettings } from './nexthop.js';

/** Rule priorities uplinkd owns: every rule in this range is its own (DESIGN §5). */
export const RULE_PRIORITY_MIN = 9000;
export const RULE_PRIORITY_MAX = 9999;
const RULE_OIF_BASE = 9000; // + uplink index: `oif IFACE lookup UPLINK_TABLE`
const RULE_SUPPRESS_MAIN = 9900; // `lookup main suppress_prefixlength 0`
// With source rules: main first here too, so the LAN stays reachable from an uplink's address.
const RULE_SOURCE_MAIN = 9690;
const RULE_SOURCE_BASE = 9700; // + uplink index: `from ADDRESS lookup UPLINK_TABLE`
const RULE_MANAGED = 9901; // `lookup TABLE`
const MAIN_TABLE = 254;

export type Mechanism = 'auto' | 'resilient' | 'multipath';

export interface DesiredState {
  /** The managed table and the destinations uplinkd owns in it. */
  readonly table: number;
  readonly destinations: readonly { readonly prefix: string; readonly family: Family }[];
  readonly managed: readonly DesiredRoute[];
  /**
   * False until some uplink has a verdict: the managed routes, nexthops and groups stay as the
   * kernel has them (a restarted daemon adopts them instead of flapping them). Default true.
   */
  readonly managedKnown?: boolean;
  /** Per-uplink default routes for heartbeats, and the interface each table belongs to. */
  readonly uplinkRoutes: readonly DesiredRoute[];
  /** In config order: an uplink's position also numbers its nexthop objects. */
  readonly uplinkTables: readonly { readonly table: number; readonly interface: string; readonly uplink: string }[];
  /** How the managed routes spread flows; `auto` is resilient groups where the kernel has them. */
  readonly mechanism?: Mechanism;
  readonly resilient?: ResilientSettings;
  /**
   * Healthy uplinks: one that leaves a resilient group while healthy stays in it at weight 1
   * until its busy buckets go idle, so the flows it carries finish there (DESIGN §5).
   */
  readonly drainable?: Readonly<Record<Family, ReadonlySet<string>>>;
  /**
   * routing.source_rules: each uplink's own addresses (in uplinkTables order), so traffic
   * sourced from one leaves through that uplink (services reachable on each address).
   */
  readonly sourceAddresses?: readonly (readonly { readonly family: Family; readonly address: string }[])[];
}

export const DEFAULT_RESILIENT: ResilientSettings = { buckets: 128, idleTimerMs: 120_000 };

export interface ApplyReport {
  readonly changes: readonly string[];
  /** Desired next hops left out because their interface does not exist now. */
  readonly missing: readonly string[];
  /** Uplinks kept in a group at weight 1 only for their busy buckets, with how many. */
  readonly draining: readonly { readonly uplink: string; readonly family: Family; readonly busy: number }[];
  readonly mechanism: 'resilient' | 'multipath';
}

/**
 * Nexthop IDs uplinkd owns: every nexthop object and group in this range is its own (DESIGN §5).
 * Groups: 900000 + 10 * family + slot (two slots, so a new bucket count can be built beside
 * the old group); members: 900100 + 4 * uplink index + 2 for IPv6 + copy (two copies of each
 * uplink, because a group with one path never marks its buckets busy).
 */
export const NEXTHOP_ID_MIN = 900_000;
export const NEXTHOP_ID_MAX = 900_999;
const MEMBER_ID_BASE = 900_100;
/** Uplinks that fit in the member ID range. */
export const MAX_UPLINKS = Math.floor((NEXTHOP_ID_MAX + 1 - MEMBER_ID_BASE) / 4);
/** The largest member weight (struct nexthop_grp keeps weight - 1 in a u8): leaves room for drains. */
const GROUP_WEIGHT_MAX = 254;

export function groupIds(family: Family): readonly [number, number] {
  const base = NEXTHOP_ID_MIN + 10 * family;
  return [base, base + 1];
}

export function memberId(index: number, family: Family, copy: 0 | 1): number {
  return MEMBER_ID_BASE + 4 * index + (family === 6 ? 2 : 0) + copy;
}

/** The uplink position a member ID belongs to, or undefined for an ID that is not a member. */
export function memberIndex(id: number): number | undefined {
  if (id < MEMBER_ID_BASE || id > NEXTHOP_ID_MAX) return undefined;
  return Math.floor((id - MEMBER_ID_BASE) / 4);
}

function ours(id: number): boolean {
  return id >= NEXTHOP_ID_MIN && id <= NEXTHOP_ID_MAX;
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
  if (verb === 'del') return head;
  if (r.nhid !== undefined) return `${head} nhid ${r.nhid}`;
  if (r.nexthops.length === 1) {
    const nh = r.nexthops[0]!;
    return `${head}${nh.gateway ? ` via ${nh.gateway}` : ''} dev ${dev(nh.ifindex)}${r.family === 6 && nh.gateway ? ' onlink' : ''}`;
  }
  return `${head} ${r.nexthops
    .map((nh) => `nexthop${nh.gateway ? ` via ${nh.gateway}` : ''} dev ${dev(nh.ifindex)} weight ${nh.weight}${r.family === 6 && nh.gateway ? ' onlink' : ''}`)
    .join(' ')}`;
}

export function describeRule(verb: 'add' | 'del', r: KernelRule): string {
  const parts = [`${familyFlag(r.family)} rule ${verb} pref ${r.priority}`];
  if (r.src) parts.push(`from ${r.src}`);
  if (r.oifname) parts.push(`oif ${r.oifname}`);
  parts.push(`lookup ${tableName(r.table)}`);
  if (r.suppressPrefixlength !== undefined) parts.push(`suppress_prefixlength ${r.suppressPrefixlength}`);
  return parts.join(' ');
}

export function describeNexthop(nh: KernelNexthopObject, names: ReadonlyMap<number, string>): string {
  const dev = names.get(nh.ifindex) ?? `if${nh.ifindex}`;
  return `${familyFlag(nh.family)} nexthop replace id ${nh.id}${nh.gateway ? ` via ${nh.gateway}` : ''} dev ${dev}${nh.family === 6 && nh.gateway ? ' onlink' : ''}`;
}

export function describeGroup(g: KernelGroup): string {
  const members = g.members.map((m) => `${m.id},${m.weight}`).join('/');
  const res = g.resilient ? ` type resilient buckets ${g.resilient.buckets} idle_timer ${g.resilient.idleTimerMs / 1000}` : '';
  return `ip nexthop replace id ${g.id} group ${members}${res}`;
}

function sameObject(a: KernelNexthopObject, b: KernelNexthopObject): boolean {
  return a.family === b.family && a.ifindex === b.ifindex && (a.gateway ?? '') === (b.gateway ?? '');
}

function memberKey(members: readonly GroupMember[]): string {
  return [...members].sort((a, b) => a.id - b.id).map((m) => `${m.id}:${m.weight}`).join(',');
}

function sameGroup(a: KernelGroup, b: KernelGroup): boolean {
  return (
    memberKey(a.members) === memberKey(b.members) &&
    a.resilient?.buckets === b.resilient?.buckets &&
    a.resilient?.idleTimerMs === b.resilient?.idleTimerMs
  );
}

/** Scales weights so the largest is GROUP_WEIGHT_MAX: a draining member's 1 is then next to nothing. */
export function groupWeights(weights: readonly number[]): number[] {
  const max = Math.max(...weights);
  return weights.map((w) => Math.max(1, Math.round((w * GROUP_WEIGHT_MAX) / max)));
}

function nexthopKey(nh: KernelNexthop, single: boolean): string {
  // A single-path route has no weight in the kernel: do not compare it.
  return `${nh.ifindex}|${nh.gateway ?? ''}|${single ? 1 : nh.weight}`;
}

export function sameRoute(a: KernelRoute, b: KernelRoute): boolean {
  if (a.prefix !== b.prefix || a.table !== b.table || a.nhid !== b.nhid) return false;
  if (a.nhid !== undefined) return true;
  if (a.nexthops.length !== b.nexthops.length) return false;
  const single = a.nexthops.length === 1;
  const ka = a.nexthops.map((n) => nexthopKey(n, single)).sort();
  const kb = b.nexthops.map((n) => nexthopKey(n, single)).sort();
  return ka.every((k, i) => k === kb[i]);
}

function ruleKey(r: KernelRule): string {
  return `${r.family}|${r.priority}|${r.table}|${r.oifname ?? ''}|${r.suppressPrefixlength ?? ''}|${r.src ?? ''}`;
}

export function desiredRules(state: DesiredState, families: readonly Family[]): KernelRule[] {
  const rules: KernelRule[] = [];
  for (const family of families) {
    state.uplinkTables.forEach((u, i) =>
      rules.push({ family, priority: RULE_OIF_BASE + i, table: u.table, oifname: u.interface }),
    );
    // With a table of its own, main still answers first for everything but its default
    // route, so LAN routes win and a DHCP client's default in main cannot override us.
    if (state.table !== MAIN_TABLE) {
      rules.push({ family, priority: RULE_SUPPRESS_MAIN, table: MAIN_TABLE, suppressPrefixlength: 0 });
      rules.push({ family, priority: RULE_MANAGED, table: state.table });
    }
    const sources = state.sourceAddresses ?? [];
    if (sources.some((list) => list.some((a) => a.family === family))) {
      rules.push({ family, priority: RULE_SOURCE_MAIN, table: MAIN_TABLE, suppressPrefixlength: 0 });
      sources.forEach((list, i) => {
        for (const a of list) {
          if (a.family !== family) continue;
          rules.push({ family, priority: RULE_SOURCE_BASE + i, table: state.uplinkTables[i]!.table, src: `${a.address}/${family === 4 ? 32 : 128}` });
        }
      });
    }
  }
  return rules;
}

type Record_ = (line: string) => void;

interface FamilyPlan {
  /** The managed routes wanted in the table, after next hops were resolved. */
  readonly routes: KernelRoute[];
  /** Nexthop IDs the resilient group of this family keeps (objects not to delete). */
  readonly keep: Set<number>;
}

export class Router {
  /** Per-uplink tables this router wrote, so a reload that drops an uplink cleans its table. */
  private ownedUplinkTables = new Set<number>();
  private nexthopSupport: boolean | undefined;

  constructor(
    private readonly kernel: RouteKernel,
    private readonly log: (command: string) => void,
    private readonly families: readonly Family[] = [4, 6],
  ) {}

  private resolve(route: DesiredRoute, links: ReadonlyMap<string, number>, missing: string[]): KernelRoute {
    const nexthops: KernelNexthop[] = [];
    for (const nh of route.nexthops) {
      const ifindex = links.get(nh.interface);
      if (ifindex === undefined) {
        missing.push(`${nh.uplink} (${nh.interface}) for ${route.destination.prefix}`);
        continue;
      }
      nexthops.push(nh.gateway ? { ifindex, gateway: nh.gateway, weight: nh.weight } : { ifindex, weight: nh.weight });
    }
    return { family: route.destination.family, table: route.table, prefix: route.destination.prefix, nexthops };
  }

  /** The mechanism `apply` uses for `wanted`: resilient groups only where the kernel has nexthop objects. */
  async mechanism(wanted: Mechanism = 'auto'): Promise<'resilient' | 'multipath'> {
    // Asked even for multipath: objects of ours left from a resilient run are then removed.
    this.nexthopSupport ??= await this.kernel.nexthopsSupported();
    if (wanted === 'multipath') return 'multipath';
    if (!this.nexthopSupport && wanted === 'resilient') {
      throw new Error('routing.mechanism is resilient, but this kernel has no nexthop objects');
    }
    return this.nexthopSupport ? 'resilient' : 'multipath';
  }

  /** Brings the kernel to `state`; safe to call again and again with the same state. */
  async apply(state: DesiredState): Promise<ApplyReport> {
    const links = await this.kernel.links();
    const names = new Map([...links].map(([n, i]) => [i, n]));
    const changes: string[] = [];
    const missing: string[] = [];
    const draining: { uplink: string; family: Family; busy: number }[] = [];
    const record = (line: string): void => {
      changes.push(line);
      this.log(line);
    };
    const managedKnown = state.managedKnown ?? true;
    const mechanism = await this.mechanism(state.mechanism);
    const objects = this.nexthopSupport ? (await this.kernel.nexthops()).filter((x) => ours(x.id)) : [];

    const uplinkTables = new Set(state.uplinkTables.map((u) => u.table));
    const staleTables = [...this.ownedUplinkTables].filter((t) => !uplinkTables.has(t));
    const keep = new Set<number>();

    for (const family of this.families) {
      let managed: KernelRoute[] = [];
      if (managedKnown) {
        const wanted = state.managed.filter((r) => r.destination.family === family);
        const plan =
          mechanism === 'resilient'
            ? await this.planGroup(family, wanted, state, objects, links, names, missing, draining, record)
            : { routes: wanted.map((r) => this.resolve(r, links, missing)), keep: new Set<number>() };
        managed = plan.routes;
        for (const id of plan.keep) keep.add(id);
      }
      const uplink = state.uplinkRoutes.filter((r) => r.destination.family === family).map((r) => this.resolve(r, links, missing));
      const want = [...managed, ...uplink];

      const current = (await this.kernel.routes(family)).filter((r) => {
        if (r.table === state.table) return managedKnown && state.destinations.some((d) => d.prefix === r.prefix);
        return uplinkTables.has(r.table) || staleTables.includes(r.table);
      });
      for (const route of want) {
        // A route whose interfaces are all missing is left as the kernel has it: deleting it
        // would blackhole the LAN at once, and link changes re-run apply anyway.
        if (route.nhid === undefined && route.nexthops.length === 0) continue;
        const have = current.find((c) => c.table === route.table && c.prefix === route.prefix);
        if (have && sameRoute(have, route)) continue;
        await this.kernel.replaceRoute(route);
        record(describeRoute('replace', route, names));
      }
      for (const have of current) {
        const wanted = want.some((w) => w.table === have.table && w.prefix === have.prefix);
        if (wanted) continue;
        await this.kernel.deleteRoute(have);
        record(describeRoute('del', have, names));
      }
      await this.applyRules(state, family, record);
    }
    // Objects of ours that no group keeps go last, once no route points at them any more.
    if (managedKnown) {
      const unused = objects.filter((x) => !keep.has(x.id));
      for (const x of [...unused.filter(isGroup), ...unused.filter((x) => !isGroup(x))]) {
        await this.deleteNexthop(x.id, record);
      }
    }
    this.ownedUplinkTables = uplinkTables;
    return { changes, missing, draining, mechanism };
  }

  /** Deletes a nexthop, tolerating one the kernel already removed (with its device or its group). */
  private async deleteNexthop(id: number, record: Record_): Promise<void> {
    try {
      await this.kernel.deleteNexthop(id);
      record(`ip nexthop del id ${id}`);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }

  /**
   * The resilient group of one family: its member objects, its weights, and the managed routes
   * pointing at it. Members leave at once, except a healthy uplink's, which stays at weight 1
   * while the kernel still shows busy buckets on it (flows running there keep running).
   */
  private async planGroup(
    family: Family,
    wanted: readonly DesiredRoute[],
    state: DesiredState,
    objects: readonly (KernelNexthopObject | KernelGroup)[],
    links: ReadonlyMap<string, number>,
    names: ReadonlyMap<number, string>,
    missing: string[],
    draining: { uplink: string; family: Family; busy: number }[],
    record: Record_,
  ): Promise<FamilyPlan> {
    const resilient = state.resilient ?? DEFAULT_RESILIENT;
    const slots = groupIds(family);
    const groups = objects.filter(isGroup).filter((g) => slots.includes(g.id));
    const existing = groups.find((g) => g.resilient?.buckets === resilient.buckets);
    const keep = new Set<number>();
    // Every managed route of a family goes through the same uplinks (desiredRoutes).
    const first = wanted[0];
    if (!first) return { routes: [], keep };

    const indexOf = new Map(state.uplinkTables.map((u, i) => [u.uplink, i]));
    const members: { object: KernelNexthopObject; weight: number }[] = [];
    const resolved = first.nexthops.filter((nh) => {
      if (links.has(nh.interface)) return true;
      missing.push(`${nh.uplink} (${nh.interface}) for the IPv${family} group`);
      return false;
    });
    const weights = groupWeights(resolved.map((nh) => nh.weight));
    resolved.forEach((nh, i) => {
      const index = indexOf.get(nh.uplink);
      if (index === undefined) return;
      for (const copy of [0, 1] as const) {
        const id = memberId(index, family, copy);
        const ifindex = links.get(nh.interface)!;
        members.push({ object: nh.gateway ? { id, family, ifindex, gateway: nh.gateway } : { id, family, ifindex }, weight: weights[i]! });
      }
    });
    // All interfaces missing: leave the group, its members and the routes as the kernel has
    // them (see apply); link changes bring us back here.
    if (members.length === 0) {
      for (const g of groups) for (const id of [g.id, ...g.members.map((m) => m.id)]) keep.add(id);
      const routes = wanted.map((r) => ({ family, table: r.table, prefix: r.destination.prefix, nexthops: [] }));
      return { routes, keep };
    }

    for (const { object } of members) {
      keep.add(object.id);
      const have = objects.find((x): x is KernelNexthopObject => x.id === object.id && !isGroup(x));
      if (have && sameObject(have, object)) continue;
      await this.kernel.replaceNexthop(object);
      record(describeNexthop(object, names));
    }

    const groupId = existing?.id ?? slots.find((id) => !groups.some((g) => g.id === id)) ?? slots[0];
    const drains: GroupMember[] = [];
    if (existing) {
      // Only members of healthy uplinks that leave need a look at the buckets.
      const leaving = existing.members
        .filter((m) => !members.some((w) => w.object.id === m.id))
        .map((m) => ({ m, uplink: state.uplinkTables[memberIndex(m.id) ?? -1]?.uplink }))
        .filter((x): x is { m: GroupMember; uplink: string } => x.uplink !== undefined && !!state.drainable?.[family].has(x.uplink));
      const buckets = leaving.length ? await this.kernel.buckets(existing.id) : [];
      for (const { m, uplink } of leaving) {
        const busy = buckets.filter((b) => b.nexthopId === m.id && b.idleMs < resilient.idleTimerMs).length;
        if (busy === 0) continue;
        drains.push({ id: m.id, weight: 1 });
        keep.add(m.id);
        const d = draining.find((x) => x.uplink === uplink && x.family === family);
        if (d) d.busy += busy;
        else draining.push({ uplink, family, busy });
      }
    } else if (groups.some((g) => g.id === groupId)) {
      // A group in our slot with another bucket count (the kernel cannot change it in place).
      await this.deleteNexthop(groupId, record);
    }
    const group: KernelGroup = { id: groupId, members: [...members.map((m) => ({ id: m.object.id, weight: m.weight })), ...drains], resilient };
    keep.add(groupId);
    if (!existing || !sameGroup(existing, group)) {
      await this.kernel.replaceGroup(group);
      record(describeGroup(group));
    }
    const routes = wanted.map((r) => ({ family, table: r.table, prefix: r.destination.prefix, nexthops: [], nhid: groupId }));
    return { routes, keep };
  }

  private async applyRules(state: DesiredState, family: Family, record: Record_): Promise<void> {
    const rulesWanted = desiredRules(state, [family]);
    const rulesHave = (await this.kernel.rules(family)).filter(
      (r) => r.priority >= RULE_PRIORITY_MIN && r.priority <= RULE_PRIORITY_MAX,
    );
    const haveKeys = new Set(rulesHave.map(ruleKey));
    const wantKeys = new Set(rulesWanted.map(ruleKey));
    // Add before delete: a rule that moves priority is never missing in between.
    for (const rule of rulesWanted) {
      if (haveKeys.has(ruleKey(rule))) continue;
      await this.kernel.addRule(rule);
      record(describeRule('add', rule));
    }
    for (const rule of rulesHave) {
      if (wantKeys.has(ruleKey(rule))) continue;
      await this.kernel.deleteRule(rule);
      record(describeRule('del', rule));
    }
  }

  /**
   * Everything uplinkd put in the kernel: managed routes, per-uplink tables, its rules, its
   * nexthops (`routing.remove_on_exit`). Routes go first, so traffic falls back to `main`.
   */
  async removeAll(state: Pick<DesiredState, 'table' | 'destinations' | 'uplinkTables'>): Promise<string[]> {
    const links = await this.kernel.links();
    const names = new Map([...links].map(([n, i]) => [i, n]));
    const changes: string[] = [];
    const record = (line: string): void => {
      changes.push(line);
      this.log(line);
    };
    const tables = new Set([...state.uplinkTables.map((u) => u.table), ...this.ownedUplinkTables]);
    for (const family of this.families) {
      for (const r of await this.kernel.routes(family)) {
        const managed = r.table === state.table && state.destinations.some((d) => d.prefix === r.prefix);
        if (!managed && !tables.has(r.table)) continue;
        await this.kernel.deleteRoute(r);
        record(describeRoute('del', r, names));
      }
      for (const rule of await this.kernel.rules(family)) {
        if (rule.priority < RULE_PRIORITY_MIN || rule.priority > RULE_PRIORITY_MAX) continue;
        await this.kernel.deleteRule(rule);
        record(describeRule('del', rule));
      }
    }
    if (this.nexthopSupport ?? (await this.kernel.nexthopsSupported())) {
      const objects = (await this.kernel.nexthops()).filter((x) => ours(x.id));
      for (const x of [...objects.filter(isGroup), ...objects.filter((x) => !isGroup(x))]) await this.deleteNexthop(x.id, record);
    }
    return changes;
  }

  /**
   * The managed routes as the kernel has them now, with interface names (for status and for
   * adopting them on start). A route through a group reads as the group's members.
   */
  async managedRoutes(state: Pick<DesiredState, 'table' | 'destinations'>): Promise<{ route: KernelRoute; interfaces: string[] }[]> {
    const links = await this.kernel.links();
    const names = new Map([...links].map(([n, i]) => [i, n]));
    const routes: KernelRoute[] = [];
    for (const family of this.families) {
      for (const r of await this.kernel.routes(family)) {
        if (r.table === state.table && state.destinations.some((d) => d.prefix === r.prefix)) routes.push(r);
      }
    }
    const objects = routes.some((r) => r.nhid !== undefined) ? await this.kernel.nexthops() : [];
    return routes.map((r) => {
      const route = r.nhid === undefined ? r : { ...r, nexthops: membersOf(r.nhid, objects) };
      return { route, interfaces: route.nexthops.map((n) => names.get(n.ifindex) ?? `if${n.ifindex}`) };
    });
  }
}

/** A group's (or a single object's) next hops, with weights; `id` of each member kept for adoption. */
function membersOf(id: number, objects: readonly (KernelNexthopObject | KernelGroup)[]): (KernelNexthop & { id: number })[] {
  const x = objects.find((o) => o.id === id);
  if (!x) return [];
  const list = isGroup(x) ? x.members : [{ id: x.id, weight: 1 }];
  return list.flatMap((m) => {
    const o = objects.find((y): y is KernelNexthopObject => y.id === m.id && !isGroup(y));
    if (!o) return [];
    return [o.gateway ? { id: o.id, ifindex: o.ifindex, gateway: o.gateway, weight: m.weight } : { id: o.id, ifindex: o.ifindex, weight: m.weight }];
  });
}

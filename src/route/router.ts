// route/: applies a desired route set idempotently. It reads what the kernel has, changes only
// what differs (replace, never delete-then-add, so there is no instant without a route), and
// logs each change as the `ip` command a person would have typed (as wg-quick does).
import type { DesiredRoute, Family } from '../types/index.js';
import type { KernelNexthop, KernelRoute, KernelRule, RouteKernel } from './kernel.js';

/** Rule priorities uplinkd owns: every rule in this range is its own (DESIGN §5). */
export const RULE_PRIORITY_MIN = 9000;
export const RULE_PRIORITY_MAX = 9999;
const RULE_OIF_BASE = 9000; // + uplink index: `oif IFACE lookup UPLINK_TABLE`
const RULE_SUPPRESS_MAIN = 9900; // `lookup main suppress_prefixlength 0`
const RULE_MANAGED = 9901; // `lookup TABLE`
const MAIN_TABLE = 254;

export interface DesiredState {
  /** The managed table and the destinations uplinkd owns in it. */
  readonly table: number;
  readonly destinations: readonly { readonly prefix: string; readonly family: Family }[];
  readonly managed: readonly DesiredRoute[];
  /** Per-uplink default routes for heartbeats, and the interface each table belongs to. */
  readonly uplinkRoutes: readonly DesiredRoute[];
  readonly uplinkTables: readonly { readonly table: number; readonly interface: string }[];
}

export interface ApplyReport {
  readonly changes: readonly string[];
  /** Desired next hops left out because their interface does not exist now. */
  readonly missing: readonly string[];
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
  if (r.oifname) parts.push(`oif ${r.oifname}`);
  parts.push(`lookup ${tableName(r.table)}`);
  if (r.suppressPrefixlength !== undefined) parts.push(`suppress_prefixlength ${r.suppressPrefixlength}`);
  return parts.join(' ');
}

function nexthopKey(nh: KernelNexthop, single: boolean): string {
  // A single-path route has no weight in the kernel: do not compare it.
  return `${nh.ifindex}|${nh.gateway ?? ''}|${single ? 1 : nh.weight}`;
}

export function sameRoute(a: KernelRoute, b: KernelRoute): boolean {
  if (a.prefix !== b.prefix || a.table !== b.table || a.nexthops.length !== b.nexthops.length) return false;
  const single = a.nexthops.length === 1;
  const ka = a.nexthops.map((n) => nexthopKey(n, single)).sort();
  const kb = b.nexthops.map((n) => nexthopKey(n, single)).sort();
  return ka.every((k, i) => k === kb[i]);
}

function ruleKey(r: KernelRule): string {
  return `${r.family}|${r.priority}|${r.table}|${r.oifname ?? ''}|${r.suppressPrefixlength ?? ''}`;
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
  }
  return rules;
}

export class Router {
  /** Per-uplink tables this router wrote, so a reload that drops an uplink cleans its table. */
  private ownedUplinkTables = new Set<number>();

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

  /** Brings the kernel to `state`; safe to call again and again with the same state. */
  async apply(state: DesiredState): Promise<ApplyReport> {
    const links = await this.kernel.links();
    const names = new Map([...links].map(([n, i]) => [i, n]));
    const changes: string[] = [];
    const missing: string[] = [];
    const record = (line: string): void => {
      changes.push(line);
      this.log(line);
    };

    const uplinkTables = new Set(state.uplinkTables.map((u) => u.table));
    const staleTables = [...this.ownedUplinkTables].filter((t) => !uplinkTables.has(t));
    const desired = [...state.managed, ...state.uplinkRoutes].map((r) => this.resolve(r, links, missing));

    for (const family of this.families) {
      const current = (await this.kernel.routes(family)).filter((r) => {
        if (r.table === state.table) return state.destinations.some((d) => d.prefix === r.prefix);
        return uplinkTables.has(r.table) || staleTables.includes(r.table);
      });
      const want = desired.filter((r) => r.family === family);
      for (const route of want) {
        // A route whose interfaces are all missing is left as the kernel has it: deleting it
        // would blackhole the LAN at once, and link changes re-run apply anyway.
        if (route.nexthops.length === 0) continue;
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
    this.ownedUplinkTables = uplinkTables;
    return { changes, missing };
  }

  /** The managed routes as the kernel has them now, with interface names (for status). */
  async managedRoutes(state: Pick<DesiredState, 'table' | 'destinations'>): Promise<{ route: KernelRoute; interfaces: string[] }[]> {
    const links = await this.kernel.links();
    const names = new Map([...links].map(([n, i]) => [i, n]));
    const out: { route: KernelRoute; interfaces: string[] }[] = [];
    for (const family of this.families) {
      for (const r of await this.kernel.routes(family)) {
        if (r.table !== state.table || !state.destinations.some((d) => d.prefix === r.prefix)) continue;
        out.push({ route: r, interfaces: r.nexthops.map((n) => names.get(n.ifindex) ?? `if${n.ifindex}`) });
      }
    }
    return out;
  }
}

// route/: applies a desired route set idempotently. It reads what the kernel has, lets the
// pure planner (plan.ts) decide what differs, and runs each operation, logging it as the `ip`
// command a person would have typed (as wg-quick does).
import type { Family } from '../types/index.js';
import { attempt, KernelError } from '../netlink/index.js';
import type { ApplyReport, BesideRoutes, DesiredState, KernelLink, KernelRoute, KernelRule, MptcpReport, Refusal } from '../types/routes.js';
import type { RouteKernel } from './kernel.js';
import {
  describe,
  describeRoute,
  describeRule,
  fixedNexthopKeys,
  isForeignRule,
  mayOwnRoute,
  ownsRule,
  plan,
  ruleTables,
  type Operation,
  type Owned,
} from './plan.js';

/**
 * The kernel's answers when an interface cannot take a route: gone (ENODEV), down (ENETDOWN;
 * fib6_nh_init, net/ipv6/route.c), or the gateway on none of its subnets, as once it went
 * down and its connected route with it (ENETUNREACH; fib_check_nh_v4_gw,
 * net/ipv4/fib_semantics.c).
 */
const INTERFACE_ERRNOS: ReadonlySet<string> = new Set(['ENODEV', 'ENETDOWN', 'ENETUNREACH']);

type Owner = Pick<DesiredState, 'table' | 'destinations' | 'uplinkTables' | 'fixedNexthops'>;
type RuleOwner = Pick<DesiredState, 'table' | 'uplinkTables'>;

export class Router {
  /** What the last apply owned, so a reload that moves or drops something cleans it up. */
  private owned: Owned | undefined;

  constructor(
    private readonly kernel: RouteKernel,
    private readonly log: (command: string) => void,
    private readonly families: readonly Family[] = [4, 6],
    /** `mptcp:`: the path manager's endpoints (mptcp/), kept with the routes. */
    private readonly beside?: BesideRoutes,
  ) {}

  private async names(): Promise<{ links: Map<string, number>; names: Map<number, string>; down: Set<string> }> {
    const all = [...(await this.kernel.links())];
    return {
      links: new Map(all.map(([n, l]) => [n, l.index])),
      names: new Map(all.map(([n, l]) => [l.index, n])),
      down: new Set(all.filter(([, l]) => !l.up).map(([n]) => n)),
    };
  }

  private async run(op: Operation): Promise<void> {
    switch (op.kind) {
      case 'replace-route':
        return this.kernel.replaceRoute(op.route);
      case 'delete-route':
        return this.kernel.deleteRoute(op.route);
      case 'add-rule':
        return this.kernel.addRule(op.rule);
      case 'delete-rule':
        return this.kernel.deleteRule(op.rule);
    }
  }

  /** Brings the kernel to `state`; safe to call again and again with the same state. */
  async apply(state: DesiredState): Promise<ApplyReport> {
    const { links, names, down } = await this.names();
    const routes = { 4: [] as KernelRoute[], 6: [] as KernelRoute[] };
    const rules = { 4: [] as KernelRule[], 6: [] as KernelRule[] };
    const owned = this.owned ?? ownedBy(state);
    // The plan looks at uplinkd's tables only, now and as the last apply owned them.
    const tables = [...ownedTables(ownedBy(state)), ...ownedTables(owned)];
    for (const f of this.families) {
      routes[f] = await this.kernel.routes(f, tables);
      rules[f] = await this.kernel.rules(f);
    }
    const { operations, missing, managedLeftOut, foreign, connected } = plan(state, { links, down, routes, rules }, owned, this.families);
    const changes: string[] = [];
    let refused: Refusal[] = [];
    const deferred: string[] = [];
    const refusedOps = new Map<Refusal, Operation>();
    // Adds and replaces come before deletes (plan.ts): when one of the managed routes or a rule
    // was refused, the family's deletes wait, or the old route or rule would go with nothing
    // in its place (a moved table whose new route the kernel refused, say).
    const holdDeletes = new Set<Family>();
    for (const op of operations) {
      const line = describe(op, names);
      const family = op.kind === 'replace-route' || op.kind === 'delete-route' ? op.route.family : op.rule.family;
      const isDelete = op.kind === 'delete-route' || op.kind === 'delete-rule';
      if (isDelete && holdDeletes.has(family)) {
        deferred.push(line);
        continue;
      }
      const code = await attempt(line, () => this.run(op), this.log);
      if (code === undefined) {
        changes.push(line);
        continue;
      }
      // The kernel's answer about this one object: the others still go in.
      const managed = op.kind !== 'replace-route' || op.route.table === state.table;
      const refusal: Refusal = { command: line, code, managed };
      refused.push(refusal);
      refusedOps.set(refusal, op);
      if (!isDelete && managed) holdDeletes.add(family);
      if (isDelete) deferred.push(line);
    }
    refused = await this.whichInterfaceWent(refused, refusedOps, names);
    // Something no longer owned that is still there is tried again next time: remember it.
    if (deferred.length === 0) this.owned = ownedBy(state);
    // After the routes: a subflow re-added for a recovered uplink finds its source rule in.
    // (An endpoint whose interface vanished in between is no next hop: the next apply sees it.)
    const mp = (await this.applyBeside(state, links)) ?? { changes: [], refused: [], missing: [] };
    return {
      changes: [...changes, ...mp.changes],
      missing,
      managedLeftOut,
      refused: [...refused, ...mp.refused],
      foreign: foreign.map((r) => describeRule('add', r)),
      connected: connected.map((op) => describe(op, names)),
      deferred,
    };
  }

  /** Marks the refusals whose interface went away or down while the apply ran: a race, not a fault. */
  private async whichInterfaceWent(refused: Refusal[], ops: ReadonlyMap<Refusal, Operation>, names: ReadonlyMap<number, string>): Promise<Refusal[]> {
    if (!refused.some((r) => INTERFACE_ERRNOS.has(r.code))) return refused;
    let now: Map<string, KernelLink>;
    try {
      now = await this.kernel.links();
    } catch {
      return refused; // what went in went in; the refusals stay as the kernel gave them
    }
    return refused.map((r) => {
      const op = ops.get(r);
      if (!INTERFACE_ERRNOS.has(r.code) || op?.kind !== 'replace-route') return r;
      for (const nh of op.route.nexthops) {
        const name = names.get(nh.ifindex);
        const link = name === undefined ? undefined : now.get(name);
        if (name !== undefined && (!link || link.index !== nh.ifindex || !link.up)) return { ...r, interfaceGone: name };
      }
      return r;
    });
  }

  /** The endpoints; a path manager that cannot be read (a kernel without MPTCP) is one refusal, never the routes' failure. */
  private async applyBeside(state: DesiredState, links: ReadonlyMap<string, number>): Promise<MptcpReport | undefined> {
    try {
      return await this.beside?.apply(state.mptcp, links);
    } catch (err) {
      if (!(err instanceof KernelError)) throw err;
      return { changes: [], refused: [{ command: err.command, code: err.code, managed: false }], missing: [] };
    }
  }

  /**
   * Everything uplinkd put in the kernel: managed routes, per-uplink tables and its rules
   * (`routing.remove_on_exit`). Routes go first, so traffic falls back to `main`.
   */
  async removeAll(state: Owner): Promise<{ routes: string[]; rules: string[] }> {
    const { links, names } = await this.names();
    const fixed = fixedNexthopKeys(state.fixedNexthops, links);
    const routes: string[] = [];
    const rules: string[] = [];
    const owned = ownedBy(state);
    const tables = new Set([...owned.uplinkTables, ...(this.owned?.uplinkTables ?? [])]);
    const ruleOwner = ruleTables(state, this.owned);
    for (const family of this.families) {
      for (const r of await this.kernel.routes(family, [state.table, ...tables])) {
        const managed = r.table === state.table && state.destinations.some((d) => d.prefix === r.prefix);
        // In main, a DHCP client's default (routing.table main) is not uplinkd's to delete.
        if ((!managed && !tables.has(r.table)) || r.connected || !mayOwnRoute(r, fixed)) continue;
        if (await this.tryDelete(() => this.kernel.deleteRoute(r))) routes.push(describeRoute('del', r, names));
      }
      for (const rule of await this.kernel.rules(family)) {
        if (!ownsRule(rule, ruleOwner)) continue;
        if (await this.tryDelete(() => this.kernel.deleteRule(rule))) rules.push(describeRule('del', rule));
      }
    }
    for (const line of [...routes, ...rules]) this.log(line);
    return { routes, rules };
  }

  /** One refused delete (already gone, say) does not keep the rest in the kernel. */
  private async tryDelete(del: () => Promise<void>): Promise<boolean> {
    try {
      await del();
      return true;
    } catch (err) {
      if (err instanceof KernelError) return false;
      throw err;
    }
  }

  /** The managed routes as the kernel has them now, with interface names (status, adoption). */
  async managedRoutes(state: Pick<DesiredState, 'table' | 'destinations' | 'fixedNexthops'>): Promise<{ route: KernelRoute; interfaces: string[] }[]> {
    const { links, names } = await this.names();
    const fixed = fixedNexthopKeys(state.fixedNexthops, links);
    const out: { route: KernelRoute; interfaces: string[] }[] = [];
    for (const family of this.families) {
      for (const route of await this.kernel.routes(family, [state.table])) {
        if (route.table !== state.table || !state.destinations.some((d) => d.prefix === route.prefix) || !mayOwnRoute(route, fixed)) continue;
        out.push({ route, interfaces: route.nexthops.map((n) => names.get(n.ifindex) ?? `if${n.ifindex}`) });
      }
    }
    return out;
  }

  /** The gateway of each uplink's own default route as the kernel has it, per family, by uplink (status). */
  async uplinkGateways(tables: readonly { readonly table: number; readonly uplink: string }[]): Promise<Map<string, Partial<Record<Family, string>>>> {
    const byTable = new Map(tables.map((t) => [t.table, t.uplink]));
    const out = new Map<string, Partial<Record<Family, string>>>(tables.map((t) => [t.uplink, {}]));
    for (const family of this.families) {
      for (const r of await this.kernel.routes(family, byTable.keys())) {
        const uplink = byTable.get(r.table);
        const gateway = r.nexthops.length === 1 ? r.nexthops[0]!.gateway : undefined;
        if (uplink === undefined || !r.prefix.endsWith('/0') || !gateway) continue;
        out.set(uplink, { ...out.get(uplink), [family]: gateway });
      }
    }
    return out;
  }

  /** Somebody else's rules in uplinkd's range, as `ip rule` would add them (status). */
  async foreignRules(state: RuleOwner): Promise<string[]> {
    const tables = ruleTables(state, this.owned);
    const out: string[] = [];
    for (const family of this.families)
      out.push(...(await this.kernel.rules(family)).filter((r) => isForeignRule(r, tables)).map((r) => describeRule('add', r)));
    return out;
  }

  /** The rules uplinkd owns, as the kernel has them (adoption of pinned-flow rules). */
  async ownedRules(state: RuleOwner): Promise<KernelRule[]> {
    const tables = ruleTables(state, this.owned);
    const out: KernelRule[] = [];
    for (const family of this.families) out.push(...(await this.kernel.rules(family)).filter((r) => ownsRule(r, tables)));
    return out;
  }
}

/** The tables whose routes an apply may write or delete. */
function ownedTables(owned: Owned): number[] {
  return [owned.table, ...owned.uplinkTables];
}

function ownedBy(state: Owner): Owned {
  return { table: state.table, destinations: state.destinations, uplinkTables: new Set(state.uplinkTables.map((u) => u.table)) };
}

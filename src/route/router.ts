// route/: applies a desired route set idempotently. It reads what the kernel has, lets the
// pure planner (plan.ts) decide what differs, and runs each operation, logging it as the `ip`
// command a person would have typed (as wg-quick does).
import type { Family } from '../types/index.js';
import { KernelError, type KernelRoute, type KernelRule, type RouteKernel } from './kernel.js';
import { describe, describeRoute, describeRule, isForeignRule, ownsRule, plan, type DesiredState, type Operation, type Owned } from './plan.js';

/** An operation the kernel refused, as the `ip` command and the errno name. */
export interface Refusal {
  readonly command: string;
  readonly code: string;
}

export interface ApplyReport {
  readonly changes: readonly string[];
  /** Desired next hops left out because their interface does not exist now. */
  readonly missing: readonly string[];
  /**
   * Operations the kernel refused. Each is tried on its own: one refused route or rule
   * never keeps the others out; the next apply tries it again.
   */
  readonly refused: readonly Refusal[];
  /** Somebody else's rules in uplinkd's range, as `ip rule` would add them: left alone. */
  readonly foreign: readonly string[];
}

type Owner = Pick<DesiredState, 'table' | 'destinations' | 'uplinkTables'>;

export class Router {
  /** What the last apply owned, so a reload that moves or drops something cleans it up. */
  private owned: Owned | undefined;

  constructor(
    private readonly kernel: RouteKernel,
    private readonly log: (command: string) => void,
    private readonly families: readonly Family[] = [4, 6],
  ) {}

  private async names(): Promise<{ links: Map<string, number>; names: Map<number, string> }> {
    const links = await this.kernel.links();
    return { links, names: new Map([...links].map(([n, i]) => [i, n])) };
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
    const { links, names } = await this.names();
    const routes = { 4: [] as KernelRoute[], 6: [] as KernelRoute[] };
    const rules = { 4: [] as KernelRule[], 6: [] as KernelRule[] };
    for (const f of this.families) {
      routes[f] = await this.kernel.routes(f);
      rules[f] = await this.kernel.rules(f);
    }
    const owned = this.owned ?? ownedBy(state);
    const { operations, missing, foreign, connected } = plan(state, { links, routes, rules }, owned, this.families);
    const changes: string[] = [];
    const refused: Refusal[] = connected.map((op) => ({ command: describe(op, names), code: "the kernel's own connected route is there: left alone" }));
    let deleteRefused = false;
    for (const op of operations) {
      const line = describe(op, names);
      try {
        await this.run(op);
      } catch (err) {
        // A refusal is the kernel's answer about this one object; anything else (the socket
        // gone) would fail every later operation too.
        if (!(err instanceof KernelError)) throw err;
        refused.push({ command: line, code: err.code });
        deleteRefused ||= op.kind === 'delete-route';
        continue;
      }
      changes.push(line);
      this.log(line);
    }
    // A refused delete of something no longer owned is tried again next time: remember it.
    if (!deleteRefused) this.owned = ownedBy(state);
    return { changes, missing, refused, foreign: foreign.map((r) => describeRule('add', r)) };
  }

  /**
   * Everything uplinkd put in the kernel: managed routes, per-uplink tables and its rules
   * (`routing.remove_on_exit`). Routes go first, so traffic falls back to `main`.
   */
  async removeAll(state: Owner): Promise<string[]> {
    const { names } = await this.names();
    const changes: string[] = [];
    const owned = ownedBy(state);
    const tables = new Set([...owned.uplinkTables, ...(this.owned?.uplinkTables ?? [])]);
    for (const family of this.families) {
      for (const r of await this.kernel.routes(family)) {
        const managed = r.table === state.table && state.destinations.some((d) => d.prefix === r.prefix);
        if ((!managed && !tables.has(r.table)) || r.connected) continue;
        if (await this.tryDelete(() => this.kernel.deleteRoute(r))) changes.push(describeRoute('del', r, names));
      }
      for (const rule of await this.kernel.rules(family)) {
        if (!ownsRule(rule)) continue;
        if (await this.tryDelete(() => this.kernel.deleteRule(rule))) changes.push(describeRule('del', rule));
      }
    }
    for (const line of changes) this.log(line);
    return changes;
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
  async managedRoutes(state: Pick<DesiredState, 'table' | 'destinations'>): Promise<{ route: KernelRoute; interfaces: string[] }[]> {
    const { names } = await this.names();
    const out: { route: KernelRoute; interfaces: string[] }[] = [];
    for (const family of this.families) {
      for (const route of await this.kernel.routes(family)) {
        if (route.table !== state.table || !state.destinations.some((d) => d.prefix === route.prefix)) continue;
        out.push({ route, interfaces: route.nexthops.map((n) => names.get(n.ifindex) ?? `if${n.ifindex}`) });
      }
    }
    return out;
  }

  /** Somebody else's rules in uplinkd's range, as `ip rule` would add them (status). */
  async foreignRules(): Promise<string[]> {
    const out: string[] = [];
    for (const family of this.families) out.push(...(await this.kernel.rules(family)).filter(isForeignRule).map((r) => describeRule('add', r)));
    return out;
  }

  /** The rules uplinkd owns, as the kernel has them (adoption of pinned-flow rules). */
  async ownedRules(): Promise<KernelRule[]> {
    const out: KernelRule[] = [];
    for (const family of this.families) out.push(...(await this.kernel.rules(family)).filter(ownsRule));
    return out;
  }
}

function ownedBy(state: Owner): Owned {
  return { table: state.table, destinations: state.destinations, uplinkTables: new Set(state.uplinkTables.map((u) => u.table)) };
}

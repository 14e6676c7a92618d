// route/: an in-memory kernel beside the real one, for testing the router's diffing.
import type { Family } from '../types/index.js';
import { KernelError, RecordingFake } from '../netlink/index.js';
import type { KernelLink, KernelRoute, KernelRule } from '../types/routes.js';
import type { RouteKernel } from './kernel.js';

/** As the kernel keys a route: its table, prefix and metric (fib_find_alias, fib6_add_rt2node). */
function sameSlot(a: KernelRoute, b: KernelRoute): boolean {
  return a.table === b.table && a.prefix === b.prefix && (a.metric ?? 0) === (b.metric ?? 0);
}

export class FakeKernel extends RecordingFake implements RouteKernel {
  readonly linkIndex = new Map<string, number>();
  /** Links in `linkIndex` that are admin down. */
  readonly adminDown = new Set<string>();
  routeTable: KernelRoute[] = [];
  ruleList: KernelRule[] = [];

  async links(): Promise<Map<string, KernelLink>> {
    return new Map([...this.linkIndex].map(([name, index]) => [name, { index, up: !this.adminDown.has(name) }]));
  }
  async routes(family: Family, tables?: Iterable<number>): Promise<KernelRoute[]> {
    const only = tables ? new Set(tables) : undefined;
    return this.routeTable.filter((r) => r.family === family && (!only || only.has(r.table)));
  }
  async replaceRoute(route: KernelRoute): Promise<void> {
    this.record(`replace ${route.table} ${route.prefix}`);
    // As the kernel: no route through an interface that is down (fib_check_nh_v4_gw).
    const down = new Set([...this.adminDown].map((n) => this.linkIndex.get(n)));
    if (route.nexthops.some((n) => down.has(n.ifindex))) throw new KernelError('ENETUNREACH', `replace ${route.table} ${route.prefix}`);
    this.routeTable = [...this.routeTable.filter((r) => !sameSlot(r, route)), route];
  }
  async deleteRoute(route: KernelRoute): Promise<void> {
    this.record(`delete ${route.table} ${route.prefix}`);
    this.routeTable = this.routeTable.filter((r) => !sameSlot(r, route));
  }
  async rules(family: Family): Promise<KernelRule[]> {
    return this.ruleList.filter((r) => r.family === family);
  }
  async addRule(rule: KernelRule): Promise<void> {
    this.record(`add rule ${rule.family} ${rule.priority}`);
    this.ruleList.push(rule);
  }
  async deleteRule(rule: KernelRule): Promise<void> {
    this.record(`delete rule ${rule.family} ${rule.priority}`);
    // Our delete asks for a lookup rule: the kernel finds no other kind (fib_rules.c rule_find).
    const i = rule.other ? -1 : this.ruleList.findIndex((r) => JSON.stringify(r) === JSON.stringify(rule));
    if (i < 0) throw new KernelError('ENOENT', `delete rule ${rule.priority}`);
    this.ruleList.splice(i, 1);
  }
  portId(): number {
    return 4242;
  }
  close(): void {}
}

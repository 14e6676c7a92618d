// route/: an in-memory kernel beside the real one, for testing the router's diffing.
import type { Family } from '../types/index.js';
import type { KernelRoute, KernelRule, RouteKernel } from './kernel.js';

export class FakeKernel implements RouteKernel {
  readonly linkIndex = new Map<string, number>();
  routeTable: KernelRoute[] = [];
  ruleList: KernelRule[] = [];
  /** Every mutating call, in order, for assertions. */
  readonly calls: string[] = [];

  async links(): Promise<Map<string, number>> {
    return new Map(this.linkIndex);
  }
  async routes(family: Family): Promise<KernelRoute[]> {
    return this.routeTable.filter((r) => r.family === family);
  }
  async replaceRoute(route: KernelRoute): Promise<void> {
    this.calls.push(`replace ${route.table} ${route.prefix}`);
    this.routeTable = [...this.routeTable.filter((r) => !(r.table === route.table && r.prefix === route.prefix)), route];
  }
  async deleteRoute(route: KernelRoute): Promise<void> {
    this.calls.push(`delete ${route.table} ${route.prefix}`);
    this.routeTable = this.routeTable.filter((r) => !(r.table === route.table && r.prefix === route.prefix));
  }
  async rules(family: Family): Promise<KernelRule[]> {
    return this.ruleList.filter((r) => r.family === family);
  }
  async addRule(rule: KernelRule): Promise<void> {
    this.calls.push(`add rule ${rule.family} ${rule.priority}`);
    this.ruleList.push(rule);
  }
  async deleteRule(rule: KernelRule): Promise<void> {
    this.calls.push(`delete rule ${rule.family} ${rule.priority}`);
    const i = this.ruleList.findIndex((r) => JSON.stringify(r) === JSON.stringify(rule));
    if (i >= 0) this.ruleList.splice(i, 1);
  }
  portId(): number {
    return 4242;
  }
  close(): void {}
}

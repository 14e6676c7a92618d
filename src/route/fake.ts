// route/: an in-memory kernel beside the real one, for testing the router's diffing.
import type { Family } from '../types/index.js';
import type { KernelRoute, KernelRule, RouteKernel } from './kernel.js';
import { isGroup, type KernelBucket, type KernelGroup, type KernelNexthopObject } from './nexthop.js';

export class FakeKernel implements RouteKernel {
  readonly linkIndex = new Map<string, number>();
  routeTable: KernelRoute[] = [];
  ruleList: KernelRule[] = [];
  /** Off by default: the kernel of the multipath fallback. */
  nexthopSupport = false;
  nexthopList: (KernelNexthopObject | KernelGroup)[] = [];
  /** Buckets per group id, as a test sets them (the fake does not spread flows). */
  readonly bucketTable = new Map<number, KernelBucket[]>();
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
  async nexthopsSupported(): Promise<boolean> {
    return this.nexthopSupport;
  }
  async nexthops(): Promise<(KernelNexthopObject | KernelGroup)[]> {
    if (!this.nexthopSupport) throw Object.assign(new Error('dump nexthops: EOPNOTSUPP'), { code: 'EOPNOTSUPP' });
    return [...this.nexthopList];
  }
  async replaceNexthop(nh: KernelNexthopObject): Promise<void> {
    this.calls.push(`replace nexthop ${nh.id}`);
    this.nexthopList = [...this.nexthopList.filter((x) => x.id !== nh.id), nh];
  }
  async replaceGroup(group: KernelGroup): Promise<void> {
    this.calls.push(`replace group ${group.id} ${group.members.map((m) => `${m.id}:${m.weight}`).join(',')}`);
    this.nexthopList = [...this.nexthopList.filter((x) => x.id !== group.id), group];
  }
  async deleteNexthop(id: number): Promise<void> {
    if (!this.nexthopList.some((x) => x.id === id)) throw Object.assign(new Error(`delete nexthop ${id}: ENOENT`), { code: 'ENOENT' });
    this.calls.push(`delete nexthop ${id}`);
    // As the kernel does: a deleted member leaves its groups, and routes through it go.
    this.nexthopList = this.nexthopList
      .filter((x) => x.id !== id)
      .map((x) => (isGroup(x) ? { ...x, members: x.members.filter((m) => m.id !== id) } : x));
    this.routeTable = this.routeTable.filter((r) => r.nhid !== id);
  }
  async buckets(groupId: number): Promise<KernelBucket[]> {
    return this.bucketTable.get(groupId) ?? [];
  }
  portId(): number {
    return 4242;
  }
  close(): void {}
}

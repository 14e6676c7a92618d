// mptcp/: keeps uplinkd's MPTCP endpoints as the desired state says: reads what the path
// manager has, lets the pure planner (plan.ts) decide, runs each operation and logs it as
// the `ip mptcp` command a person would have typed. Also reads back, for status, each uplink's
// endpoints and how many of the gateway's subflows leave from its addresses.
import { attempt, KernelError } from '../netlink/index.js';
import type { MptcpKernel } from './kernel.js';
import type { DesiredMptcp, UplinkMptcp } from '../types/mptcp.js';
import { describeMptcp, flagWords, type MptcpOperation, planMptcp } from './plan.js';
import type { MptcpReport, Refusal } from '../types/routes.js';

export class MptcpEndpoints {
  /** ID ranges owned by earlier applies: a reload that moves id_base or drops mptcp: cleans them up. */
  private owned: (readonly [number, number])[] = [];

  constructor(
    private readonly kernel: MptcpKernel,
    private readonly log: (command: string) => void,
  ) {}

  /** Brings the path manager to `desired` (undefined: uplinkd owns no endpoint now). */
  async apply(desired: DesiredMptcp | undefined, links: ReadonlyMap<string, number>): Promise<MptcpReport> {
    if (!desired && this.owned.length === 0) return { changes: [], refused: [], missing: [] };
    const { operations, missing, names } = await this.plan(desired, links);
    const changes: string[] = [];
    const refused: Refusal[] = [];
    for (const op of operations) {
      const line = describeMptcp(op, names);
      const code = await attempt(line, () => this.run(op), this.log);
      if (code === undefined) changes.push(line);
      else refused.push({ command: line, code, managed: false });
    }
    if (refused.length === 0) this.owned = desired ? [desired.ids] : [];
    else if (desired && !this.owned.some((r) => r[0] === desired.ids[0] && r[1] === desired.ids[1])) this.owned.push(desired.ids);
    return { changes, refused, missing };
  }

  private async run(op: MptcpOperation): Promise<void> {
    switch (op.kind) {
      case 'limits':
        return this.kernel.setLimits(op.limits);
      case 'add':
        return this.kernel.addEndpoint(op.endpoint);
      case 'delete':
        return this.kernel.deleteEndpoint(op.endpoint.id);
      case 'backup':
        return this.kernel.setBackup(op.endpoint.id, op.backup);
    }
  }

  /**
   * What differs from `desired` now, as the commands that would put it back (the watch for
   * endpoints changed by hand: the path manager sends no event for them).
   */
  async drift(desired: DesiredMptcp | undefined, links: ReadonlyMap<string, number>): Promise<string[]> {
    if (!desired) return [];
    const { operations, names } = await this.plan(desired, links);
    return operations.map((op) => describeMptcp(op, names));
  }

  /** What the path manager has now, planned against `desired`; `names`: ifindex -> interface, for the log lines. */
  private async plan(desired: DesiredMptcp | undefined, links: ReadonlyMap<string, number>) {
    const [endpoints, limits] = await Promise.all([this.kernel.endpoints(), this.kernel.limits()]);
    return { ...planMptcp(desired, { endpoints, limits, links }, this.owned), names: new Map([...links].map(([n, i]) => [i, n])) };
  }

  /** Every endpoint in the ranges uplinkd owns (routing.remove_on_exit). */
  async removeAll(desired: DesiredMptcp | undefined): Promise<string[]> {
    const ranges = [...(desired ? [desired.ids] : []), ...this.owned];
    if (ranges.length === 0) return [];
    const changes: string[] = [];
    for (const e of await this.kernel.endpoints()) {
      if (!ranges.some(([a, b]) => e.id >= a && e.id <= b)) continue;
      try {
        await this.kernel.deleteEndpoint(e.id);
      } catch (err) {
        if (err instanceof KernelError) continue;
        throw err;
      }
      const line = describeMptcp({ kind: 'delete', endpoint: e }, new Map());
      changes.push(line);
      this.log(line);
    }
    this.owned = [];
    return changes;
  }

  /** Per uplink, its endpoints (by ID) and the subflows leaving from its addresses, read from the kernel. */
  async view(uplinks: ReadonlyMap<string, { readonly ids: readonly number[]; readonly addresses: readonly string[] }>): Promise<Map<string, UplinkMptcp>> {
    const [endpoints, subflows] = await Promise.all([this.kernel.endpoints(), this.kernel.subflows()]);
    const out = new Map<string, UplinkMptcp>();
    for (const [uplink, { ids, addresses }] of uplinks) {
      const on = subflows.filter((s) => addresses.includes(s.local));
      out.set(uplink, {
        endpoints: endpoints.filter((e) => ids.includes(e.id)).map((e) => ({ id: e.id, address: e.address, flags: flagWords(e.flags) })),
        subflows: on.length,
        backupSubflows: on.filter((s) => s.backup).length,
      });
    }
    return out;
  }
}

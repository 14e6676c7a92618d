// daemon/: runs the applies that track/ asks for, one at a time, through route/'s router and
// mptcp/'s endpoints; reads the managed state back for status and adoption; removes all of it
// on exit (routing.remove_on_exit).
import type { Logger } from 'pino';
import { type MptcpKernel, MptcpEndpoints } from '../mptcp/index.js';
import { type PinningTable, TABLE_FAMILY, TABLE_NAME } from '../nft/index.js';
import { type RouteKernel, Router } from '../route/index.js';
import type { Family } from '../types/index.js';
import type { DesiredMptcp, UplinkMptcp } from '../types/mptcp.js';
import type { ApplyReport, DesiredState, KernelRoute } from '../types/routes.js';
import { errText } from './ports.js';

export interface ApplierOptions {
  readonly kernel: RouteKernel;
  readonly mptcp?: MptcpKernel;
  readonly families: readonly Family[];
  readonly log: Logger;
  readonly mono: () => number;
  /** Called as an apply begins: the desired state as it is now. */
  readonly begin: () => DesiredState;
  /** Called with an apply's outcome (a report, or the error that stopped it). */
  readonly done: (outcome: { report: ApplyReport } | { error: unknown }) => void;
}

export class Applier {
  readonly router: Router;
  /** `mptcp:`'s endpoints; none without an MPTCP kernel port. */
  readonly endpoints: MptcpEndpoints | undefined;
  private applying: Promise<void> = Promise.resolve();
  private queued = false;
  private stopped = false;
  /** Monotonic ms the apply under way began at. */
  private startedAt: number | undefined;

  constructor(private readonly opts: ApplierOptions) {
    const { log } = opts;
    this.endpoints = opts.mptcp ? new MptcpEndpoints(opts.mptcp, (command) => log.info({ event: 'mptcp', command }, command)) : undefined;
    this.router = new Router(opts.kernel, (command) => log.info({ event: 'route', command }, command), opts.families, this.endpoints);
  }

  /** Resolves once the apply under way and the one queued, if any, are done. */
  get done(): Promise<void> {
    return this.applying;
  }

  /** Applies the latest desired state; requests made while one runs collapse into one more run. */
  request(): void {
    if (this.queued || this.stopped) return;
    this.queued = true;
    this.applying = this.applying.then(async () => {
      this.queued = false;
      if (this.stopped) return;
      this.startedAt = this.opts.mono();
      try {
        this.opts.done({ report: await this.router.apply(this.opts.begin()) });
      } catch (error) {
        this.opts.done({ error });
      } finally {
        this.startedAt = undefined;
      }
    });
  }

  /** How long the apply under way has been running (0 when none is): the watchdog's measure of a hung daemon. */
  runningMs(): number {
    return this.startedAt === undefined ? 0 : this.opts.mono() - this.startedAt;
  }

  /** No apply begins from now on; the one under way finishes (await `done`). */
  stop(): void {
    this.stopped = true;
  }

  managedRoutes(state: Pick<DesiredState, 'table' | 'destinations' | 'fixedNexthops'>): Promise<{ route: KernelRoute; interfaces: string[] }[]> {
    return this.router.managedRoutes(state);
  }

  uplinkGateways(state: Pick<DesiredState, 'uplinkTables'>): Promise<Map<string, Partial<Record<Family, string>>>> {
    return this.router.uplinkGateways(state.uplinkTables);
  }

  foreignRules(state: Pick<DesiredState, 'table' | 'uplinkTables'>): Promise<string[]> {
    return this.router.foreignRules(state);
  }

  /** Each uplink's endpoints and subflows, from the kernel; undefined without MPTCP. */
  mptcpView(uplinks: Parameters<MptcpEndpoints['view']>[0]): Promise<Map<string, UplinkMptcp>> | undefined {
    return this.endpoints?.view(uplinks);
  }
}

/**
 * routing.remove_on_exit: routes and rules first (traffic falls back to `main`), then the path
 * manager's endpoints, then the nftables table; each stage is tried whatever the one before it
 * did (a kernel without MPTCP keeps no table in place), and the stop line counts what really
 * went, by kind.
 */
export async function removeOnExit(
  applier: Applier,
  pinning: PinningTable,
  owned: Pick<DesiredState, 'table' | 'destinations' | 'uplinkTables'>,
  mptcp: DesiredMptcp | undefined,
  log: Logger,
): Promise<void> {
  const failed = (what: string) => (err: unknown) => {
    log.error({ event: 'stop', err: errText(err) }, `could not remove ${what} on exit: ${errText(err)}`);
    return undefined;
  };
  const { routes = [], rules = [] } = (await applier.router.removeAll(owned).catch(failed('the routes and rules'))) ?? {};
  const endpoints = (await applier.endpoints?.removeAll(mptcp).catch(failed('the MPTCP endpoints'))) ?? [];
  const table = await pinning.remove().then(() => true, failed('the nftables table'));
  if (table) {
    const command = `nft delete table ${TABLE_FAMILY} ${TABLE_NAME}`;
    log.info({ event: 'pinning', command }, command);
  }
  const counts = { routes: routes.length, rules: rules.length, endpoints: endpoints.length, table: table === true };
  log.info(
    { event: 'stop', removed: counts },
    `routing.remove_on_exit: removed ${counts.routes} routes, ${counts.rules} rules, ${counts.endpoints} MPTCP endpoints${counts.table ? ' and the nftables table' : '; the nftables table stays'}`,
  );
}

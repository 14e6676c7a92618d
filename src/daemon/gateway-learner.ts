// daemon/: `gateway: auto` wiring. Keeps the book of the default routes other programs keep in
// main (route/learnt.ts) from rtnetlink route events, and from a dump at start, after lost
// events (ENOBUFS) and on link and address changes of an uplink's interface (IPv4 flushes
// routes with an address or a link without telling: fib_disable_ip). Whenever what main offers
// changes, track/ hears of it; which next hop an uplink takes is decided there (gateways.ts).
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Sysctl } from '../host/index.js';
import type { LinkSource } from '../link/index.js';
import { DefaultRouteBook, type RouteEventSource, type RouteKernel } from '../route/index.js';
import type { GatewayOffer } from '../track/index.js';
import { AUTO_GATEWAY, type Config, type Family } from '../types/index.js';
import type { LinkChange } from '../types/link.js';
import { MAIN_TABLE } from '../types/layout.js';
import type { ForeignDefault, RouteEvent } from '../types/routes.js';
import { errText } from './ports.js';

export interface GatewayLearnerPorts {
  readonly kernel: Pick<RouteKernel, 'routes'>;
  readonly families: readonly Family[];
  readonly links: LinkSource;
  readonly routeEvents?: RouteEventSource;
  readonly sysctl: Sysctl;
  readonly config: () => Config;
  readonly log: Logger;
  /** What main offers now (only when it changed). */
  readonly offer: (offer: GatewayOffer) => void;
}

function hasAuto(c: Config): boolean {
  return c.uplinks.some((u) => u.gateway === AUTO_GATEWAY || u.gateway6 === AUTO_GATEWAY);
}

/** The interfaces of the uplinks with `gateway: auto` or `gateway6: auto`, by family. */
function autoInterfaces(c: Config, family: Family): Set<string> {
  return new Set(c.uplinks.filter((u) => (family === 4 ? u.gateway : u.gateway6) === AUTO_GATEWAY).map((u) => u.interface));
}

export class GatewayLearner {
  private readonly book = new DefaultRouteBook();
  private last: GatewayOffer | undefined;
  /** One dump at a time; one asked for meanwhile runs after it. */
  private dumping: Promise<void> | undefined;
  private again = false;
  /** Offers are worked out one after another, each from the book as it is then. */
  private emitting: Promise<void> = Promise.resolve();

  constructor(private readonly p: GatewayLearnerPorts) {}

  private stopped = false;

  /** Subscribes to route and link events and reads main once; resolves once track/ has the first offer. */
  async start(): Promise<void> {
    this.p.routeEvents?.on('change', (events) => this.onRouteEvents(events));
    this.p.links.on('change', (changes) => this.onLinks(changes));
    await this.resync();
  }

  /** The daemon stops: no more dumps, no more offers (the daemon closes the event sources). */
  stop(): void {
    this.stopped = true;
  }

  /**
   * What main offers a config about to run (a reload that adds `auto` or moves it to another
   * interface), read for it: the reload carries it, so those uplinks start from it.
   */
  async offerFor(next: Config): Promise<GatewayOffer> {
    if (hasAuto(next)) await this.dump();
    return this.offerOf(next);
  }

  /** After a reload: main as the new config watches it, offered if it changed. */
  reloaded(): Promise<void> {
    return this.resync();
  }

  private wanted(): boolean {
    return !this.stopped && hasAuto(this.p.config());
  }

  private onRouteEvents(events: readonly RouteEvent[]): void {
    if (!this.wanted()) return;
    // The watch's mark for lost events: a route event with no table.
    if (events.some((e) => e.kind === 'route' && e.table === undefined)) {
      void this.resync();
      return;
    }
    let touched = false;
    let replaced = false;
    for (const e of events) {
      if (!e.defaults) continue;
      this.book.note(e.deleted, e.defaults, e.replace === true);
      touched = true;
      replaced ||= e.replace === true && !e.deleted;
    }
    if (!touched) return;
    void this.emit();
    // A dump under way may have been read before this event and would undo it: one more
    // follows. A replace may have taken another interface's route of that metric: read main.
    if (this.dumping) this.again = true;
    else if (replaced) void this.resync();
  }

  private onLinks(changes: readonly LinkChange[]): void {
    if (!this.wanted()) return;
    const c = this.p.config();
    const watched = new Set(c.uplinks.map((u) => u.interface));
    if (changes.some((ch) => watched.has(ch.name))) void this.resync();
  }

  /** Dumps main's routes of each family afresh (coalesced: one runs, one more may follow). */
  resync(): Promise<void> {
    if (!this.wanted()) return this.emit();
    if (this.dumping) {
      this.again = true;
      return this.dumping;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.dump();
        await this.emit();
      } while (this.again);
    };
    this.dumping = run().finally(() => {
      this.dumping = undefined;
    });
    return this.dumping;
  }

  private async dump(): Promise<void> {
    try {
      for (const family of this.p.families) this.book.reset(family, await this.p.kernel.routes(family, [MAIN_TABLE]));
    } catch (err) {
      this.p.log.error({ event: 'gateway', err: errText(err) }, `cannot read main's default routes for gateway: auto: ${errText(err)}`);
    }
  }

  private emit(): Promise<void> {
    this.emitting = this.emitting
      .then(() => this.emitOnce())
      .catch((err: unknown) => this.p.log.error({ event: 'gateway', err: errText(err) }, `gateway: auto: ${errText(err)}`));
    return this.emitting;
  }

  /** The offer from the book, with interfaces named as the link monitor has them. */
  private async emitOnce(): Promise<void> {
    const offer = await this.offerOf(this.p.config());
    if (this.stopped) return;
    if (this.last && isDeepStrictEqual(this.last, offer)) return;
    this.last = offer;
    this.p.offer(offer);
  }

  private async offerOf(c: Config): Promise<GatewayOffer> {
    const snapshot = this.p.links.snapshot();
    const names = new Map([...snapshot.values()].map((l) => [l.index, l.name]));
    const watched = new Set([...autoInterfaces(c, 4), ...autoInterfaces(c, 6)]);
    const defaults = new Map<string, ForeignDefault[]>();
    for (const [ifindex, list] of this.book.byInterface()) {
      const name = names.get(ifindex);
      if (name !== undefined && watched.has(name)) defaults.set(name, list);
    }
    return { defaults, raIgnored: await this.raIgnored([...autoInterfaces(c, 6)]) };
  }

  /**
   * The interfaces where the kernel ignores router advertisements: accept_ra 0, or 1 while
   * the interface forwards (Documentation/networking/ip-sysctl.rst, accept_ra).
   */
  private async raIgnored(interfaces: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const iface of interfaces) {
      try {
        const acceptRa = await this.p.sysctl.read(`net/ipv6/conf/${iface}/accept_ra`);
        const forwarding = await this.p.sysctl.read(`net/ipv6/conf/${iface}/forwarding`);
        if (acceptRa === undefined) continue;
        const n = Number(acceptRa);
        if (n === 0 || (n === 1 && forwarding === '1')) out.set(iface, n);
      } catch {
        // Unreadable: nothing to say about it.
      }
    }
    return out;
  }
}

// link/: watches links and addresses through rtnetlink (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
// RTNLGRP_IPV6_IFADDR): an initial dump, then events, as snapshots and changes. When the
// event socket overflows (ENOBUFS: the kernel dropped messages) the monitor dumps again
// instead of trusting a snapshot that has missed something.
import { EventEmitter } from 'node:events';
import netlink from 'netlink';
import { listenNetlink, type NetlinkListener } from '../native/index.js';
import { bytesToAddress } from '../types/address.js';
import {
  AF_INET,
  AF_INET6,
  RT_SCOPE_UNIVERSE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_LINK,
} from '../types/netlink.js';
import { diffSnapshots, type LinkAddress, type LinkChange, type LinkInfo, type LinkSnapshot } from '../types/link.js';

const GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;

type LinkMsg = ReturnType<typeof netlink.rt.parseLinkMessage>;
type AddrMsg = ReturnType<typeof netlink.rt.parseAddressMessage>;

function bytesToIp(b: Buffer | undefined): string | undefined {
  return b && (b.length === 4 || b.length === 16) ? bytesToAddress(b) : undefined;
}

function linkFromMessage(m: LinkMsg, addresses: readonly LinkAddress[]): LinkInfo | undefined {
  const name = m.attrs.ifname;
  const index = m.data.index;
  if (!name || !index) return undefined;
  return { index, name, adminUp: !!m.data.flags?.up, carrier: !!m.data.flags?.lowerUp, addresses };
}

/** An address message as the monitor keeps it; undefined for one that cannot source anything yet. */
function addressFromMessage(m: AddrMsg): { index: number; address: LinkAddress } | undefined {
  const family = m.data.family === AF_INET ? 4 : m.data.family === AF_INET6 ? 6 : undefined;
  const index = m.data.index;
  if (!family || !index) return undefined;
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
  const ip = bytesToIp(m.attrs.local ?? m.attrs.address);
  if (!ip) return undefined;
  // A tentative IPv6 address (DAD still running) cannot be used as a source (RFC 4862 §5.4).
  if (m.data.flags?.tentative || m.data.flags?.dadfailed) return undefined;
  return { index, address: { family, prefix: `${ip}/${m.data.prefixlen ?? 0}`, global: m.data.scope === RT_SCOPE_UNIVERSE } };
}

export interface LinkMonitorOptions {
  /** SO_RCVBUF of the event socket; small values force the resync path (tests). */
  readonly recvBufferSize?: number;
}

export interface LinkMonitorEvents {
  change: [changes: LinkChange[], snapshot: LinkSnapshot];
  resync: [reason: string];
  error: [err: Error];
}

/** The source of link snapshots and changes the daemon listens to; a fake sits beside it in tests. */
export interface LinkSource {
  snapshot(): LinkSnapshot;
  on<E extends keyof LinkMonitorEvents>(event: E, listener: (...args: LinkMonitorEvents[E]) => void): this;
  close(): void;
}

export class LinkMonitor extends EventEmitter<LinkMonitorEvents> implements LinkSource {
  private events: NetlinkListener | undefined;
  private readonly dumps = netlink.createRtNetlink();
  private current: Map<string, LinkInfo> = new Map();
  private resyncing: Promise<void> | undefined;
  /** Events came in while a resync dump ran: that dump may be older than they are. */
  private dirty = false;
  private closed = false;

  constructor(private readonly opts: LinkMonitorOptions = {}) {
    super();
  }

  snapshot(): LinkSnapshot {
    return this.current;
  }

  /** Subscribes, then dumps: an event racing the dump is applied after it and changes nothing twice. */
  async start(): Promise<LinkSnapshot> {
    // The event socket is the addon's: it reports an overflow (ENOBUFS) as an error object
    // instead of aborting, as the netlink package's receive path does.
    this.events = listenNetlink(
      GROUPS,
      this.opts.recvBufferSize ?? 0,
      (datagrams) => {
        try {
          this.onMessages(datagrams.flatMap((d) => netlink.parseMessages(d)));
        } catch (err) {
          this.resync(`an event could not be read (${(err as Error).message})`);
        }
      },
      (err) => {
        if (err.code === 'ENOBUFS') this.resync('event socket overflowed (ENOBUFS)');
        else this.fail(new Error(err.message));
      },
    );
    this.dumps.socket.on('error', (err) => this.fail(err));
    this.current = await this.dump();
    return this.current;
  }

  private async dump(): Promise<Map<string, LinkInfo>> {
    // One dump at a time per socket: interleaved multipart replies confuse the netlink package.
    const links = await this.dumps.getLinks();
    const addrs = await this.dumps.getAddresses();
    const byIndex = new Map<number, LinkAddress[]>();
    for (const a of addrs) {
      const parsed = addressFromMessage(a);
      if (parsed) byIndex.set(parsed.index, [...(byIndex.get(parsed.index) ?? []), parsed.address]);
    }
    const out = new Map<string, LinkInfo>();
    for (const l of links) {
      const info = linkFromMessage(l, byIndex.get(l.data.index ?? 0) ?? []);
      if (info) out.set(info.name, info);
    }
    return out;
  }

  /** Throws the snapshot away and dumps again; changes found are emitted as usual. */
  resync(reason: string): void {
    if (this.closed) return;
    if (this.resyncing) {
      this.dirty = true;
      return;
    }
    this.emit('resync', reason);
    this.dirty = false;
    this.resyncing = this.dump().then(
      (fresh) => {
        this.resyncing = undefined;
        if (this.closed) return;
        this.replace(fresh);
        // Dump again until one completes with no event racing it.
        if (this.dirty) this.resync('events arrived during the last dump');
      },
      (err: unknown) => {
        this.resyncing = undefined;
        this.fail(err as Error);
      },
    );
  }

  private fail(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private replace(next: Map<string, LinkInfo>): void {
    const changes = diffSnapshots(this.current, next);
    this.current = next;
    if (changes.length) this.emit('change', changes, next);
  }

  private onMessages(msgs: { type: number; data: Buffer }[]): void {
    if (this.closed) return;
    // While a resync dump runs these may be newer than the dump: dump once more after it.
    if (this.resyncing) {
      this.dirty = true;
      return;
    }
    const next = new Map(this.current);
    const nameOf = (index: number): string | undefined => [...next.values()].find((l) => l.index === index)?.name;
    for (const m of msgs) {
      if (m.type === RTM_NEWLINK) {
        const lm = netlink.rt.parseLinkMessage(m.data);
        const index = lm.data.index ?? 0;
        const oldName = nameOf(index);
        const old = oldName ? next.get(oldName) : undefined;
        const info = linkFromMessage(lm, old?.addresses ?? []);
        if (!info) continue;
        if (oldName && oldName !== info.name) next.delete(oldName); // renamed
        next.set(info.name, info);
      } else if (m.type === RTM_DELLINK) {
        const name = nameOf(netlink.rt.parseLinkMessage(m.data).data.index ?? 0);
        if (name) next.delete(name);
      } else if (m.type === RTM_NEWADDR || m.type === RTM_DELADDR) {
        const am = netlink.rt.parseAddressMessage(m.data);
        const name = nameOf(am.data.index ?? 0);
        const link = name ? next.get(name) : undefined;
        if (!link) continue;
        const parsed = addressFromMessage(am);
        const ip = bytesToIp(am.attrs.local ?? am.attrs.address);
        const prefix = `${ip}/${am.data.prefixlen ?? 0}`;
        const others = link.addresses.filter((a) => a.prefix !== prefix);
        const addresses = m.type === RTM_NEWADDR && parsed ? [...others, parsed.address] : others;
        next.set(link.name, { ...link, addresses });
      }
    }
    this.replace(next);
  }

  close(): void {
    this.closed = true;
    this.events?.close();
    this.dumps.socket.close();
  }
}

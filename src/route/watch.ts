// route/: watches routes and rules through rtnetlink events, and nftables through netfilter
// netlink events, so a change someone
// else made to what uplinkd owns can be put right (reconcile). Events that uplinkd's own
// requests caused carry its netlink port and are left out.
import { EventEmitter } from 'node:events';
import netlink from 'netlink';
import { listenNetlink, type NetlinkListener } from '../native/index.js';
import {
  attrString,
  attrU32,
  FRA_PRIORITY,
  FRA_TABLE,
  NETLINK_NETFILTER,
  NFNL_SUBSYS_NFTABLES,
  NFNLGRP_NFTABLES_BIT,
  NFPROTO_INET,
  NFT_MSG_DELTABLE,
  NFT_MSG_NEWTABLE,
  NFTA_TABLE_NAME,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTMGRP_IPV4_ROUTE,
  RTMGRP_IPV4_RULE,
  RTMGRP_IPV6_ROUTE,
  RTMGRP_IPV6_RULE,
} from '../types/netlink.js';

const GROUPS = RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV6_RULE;

export interface RouteEvent {
  /** `mptcp`: uplinkd's path-manager endpoints differ from what it wrote (the daemon's periodic look: no event exists for them). */
  readonly kind: 'route' | 'rule' | 'mptcp';
  readonly deleted: boolean;
  /** Routes and rules: the table; rules: their priority. */
  readonly table?: number;
  readonly priority?: number;
  /** `mptcp`: the commands that would put it back. */
  readonly drift?: string;
}

export interface RouteEventSource {
  on(event: 'change', listener: (events: RouteEvent[]) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  close(): void;
}

/** One event message -> what it touched; undefined for other messages. */
export function parseRouteEvent(type: number, body: Buffer): RouteEvent | undefined {
  if ((type === RTM_NEWROUTE || type === RTM_DELROUTE) && body.length >= 12) {
    // struct rtmsg is 12 bytes; rtm_table (byte 4) is 252 when the real id is in RTA_TABLE.
    return { kind: 'route', deleted: type === RTM_DELROUTE, table: attrU32(body, 12, RTA_TABLE) ?? body.readUInt8(4) };
  }
  if ((type === RTM_NEWRULE || type === RTM_DELRULE) && body.length >= 12) {
    const priority = attrU32(body, 12, FRA_PRIORITY) ?? 0;
    return { kind: 'rule', deleted: type === RTM_DELRULE, priority, table: attrU32(body, 12, FRA_TABLE) ?? body.readUInt8(4) };
  }
  return undefined;
}

export class RouteWatcher extends EventEmitter implements RouteEventSource {
  private listener: NetlinkListener | undefined;

  /** `ownPort`: the port of uplinkd's own request socket, whose events are its own doing. */
  start(ownPort: () => number): void {
    this.listener = listenNetlink(
      GROUPS,
      0,
      (datagrams) => {
        const events: RouteEvent[] = [];
        for (const d of datagrams) {
          for (const m of netlink.parseMessages(d)) {
            if (m.port !== 0 && m.port === ownPort()) continue;
            const e = parseRouteEvent(m.type, m.data);
            if (e) events.push(e);
          }
        }
        if (events.length) this.emit('change', events);
      },
      (err) => {
        // Lost events: say so, and let the daemon check everything once.
        if (err.code === 'ENOBUFS') this.emit('change', [{ kind: 'route', deleted: true }]);
        else this.emit('error', new Error(err.message));
      },
    );
  }

  close(): void {
    this.listener?.close();
    this.listener = undefined;
  }
}

export interface NftEventSource {
  /**
   * Something changed in nftables: look whether uplinkd's table is intact. `deleted`: the
   * table `inet uplinkd` itself was deleted (as `nft flush ruleset` does), no need to look.
   */
  on(event: 'change', listener: (deleted: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  close(): void;
}

/** Whether a netfilter netlink message creates or deletes table `inet NAME`. */
export function tableEvent(type: number, body: Buffer, name: string): 'created' | 'deleted' | undefined {
  const msg = type & 0xff;
  if (type >> 8 !== NFNL_SUBSYS_NFTABLES || (msg !== NFT_MSG_NEWTABLE && msg !== NFT_MSG_DELTABLE) || body.length < 4) return undefined;
  // struct nfgenmsg: nfgen_family, version, res_id (4 bytes), then the attributes.
  if (body.readUInt8(0) !== NFPROTO_INET || attrString(body, 4, NFTA_TABLE_NAME) !== name) return undefined;
  return msg === NFT_MSG_DELTABLE ? 'deleted' : 'created';
}

/** nftables changes, from the NFNLGRP_NFTABLES multicast group: no polling. */
export class NftWatcher extends EventEmitter implements NftEventSource {
  private listener: NetlinkListener | undefined;

  /** `table`: the name of uplinkd's table, whose deletion is reported as such. */
  start(table: string): void {
    this.listener = listenNetlink(
      NFNLGRP_NFTABLES_BIT,
      0,
      (datagrams) => {
        // The last word on the table counts: a transaction that deletes and creates it (a
        // table replaced by hand, or uplinkd's first load over an old table) comes together.
        let last: 'created' | 'deleted' | undefined;
        for (const d of datagrams) for (const m of netlink.parseMessages(d)) last = tableEvent(m.type, m.data, table) ?? last;
        this.emit('change', last === 'deleted');
      },
      (err) => {
        // Lost events: look anyway.
        if (err.code === 'ENOBUFS') this.emit('change', false);
        else this.emit('error', new Error(err.message));
      },
      NETLINK_NETFILTER,
    );
  }

  close(): void {
    this.listener?.close();
    this.listener = undefined;
  }
}

// route/: watches routes and rules through rtnetlink events, and nftables through netfilter
// netlink events, so a change someone
// else made to what uplinkd owns can be put right (reconcile). Events that uplinkd's own
// requests caused carry its netlink port and are left out.
import { EventEmitter } from 'node:events';
import netlink from 'netlink';
import { listenNetlink, NETLINK_NETFILTER, type NetlinkListener } from '../native/index.js';

// include/uapi/linux/rtnetlink.h
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_NEWRULE = 32;
const RTM_DELRULE = 33;
const RTA_TABLE = 15;
const FRA_PRIORITY = 6;
const FRA_TABLE = 15;
// Legacy group bits (1 << (RTNLGRP_x - 1)): IPV4_ROUTE, IPV4_RULE, IPV6_ROUTE, IPV6_RULE.
const GROUPS = 0x40 | 0x80 | 0x400 | (1 << 18);
// include/uapi/linux/netfilter/nfnetlink.h: NFNLGRP_NFTABLES = 7, as a legacy group bit.
const NFTABLES_GROUP = 1 << (7 - 1);

export interface RouteEvent {
  readonly kind: 'route' | 'rule';
  readonly deleted: boolean;
  /** Routes and rules: the table; rules: their priority. */
  readonly table?: number;
  readonly priority?: number;
}

export interface RouteEventSource {
  on(event: 'change', listener: (events: RouteEvent[]) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  close(): void;
}

function attrU32(body: Buffer, from: number, type: number): number | undefined {
  let off = from;
  while (off + 4 <= body.length) {
    const len = body.readUInt16LE(off);
    if (len < 4 || off + len > body.length) return undefined;
    if ((body.readUInt16LE(off + 2) & 0x3fff) === type && len >= 8) return body.readUInt32LE(off + 4);
    off += (len + 3) & ~3;
  }
  return undefined;
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

// include/uapi/linux/netfilter/nfnetlink.h, nf_tables.h, netfilter.h
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_DELTABLE = 2;
const NFTA_TABLE_NAME = 1;
const NFPROTO_INET = 1;

/** Whether a netfilter netlink message creates or deletes table `inet NAME`. */
export function tableEvent(type: number, body: Buffer, name: string): 'created' | 'deleted' | undefined {
  const msg = type & 0xff;
  if (type >> 8 !== NFNL_SUBSYS_NFTABLES || (msg !== NFT_MSG_NEWTABLE && msg !== NFT_MSG_DELTABLE) || body.length < 4) return undefined;
  // struct nfgenmsg: nfgen_family, version, res_id (4 bytes), then the attributes.
  if (body.readUInt8(0) !== NFPROTO_INET) return undefined;
  let off = 4;
  while (off + 4 <= body.length) {
    const len = body.readUInt16LE(off);
    if (len < 4 || off + len > body.length) return undefined;
    if ((body.readUInt16LE(off + 2) & 0x3fff) === NFTA_TABLE_NAME) {
      if (body.toString('utf8', off + 4, off + len).replace(/\0+$/, '') !== name) return undefined;
      return msg === NFT_MSG_DELTABLE ? 'deleted' : 'created';
    }
    off += (len + 3) & ~3;
  }
  return undefined;
}

/** nftables changes, from the NFNLGRP_NFTABLES multicast group: no polling. */
export class NftWatcher extends EventEmitter implements NftEventSource {
  private listener: NetlinkListener | undefined;

  /** `table`: the name of uplinkd's table, whose deletion is reported as such. */
  start(table: string): void {
    this.listener = listenNetlink(
      NFTABLES_GROUP,
      0,
      (datagrams) => {
        // The last word on the table counts: uplinkd's own replace deletes and creates it in
        // one transaction, whose events come together.
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

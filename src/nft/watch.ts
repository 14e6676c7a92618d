// nft/: nftables events: is uplinkd's table still there (a firewall reload may flush it)?
import { EventEmitter } from 'node:events';
import netlink from 'netlink';
import { listenNetlink, type NetlinkListener } from '../native/index.js';
import {
  attrString,
  NETLINK_NETFILTER,
  NFNL_SUBSYS_NFTABLES,
  NFNLGRP_NFTABLES_BIT,
  NFPROTO_INET,
  NFT_MSG_DELTABLE,
  NFT_MSG_NEWTABLE,
  NFTA_TABLE_NAME,
} from '../types/netlink.js';

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

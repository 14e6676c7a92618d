// route/: watches routes and rules through rtnetlink events, so a change someone else made to
// what uplinkd owns can be put right (reconcile). Events that uplinkd's own
// requests caused carry its netlink port and are left out.
import { EventEmitter } from 'node:events';
import netlink from 'netlink';
import { listenNetlink, type NetlinkListener } from '../native/index.js';
import {
  attrU32,
  FRA_PRIORITY,
  FRA_TABLE,
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
import type { RouteEvent } from '../types/routes.js';
import { defaultsOfMessage } from './learnt.js';

const GROUPS = RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV6_RULE;

export interface RouteEventSource {
  on(event: 'change', listener: (events: RouteEvent[]) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  close(): void;
}

/** One event message -> what it touched; undefined for other messages. A default route in main that is not uplinkd's carries its next hops (`gateway: auto`). */
export function parseRouteEvent(type: number, body: Buffer, flags = 0): RouteEvent | undefined {
  if ((type === RTM_NEWROUTE || type === RTM_DELROUTE) && body.length >= 12) {
    // struct rtmsg is 12 bytes; rtm_table (byte 4) is 252 when the real id is in RTA_TABLE.
    const table = attrU32(body, 12, RTA_TABLE) ?? body.readUInt8(4);
    const learnt = defaultsOfMessage(type, flags, body);
    return {
      kind: 'route',
      deleted: type === RTM_DELROUTE,
      table,
      ...(learnt?.defaults.length ? { defaults: learnt.defaults, ...(learnt.replace ? { replace: true } : {}) } : {}),
    };
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
            const e = parseRouteEvent(m.type, m.data, m.flags);
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

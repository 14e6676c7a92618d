// route/watch and nft/watch: what a route, rule or nftables event message touched. The message bodies are
// built byte by byte: struct rtmsg and struct fib_rule_hdr (12 bytes each, the table id in
// byte 4; include/uapi/linux/rtnetlink.h, fib_rules.h), struct nfgenmsg (4 bytes;
// nfnetlink.h), then struct nlattr attributes (u16 length, u16 type, payload padded to 4),
// all in host (little-endian) order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import netlink from 'netlink';
import { parseRouteEvent } from '../../src/route/index.js';
import type { RouteEvent } from '../../src/types/routes.js';
import { tableEvent } from '../../src/nft/index.js';

// rtnetlink.h message types; rtattr and FRA_* types.
const RTM_NEWLINK = 16,
  RTM_NEWADDR = 20,
  RTM_NEWROUTE = 24,
  RTM_DELROUTE = 25,
  RTM_NEWRULE = 32,
  RTM_DELRULE = 33;
const RTA_DST = 1,
  RTA_OIF = 4,
  RTA_GATEWAY = 5,
  RTA_PRIORITY = 6,
  RTA_TABLE = 15;
const FRA_PRIORITY = 6,
  FRA_FWMARK = 10,
  FRA_SUPPRESS_PREFIXLEN = 14,
  FRA_TABLE = 15,
  FRA_FWMASK = 16;

function attr(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(4 + payload.length, 0);
  head.writeUInt16LE(type, 2);
  return Buffer.concat([head, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}
function u32(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value, 0);
  return attr(type, b);
}
/** struct rtmsg / fib_rule_hdr: family, dst_len, src_len, tos, table, then 3 bytes and u32 flags. */
function header(family: number, table: number, dstLen = 0): Buffer {
  return Buffer.from([family, dstLen, 0, 0, table, 0, 0, 0, 0, 0, 0, 0]);
}
const body = (...parts: Buffer[]): Buffer => Buffer.concat(parts);

describe('route and rule events', () => {
  const rows: [string, number, Buffer, RouteEvent | undefined][] = [
    ['a route in table 100', RTM_NEWROUTE, body(header(2, 100), u32(RTA_TABLE, 100)), { kind: 'route', deleted: false, table: 100 }],
    [
      'a route deleted from table 1100: rtm_table says 252 (compat), RTA_TABLE the id',
      RTM_DELROUTE,
      body(header(2, 252), u32(RTA_TABLE, 1100)),
      { kind: 'route', deleted: true, table: 1100 },
    ],
    ['no RTA_TABLE: rtm_table', RTM_NEWROUTE, body(header(10, 254)), { kind: 'route', deleted: false, table: 254 }],
    [
      'RTA_TABLE after RTA_DST, RTA_GATEWAY (16 bytes each), RTA_OIF and RTA_PRIORITY',
      RTM_NEWROUTE,
      body(
        header(10, 252, 32),
        attr(RTA_DST, Buffer.from('20010db8000000000000000000000000', 'hex')),
        attr(RTA_GATEWAY, Buffer.from('fe800000000000000000000000000001', 'hex')),
        u32(RTA_OIF, 3),
        u32(RTA_PRIORITY, 1024),
        u32(RTA_TABLE, 300),
      ),
      { kind: 'route', deleted: false, table: 300 },
    ],
    // A 1-byte payload is padded to 8 bytes on the wire; the walker must step over the padding.
    [
      'an odd-length attribute before RTA_TABLE',
      RTM_NEWROUTE,
      body(header(2, 252), attr(200, Buffer.from([7])), u32(RTA_TABLE, 70000)),
      { kind: 'route', deleted: false, table: 70000 },
    ],
    [
      'a truncated attribute ends the walk: rtm_table',
      RTM_NEWROUTE,
      body(header(2, 200), u32(RTA_TABLE, 1200).subarray(0, 6)),
      { kind: 'route', deleted: false, table: 200 },
    ],
    [
      'a rule: priority and table',
      RTM_NEWRULE,
      body(header(2, 100), u32(FRA_TABLE, 100), u32(FRA_PRIORITY, 9900)),
      { kind: 'rule', deleted: false, priority: 9900, table: 100 },
    ],
    [
      'a fwmark rule deleted: FRA_FWMARK is not the priority',
      RTM_DELRULE,
      body(header(2, 252), u32(FRA_FWMARK, 0x100), u32(FRA_FWMASK, 0x3f00), u32(FRA_TABLE, 1100), u32(FRA_PRIORITY, 9500)),
      { kind: 'rule', deleted: true, priority: 9500, table: 1100 },
    ],
    [
      'the main-first rule',
      RTM_NEWRULE,
      body(header(10, 254), u32(FRA_SUPPRESS_PREFIXLEN, 0), u32(FRA_TABLE, 254), u32(FRA_PRIORITY, 9200)),
      { kind: 'rule', deleted: false, priority: 9200, table: 254 },
    ],
    // Priority 0 (the local rule) comes without FRA_PRIORITY.
    [
      'a rule without FRA_PRIORITY: priority 0',
      RTM_NEWRULE,
      body(header(2, 255), u32(FRA_TABLE, 255)),
      { kind: 'rule', deleted: false, priority: 0, table: 255 },
    ],
    ['a rule without attributes: table from the header', RTM_DELRULE, body(header(2, 200)), { kind: 'rule', deleted: true, priority: 0, table: 200 }],
    ['a route body shorter than struct rtmsg', RTM_NEWROUTE, header(2, 100).subarray(0, 11), undefined],
    ['a rule body shorter than struct fib_rule_hdr', RTM_NEWRULE, Buffer.alloc(4), undefined],
    ['a link message', RTM_NEWLINK, body(Buffer.alloc(16)), undefined],
    ['an address message', RTM_NEWADDR, body(header(2, 0), u32(RTA_TABLE, 100)), undefined],
  ];
  for (const [what, type, data, want] of rows) it(what, () => assert.deepEqual(parseRouteEvent(type, data), want));

  it('messages as the watcher receives them: one datagram, nlmsghdr each', () => {
    const message = (type: number, port: number, payload: Buffer): Buffer => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(16 + payload.length, 0); // nlmsg_len
      h.writeUInt16LE(type, 4); // nlmsg_type
      h.writeUInt32LE(port, 12); // nlmsg_pid
      return Buffer.concat([h, payload]);
    };
    const datagram = Buffer.concat([
      message(RTM_DELROUTE, 0, body(header(2, 252), u32(RTA_TABLE, 1101))),
      message(RTM_NEWRULE, 4242, body(header(2, 100), u32(FRA_TABLE, 100), u32(FRA_PRIORITY, 9900))),
    ]);
    const got = netlink.parseMessages(datagram).map((m) => [m.port, parseRouteEvent(m.type, m.data)]);
    assert.deepEqual(got, [
      [0, { kind: 'route', deleted: true, table: 1101 }],
      [4242, { kind: 'rule', deleted: false, priority: 9900, table: 100 }],
    ]);
  });
});

describe('nftables table events', () => {
  // nfnetlink.h: type = subsystem << 8 | message; NFNL_SUBSYS_NFTABLES 10, NFNL_SUBSYS_IPSET 6.
  const NFT = (msg: number): number => (10 << 8) | msg;
  const NEWTABLE = NFT(0),
    DELTABLE = NFT(2),
    NEWCHAIN = NFT(3);
  const NFTA_TABLE_NAME = 1,
    NFTA_TABLE_FLAGS = 2;
  // nfgenmsg: family (NFPROTO_INET 1, NFPROTO_IPV4 2), version 0, res_id (big-endian u16).
  const nfgen = (family: number): Buffer => Buffer.from([family, 0, 0, 0]);
  const name = (s: string): Buffer => attr(NFTA_TABLE_NAME, Buffer.from(`${s}\0`));
  const flags = u32(NFTA_TABLE_FLAGS, 0);

  const rows: [string, number, Buffer, 'created' | 'deleted' | undefined][] = [
    ['inet uplinkd created', NEWTABLE, body(nfgen(1), name('uplinkd'), flags), 'created'],
    ['inet uplinkd deleted', DELTABLE, body(nfgen(1), name('uplinkd')), 'deleted'],
    ['the name after the flags', DELTABLE, body(nfgen(1), flags, name('uplinkd')), 'deleted'],
    ['ip uplinkd: another family', DELTABLE, body(nfgen(2), name('uplinkd')), undefined],
    ['inet filter: another table', DELTABLE, body(nfgen(1), name('filter')), undefined],
    ['inet uplinkd2: not a prefix match', NEWTABLE, body(nfgen(1), name('uplinkd2')), undefined],
    ['a chain in inet uplinkd', NEWCHAIN, body(nfgen(1), name('uplinkd')), undefined],
    ['message 2 of another subsystem (ipset)', (6 << 8) | 2, body(nfgen(1), name('uplinkd')), undefined],
    ['a batch begin', 0x10, body(nfgen(0)), undefined],
    ['no name attribute', DELTABLE, body(nfgen(1), flags), undefined],
    ['a body shorter than nfgenmsg', DELTABLE, Buffer.from([1, 0, 0]), undefined],
  ];
  for (const [what, type, data, want] of rows) it(what, () => assert.equal(tableEvent(type, data, 'uplinkd'), want));
});

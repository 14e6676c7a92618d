// nft/: uplinkd's nftables table, which pins each connection to the uplink it started on.
// The first packet of a connection records its output uplink in the conntrack mark
// (postrouting); later packets of that connection from the LAN (prerouting) or from the
// gateway itself (a `type route` output chain, so the kernel routes again) get that mark
// back as packet mark, and `ip rule fwmark MARK/MASK lookup UPLINK_TABLE` sends them to the
// uplink's own table. New connections follow the managed route. Only bits inside
// routing.mark_mask are read or written, so other users of marks keep theirs. The table is
// static: it changes with the config only, never on a failover.
import type { Config } from '../types/index.js';
import {
  counterName,
  hex,
  IFNAME_RULE,
  isInterfaceName,
  PASSIVE_LOG_GROUP,
  PASSIVE_LOG_RATE,
  PASSIVE_QUIET_MS,
  trafficCounterNames,
  uplinkMark,
} from '../types/layout.js';

export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'uplinkd';

export interface PinnedUplink {
  readonly name: string;
  readonly interface: string;
  readonly mark: number;
  /** `probe.passive`: a packet leaving through it unanswered is logged (the passive wake-up). */
  readonly passive?: boolean;
}

export interface PinningSpec {
  readonly markMask: number;
  readonly uplinks: readonly PinnedUplink[];
  /**
   * uplinkd's own TCP heartbeats (a new connection each): neither pinned nor counted as new
   * flows. ICMP is never pinned (a ping is not a flow whose path matters).
   */
  readonly tcpTargets: readonly { readonly family: 4 | 6; readonly address: string; readonly port: number }[];
}

export { counterName };

/**
 * An interface name as an nft string: in double quotes (bare, `a@b` would read as a set
 * reference and `eth*` as a wildcard), and only a name of IFNAME_RULE's characters, inside
 * which nft needs nothing escaped (it has no escapes: a `"` would end the string). Anything
 * else throws, so no unchecked name reaches `nft -f` (config/ refuses them first).
 */
export function nftString(name: string): string {
  if (!isInterfaceName(name)) throw new Error(`${JSON.stringify(name)} cannot go into the nftables ruleset: an interface name is ${IFNAME_RULE}`);
  return `"${name}"`;
}

// nft's bare identifiers (scanner.l: a letter, "_" or "." first, then letters, digits, "/", "-",
// "_" and "."; a keyword is not one). Chain, set and counter names cannot be quoted in nft 1.0.6.
const NFT_IDENTIFIER = /^[A-Za-z_.][A-Za-z0-9/_.-]*$/;

/** A chain, counter or set read back from the kernel; the handle when the listing gave one. */
export type TableObject = string | { readonly name: string; readonly handle?: number };

/**
 * How `delete KIND` names an object: by its handle when the listing gave one (a name made by
 * hand may be a keyword, `counter`, or hold a space or a quote), else by its name when nft
 * reads it as one.
 */
function objectRef(kind: string, o: TableObject): string {
  const { name, handle } = typeof o === 'string' ? { name: o, handle: undefined } : o;
  if (handle !== undefined && Number.isSafeInteger(handle) && handle >= 0) return `handle ${handle}`;
  if (NFT_IDENTIFIER.test(name)) return name;
  throw new Error(`cannot delete ${kind} ${JSON.stringify(name)} of table ${TABLE_FAMILY} ${TABLE_NAME}: not an nft identifier, and no handle`);
}

/** `meta mark set meta mark and ~MASK or MARK`: sets the uplink's bits, keeps everyone else's. */
function setMark(what: 'meta' | 'ct', mask: number, mark: number): string {
  return `${what} mark set ${what} mark and ${hex(~mask >>> 0)} or ${hex(mark)}`;
}

/**
 * The table's contents as `nft -f` commands. They name the table but never declare it:
 * nft 1.0.6 sends a table declaration with flags 0, which the kernel refuses for a persistent
 * table (owner.ts). NftPinningTable puts the commands that empty the table in front, so
 * that the whole replace is one transaction.
 */
export function pinningRuleset(spec: PinningSpec): string {
  const mask = spec.markMask >>> 0;
  const t = `${TABLE_FAMILY} ${TABLE_NAME}`;
  const ifaces = spec.uplinks.map((u) => nftString(u.interface)).join(', ');
  // Unpinned connections (uplinkd's own heartbeats among them) leave at the first rule.
  const restore = (chain: string): string[] => [
    `add rule ${t} ${chain} ct mark and ${hex(mask)} == 0 return`,
    ...spec.uplinks.map((u) => `add rule ${t} ${chain} ct mark and ${hex(mask)} == ${hex(u.mark)} ${setMark('meta', mask, u.mark)}`),
  ];
  // uplinkd's own TCP heartbeats: `dir` tx matches them leaving, rx their answers coming in.
  // Only the gateway's own (a local address): a LAN host's connection to the same address and
  // port is a flow like any other.
  const skipTcp = (chain: string, dir: 'tx' | 'rx') =>
    ([4, 6] as const).flatMap((f) => {
      const list = spec.tcpTargets.filter((x) => x.family === f).map((x) => `${x.address} . ${x.port}`);
      const match = dir === 'tx' ? 'daddr . tcp dport' : 'saddr . tcp sport';
      return list.length
        ? [
            `add rule ${t} ${chain} ${f === 4 ? 'ip' : 'ip6'} ${match} { ${[...new Set(list)].join(', ')} } fib ${dir === 'tx' ? 'saddr' : 'daddr'} type local return`,
          ]
        : [];
    });
  // The passive signal (health/passive.ts): the users' packets each way per uplink, in
  // connections this side opened, counted in a chain of its own. ICMP and the TCP heartbeats
  // are left out: heartbeats are the confirmation, not the signal.
  // Its wake-up: an answer refreshes the uplink's element in `passive_answered`, a packet out
  // its element in `passive_sending` (both time out after PASSIVE_QUIET_MS). A packet leaving
  // while the uplink has sent but not been answered for that long is logged (NFLOG, rate-
  // limited), and that wakes the sampling: nothing is read while every uplink is answered or
  // quiet.
  const quiet = `timeout ${PASSIVE_QUIET_MS}ms`;
  const wake = (u: PinnedUplink): string =>
    `add rule ${t} passive_tx oifname ${nftString(u.interface)} oifname @passive_sending oifname != @passive_answered limit rate ${PASSIVE_LOG_RATE}/second log group ${PASSIVE_LOG_GROUP}`;
  const traffic = (dir: 'tx' | 'rx'): string[] => {
    const chain = `passive_${dir}`;
    const map = spec.uplinks.map((u) => `${nftString(u.interface)} : "${trafficCounterNames(u.name)[dir]}"`).join(', ');
    const key = dir === 'tx' ? 'oifname' : 'iifname';
    return [
      `add chain ${t} ${chain}`,
      ...skipTcp(chain, dir),
      ...(map ? [`add rule ${t} ${chain} counter name ${key} map { ${map} }`] : []),
      ...(dir === 'tx' ? spec.uplinks.filter((u) => u.passive).map(wake) : []),
      ...(ifaces ? [`add rule ${t} ${chain} ${key} { ${ifaces} } update @passive_${dir === 'tx' ? 'sending' : 'answered'} { ${key} ${quiet} }`] : []),
    ];
  };
  const jump = (dir: 'tx' | 'rx'): string =>
    `add rule ${t} ${dir === 'tx' ? 'postrouting' : 'prerouting'} meta l4proto != { icmp, ipv6-icmp } ct direction ${dir === 'tx' ? 'original' : 'reply'} jump passive_${dir}`;
  return [
    `add set ${t} passive_answered { type ifname; flags timeout; }`,
    `add set ${t} passive_sending { type ifname; flags timeout; }`,
    ...spec.uplinks.map((u) => `add counter ${t} ${counterName(u.name)}`),
    ...spec.uplinks.flatMap((u) => Object.values(trafficCounterNames(u.name)).map((c) => `add counter ${t} ${c}`)),
    ...traffic('rx'),
    ...traffic('tx'),
    `add chain ${t} prerouting { type filter hook prerouting priority mangle; policy accept; }`,
    jump('rx'),
    // Replies coming in from an uplink are never marked: they are routed to the LAN as usual.
    ...(ifaces ? [`add rule ${t} prerouting iifname { ${ifaces} } return`] : []),
    ...restore('prerouting'),
    `add chain ${t} output { type route hook output priority mangle; policy accept; }`,
    ...restore('output'),
    `add chain ${t} postrouting { type filter hook postrouting priority mangle; policy accept; }`,
    jump('tx'),
    `add rule ${t} postrouting ct state != new return`,
    `add rule ${t} postrouting meta l4proto { icmp, ipv6-icmp } return`,
    ...skipTcp('postrouting', 'tx'),
    ...spec.uplinks.map(
      (u) => `add rule ${t} postrouting oifname ${nftString(u.interface)} counter name "${counterName(u.name)}" ${setMark('ct', mask, u.mark)}`,
    ),
    '',
  ].join('\n');
}

/**
 * What goes in front of the contents so that one transaction replaces them: the rules go
 * (flush), then the chains and counters the table holds now (a counter is deleted only once
 * no rule names it, so counters restart at zero with each load).
 */
export function emptyingCommands(existing: TableContents): string[] {
  const t = `${TABLE_FAMILY} ${TABLE_NAME}`;
  return [
    `flush table ${t}`,
    ...existing.chains.map((c) => `delete chain ${t} ${objectRef('chain', c)}`),
    ...existing.counters.map((c) => `delete counter ${t} ${objectRef('counter', c)}`),
    ...(existing.sets ?? []).map((x) => `delete set ${t} ${objectRef('set', x)}`),
  ];
}

export interface TableContents {
  readonly chains: readonly TableObject[];
  readonly counters: readonly TableObject[];
  /** Absent: none (a table an earlier uplinkd loaded). */
  readonly sets?: readonly TableObject[];
  readonly rules: number;
}

/** How many chains, rules and counters the table holds when it is intact. */
export function expectedShape(spec: PinningSpec): TableShape {
  const n = spec.uplinks.length;
  const skipTcp = new Set(spec.tcpTargets.map((t) => t.family)).size;
  // Per passive chain: the TCP heartbeats' exits, the counting rule and the wake-up's set
  // update; a jump to each; in passive_tx a wake-up rule per passive uplink.
  const passive = 2 * (skipTcp + (n ? 2 : 0)) + 2 + spec.uplinks.filter((u) => u.passive).length;
  return { chains: 5, rules: passive + (n ? 1 : 0) + 2 * (1 + n) + 2 + skipTcp + n, counters: 3 * n, sets: 2 };
}

export interface TableShape {
  readonly chains: number;
  readonly rules: number;
  readonly counters: number;
  readonly sets: number;
}

/** Whether the table read back is as uplinkd loaded it (the same shape; marks and names are not compared). */
export function isIntact(shape: TableShape | undefined, want: TableShape): boolean {
  return shape !== undefined && shape.chains === want.chains && shape.rules === want.rules && shape.counters === want.counters && shape.sets === want.sets;
}

/** The pinning table the config asks for: each uplink's interface and mark, and the TCP heartbeats to let by. */
export function pinningSpecFor(c: Config): PinningSpec {
  return {
    markMask: c.routing.markMask,
    uplinks: c.uplinks.map((u, i) => ({ name: u.name, interface: u.interface, mark: uplinkMark(c.routing.markMask, i)!, passive: u.probe.passive })),
    tcpTargets: c.uplinks.flatMap((u) => u.targets.filter((t) => t.kind === 'tcp').map((t) => ({ family: t.family, address: t.host, port: t.port! }))),
  };
}

export interface LoadResult {
  /** uplinkd's socket holds the table: no one else can change, delete or flush it. */
  readonly owned: boolean;
  /** Something the operator should hear about the load (said once, by the caller). */
  readonly note?: string;
}

/** uplinkd's table in the kernel, behind a small interface with a fake beside it. */
export interface PinningTable {
  /** Replaces the table's contents with the script's (one transaction). */
  load(script: string): Promise<LoadResult>;
  /** The table's shape now, or undefined when it does not exist. */
  shape(): Promise<TableShape | undefined>;
  /** New connections per uplink counter since the table was loaded. */
  counters(): Promise<Map<string, number>>;
  remove(): Promise<void>;
  /** Lets go of the table at exit: it stays, with its contents, for the next run. */
  release(): void;
}

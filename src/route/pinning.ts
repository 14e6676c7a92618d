// route/: uplinkd's nftables table, which pins each connection to the uplink it started on.
// The first packet of a connection records its output uplink in the conntrack mark
// (postrouting); later packets of that connection from the LAN (prerouting) or from the
// gateway itself (a `type route` output chain, so the kernel routes again) get that mark
// back as packet mark, and `ip rule fwmark MARK/MASK lookup UPLINK_TABLE` sends them to the
// uplink's own table. New connections follow the managed route. Only bits inside
// routing.mark_mask are read or written, so other users of marks keep theirs. The table is
// static: it changes with the config only, never on a failover.
import { constants as osConstants } from 'node:os';
import { runCommand, type CommandResult } from './command.js';
import type { Config } from '../types/index.js';
import { counterName, hex, trafficCounterNames, uplinkMark } from '../types/layout.js';
import { NFT_TABLE_F_PERSIST } from '../types/netlink.js';
import { NetlinkError, NetlinkTableOwner, type TableOwner } from './table-owner.js';

export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'uplinkd';

export interface PinnedUplink {
  readonly name: string;
  readonly interface: string;
  readonly mark: number;
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

/** `meta mark set meta mark and ~MASK or MARK`: sets the uplink's bits, keeps everyone else's. */
function setMark(what: 'meta' | 'ct', mask: number, mark: number): string {
  return `${what} mark set ${what} mark and ${hex(~mask >>> 0)} or ${hex(mark)}`;
}

/**
 * The table's contents as `nft -f` commands. They name the table but never declare it:
 * nft 1.0.6 sends a table declaration with flags 0, which the kernel refuses for a persistent
 * table (table-owner.ts). NftPinningTable puts the commands that empty the table in front, so
 * that the whole replace is one transaction.
 */
export function pinningRuleset(spec: PinningSpec): string {
  const mask = spec.markMask >>> 0;
  const t = `${TABLE_FAMILY} ${TABLE_NAME}`;
  const ifaces = spec.uplinks.map((u) => `"${u.interface}"`).join(', ');
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
  const traffic = (dir: 'tx' | 'rx'): string[] => {
    const chain = `passive_${dir}`;
    const map = spec.uplinks.map((u) => `"${u.interface}" : "${trafficCounterNames(u.name)[dir]}"`).join(', ');
    return [
      `add chain ${t} ${chain}`,
      ...skipTcp(chain, dir),
      ...(map ? [`add rule ${t} ${chain} counter name ${dir === 'tx' ? 'oifname' : 'iifname'} map { ${map} }`] : []),
    ];
  };
  const jump = (dir: 'tx' | 'rx'): string =>
    `add rule ${t} ${dir === 'tx' ? 'postrouting' : 'prerouting'} meta l4proto != { icmp, ipv6-icmp } ct direction ${dir === 'tx' ? 'original' : 'reply'} jump passive_${dir}`;
  return [
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
    ...spec.uplinks.map((u) => `add rule ${t} postrouting oifname "${u.interface}" counter name "${counterName(u.name)}" ${setMark('ct', mask, u.mark)}`),
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
  return [`flush table ${t}`, ...existing.chains.map((c) => `delete chain ${t} ${c}`), ...existing.counters.map((c) => `delete counter ${t} ${c}`)];
}

export interface TableContents {
  readonly chains: readonly string[];
  readonly counters: readonly string[];
  readonly rules: number;
}

/** How many chains, rules and counters the table holds when it is intact. */
export function expectedShape(spec: PinningSpec): TableShape {
  const n = spec.uplinks.length;
  const skipTcp = new Set(spec.tcpTargets.map((t) => t.family)).size;
  // Per passive chain: the TCP heartbeats' exits and the counting rule; a jump to each.
  const passive = 2 * (skipTcp + (n ? 1 : 0)) + 2;
  return { chains: 5, rules: passive + (n ? 1 : 0) + 2 * (1 + n) + 2 + skipTcp + n, counters: 3 * n };
}

export interface TableShape {
  readonly chains: number;
  readonly rules: number;
  readonly counters: number;
}

/** Whether the table read back is as uplinkd loaded it (the same shape; marks and names are not compared). */
export function isIntact(shape: TableShape | undefined, want: TableShape): boolean {
  return shape !== undefined && shape.chains === want.chains && shape.rules === want.rules && shape.counters === want.counters;
}

/** The pinning table the config asks for: each uplink's interface and mark, and the TCP heartbeats to let by. */
export function pinningSpecFor(c: Config): PinningSpec {
  return {
    markMask: c.routing.markMask,
    uplinks: c.uplinks.map((u, i) => ({ name: u.name, interface: u.interface, mark: uplinkMark(c.routing.markMask, i)! })),
    tcpTargets: c.uplinks.flatMap((u) => u.targets.filter((t) => t.kind === 'tcp').map((t) => ({ family: t.family, address: t.host, port: t.port! }))),
  };
}

/** The first pause after a failed load; it doubles, so a missing `nft` is said once a minute at most. */
export const PINNING_RETRY_MS = 1000;
export const PINNING_RETRY_MAX_MS = 60_000;

export function pinningRetryMs(failures: number): number {
  return Math.min(PINNING_RETRY_MAX_MS, PINNING_RETRY_MS * 2 ** failures);
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

interface NftJson {
  nftables?: Record<string, { name?: string; packets?: number }>[];
}

function parseNftJson(stdout: string, what: string): NftJson {
  try {
    return JSON.parse(stdout) as NftJson;
  } catch {
    throw new Error(`nft -j ${what}: unreadable output (${stdout.length} bytes)`);
  }
}

const osErrno = osConstants.errno;

const NO_CONTENTS: TableContents = { chains: [], counters: [], rules: 0 };

/** Runs `nft` with arguments and optional standard input (a fake stands in for tests). */
export type NftRunner = (args: readonly string[], input?: string) => Promise<CommandResult>;

const runNft: NftRunner = (args, input) => runCommand('nft', args, input === undefined ? {} : { input });

/**
 * The real table: contents through the `nft` tool, the table itself through netlink
 * (table-owner.ts), held by uplinkd so that `nft flush ruleset` passes it by.
 */
export class NftPinningTable implements PinningTable {
  /** False once the kernel refused a persistent table (before Linux 6.9). */
  private ownable = true;
  /** Said with the first load that goes through. */
  private pendingNote: string | undefined;

  constructor(
    private readonly owner: TableOwner = new NetlinkTableOwner(TABLE_NAME),
    private readonly nft: NftRunner = runNft,
  ) {}

  async load(script: string): Promise<LoadResult> {
    if (this.ownable) await this.prepareOwned();
    const t = `${TABLE_FAMILY} ${TABLE_NAME}`;
    if (!this.ownable) {
      await this.nftLoad([`add table ${t}`, ...emptyingCommands((await this.contents()) ?? NO_CONTENTS), script]);
      return this.loaded(false);
    }
    const existing = (await this.contents()) ?? NO_CONTENTS;
    // nft may write only into a table nobody holds; the contents stay in force meanwhile.
    this.owner.release();
    let failure: unknown;
    try {
      await this.nftLoad([...emptyingCommands(existing), script]);
    } catch (err) {
      failure = err;
    }
    // Taken back even after a failed load: the old contents stay protected.
    try {
      await this.owner.adopt();
    } catch (err) {
      failure ??= err;
    }
    if (failure !== undefined) throw failure;
    return this.loaded(true);
  }

  private loaded(owned: boolean): LoadResult {
    const note = this.pendingNote;
    this.pendingNote = undefined;
    return note === undefined ? { owned } : { owned, note };
  }

  /**
   * Makes the table persistent (creating it, or replacing one without the flag) and held by
   * uplinkd; on a kernel without persistent tables, switches to unowned loads for good.
   */
  private async prepareOwned(): Promise<void> {
    const t = `${TABLE_FAMILY} ${TABLE_NAME}`;
    const info = await this.owner.query();
    const mine = this.owner.ownPort();
    if (info?.ownerPort !== undefined && info.ownerPort !== mine) {
      throw new Error(`table ${t} is held by another process (netlink port ${info.ownerPort}): is another uplinkd running?`);
    }
    if (!info || !(info.flags & NFT_TABLE_F_PERSIST)) {
      try {
        // Replacing an old table and filling the new one are two transactions: pinning
        // pauses for one load, once, on the first start after an upgrade.
        await this.owner.createPersistent(info !== undefined);
        if (info)
          this.pendingNote = `replaced table ${t}, which was not persistent (made by an older uplinkd or by hand); connections pinned before were not restored for the few ms between`;
      } catch (err) {
        if (!(err instanceof NetlinkError) || (err.errno !== osErrno.EOPNOTSUPP && err.errno !== osErrno.EINVAL)) throw err;
        this.ownable = false;
        this.owner.release();
        this.pendingNote = `this kernel cannot keep a table for its owner (NFT_TABLE_F_PERSIST, Linux 6.9): \`nft flush ruleset\` removes table ${t} until uplinkd puts it back`;
        return;
      }
    }
    // Held while it is listed: nft 1.0.6 cannot print a table whose only flag is `persist`.
    if (info?.ownerPort === undefined || info.ownerPort !== mine) await this.owner.adopt();
  }

  private async nftLoad(commands: readonly string[]): Promise<void> {
    const r = await this.nft(['-f', '-'], commands.join('\n'));
    if (r.code !== 0) throw new Error(`nft -f: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  /** Chain and counter names and the rule count, or undefined when the table is missing. */
  private async contents(): Promise<TableContents | undefined> {
    // A table left unowned (a load whose last step failed) is taken back before it is read.
    if (this.ownable && this.owner.ownPort() === undefined) {
      const info = await this.owner.query();
      if (info && info.flags & NFT_TABLE_F_PERSIST && info.ownerPort === undefined) await this.owner.adopt();
    }
    const r = await this.nft(['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME]);
    if (r.code !== 0) {
      // "No such file or directory": the table is gone. Anything else is a real failure.
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new Error(`nft -j list table ${TABLE_FAMILY} ${TABLE_NAME}: ${r.stderr || `exit ${r.code}`}`);
    }
    const items = parseNftJson(r.stdout, 'list table').nftables ?? [];
    const names = (kind: string): string[] => items.flatMap((i) => (i[kind]?.name !== undefined ? [i[kind]!.name!] : []));
    return { chains: names('chain'), counters: names('counter'), rules: items.filter((i) => 'rule' in i).length };
  }

  async shape(): Promise<TableShape | undefined> {
    const c = await this.contents();
    return c && { chains: c.chains.length, rules: c.rules, counters: c.counters.length };
  }

  async counters(): Promise<Map<string, number>> {
    const r = await this.nft(['-j', 'list', 'counters', 'table', TABLE_FAMILY, TABLE_NAME]);
    if (r.code !== 0) throw new Error(`nft -j list counters: ${r.stderr.trim() || `exit ${r.code}`}`);
    const out = new Map<string, number>();
    for (const item of parseNftJson(r.stdout, 'list counters').nftables ?? []) {
      const c = item.counter;
      if (c?.name) out.set(c.name, c.packets ?? 0);
    }
    return out;
  }

  async remove(): Promise<void> {
    if (this.owner.ownPort() !== undefined) return this.owner.removeOwned();
    const r = await this.nft(['delete', 'table', TABLE_FAMILY, TABLE_NAME]);
    if (r.code !== 0) throw new Error(`nft delete table: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  release(): void {
    this.owner.release();
  }
}

/** An in-memory table for the daemon's tests. */
export class FakePinningTable implements PinningTable {
  script: string | undefined;
  readonly counterValues = new Map<string, number>();
  loads = 0;
  /** Loads that fail before one goes in (a missing `nft`, say). */
  failLoads = 0;
  /** What load() reports: a kernel that lets uplinkd hold the table, or not. */
  ownable = true;
  /** What the next load() has to say, once (see LoadResult.note). */
  note: string | undefined;
  released = 0;
  async load(script: string): Promise<LoadResult> {
    if (this.failLoads > 0) {
      this.failLoads--;
      throw new Error('nft: command not found');
    }
    this.script = script;
    this.loads++;
    this.counterValues.clear();
    const note = this.note;
    this.note = undefined;
    return note === undefined ? { owned: this.ownable } : { owned: this.ownable, note };
  }
  async shape(): Promise<TableShape | undefined> {
    if (this.script === undefined) return undefined;
    const lines = this.script.split('\n');
    return {
      chains: lines.filter((l) => l.startsWith('add chain ')).length,
      counters: lines.filter((l) => l.startsWith('add counter ')).length,
      rules: lines.filter((l) => l.startsWith('add rule ')).length,
    };
  }
  async counters(): Promise<Map<string, number>> {
    return new Map(this.counterValues);
  }
  async remove(): Promise<void> {
    this.script = undefined;
  }
  release(): void {
    this.released++;
  }
}

// route/: uplinkd's nftables table, which pins each connection to the uplink it started on.
// The first packet of a connection records its output uplink in the conntrack mark
// (postrouting); later packets of that connection from the LAN (prerouting) or from the
// gateway itself (a `type route` output chain, so the kernel routes again) get that mark
// back as packet mark, and `ip rule fwmark MARK/MASK lookup UPLINK_TABLE` sends them to the
// uplink's own table. New connections follow the managed route. Only bits inside
// routing.mark_mask are read or written, so other users of marks keep theirs. The table is
// static: it changes with the config only, never on a failover.
import { runChecked, runCommand } from './command.js';
import { hex } from '../types/layout.js';
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

/** The named counter of new connections through an uplink. */
export function counterName(uplink: string): string {
  return `new_${uplink}`;
}

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
  const skipTcp = ([4, 6] as const).flatMap((f) => {
    const list = spec.tcpTargets.filter((x) => x.family === f).map((x) => `${x.address} . ${x.port}`);
    // Only the gateway's own (a local source address): a LAN host's connection to the same
    // address and port is a flow like any other.
    return list.length
      ? [`add rule ${t} postrouting ${f === 4 ? 'ip' : 'ip6'} daddr . tcp dport { ${[...new Set(list)].join(', ')} } fib saddr type local return`]
      : [];
  });
  return [
    ...spec.uplinks.map((u) => `add counter ${t} ${counterName(u.name)}`),
    `add chain ${t} prerouting { type filter hook prerouting priority mangle; policy accept; }`,
    // Replies coming in from an uplink are never marked: they are routed to the LAN as usual.
    ...(ifaces ? [`add rule ${t} prerouting iifname { ${ifaces} } return`] : []),
    ...restore('prerouting'),
    `add chain ${t} output { type route hook output priority mangle; policy accept; }`,
    ...restore('output'),
    `add chain ${t} postrouting { type filter hook postrouting priority mangle; policy accept; }`,
    `add rule ${t} postrouting ct state != new return`,
    `add rule ${t} postrouting meta l4proto { icmp, ipv6-icmp } return`,
    ...skipTcp,
    ...spec.uplinks.map(
      (u) => `add rule ${t} postrouting oifname "${u.interface}" counter name "${counterName(u.name)}" ${setMark('ct', mask, u.mark)}`,
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
  return { chains: 3, rules: (n ? 1 : 0) + 2 * (1 + n) + 2 + skipTcp + n, counters: n };
}

export interface TableShape {
  readonly chains: number;
  readonly rules: number;
  readonly counters: number;
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

const NO_CONTENTS: TableContents = { chains: [], counters: [], rules: 0 };

/**
 * The real table: contents through the `nft` tool, the table itself through netlink
 * (table-owner.ts), held by uplinkd so that `nft flush ruleset` passes it by.
 */
export class NftPinningTable implements PinningTable {
  /** False once the kernel refused a persistent table (before Linux 6.9). */
  private ownable = true;

  constructor(private readonly owner: TableOwner = new NetlinkTableOwner(TABLE_NAME)) {}

  async load(script: string): Promise<LoadResult> {
    const t = `${TABLE_FAMILY} ${TABLE_NAME}`;
    if (!this.ownable) {
      await this.nftLoad([`add table ${t}`, ...emptyingCommands((await this.contents()) ?? NO_CONTENTS), script]);
      return { owned: false };
    }
    const info = await this.owner.query();
    if (info?.ownerPort !== undefined && info.ownerPort !== this.owner.ownPort()) {
      throw new Error(`table ${t} is held by another process (netlink port ${info.ownerPort}): is another uplinkd running?`);
    }
    let note: string | undefined;
    if (!info || !(info.flags & NFT_TABLE_F_PERSIST)) {
      try {
        await this.owner.createPersistent(info !== undefined);
        if (info) note = `replaced table ${t}, which was not persistent (made by an older uplinkd or by hand)`;
      } catch (err) {
        if (!(err instanceof NetlinkError) || (err.code !== 'EOPNOTSUPP' && err.code !== 'EINVAL')) throw err;
        this.ownable = false;
        const r = await this.load(script);
        return { ...r, note: `this kernel cannot keep a table for its owner (NFT_TABLE_F_PERSIST, Linux 6.9): \`nft flush ruleset\` removes table ${t} until uplinkd puts it back` };
      }
    }
    // Held while it is listed: nft 1.0.6 cannot print a table whose only flag is `persist`.
    if (this.owner.ownPort() === undefined) await this.owner.adopt();
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
    return { owned: true, note };
  }

  private async nftLoad(commands: readonly string[]): Promise<void> {
    await runChecked('nft', ['-f', '-'], { input: commands.join('\n') });
  }

  /** Chain and counter names and the rule count, or undefined when the table is missing. */
  private async contents(): Promise<TableContents | undefined> {
    const r = await runCommand('nft', ['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME]);
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
    const stdout = await runChecked('nft', ['-j', 'list', 'counters', 'table', TABLE_FAMILY, TABLE_NAME]);
    const out = new Map<string, number>();
    for (const item of parseNftJson(stdout, 'list counters').nftables ?? []) {
      const c = item.counter;
      if (c?.name) out.set(c.name, c.packets ?? 0);
    }
    return out;
  }

  async remove(): Promise<void> {
    if (this.owner.ownPort() !== undefined) await this.owner.removeOwned();
    else await runChecked('nft', ['delete', 'table', TABLE_FAMILY, TABLE_NAME]);
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
  /** What load() has to say (see LoadResult.note). */
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
    return { owned: this.ownable, note: this.note };
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

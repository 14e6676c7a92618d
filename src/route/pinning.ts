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

/** The whole table as one `nft -f` script that replaces it atomically (one transaction). */
export function pinningRuleset(spec: PinningSpec): string {
  const mask = spec.markMask >>> 0;
  const ifaces = spec.uplinks.map((u) => `"${u.interface}"`).join(', ');
  // Unpinned connections (uplinkd's own heartbeats among them) leave at the first rule.
  const restore = [
    `    ct mark and ${hex(mask)} == 0 return`,
    ...spec.uplinks.map((u) => `    ct mark and ${hex(mask)} == ${hex(u.mark)} ${setMark('meta', mask, u.mark)}`),
  ];
  const skipTcp = ([4, 6] as const).flatMap((f) => {
    const list = spec.tcpTargets.filter((t) => t.family === f).map((t) => `${t.address} . ${t.port}`);
    return list.length ? [`    ${f === 4 ? 'ip' : 'ip6'} daddr . tcp dport { ${[...new Set(list)].join(', ')} } return`] : [];
  });
  return [
    `table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `delete table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `table ${TABLE_FAMILY} ${TABLE_NAME} {`,
    ...spec.uplinks.map((u) => `  counter ${counterName(u.name)} { }`),
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    // Replies coming in from an uplink are never marked: they are routed to the LAN as usual.
    ...(ifaces ? [`    iifname { ${ifaces} } return`] : []),
    ...restore,
    '  }',
    '  chain output {',
    '    type route hook output priority mangle; policy accept;',
    ...restore,
    '  }',
    '  chain postrouting {',
    '    type filter hook postrouting priority mangle; policy accept;',
    '    ct state != new return',
    '    meta l4proto { icmp, ipv6-icmp } return',
    ...skipTcp,
    ...spec.uplinks.map((u) => `    oifname "${u.interface}" counter name "${counterName(u.name)}" ${setMark('ct', mask, u.mark)}`),
    '  }',
    '}',
    '',
  ].join('\n');
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

/** uplinkd's table in the kernel, behind a small interface with a fake beside it. */
export interface PinningTable {
  /** Loads the script (an atomic replace). */
  load(script: string): Promise<void>;
  /** The table's shape now, or undefined when it does not exist. */
  shape(): Promise<TableShape | undefined>;
  /** New connections per uplink counter since the table was loaded. */
  counters(): Promise<Map<string, number>>;
  remove(): Promise<void>;
}

interface NftJson {
  nftables?: Record<string, { name?: string; packets?: number }>[];
}

/** The real table, through the `nft` tool. */
export class NftPinningTable implements PinningTable {
  async load(script: string): Promise<void> {
    await runChecked('nft', ['-f', '-'], { input: script });
  }

  async shape(): Promise<TableShape | undefined> {
    const r = await runCommand('nft', ['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME]);
    if (r.code !== 0) {
      // "No such file or directory": the table is gone. Anything else is a real failure.
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new Error(`nft -j list table ${TABLE_FAMILY} ${TABLE_NAME}: ${r.stderr || `exit ${r.code}`}`);
    }
    const items = (JSON.parse(r.stdout) as NftJson).nftables ?? [];
    const count = (kind: string): number => items.filter((i) => kind in i).length;
    return { chains: count('chain'), rules: count('rule'), counters: count('counter') };
  }

  async counters(): Promise<Map<string, number>> {
    const stdout = await runChecked('nft', ['-j', 'list', 'counters', 'table', TABLE_FAMILY, TABLE_NAME]);
    const out = new Map<string, number>();
    for (const item of (JSON.parse(stdout) as NftJson).nftables ?? []) {
      const c = item.counter;
      if (c?.name) out.set(c.name, c.packets ?? 0);
    }
    return out;
  }

  async remove(): Promise<void> {
    await runChecked('nft', ['delete', 'table', TABLE_FAMILY, TABLE_NAME]);
  }
}

/** An in-memory table for the daemon's tests. */
export class FakePinningTable implements PinningTable {
  script: string | undefined;
  readonly counterValues = new Map<string, number>();
  loads = 0;
  /** Loads that fail before one goes in (a missing `nft`, say). */
  failLoads = 0;
  async load(script: string): Promise<void> {
    if (this.failLoads > 0) {
      this.failLoads--;
      throw new Error('nft: command not found');
    }
    this.script = script;
    this.loads++;
    this.counterValues.clear();
  }
  async shape(): Promise<TableShape | undefined> {
    if (this.script === undefined) return undefined;
    const lines = this.script.split('\n').map((l) => l.trim());
    const body = lines.slice(lines.findIndex((l) => l.endsWith('{')));
    return {
      chains: body.filter((l) => l.startsWith('chain ')).length,
      counters: body.filter((l) => l.startsWith('counter ')).length,
      rules: body.filter((l) => l && !/^(table|chain|counter|type|\}|delete)/.test(l)).length,
    };
  }
  async counters(): Promise<Map<string, number>> {
    return new Map(this.counterValues);
  }
  async remove(): Promise<void> {
    this.script = undefined;
  }
}

// nft/: uplinkd's table in the kernel: its contents through the `nft` tool (one `nft -f`
// transaction per load), the table itself through netlink (owner.ts), held by uplinkd so that
// `nft flush ruleset` passes it by.
import { type CommandResult, runCommand } from '../host/command.js';
import { KernelError } from '../netlink/index.js';
import { NFT_TABLE_F_PERSIST } from '../types/netlink.js';
import { type CounterReader, NetlinkCounters } from './counters.js';
import { NetlinkTableOwner, type TableOwner } from './owner.js';
import {
  emptyingCommands,
  type LoadResult,
  type PinningTable,
  TABLE_FAMILY,
  TABLE_NAME,
  type TableContents,
  type TableObject,
  type TableShape,
} from './ruleset.js';

interface NftJson {
  nftables?: Record<string, { name?: string; handle?: number }>[];
}

function parseNftJson(stdout: string, what: string): NftJson {
  try {
    return JSON.parse(stdout) as NftJson;
  } catch {
    throw new Error(`nft -j ${what}: unreadable output (${stdout.length} bytes)`);
  }
}

const NO_CONTENTS: TableContents = { chains: [], counters: [], sets: [], rules: 0 };

/** Runs `nft` with arguments and optional standard input (a fake stands in for tests). */
export type NftRunner = (args: readonly string[], input?: string) => Promise<CommandResult>;

const runNft: NftRunner = (args, input) => runCommand('nft', args, input === undefined ? {} : { input });

/**
 * The real table: contents through the `nft` tool, the table itself through netlink
 * (owner.ts), held by uplinkd so that `nft flush ruleset` passes it by.
 */
export class NftPinningTable implements PinningTable {
  /** False once the kernel refused a persistent table (before Linux 6.9). */
  private ownable = true;
  /** Said with the first load that goes through. */
  private pendingNote: string | undefined;

  constructor(
    private readonly owner: TableOwner = new NetlinkTableOwner(TABLE_NAME),
    private readonly nft: NftRunner = runNft,
    private readonly counterReader: CounterReader = new NetlinkCounters(),
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
        if (!(err instanceof KernelError) || (err.code !== 'EOPNOTSUPP' && err.code !== 'EINVAL')) throw err;
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
    // With the handle: a chain made by hand may have a name nft cannot read back (emptyingCommands).
    const names = (kind: string): TableObject[] =>
      items.flatMap((i) => {
        const o = i[kind];
        if (o?.name === undefined) return [];
        return [typeof o.handle === 'number' ? { name: o.name, handle: o.handle } : o.name];
      });
    return { chains: names('chain'), counters: names('counter'), sets: names('set'), rules: items.filter((i) => 'rule' in i).length };
  }

  async shape(): Promise<TableShape | undefined> {
    const c = await this.contents();
    return c && { chains: c.chains.length, rules: c.rules, counters: c.counters.length, sets: c.sets?.length ?? 0 };
  }

  /** Packets per named counter, through netlink like the passive signal's (no `nft` process per status call). */
  async counters(): Promise<Map<string, number>> {
    return new Map([...(await this.counterReader.read())].map(([name, v]) => [name, v.packets]));
  }

  async remove(): Promise<void> {
    if (this.owner.ownPort() !== undefined) return this.owner.removeOwned();
    const r = await this.nft(['delete', 'table', TABLE_FAMILY, TABLE_NAME]);
    if (r.code !== 0) throw new Error(`nft delete table: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  release(): void {
    this.owner.release();
    this.counterReader.close();
  }
}

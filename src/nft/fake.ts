// nft/: fakes beside the real table, its owner and its counters. The counters: tests set
// `values` (or `refuse`, an errno name) and the reader hands back what is there.
import { errnoName, KernelError } from '../netlink/index.js';
import { NFT_TABLE_F_OWNER, NFT_TABLE_F_PERSIST } from '../types/netlink.js';
import type { CounterReader, CounterValue } from './counters.js';
import type { TableInfo, TableOwner } from './owner.js';
import type { LoadResult, PinningTable, TableShape } from './ruleset.js';

export class FakeCounters implements CounterReader {
  readonly values = new Map<string, CounterValue>();
  /** When set, read() fails with this errno name, as the kernel would. */
  refuse: string | undefined;
  reads = 0;
  closed = false;

  async read(): Promise<Map<string, CounterValue>> {
    this.reads++;
    if (this.refuse) throw new KernelError(this.refuse, 'nft list counters table inet uplinkd');
    return new Map(this.values);
  }

  close(): void {
    this.closed = true;
  }
}

/** The kernel's side of ownership in memory: one table, its flags, and who holds it. */
export class FakeTableOwner implements TableOwner {
  table: { flags: number; ownerPort: number | undefined } | undefined;
  /** The errno a request to create a persistent table fails with (an older kernel). */
  refusePersist: number | undefined;
  failAdopt = 0;
  readonly calls: string[] = [];
  private port: number | undefined;
  private nextPort = 100;

  async query(): Promise<TableInfo | undefined> {
    this.calls.push('query');
    return this.table && { flags: this.table.flags, ownerPort: this.table.ownerPort };
  }
  async createPersistent(replaceExisting: boolean): Promise<void> {
    this.calls.push(`create${replaceExisting ? ' (replace)' : ''}`);
    if (this.refusePersist !== undefined) throw new KernelError(errnoName(this.refusePersist), 'add table', this.refusePersist);
    this.table = { flags: NFT_TABLE_F_PERSIST, ownerPort: undefined };
  }
  async adopt(): Promise<void> {
    this.calls.push('adopt');
    this.release();
    if (this.failAdopt > 0) {
      this.failAdopt--;
      throw new Error('add table: no answer from the kernel');
    }
    if (!this.table) throw new KernelError('ENOENT', 'add table', 2);
    this.port = this.nextPort++;
    this.table = { flags: NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST, ownerPort: this.port };
  }
  release(): void {
    if (this.port !== undefined && this.table) this.table = { flags: NFT_TABLE_F_PERSIST, ownerPort: undefined };
    if (this.port !== undefined) this.calls.push('release');
    this.port = undefined;
  }
  async removeOwned(): Promise<void> {
    this.calls.push('delete');
    this.table = undefined;
    this.port = undefined;
  }
  ownPort(): number | undefined {
    return this.port;
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
      sets: lines.filter((l) => l.startsWith('add set ')).length,
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

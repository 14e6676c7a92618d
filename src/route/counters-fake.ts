// route/: in-memory named counters beside the real reader (nft-counters.ts): tests set
// `values` (or `refuse`, an errno name) and the reader hands back what is there.
import { KernelError } from './kernel.js';
import type { CounterReader, CounterValue } from './nft-counters.js';

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

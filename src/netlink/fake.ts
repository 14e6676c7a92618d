// netlink/: what every fake kernel side shares: each mutating call recorded in order, as its
// command words, and refused with an errno name where a test says so, as the kernel would.
import { KernelError } from './errors.js';

export class RecordingFake {
  /** Every mutating call, in order, for assertions. */
  readonly calls: string[] = [];
  /** Calls (as in `calls`) refused, with the errno name the kernel answers. */
  readonly refuse = new Map<string, string>();

  protected record(call: string): void {
    this.calls.push(call);
    const code = this.refuse.get(call);
    if (code) throw new KernelError(code, call);
  }
}

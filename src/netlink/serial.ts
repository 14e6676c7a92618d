// netlink/: one request at a time on a socket, each failure turned into a KernelError.
import { errnoCode, KernelError } from './errors.js';

/**
 * Netlink requests one at a time (the netlink package mixes up replies of concurrent dumps),
 * each failure a KernelError naming what was asked.
 */
export class SerialCalls {
  private queue: Promise<unknown> = Promise.resolve();

  run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      try {
        return await fn();
      } catch (err) {
        throw err instanceof KernelError ? err : new KernelError(errnoCode(err), what);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

// netlink/: the one error type for what the kernel refused, and the errno names every
// kernel folder reports (ENODEV, EOPNOTSUPP...).
import { getSystemErrorMap, getSystemErrorName } from 'node:util';

/** The kernel refused `command` with the errno named `code`; `errno` when the answer carried it. */
export class KernelError extends Error {
  constructor(
    readonly code: string,
    readonly command: string,
    readonly errno?: number,
  ) {
    super(`${command}: ${code}`);
    this.name = 'KernelError';
  }
}

/**
 * A positive errno -> its name; EOPNOTSUPP rather than libuv's ENOTSUP for 95, as the
 * kernel's headers spell it (include/uapi/asm-generic/errno.h).
 */
export function errnoName(errno: number): string {
  if (errno === 95) return 'EOPNOTSUPP';
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

let byMessage: Map<string, string> | undefined;

/**
 * What a socket library threw -> an errno name: its `code` when it has one, the netlink
 * package's "Request rejected: ENODEV", or strerror text as raw-socket reports it
 * ("No such device" -> ENODEV); anything else stays as its message.
 */
export function errnoCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
  const message = String(e?.message ?? err).trim();
  const rejected = /Request rejected: (E[A-Z0-9]+)/.exec(message);
  if (rejected) return rejected[1]!;
  if (!byMessage) {
    byMessage = new Map();
    for (const [, [name, text]] of getSystemErrorMap()) byMessage.set(text.toLowerCase(), name);
  }
  return byMessage.get(message.toLowerCase()) ?? message;
}

/**
 * Runs one kernel operation: undefined when it went in (then logged as its command, as
 * wg-quick does), else the errno name it was refused with. One refusal never keeps the
 * operations after it out: each is tried again by the next apply.
 */
export async function attempt(command: string, run: () => Promise<void>, log: (command: string) => void): Promise<string | undefined> {
  try {
    await run();
  } catch (err) {
    return err instanceof KernelError ? err.code : String(err);
  }
  log(command);
  return undefined;
}

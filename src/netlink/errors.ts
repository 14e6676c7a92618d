// netlink/: the one error type for what the kernel refused, and the errno names every
// kernel folder reports (ENODEV, EOPNOTSUPP...).
import { constants as osConstants } from 'node:os';
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
  if (errno === EOPNOTSUPP) return 'EOPNOTSUPP';
  try {
    const name = getSystemErrorName(-errno);
    if (/^E[A-Z0-9]+$/.test(name)) return name;
  } catch {
    // not an errno at all (0 or negative)
  }
  // libuv names fewer errnos than the kernel has: the OS's own table, then the number.
  return Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
}

/** libuv says ENOTSUP for 95 (the netlink package too); the kernel's name is EOPNOTSUPP. */
const EOPNOTSUPP = 95;
const canonical = (name: string): string => (name === 'ENOTSUP' ? 'EOPNOTSUPP' : name);

let byMessage: Map<string, string> | undefined;

/**
 * What a socket library threw -> an errno name: its `code` when it has one, the netlink
 * package's "Request rejected: ENODEV", or strerror text as raw-socket reports it
 * ("No such device" -> ENODEV); anything else stays as its message.
 */
export function errnoCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return canonical(e.code);
  const message = String(e?.message ?? err).trim();
  const rejected = /Request rejected: (E[A-Z0-9]+)/.exec(message);
  if (rejected) return canonical(rejected[1]!);
  if (!byMessage) {
    byMessage = new Map();
    for (const [, [name, text]] of getSystemErrorMap()) byMessage.set(text.toLowerCase(), name);
  }
  const known = byMessage.get(message.toLowerCase());
  return known ? canonical(known) : message;
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

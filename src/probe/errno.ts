// Turns an error from a socket library into an errno code (ENODEV, ENETUNREACH, ...).
import { getSystemErrorMap } from 'node:util';

let byMessage: Map<string, string> | undefined;

/** `No such device` (strerror, as raw-socket reports it) -> `ENODEV`; unknown text stays as is. */
export function errnoCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
  const message = String(e?.message ?? err)
    .trim()
    .toLowerCase();
  if (!byMessage) {
    byMessage = new Map();
    for (const [, [name, text]] of getSystemErrorMap()) byMessage.set(text.toLowerCase(), name);
  }
  return byMessage.get(message) ?? message;
}

// Waiting helpers for lab tests: generous timeouts, never a timed assertion.
import assert from 'node:assert/strict';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitUntil(test: () => Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await test()) return;
    await sleep(50);
  }
  assert.fail(`${what} not met within ${timeoutMs} ms`);
}

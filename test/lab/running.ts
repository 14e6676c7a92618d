// A lab with uplinkd running and settled: both uplinks up, the managed route via the primary.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Lab, type DaemonHandle } from './lab.js';
import { waitUntil } from './wait.js';

export interface RunningLab {
  readonly lab: Lab;
  /** Replaced by a test that restarts uplinkd, so the after hook stops the live one. */
  daemon: DaemonHandle;
}

/** `prepare` runs before uplinkd starts (a TCP server to probe, say). */
async function startSettled(configYaml: string, prepare?: (lab: Lab) => Promise<void>): Promise<RunningLab> {
  const lab = await Lab.create();
  try {
    await prepare?.(lab);
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  const daemon = lab.startDaemon(configYaml);
  try {
    await daemon.waitState('fiber', 'up', 20_000);
    await daemon.waitState('dsl', 'up', 20_000);
    await waitUntil(async () => (await lab.defaultVia(100)).join() === 'wan1', 5000, 'route via wan1');
    // Each verdict's apply has run: both uplinks' pinned-flow rules are in.
    await waitUntil(async () => /^9501:.*fwmark/m.test((await lab.exec('gw', 'ip', ['rule', 'show'])).stdout), 5000, 'pinned-flow rules in');
    // And logged (after the kernel's acknowledgement): one of the two is the last change of
    // the settling applies, and lines come in order, so all the others are in too. Tests that
    // assert nothing changes from here on start from a quiet log.
    for (const pref of [9500, 9501])
      await daemon.waitFor(
        (l) => l.event === 'route' && new RegExp(`^ip rule add pref ${pref} fwmark `).test(String(l.command)),
        5000,
        `ip rule add pref ${pref} logged`,
      );
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return { lab, daemon };
}

/** Stops uplinkd (resolving with its exit code) and removes the lab. */
async function stopSettled(running: RunningLab | undefined): Promise<number | undefined> {
  if (!running) return undefined;
  try {
    return await running.daemon.stop();
  } finally {
    await running.lab.destroy();
  }
}

/**
 * Registers before/after hooks for the current suite: a settled lab before its tests, handed
 * to `ready`; after them uplinkd is stopped (it must exit 0 on SIGTERM) and the lab removed.
 */
export function settledLab(configYaml: string, ready: (running: RunningLab) => void, prepare?: (lab: Lab) => Promise<void>): void {
  let running: RunningLab | undefined;
  before(async () => {
    running = await startSettled(configYaml, prepare);
    ready(running);
  });
  after(async () => {
    const code = await stopSettled(running);
    if (running) assert.equal(code, 0, 'uplinkd exits 0 on SIGTERM');
  });
}

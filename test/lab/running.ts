// A lab with uplinkd running and settled: both uplinks up, the managed route via the primary.
import { Lab, type DaemonHandle } from './lab.js';
import { waitUntil } from './wait.js';

export interface RunningLab {
  readonly lab: Lab;
  readonly daemon: DaemonHandle;
}

/** `prepare` runs before uplinkd starts (a TCP server to probe, say). */
export async function startSettled(configYaml: string, prepare?: (lab: Lab) => Promise<void>): Promise<RunningLab> {
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
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return { lab, daemon };
}

/** Stops uplinkd (resolving with its exit code) and removes the lab. */
export async function stopSettled(running: RunningLab | undefined): Promise<number | undefined> {
  if (!running) return undefined;
  try {
    return await running.daemon.stop();
  } finally {
    await running.lab.destroy();
  }
}

// hooks/: the real hook process, through execa: no shell, the event as environment variables
// and as JSON on standard input, in a process group of its own so that a timeout kills what
// the hook started too (a shell script's `sleep`).
import { execa } from 'execa';
import type { HookOutcome, HookSpawner } from './runner.js';

/** Output kept per stream; a chatty hook is not uplinkd's memory problem. */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** After SIGTERM, how long a hook may take to exit before SIGKILL. */
const KILL_GRACE_MS = 1000;

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export const execaSpawner: HookSpawner = async (argv, payload, timeoutMs) => {
  const child = execa(argv[0]!, argv.slice(1), {
    input: payload.json,
    env: payload.env,
    detached: true,
    reject: false,
    maxBuffer: MAX_OUTPUT_BYTES,
    stripFinalNewline: true,
  });
  let timedOut = false;
  let force: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid, 'SIGTERM');
    force = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
  }, timeoutMs);
  const r = await child;
  clearTimeout(timer);
  clearTimeout(force);
  // Whatever the hook left behind in its group goes with it.
  if (timedOut) killGroup(child.pid, 'SIGKILL');
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  const outcome: HookOutcome = {
    exitCode: r.exitCode ?? null,
    timedOut,
    stdout: text(r.stdout),
    stderr: text(r.stderr),
    ...(r.signal ? { signal: r.signal } : {}),
    ...(r.failed && r.exitCode === undefined && !r.signal ? { error: r.shortMessage } : {}),
  };
  return outcome;
};

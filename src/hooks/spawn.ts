// hooks/: the real hook process, through execa: no shell, the event as environment variables
// and as JSON on standard input, in a process group of its own so that a timeout kills what
// the hook started too (a shell script's `sleep`).
import { readdirSync } from 'node:fs';
import { setCloseOnExec } from '../native/index.js';
import type { HookSpawner } from './runner.js';

/** Output kept per stream; a chatty hook is not uplinkd's memory problem. */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** After SIGTERM, how long a hook may take to exit before SIGKILL. */
const KILL_GRACE_MS = 1000;
/** After SIGKILL, how long its output may stay open (a process that left its group holds it). */
const OUTPUT_GRACE_MS = 1000;
/** systemd's variables for uplinkd itself: a hook must not notify or feed the watchdog. */
const OWN_VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'];

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * uplinkd's own sockets are opened with SOCK_CLOEXEC; one a library opens without it (as
 * raw-socket did with the heartbeat sockets) would be held by every hook, and by whatever it
 * leaves running.
 */
function closeOnExec(): void {
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd > 2) setCloseOnExec(fd);
  }
}

function hookEnvironment(payload: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !OWN_VARIABLES.includes(k)) env[k] = v;
  return { ...env, ...payload };
}

export const execaSpawner: HookSpawner = async (argv, payload, timeoutMs, cancel) => {
  // Loaded at the first hook: a config without hooks never pays for execa's memory.
  const { execa } = await import('execa');
  closeOnExec();
  const child = execa(argv[0]!, argv.slice(1), {
    input: payload.json,
    env: hookEnvironment(payload.env),
    extendEnv: false,
    detached: true,
    reject: false,
    maxBuffer: MAX_OUTPUT_BYTES,
    stripFinalNewline: true,
  });
  let timedOut = false;
  let force: NodeJS.Timeout | undefined;
  let giveUp: NodeJS.Timeout | undefined;
  const stop = (): void => {
    killGroup(child.pid, 'SIGTERM');
    force = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, timeoutMs);
  const onCancel = (): void => {
    timedOut = true;
    killGroup(child.pid, 'SIGKILL');
  };
  cancel?.addEventListener('abort', onCancel, { once: true });
  // A process that left the hook's group (setsid) may hold its output open for ever: past the
  // timeout and the grace periods the output is given up on, and the hook is done.
  const deadline = new Promise<undefined>((resolve) => {
    giveUp = setTimeout(() => resolve(undefined), timeoutMs + KILL_GRACE_MS + OUTPUT_GRACE_MS);
  });
  const r = await Promise.race([child, deadline]);
  clearTimeout(timer);
  clearTimeout(force);
  clearTimeout(giveUp);
  cancel?.removeEventListener('abort', onCancel);
  // Whatever the hook left behind in its group goes with it.
  if (timedOut) killGroup(child.pid, 'SIGKILL');
  if (!r) {
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.catch(() => undefined);
    return { exitCode: child.exitCode ?? null, timedOut: true, stdout: '', stderr: 'output still held open by a process that left the hook: given up' };
  }
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    exitCode: r.exitCode ?? null,
    timedOut,
    stdout: text(r.stdout),
    stderr: text(r.stderr),
    ...(r.signal ? { signal: r.signal } : {}),
    ...(r.failed && r.exitCode === undefined && !r.signal ? { error: r.shortMessage } : {}),
  };
};

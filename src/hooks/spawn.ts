// hooks/: the real hook process, through execa: no shell, the event as environment variables
// (bounded) and as JSON on standard input (whole), in a process group of its own so that what
// the hook started (a shell script's `sleep`, `cmd &`) ends with it: when the hook exits, and
// at its timeout.
import { readdirSync } from 'node:fs';
import { setCloseOnExec } from '../native/index.js';
import { envValue } from './payload.js';
import type { HookSpawner } from './runner.js';

/** Output kept per stream; a chatty hook is not uplinkd's memory problem. */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** After SIGTERM, how long a hook may take to exit before SIGKILL. */
const KILL_GRACE_MS = 1000;
/** After SIGKILL, how long its output may stay open (a process that left its group holds it). */
const OUTPUT_GRACE_MS = 1000;
/** systemd's variables for uplinkd itself: a hook must not notify or feed the watchdog. */
const OWN_VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'];

/** How often a group sent SIGTERM is looked at, to be done as soon as it is gone. */
const GROUP_POLL_MS = 20;

/** false when the group has no process left (ESRCH). */
function killGroup(pid: number | undefined, signal: NodeJS.Signals | 0): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    // EPERM: a member we may not signal (a setuid program) is still there.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM to the whole group, SIGKILL to what is left of it KILL_GRACE_MS later. The group
 * outlives its leader while any member does, so its id stays reserved (no pid reuse) while
 * there is something to kill. A member that is a zombie its new parent has not reaped yet
 * counts as left: with an init that does not reap, the grace runs out, harmlessly.
 */
async function endGroup(pid: number | undefined): Promise<void> {
  if (!killGroup(pid, 'SIGTERM')) return;
  for (let waited = 0; waited < KILL_GRACE_MS; waited += GROUP_POLL_MS) {
    await delay(GROUP_POLL_MS);
    if (!killGroup(pid, 0)) return;
  }
  killGroup(pid, 'SIGKILL');
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
  // Bounded here too (payload.ts does it already): a value past Linux's limit fails the exec.
  for (const [k, v] of Object.entries(payload)) env[k] = envValue(v);
  return env;
}

export const execaSpawner: HookSpawner = async (argv, payload, timeoutMs, cancel) => {
  // Loaded at the first hook: a config without hooks never pays for execa's memory.
  const { execa } = await import('execa');
  closeOnExec();
  // detached: the hook leads a process group of its own (setsid), which the kills below
  // address. libuv still reaps it, and it holds the event loop only while it runs.
  const child = execa(argv[0]!, argv.slice(1), {
    input: payload.json,
    env: hookEnvironment(payload.env),
    extendEnv: false,
    detached: true,
    reject: false,
    maxBuffer: MAX_OUTPUT_BYTES,
    stripFinalNewline: true,
  });
  const group = child.pid;
  let timedOut = false;
  // The group is ended once, at whichever comes first: the hook's own exit (what it left in
  // the background goes with it, and so do the output pipes such a process holds, which
  // execa waits for) or its timeout.
  let ending: Promise<void> | undefined;
  let gone!: () => void;
  const groupGone = new Promise<void>((r) => {
    gone = r;
  });
  const end = (): Promise<void> => {
    if (!ending) ending = endGroup(group).then(gone);
    return ending;
  };
  const timer = setTimeout(() => {
    timedOut = true;
    void end();
  }, timeoutMs);
  child.once('exit', () => {
    clearTimeout(timer);
    void end();
  });
  const onCancel = (): void => {
    timedOut = true;
    killGroup(group, 'SIGKILL');
    void end();
  };
  cancel?.addEventListener('abort', onCancel, { once: true });
  // A process that left the hook's group (setsid) may hold its output open for ever: once the
  // group is gone, the output gets a grace period, then is given up on and the hook is done.
  let giveUp: NodeJS.Timeout | undefined;
  let settled = false;
  const deadline = groupGone.then(
    () =>
      new Promise<undefined>((resolve) => {
        if (!settled) giveUp = setTimeout(() => resolve(undefined), OUTPUT_GRACE_MS);
      }),
  );
  const r = await Promise.race([child, deadline]);
  settled = true;
  clearTimeout(timer);
  cancel?.removeEventListener('abort', onCancel);
  // The hook is done when its group is: the next one in the queue never meets its leftovers.
  if (group !== undefined) await end();
  clearTimeout(giveUp);
  if (!r) {
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.catch(() => undefined);
    return {
      exitCode: child.exitCode ?? null,
      ...(child.signalCode ? { signal: child.signalCode } : {}),
      timedOut,
      stdout: '',
      stderr: 'output still held open by a process that left the hook: given up',
    };
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

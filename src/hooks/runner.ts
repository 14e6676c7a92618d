// hooks/: runs the configured commands on operator events. Each event is queued per uplink
// (steering events on a queue of their own) and a queue runs one hook at a time, in event
// order; queues never block probing or routing, which only enqueue. A hook past its timeout
// is killed with its whole process group (keepalived issue 535: a hung notify script must not
// hold back the next one), and so is what a hook that exits left in its group (spawn.ts). Its
// exit code and output are logged.
import type { OperatorEvent } from '../types/events.js';
import type { HookConfig } from '../types/index.js';
import { type HookPayload, hookPayload, queueOf } from './payload.js';

export interface HookOutcome {
  /** null when a signal ended it (then `signal`), or when it could not start (then `error`). */
  readonly exitCode: number | null;
  readonly signal?: string;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly error?: string;
}

/** Starts one hook process: real (execa, spawn.ts) or a fake in tests; `cancel` kills it at once. */
export type HookSpawner = (argv: readonly string[], payload: HookPayload, timeoutMs: number, cancel?: AbortSignal) => Promise<HookOutcome>;

export interface HookLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** Queued events per queue: past this the oldest waiting ones are dropped, said in the log. */
export const MAX_QUEUED = 64;
/** Output kept in the log line, per stream. */
const OUTPUT_CHARS = 2000;
/** On stop, how long running hooks may go on before they are killed (systemd waits 90 s). */
export const STOP_GRACE_MS = 5000;

interface Job {
  readonly hook: HookConfig;
  readonly event: OperatorEvent;
  readonly payload: HookPayload;
}

export class HookRunner {
  private readonly queues = new Map<string, Job[]>();
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  private readonly cancel = new AbortController();

  constructor(
    private readonly current: () => { readonly hooks: readonly HookConfig[]; readonly interfaces: ReadonlyMap<string, string> },
    private readonly spawn: HookSpawner,
    private readonly log: HookLog,
    private readonly now: () => number = Date.now,
  ) {}

  /** Enqueues the hooks that take `event`; returns at once. */
  emit(event: OperatorEvent): void {
    if (this.stopped) return;
    const { hooks, interfaces } = this.current();
    const takers = hooks.filter((h) => h.events.includes(event.event));
    if (takers.length === 0) return;
    const payload = hookPayload(event, new Date(this.now()).toISOString(), interfaces);
    const key = queueOf(event);
    const queue = this.queues.get(key) ?? [];
    queue.push(...takers.map((hook) => ({ hook, event, payload })));
    if (queue.length > MAX_QUEUED) {
      const dropped = queue.splice(0, queue.length - MAX_QUEUED);
      this.log.warn(
        { event: 'hook', queue: key, dropped: dropped.length },
        `hooks (${key}) fall behind: ${dropped.length} queued run(s) dropped, the oldest first; ${MAX_QUEUED} still wait`,
      );
    }
    this.queues.set(key, queue);
    // Started on the next turn of the event loop: the route change the event came with goes
    // out first, and forking never delays it.
    if (!this.running.has(key))
      this.running.set(
        key,
        new Promise<void>((r) => setImmediate(r)).then(() => this.drain(key)),
      );
  }

  /** No new hooks; those running get `graceMs` to end, then are killed. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => {
      timer = setTimeout(() => {
        this.cancel.abort();
        r();
      }, graceMs);
    });
    await Promise.race([Promise.all(this.running.values()), grace]);
    await Promise.all(this.running.values());
    clearTimeout(timer);
  }

  /** Resolves when every queue is empty (tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  private async drain(key: string): Promise<void> {
    const queue = this.queues.get(key)!;
    let job: Job | undefined;
    while (!this.stopped && (job = queue.shift())) await this.runOne(job);
    // Events that came while it ran wait in `queue`; on stop they are dropped.
    this.queues.delete(key);
    this.running.delete(key);
  }

  private async runOne({ hook, event, payload }: Job): Promise<void> {
    const started = this.now();
    let outcome: HookOutcome;
    try {
      outcome = await this.spawn(hook.run, payload, hook.timeoutMs, this.cancel.signal);
    } catch (err) {
      outcome = { exitCode: null, timedOut: false, stdout: '', stderr: '', error: (err as Error).message };
    }
    const fields = {
      event: 'hook',
      hook: hook.run.join(' '),
      for: event.event,
      ...(event.event === 'state' || event.event === 'gateway_changed' ? { uplink: event.uplink } : {}),
      exit_code: outcome.exitCode,
      ...(outcome.signal ? { signal: outcome.signal } : {}),
      duration_ms: this.now() - started,
      stdout: outcome.stdout.slice(0, OUTPUT_CHARS),
      stderr: outcome.stderr.slice(0, OUTPUT_CHARS),
    };
    const what = `hook ${hook.run[0]} (${event.event})`;
    if (outcome.error !== undefined) this.log.warn({ ...fields, err: outcome.error }, `${what} could not run: ${outcome.error}`);
    else if (outcome.timedOut) this.log.warn({ ...fields, timed_out: true }, `${what} ran past its timeout of ${hook.timeoutMs}ms: killed`);
    else if (outcome.exitCode !== 0) this.log.warn(fields, `${what} failed: ${outcome.signal ?? `exit ${outcome.exitCode}`}`);
    else this.log.info(fields, `${what}: exit 0`);
  }
}

// notify/: the service manager's side of `Type=notify` (sd_notify(3)): READY=1 once the first
// apply is in, STATUS= a one-line summary, WATCHDOG=1 from the event loop, STOPPING=1. Each
// notification is one datagram to $NOTIFY_SOCKET, sent through the native addon (Node has no
// Unix datagram sockets). Outside systemd ($NOTIFY_SOCKET unset) nothing is sent.
import { sendDatagram } from '../native/index.js';

/** Where notifications go: a fake in tests, the datagram socket under systemd. */
export interface ServiceManager {
  /** `fields` as sd_notify's newline-separated KEY=VALUE lines; an error text when it could not be sent. */
  notify(fields: Readonly<Record<string, string>>): string | undefined;
}

/** sd_notify's wire format: one KEY=VALUE per line; a value never spans lines. */
export function notifyMessage(fields: Readonly<Record<string, string>>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, ' ')}`)
    .join('\n');
}

/** The socket named by $NOTIFY_SOCKET (a path, or `@name` in the abstract namespace). */
export function socketManager(path: string): ServiceManager {
  return {
    notify: (fields) => {
      const err = sendDatagram(path, Buffer.from(notifyMessage(fields)));
      return err ? `${err.message} (${path})` : undefined;
    },
  };
}

export interface ServiceEnvironment {
  /** Absent when not run by systemd with Type=notify (or NotifyAccess=none). */
  readonly manager?: ServiceManager;
  /** WatchdogSec= as milliseconds, when systemd expects WATCHDOG=1 from this process. */
  readonly watchdogMs?: number;
}

/**
 * What systemd asked of this process, from its environment (sd_watchdog_enabled(3)):
 * WATCHDOG_USEC is meant for us only when WATCHDOG_PID is unset or is our pid.
 */
export function serviceEnvironment(env: NodeJS.ProcessEnv, pid: number, manager = socketManager): ServiceEnvironment {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return {};
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  return { manager: manager(socket), ...(forUs && Number.isFinite(usec) && usec > 0 ? { watchdogMs: usec / 1000 } : {}) };
}

/** sd_watchdog_enabled(3) advises a ping at half the timeout: one late tick must not kill us. */
export const watchdogPeriod = (watchdogMs: number): number => Math.max(1, Math.floor(watchdogMs / 2));

/** An apply running this long is stuck (a netlink answer that never came): the watchdog stops. */
export const APPLY_STUCK_MS = 30_000;

/**
 * Keeps systemd told: READY=1 with the first status line once the first apply is in, a new
 * STATUS= when an operator event changes the picture (refreshed at most every `refreshMs`),
 * WATCHDOG=1 at half of WatchdogSec from the event loop while `alive()` (a hung loop, or an
 * apply stuck for APPLY_STUCK_MS, stops it, and systemd restarts uplinkd; routes stay
 * meanwhile), STOPPING=1 on the way out.
 */
export class ServiceNotifier {
  private lastStatus = '';
  private refresh: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private failed = false;
  private stopped = false;

  constructor(
    private readonly service: ServiceEnvironment,
    private readonly statusLine: () => Promise<string>,
    private readonly onError: (message: string) => void,
    private readonly alive: () => string | undefined = () => undefined,
    private readonly refreshMs = 200,
  ) {}

  get active(): boolean {
    return this.service.manager !== undefined;
  }

  async ready(): Promise<void> {
    if (!this.service.manager) return;
    this.lastStatus = await this.line();
    this.send({ READY: '1', STATUS: this.lastStatus });
    const ms = this.service.watchdogMs;
    if (ms !== undefined && !this.stopped) {
      this.ping();
      this.watchdog = setInterval(() => this.ping(), watchdogPeriod(ms));
      this.watchdog.unref();
    }
  }

  private withheld = false;

  /** WATCHDOG=1, unless `alive()` says what is stuck (said once; systemd then restarts uplinkd). */
  private ping(): void {
    const stuck = this.alive();
    if (stuck === undefined) {
      this.withheld = false;
      this.send({ WATCHDOG: '1' });
    } else if (!this.withheld) {
      this.withheld = true;
      this.onError(`watchdog: not pinging, ${stuck}; systemd restarts uplinkd at WatchdogSec`);
    }
  }

  /** Something changed: the status line is read again shortly. */
  changed(): void {
    if (!this.service.manager || this.refresh || this.stopped) return;
    this.refresh = setTimeout(() => {
      void this.line().then((line) => {
        this.refresh = undefined;
        if (this.stopped || line === this.lastStatus) return;
        this.lastStatus = line;
        this.send({ STATUS: line });
      });
    }, this.refreshMs);
    this.refresh.unref();
  }

  stopping(): void {
    this.stopped = true;
    clearTimeout(this.refresh);
    clearInterval(this.watchdog);
    this.send({ STOPPING: '1', STATUS: 'stopping' });
  }

  private async line(): Promise<string> {
    try {
      return await this.statusLine();
    } catch (err) {
      return `status unreadable: ${(err as Error).message}`;
    }
  }

  private send(fields: Readonly<Record<string, string>>): void {
    const err = this.service.manager?.notify(fields);
    // Said once: a watchdog ping every few seconds would flood the journal.
    if (err && !this.failed) this.onError(`cannot notify systemd: ${err}`);
    this.failed = err !== undefined;
  }
}

// control/: the one protocol file shared by the daemon and the CLI. One JSON request per
// connection, one JSON response, each a single line; and the client side that sends them.
import { connect } from 'node:net';

/** `uplinkd drain|resume|prefer UPLINK`: an operator's override (changes the daemon, as reload does). */
export type OverrideRequest =
  | { readonly cmd: 'drain'; readonly uplink: string; readonly now?: boolean }
  | { readonly cmd: 'resume'; readonly uplink: string }
  | { readonly cmd: 'prefer'; readonly uplink: string };

export type Request = { readonly cmd: 'status' } | { readonly cmd: 'check' } | { readonly cmd: 'reload' } | OverrideRequest;
const COMMANDS: readonly string[] = ['status', 'check', 'reload', 'drain', 'resume', 'prefer'];
export const OVERRIDE_COMMANDS: readonly string[] = ['drain', 'resume', 'prefer'];
/** Commands that change the daemon: only root, the daemon's own user and control.group. */
export const MUTATING_COMMANDS: readonly string[] = ['reload', ...OVERRIDE_COMMANDS];

/** One request line -> the request, or what is wrong with it (said to the client). */
export function parseRequest(line: string): Request | { readonly problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { problem: 'request is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'request must be a JSON object like {"cmd":"status"}' };
  const { cmd, uplink, now } = value as { cmd?: unknown; uplink?: unknown; now?: unknown };
  if (typeof cmd !== 'string') return { problem: `request has no "cmd" string (${COMMANDS.join(', ')})` };
  // Echo a bounded, printable part of what was asked: never the client's bytes unfiltered.
  if (!COMMANDS.includes(cmd)) return { problem: `unknown command ${JSON.stringify(cmd.slice(0, 40))} (${COMMANDS.join(', ')})` };
  if (!OVERRIDE_COMMANDS.includes(cmd)) return { cmd } as Request;
  if (typeof uplink !== 'string' || uplink.length === 0 || uplink.length > 64) return { problem: `${cmd} needs an "uplink" name` };
  if (now !== undefined && (cmd !== 'drain' || typeof now !== 'boolean')) return { problem: '"now" is a boolean, for drain only' };
  return (cmd === 'drain' && now !== undefined ? { cmd, uplink, now } : { cmd, uplink }) as Request;
}

export interface TargetStatus {
  readonly target: string;
  readonly ok: boolean;
  readonly rtt_ms: number | null;
  /** Mean difference between consecutive RTTs over the window. */
  readonly jitter_ms: number | null;
  readonly loss_pct: number;
  /** Why the last heartbeat failed (`timeout`, `ENODEV`, ...); absent when it answered. */
  readonly error?: string;
  /** How long a heartbeat to it sent now is waited for: `timeout`, or what `auto` makes of its RTT. */
  readonly timeout_ms: number;
}

/** The users' traffic through an uplink, each way (the passive signal, `probe.passive`). */
export interface PassiveStatus {
  /** `probe.passive`. */
  readonly enabled: boolean;
  /** Whether its counters were read within the last second (false: the figures below are not current, and no silence is seen). */
  readonly watching: boolean;
  /** Over the last second: packets and bytes per second sent through it, and answered from it. */
  readonly sent_packets_per_s: number;
  readonly sent_bytes_per_s: number;
  readonly answer_packets_per_s: number;
  readonly answer_bytes_per_s: number;
  /** Ms since the last answer came (a packet from the uplink in a connection this side opened); null: none yet. */
  readonly last_answer_ms_ago: number | null;
  /** Ms it has been sending without an answer (0: answered, or not sending). */
  readonly silent_ms: number;
  /** The silence that starts a confirmation by heartbeats. */
  readonly span_ms: number;
  /** Confirmations it started since uplinkd started, and how many of them the heartbeats refuted. */
  readonly confirmations: number;
  readonly refuted: number;
  /** Ms until the next confirmation may start (held off after refuted ones); 0: at once. */
  readonly holdoff_ms: number;
}

export interface UplinkStatus {
  readonly name: string;
  readonly interface: string;
  readonly state: 'init' | 'up' | 'degraded' | 'down' | 'detached';
  readonly priority: number;
  /**
   * Percent of new flows this uplink gets now (0-100 across all uplinks): the intent. Status
   * `weight` is always a percent, never the kernel's next-hop weight (1-256) or the config's
   * `weight`; the name is part of the status contract (src/README.md §3).
   */
  readonly weight: number;
  /** Live connections pinned to it, counted in the kernel's conntrack table. */
  readonly flows: number | null;
  /** New connections that left through it since the last steering change (nftables counter). */
  readonly new_flows: number | null;
  /** Its share of those new connections, in percent; null before any came. */
  readonly new_flows_pct: number | null;
  readonly rtt_ms: number | null;
  readonly loss_pct: number;
  readonly since: string;
  readonly reason: string;
  readonly targets: readonly TargetStatus[];
  /** Each address family's own verdict and share: they fail over independently. */
  readonly families: readonly FamilyStatus[];
  /** With routing.dampening: the flap penalty, and whether it holds the uplink out of the routes. */
  readonly dampening?: DampeningStatus;
  /** An operator's `uplinkd drain` or `prefer`, until `resume`: who set it and when. */
  readonly override?: { readonly kind: 'drain' | 'prefer'; readonly by: string; readonly since: string };
  /** With `mptcp:`: its path-manager endpoints and the gateway's subflows on it, read from the kernel (null: could not be read). */
  readonly mptcp?: MptcpStatus | null;
  /** The longest time a heartbeat sent now is waited for, over its targets (`timeout`, or `auto`'s figure). */
  readonly timeout_ms: number;
  readonly passive: PassiveStatus;
}

export interface MptcpStatus {
  /** Its endpoints as the kernel has them: `flags` in `ip mptcp` words (`subflow backup`). */
  readonly endpoints: readonly { readonly id: number; readonly address: string; readonly flags: string }[];
  /** The gateway's MPTCP subflows leaving from its addresses. */
  readonly subflows: number;
  /** Of those, the ones the gateway has flagged backup. */
  readonly backup_subflows: number;
}

export interface DampeningStatus {
  readonly penalty: number;
  readonly suppressed: boolean;
  /** Seconds until the penalty decays below `reuse` and the uplink may carry traffic again. */
  readonly reuse_in_s?: number;
}

export interface FamilyStatus {
  readonly family: 'ipv4' | 'ipv6';
  readonly state: UplinkStatus['state'];
  /** Percent of this family's new flows, as UplinkStatus.weight. */
  readonly weight: number;
  readonly since: string;
  readonly reason: string;
}

export interface RouteStatus {
  readonly destination: string;
  readonly table: number;
  /** `weight`: the percent of the route's new flows through that uplink, read back from the kernel's weights. */
  readonly nexthops: readonly { readonly uplink: string; readonly weight: number }[];
}

/** `uplinkd status --json` (src/README.md §3): the design's fields, plus `steering` and `kernel`. */
export interface StatusReport {
  readonly uplinks: readonly UplinkStatus[];
  readonly routes: readonly RouteStatus[];
  readonly steering: { readonly all_down: boolean; readonly reason: string };
  /**
   * What the kernel would not take: operations it refused at the last apply (`ip` command:
   * errno, tried again alone) and somebody else's rules in uplinkd's range (left alone).
   */
  readonly kernel: {
    readonly refused: readonly string[];
    readonly foreign_rules: readonly string[];
    /** Managed routes not written: the prefix is the kernel's own connected route (table main). */
    readonly connected_routes: readonly string[];
  };
}

export type Response =
  | { readonly ok: true; readonly status: StatusReport }
  | { readonly ok: true; readonly reloaded: true; readonly changes: readonly string[] }
  /** An override was set or lifted: what the daemon did, in words. */
  | { readonly ok: true; readonly done: string }
  /** `uplinkd check`: whether an uplink that answers carries the managed routes, and why. */
  | { readonly ok: true; readonly check: { readonly carrying: boolean; readonly reason: string } }
  | { readonly ok: false; readonly error: string; readonly problems?: readonly string[] };

export class NoDaemonError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`no uplinkd answers on ${path} (${code})`);
    this.name = 'NoDaemonError';
  }
}

/** The socket is there but this user may not use it (its mode is 0660: root and control.group). */
export class ControlAccessError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`permission denied on ${path} (${code}): run as root or as a member of control.group`);
    this.name = 'ControlAccessError';
  }
}

export function request(path: string, req: Request, timeoutMs = 5000): Promise<Response> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new NoDaemonError(path, 'ETIMEDOUT'));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (d: string) => (buf += d));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = err.code ?? 'EIO';
      reject(code === 'EACCES' || code === 'EPERM' ? new ControlAccessError(path, code) : new NoDaemonError(path, code));
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as Response);
      } catch {
        reject(new NoDaemonError(path, 'EPROTO'));
      }
    });
  });
}

// control/: the one protocol file shared by the daemon and the CLI. One JSON request per
// connection, one JSON response, each a single line; and the client side that sends them.
import { connect } from 'node:net';
import type { StatusReport } from '../types/status.js';

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

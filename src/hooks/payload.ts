// hooks/: what a hook is told of an event, as environment variables and as JSON on its
// standard input (the top-level README, "Hooks"). Pure.
import type { FlowShare, OperatorEvent } from '../types/events.js';

/**
 * Most bytes (UTF-8) of one environment value, the marker included. Linux refuses an exec
 * whose single `NAME=value` string passes 128 KiB (E2BIG), and all of them share a quarter of
 * the stack limit: a long REASON must not cost the hook its run. The JSON on standard input
 * is never cut.
 */
export const ENV_VALUE_MAX_BYTES = 4096;
/** Ends a value cut to ENV_VALUE_MAX_BYTES (ASCII: a hook in the C locale reads it as it is). */
export const TRUNCATED_MARK = '...[truncated]';

/** `v` if it fits; else its first bytes, cut at a character's boundary, and the marker. */
export function envValue(v: string): string {
  if (Buffer.byteLength(v) <= ENV_VALUE_MAX_BYTES) return v;
  const bytes = Buffer.from(v);
  let end = ENV_VALUE_MAX_BYTES - Buffer.byteLength(TRUNCATED_MARK);
  // Not inside a character: UTF-8 continuation bytes are 10xxxxxx.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString() + TRUNCATED_MARK;
}

const bounded = (env: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, envValue(v)]));

const familyName = (f: 4 | 6): string => `ipv${f}`;
const sharesText = (shares: readonly FlowShare[]): string => shares.map((s) => `${s.uplink}=${s.share}`).join(',');

export interface HookPayload {
  /** Each value at most ENV_VALUE_MAX_BYTES, cut ones ending in TRUNCATED_MARK. */
  readonly env: Readonly<Record<string, string>>;
  readonly json: string;
}

/**
 * The environment's values are bounded (`envValue`); the JSON holds the event whole.
 * `interfaces`: each uplink's interface, for steering events (which name uplinks only). For a
 * state event FROM and TO are states; for a steering event they are the shares before and
 * after (`fiber=50,dsl=50`), and UPLINK and INTERFACE name the uplinks that carry new flows now.
 */
export function hookPayload(e: OperatorEvent, time: string, interfaces: ReadonlyMap<string, string>): HookPayload {
  if (e.event === 'state') {
    const env = {
      UPLINKD_EVENT: e.event,
      UPLINKD_UPLINK: e.uplink,
      UPLINKD_INTERFACE: e.interface,
      UPLINKD_FAMILY: familyName(e.family),
      UPLINKD_FROM: e.from,
      UPLINKD_TO: e.to,
      UPLINKD_REASON: e.reason,
      UPLINKD_SHARES: '',
      UPLINKD_TIME: time,
    };
    return { env: bounded(env), json: JSON.stringify({ ...e, family: familyName(e.family), time }) };
  }
  if (e.event === 'gateway_changed') {
    // FROM and TO are the next hops before and after ('' for none); REASON says where TO came from.
    const env = {
      UPLINKD_EVENT: e.event,
      UPLINKD_UPLINK: e.uplink,
      UPLINKD_INTERFACE: e.interface,
      UPLINKD_FAMILY: familyName(e.family),
      UPLINKD_FROM: e.was ?? '',
      UPLINKD_TO: e.gateway ?? '',
      UPLINKD_REASON: e.gateway ? `learnt from a ${e.source} route` : 'no default route via the interface',
      UPLINKD_SHARES: '',
      UPLINKD_TIME: time,
    };
    return { env: bounded(env), json: JSON.stringify({ ...e, family: familyName(e.family), time }) };
  }
  const carrying = e.shares.map((s) => s.uplink);
  const env = {
    UPLINKD_EVENT: e.event,
    UPLINKD_UPLINK: carrying.join(','),
    UPLINKD_INTERFACE: carrying.map((u) => interfaces.get(u) ?? '').join(','),
    UPLINKD_FAMILY: familyName(e.family),
    UPLINKD_FROM: sharesText(e.was),
    UPLINKD_TO: sharesText(e.shares),
    UPLINKD_REASON: e.reason,
    UPLINKD_SHARES: sharesText(e.shares),
    UPLINKD_TIME: time,
  };
  return { env: bounded(env), json: JSON.stringify({ ...e, family: familyName(e.family), time }) };
}

/** Hooks of one uplink run one at a time, in order; steering events share one queue. */
export const queueOf = (e: OperatorEvent): string => (e.event === 'state' || e.event === 'gateway_changed' ? `uplink ${e.uplink}` : 'steering');

// The kernel layout uplinkd owns, the kernel's limits it checks configs against, and the
// config's defaults and ranges, in one place for config/ (what it accepts) and route/ (what
// it writes): rule priorities, per-uplink tables and conntrack marks. The README's table
// "What uplinkd writes into the kernel" and its "Ranges" describe the same numbers.
import type { DampeningSettings, FailbackSettings, ProbeSettings } from './index.js';

/** Every rule with a priority in this range is uplinkd's. */
export const RULE_PRIORITY_MIN = 9000;
export const RULE_PRIORITY_MAX = 9999;
/** + uplink index: `oif IFACE lookup UPLINK_TABLE` (heartbeats leave through their uplink). */
export const RULE_OIF_BASE = 9000;
/** `lookup main suppress_prefixlength 0`: LAN routes in main win over everything below. */
export const RULE_MAIN_FIRST = 9200;
/** + uplink index: `from ADDRESS lookup UPLINK_TABLE` (routing.source_rules). */
export const RULE_SOURCE_BASE = 9300;
/** + uplink index: `fwmark MARK/MASK lookup UPLINK_TABLE` (a pinned connection's uplink). */
export const RULE_FWMARK_BASE = 9500;
/** `lookup TABLE`: new flows follow the managed routes. */
export const RULE_MANAGED = 9900;
/**
 * A foreign rule in 9701-9900 (somebody else's, in uplinkd's range) would shadow the managed
 * lookup: that lookup then goes just in front of it, never lower than this.
 */
export const RULE_MANAGED_MIN = 9700;

/**
 * The layout before per-connection pinning, so an upgrade deletes what it left: `lookup main
 * suppress_prefixlength 0` at 9690 and 9900, `from ADDRESS lookup UPLINK_TABLE` at 9700-9899
 * and `lookup TABLE` at 9901.
 */
export const EARLIER_MAIN_FIRST = [9690, 9900];
export const EARLIER_SOURCE_BASE = 9700;
export const EARLIER_MANAGED = 9901;

/** Each range above holds 200 rules (9000-9199, 9300-9499, 9500-9699). */
export const MAX_UPLINKS = 200;

/** Uplink number `index`'s own table sits this far above the managed one (never 253-255). */
export const UPLINK_TABLE_OFFSET = 1000;
export const MAIN_TABLE = 254;

/**
 * The metric uplinkd writes its routes with. IPv6 takes 1: a metric of 0 becomes 1024
 * (IP6_RT_PRIO_USER, net/ipv6/route.c), the metric of the kernel's routes from router
 * advertisements, and a replace at an equal metric takes over the first such route in main
 * (fib6_add_rt2node) -- the very route `gateway6: auto` learns from.
 */
export const OWN_METRIC: Readonly<Record<4 | 6, number>> = { 4: 0, 6: 1 };

/** mwan3's mask: six bits, 63 uplinks. */
export const DEFAULT_MARK_MASK = 0x3f00;

function maskBits(mask: number): number[] {
  const bits: number[] = [];
  for (let b = 0; b < 32; b++) if ((mask >>> b) & 1) bits.push(b);
  return bits;
}

/** How many uplinks a mark mask can tell apart (mark 0 means "not pinned"). */
export function markCapacity(mask: number): number {
  return 2 ** maskBits(mask).length - 1;
}

/**
 * The mark of uplink number `index`: index + 1 spread over the mask's bits, lowest first
 * (so 0x3f00 gives 0x100, 0x200, 0x300, ...). Undefined when the mask has no room for it.
 */
export function uplinkMark(mask: number, index: number): number | undefined {
  const bits = maskBits(mask);
  const n = index + 1;
  if (n >= 2 ** bits.length) return undefined;
  let mark = 0;
  bits.forEach((bit, i) => {
    if ((n >>> i) & 1) mark |= 1 << bit;
  });
  return mark >>> 0;
}

export function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

// ---- config defaults and ranges (README: "Configuration", "Ranges") ----

export const DEFAULT_SOCKET = '/run/uplinkd/uplinkd.sock';
export const DEFAULT_PROBE: ProbeSettings = Object.freeze({
  intervalMs: 1000,
  timeoutMs: 'auto',
  passive: true,
  // Confirmation heartbeats every 50 ms: `down` of them span 100 ms, then one timeout.
  failureIntervalMs: 50,
  down: 3,
  up: 5,
  reliability: 1,
  window: 20,
});
export const DEFAULT_FAILBACK: FailbackSettings = Object.freeze({
  holdMs: 30_000,
  steps: Object.freeze([10, 50, 100]),
  stepIntervalMs: 10_000,
});
export const DEFAULT_TABLE = 100;

// ---- `timeout: auto` (health/rto.ts, RFC 6298) ----

/**
 * The floor: a 1 ms fiber is judged in tens of milliseconds, not in one, because answers also
 * wait for this gateway's event loop and the target's scheduler. Also the least silence the
 * passive signal waits for (Linux delays an ACK up to 40 ms; RFC 1122 §4.2.3.2 allows 500).
 */
export const RTO_MIN_MS = 50;
/** The ceiling: a geostationary satellite link under load answers within it. */
export const RTO_MAX_MS = 3000;
/** Before the first answer (RFC 6298 §2.1). */
export const RTO_INITIAL_MS = 1000;
/** While the users' traffic is answered, a heartbeat is waited for at least this long (health/passive.ts `answering`). */
export const ANSWERING_TIMEOUT_MIN_MS = 1000;
/** How often the passive signal's counters are read while it watches an uplink (a wake-up came). */
export const PASSIVE_SAMPLE_MS = 10;
/**
 * The passive signal's wake-up (nft/ruleset.ts): an uplink that has answered nothing for this
 * long while packets keep leaving through it gets one of them logged. The floor of the silence
 * the signal waits for (RTO_MIN_MS), so no silence it would act on goes unlogged.
 */
export const PASSIVE_QUIET_MS = RTO_MIN_MS;
/** With no passive uplink, how often the sampler looks again whether a reload made one. */
export const PASSIVE_IDLE_SAMPLE_MS = 1000;
/** The NFLOG group of those logged packets (one socket per group and network namespace). */
export const PASSIVE_LOG_GROUP = 30517;
/** At most this many wake-ups per second and uplink while it stays silent (nft `limit`). */
export const PASSIVE_LOG_RATE = 5;

export const DEFAULT_DAMPENING: DampeningSettings = Object.freeze({
  penalty: 1000,
  suppress: 2000,
  reuse: 750,
  halfLifeMs: 60_000,
  maxSuppressMs: 300_000,
});

/** IFNAMSIZ is 16 bytes including the NUL (include/uapi/linux/if.h). */
export const IFNAME_BYTES = 15;
/**
 * The interface names a config may give (issue 26): letters, digits, ".", "_", "-" and "@",
 * 1 to IFNAME_BYTES of them (all one byte each), not "." or ".." (dev_valid_name() in
 * net/core/dev.c). The kernel takes more (any byte but NUL, "/", ":" and white space), but
 * "*" would be an nft wildcard and a quote or a control character would break the nft
 * ruleset, and no name udev, systemd-networkd or iproute2 makes needs them.
 */
const IFNAME = new RegExp(`^[A-Za-z0-9._@-]{1,${IFNAME_BYTES}}$`);
export const IFNAME_RULE = `1 to ${IFNAME_BYTES} bytes, each a letter A-Z or a-z, a digit 0-9, ".", "_", "-" or "@", and not "." or ".."`;

/** Whether `name` is an interface name uplinkd accepts (IFNAME_RULE). */
export function isInterfaceName(name: string): boolean {
  return IFNAME.test(name) && name !== '.' && name !== '..';
}

/** Every count has a range: heartbeats per uplink, and routes uplinkd writes per apply. */
export const MAX_TARGETS = 64;
export const MAX_DESTINATIONS = 1024;

/** A uid or gid: 32 bits, minus (gid_t)-1, which means "no change" to chown(2). */
export const MAX_ID = 0xffff_fffe;
export const MAX_SOCKET_PATH = 107;
// rtm_table values that are not routing tables of ours (include/uapi/linux/rtnetlink.h).
export const RESERVED_TABLES: Record<number, string> = { 0: 'unspec', 253: 'default', 255: 'local' };
// Leaves room above it for the per-uplink tables (UPLINK_TABLE_OFFSET + index).
export const TABLE_MAX = 0xffff_ffff - 2000;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** The range of each duration (README: "Ranges"). */
export const RANGE = {
  interval: [10, HOUR],
  timeout: [10, MINUTE],
  rtt: [1, MINUTE],
  hold: [1, 24 * HOUR],
  stepInterval: [1, 24 * HOUR],
  drain: [1, 24 * HOUR],
  dampening: [SECOND, 24 * HOUR],
  hookTimeout: [100, 10 * MINUTE],
} as const satisfies Record<string, readonly [number, number]>;

/** The named counter of new connections through an uplink, in uplinkd's nftables table. */
export function counterName(uplink: string): string {
  return `new_${uplink}`;
}

/** The named counters of the users' packets sent through an uplink and answered from it (the passive signal). */
export function trafficCounterNames(uplink: string): { readonly tx: string; readonly rx: string } {
  return { tx: `tx_${uplink}`, rx: `rx_${uplink}` };
}

// ---- MPTCP path-manager endpoints (mptcp:, include/uapi/linux/mptcp_pm.h) ----

/** Endpoint IDs are a u8; 0 is the initial subflow's address and never an endpoint's. */
export const MPTCP_ID_MAX = 255;
/** Uplink i's IPv4 endpoint is base + 2i, its IPv6 one base + 2i + 1. */
export const DEFAULT_MPTCP_ID_BASE = 100;
/**
 * The in-kernel path manager's ceiling for `limits subflows`, and for the endpoints of a
 * network namespace (MPTCP_PM_ADDR_MAX, net/mptcp/pm_netlink.c: a ninth is ERANGE).
 */
export const MPTCP_SUBFLOWS_MAX = 8;
export const MPTCP_ENDPOINTS_MAX = 8;

/** The endpoint ID of uplink number `index` in `family`. */
export function endpointId(base: number, index: number, family: 4 | 6): number {
  return base + 2 * index + (family === 6 ? 1 : 0);
}

/** The IDs uplinkd owns for `uplinks` uplinks: [first, last]. */
export function endpointIdRange(base: number, uplinks: number): readonly [number, number] {
  return [base, base + 2 * uplinks - 1];
}

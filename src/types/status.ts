// types/: the status JSON (`uplinkd status --json`, DESIGN §4 and the README's "CLI"): built
// by status/ from what is tracked and read back, sent by control/, rendered by cli/, read by
// metrics/ and notify/.
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
  /**
   * The IPv4 next hop in force: read back from the uplink's own table (its default route), or
   * what is configured or learnt when that was not read; null: none (a point-to-point link,
   * none learnt yet, or none configured for the family).
   */
  readonly gateway: string | null;
  /** Where it came from: `static` (the config), `dhcp`, `ra`, or the learnt route's protocol by name; null with no gateway. */
  readonly gateway_source: string | null;
  /** When a learnt one came into force (ISO); null for a static one or none. */
  readonly gateway_since: string | null;
  readonly gateway6: string | null;
  readonly gateway6_source: string | null;
  readonly gateway6_since: string | null;
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

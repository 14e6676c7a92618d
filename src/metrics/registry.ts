// metrics/: uplinkd's Prometheus metrics (prom-client), named as node_exporter names its own:
// `uplinkd_` prefix, base units (seconds, ratios 0-1), `_total` counters. Gauges are set from a
// status report read at scrape time (routes, flows and counters read back from the kernel);
// counters count heartbeats and operator events as they happen.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StatusReport } from '../types/status.js';
import { LOCAL_ERRNOS } from '../types/errnos.js';
import type { OperatorEvent } from '../types/events.js';
import { HEARTBEAT_CLOSED, type ProbeRound } from '../types/index.js';

const STATES = ['init', 'up', 'degraded', 'down', 'detached'] as const;

/** A heartbeat's outcome as a label: `ok`, `timeout`, `local` (EMFILE...: not the path's fault), or `error`. */
export function heartbeatResult(r: { readonly ok: boolean; readonly error?: string }): string {
  if (r.ok) return 'ok';
  if (r.error === 'timeout') return 'timeout';
  return r.error !== undefined && LOCAL_ERRNOS.has(r.error) ? 'local' : 'error';
}

export class UplinkMetrics {
  readonly registry = new Registry();
  private readonly g: Record<string, Gauge>;
  private readonly heartbeats: Counter;
  private readonly transitions: Counter;
  private readonly steeringChanges: Counter;
  private readonly gatewayChanges: Counter;
  private readonly lateness: Histogram;
  /** Set from status's totals at each update: one that went down (an uplink tracked anew) reads as a counter reset. */
  private readonly confirmations: Counter;

  constructor(version: string) {
    const r = [this.registry];
    const gauge = (name: string, help: string, labelNames: string[]) => new Gauge({ name: `uplinkd_${name}`, help, labelNames, registers: r });
    new Gauge({ name: 'uplinkd_build_info', help: 'uplinkd and Node versions; always 1', labelNames: ['version', 'nodejs'], registers: r }).set(
      { version, nodejs: process.versions.node },
      1,
    );
    this.g = {
      state: gauge('uplink_state', 'Health of the uplink: 1 for its current state, 0 for the others', ['uplink', 'interface', 'state']),
      rtt: gauge('uplink_rtt_seconds', 'Mean heartbeat round-trip time over the window', ['uplink']),
      jitter: gauge('uplink_jitter_seconds', "Mean of its targets' jitter (mean difference of consecutive RTTs)", ['uplink']),
      loss: gauge('uplink_loss_ratio', 'Heartbeats lost over the window, 0-1', ['uplink']),
      share: gauge('uplink_new_flows_share_ratio', 'Share of new flows steered to it now (the intent), 0-1', ['uplink']),
      measured: gauge('uplink_new_flows_measured_ratio', 'Its share of the new connections the kernel counted since the last steering change, 0-1', ['uplink']),
      pinned: gauge('uplink_pinned_flows', 'Live connections pinned to it (conntrack entries with its mark)', ['uplink']),
      since: gauge('uplink_seconds_since_change', 'Seconds since its health last changed', ['uplink']),
      targetUp: gauge('target_up', 'Whether the target answered its last heartbeat', ['uplink', 'target']),
      targetRtt: gauge('target_rtt_seconds', 'Mean round-trip time to the target over the window', ['uplink', 'target']),
      targetLoss: gauge('target_loss_ratio', 'Heartbeats to the target lost over the window, 0-1', ['uplink', 'target']),
      allDown: gauge('all_down', '1 when no uplink answers (the last routes stay in place)', []),
      routeNexthops: gauge('route_nexthops', "Next hops of each managed route, read back from the kernel's table", ['destination', 'table']),
      mptcpSubflows: gauge(
        'uplink_mptcp_subflows',
        "The gateway's established MPTCP subflows from its addresses (with mptcp:), by whether the gateway flags them backup",
        ['uplink', 'backup'],
      ),
      timeout: gauge(
        'uplink_heartbeat_timeout_seconds',
        'How long a heartbeat sent now is waited for (timeout, or what auto makes of the RTT), longest over its targets',
        ['uplink'],
      ),
      targetTimeout: gauge('target_heartbeat_timeout_seconds', 'How long a heartbeat to the target sent now is waited for', ['uplink', 'target']),
      trafficPackets: gauge(
        'uplink_traffic_packets_per_second',
        "The users' packets through it over the last second: sent, and answers received (the passive signal)",
        ['uplink', 'direction'],
      ),
      trafficBytes: gauge('uplink_traffic_bytes_per_second', "The users' bytes through it over the last second: sent, and answers received", [
        'uplink',
        'direction',
      ]),
      lastAnswer: gauge('uplink_last_answer_age_seconds', 'Seconds since a packet last came back from it in a connection this side opened', ['uplink']),
      mptcpEndpoints: gauge('uplink_mptcp_endpoints', 'Its MPTCP path-manager endpoints in the kernel (with mptcp:), by whether they are backup', [
        'uplink',
        'backup',
      ]),
    };
    this.heartbeats = new Counter({
      name: 'uplinkd_heartbeats_total',
      help: 'Heartbeats sent, by result (ok, timeout, error, local)',
      labelNames: ['uplink', 'target', 'result'],
      registers: r,
    });
    this.confirmations = new Counter({
      name: 'uplinkd_passive_confirmations_total',
      help: "Confirmations by heartbeats the users' traffic started (silence while sending), by outcome: started, refuted (the heartbeats answered)",
      labelNames: ['uplink', 'outcome'],
      registers: r,
    });
    this.transitions = new Counter({
      name: 'uplinkd_uplink_transitions_total',
      help: 'Health changes per uplink and address family, by the state entered',
      labelNames: ['uplink', 'family', 'to'],
      registers: r,
    });
    this.steeringChanges = new Counter({
      name: 'uplinkd_steering_changes_total',
      help: 'Changes of which uplinks carry new flows, by cause: failover, failback-step, failback-done, all-down, steering',
      labelNames: ['family', 'cause'],
      registers: r,
    });
    // The event loop's lag as the heartbeats see it: prom-client's own (monitorEventLoopDelay)
    // samples it with a timer of its own, a wake-up every 10 ms on an idle gateway.
    this.lateness = new Histogram({
      name: 'uplinkd_heartbeat_round_lateness_seconds',
      help: 'How late each heartbeat round started after it was due: how long the event loop kept it waiting',
      labelNames: ['uplink'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: r,
    });
    this.gatewayChanges = new Counter({
      name: 'uplinkd_gateway_changes_total',
      help: 'Changes of the next hop learnt for gateway: auto (gateway_changed), per uplink and family, by whether one is in force after it',
      labelNames: ['uplink', 'family', 'learnt'],
      registers: r,
    });
  }

  onRound(uplink: string, round: ProbeRound): void {
    if (round.lateMs !== undefined) this.lateness.observe({ uplink }, round.lateMs / 1000);
    for (const h of round.results) {
      // Cut short by a rebind or a stop: never sent to completion, not a heartbeat's result.
      if (h.error === HEARTBEAT_CLOSED) continue;
      this.heartbeats.inc({ uplink, target: h.target, result: heartbeatResult(h) });
    }
  }

  /**
   * After a reload: the counters of uplinks and targets no longer configured are dropped, so
   * renames do not pile up series for ever (Prometheus sees those series end).
   */
  async retain(uplinks: readonly { readonly name: string; readonly targets: readonly string[] }[]): Promise<void> {
    const keep = new Map(uplinks.map((u) => [u.name, new Set(u.targets)]));
    for (const counter of [this.heartbeats, this.transitions, this.gatewayChanges]) {
      for (const { labels } of (await counter.get()).values) {
        const targets = keep.get(String(labels.uplink));
        if (!targets || (labels.target !== undefined && !targets.has(String(labels.target)))) counter.remove(labels);
      }
    }
    // A histogram's values carry `le` beside its labels: removed by uplink alone.
    const gone = new Set((await this.lateness.get()).values.map((v) => String(v.labels.uplink)).filter((u) => !keep.has(u)));
    for (const uplink of gone) this.lateness.remove({ uplink });
  }

  onEvent(e: OperatorEvent): void {
    const family = `ipv${e.family}`;
    if (e.event === 'state') this.transitions.inc({ uplink: e.uplink, family, to: e.to });
    else if (e.event === 'gateway_changed') this.gatewayChanges.inc({ uplink: e.uplink, family, learnt: e.gateway ? 'yes' : 'no' });
    else this.steeringChanges.inc({ family, cause: e.event });
  }

  /**
   * Sets every gauge from a status report read now; uplinks and targets no longer there
   * disappear, and so does a value not known (no RTT without an answer): absent, never NaN.
   */
  update(s: StatusReport, nowMs: number): void {
    for (const g of Object.values(this.g)) g.reset();
    this.confirmations.reset();
    const set = (g: Gauge, labels: Record<string, string>, v: number | null, scale = 1): void => {
      if (v !== null) g.set(labels, v / scale);
    };
    for (const u of s.uplinks) {
      const uplink = { uplink: u.name };
      for (const state of STATES) this.g.state!.set({ uplink: u.name, interface: u.interface, state }, u.state === state ? 1 : 0);
      set(this.g.rtt!, uplink, u.rtt_ms, 1000);
      const jitters = u.targets.map((t) => t.jitter_ms).filter((j): j is number => j !== null);
      set(this.g.jitter!, uplink, jitters.length ? jitters.reduce((a, b) => a + b, 0) / jitters.length : null, 1000);
      set(this.g.loss!, uplink, u.loss_pct, 100);
      set(this.g.share!, uplink, u.weight, 100);
      set(this.g.measured!, uplink, u.new_flows_pct, 100);
      set(this.g.pinned!, uplink, u.flows);
      if (u.mptcp) {
        this.g.mptcpSubflows!.set({ uplink: u.name, backup: 'true' }, u.mptcp.backup_subflows);
        this.g.mptcpSubflows!.set({ uplink: u.name, backup: 'false' }, u.mptcp.subflows - u.mptcp.backup_subflows);
        const backups = u.mptcp.endpoints.filter((e) => e.flags.split(' ').includes('backup')).length;
        this.g.mptcpEndpoints!.set({ uplink: u.name, backup: 'true' }, backups);
        this.g.mptcpEndpoints!.set({ uplink: u.name, backup: 'false' }, u.mptcp.endpoints.length - backups);
      }
      set(this.g.timeout!, uplink, u.timeout_ms, 1000);
      const p = u.passive;
      if (p?.enabled) {
        this.g.trafficPackets!.set({ uplink: u.name, direction: 'sent' }, p.sent_packets_per_s);
        this.g.trafficPackets!.set({ uplink: u.name, direction: 'answers' }, p.answer_packets_per_s);
        this.g.trafficBytes!.set({ uplink: u.name, direction: 'sent' }, p.sent_bytes_per_s);
        this.g.trafficBytes!.set({ uplink: u.name, direction: 'answers' }, p.answer_bytes_per_s);
        set(this.g.lastAnswer!, uplink, p.last_answer_ms_ago, 1000);
        this.confirmations.inc({ uplink: u.name, outcome: 'started' }, p.confirmations);
        this.confirmations.inc({ uplink: u.name, outcome: 'refuted' }, p.refuted);
      }
      this.g.since!.set(uplink, Math.max(0, (nowMs - Date.parse(u.since)) / 1000));
      for (const t of u.targets) {
        const target = { uplink: u.name, target: t.target };
        this.g.targetUp!.set(target, t.ok ? 1 : 0);
        set(this.g.targetRtt!, target, t.rtt_ms, 1000);
        set(this.g.targetLoss!, target, t.loss_pct, 100);
        set(this.g.targetTimeout!, target, t.timeout_ms, 1000);
      }
    }
    this.g.allDown!.set(s.steering.all_down ? 1 : 0);
    for (const route of s.routes) this.g.routeNexthops!.set({ destination: route.destination, table: String(route.table) }, route.nexthops.length);
  }
}

// cli/: `uplinkd status` for people: one line per uplink, then the kernel's managed routes.
// SHARE is the intent (percent of new flows steered to it); NEW is what the kernel counted
// since the last steering change, and FLOWS the live connections pinned to it.
import type { StatusReport } from '../types/status.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function ms(n: number | null): string {
  return n === null ? '-' : `${n.toFixed(1)}ms`;
}

/** ` (dhcp since 2026-12-05T10:00:00.000Z)`, ` (static)`, or nothing when not known. */
function gatewayOrigin(source: string | null | undefined, since: string | null | undefined): string {
  if (!source) return '';
  return since ? ` (${source} since ${since})` : ` (${source})`;
}

export function renderStatus(s: StatusReport, now = Date.now()): string {
  const rows = [['UPLINK', 'INTERFACE', 'STATE', 'PRIO', 'SHARE', 'NEW', 'FLOWS', 'RTT', 'LOSS', 'FOR', 'REASON']];
  for (const u of s.uplinks) {
    const forS = Math.max(0, Math.round((now - Date.parse(u.since)) / 1000));
    const fresh = u.new_flows_pct === null ? '-' : `${Math.round(u.new_flows_pct)}%`;
    const flows = u.flows === null ? '-' : String(u.flows);
    rows.push([
      u.name,
      u.interface,
      u.state,
      String(u.priority),
      `${u.weight}%`,
      fresh,
      flows,
      ms(u.rtt_ms),
      `${Math.round(u.loss_pct)}%`,
      `${forS}s`,
      u.reason,
    ]);
  }
  const out = [table(rows), ''];
  for (const u of s.uplinks) {
    if (u.override)
      out.push(
        `  ${u.name}: ${u.override.kind === 'drain' ? 'drained' : 'preferred'} by ${u.override.by} since ${u.override.since} (uplinkd resume ${u.name})`,
      );
  }
  for (const u of s.uplinks) {
    // Older daemons send no gateway fields.
    const via = [
      u.gateway ? `${u.gateway}${gatewayOrigin(u.gateway_source, u.gateway_since)}` : undefined,
      u.gateway6 ? `${u.gateway6}${gatewayOrigin(u.gateway6_source, u.gateway6_since)}` : undefined,
    ].filter((x) => x !== undefined);
    if (via.length) out.push(`  ${u.name}  gateway: ${via.join(', ')}`);
  }
  for (const u of s.uplinks) {
    for (const t of u.targets) {
      out.push(
        `  ${u.name}  ${t.target}  ${t.ok ? 'ok' : `failing (${t.error ?? 'no answer'})`}  rtt ${ms(t.rtt_ms)}  loss ${Math.round(t.loss_pct)}%  timeout ${t.timeout_ms ?? '-'}ms`,
      );
    }
  }
  // Older daemons send no `passive`.
  for (const u of s.uplinks) {
    const p = u.passive;
    if (!p) continue;
    if (!p.enabled || p.watching === false) {
      out.push(`  ${u.name}  traffic: not watched (${p.enabled ? 'its counters cannot be read now; see the log' : 'probe.passive: false'})`);
      continue;
    }
    const answer = p.last_answer_ms_ago === null ? 'no answer yet' : `last answer ${p.last_answer_ms_ago}ms ago`;
    const silent = p.silent_ms > 0 ? `, sending unanswered for ${p.silent_ms}ms (confirms at ${p.span_ms}ms)` : '';
    const held = p.holdoff_ms > 0 ? `, next confirmation in ${p.holdoff_ms}ms at the earliest` : '';
    out.push(
      `  ${u.name}  traffic: ${p.sent_packets_per_s} pkt/s out, ${p.answer_packets_per_s} pkt/s back, ${answer}${silent}; ${p.confirmations} confirmations (${p.refuted} refuted)${held}`,
    );
  }
  for (const u of s.uplinks) {
    if (u.mptcp === undefined) continue;
    if (u.mptcp === null) {
      out.push(`  ${u.name}  mptcp: cannot be read`);
      continue;
    }
    const eps = u.mptcp.endpoints.map((e) => `id ${e.id} ${e.address} ${e.flags}`).join(', ') || 'no endpoint';
    out.push(`  ${u.name}  mptcp: ${eps}; ${u.mptcp.subflows} subflows (${u.mptcp.backup_subflows} backup)`);
  }
  out.push('');
  if (s.routes.length === 0) out.push('routes: none managed yet');
  for (const r of s.routes) {
    out.push(`route ${r.destination} table ${r.table}: ${r.nexthops.map((n) => `${n.uplink} ${n.weight}%`).join(', ')}`);
  }
  out.push(`${s.steering.all_down ? 'WARNING: ' : ''}steering: ${s.steering.reason}`);
  // Older daemons do not send `kernel`.
  for (const line of s.kernel?.refused ?? []) out.push(`WARNING: not applied: ${line}`);
  for (const line of s.kernel?.foreign_rules ?? []) out.push(`WARNING: not uplinkd's rule in its range: ${line}`);
  return out.join('\n');
}

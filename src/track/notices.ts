// track/: what an apply's report means for the operator, decided once per apply and pure:
// which refusals, missing interfaces, foreign rules and connected routes are new (logged once,
// not every retry), which are gone, whether the steering is as asked, and how long to wait
// before trying again.
import { RULE_MANAGED, RULE_MANAGED_MIN, RULE_PRIORITY_MAX, RULE_PRIORITY_MIN } from '../types/layout.js';
import { backoffMs } from '../types/backoff.js';
import type { ApplyReport, Refusal } from '../types/routes.js';

/** The first pause after a refusal; it doubles while the refusal stays, up to the maximum. */
export const APPLY_RETRY_MS = 1000;
export const APPLY_RETRY_MAX_MS = 30_000;

export interface Notice {
  readonly level: 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

export interface NoticeState {
  readonly refused: readonly string[];
  /** Next hops left out for want of their interface. */
  readonly missing: readonly string[];
  /** Refusals said as warnings only: their interface went while the route was written. */
  readonly raced: readonly string[];
  readonly foreign: readonly string[];
  readonly connected: readonly string[];
  /** Retries in a row with the same refusals: the next pause is backoffMs of this. */
  readonly retries: number;
}

export const NO_NOTICES: NoticeState = { refused: [], missing: [], raced: [], foreign: [], connected: [], retries: 0 };

export interface NoticeStep {
  readonly state: NoticeState;
  readonly notices: readonly Notice[];
  /** Apply again after this long (something was refused or held back), or not at all. */
  readonly retryInMs: number | undefined;
  /** The managed routes and rules are as asked (a failback drain may run). */
  readonly managedOk: boolean;
}

/**
 * An interface that went away or down while the route was written is a warning: the link
 * monitor is about to say so, and the apply runs again. Anything else the kernel refuses (a
 * gateway on none of an interface's subnets) is an error.
 */
function refusalNotice(r: Refusal): Notice {
  const line = `${r.command}: ${r.code}`;
  if (r.interfaceGone)
    return {
      level: 'warn',
      fields: { event: 'route', refused: line, interface: r.interfaceGone },
      msg: `not applied: ${line}; ${r.interfaceGone} went away or down while it was written; its next hop is left out until it is back and up`,
    };
  return { level: 'error', fields: { event: 'route', refused: line }, msg: `not applied: ${line}; everything else is in, this one is tried again` };
}

function fresh(now: readonly string[], before: readonly string[]): string[] {
  return now.filter((l) => !before.includes(l));
}

export function noteApply(prev: NoticeState, report: ApplyReport): NoticeStep {
  const refused = report.refused.map((r) => `${r.command}: ${r.code}`);
  const foreign = [...report.foreign];
  const connected = [...report.connected];
  const notices: Notice[] = [];
  for (const m of fresh(report.missing, prev.missing)) notices.push({ level: 'warn', fields: { event: 'route', missing: m }, msg: `next hop left out: ${m}` });
  const newRefusals = fresh(refused, prev.refused);
  const raced = report.refused.filter((r) => r.interfaceGone).map((r) => `${r.command}: ${r.code}`);
  report.refused.forEach((r, i) => {
    const line = refused[i]!;
    // Said once; but one first put down to a race and refused again with its interface in
    // place is a fault after all.
    if (newRefusals.includes(line) || (prev.raced.includes(line) && !r.interfaceGone)) notices.push(refusalNotice(r));
  });
  // A raced refusal that is gone was not applied: its next hop was left out (said above).
  const accepted = prev.refused.filter((l) => !prev.raced.includes(l));
  if (refused.length === 0 && accepted.length > 0) {
    notices.push({ level: 'info', fields: { event: 'route', accepted }, msg: 'now applied: what was refused before' });
  }
  for (const l of fresh(foreign, prev.foreign)) {
    notices.push({
      level: 'warn',
      fields: { event: 'route', foreign: l },
      msg: `a rule uplinkd did not write sits in its range ${RULE_PRIORITY_MIN}-${RULE_PRIORITY_MAX}: ${l}; left alone (uplinkd deletes only its own rules); one that takes every packet at ${RULE_MANAGED_MIN + 1}-${RULE_MANAGED} gets the managed lookup in front of it; move the rule out of the range`,
    });
  }
  for (const l of fresh(connected, prev.connected)) {
    notices.push({
      level: 'warn',
      fields: { event: 'route', connected: l },
      msg: `not written: ${l}; that prefix is the kernel's own connected route, left alone`,
    });
  }
  const again = refused.length > 0 || report.deferred.length > 0;
  // A new refusal starts the pauses over; one that stays doubles them.
  const retries = !again || newRefusals.length > 0 ? 0 : prev.retries;
  return {
    state: { refused, missing: [...report.missing], raced, foreign, connected, retries: again ? retries + 1 : 0 },
    notices,
    retryInMs: again ? backoffMs(retries, APPLY_RETRY_MS, APPLY_RETRY_MAX_MS) : undefined,
    managedOk: !report.refused.some((r) => r.managed) && report.deferred.length === 0 && !report.managedLeftOut,
  };
}

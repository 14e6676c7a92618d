// track/: uplink tracking as a pure reducer (src/README.md §1).
export * from './model.js';
export { overrideDone, overrideProblem, reloadChanges, track } from './reduce.js';
export { applyQuiet } from './after-apply.js';
export { type GatewayOffer, type LearntGateway, NO_OFFER, routedConfig } from './gateways.js';
export {
  desiredMptcp,
  desiredState,
  drainPlan,
  type DrainPlan,
  mptcpOwners,
  ownedBy,
  routedConfigOf,
  wantedSysctls,
  RECONCILE_DEBOUNCE_MS,
  RECONCILE_FIGHT_LIMIT,
  RECONCILE_FIGHT_WINDOW_MS,
} from './kernel-sync.js';
export { heartbeatTimeout, linkView, listenMs, passiveSampleMs, passiveSpan, proberPace, stateFor } from './uplink.js';
export { adoptedUplinks, steerInput } from './steering.js';

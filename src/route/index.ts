// route/: applies desired routes, rules and uplinkd's nftables table, idempotently; reads them back.
export * from './kernel.js';
export * from './plan.js';
export type { PinRule } from '../types/index.js';
export * from './router.js';
export { FakeKernel } from './fake.js';
export * from './pinning.js';
export * from './conntrack.js';
export * from './watch.js';
export * from './sysctl.js';
export * from './command.js';
export * from './table-owner.js';
export * from './notices.js';
export * from './mptcp-plan.js';
export * from './mptcp-kernel.js';
export * from './mptcp.js';
export { FakeMptcp } from './mptcp-fake.js';
export * from './nft-counters.js';
export { FakeCounters } from './counters-fake.js';

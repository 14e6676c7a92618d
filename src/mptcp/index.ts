// mptcp/: the MPTCP path manager's endpoints (generic netlink) and the gateway's subflows
// (sock_diag): the pure planner, the keeper that applies it, the kernel side and its fake.
export * from './plan.js';
export * from './kernel.js';
export * from './endpoints.js';
export { FakeMptcp } from './fake.js';

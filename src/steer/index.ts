// steer/: pure decisions on where new flows go (src/README.md §1).
export * from './steer.js';
export * from './failback.js';
export * from './dampening.js';
export * from './overrides.js';
export * from './cause.js';
export * from './mptcp.js';

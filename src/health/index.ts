// health/: pure verdicts on uplinks from probe rounds and time (src/README.md §1).
export * from './machine.js';
export * from './window.js';
export * from './rto.js';
export * from './passive.js';

// link/: netlink link and address monitor -> snapshots and changes (src/README.md §1).
export * from '../types/link.js';
export { LinkMonitor, type LinkMonitorOptions, type LinkSource, type LinkMonitorEvents } from './monitor.js';
export { FakeLinks, upLink } from './fake.js';

// link/: netlink link and address monitor -> snapshots and changes (DESIGN §1).
export * from './snapshot.js';
export { LinkMonitor, type LinkMonitorOptions, type LinkSource, type LinkMonitorEvents } from './monitor.js';
export { FakeLinks, upLink } from './fake.js';

// host/: the gateway's host tools and settings: commands run as child processes, the
// connection-tracking table, sysctl; a fake beside each.
export * from './command.js';
export * from './conntrack.js';
export * from './sysctl.js';

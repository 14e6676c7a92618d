// nft/: uplinkd's nftables table: the ruleset (pinning, the passive signal's counters), its
// ownership, its counters read through netlink, and the watch for changes; fakes beside each.
export * from './ruleset.js';
export * from './owner.js';
export * from './counters.js';
export * from './fake.js';
export * from './table.js';
export * from './watch.js';
export * from './keeping.js';

// netlink/: what every kernel folder shares to talk netlink: the one error type and errno
// names, one request at a time per socket, and nfnetlink batches on a socket of uplinkd's.
export * from './errors.js';
export * from './serial.js';
export * from './nfnetlink.js';
export { RecordingFake } from './fake.js';

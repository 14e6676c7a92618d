// control/: Unix-socket server and client around the shared protocol.
export * from './protocol.js';
export { ControlServer } from './server.js';

// probe/: heartbeats bound to an uplink's interface; measures, never decides (src/README.md §1).
export { UplinkProber, type ProberOptions } from './prober.js';
export { IcmpPinger, echoRequest, parseEchoReply, internetChecksum, type HeartbeatOutcome } from './icmp.js';
export { errnoCode } from '../netlink/errors.js';
export { tcpHeartbeat } from './tcp.js';

// probe/: heartbeats bound to an uplink's interface; measures, never decides (DESIGN §1).
export { UplinkProber, type ProberOptions } from './prober.js';
export { IcmpPinger, echoRequest, parseEchoReply, internetChecksum, type EchoResult } from './icmp.js';
export { errnoCode } from './errno.js';
export { tcpHeartbeat } from "./tcp.js";

// probe/: ICMP echo heartbeats (RFC 792, RFC 4443) on a raw socket bound to one interface
// with SO_BINDTODEVICE, so each heartbeat leaves through its own uplink whatever the
// managed routes say. The socket is the native addon's: a heartbeat is one sendto(2), and the
// kernel's filter wakes the loop for echo replies only. Measures only; health/ decides.
import { type IcmpSocket, openIcmpSocket } from '../native/index.js';
import { type Family, HEARTBEAT_CLOSED } from '../types/index.js';

const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;
const ICMP6_ECHO_REQUEST = 128;
const ICMP6_ECHO_REPLY = 129;
const PAYLOAD = Buffer.from('uplinkd heartbeat');

/** One heartbeat's outcome, ICMP or TCP. */
export interface HeartbeatOutcome {
  readonly ok: boolean;
  readonly rttMs?: number;
  /** `timeout`, HEARTBEAT_CLOSED, or the errno code the socket gave (ENODEV, ENETUNREACH, ...). */
  readonly error?: string;
}

/** RFC 1071 Internet checksum. */
export function internetChecksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function echoRequest(family: Family, id: number, seq: number): Buffer {
  const buf = Buffer.alloc(8 + PAYLOAD.length);
  buf[0] = family === 4 ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
  buf.writeUInt16BE(id, 4);
  buf.writeUInt16BE(seq, 6);
  PAYLOAD.copy(buf, 8);
  // The kernel fills the ICMPv6 checksum itself (RFC 3542 §3.1); ICMPv4 is ours to fill.
  if (family === 4) buf.writeUInt16BE(internetChecksum(buf), 2);
  return buf;
}

/** id and seq of an echo reply, or undefined for any other packet. IPv4 raw sockets see the IP header. */
export function parseEchoReply(family: Family, packet: Buffer): { id: number; seq: number } | undefined {
  let off = 0;
  if (family === 4) {
    if (packet.length < 20) return undefined;
    off = (packet[0]! & 0x0f) * 4;
  }
  if (packet.length < off + 8) return undefined;
  const type = packet[off];
  if (type !== (family === 4 ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY)) return undefined;
  return { id: packet.readUInt16BE(off + 4), seq: packet.readUInt16BE(off + 6) };
}

interface Pending {
  readonly address: string;
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (r: HeartbeatOutcome) => void;
}

/** One raw ICMP socket of one family, bound to one interface. */
export class IcmpPinger {
  private socket: IcmpSocket | undefined;
  private readonly id: number;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(
    readonly iface: string,
    readonly family: Family,
    private readonly clock: () => number,
  ) {
    this.id = Math.floor(Math.random() * 0xffff) + 1;
  }

  /** Opens and binds the socket; throws an Error whose `code` is the errno (ENODEV when the NIC is missing). */
  open(): void {
    if (this.socket) return;
    this.socket = openIcmpSocket(this.family, this.iface, (packets, sources) => {
      for (let i = 0; i < packets.length; i++) this.receive(packets[i]!, sources[i]!);
    });
  }

  private receive(packet: Buffer, source: string): void {
    const reply = parseEchoReply(this.family, packet);
    if (!reply || reply.id !== this.id) return;
    const p = this.pending.get(reply.seq);
    if (!p || p.address !== source) return;
    this.pending.delete(reply.seq);
    clearTimeout(p.timer);
    p.resolve({ ok: true, rttMs: this.clock() - p.sentAt });
  }

  /** One echo request to `address`; resolves with the RTT, a timeout, or a send error. */
  echo(address: string, timeoutMs: number): Promise<HeartbeatOutcome> {
    return new Promise((resolve) => {
      try {
        this.open();
      } catch (err) {
        resolve({ ok: false, error: (err as { code?: string }).code ?? 'EIO' });
        return;
      }
      this.seq = (this.seq + 1) & 0xffff;
      const seq = this.seq;
      const packet = echoRequest(this.family, this.id, seq);
      const sentAt = this.clock();
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        resolve({ ok: false, error: 'timeout' });
      }, timeoutMs);
      const error = this.socket!.send(address, packet);
      if (error) {
        clearTimeout(timer);
        resolve({ ok: false, error: error.code });
        return;
      }
      this.pending.set(seq, { address, sentAt, timer, resolve });
    });
  }

  close(): void {
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, error: HEARTBEAT_CLOSED });
      this.pending.delete(seq);
    }
    this.socket?.close();
    this.socket = undefined;
  }
}

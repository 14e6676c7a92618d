// The lab's ICMP echo responder, run in the internet namespace with the kernel's own echo
// replies turned off (net.ipv4.icmp_echo_ignore_all=1). It answers each echo request after
// a delay chosen by the request's source address, read from a JSON file it watches:
// {"100.64.1.2": 300} delays fiber's heartbeats by 300 ms, {"100.64.1.2": {"ms": 300,
// "jitter": 50}} each by 250 to 350 ms (uniformly at random, never below 0; replies may then
// overtake each other, as with netem's jitter). That is how the lab injects latency without
// netem. Bounded by its duration.
import { readFileSync, statSync } from 'node:fs';
import raw from 'raw-socket';

/** Milliseconds, or milliseconds give or take up to `jitter`. */
type Delay = number | { ms: number; jitter?: number };

const [delaysFile, durationText] = process.argv.slice(2);
let delays: Record<string, Delay> = {};
let mtime = 0;

function delayFor(source: string): number {
  try {
    const m = statSync(delaysFile!).mtimeMs;
    if (m !== mtime) {
      mtime = m;
      delays = JSON.parse(readFileSync(delaysFile!, 'utf8')) as Record<string, Delay>;
    }
  } catch {
    delays = {};
  }
  const d = delays[source] ?? 0;
  if (typeof d === 'number') return d;
  const jitter = d.jitter ?? 0;
  return Math.max(0, d.ms + (Math.random() * 2 - 1) * jitter);
}

function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const sock = raw.createSocket({ protocol: raw.Protocol.ICMP });
// We write the IP header ourselves: the reply must come from the target's address.
sock.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL!, 1);
sock.on('error', () => undefined);
sock.on('message', (packet: Buffer) => {
  const ihl = (packet[0]! & 0x0f) * 4;
  if (packet.length < ihl + 8 || packet[ihl] !== 8) return; // echo requests only
  const src = Array.from(packet.subarray(12, 16)).join('.');
  const icmp = Buffer.from(packet.subarray(ihl));
  icmp[0] = 0; // echo reply
  icmp.writeUInt16BE(0, 2);
  icmp.writeUInt16BE(checksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64; // TTL
  ip[9] = 1; // ICMP
  packet.copy(ip, 12, 16, 20); // source: the target that was asked
  packet.copy(ip, 16, 12, 16); // destination: who asked
  const reply = Buffer.concat([ip, icmp]);
  setTimeout(() => sock.send(reply, 0, reply.length, src, null, () => undefined), delayFor(src));
});
process.stdout.write('ready\n');
setTimeout(() => process.exit(0), Number(durationText ?? 600_000)).unref();
process.stdin.resume();

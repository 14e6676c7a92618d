// The lab's traffic meter: a bounded UDP stream (`send`) and a sink (`sink`). Run inside
// namespaces. Each packet carries its sequence number and its send time on CLOCK_MONOTONIC
// (process.hrtime, shared by every process on the host), so the sink can report the longest
// outage: the send-time span of packets the network lost. A stall of the sender or of the
// sink itself (CPU contention) loses no packet and does not count; it does show in
// `longestGapMs`, the longest time between two arrivals, kept for comparison.
//
// A two-way flow: `echo` sends each packet straight back to where it came from, and `ping`
// streams like `send` and takes the echoes on the same socket, so it measures the outage of
// the round trip (a flow whose replies must come back the way it left, as through NAT).
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

const [mode, host, portText, a, b] = process.argv.slice(2);
const port = Number(portText);

/**
 * The outages in a stream, from the send times of the packets that made it, by sequence
 * number: each run of missing numbers between two that made it is one, spanning the send
 * times of those two. Computed at the end, so reordering is no loss.
 */
function outages(sentAt: ReadonlyMap<number, bigint>): { longestOutageMs: number; spans: number } {
  const seqs = [...sentAt.keys()].sort((x, y) => x - y);
  let longestOutageMs = 0;
  let spans = 0;
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i]! > seqs[i - 1]! + 1) {
      spans++;
      longestOutageMs = Math.max(longestOutageMs, Number(sentAt.get(seqs[i]!)! - sentAt.get(seqs[i - 1]!)!) / 1e6);
    }
  }
  return { longestOutageMs, spans };
}

/** A 64-byte stream packet: its sequence number and its send time (process.hrtime). */
function streamPacket(seq: number, at: bigint): Buffer {
  // A buffer per packet: send() is asynchronous, and a shared one would go out with the
  // last sequence number written into it (duplicates, and seemingly lost packets).
  const packet = Buffer.alloc(64);
  packet.writeUInt32BE(seq, 0);
  packet.writeBigUInt64BE(at, 4);
  return packet;
}

/**
 * Calls `emit(seq)` for `count` packets, one every `intervalMs`, catching up on the schedule
 * so the stream's rate does not depend on timer jitter; then `done()`.
 */
function schedule(count: number, intervalMs: number, emit: (seq: number) => void, done: () => void): void {
  const start = performance.now();
  let seq = 0;
  const tick = (): void => {
    const due = Math.min(count, Math.floor((performance.now() - start) / intervalMs) + 1);
    while (seq < due) emit(seq++);
    if (seq < count) setTimeout(tick, intervalMs);
    else done();
  };
  tick();
}

if (mode === 'sink') {
  const durationMs = Number(a);
  const sock = createSocket('udp4');
  let received = 0;
  let first = -1;
  let last = -1;
  let longestGapMs = 0;
  let longestGapAtMs = 0;
  let receivedAfterGap = 0;
  let sent: number | undefined;
  /** Send time of each packet that arrived, by sequence number. */
  const sentAt = new Map<number, bigint>();
  const finish = (): void => {
    sock.close();
    // Packets between two that arrived, and never arrived themselves, were lost: the outage
    // spans the send times around them. Computed at the end, so reordering is no loss.
    const { longestOutageMs } = outages(sentAt);
    const result = { sent, received, longestOutageMs, longestGapMs, longestGapAtMs, receivedAfterGap };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  };
  sock.on('message', (msg) => {
    const now = performance.now();
    if (msg.length >= 8 && msg.readUInt32BE(0) === 0xffffffff) {
      sent = msg.readUInt32BE(4);
      finish();
      return;
    }
    received++;
    receivedAfterGap++;
    sentAt.set(msg.readUInt32BE(0), msg.readBigUInt64BE(4));
    if (first < 0) first = now;
    else if (now - last > longestGapMs) {
      longestGapMs = now - last;
      longestGapAtMs = last - first;
      receivedAfterGap = 1;
    }
    last = now;
  });
  sock.bind(port, host, () => process.stdout.write('ready\n'));
  setTimeout(finish, durationMs).unref();
} else if (mode === 'send') {
  const count = Number(a);
  const intervalMs = Number(b);
  const sock = createSocket('udp4');
  // With no route (ENETUNREACH) a packet is simply lost, as it would be for a real client.
  sock.on('error', () => undefined);
  schedule(
    count,
    intervalMs,
    (seq) => sock.send(streamPacket(seq, process.hrtime.bigint()), port, host),
    () => {
      // The end marker, sent a few times: the sink stops on the first that arrives.
      const end = Buffer.alloc(8);
      end.writeUInt32BE(0xffffffff, 0);
      end.writeUInt32BE(count, 4);
      let n = 0;
      const again = (): void => {
        sock.send(end, port, host);
        if (++n < 5) setTimeout(again, 50);
        else setTimeout(() => sock.close(), 50);
      };
      again();
    },
  );
} else if (mode === 'echo') {
  // Each packet goes straight back to its source; bounded by its duration.
  const sock = createSocket('udp4');
  sock.on('error', () => undefined);
  sock.on('message', (msg, from) => sock.send(msg, from.port, from.address));
  sock.bind(port, host, () => process.stdout.write('ready\n'));
  setTimeout(() => process.exit(0), Number(a)).unref();
} else if (mode === 'ping') {
  // `send`'s stream, with the echoes taken on the same socket. The report comes 1 s after the
  // last packet (the grace for its echo): a packet whose echo never came was lost on the way
  // out or back, and the outage is measured as the sink measures it.
  const count = Number(a);
  const intervalMs = Number(b);
  const sock = createSocket('udp4');
  // With no route (ENETUNREACH) a packet is simply lost, as for `send`.
  sock.on('error', () => undefined);
  /** Send time of each packet whose echo came, by sequence number. */
  const echoedAt = new Map<number, bigint>();
  const sentAt: bigint[] = [];
  sock.on('message', (msg) => {
    if (msg.length < 12) return;
    const seq = msg.readUInt32BE(0);
    if (seq < sentAt.length) echoedAt.set(seq, sentAt[seq]!);
  });
  // Bound before the first packet, so no early echo finds the socket deaf.
  sock.bind(0, () =>
    schedule(
      count,
      intervalMs,
      (seq) => {
        const at = process.hrtime.bigint();
        sentAt.push(at);
        sock.send(streamPacket(seq, at), port, host);
      },
      () =>
        setTimeout(() => {
          sock.close();
          const { longestOutageMs, spans } = outages(echoedAt);
          // Runs lost at the very start or end have no echo on one side: no span, but a run.
          const edges = echoedAt.size === 0 ? (count > 0 ? 1 : 0) : (echoedAt.has(0) ? 0 : 1) + (echoedAt.has(count - 1) ? 0 : 1);
          const result = { sent: sentAt.length, echoed: echoedAt.size, longestOutageMs, lostSpans: spans + edges };
          process.stdout.write(`${JSON.stringify(result)}\n`);
          process.exit(0);
        }, 1000),
    ),
  );
} else if (mode === 'listen') {
  // A TCP target: accepts and closes; bounded by its duration.
  const server = createServer((c) => c.destroy());
  server.listen(port, host, () => process.stdout.write('ready\n'));
  setTimeout(() => process.exit(0), Number(a)).unref();
  process.stdin.resume();
} else {
  process.stderr.write(
    'usage: traffic sink HOST PORT DURATION_MS | send HOST PORT COUNT INTERVAL_MS | echo HOST PORT DURATION_MS | ping HOST PORT COUNT INTERVAL_MS | listen HOST PORT DURATION_MS\n',
  );
  process.exit(2);
}

// The lab's TCP flow tool, run inside namespaces. Every mode is bounded in time.
//   echo HOST PORT DURATION_MS   server: greets each connection with the address it came
//                                from (the NAT address, so which uplink), then echoes; on
//                                127.0.0.1:PORT+1 it answers with its live connections per
//                                address as JSON
//   stats PORT                   client of that: prints the JSON
//   hold HOST PORT N DURATION_MS [EVERY_MS]
//                                client: N connections, each sending a line every EVERY_MS
//                                (default 100) and checking its echo; prints `ready {...}`
//                                once all are open, then a JSON report at the end
//   probe HOST PORT N            client: N short connections, one after another; prints how
//                                many came from each address
import { connect, createServer, type Socket } from 'node:net';

const [mode, host, portText, a, b, c] = process.argv.slice(2);
const port = Number(portText);

/** Connects and resolves with the socket and the greeting line (the address the server saw). */
function open(timeoutMs: number): Promise<{ sock: Socket; via: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.off('data', onData);
      resolve({ sock, via: buf.slice(0, nl) });
    };
    sock.on('data', onData);
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

if (mode === 'echo') {
  const live = new Map<string, number>();
  const server = createServer((c) => {
    const from = (c.remoteAddress ?? '?').replace(/^::ffff:/, '');
    live.set(from, (live.get(from) ?? 0) + 1);
    c.on('error', () => undefined);
    c.once('close', () => live.set(from, live.get(from)! - 1));
    c.write(`${from}\n`);
    c.pipe(c);
  });
  const stats = createServer((c) => c.end(`${JSON.stringify(Object.fromEntries(live))}\n`));
  stats.listen(port + 1, '127.0.0.1', () => server.listen(port, host, () => process.stdout.write('ready\n')));
  setTimeout(() => process.exit(0), Number(a)).unref();
} else if (mode === 'stats') {
  const sock = connect({ host: '127.0.0.1', port: Number(host) });
  let buf = '';
  sock.on('data', (d: Buffer) => (buf += d.toString()));
  sock.on('end', () => process.stdout.write(buf));
  sock.on('error', (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
} else if (mode === 'hold') {
  const n = Number(a);
  const durationMs = Number(b);
  const everyMs = Number(c ?? 100);
  const flows: { via: string; sent: number; echoed: number; lastEchoAt: number; longestWaitMs: number; error?: string }[] = [];
  const start = Date.now();
  const run = async (): Promise<void> => {
    const socks: Socket[] = [];
    for (let i = 0; i < n; i++) {
      const { sock, via } = await open(5000);
      const f = { via, sent: 0, echoed: 0, lastEchoAt: Date.now(), longestWaitMs: 0 } as (typeof flows)[number];
      flows.push(f);
      socks.push(sock);
      let pending = '';
      sock.on('data', (d: Buffer) => {
        pending += d.toString();
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          pending = pending.slice(nl + 1);
          const now = Date.now();
          f.longestWaitMs = Math.max(f.longestWaitMs, now - f.lastEchoAt);
          f.lastEchoAt = now;
          f.echoed++;
        }
      });
      sock.on('error', (err: NodeJS.ErrnoException) => (f.error ??= err.code ?? err.message));
      sock.on('close', () => (f.error ??= 'closed'));
    }
    process.stdout.write(`ready ${JSON.stringify({ via: flows.map((f) => f.via) })}\n`);
    // SIGUSR1: a report so far, without stopping (`snapshot {...}`).
    process.on('SIGUSR1', () => {
      const now = Date.now();
      const report = flows.map((f) => ({ ...f, longestWaitMs: Math.max(f.longestWaitMs, f.error ? 0 : now - f.lastEchoAt) }));
      process.stdout.write(`snapshot ${JSON.stringify({ durationMs: now - start, flows: report })}\n`);
    });
    // Each flow on its own phase, so the LAN is busy all the time rather than in bursts.
    const timers: NodeJS.Timeout[] = [];
    flows.forEach((f, i) => {
      const send = (): void => {
        if (!f.error) socks[i]!.write(`${f.sent++}\n`);
      };
      timers.push(
        setTimeout(
          () => {
            send();
            timers.push(setInterval(send, everyMs));
          },
          (i * everyMs) / flows.length,
        ),
      );
    });
    const tick = { close: () => timers.forEach((t) => void clearTimeout(t)) };
    setTimeout(() => {
      tick.close();
      const end = Date.now();
      // A flow whose echoes stopped shows the wait up to the end.
      for (const f of flows) f.longestWaitMs = Math.max(f.longestWaitMs, end - f.lastEchoAt);
      process.stdout.write(`${JSON.stringify({ durationMs: end - start, flows })}\n`);
      for (const s of socks) s.destroy();
      process.exit(0);
    }, durationMs);
  };
  run().catch((err: Error) => {
    process.stdout.write(`${JSON.stringify({ error: err.message, flows })}\n`);
    process.exit(1);
  });
} else if (mode === 'probe') {
  const n = Number(a);
  const via: Record<string, number> = {};
  let errors = 0;
  const run = async (): Promise<void> => {
    for (let i = 0; i < n; i++) {
      try {
        const { sock, via: v } = await open(2000);
        via[v] = (via[v] ?? 0) + 1;
        sock.destroy();
      } catch {
        errors++;
      }
    }
    process.stdout.write(`${JSON.stringify({ via, errors })}\n`);
  };
  void run();
} else {
  process.stderr.write('usage: flows echo HOST PORT DURATION_MS | stats PORT | hold HOST PORT N DURATION_MS [EVERY_MS] | probe HOST PORT N\n');
  process.exit(2);
}

// The lab's TCP flow tool, run inside namespaces. Every mode is bounded in time.
//   echo HOST PORT DURATION_MS   server: greets each connection with the address it came
//                                from (the NAT address, so which uplink), then echoes
//   hold HOST PORT N DURATION_MS client: N connections, each sending a line every 100 ms and
//                                checking its echo; prints `ready {...}` once all are open,
//                                then a JSON report at the end
//   probe HOST PORT N            client: N short connections, one after another; prints how
//                                many came from each address
import { connect, createServer, type Socket } from 'node:net';

const [mode, host, portText, a, b] = process.argv.slice(2);
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
  const server = createServer((c) => {
    c.on('error', () => undefined);
    c.write(`${(c.remoteAddress ?? '?').replace(/^::ffff:/, '')}\n`);
    c.pipe(c);
  });
  server.listen(port, host, () => process.stdout.write('ready\n'));
  setTimeout(() => process.exit(0), Number(a)).unref();
} else if (mode === 'hold') {
  const n = Number(a);
  const durationMs = Number(b);
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
    const tick = setInterval(() => {
      flows.forEach((f, i) => {
        if (f.error) return;
        socks[i]!.write(`${f.sent++}\n`);
      });
    }, 100);
    setTimeout(() => {
      clearInterval(tick);
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
  process.stderr.write('usage: flows echo HOST PORT DURATION_MS | hold HOST PORT N DURATION_MS | probe HOST PORT N\n');
  process.exit(2);
}

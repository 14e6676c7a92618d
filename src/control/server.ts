// control/: the Unix-socket server the daemon answers `uplinkd status` and `reload` on.
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { Request, Response } from './protocol.js';

const MAX_REQUEST = 4096;

export class ControlServer {
  private server: Server | undefined;

  constructor(
    readonly path: string,
    private readonly handle: (req: Request) => Promise<Response>,
  ) {}

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
    // A socket file left by a crashed daemon would make listen() fail with EADDRINUSE.
    await rm(this.path, { force: true });
    const server = createServer((conn) => {
      let buf = '';
      conn.setEncoding('utf8');
      conn.on('error', () => conn.destroy());
      conn.on('data', (chunk: string) => {
        buf += chunk;
        if (buf.length > MAX_REQUEST) return conn.end(JSON.stringify({ ok: false, error: 'request too long' }) + '\n');
        const nl = buf.indexOf('\n');
        if (nl < 0) return undefined;
        let req: Request;
        try {
          req = JSON.parse(buf.slice(0, nl)) as Request;
        } catch {
          return conn.end(JSON.stringify({ ok: false, error: 'request is not JSON' }) + '\n');
        }
        this.handle(req).then(
          (res) => conn.end(JSON.stringify(res) + '\n'),
          (err: unknown) => conn.end(JSON.stringify({ ok: false, error: String((err as Error)?.message ?? err) }) + '\n'),
        );
        return undefined;
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}

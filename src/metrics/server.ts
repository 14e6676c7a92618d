// metrics/: the opt-in HTTP endpoint (metrics.listen) that Prometheus scrapes: GET /metrics in
// the text exposition format, nothing else. Each scrape reads the status afresh.
import { createServer, type Server } from 'node:http';
import type { MetricsSettings } from '../types/index.js';

/** Scrapes at once: Prometheus sends one at a time; more is somebody else. */
const MAX_CONNECTIONS = 8;
const REQUEST_TIMEOUT_MS = 10_000;

export class MetricsServer {
  private readonly server: Server;

  constructor(
    readonly listen: MetricsSettings,
    scrape: () => Promise<{ contentType: string; body: string }>,
    onError: (message: string) => void,
  ) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end('only GET\n');
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(path === '/' ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' }).end('uplinkd metrics: GET /metrics\n');
        return;
      }
      scrape().then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(req.method === 'HEAD' ? undefined : m.body),
        (err: unknown) => {
          onError(`metrics scrape failed: ${(err as Error).message}`);
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
        },
      );
    });
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.headersTimeout = REQUEST_TIMEOUT_MS;
    this.server.keepAliveTimeout = REQUEST_TIMEOUT_MS;
  }

  get address(): string {
    return this.listen.host.includes(':') ? `[${this.listen.host}]:${this.listen.port}` : `${this.listen.host}:${this.listen.port}`;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listen.port, this.listen.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
